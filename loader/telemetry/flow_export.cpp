#include "telemetry/flow_export.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string_view>
#include <unordered_map>

namespace xdpnet::telemetry {
namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpRst = 0x04;

std::string_view key_bytes(const struct xdpnet_flow_key& k) {
    return {reinterpret_cast<const char*>(&k), sizeof(k)};
}

// A copy of a slot the datapath may be writing: its serial read before and
// after must agree (a flow taking the slot over changes it), else nullopt.
bool read_slot(const struct xdpnet_flow* s, struct xdpnet_flow* out) {
    const auto* serial = reinterpret_cast<const volatile uint32_t*>(&s->serial);
    const uint32_t before = *serial;
    std::atomic_thread_fence(std::memory_order_acquire);
    std::memcpy(out, s, sizeof(*out));
    std::atomic_thread_fence(std::memory_order_acquire);
    return *serial == before && out->serial == before;
}

// Folds one slot into a merged flow (the slot seen last gives the egress).
void fold(DpFlow& d, const struct xdpnet_flow& f, uint64_t first_ns, uint64_t last_ns) {
    if (d.slots == 0) {
        d.key = f.key;
        d.first_ns = first_ns;
    }
    d.first_ns = std::min(d.first_ns, first_ns);
    if (d.slots == 0 || last_ns >= d.last_ns) {
        d.last_ns = last_ns;
        d.out_slot = f.out_slot;
        if (f.drop_reason)
            d.drop_reason = f.drop_reason;
    }
    if (!d.drop_reason)
        d.drop_reason = f.drop_reason;
    d.tcp_flags |= f.tcp_flags;
    d.flags |= f.flags;
    if ((f.flags & XDPNET_FLOW_NAT) && !d.nat_saddr && !d.nat_daddr) {
        d.nat_saddr = f.nat_saddr;
        d.nat_daddr = f.nat_daddr;
        d.nat_sport = f.nat_sport;
        d.nat_dport = f.nat_dport;
    }
    d.slots++;
}

} // namespace

uint64_t flow_last_ns(uint32_t last, uint64_t now_ns) {
    const uint64_t now_units = now_ns >> XDPNET_FLOW_TIME_SHIFT;
    const uint32_t behind = static_cast<uint32_t>(now_units) - last;
    // Stamped after `now` was read (the datapath counts on during a scan):
    // that is now, not 2^32 units ago.
    if (behind > 0xFFFFFFFFu - (1u << 16))
        return now_ns;
    if (behind > now_units)
        return 0;
    return (now_units - behind) << XDPNET_FLOW_TIME_SHIFT;
}

struct xdpnet_flow conn_flow(const struct xdpnet_ct_key& k, const struct xdpnet_ct& v,
                             const struct xdpnet_ct* peer, uint8_t uplink_slot) {
    struct xdpnet_flow f {};
    auto mapped = [](uint8_t* a, __be32 addr) {
        a[10] = a[11] = 0xff;
        std::memcpy(a + 12, &addr, 4);
    };
    mapped(f.key.saddr, k.saddr);
    mapped(f.key.daddr, k.daddr);
    f.key.proto = k.proto;
    if (k.proto == IPPROTO_ICMP) {
        // echo request (the originator's half) or reply: type, code as dport
        const uint8_t tc[2] = {uint8_t((v.flags & XDPNET_CT_ORIGINAL) ? 8 : 0), 0};
        std::memcpy(&f.key.dport, tc, 2);
    } else {
        f.key.sport = k.sport;
        f.key.dport = k.dport;
    }
    const bool vm_side = k.side == XDPNET_SIDE_VM;
    f.key.in_slot = vm_side ? v.port : uplink_slot;
    f.key.vid = vm_side ? v.vid : 0;
    f.packets = v.packets;
    f.bytes = v.bytes;
    f.last = uint32_t(v.last_seen_ns >> XDPNET_FLOW_TIME_SHIFT);
    f.tcp_flags = v.tcp_flags;
    if (v.packets) {
        f.flags = XDPNET_FLOW_FORWARDED | XDPNET_FLOW_NAT;
        // out of the uplink, or delivered to the VM of the other half
        f.out_slot = (v.flags & XDPNET_CT_PEER_UPLINK) && vm_side ? uplink_slot
                     : peer                                    ? peer->port
                                                               : uint8_t(XDPNET_SLOT_NONE);
    }
    f.first_ns = uint64_t(v.created_s) * kNsPerSec;
    f.serial = v.created_s + 1;
    f.nat_saddr = v.to_saddr;
    f.nat_daddr = v.to_daddr;
    f.nat_sport = v.to_sport;
    f.nat_dport = v.to_dport;
    return f;
}

FlowFill flow_fill(const struct xdpnet_flow* slots, size_t n) {
    FlowFill f{0, n};
    for (size_t i = 0; i < n; i++)
        if (slots[i].packets)
            f.used++;
    return f;
}

