// Flow records as xdpnet exports them (IPFIX, JSON lines, the flows view):
// one flow's identity, where it went, what NAT made of it, and its counters
// over the record's interval. Pure data: filled from the datapath's per-flow
// counters by the daemon, encoded by the exporters.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace xdpnet::telemetry {

/// A flow's identity: the 5-tuple plus the VLAN it was seen on.
struct FlowKey {
    uint8_t family = 4;               ///< 4 or 6
    std::array<uint8_t, 16> src{};    ///< network order; IPv4 in the first 4 bytes
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;               ///< host order (ICMP: 0)
    uint16_t dport = 0;               ///< host order (ICMP: type << 8 | code)
    uint8_t proto = 0;                ///< IP protocol number
    uint16_t vlan = 0;                ///< 0: untagged / none
};

/// The translation NAT applied to the flow's packets (IPv4 only).
struct NatXlate {
    bool present = false;
    uint32_t src = 0;   ///< post-NAT source address, host order
    uint32_t dst = 0;   ///< post-NAT destination address, host order
    uint16_t sport = 0; ///< host order
    uint16_t dport = 0;
};

/// Why a record was emitted: the IANA flowEndReason values (IPFIX IE 136).
enum class EndReason : uint8_t {
    IdleTimeout = 1,
    ActiveTimeout = 2,
    EndOfFlow = 3,        ///< TCP FIN or RST seen
    ForcedEnd = 4,        ///< the exporter stopped
    LackOfResources = 5,  ///< the flow table was full
};

/// One flow record.
struct FlowRecord {
    FlowKey key;
    uint32_t in_ifindex = 0;
    uint32_t out_ifindex = 0;   ///< 0: not forwarded (dropped, to the host, flooded)
    std::string in_port;        ///< the policy's port names ("" when unknown)
    std::string out_port;
    NatXlate nat;
    uint64_t packets = 0;       ///< over this record's interval
    uint64_t bytes = 0;
    uint64_t first_ns = 0;      ///< first / last packet, Unix time in ns (UTC)
    uint64_t last_ns = 0;
    uint8_t tcp_flags = 0;      ///< OR of the flags seen (FIN 0x01 ... CWR 0x80)
    uint16_t drop_reason = 0;   ///< the last drop reason (enum xdpnet_drop_reason), 0: none
    EndReason end = EndReason::IdleTimeout;
};

/// "idle", "active", "end", "forced", "resources".
std::string_view end_reason_name(EndReason r);

/// The key's source or destination address as text (dotted quad or RFC 5952 IPv6).
std::string format_addr(const FlowKey& k, bool source);

} // namespace xdpnet::telemetry
