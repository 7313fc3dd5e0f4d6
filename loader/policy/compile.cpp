// Validated Policy -> MapImage: slots, ifindexes, bitmaps, member lists.
#include <algorithm>
#include <arpa/inet.h>

#include <cstring>

#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

constexpr uint64_t kSecondNs = 1000000000ull;

/// Slot per port (policy order, then the uplinks): previous slots kept when
/// still valid and free, then the lowest free slots for the rest, in order.
std::vector<uint16_t> assign_slots(const std::vector<std::string>& names,
                                   const std::map<std::string, uint16_t>& previous) {
    std::vector<int> slot(names.size(), -1);
    std::vector<bool> taken(XDPNET_MAX_PORTS, false);
    for (size_t i = 0; i < names.size(); i++) {
        auto it = previous.find(names[i]);
        if (it != previous.end() && it->second < XDPNET_MAX_PORTS && !taken[it->second]) {
            slot[i] = it->second;
            taken[it->second] = true;
        }
    }
    uint16_t next = 0;
    for (size_t i = 0; i < names.size(); i++) {
        if (slot[i] >= 0)
            continue;
        while (taken[next])
            next++;
        slot[i] = next;
        taken[next] = true;
    }
    return std::vector<uint16_t>(slot.begin(), slot.end());
}

/// Every VLAN the port carries: access vlan; trunk vlans + native.
VlanSet carried(const PortSpec& p) {
    VlanSet set;
    if (p.mode == PortMode::Access) {
        if (p.vlan)
            set.set(p.vlan);
    } else {
        set = p.vlans;
        if (p.native_vlan)
            set.set(p.native_vlan);
    }
    return set;
}

/// The modified EUI-64 link-local address of a MAC (RFC 4291 appendix A):
/// what a VM derives from it for IPv6 neighbour discovery.
std::array<uint8_t, 16> eui64_link_local(const MacAddr& mac) {
    std::array<uint8_t, 16> a{};
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8] = mac[0] ^ 0x02;
    a[9] = mac[1];
    a[10] = mac[2];
    a[11] = 0xff;
    a[12] = 0xfe;
    a[13] = mac[3];
    a[14] = mac[4];
    a[15] = mac[5];
    return a;
}

/// A port's policers, marking and port security: its flags, its policer
/// values, and its port-security keys (gen 0).
void compile_controls(const PortSpec& spec, PortImage& pi, MapImage& img) {
    const uint16_t slot = pi.port.slot;
    if (spec.police_ingress) {
        pi.port.flags |= XDPNET_PORT_POLICE_IN;
        pi.police[XDPNET_DIR_IN] = compile_policer(*spec.police_ingress);
    }
    if (spec.police_egress) {
        pi.port.flags |= XDPNET_PORT_POLICE_OUT;
        pi.police[XDPNET_DIR_OUT] = compile_policer(*spec.police_egress);
    }
    if (spec.dscp) {
        pi.port.flags |= XDPNET_PORT_DSCP;
        pi.port.dscp = *spec.dscp;
    }
    if (!spec.security)
        return;
    const PortSecuritySpec& sec = *spec.security;
    pi.port.flags |= XDPNET_PORT_SEC_GUARD;
    if (!sec.macs.empty())
        pi.port.flags |= XDPNET_PORT_SEC_MAC;
    if (!sec.ips.empty())
        pi.port.flags |= XDPNET_PORT_SEC_IP;
    for (const MacAddr& mac : sec.macs) {
        struct xdpnet_psec_mac_key k;
        std::memset(&k, 0, sizeof(k));
        k.slot = slot;
        std::memcpy(k.mac, mac.data(), sizeof(k.mac));
        img.psec_macs.push_back(k);
    }
    auto add_ip = [&](uint8_t family, const std::array<uint8_t, 16>& addr, uint8_t len) {
        struct xdpnet_psec_ip_key k;
        std::memset(&k, 0, sizeof(k));
        k.prefixlen = 32u + len;
        k.family = family;
        k.slot = slot;
        std::memcpy(k.addr, addr.data(), sizeof(k.addr));
        img.psec_ips.push_back(k);
    };
    bool v6 = false;
    for (const IpPrefix& ip : sec.ips) {
        add_ip(ip.family, ip.addr, ip.len);
        v6 = v6 || ip.family == 6;
    }
    // A VM with listed IPv6 addresses also needs its link-local ones for
    // neighbour discovery: those its listed MACs derive.
    if (v6)
        for (const MacAddr& mac : sec.macs)
            add_ip(6, eui64_link_local(mac), 128);
}

