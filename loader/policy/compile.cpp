// Validated Policy -> MapImage: slots, ifindexes, bitmaps, member lists.
#include <algorithm>
#include <arpa/inet.h>

#include <cstring>

#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

constexpr uint64_t kSecondNs = 1000000000ull;

/// Slot per port (policy order): previous slots kept when still valid and
/// free, then the lowest free slots for the rest, in policy order.
std::vector<uint16_t> assign_slots(const Policy& policy,
                                   const std::map<std::string, uint16_t>& previous) {
    std::vector<int> slot(policy.ports.size(), -1);
    std::vector<bool> taken(XDPNET_MAX_PORTS, false);
    for (size_t i = 0; i < policy.ports.size(); i++) {
        auto it = previous.find(policy.ports[i].name);
        if (it != previous.end() && it->second < XDPNET_MAX_PORTS && !taken[it->second]) {
            slot[i] = it->second;
            taken[it->second] = true;
        }
    }
    uint16_t next = 0;
    for (size_t i = 0; i < policy.ports.size(); i++) {
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

} // namespace

MapImage compile(const Policy& policy, const InterfaceResolver& resolve,
                 const std::map<std::string, uint16_t>& previous_slots) {
    if (policy.ports.size() > XDPNET_MAX_PORTS)
        throw PolicyError({Diagnostic{SourceLoc{policy.file, 0, 0},
                                      std::to_string(policy.ports.size()) + " ports; at most " +
                                          std::to_string(XDPNET_MAX_PORTS) + " are allowed"}});

    std::vector<Diagnostic> diags;
    const std::vector<uint16_t> slots = assign_slots(policy, previous_slots);

    MapImage img;
    img.instance = policy.instance;
    img.fdb_size = policy.fdb_size;
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
        const VlanSet vlans = carried(spec);
        for (size_t v = 0; v < vlans.size(); v++) {
            if (vlans.test(v)) {
                pi.port.vlans[v / 64] |= 1ull << (v % 64);
                img.vlans[static_cast<uint16_t>(v)].push_back(slots[i]);
            }
        }
        img.ports.push_back(std::move(pi));
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
    for (const NetworkSpec& n : policy.networks) {
        if (!n.uplink.empty())
            diags.push_back({n.uplink_loc, "uplink: routing to an uplink, masquerade and port "
                                           "forwards are not in this datapath yet (issue 3 is in "
                                           "progress); networks route between each other only"});
        struct xdpnet_gateway gw;
        std::memset(&gw, 0, sizeof(gw));
        gw.gw_ip = htonl(n.gateway);
        gw.prefix_len = n.prefix_len;
        const MacAddr mac = router_mac(policy.instance, n.vlan);
        std::memcpy(gw.router_mac, mac.data(), sizeof(gw.router_mac));
        img.gateways[n.vlan] = gw;
        img.network_names[n.vlan] = n.name;
    }
    if (!diags.empty())
        throw PolicyError(std::move(diags));
    return img;
}

VlanSet vlans_of(const struct xdpnet_port& port) {
    VlanSet vs;
    for (unsigned v = 1; v < XDPNET_VLAN_COUNT; v++)
        if ((port.vlans[v / 64] >> (v % 64)) & 1)
            vs.set(v);
    return vs;
}

} // namespace xdpnet::policy
