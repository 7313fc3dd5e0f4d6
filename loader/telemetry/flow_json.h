// Flow records as JSON (one object per record; JSON lines for files/pipes).
//
// Schema: every key is always present except "nat".
//   start, end       string  first / last packet, RFC 3339 UTC with milliseconds
//                            ("2026-11-21T12:00:00.123Z"); ns truncated, not rounded
//   start_ns, end_ns int     the same instants, Unix time in ns (exact)
//   family           int     4 or 6
//   src, dst         string  addresses: dotted quad or RFC 5952 IPv6
//   sport, dport     int     host order; ICMP: sport 0, dport type << 8 | code
//   proto            int     IP protocol number
//   proto_name       string  "tcp", "udp", "icmp", "icmpv6", else the number ("47")
//   vlan             int     0: untagged
//   in_port, out_port string policy port names, "" when unknown
//   in_ifindex, out_ifindex int  out_ifindex 0: not forwarded
//   packets, bytes   int     over the record's interval (full uint64 range)
//   tcp_flags        int     OR of the TCP flags seen (FIN 0x01 ... CWR 0x80)
//   tcp_flags_text   string  the flags as letters in the order F S R P A U E C
//                            (FIN SYN RST PSH ACK URG ECE CWR): "SA"; "" for none
//   drop_reason      int     the last drop reason, 0: none
//   end_reason       string  "idle", "active", "end", "forced", "resources"
//   nat              object  only when the record has a NAT translation:
//                            {"src","dst"} post-NAT dotted quads, {"sport","dport"} ints
// nlohmann::json keeps keys sorted, so the serialized key order is alphabetical.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "telemetry/flow.h"

namespace xdpnet::telemetry {

/// The record as a JSON object (schema above).
nlohmann::json flow_to_json(const FlowRecord& r);

/// The record as one JSON line: compact, no embedded newline, ends with '\n'.
std::string flow_to_jsonl(const FlowRecord& r);

/// Unix ns as RFC 3339 UTC with milliseconds, truncated: "1970-01-01T00:00:00.000Z".
std::string format_rfc3339_ms(uint64_t unix_ns);

/// TCP flags as letters in the order F S R P A U E C; "" when none.
std::string flow_tcp_flags_text(uint8_t flags);

/// "tcp", "udp", "icmp", "icmpv6", or the protocol number as text.
std::string flow_proto_name(uint8_t proto);

} // namespace xdpnet::telemetry
