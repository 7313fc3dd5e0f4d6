// IPv4/IPv6 prefixes: "10.0.10.0/24", "fd00:10::/64", "10.0.10.11".
#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

IpPrefix parse_ip_prefix(const std::string& text) {
    if (text.empty())
        throw std::invalid_argument("the address is empty; write an address or a prefix like 10.0.10.0/24");
    const size_t slash = text.find('/');
    const std::string addr_text = text.substr(0, slash);
    IpPrefix p;
    if (addr_text.find(':') != std::string::npos) {
        p.family = 6;
        if (::inet_pton(AF_INET6, addr_text.c_str(), p.addr.data()) != 1)
            throw std::invalid_argument("'" + addr_text + "' is not an IPv6 address");
    } else {
        p.family = 4;
        if (::inet_pton(AF_INET, addr_text.c_str(), p.addr.data()) != 1)
            throw std::invalid_argument("'" + addr_text + "' is not an IPv4 or IPv6 address; write an "
                                        "address or a prefix like 10.0.10.0/24 or fd00::/64");
    }
    const unsigned max_len = p.family == 4 ? 32 : 128;
    p.len = static_cast<uint8_t>(max_len);
    if (slash != std::string::npos) {
        const auto len = detail::parse_decimal(std::string_view(text).substr(slash + 1));
        if (!len || *len > max_len)
            throw std::invalid_argument("'" + text + "': the prefix length must be 0.." +
                                        std::to_string(max_len) + " for an IPv" + std::to_string(p.family) +
                                        " address");
        p.len = static_cast<uint8_t>(*len);
    }
    IpPrefix net = p;
    for (unsigned bit = p.len; bit < max_len; bit++)
        net.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    if (net.addr != p.addr)
        throw std::invalid_argument("'" + text + "' has host bits set: the prefix is " + net.str() +
                                    " (or write the address alone for a single host)");
    return p;
}

bool IpPrefix::contains(const IpPrefix& other) const {
    if (family != other.family || len > other.len)
        return false;
    const unsigned full = len / 8;
    if (std::memcmp(addr.data(), other.addr.data(), full) != 0)
        return false;
    if (len % 8 == 0)
        return true;
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> (len % 8));
    return (addr[full] & mask) == (other.addr[full] & mask);
}

std::string IpPrefix::str() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (family == 4)
        ::inet_ntop(AF_INET, addr.data(), buf, sizeof(buf));
    else if (family == 6)
        ::inet_ntop(AF_INET6, addr.data(), buf, sizeof(buf));
    else
        return "?";
    const unsigned host_len = family == 4 ? 32 : 128;
    if (len == host_len)
        return buf; // a single host: the address alone
    return std::string(buf) + "/" + std::to_string(len);
}

} // namespace xdpnet::policy