std::vector<DpFlow> merge_flows(const struct xdpnet_flow* slots, size_t n, uint64_t now_ns,
                                const std::vector<struct xdpnet_flow>& extra) {
    std::unordered_map<std::string_view, size_t> at;
    std::vector<struct xdpnet_flow> copies;
    std::vector<DpFlow> out;
    copies.reserve(1024);
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].packets)
            continue;
        copies.emplace_back();
        if (!read_slot(&slots[i], &copies.back()) || !copies.back().packets)
            copies.pop_back();
    }
    for (const auto& f : extra)
        if (f.packets)
            copies.push_back(f);
    for (const auto& f : copies) {
        auto [it, fresh] = at.try_emplace(key_bytes(f.key), out.size());
        if (fresh)
            out.emplace_back();
        DpFlow& d = out[it->second];
        fold(d, f, f.first_ns, flow_last_ns(f.last, now_ns));
        d.packets += f.packets;
        d.bytes += f.bytes;
        d.drops += f.drops;
    }
    std::sort(out.begin(), out.end(), [](const DpFlow& a, const DpFlow& b) { return a.bytes > b.bytes; });
    return out;
}

FlowExport::FlowExport(const struct xdpnet_flow* slots, struct xdpnet_flow_exp* exp, size_t n,
                       uint64_t now_ns, const FlowTimeouts& t)
    : slots_(slots), exp_(exp), n_(n), now_(now_ns), t_(t) {}

void FlowExport::scan() {
    seen_.clear();
    for (size_t i = 0; i < n_; i++) {
        if (!slots_[i].packets)
            continue;
        Seen s{};
        if (!read_slot(&slots_[i], &s.f) || !s.f.packets)
            continue;
        s.index = static_cast<uint32_t>(i);
        const struct xdpnet_flow_exp& e = exp_[i];
        if (e.serial == s.f.serial) {
            s.base_packets = e.packets;
            s.base_bytes = e.bytes;
            s.base_drops = e.drops;
            s.base_ns = e.exported_ns;
        } else {
            // The mark is another flow's: one pushed out whose record the
            // ring buffer holds (evicted() clears it), or that was lost.
            s.pending = e.serial != 0;
        }
        if (s.f.packets > s.base_packets)
            seen_.push_back(s);
    }
}

bool FlowExport::evicted(const struct xdpnet_flow_event& ev, DpFlow* out) {
    if (ev.index >= n_)
        return false;
    struct xdpnet_flow_exp& e = exp_[ev.index];
    uint64_t base_packets = 0, base_bytes = 0, base_ns = 0;
    uint32_t base_drops = 0;
    if (e.serial == ev.flow.serial) {
        base_packets = e.packets;
        base_bytes = e.bytes;
        base_drops = e.drops;
        base_ns = e.exported_ns;
        e = xdpnet_flow_exp{};
    }
    // scan() may have read this very flow before it left: its record is
    // this one, not the scan's.
    seen_.erase(std::remove_if(seen_.begin(), seen_.end(),
                               [&](const Seen& s) {
                                   return s.index == ev.index && s.f.serial == ev.flow.serial;
                               }),
                seen_.end());
    if (ev.flow.packets <= base_packets)
        return false;
    DpFlow d;
    const uint64_t last = flow_last_ns(ev.flow.last, now_);
    fold(d, ev.flow, std::max<uint64_t>(ev.flow.first_ns, base_ns), last);
    d.packets = ev.flow.packets - base_packets;
    d.bytes = ev.flow.bytes - base_bytes;
    d.drops = ev.flow.drops - base_drops;
    d.end = now_ - last >= t_.idle_ns ? EndReason::IdleTimeout : EndReason::LackOfResources;
    *out = d;
    return true;
}

std::vector<DpFlow> FlowExport::finish(bool force) {
    // Marks of flows pushed out whose record never came (the ring was
    // full: the datapath counted them as flow_lost) are dropped now.
    for (const Seen& s : seen_)
        if (s.pending && exp_[s.index].serial != 0 && exp_[s.index].serial != s.f.serial)
            exp_[s.index] = xdpnet_flow_exp{};

    struct Group {
        DpFlow d;
        uint64_t since_ns = UINT64_MAX; // the flow's last record, or its start
        std::vector<const Seen*> parts;
    };
    std::unordered_map<std::string_view, size_t> at;
    std::vector<Group> groups;
    at.reserve(seen_.size());
    groups.reserve(seen_.size());
    for (const Seen& s : seen_) {
        auto [it, fresh] = at.try_emplace(key_bytes(s.f.key), groups.size());
        if (fresh)
            groups.emplace_back();
        Group& g = groups[it->second];
        const uint64_t start = std::max<uint64_t>(s.f.first_ns, s.base_ns);
        fold(g.d, s.f, start, flow_last_ns(s.f.last, now_));
        g.d.packets += s.f.packets - s.base_packets;
        g.d.bytes += s.f.bytes - s.base_bytes;
        g.d.drops += s.f.drops - s.base_drops;
        // The earliest over its slots: a slot on another CPU that the flow
        // reached later must not put its active timeout off.
        g.since_ns = std::min<uint64_t>(g.since_ns, s.base_ns ? s.base_ns : s.f.first_ns);
        g.parts.push_back(&s);
    }

    std::vector<DpFlow> due;
    for (Group& g : groups) {
        const uint64_t quiet = now_ > g.d.last_ns ? now_ - g.d.last_ns : 0;
        if ((g.d.tcp_flags & (kTcpFin | kTcpRst)) && quiet >= t_.end_grace_ns)
            g.d.end = EndReason::EndOfFlow;
        else if (quiet >= t_.idle_ns)
            g.d.end = EndReason::IdleTimeout;
        else if (now_ - std::min(now_, g.since_ns) + t_.active_slack_ns >= t_.active_ns)
            g.d.end = EndReason::ActiveTimeout;
        else if (force)
            g.d.end = EndReason::ForcedEnd;
        else
            continue;
        for (const Seen* s : g.parts)
            exp_[s->index] = xdpnet_flow_exp{s->f.serial, s->f.drops, s->f.packets, s->f.bytes, now_};
        due.push_back(g.d);
    }
    return due;
}

