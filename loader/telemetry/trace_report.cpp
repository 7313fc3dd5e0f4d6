// The explanation of a trace run, built from its facts in pipeline order
// (bpf/xdpnet.bpf.c: classify -> port controls -> learn -> gateway -> route
// -> ACL -> NAT -> deliver; on an uplink: NAT -> route -> ACL -> deliver).
// Every counter and drop reason the run moved appears in some step: the ones
// a stage explains in its own words first, any other one by its help text.
#include "telemetry/trace_report.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <tuple>

#include "cli/names.h"
#include "policy/policy.h"
#include "telemetry/frame_diff.h"

namespace xdpnet::telemetry {
namespace {

using Json = nlohmann::json;

std::string ip(__be32 a) { return policy::format_ipv4(ntohl(a)); }

std::string addr_text(uint8_t family, const uint8_t* a) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, sizeof(buf));
    return buf;
}

const char* proto_name(uint8_t p) {
    switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    default: return "ip";
    }
}

const char* ct_state_name(uint8_t s) {
    switch (s) {
    case XDPNET_CT_TCP_SYN_SENT: return "syn_sent";
    case XDPNET_CT_TCP_SYN_RECV: return "syn_recv";
    case XDPNET_CT_TCP_ESTABLISHED: return "established";
    case XDPNET_CT_TCP_CLOSING: return "closing";
    case XDPNET_CT_UDP: return "udp";
    case XDPNET_CT_ICMP: return "icmp";
    default: return "?";
    }
}

const char* ct_kind(uint8_t flags) {
    if ((flags & XDPNET_CT_SNAT) && (flags & XDPNET_CT_DNAT))
        return "hairpin";
    return (flags & XDPNET_CT_DNAT) ? "dnat" : "snat";
}

Json tuple_json(__be32 s, __be16 sp, __be32 d, __be16 dp) {
    return {{"src", ip(s)}, {"sport", ntohs(sp)}, {"dst", ip(d)}, {"dport", ntohs(dp)}};
}

std::string tuple_text(__be32 s, __be16 sp, __be32 d, __be16 dp) {
    return ip(s) + ":" + std::to_string(ntohs(sp)) + " -> " + ip(d) + ":" + std::to_string(ntohs(dp));
}

std::string key_text(const struct xdpnet_ct_key& k) { return tuple_text(k.saddr, k.sport, k.daddr, k.dport); }

bool wants_tag(const struct xdpnet_port& p, uint16_t vid) {
    return p.mode == XDPNET_MODE_TRUNK && vid != p.pvid;
}

bool has_vlan(const struct xdpnet_port& p, uint16_t vid) {
    vid &= 0xfff;
    return (p.vlans[vid / 64] >> (vid % 64)) & 1;
}

uint16_t be16_at(std::span<const uint8_t> f, size_t at) { return uint16_t(f[at] << 8 | f[at + 1]); }

/// Pipeline stages, for ordering what the counters say.
enum Stage { kL2, kControls, kLearn, kGateway, kRoute, kAcl, kNat, kDeliver, kStages };

Stage stage_of_drop(int r) {
    switch (r) {
    case XDPNET_DROP_RUNT: case XDPNET_DROP_TRUNCATED_VLAN: case XDPNET_DROP_TAGGED_ON_ACCESS:
    case XDPNET_DROP_VLAN_NOT_ALLOWED: case XDPNET_DROP_NO_NATIVE_VLAN: case XDPNET_DROP_QINQ:
    case XDPNET_DROP_BAD_SRC_MAC:
        return kL2;
    case XDPNET_DROP_SPOOF_MAC: case XDPNET_DROP_SPOOF_IP: case XDPNET_DROP_SPOOF_ARP:
    case XDPNET_DROP_SPOOF_ND: case XDPNET_DROP_DHCP_SERVER: case XDPNET_DROP_RA_GUARD:
    case XDPNET_DROP_POLICE_IN: case XDPNET_DROP_LIMIT:
        return kControls;
    case XDPNET_DROP_GW_UNSERVED: case XDPNET_DROP_BAD_L3: case XDPNET_DROP_NO_ROUTE:
        return kGateway;
    case XDPNET_DROP_TTL_EXCEEDED: case XDPNET_DROP_NEIGH_UNRESOLVED:
        return kRoute;
    case XDPNET_DROP_ACL_DENY:
        return kAcl;
    case XDPNET_DROP_NAT_NO_PORT: case XDPNET_DROP_NAT_LIMIT: case XDPNET_DROP_CT_FULL:
    case XDPNET_DROP_NAT_NOT_SYN: case XDPNET_DROP_NAT_PROTO: case XDPNET_DROP_FRAG_UNKNOWN:
    case XDPNET_DROP_NAT_UNTRACKED: case XDPNET_DROP_FRAG_NEEDED: case XDPNET_DROP_UPLINK_ROUTE:
        return kNat;
    default:
        return kDeliver;
    }
}

/// The explanation of one run.
class Explainer {
  public:
    explicit Explainer(const TraceFacts& f) : f_(f), uplink_(in().mode == XDPNET_MODE_UPLINK) {
        if (!uplink_)
            vid_ = classify_vlan(in(), f_.frame_in);
    }

    TraceReport run() {
        received();
        classified();
        controls();
        learning();
        if (uplink_) {
            nat();
            routing();
            acl();
        } else {
            gateway();
            routing();
            acl();
            nat();
        }
        delivery();
        leftovers();
        TraceReport r;
        r.steps = steps_;
        r.json = json();
        return r;
    }

