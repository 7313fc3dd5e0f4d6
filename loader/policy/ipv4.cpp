#include <stdexcept>
#include <string>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

std::pair<uint32_t, uint8_t> parse_ipv4_cidr(const std::string& text) {
    const auto slash = text.find('/');
    if (slash == std::string::npos)
        throw std::invalid_argument("'" + text + "' has no prefix length; write it like 10.0.30.1/24");
    uint32_t addr = 0;
    size_t pos = 0;
    for (int octet = 0; octet < 4; octet++) {
        size_t end = text.find(octet < 3 ? '.' : '/', pos);
        if (end == std::string::npos || end > slash)
            throw std::invalid_argument("'" + text + "' is not an IPv4 address with a prefix length");
        const auto v = detail::parse_decimal(text.substr(pos, end - pos));
        if (!v || *v > 255)
            throw std::invalid_argument("'" + text + "' is not an IPv4 address with a prefix length");
        addr = (addr << 8) | static_cast<uint32_t>(*v);
        pos = end + 1;
    }
    const auto len = detail::parse_decimal(text.substr(slash + 1));
    if (!len || *len > 32)
        throw std::invalid_argument("'" + text + "': the prefix length must be 0..32");
    return {addr, static_cast<uint8_t>(*len)};
}

std::string format_ipv4(uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
           std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

MacAddr router_mac(const std::string& instance, uint16_t vid) {
    uint32_t h = 2166136261u; // FNV-1a
    for (unsigned char c : instance)
        h = (h ^ c) * 16777619u;
    return MacAddr{0x02, 0x78, 0x64, static_cast<uint8_t>(h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)),
                   static_cast<uint8_t>(vid >> 8), static_cast<uint8_t>(vid & 0xff)};
}

} // namespace xdpnet::policy
