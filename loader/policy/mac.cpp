// MAC address text <-> bytes.
#include <cstdio>

#include "policy/policy.h"

namespace xdpnet::policy {

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::optional<MacAddr> parse_mac(const std::string& text) {
    // Exactly "xx:xx:xx:xx:xx:xx" (or with '-'), one separator style throughout.
    if (text.size() != 17)
        return std::nullopt;
    const char sep = text[2];
    if (sep != ':' && sep != '-')
        return std::nullopt;
    MacAddr mac{};
    for (size_t i = 0; i < 6; i++) {
        const size_t pos = i * 3;
        const int hi = hex_digit(text[pos]);
        const int lo = hex_digit(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        if (i < 5 && text[pos + 2] != sep)
            return std::nullopt;
        mac[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return mac;
}

std::string format_mac(const uint8_t* mac) {
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                  mac[4], mac[5]);
    return buf;
}

std::string format_mac(const MacAddr& mac) { return format_mac(mac.data()); }

} // namespace xdpnet::policy