  private:
    // ---- facts
    const struct xdpnet_port& in() const { return port(f_.in_slot); }
    const struct xdpnet_port& port(uint16_t slot) const {
        static const struct xdpnet_port none = {};
        auto it = f_.ports.find(slot);
        return it == f_.ports.end() ? none : it->second.port;
    }
    std::string name(uint16_t slot) const {
        if (slot == XDPNET_SLOT_NONE)
            return "(not a port)";
        auto it = f_.ports.find(slot);
        return it == f_.ports.end() ? "slot " + std::to_string(slot) : it->second.name;
    }
    std::string in_name() const { return name(f_.in_slot); }
    uint64_t ctr(uint16_t slot, int c) const {
        auto it = f_.stats.find(slot);
        return it == f_.stats.end() ? 0 : it->second.ctr[c];
    }
    uint64_t drops(uint16_t slot, int r) const {
        auto it = f_.stats.find(slot);
        return it == f_.stats.end() ? 0 : it->second.drops[r];
    }
    uint64_t in_ctr(int c) const { return ctr(f_.in_slot, c); }
    /// Marks a counter explained; returns its value.
    uint64_t take(uint16_t slot, int c) {
        done_.insert({slot, false, c});
        return ctr(slot, c);
    }
    uint64_t take_in(int c) { return take(f_.in_slot, c); }
    std::string src_mac() const { return policy::format_mac(f_.frame_in.data() + 6); }
    std::string network_text(uint16_t vid) const {
        auto it = f_.networks.find(vid);
        std::string s = "VLAN " + std::to_string(vid);
        if (it != f_.networks.end() && !it->second.name.empty())
            s += " (network " + it->second.name + ")";
        return s;
    }
    /// The network whose subnet holds addr, the longest prefix first (what
    /// the datapath's routing finds: subnets never overlap).
    std::optional<uint16_t> network_of(__be32 addr) const {
        std::optional<uint16_t> best;
        int best_len = -1;
        for (const auto& [vid, n] : f_.networks) {
            const uint8_t len = n.gateway.prefix_len;
            if (((addr ^ n.gateway.gw_ip) & xdpnet_prefix_mask(len)) == 0 && len > best_len) {
                best = vid;
                best_len = len;
            }
        }
        return best;
    }
    /// The IPv4 destination of a frame (after its tag, if any).
    static std::optional<__be32> ipv4_dst(const std::vector<uint8_t>& fr) {
        size_t at = 12;
        if (fr.size() >= 18 && be16_at(fr, 12) == 0x8100)
            at += 4;
        if (fr.size() < at + 22 || be16_at(fr, at) != 0x0800)
            return std::nullopt;
        __be32 a;
        std::memcpy(&a, &fr[at + 2 + 16], 4);
        return a;
    }
    /// Did the frame meet a drop before reaching `stage`?
    bool dropped_before(Stage stage) const {
        for (const auto& [slot, s] : f_.stats)
            for (int r = 1; r < XDPNET_DROP_MAX; r++)
                if (s.drops[r] && stage_of_drop(r) < stage)
                    return true;
        return false;
    }

    void step(std::string s) { steps_.push_back(std::move(s)); }
    /// Each drop of `stage` on any slot, in words.
    void stage_drops(Stage st) {
        for (const auto& [slot, s] : f_.stats)
            for (int r = 1; r < XDPNET_DROP_MAX; r++)
                if (s.drops[r] && stage_of_drop(r) == st && !done_.count({slot, true, r})) {
                    done_.insert({slot, true, r});
                    step(drop_text(slot, r));
                }
    }
    std::string drop_text(uint16_t slot, int r) const {
        return std::string("dropped") + (slot == f_.in_slot ? "" : " on " + name(slot)) + ": " +
               cli::kDropNames[r] + " (" + cli::kDropHelp[r] + ")";
    }

    // ---- the stages
    void received();
    void classified();
    void controls();
    void learning();
    void gateway();
    void routing();
    void acl();
    void nat();
    void nat_connection_steps();
    void delivery();
    void leftovers();

    // ---- results
    struct Egress {
        uint16_t slot;
        std::optional<uint16_t> vlan;
        bool tagged;
        std::vector<uint8_t> frame;
    };
    std::vector<Egress> egress() const;
    std::optional<uint16_t> flood_vlan() const;
    std::vector<Egress> host_flood() const;
    std::pair<std::string, std::string> reason() const;
    std::string meaning(const std::vector<Egress>& out) const;
    Json json() const;
    Json state_changes() const;
    std::vector<std::string> state_text() const;

    const TraceFacts& f_;
    bool uplink_;
    std::optional<uint16_t> vid_;
    std::vector<std::string> steps_;
    std::set<std::tuple<uint16_t, bool, int>> done_; // (slot, drop?, index) already explained
};

std::string port_mode_text(const struct xdpnet_port& p) {
    if (p.mode == XDPNET_MODE_UPLINK)
        return "uplink " + ip(p.ipv4);
    if (p.mode == XDPNET_MODE_ACCESS)
        return "access VLAN " + std::to_string(p.pvid);
    policy::VlanSet vs = policy::vlans_of(p);
    vs.reset(p.pvid);
    return "trunk VLANs " + (vs.any() ? policy::format_vlans(vs) : std::string("-")) + ", native " +
           (p.pvid ? std::to_string(p.pvid) : std::string("none"));
}

void Explainer::received() {
    take_in(XDPNET_CTR_RX);
    take_in(XDPNET_CTR_RX_BYTES);
    step("received on " + in_name() + " (slot " + std::to_string(f_.in_slot) + ", " + port_mode_text(in()) + ")");
    if (take(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT))
        step(in_name() + " is not a port of the live policy generation: passed untouched");
}

