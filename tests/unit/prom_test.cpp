// Prometheus text exposition 0.0.4: exact output, escaping, numbers, names.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

#include "telemetry/prom.h"

namespace xdpnet::telemetry {
namespace {

TEST(PromWriter, TwoFamiliesExactText) {
    PromWriter w;
    w.family("xdpnet_rx_packets_total", "Packets received per port.", "counter");
    w.sample({{"port", "vm1"}, {"vlan", "10"}}, uint64_t{18446744073709551615ull});
    w.sample({{"port", "vm2"}, {"vlan", "10"}}, uint64_t{0});
    w.family("xdpnet_flow_table_fill", "Fraction of the flow table in use.", "gauge");
    w.sample({}, 0.25);
    EXPECT_EQ(w.str(),
              "# HELP xdpnet_rx_packets_total Packets received per port.\n"
              "# TYPE xdpnet_rx_packets_total counter\n"
              "xdpnet_rx_packets_total{port=\"vm1\",vlan=\"10\"} 18446744073709551615\n"
              "xdpnet_rx_packets_total{port=\"vm2\",vlan=\"10\"} 0\n"
              "# HELP xdpnet_flow_table_fill Fraction of the flow table in use.\n"
              "# TYPE xdpnet_flow_table_fill gauge\n"
              "xdpnet_flow_table_fill 0.25\n");
}

TEST(PromWriter, EmptyAndUntypedFamilies) {
    PromWriter w;
    EXPECT_EQ(w.str(), "");
    w.family("xdpnet_info", "", "untyped");
    w.family("xdpnet_up", "1 when running.", "gauge");
    w.sample({}, 1.0);
    EXPECT_EQ(w.str(),
              "# HELP xdpnet_info \n"
              "# TYPE xdpnet_info untyped\n"
              "# HELP xdpnet_up 1 when running.\n"
              "# TYPE xdpnet_up gauge\n"
              "xdpnet_up 1\n");
}

TEST(PromEscape, LabelValuesAndHelp) {
    EXPECT_EQ(prom_escape_label_value("plain"), "plain");
    EXPECT_EQ(prom_escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    // HELP escapes backslash and newline only; quotes stay as they are.
    EXPECT_EQ(prom_escape_help("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");

    PromWriter w;
    w.family("m", "two\nlines \\ \"q\"", "gauge");
    w.sample({{"path", "C:\\vm \"x\"\n"}}, uint64_t{3});
    EXPECT_EQ(w.str(),
              "# HELP m two\\nlines \\\\ \"q\"\n"
              "# TYPE m gauge\n"
              "m{path=\"C:\\\\vm \\\"x\\\"\\n\"} 3\n");
}

TEST(PromNumbers, Specials) {
    EXPECT_EQ(prom_format_double(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(prom_format_double(-std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(prom_format_double(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(prom_format_double(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PromNumbers, IntegralValuesWithoutExponent) {
    EXPECT_EQ(prom_format_double(0.0), "0");
    EXPECT_EQ(prom_format_double(-0.0), "0");
    EXPECT_EQ(prom_format_double(1.0), "1");
    EXPECT_EQ(prom_format_double(-42.0), "-42");
    EXPECT_EQ(prom_format_double(1e6), "1000000");
    EXPECT_EQ(prom_format_double(1e15), "1000000000000000");
    EXPECT_EQ(prom_format_double(9007199254740992.0), "9007199254740992");     // 2^53
    EXPECT_EQ(prom_format_double(-9007199254740992.0), "-9007199254740992");
}

TEST(PromNumbers, OthersShortestRoundTrip) {
    EXPECT_EQ(prom_format_double(0.25), "0.25");
    EXPECT_EQ(prom_format_double(0.1), "0.1");
    EXPECT_EQ(prom_format_double(-123.456), "-123.456");
    EXPECT_EQ(prom_format_double(1.5e-7), "1.5e-07");
    EXPECT_EQ(prom_format_double(1e20), "1e+20");
    EXPECT_EQ(prom_format_double(1e300), "1e+300");
    EXPECT_EQ(prom_format_double(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
    EXPECT_EQ(prom_format_double(std::numeric_limits<double>::denorm_min()), "5e-324");
    EXPECT_EQ(prom_format_double(0.1 + 0.2), "0.30000000000000004");

    std::mt19937_64 rng(7);
    for (int i = 0; i < 10000; ++i) {
        uint64_t bits = rng();
        double v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isfinite(v))
            continue;
        const std::string s = prom_format_double(v);
        EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
        EXPECT_EQ(s.find_first_of(" ,"), std::string::npos) << s;
    }
}

TEST(PromNumbers, Uint64Exact) {
    PromWriter w;
    w.family("c_total", "h", "counter");
    w.sample({}, uint64_t{9007199254740993ull});   // 2^53 + 1: not a double
    w.sample({}, uint64_t{18446744073709551615ull});
    EXPECT_EQ(w.str(),
              "# HELP c_total h\n# TYPE c_total counter\n"
              "c_total 9007199254740993\n"
              "c_total 18446744073709551615\n");
}

TEST(PromNames, Validation) {
    for (const char* ok : {"a", "_", "_x", ":x", "a:b_c9", "xdpnet_rx_bytes_total", "ABC"})
        EXPECT_TRUE(prom_valid_metric_name(ok)) << ok;
    for (const char* bad : {"", "9a", "a-b", "a b", "a.b", "\xc3\xa9", "a\n"})
        EXPECT_FALSE(prom_valid_metric_name(bad)) << bad;
    for (const char* ok : {"a", "_", "port", "vlan_id", "L9"})
        EXPECT_TRUE(prom_valid_label_name(ok)) << ok;
    for (const char* bad : {"", "9a", ":x", "a:b", "a-b", "a b"})
        EXPECT_FALSE(prom_valid_label_name(bad)) << bad;
}

TEST(PromNames, WriterRejectsBadNamesAndTypes) {
    PromWriter w;
    EXPECT_THROW(w.family("9lives", "h", "gauge"), std::invalid_argument);
    EXPECT_THROW(w.family("a-b", "h", "gauge"), std::invalid_argument);
    EXPECT_THROW(w.family("", "h", "gauge"), std::invalid_argument);
    EXPECT_THROW(w.family("m", "h", "histogram"), std::invalid_argument);
    EXPECT_THROW(w.family("m", "h", "Gauge"), std::invalid_argument);
    // Counters carry their _total suffix in the family name.
    EXPECT_THROW(w.family("xdpnet_rx_packets", "h", "counter"), std::invalid_argument);
    EXPECT_THROW(w.family("xdpnet_total_rx", "h", "counter"), std::invalid_argument);
    EXPECT_EQ(w.str(), "");   // nothing written by the failed calls

    w.family("m", "h", "gauge");
    EXPECT_THROW(w.sample({{"bad-name", "v"}}, 1.0), std::invalid_argument);
    EXPECT_THROW(w.sample({{"a:b", "v"}}, 1.0), std::invalid_argument);
    EXPECT_THROW(w.sample({{"port", "a"}, {"port", "b"}}, 1.0), std::invalid_argument);
    EXPECT_THROW(w.sample({{"ok", "v"}, {"", "v"}}, uint64_t{1}), std::invalid_argument);
    EXPECT_EQ(w.str(), "# HELP m h\n# TYPE m gauge\n");   // no partial sample lines
}

TEST(PromNames, SampleBeforeFamily) {
    PromWriter w;
    EXPECT_THROW(w.sample({}, 1.0), std::logic_error);
}

TEST(PromFamily, DeclaredTwiceThrows) {
    PromWriter w;
    w.family("a_total", "h", "counter");
    w.sample({}, uint64_t{1});
    w.family("b", "h", "gauge");
    EXPECT_THROW(w.family("a_total", "h", "counter"), std::invalid_argument);
    EXPECT_THROW(w.family("b", "other help", "untyped"), std::invalid_argument);
    // The failed declaration did not switch families: samples still go to b.
    w.sample({}, 2.0);
    EXPECT_EQ(w.str(),
              "# HELP a_total h\n# TYPE a_total counter\na_total 1\n"
              "# HELP b h\n# TYPE b gauge\nb 2\n");
}

} // namespace
} // namespace xdpnet::telemetry