/// Per-address limits: LPM entries (gen 0) and the state table's size.
void compile_limits(const Policy& policy, MapImage& img) {
    for (size_t i = 0; i < policy.limits.size(); i++) {
        const LimitSpec& l = policy.limits[i];
        struct xdpnet_limit_key k;
        std::memset(&k, 0, sizeof(k));
        k.prefixlen = 32u + l.src.len;
        k.family = l.src.family;
        std::memcpy(k.addr, l.src.addr.data(), sizeof(k.addr));
        struct xdpnet_limit v;
        std::memset(&v, 0, sizeof(v));
        v.id = static_cast<uint32_t>(i);
        v.pol = compile_policer(l.rate);
        img.limits.emplace_back(k, v);
    }
    if (!policy.limits.empty()) {
        img.config.limits = 1;
        img.limit_sources = 65536;
        img.gc_interval_ns = std::min(img.gc_interval_ns, kSecondNs);
    }
}

} // namespace

MapImage compile(const Policy& policy, const InterfaceResolver& resolve,
                 const std::map<std::string, uint16_t>& previous_slots) {
    // The uplinks of NAT networks are ports too (mode uplink), after the switch ports.
    std::vector<std::string> names;
    for (const PortSpec& p : policy.ports)
        names.push_back(p.name);
    std::map<std::string, const NetworkSpec*> uplinks; // name -> first network using it
    for (const NetworkSpec& n : policy.networks)
        if (!n.uplink.empty() && uplinks.emplace(n.uplink, &n).second)
            names.push_back(n.uplink);
    if (names.size() > XDPNET_MAX_PORTS)
        throw PolicyError({Diagnostic{SourceLoc{policy.file, 0, 0},
                                      std::to_string(names.size()) + " ports and uplinks; at most " +
                                          std::to_string(XDPNET_MAX_PORTS) + " are allowed"}});

    std::vector<Diagnostic> diags;
    const std::vector<uint16_t> slots = assign_slots(names, previous_slots);

    MapImage img;
    img.instance = policy.instance;
    img.fdb_size = policy.fdb_size;
    img.flow_size = policy.telemetry.flow_size;
    img.flows = policy.telemetry.flows;
    img.xdp_mode = policy.xdp_mode;
    std::memset(&img.config, 0, sizeof(img.config));
    img.config.aging_ns = policy.mac_aging_ns;
    img.gc_interval_ns = std::max(kSecondNs, std::min(policy.mac_aging_ns / 2, 60 * kSecondNs));

    std::map<std::string, const PortImage*> by_name;
    std::map<uint32_t, std::string> by_ifindex; // two names, one device (altnames)
    img.ports.reserve(policy.ports.size());
    for (size_t i = 0; i < policy.ports.size(); i++) {
        const PortSpec& spec = policy.ports[i];
        const auto info = resolve(spec.name);
        if (!info) {
            diags.push_back({spec.loc, "interface '" + spec.name + "' does not exist"});
            continue;
        }
        if (info->ifindex == 0 || info->ifindex >= XDPNET_MAX_IFINDEX) {
            diags.push_back({spec.loc, "interface '" + spec.name + "' has ifindex " +
                                           std::to_string(info->ifindex) + "; xdpnet supports 1.." +
                                           std::to_string(XDPNET_MAX_IFINDEX - 1)});
            continue;
        }
        if (auto [it, fresh] = by_ifindex.emplace(info->ifindex, spec.name); !fresh) {
            diags.push_back({spec.loc, "interface '" + spec.name + "' is the same device as port '" +
                                           it->second + "' (ifindex " +
                                           std::to_string(info->ifindex) + ")"});
            continue;
        }

        PortImage pi;
        pi.name = spec.name;
        std::memset(&pi.port, 0, sizeof(pi.port));
        pi.port.ifindex = info->ifindex;
        pi.port.slot = slots[i];
        pi.port.mode = spec.mode == PortMode::Access ? XDPNET_MODE_ACCESS : XDPNET_MODE_TRUNK;
        pi.port.pvid = spec.mode == PortMode::Access ? spec.vlan : spec.native_vlan;
        pi.port.flags = spec.host ? XDPNET_PORT_HOST : 0;
        std::memcpy(pi.port.mac, info->mac.data(), sizeof(pi.port.mac));
        pi.port.mac_limit = spec.mac_limit;
        compile_controls(spec, pi, img);
        const VlanSet vlans = carried(spec);
        for (size_t v = 0; v < vlans.size(); v++) {
            if (vlans.test(v)) {
                pi.port.vlans[v / 64] |= 1ull << (v % 64);
                img.vlans[static_cast<uint16_t>(v)].push_back(slots[i]);
            }
        }
        img.ports.push_back(std::move(pi));
    }
    std::map<std::string, InterfaceInfo> uplink_info;
    size_t ui = policy.ports.size();
    for (const auto& name : std::vector<std::string>(names.begin() + policy.ports.size(), names.end())) {
        const NetworkSpec& n = *uplinks.at(name);
        const auto info = resolve(name);
        const uint16_t slot = slots[ui++];
        if (!info) {
            diags.push_back({n.uplink_loc, "uplink: interface '" + name + "' does not exist"});
            continue;
        }
        if (info->ifindex == 0 || info->ifindex >= XDPNET_MAX_IFINDEX) {
            diags.push_back({n.uplink_loc, "uplink: interface '" + name + "' has ifindex " +
                                               std::to_string(info->ifindex) + "; xdpnet supports 1.." +
                                               std::to_string(XDPNET_MAX_IFINDEX - 1)});
            continue;
        }
        if (auto [it, fresh] = by_ifindex.emplace(info->ifindex, name); !fresh) {
            diags.push_back({n.uplink_loc, "uplink: interface '" + name + "' is the same device as port '" +
                                               it->second + "'"});
            continue;
        }
        if (info->ipv4 == 0) {
            diags.push_back({n.uplink_loc, "uplink: interface '" + name + "' has no IPv4 address; "
                                           "NAT uses the uplink's address, give it one"});
            continue;
        }
        PortImage pi;
        pi.name = name;
        std::memset(&pi.port, 0, sizeof(pi.port));
        pi.port.ifindex = info->ifindex;
        pi.port.slot = slot;
        pi.port.mode = XDPNET_MODE_UPLINK;
        pi.port.ipv4 = htonl(info->ipv4);
        std::memcpy(pi.port.mac, info->mac.data(), sizeof(pi.port.mac));
        img.ports.push_back(std::move(pi));
        uplink_info[name] = *info;
    }
    if (!diags.empty())
        throw PolicyError(std::move(diags));

    std::sort(img.ports.begin(), img.ports.end(),
              [](const PortImage& a, const PortImage& b) { return a.port.slot < b.port.slot; });
    for (auto& [vid, members] : img.vlans)
        std::sort(members.begin(), members.end());
    for (const PortImage& pi : img.ports)
        by_name[pi.name] = &pi;

    for (const StaticFdbSpec& s : policy.static_fdb) {
        auto it = by_name.find(s.port);
        if (it == by_name.end()) {
            diags.push_back({s.loc, "port '" + s.port + "' is not a port of this policy"});
            continue;
        }
        StaticFdbImage fi;
        std::memset(&fi, 0, sizeof(fi));
        fi.key.vlan = s.vlan;
        std::memcpy(fi.key.mac, s.mac.data(), sizeof(fi.key.mac));
        fi.entry.last_seen_ns = 0;
        fi.entry.ifindex = it->second->port.ifindex;
        fi.entry.slot = it->second->port.slot;
        fi.entry.flags = XDPNET_FDB_STATIC;
        img.static_fdb.push_back(fi);
    }
    uint64_t connections = 0;
    for (const NetworkSpec& n : policy.networks) {
        if (!n.uplink.empty()) {
            const PortImage* up = nullptr;
            for (const PortImage& pi : img.ports)
                if (pi.name == n.uplink)
                    up = &pi;
            struct xdpnet_nat_config c;
            std::memset(&c, 0, sizeof(c));
            c.uplink_ifindex = up->port.ifindex;
            c.uplink_slot = up->port.slot;
            c.uplink_ip = up->port.ipv4;
            c.flags = n.masquerade ? XDPNET_NAT_MASQ : 0;
            c.port_lo = n.port_lo;
            c.port_hi = n.port_hi;
            auto secs = [](uint64_t ns) { return static_cast<uint32_t>(std::max<uint64_t>(1, ns / kSecondNs)); };
            c.timeout_s[XDPNET_TO_TCP_SYN] = secs(n.timeouts.tcp_syn_ns);
            c.timeout_s[XDPNET_TO_TCP_EST] = secs(n.timeouts.tcp_established_ns);
            c.timeout_s[XDPNET_TO_TCP_CLOSING] = secs(n.timeouts.tcp_closing_ns);
            c.timeout_s[XDPNET_TO_UDP] = secs(n.timeouts.udp_ns);
            c.timeout_s[XDPNET_TO_ICMP] = secs(n.timeouts.icmp_ns);
            c.max_conns = n.max_connections;
            img.nat[n.vlan] = c;
            connections += n.max_connections;
            for (const PortForwardSpec& f : n.port_forwards) {
                struct xdpnet_fwd_key k;
                std::memset(&k, 0, sizeof(k));
                k.ifindex = up->port.ifindex;
                k.port = htons(f.port);
                k.proto = f.proto;
                struct xdpnet_fwd v;
                std::memset(&v, 0, sizeof(v));
                v.addr = htonl(f.to_addr);
                v.port = htons(f.to_port);
                v.vid = n.vlan;
                img.forwards.emplace_back(k, v);
            }
        }
        struct xdpnet_gateway gw;
        std::memset(&gw, 0, sizeof(gw));
        gw.gw_ip = htonl(n.gateway);
        gw.prefix_len = n.prefix_len;
        const MacAddr mac = router_mac(policy.instance, n.vlan);
        std::memcpy(gw.router_mac, mac.data(), sizeof(gw.router_mac));
        img.gateways[n.vlan] = gw;
        img.network_names[n.vlan] = n.name;
    }
    // Routing scans a few networks' subnets in the configuration record
    // rather than the trie (both are written; the trie serves more).
    for (const auto& [vid, gw] : img.gateways)
        xdpnet_config_add_subnet(&img.config, gw.gw_ip, gw.prefix_len, vid);
    // SNAT consults the forwards table only on uplinks that have forwards.
    for (auto& [vid, c] : img.nat)
        for (const auto& f : img.forwards)
            if (f.first.ifindex == c.uplink_ifindex)
                c.flags |= XDPNET_NAT_FORWARDS;
    if (connections) {
        // Two entries per connection; NAT housekeeping runs every second.
        img.ct_size = static_cast<uint32_t>(std::min<uint64_t>(2 * connections, 1u << 25));
        img.gc_interval_ns = kSecondNs;
    }
    if (!diags.empty())
        throw PolicyError(std::move(diags));
    compile_limits(policy, img);
    if (policy.acl.present) {
        std::map<std::string, uint16_t> slot_of;
        for (const PortImage& pi : img.ports)
            slot_of[pi.name] = pi.port.slot;
        img.acl = compile_acl(policy.acl, slot_of);
        img.config.acl = 1;
        bool stateful = false;
        for (const AclRuleSpec& r : policy.acl.rules)
            stateful = stateful || r.stateful;
        img.acl_conn_size = stateful ? policy.acl.max_connections : 0;
        for (const AclRuleSpec& r : policy.acl.rules)
            img.acl_rules.push_back({format_acl_rule(r), r.loc.line});
    }
    return img;
}