void Explainer::classified() {
    stage_drops(kL2);
    if (uplink_) {
        step("an uplink: routed, not switched; IPv4 to its address " + ip(in().ipv4) +
             " may belong to a connection or a port forward, anything else is the host's");
        return;
    }
    if (!vid_) {
        if (in_ctr(XDPNET_CTR_TO_HOST) && in().mode == XDPNET_MODE_TRUNK)
            step("untagged on a host port without a native VLAN: the host's frame");
        return;
    }
    const int tag = frame_vid(f_.frame_in);
    std::string why = in().mode == XDPNET_MODE_ACCESS ? "the access port's VLAN"
                      : tag < 0                         ? "untagged: the trunk's native VLAN"
                      : tag == 0                        ? "priority-tagged (VID 0): the trunk's native VLAN"
                                                        : "tagged, and the trunk allows it";
    step("classified into VLAN " + std::to_string(*vid_) + ": " + why);
}

void Explainer::controls() {
    stage_drops(kControls);
    if (take_in(XDPNET_CTR_DSCP_MARKED))
        step("DSCP marked " + std::to_string(in().dscp) + " (the port's dscp)");
    if (take_in(XDPNET_CTR_LIMIT_FULL))
        step("the per-address limit table is full: the limit's shared bucket applied");
    if (take_in(XDPNET_CTR_REMARKED))
        step("over a rate: DSCP remarked instead of dropped");
}

void Explainer::learning() {
    if (uplink_ || !vid_)
        return;
    const std::string where = " in VLAN " + std::to_string(*vid_);
    if (take_in(XDPNET_CTR_LEARNED))
        step("source " + src_mac() + " learned" + where + " on " + in_name() + " (new FDB entry)");
    if (take_in(XDPNET_CTR_MOVED)) {
        std::string from;
        for (const auto& c : f_.fdb)
            if (c.before && c.after && c.before->slot != c.after->slot)
                from = " from " + name(c.before->slot);
        step("source " + src_mac() + where + " moved" + from + " to " + in_name());
    }
    if (take_in(XDPNET_CTR_LEARN_LIMITED))
        step("source " + src_mac() + " not learned: " + in_name() + " has its mac_limit of " +
             std::to_string(in().mac_limit) + " learned MACs");
    if (take_in(XDPNET_CTR_FDB_FULL))
        step("source " + src_mac() + " not learned: the FDB is full (the frame is forwarded anyway)");
    if (take_in(XDPNET_CTR_STATIC_CONFLICT))
        step("source " + src_mac() + " is a static entry on " +
             (f_.fdb_src ? name(f_.fdb_src->slot) : std::string("another port")) + ": not moved");
    const bool learned = in_ctr(XDPNET_CTR_LEARNED) || in_ctr(XDPNET_CTR_MOVED) ||
                         in_ctr(XDPNET_CTR_LEARN_LIMITED) || in_ctr(XDPNET_CTR_FDB_FULL) ||
                         in_ctr(XDPNET_CTR_STATIC_CONFLICT);
    if (!learned && !dropped_before(kLearn) && f_.fdb_src && f_.fdb_src->slot == f_.in_slot)
        step("source " + src_mac() + where + " already known on " + in_name() +
             ((f_.fdb_src->flags & XDPNET_FDB_STATIC) ? " (static)" : ""));
}

void Explainer::gateway() {
    stage_drops(kGateway);
    auto gw = vid_ ? f_.networks.find(*vid_) : f_.networks.end();
    const std::string gw_text =
        gw == f_.networks.end() ? "" : ip(gw->second.gateway.gw_ip) + " (router MAC " +
                                           policy::format_mac(gw->second.gateway.router_mac) + ")";
    for (const auto& c : f_.neigh)
        if (c.after && c.after->state == XDPNET_NEIGH_REACHABLE &&
            (!c.before || std::memcmp(c.before->mac, c.after->mac, 6) || c.before->state != c.after->state))
            step("neighbour " + ip(c.key.ip) + " in VLAN " + std::to_string(c.key.vid) + " is at " +
                 policy::format_mac(c.after->mac) + " (learned from the ARP)");
    take_in(XDPNET_CTR_NEIGH_LEARNED);
    if (take_in(XDPNET_CTR_GW_ARP_REPLY))
        step("ARP request for the gateway " + gw_text + ": the frame becomes the ARP reply");
    if (take_in(XDPNET_CTR_GW_ECHO_REPLY))
        step("echo request to a router address: the frame becomes the echo reply");
    if (take_in(XDPNET_CTR_ARP_TO_ROUTER))
        step("ARP reply to the router: consumed (its sender learned)");
}

void Explainer::routing() {
    stage_drops(kRoute);
    // Where it is delivered: the destination as it leaves (NAT may have
    // rewritten it), or as it came when it does not leave.
    auto dst = in_ctr(XDPNET_CTR_ROUTED) ? ipv4_dst(f_.frame_out) : std::nullopt;
    if (!dst)
        dst = ipv4_dst(f_.frame_in);
    const auto to = dst ? network_of(*dst) : std::nullopt;
    if (take_in(XDPNET_CTR_ICMP_TIME_EXCEEDED))
        step("TTL ran out: the frame becomes an ICMP time-exceeded from the gateway");
    if (take_in(XDPNET_CTR_ARP_REQUEST)) {
        step("the router has no MAC for " + (dst ? ip(*dst) : std::string("the next hop")) +
             (to ? " in " + network_text(*to) : "") +
             ": the packet is dropped and an ARP request for it is flooded in its place "
             "(the sender's retransmission gets through once it is answered)");
    } else if (in_ctr(XDPNET_CTR_ROUTED) == 0 && drops(f_.in_slot, XDPNET_DROP_NEIGH_UNRESOLVED)) {
        step("(the router asked for that neighbour less than a second ago: no new ARP request)");
    }
    if (take_in(XDPNET_CTR_ROUTED) && to) {
        auto n = f_.networks.find(*to);
        std::string s = "routed" + std::string(vid_ ? " from " + network_text(*vid_) : "") + " into " +
                        network_text(*to) + ": TTL decremented";
        if (f_.frame_out.size() >= 12 && n != f_.networks.end())
            s += ", source MAC the router's " + policy::format_mac(n->second.gateway.router_mac) +
                 ", destination MAC the neighbour's " + policy::format_mac(f_.frame_out.data());
        step(s);
    } else if (in_ctr(XDPNET_CTR_ROUTED)) {
        step("routed into another network: TTL decremented, MACs rewritten");
    }
}

