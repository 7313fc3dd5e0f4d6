// Socket addresses: "127.0.0.1:9477", "[::1]:9477". Numeric only: a daemon
// should not depend on DNS to start, and a name could resolve differently
// at every restart.
#include <arpa/inet.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

SocketAddress parse_socket_address(const std::string& text, bool allow_port_zero) {
    const auto fail = [&](const std::string& why) { return std::invalid_argument("'" + text + "': " + why); };
    if (text.empty())
        throw std::invalid_argument("the address is empty; expected address:port, like 127.0.0.1:9477 or "
                                    "[::1]:9477");
    std::string host, port;
    bool bracketed = false;
    if (text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw fail("expected [IPv6]:port");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        bracketed = true;
    } else {
        const size_t colon = text.find(':');
        if (colon == std::string::npos)
            throw fail("expected address:port (the port is missing)");
        if (text.find(':', colon + 1) != std::string::npos)
            throw fail("write an IPv6 address in brackets, with the port after them, like [::1]:9477");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }

    const std::string range = allow_port_zero ? "0-65535" : "1-65535";
    const auto p = detail::parse_decimal(port);
    if (!p || *p > 65535)
        throw fail("the port must be a number " + range);
    if (*p == 0 && !allow_port_zero)
        throw fail("port 0 cannot be a destination; the port must be a number " + range);

    SocketAddress a;
    a.port = static_cast<uint16_t>(*p);
    if (host.empty())
        throw fail("the address is missing; write 0.0.0.0:PORT or [::]:PORT for every address");
    if (bracketed) {
        if (::inet_pton(AF_INET, host.c_str(), a.addr.data()) == 1)
            throw fail("brackets are for IPv6 addresses; write " + host + ":" + port);
        if (host.find('%') != std::string::npos)
            throw fail("'" + host + "': IPv6 zone indexes (%IFNAME) are not supported");
        if (::inet_pton(AF_INET6, host.c_str(), a.addr.data()) != 1)
            throw fail("'" + host + "' is not an IPv6 address");
        a.family = 6;
    } else {
        if (::inet_pton(AF_INET, host.c_str(), a.addr.data()) != 1)
            throw fail("'" + host + "' is not an IPv4 or IPv6 address; write a numeric address (host names are "
                                    "not resolved)");
        a.family = 4;
    }
    return a;
}

} // namespace xdpnet::policy