FlowRecord to_record(const DpFlow& d, const std::vector<PortInfo>& by_slot, int64_t unix_minus_dp_ns) {
    FlowRecord r;
    const bool v6 = d.flags & XDPNET_FLOW_IPV6;
    r.key.family = v6 ? 6 : 4;
    if (v6) {
        std::memcpy(r.key.src.data(), d.key.saddr, 16);
        std::memcpy(r.key.dst.data(), d.key.daddr, 16);
    } else {
        std::memcpy(r.key.src.data(), d.key.saddr + 12, 4);
        std::memcpy(r.key.dst.data(), d.key.daddr + 12, 4);
    }
    r.key.sport = ntohs(d.key.sport);
    r.key.dport = ntohs(d.key.dport);
    r.key.proto = d.key.proto;
    r.key.vlan = d.key.vid;
    if (d.key.in_slot < by_slot.size()) {
        r.in_port = by_slot[d.key.in_slot].name;
        r.in_ifindex = by_slot[d.key.in_slot].ifindex;
    }
    if ((d.flags & XDPNET_FLOW_FORWARDED) && d.out_slot < by_slot.size()) {
        r.out_port = by_slot[d.out_slot].name;
        r.out_ifindex = by_slot[d.out_slot].ifindex;
    }
    if ((d.flags & XDPNET_FLOW_NAT) && !v6) {
        r.nat.present = true;
        r.nat.src = ntohl(d.nat_saddr);
        r.nat.dst = ntohl(d.nat_daddr);
        r.nat.sport = ntohs(d.nat_sport);
        r.nat.dport = ntohs(d.nat_dport);
    }
    r.packets = d.packets;
    r.bytes = d.bytes;
    r.first_ns = static_cast<uint64_t>(static_cast<int64_t>(d.first_ns) + unix_minus_dp_ns);
    r.last_ns = static_cast<uint64_t>(static_cast<int64_t>(d.last_ns) + unix_minus_dp_ns);
    r.last_ns = std::max(r.last_ns, r.first_ns); // `last` is kept to ~1 ms
    r.tcp_flags = d.tcp_flags;
    r.drop_reason = d.drop_reason;
    r.end = d.end;
    return r;
}

std::vector<DpFlow> ConnFlowExport::round(const std::vector<struct xdpnet_flow>& halves, uint64_t now_ns,
                                          const FlowTimeouts& t, bool force) {
    rounds_++;
    for (const auto& f : halves) {
        if (!f.packets)
            continue;
        std::string id(key_bytes(f.key));
        id.append(reinterpret_cast<const char*>(&f.serial), sizeof(f.serial));
        Entry& e = by_id_[id];
        e.f = f;
        e.round = rounds_;
    }
    std::vector<struct xdpnet_flow> slots;
    std::vector<struct xdpnet_flow_exp> marks;
    std::vector<Entry*> entries;
    slots.reserve(by_id_.size());
    marks.reserve(by_id_.size());
    entries.reserve(by_id_.size());
    for (auto& [id, e] : by_id_) {
        slots.push_back(e.f);
        marks.push_back(e.mark);
        entries.push_back(&e);
    }
    FlowExport fe(slots.data(), marks.data(), slots.size(), now_ns, t);
    fe.scan();
    auto due = fe.finish(force);
    for (size_t i = 0; i < entries.size(); i++)
        entries[i]->mark = marks[i];
    // A half no longer in the table whose counts are all reported is done.
    for (auto it = by_id_.begin(); it != by_id_.end();) {
        const Entry& e = it->second;
        if (e.round != rounds_ && e.mark.serial == e.f.serial && e.mark.packets >= e.f.packets)
            it = by_id_.erase(it);
        else
            ++it;
    }
    return due;
}

} // namespace xdpnet::telemetry