void Explainer::acl() {
    stage_drops(kAcl);
    if (f_.acl) {
        const bool dflt = f_.acl->rule == XDPNET_ACL_MAX_RULES;
        const std::string action = f_.acl->action == XDPNET_ACL_DENY ? "deny" : "allow";
        step(dflt ? "ACL: no rule matches: the default, " + action
                  : "ACL: rule " + std::to_string(f_.acl->rule + 1) +
                        (f_.acl->text.empty() ? "" : " `" + f_.acl->text + "`") + " matches: " + action);
    }
    if (take_in(XDPNET_CTR_ACL_REPLY))
        step("denied by the rules, but a reply of a connection a stateful rule allowed: let through");
    for (const auto& c : f_.acl_conns)
        if (c.after && !c.before)
            step("stateful rule: the connection is recorded, its replies will be let through");
    if (take_in(XDPNET_CTR_ACL_TRACK_FAILED))
        step("stateful rule: the connection could not be recorded (its replies may be denied)");
}

void Explainer::nat_connection_steps() {
    for (const auto& c : f_.ct) {
        if (c.after && !c.before && (c.after->flags & XDPNET_CT_ORIGINAL)) {
            const auto& v = *c.after;
            std::string s = std::string("new ") + ct_kind(v.flags) + " " + proto_name(c.key.proto) +
                            " connection " + key_text(c.key) + ": translated to " +
                            tuple_text(v.to_saddr, v.to_sport, v.to_daddr, v.to_dport) +
                            "; its replies arrive as " + key_text(xdpnet_ct_peer_of(c.key, v));
            if ((v.flags & XDPNET_CT_SNAT) && v.to_sport != c.key.sport)
                s += " (source port " + std::to_string(ntohs(v.to_sport)) +
                     " picked now; a real packet picks its own when the original port is taken)";
            step(s);
        } else if (c.before && c.after && c.after->packets != c.before->packets) {
            const auto& v = *c.after;
            std::string s = std::string("tracked ") + ct_kind(v.flags) + " connection matched (" +
                            ((v.flags & XDPNET_CT_ORIGINAL) ? "original" : "reply") + " direction " +
                            key_text(c.key) + "): translated to " +
                            tuple_text(v.to_saddr, v.to_sport, v.to_daddr, v.to_dport);
            if (c.before->state != v.state)
                s += std::string("; state ") + ct_state_name(c.before->state) + " -> " + ct_state_name(v.state);
            step(s);
        } else if (c.before && !c.after && (c.before->flags & XDPNET_CT_ORIGINAL)) {
            step("expired connection " + key_text(c.key) + " removed on the way");
        }
    }
}

void Explainer::nat() {
    stage_drops(kNat);
    if (take_in(XDPNET_CTR_CSUM_COMPLETED))
        step("the sender left its TCP/UDP checksum unfinished (offload): completed before the rewrite");
    nat_connection_steps();
    take_in(XDPNET_CTR_NAT_NEW);
    if (take_in(XDPNET_CTR_NAT_IN))
        step("from the uplink into its network: translated back (or forwarded in) and delivered like a "
             "routed packet");
    if (take_in(XDPNET_CTR_NAT_SLOW)) {
        std::string up = "the uplink";
        if (f_.meta && f_.meta->magic == XDPNET_META_MAGIC)
            for (const auto& [slot, p] : f_.ports)
                if (p.port.ifindex == f_.meta->ifindex)
                    up = p.name;
        step("the kernel has no neighbour entry for the next hop yet: passed up, marked in XDP metadata, to "
             "the tc program xdpnet_nat_slow, which translates it and hands it to bpf_redirect_neigh out of " +
             up);
    }
    if (take_in(XDPNET_CTR_ICMP_FRAG_NEEDED))
        step("too big for the uplink's path MTU with DF set: the frame becomes an ICMP fragmentation-needed");
    if (take_in(XDPNET_CTR_NAT_OUT) && f_.frame_out.size() >= 12)
        step("out of the uplink, to the next hop the kernel's FIB names (" +
             policy::format_mac(f_.frame_out.data()) + "), from " + policy::format_mac(f_.frame_out.data() + 6));
}

/// Where a flood goes: the VLAN of the (tagged) output frame.
std::optional<uint16_t> Explainer::flood_vlan() const {
    if (!in_ctr(XDPNET_CTR_FLOODED))
        return std::nullopt;
    const int vid = frame_vid(f_.frame_out);
    return vid > 0 ? std::optional<uint16_t>(uint16_t(vid)) : vid_;
}

std::vector<Explainer::Egress> Explainer::egress() const {
    std::vector<Egress> out;
    if (f_.verdict != XDP_REDIRECT && f_.verdict != XDP_TX)
        return out;
    if (auto vid = flood_vlan()) {
        // Switched floods skip their ingress port; routed ones (their VLAN
        // changed) and the router's ARP requests may leave through it.
        const bool exclude = !in_ctr(XDPNET_CTR_ROUTED) && !in_ctr(XDPNET_CTR_ARP_REQUEST) && !uplink_;
        auto it = f_.vlans.find(*vid);
        for (uint16_t m : it == f_.vlans.end() ? std::vector<uint16_t>{} : it->second) {
            if (exclude && m == f_.in_slot)
                continue;
            const bool tagged = wants_tag(port(m), *vid);
            out.push_back({m, *vid, tagged, tagged ? f_.frame_out : pop_vlan(f_.frame_out)});
        }
        return out;
    }
    const int tag = frame_vid(f_.frame_out);
    auto vlan_of = [&](uint16_t slot) -> std::optional<uint16_t> {
        if (tag >= 0)
            return uint16_t(tag);
        if (port(slot).mode == XDPNET_MODE_UPLINK)
            return std::nullopt;
        return port(slot).pvid ? std::optional<uint16_t>(port(slot).pvid) : vid_;
    };
    for (const auto& [slot, s] : f_.stats)
        if (s.ctr[XDPNET_CTR_TX_UNICAST])
            out.push_back({slot, vlan_of(slot), tag >= 0, f_.frame_out});
    if (out.empty()) // a reply built in place goes back out of the ingress port
        out.push_back({f_.in_slot, vlan_of(f_.in_slot), tag >= 0, f_.frame_out});
    return out;
}

