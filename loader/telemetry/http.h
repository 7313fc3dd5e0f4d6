// A minimal HTTP/1.x server for the daemon's scrape endpoints (/metrics):
// one request per connection, answered inline, then the connection closes.
// Enough for Prometheus and curl; no keep-alive, no bodies in requests.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "datapath/fd.h"

namespace xdpnet::telemetry {

/// What a handler answers.
struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

/// A request line's method and path (query string removed).
struct HttpRequest {
    std::string method;
    std::string path;
};

/// Parses "GET /metrics?x HTTP/1.1"; nullopt when it is not a request line.
std::optional<HttpRequest> parse_request_line(std::string_view line);

/// "a.b.c.d:port" or "[v6]:port" (numeric, port 0..65535: the policy's
/// parse_socket_address) into a socket address; throws std::invalid_argument
/// with the reason.
sockaddr_storage parse_listen_address(const std::string& text, socklen_t* len);

/// The reason phrase of the status codes the daemon uses.
std::string_view http_reason(int status);

/// Listens on one address and serves requests one at a time.
class HttpServer {
  public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;

    /// Binds and listens; throws std::runtime_error naming the address and errno.
    explicit HttpServer(const std::string& listen);

    /// The bound address as "host:port" (the real port when 0 was asked for).
    std::string address() const;

    /// Waits up to timeout_ms for a connection and serves it. Returns false on
    /// timeout or EINTR (the caller checks its stop flag and calls again).
    bool serve_one(int timeout_ms, const Handler& handler);

  private:
    Fd fd_;
};

} // namespace xdpnet::telemetry
