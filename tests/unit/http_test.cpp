// The daemon's HTTP plumbing: request lines and listen addresses.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "telemetry/http.h"

namespace xdpnet::telemetry {
namespace {

TEST(Http, RequestLines) {
    auto r = parse_request_line("GET /metrics HTTP/1.1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->method, "GET");
    EXPECT_EQ(r->path, "/metrics");
    r = parse_request_line("HEAD /metrics?name[]=x HTTP/1.0");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->method, "HEAD");
    EXPECT_EQ(r->path, "/metrics") << "the query string is not part of the path";
    for (const char* bad : {"", "GET", "GET /metrics", "GET  HTTP/1.1", " /metrics HTTP/1.1", "get /metrics HTTP/1.1",
                            "GET metrics HTTP/1.1", "GET /metrics SPDY/3", "G3T /metrics HTTP/1.1"})
        EXPECT_FALSE(parse_request_line(bad)) << "'" << bad << "'";
}

TEST(Http, ListenAddresses) {
    socklen_t len = 0;
    sockaddr_storage ss = parse_listen_address("127.0.0.1:9477", &len);
    ASSERT_EQ(ss.ss_family, AF_INET);
    EXPECT_EQ(len, sizeof(sockaddr_in));
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    EXPECT_EQ(ntohs(v4->sin_port), 9477);
    EXPECT_EQ(ntohl(v4->sin_addr.s_addr), 0x7f000001u);

    ss = parse_listen_address("[::1]:0", &len);
    ASSERT_EQ(ss.ss_family, AF_INET6);
    EXPECT_EQ(len, sizeof(sockaddr_in6));
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port), 0);

    ss = parse_listen_address("0.0.0.0:65535", &len);
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port), 65535);
}

TEST(Http, BadListenAddressesSayWhy) {
    socklen_t len = 0;
    auto reason = [&](const std::string& a) {
        try {
            parse_listen_address(a, &len);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(reason("127.0.0.1").find("address:port"), std::string::npos);
    EXPECT_NE(reason("127.0.0.1:").find("0-65535"), std::string::npos);
    EXPECT_NE(reason("127.0.0.1:65536").find("0-65535"), std::string::npos);
    EXPECT_NE(reason("127.0.0.1:9x").find("0-65535"), std::string::npos);
    EXPECT_NE(reason("localhost:9477").find("not an IPv4 or IPv6 address"), std::string::npos);
    EXPECT_NE(reason("1.2.3:80").find("not an IPv4 or IPv6 address"), std::string::npos);
    EXPECT_NE(reason("[::1]9477").find("[IPv6]:port"), std::string::npos);
    EXPECT_NE(reason("[::1").find("[IPv6]:port"), std::string::npos);
}

TEST(Http, ServerBindsAndReportsItsPort) {
    HttpServer s("127.0.0.1:0");
    const std::string a = s.address();
    ASSERT_EQ(a.rfind("127.0.0.1:", 0), 0u) << a;
    EXPECT_NE(a, "127.0.0.1:0") << "port 0 asks the kernel for a free port";
    EXPECT_FALSE(s.serve_one(10, [](const HttpRequest&) { return HttpResponse{}; })) << "no client: a timeout";
    EXPECT_THROW(HttpServer{a}, std::runtime_error) << "the port is taken";
    EXPECT_EQ(http_reason(503), "Service Unavailable");
}

} // namespace
} // namespace xdpnet::telemetry