/// The copies the host port's tc program (xdpnet_host_flood) makes of a
/// broadcast or multicast XDP passed up on the port's native VLAN.
std::vector<Explainer::Egress> Explainer::host_flood() const {
    std::vector<Egress> out;
    const auto& p = in();
    const auto& fr = f_.frame_in;
    if (f_.verdict != XDP_PASS || !in_ctr(XDPNET_CTR_TO_HOST) || !(p.flags & XDPNET_PORT_HOST) || !p.pvid ||
        fr.size() < 14 || !(fr[0] & 1) || be16_at(fr, 12) == 0x8100 || be16_at(fr, 12) == 0x88a8)
        return out;
    auto it = f_.vlans.find(p.pvid);
    for (uint16_t m : it == f_.vlans.end() ? std::vector<uint16_t>{} : it->second)
        if (m != f_.in_slot)
            out.push_back({m, p.pvid, wants_tag(port(m), p.pvid), {}});
    return out;
}

std::string egress_text(const std::string& port, bool tagged, std::optional<uint16_t> vlan) {
    if (!vlan)
        return port;
    return port + (tagged ? " tagged " + std::to_string(*vlan) : " untagged");
}

void Explainer::delivery() {
    stage_drops(kDeliver);
    const auto out = egress();
    if (auto vid = flood_vlan()) {
        take_in(XDPNET_CTR_FLOODED);
        const std::string why = f_.frame_out.size() < 14 ? "flood"
                                : (f_.frame_out[0] & 1) ? (f_.frame_out[0] == 0xff ? "broadcast" : "multicast")
                                                       : "destination " + policy::format_mac(f_.frame_out.data()) +
                                                             " unknown in VLAN " + std::to_string(*vid);
        std::string to;
        for (const auto& e : out)
            to += (to.empty() ? "" : ", ") + egress_text(name(e.slot), e.tagged, e.vlan);
        step(why + ": flooded in VLAN " + std::to_string(*vid) + " to " + (to.empty() ? "nobody" : to) +
             " (each copy tagged or not for its port by xdpnet_flood_egress)");
        for (const auto& e : out)
            if (port(e.slot).flags & XDPNET_PORT_POLICE_OUT)
                step(name(e.slot) + "'s egress policer applies to its copy (not traced: it runs in the devmap)");
    } else if (f_.verdict == XDP_REDIRECT) {
        for (const auto& e : out) {
            if (take(e.slot, XDPNET_CTR_TX_UNICAST) == 0) {
                step("sent back out of " + name(e.slot));
                continue;
            }
            std::string s;
            if (!in_ctr(XDPNET_CTR_NAT_OUT)) {
                const bool routed = in_ctr(XDPNET_CTR_ROUTED) != 0;
                s = (routed ? "delivered" : "known unicast") + std::string(": ") +
                    policy::format_mac(f_.frame_out.data()) +
                    (e.vlan ? " in VLAN " + std::to_string(*e.vlan) : "") + " is behind " + name(e.slot);
                if (!routed && f_.fdb_dst)
                    s += (f_.fdb_dst->flags & XDPNET_FDB_STATIC) ? " (static entry)" : " (learned)";
                s += "; ";
            }
            step(s + "sent out of " + egress_text(name(e.slot), e.tagged, e.vlan));
        }
    }
    if (take_in(XDPNET_CTR_TO_HOST)) {
        step("passed to the host's network stack (XDP_PASS)");
        std::string to;
        for (const auto& e : host_flood())
            to += (to.empty() ? "" : ", ") + egress_text(name(e.slot), e.tagged, e.vlan);
        if (!to.empty())
            step("then, in tc, xdpnet_host_flood floods copies to the rest of VLAN " + std::to_string(in().pvid) +
                 ": " + to);
    }
}

void Explainer::leftovers() {
    for (const auto& [slot, s] : f_.stats) {
        for (int c = 0; c < XDPNET_CTR_MAX; c++)
            if (s.ctr[c] && !done_.count({slot, false, c}))
                step(std::string(cli::kCounterNames[c]) + " on " + name(slot) + ": " + cli::kCounterHelp[c]);
        for (int r = 1; r < XDPNET_DROP_MAX; r++)
            if (s.drops[r] && !done_.count({slot, true, r}))
                step(drop_text(slot, r));
    }
}

