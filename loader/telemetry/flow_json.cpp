#include "telemetry/flow_json.h"

#include <chrono>
#include <cstdio>

namespace xdpnet::telemetry {
namespace {

// A host-order IPv4 address (NatXlate) as a dotted quad.
std::string format_ipv4_host(uint32_t a) {
    return std::to_string(a >> 24) + '.' + std::to_string((a >> 16) & 0xff) + '.' +
           std::to_string((a >> 8) & 0xff) + '.' + std::to_string(a & 0xff);
}

nlohmann::json nat_to_json(const NatXlate& n) {
    return {
        {"src", format_ipv4_host(n.src)},
        {"dst", format_ipv4_host(n.dst)},
        {"sport", n.sport},
        {"dport", n.dport},
    };
}

} // namespace

std::string format_rfc3339_ms(uint64_t unix_ns) {
    using namespace std::chrono;
    // Truncate to ms first, then split: the ms never "round up" into the next second.
    const uint64_t ms = unix_ns / 1000000;
    const uint64_t secs = ms / 1000;
    const uint64_t sod = secs % 86400;   // second of the (UTC, leap-second-free) day
    const year_month_day ymd{sys_days{days{static_cast<days::rep>(secs / 86400)}}};
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<unsigned>(sod / 3600),
                  static_cast<unsigned>(sod / 60 % 60), static_cast<unsigned>(sod % 60),
                  static_cast<unsigned>(ms % 1000));
    return buf;
}

std::string flow_tcp_flags_text(uint8_t flags) {
    // Bit i of the flags byte is letter i: FIN SYN RST PSH ACK URG ECE CWR.
    static constexpr char kLetters[] = "FSRPAUEC";
    std::string out;
    for (int i = 0; i < 8; ++i)
        if (flags & (1u << i))
            out += kLetters[i];
    return out;
}

std::string flow_proto_name(uint8_t proto) {
    switch (proto) {
    case 1:
        return "icmp";
    case 6:
        return "tcp";
    case 17:
        return "udp";
    case 58:
        return "icmpv6";
    }
    return std::to_string(proto);
}

nlohmann::json flow_to_json(const FlowRecord& r) {
    const FlowKey& k = r.key;
    nlohmann::json j = {
        {"start", format_rfc3339_ms(r.first_ns)},
        {"end", format_rfc3339_ms(r.last_ns)},
        {"start_ns", r.first_ns},
        {"end_ns", r.last_ns},
        {"family", k.family},
        {"src", format_addr(k, true)},
        {"dst", format_addr(k, false)},
        {"sport", k.sport},
        {"dport", k.dport},
        {"proto", k.proto},
        {"proto_name", flow_proto_name(k.proto)},
        {"vlan", k.vlan},
        {"in_port", r.in_port},
        {"out_port", r.out_port},
        {"in_ifindex", r.in_ifindex},
        {"out_ifindex", r.out_ifindex},
        {"packets", r.packets},
        {"bytes", r.bytes},
        {"tcp_flags", r.tcp_flags},
        {"tcp_flags_text", flow_tcp_flags_text(r.tcp_flags)},
        {"drop_reason", r.drop_reason},
        {"end_reason", std::string(end_reason_name(r.end))},
    };
    if (r.nat.present)
        j["nat"] = nat_to_json(r.nat);
    return j;
}

std::string flow_to_jsonl(const FlowRecord& r) {
    // Compact dump escapes control characters, so the line has no inner
    // newline. Port names are policy text; should one hold invalid UTF-8, it
    // is replaced (U+FFFD) rather than losing the record to an exception.
    return flow_to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
}

} // namespace xdpnet::telemetry
