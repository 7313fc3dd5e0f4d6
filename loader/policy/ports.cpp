// NAT port values: source port ranges ("20000-59999") and port forward
// targets ("10.0.30.11:80").
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

constexpr uint64_t kNatPortMin = 1024;
constexpr uint64_t kPortMax = 65535;

/// "a.b.c.d" in host byte order, or nullopt.
std::optional<uint32_t> parse_ipv4(std::string_view text) {
    uint32_t addr = 0;
    size_t pos = 0;
    for (int octet = 0; octet < 4; octet++) {
        const size_t end = octet < 3 ? text.find('.', pos) : text.size();
        if (end == std::string_view::npos)
            return std::nullopt;
        const auto v = detail::parse_decimal(text.substr(pos, end - pos));
        if (!v || *v > 255)
            return std::nullopt;
        addr = (addr << 8) | static_cast<uint32_t>(*v);
        pos = end + 1;
    }
    return addr;
}

} // namespace

std::pair<uint16_t, uint16_t> parse_port_range(const std::string& text) {
    const auto bad = [&] {
        return std::invalid_argument("'" + text + "' is not a port range; write it like 20000-59999");
    };
    const size_t dash = text.find('-');
    if (dash == std::string::npos)
        throw bad();
    const auto lo = detail::parse_decimal(std::string_view(text).substr(0, dash));
    const auto hi = detail::parse_decimal(std::string_view(text).substr(dash + 1));
    if (!lo || !hi)
        throw bad(); // also a second '-', a sign, spaces, a missing end
    for (uint64_t v : {*lo, *hi}) {
        if (v > kPortMax)
            throw std::invalid_argument("port " + std::to_string(v) +
                                        " is out of range; NAT source ports are 1024..65535");
        if (v < kNatPortMin)
            throw std::invalid_argument("port " + std::to_string(v) +
                                        " is below 1024; NAT source ports are 1024..65535");
    }
    if (*lo > *hi)
        throw std::invalid_argument("range " + text + " is reversed; write the lower port first");
    return {static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

std::pair<uint32_t, std::optional<uint16_t>> parse_forward_target(const std::string& text) {
    const size_t colon = text.find(':');
    const std::string_view addr_text = std::string_view(text).substr(0, colon);
    const auto addr = parse_ipv4(addr_text);
    if (!addr)
        throw std::invalid_argument("'" + text + "' is not an IPv4 address with an optional port; "
                                    "write it like 10.0.30.11:80 or 10.0.30.11");
    if (colon == std::string::npos)
        return {*addr, std::nullopt};
    const auto port = detail::parse_decimal(std::string_view(text).substr(colon + 1));
    if (!port)
        throw std::invalid_argument("'" + text + "' is not an IPv4 address with an optional port; "
                                    "write it like 10.0.30.11:80 or 10.0.30.11");
    if (*port < 1 || *port > kPortMax)
        throw std::invalid_argument("'" + text + "': the port must be 1..65535");
    return {*addr, static_cast<uint16_t>(*port)};
}

} // namespace xdpnet::policy