/// (token, sentence): why the verdict is what it is.
std::pair<std::string, std::string> Explainer::reason() const {
    if (f_.verdict == XDP_DROP || f_.verdict == XDP_ABORTED)
        for (int st = 0; st < kStages; st++) // the first drop in pipeline order
            for (const auto& [slot, s] : f_.stats)
                for (int r = 1; r < XDPNET_DROP_MAX; r++)
                    if (s.drops[r] && stage_of_drop(r) == st)
                        return {cli::kDropNames[r], cli::kDropHelp[r]};
    const std::pair<int, std::pair<const char*, const char*>> by_counter[] = {
        {XDPNET_CTR_GW_ARP_REPLY, {"gateway_arp_reply", "the gateway answered an ARP request for itself"}},
        {XDPNET_CTR_GW_ECHO_REPLY, {"gateway_echo_reply", "the router answered an echo request to its address"}},
        {XDPNET_CTR_ARP_TO_ROUTER, {"arp_to_router", "an ARP reply to the router, consumed"}},
        {XDPNET_CTR_ICMP_TIME_EXCEEDED, {"ttl_exceeded", "the TTL ran out: an ICMP time-exceeded went back"}},
        {XDPNET_CTR_ICMP_FRAG_NEEDED, {"frag_needed", "too big for the path MTU: fragmentation-needed went back"}},
        {XDPNET_CTR_ARP_REQUEST, {"neigh_unresolved", "the next hop is unresolved: an ARP request went out instead"}},
        {XDPNET_CTR_NAT_SLOW, {"nat_slow_path", "translated by tc while the kernel resolves the next hop"}},
        {XDPNET_CTR_NAT_OUT, {"nat_out", "out of the uplink"}},
        {XDPNET_CTR_NAT_IN, {"nat_in", "in from the uplink, translated back or forwarded"}},
        {XDPNET_CTR_ROUTED, {"routed", "routed into another network"}},
        {XDPNET_CTR_FLOODED, {"flood", "flooded to the VLAN"}},
        {XDPNET_CTR_TX_UNICAST, {"known_unicast", "the FDB knows the destination"}},
        {XDPNET_CTR_TO_HOST, {"to_host", "for the host's stack"}},
    };
    for (const auto& [c, rs] : by_counter) {
        bool moved = in_ctr(c) != 0;
        if (c == XDPNET_CTR_TX_UNICAST)
            for (const auto& [slot, s] : f_.stats)
                moved |= s.ctr[c] != 0;
        if (moved)
            return {rs.first, rs.second};
    }
    if (ctr(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT))
        return {"not_a_port", "the interface is not a port of the live policy"};
    if (f_.verdict == XDP_DROP)
        return {"dropped", "dropped without a counted reason"};
    return {"none", ""};
}

std::string Explainer::meaning(const std::vector<Egress>& out) const {
    std::string ports;
    for (const auto& e : out)
        ports += (ports.empty() ? "" : ", ") + name(e.slot);
    switch (f_.verdict) {
    case XDP_ABORTED: return "aborted: the program failed (the xdp:xdp_exception tracepoint shows it)";
    case XDP_DROP: return "dropped";
    case XDP_PASS:
        return f_.meta && f_.meta->magic == XDPNET_META_MAGIC ? "passed up, marked for the tc NAT slow path"
                                                              : "passed to the host's network stack";
    case XDP_TX: return "sent back out of " + in_name();
    case XDP_REDIRECT:
        if (flood_vlan())
            return "flooded to " + (ports.empty() ? std::string("nobody") : ports);
        return "sent out of " + ports;
    default: return "unknown verdict";
    }
}

Json rewrites_json(std::span<const uint8_t> before, std::span<const uint8_t> after) {
    Json out = Json::array();
    for (const auto& c : diff_frames(before, after)) {
        Json x = {{"field", c.field}, {"before", c.before}, {"after", c.after}};
        if (!c.change.empty())
            x["change"] = c.change;
        out.push_back(x);
    }
    return out;
}

/// One port a frame leaves by; with its frame (and what differs from the
/// frame that came in) when the trace knows it.
Json egress_json(const std::string& port, bool tagged, std::optional<uint16_t> vlan,
                 const std::vector<uint8_t>& frame, const std::vector<uint8_t>& frame_in) {
    Json j = {{"port", port}, {"tagged", tagged}, {"vlan", vlan ? Json(*vlan) : Json(nullptr)}};
    if (!frame.empty()) {
        j["frame"] = to_hex(frame);
        j["rewritten"] = rewrites_json(frame_in, frame);
    }
    return j;
}

Json Explainer::state_changes() const {
    Json out = Json::array();
    for (const auto& c : f_.fdb) {
        Json j = {{"table", "fdb"}, {"vlan", c.key.vlan}, {"mac", policy::format_mac(c.key.mac)}};
        if (c.after && !c.before)
            j.update({{"op", "add"}, {"port", name(c.after->slot)}});
        else if (c.before && !c.after)
            j.update({{"op", "remove"}, {"port", name(c.before->slot)}});
        else if (c.before->slot != c.after->slot)
            j.update({{"op", "move"}, {"from", name(c.before->slot)}, {"port", name(c.after->slot)}});
        else
            continue; // its timestamp refreshed
        out.push_back(j);
    }
    for (const auto& c : f_.ct) {
        const auto& v = c.after ? *c.after : *c.before;
        const bool both = c.before && c.after;
        if (!(v.flags & XDPNET_CT_ORIGINAL) && !both)
            continue; // the reply half of an added or removed connection: listed with its original
        if (both && c.before->packets == c.after->packets)
            continue; // the peer of the half the packet matched (its state follows), or a cache refresh
        Json j = {{"table", "nat"}, {"kind", ct_kind(v.flags)}, {"proto", proto_name(c.key.proto)},
                  {"vlan", v.vid}};
        const Json key = tuple_json(c.key.saddr, c.key.sport, c.key.daddr, c.key.dport);
        if (c.after && !c.before) {
            const struct xdpnet_ct_key peer = xdpnet_ct_peer_of(c.key, v);
            j.update({{"op", "add"}, {"original", key},
                      {"translated", tuple_json(v.to_saddr, v.to_sport, v.to_daddr, v.to_dport)},
                      {"reply", tuple_json(peer.saddr, peer.sport, peer.daddr, peer.dport)},
                      {"state", ct_state_name(v.state)}});
        } else if (c.before && !c.after) {
            j.update({{"op", "remove"}, {"original", key}});
        } else {
            j.update({{"op", "update"}, {"direction", (v.flags & XDPNET_CT_ORIGINAL) ? "original" : "reply"},
                      {"tuple", key}, {"translated", tuple_json(v.to_saddr, v.to_sport, v.to_daddr, v.to_dport)},
                      {"state_before", ct_state_name(c.before->state)}, {"state", ct_state_name(v.state)},
                      {"packets", v.packets}});
        }
        out.push_back(j);
    }
    for (const auto& c : f_.neigh) {
        if (!c.after)
            continue;
        if (c.before && c.before->state == c.after->state && !std::memcmp(c.before->mac, c.after->mac, 6))
            continue; // refreshed, or asked again
        const bool ok = c.after->state == XDPNET_NEIGH_REACHABLE;
        out.push_back({{"table", "neigh"}, {"op", c.before ? "change" : "add"}, {"vlan", c.key.vid},
                       {"address", ip(c.key.ip)}, {"mac", ok ? Json(policy::format_mac(c.after->mac)) : Json(nullptr)},
                       {"state", ok ? "reachable" : "incomplete"}});
    }
    for (const auto& c : f_.acl_conns) {
        if (!c.after || (c.before && c.before->closing == c.after->closing))
            continue;
        const auto& k = c.key;
        out.push_back({{"table", "acl_conn"}, {"op", c.before ? "closing" : "add"}, {"proto", proto_name(k.proto)},
                       {"reply", {{"src", addr_text(k.family, k.src)}, {"sport", ntohs(k.sport)},
                                  {"dst", addr_text(k.family, k.dst)}, {"dport", ntohs(k.dport)},
                                  {"from_vlan", k.from_vlan}, {"to_vlan", k.to_vlan}}}});
    }
    return out;
}