std::string format_acl_rule(const AclRuleSpec& r) {
    std::string out = r.allow ? "allow" : "deny";
    auto add = [&](const std::string& w) { out += " " + w; };
    if (r.proto) {
        switch (*r.proto) {
        case 1: add("icmp"); break;
        case 6: add("tcp"); break;
        case 17: add("udp"); break;
        case 58: add("icmpv6"); break;
        default: add("proto " + std::to_string(*r.proto));
        }
    } else if (r.family) {
        add(r.family == 4 ? "ipv4" : "ipv6");
    }
    if (!r.in_port.empty())
        add("in_port " + r.in_port);
    if (r.from_vlan)
        add("from_vlan " + std::to_string(r.from_vlan));
    if (r.to_vlan)
        add("to_vlan " + std::to_string(r.to_vlan));
    if (r.from)
        add("from " + r.from->str());
    if (r.to)
        add("to " + r.to->str());
    auto range = [](uint16_t lo, uint16_t hi) {
        return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
    };
    if (r.sport_lo != 0 || r.sport_hi != 65535)
        add("src_port " + range(r.sport_lo, r.sport_hi));
    if (r.dport_lo != 0 || r.dport_hi != 65535)
        add("dst_port " + range(r.dport_lo, r.dport_hi));
    if (r.stateful)
        add("stateful");
    return out;
}

VlanSet vlans_of(const struct xdpnet_port& port) {
    VlanSet vs;
    for (unsigned v = 1; v < XDPNET_VLAN_COUNT; v++)
        if ((port.vlans[v / 64] >> (v % 64)) & 1)
            vs.set(v);
    return vs;
}

} // namespace xdpnet::policy
