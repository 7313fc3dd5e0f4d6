#include "telemetry/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "policy/policy.h"

namespace xdpnet::telemetry {

std::optional<HttpRequest> parse_request_line(std::string_view line) {
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0)
        return std::nullopt;
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
        return std::nullopt;
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (version.substr(0, 5) != "HTTP/" || target.front() != '/')
        return std::nullopt;
    for (char c : line.substr(0, sp1))
        if (c < 'A' || c > 'Z')
            return std::nullopt;
    if (size_t q = target.find('?'); q != std::string_view::npos)
        target = target.substr(0, q);
    return HttpRequest{std::string(line.substr(0, sp1)), std::string(target)};
}

sockaddr_storage parse_listen_address(const std::string& text, socklen_t* len) {
    // One syntax for --prometheus and the policy's telemetry addresses.
    const policy::SocketAddress a = policy::parse_socket_address(text, /*allow_port_zero=*/true);
    sockaddr_storage ss{};
    if (a.family == 4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a.port);
        std::memcpy(&v4->sin_addr, a.addr.data(), sizeof(v4->sin_addr));
        *len = sizeof(*v4);
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(a.port);
        std::memcpy(&v6->sin6_addr, a.addr.data(), sizeof(v6->sin6_addr));
        *len = sizeof(*v6);
    }
    return ss;
}

std::string_view http_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

HttpServer::HttpServer(const std::string& listen) {
    socklen_t len = 0;
    sockaddr_storage ss = parse_listen_address(listen, &len);
    fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_)
        throw std::runtime_error("socket: " + std::string(strerror(errno)));
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::runtime_error("cannot listen on " + listen + ": " + strerror(errno));
    if (::listen(fd_.get(), 16) != 0)
        throw std::runtime_error("cannot listen on " + listen + ": " + strerror(errno));
}

std::string HttpServer::address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
    }
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
}

namespace {

// Reads the request head (up to the blank line) with a deadline, so a silent
// client cannot hold the daemon; at most 8 KiB.
std::optional<std::string> read_head(int fd) {
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
        if (head.size() > 8192)
            return std::nullopt;
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0)
            return head.empty() ? std::nullopt : std::optional(head);
        head.append(buf, static_cast<size_t>(n));
    }
    return head;
}

void write_all(int fd, const std::string& data) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0)
            return; // the client went away: nothing to do
        off += static_cast<size_t>(n);
    }
}

} // namespace

bool HttpServer::serve_one(int timeout_ms, const Handler& handler) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
        return false;
    Fd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn)
        return false;
    HttpResponse resp;
    bool head_only = false;
    auto head = read_head(conn.get());
    std::optional<HttpRequest> req;
    if (head)
        req = parse_request_line(std::string_view(*head).substr(0, head->find_first_of("\r\n")));
    if (!req) {
        resp = {400, "text/plain; charset=utf-8", "bad request\n"};
    } else if (req->method != "GET" && req->method != "HEAD") {
        resp = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    } else {
        head_only = req->method == "HEAD";
        try {
            resp = handler(*req);
        } catch (const std::exception& e) {
            resp = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
        }
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + std::string(http_reason(resp.status)) +
                      "\r\nContent-Type: " + resp.content_type +
                      "\r\nContent-Length: " + std::to_string(resp.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (!head_only)
        out += resp.body;
    write_all(conn.get(), out);
    return true;
}

} // namespace xdpnet::telemetry