std::vector<std::string> Explainer::state_text() const {
    std::vector<std::string> out;
    for (const auto& j : state_changes()) {
        const std::string t = j["table"], op = j["op"];
        if (t == "fdb") {
            const std::string what = j["mac"].get<std::string>() + " in VLAN " + std::to_string(j["vlan"].get<int>());
            out.push_back(op == "add"    ? "fdb: learn " + what + " on " + j["port"].get<std::string>()
                          : op == "move" ? "fdb: move " + what + " from " + j["from"].get<std::string>() + " to " +
                                               j["port"].get<std::string>()
                                         : "fdb: remove " + what + " (on " + j["port"].get<std::string>() + ")");
        } else if (t == "nat") {
            auto tup = [](const Json& x) {
                return x["src"].get<std::string>() + ":" + std::to_string(x["sport"].get<int>()) + " -> " +
                       x["dst"].get<std::string>() + ":" + std::to_string(x["dport"].get<int>());
            };
            if (op == "add")
                out.push_back("nat: new " + j["kind"].get<std::string>() + " " + j["proto"].get<std::string>() + " " +
                              tup(j["original"]) + " as " + tup(j["translated"]) + ", replies " + tup(j["reply"]) +
                              " (" + j["state"].get<std::string>() + ")");
            else if (op == "remove")
                out.push_back("nat: remove expired " + tup(j["original"]));
            else
                out.push_back("nat: " + tup(j["tuple"]) + " state " + j["state_before"].get<std::string>() + " -> " +
                              j["state"].get<std::string>() + ", packets " + std::to_string(j["packets"].get<uint64_t>()));
        } else if (t == "neigh") {
            out.push_back("neigh: " + j["address"].get<std::string>() + " in VLAN " +
                          std::to_string(j["vlan"].get<int>()) + " " +
                          (j["mac"].is_null() ? std::string("incomplete (asked for)") : "at " + j["mac"].get<std::string>()));
        } else {
            const Json& r = j["reply"];
            out.push_back("acl: " + std::string(op == "add" ? "let replies through: " : "closing: ") +
                          j["proto"].get<std::string>() + " " + r["src"].get<std::string>() + ":" +
                          std::to_string(r["sport"].get<int>()) + " -> " + r["dst"].get<std::string>() + ":" +
                          std::to_string(r["dport"].get<int>()));
        }
    }
    return out;
}

Json Explainer::json() const {
    const auto out = egress();
    const auto [why, why_text] = reason();
    const bool sent = f_.verdict == XDP_REDIRECT || f_.verdict == XDP_TX || f_.verdict == XDP_PASS;
    Json j = {{"instance", f_.instance},
              {"port", in_name()},
              {"vlan", vid_ ? Json(*vid_) : Json(nullptr)},
              {"verdict", verdict_name(f_.verdict)},
              {"meaning", meaning(out)},
              {"reason", why},
              {"reason_text", why_text},
              {"frame_in", to_hex(f_.frame_in)},
              {"frame_out", to_hex(f_.frame_out)},
              {"to_host", f_.verdict == XDP_PASS && in_ctr(XDPNET_CTR_TO_HOST) != 0}};
    j["egress"] = Json::array();
    for (const auto& e : out)
        j["egress"].push_back(egress_json(name(e.slot), e.tagged, e.vlan, e.frame, f_.frame_in));
    j["flooded"] = nullptr;
    if (auto vid = flood_vlan())
        j["flooded"] = {{"vlan", *vid}, {"members", j["egress"]}};
    j["host_flood"] = Json::array();
    for (const auto& e : host_flood())
        j["host_flood"].push_back(egress_json(name(e.slot), e.tagged, e.vlan, {}, {}));
    j["slow_path"] = nullptr;
    if (f_.meta && f_.meta->magic == XDPNET_META_MAGIC)
        for (const auto& [slot, p] : f_.ports)
            if (p.port.ifindex == f_.meta->ifindex)
                j["slow_path"] = {{"uplink", p.name}};
    j["rewritten"] = sent ? rewrites_json(f_.frame_in, f_.frame_out) : Json::array();
    j["checksum_errors"] = Json::array();
    if (sent && decode_frame(f_.frame_in).bad_checksums.empty())
        for (const auto& name : decode_frame(f_.frame_out).bad_checksums)
            j["checksum_errors"].push_back(name);
    j["drops"] = Json::array();
    j["counters"] = Json::object();
    for (const auto& [slot, s] : f_.stats) {
        Json c = Json::object(), d = Json::object();
        for (int i = 0; i < XDPNET_CTR_MAX; i++)
            if (s.ctr[i])
                c[cli::kCounterNames[i]] = s.ctr[i];
        for (int i = 1; i < XDPNET_DROP_MAX; i++)
            if (s.drops[i]) {
                d[cli::kDropNames[i]] = s.drops[i];
                j["drops"].push_back({{"port", name(slot)}, {"reason", cli::kDropNames[i]}, {"help", cli::kDropHelp[i]}});
            }
        j["counters"][name(slot)] = {{"counters", c}, {"drops", d}};
    }
    j["acl"] = nullptr;
    if (f_.acl)
        j["acl"] = {{"rule", f_.acl->rule == XDPNET_ACL_MAX_RULES ? Json(nullptr) : Json(f_.acl->rule + 1)},
                    {"default", f_.acl->rule == XDPNET_ACL_MAX_RULES},
                    {"action", f_.acl->action == XDPNET_ACL_DENY ? "deny" : "allow"},
                    {"text", f_.acl->text}};
    j["state_changes"] = state_changes();
    j["state_text"] = state_text();
    j["steps"] = steps_;
    return j;
}

} // namespace

std::string verdict_name(uint32_t verdict) {
    switch (verdict) {
    case XDP_ABORTED: return "XDP_ABORTED";
    case XDP_DROP: return "XDP_DROP";
    case XDP_PASS: return "XDP_PASS";
    case XDP_TX: return "XDP_TX";
    case XDP_REDIRECT: return "XDP_REDIRECT";
    default: return "verdict " + std::to_string(verdict);
    }
}

std::optional<uint16_t> classify_vlan(const struct xdpnet_port& port, std::span<const uint8_t> frame) {
    if (frame.size() < 14 || (port.mode != XDPNET_MODE_ACCESS && port.mode != XDPNET_MODE_TRUNK))
        return std::nullopt;
    const uint16_t type = be16_at(frame, 12);
    const bool q = type == 0x8100;
    if (type == 0x88a8 || (q && frame.size() < 18))
        return std::nullopt; // 802.1ad, or a tag cut short
    const bool stacked = q && (be16_at(frame, 16) == 0x8100 || be16_at(frame, 16) == 0x88a8);
    if (port.mode == XDPNET_MODE_ACCESS)
        return q ? std::nullopt : std::optional<uint16_t>(port.pvid);
    if (stacked)
        return std::nullopt;
    uint16_t vid = q ? (be16_at(frame, 14) & 0x0fff) : 0;
    if (vid == 0)
        vid = port.pvid;
    if (vid == 0 || !has_vlan(port, vid))
        return std::nullopt;
    return vid;
}

TraceReport explain(const TraceFacts& facts) { return Explainer(facts).run(); }

std::string TraceReport::text() const {
    std::ostringstream o;
    o << "trace of a " << json["frame_in"].get<std::string>().size() / 2 << "-byte frame into "
      << json["port"].get<std::string>() << " (instance " << json["instance"].get<std::string>() << ")\n";
    for (size_t i = 0; i < steps.size(); i++)
        o << (i + 1 < 10 ? "  " : " ") << i + 1 << ". " << steps[i] << "\n";
    o << "verdict: " << json["verdict"].get<std::string>() << ", " << json["meaning"].get<std::string>();
    if (json["reason"] != "none")
        o << " (" << json["reason"].get<std::string>() << ")";
    o << "\n";
    const bool flood = !json["flooded"].is_null();
    if (!json["egress"].empty()) {
        o << "egress:\n";
        for (const auto& e : json["egress"]) {
            o << "  " << e["port"].get<std::string>();
            if (!e["vlan"].is_null())
                o << (e["tagged"].get<bool>() ? " tagged " + std::to_string(e["vlan"].get<int>()) : " untagged");
            if (flood && e.contains("rewritten")) { // copies differ by their tags only
                std::string what;
                for (const auto& c : e["rewritten"])
                    what += (what.empty() ? "" : ", ") + c["field"].get<std::string>() + " " +
                            c.value("change", "rewritten");
                o << (what.empty() ? ": as it came in" : ": " + what);
            }
            o << "\n";
        }
    }
    const std::string verdict = json["verdict"];
    if (verdict != "XDP_DROP" && verdict != "XDP_ABORTED" && !flood) {
        if (json["rewritten"].empty()) {
            o << "rewritten: nothing" << (json["slow_path"].is_null() ? "" : " in XDP (tc translates it)") << "\n";
        } else {
            o << "rewritten:\n";
            for (const auto& c : json["rewritten"]) {
                o << "  " << c["field"].get<std::string>() << ": " << c["before"].get<std::string>() << " -> "
                  << c["after"].get<std::string>();
                if (c.contains("change"))
                    o << " (" << c["change"].get<std::string>() << ")";
                o << "\n";
            }
        }
    }
    for (const auto& bad : json["checksum_errors"])
        o << "warning: " << bad.get<std::string>() << " of the output frame does not verify\n";
    if (!json["state_text"].empty()) {
        o << "state it would change (this trace changed nothing):\n";
        for (const auto& s : json["state_text"])
            o << "  " << s.get<std::string>() << "\n";
    }
    o << "counters:";
    for (const auto& [port, c] : json["counters"].items()) {
        o << " " << port << " {";
        std::string sep;
        for (const auto& [n, v] : c["counters"].items()) {
            o << sep << n << " " << v.get<uint64_t>();
            sep = ", ";
        }
        for (const auto& [n, v] : c["drops"].items()) {
            o << sep << "drop " << n << " " << v.get<uint64_t>();
            sep = ", ";
        }
        o << "}";
    }
    o << "\n";
    return o.str();
}

} // namespace xdpnet::telemetry
