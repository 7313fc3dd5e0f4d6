// Flow records as JSON lines: exact text per record kind, timestamps, flags.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "telemetry/flow_json.h"

namespace xdpnet::telemetry {
namespace {

FlowRecord tcp4() {
    FlowRecord r;
    r.key.family = 4;
    r.key.src = {10, 0, 0, 1};
    r.key.dst = {192, 168, 1, 20};
    r.key.sport = 40000;
    r.key.dport = 443;
    r.key.proto = 6;
    r.key.vlan = 10;
    r.in_ifindex = 3;
    r.out_ifindex = 5;
    r.in_port = "vm1";
    r.out_port = "uplink";
    r.packets = 12;
    r.bytes = 3456;
    r.first_ns = 1763726400123456789ull;   // 2025-11-21T12:00:00.123456789Z
    r.last_ns = 1763726460999999999ull;    // 2025-11-21T12:01:00.999999999Z
    r.tcp_flags = 0x12;                    // SYN ACK
    r.end = EndReason::EndOfFlow;
    return r;
}

TEST(FlowJson, Ipv4TcpExact) {
    // nlohmann::json sorts keys; no "nat" key without a translation.
    EXPECT_EQ(flow_to_json(tcp4()).dump(),
              R"({"bytes":3456,"dport":443,"drop_reason":0,"dst":"192.168.1.20",)"
              R"("end":"2025-11-21T12:01:00.999Z","end_ns":1763726460999999999,)"
              R"("end_reason":"end","family":4,"in_ifindex":3,"in_port":"vm1",)"
              R"("out_ifindex":5,"out_port":"uplink","packets":12,"proto":6,)"
              R"("proto_name":"tcp","sport":40000,"src":"10.0.0.1",)"
              R"("start":"2025-11-21T12:00:00.123Z","start_ns":1763726400123456789,)"
              R"("tcp_flags":18,"tcp_flags_text":"SA","vlan":10})");
}

TEST(FlowJson, Ipv6UdpExact) {
    FlowRecord r;
    r.key.family = 6;
    r.key.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    r.key.dst = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0xff, 0xfe, 0, 0, 0x02};
    r.key.sport = 5353;
    r.key.dport = 53;
    r.key.proto = 17;
    r.in_ifindex = 7;
    r.packets = 1;
    r.bytes = 18446744073709551615ull;   // full uint64 range survives
    r.first_ns = 0;
    r.last_ns = 1000000;
    r.drop_reason = 4;
    r.end = EndReason::IdleTimeout;
    EXPECT_EQ(flow_to_json(r).dump(),
              R"({"bytes":18446744073709551615,"dport":53,"drop_reason":4,)"
              R"("dst":"fe80::200:ff:fe00:2","end":"1970-01-01T00:00:00.001Z","end_ns":1000000,)"
              R"("end_reason":"idle","family":6,"in_ifindex":7,"in_port":"",)"
              R"("out_ifindex":0,"out_port":"","packets":1,"proto":17,)"
              R"("proto_name":"udp","sport":5353,"src":"2001:db8::1",)"
              R"("start":"1970-01-01T00:00:00.000Z","start_ns":0,)"
              R"("tcp_flags":0,"tcp_flags_text":"","vlan":0})");
}

TEST(FlowJson, WithNat) {
    FlowRecord r = tcp4();
    r.nat = {true, 0xcb007105, 0x08080808, 50001, 443};   // 203.0.113.5 -> 8.8.8.8
    r.end = EndReason::ActiveTimeout;
    const nlohmann::json j = flow_to_json(r);
    EXPECT_EQ(j.at("nat").dump(),
              R"({"dport":443,"dst":"8.8.8.8","sport":50001,"src":"203.0.113.5"})");
    EXPECT_EQ(j.at("end_reason"), "active");
    // Everything else is as without NAT.
    nlohmann::json without = j;
    without.erase("nat");
    nlohmann::json plain = flow_to_json(tcp4());
    plain["end_reason"] = "active";
    EXPECT_EQ(without, plain);
    EXPECT_FALSE(flow_to_json(tcp4()).contains("nat"));
}

TEST(FlowJson, JsonlIsOneLineWithTrailingNewline) {
    FlowRecord r = tcp4();
    r.in_port = "weird\nname \"q\"";   // escaped, never a raw newline
    r.out_port = "bad\xff";            // invalid UTF-8: replaced, not thrown
    const std::string line = flow_to_jsonl(r);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    EXPECT_EQ(line.front(), '{');
    const auto back = nlohmann::json::parse(line);
    EXPECT_EQ(back.at("in_port"), "weird\nname \"q\"");
    EXPECT_EQ(back.at("out_port"), "bad\xef\xbf\xbd");

    EXPECT_EQ(flow_to_jsonl(tcp4()), flow_to_json(tcp4()).dump() + "\n");
}

// The JSON line is written directly (not through nlohmann, for speed): it
// must be, byte for byte, the object's compact dump, for every kind of record.
TEST(FlowJson, JsonlIsTheObjectsDumpForAnyRecord) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    const std::vector<std::string> names = {"", "vm1", "uplink", "a\"b", "back\\slash", "tab\there",
                                            "ctl\x01", "utf8-\xc3\xa9", "bad\xff", "del\x7f", "x/y:z"};
    for (int i = 0; i < 2000; i++) {
        FlowRecord r;
        r.key.family = (next() & 1) ? 4 : 6;
        for (auto& b : r.key.src)
            b = uint8_t(next());
        for (auto& b : r.key.dst)
            b = uint8_t(next());
        r.key.sport = uint16_t(next());
        r.key.dport = uint16_t(next());
        r.key.proto = uint8_t(next());
        r.key.vlan = uint16_t(next() & 0xfff);
        r.in_ifindex = uint32_t(next());
        r.out_ifindex = uint32_t(next());
        r.in_port = names[next() % names.size()];
        r.out_port = names[next() % names.size()];
        r.nat.present = next() & 1;
        r.nat.src = uint32_t(next());
        r.nat.dst = uint32_t(next());
        r.nat.sport = uint16_t(next());
        r.nat.dport = uint16_t(next());
        r.packets = next() >> (next() % 64);
        r.bytes = next() >> (next() % 64);
        r.first_ns = next() >> 2;
        r.last_ns = next() >> 2;
        r.tcp_flags = uint8_t(next());
        r.drop_reason = uint16_t(next() % 80);
        r.end = EndReason(1 + next() % 5);
        ASSERT_EQ(flow_to_jsonl(r), flow_to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")
            << "record " << i;
    }
}

TEST(FlowJson, AllKeysPresent) {
    const nlohmann::json j = flow_to_json(FlowRecord{});
    for (const char* k :
         {"start", "end", "start_ns", "end_ns", "family", "src", "dst", "sport", "dport", "proto",
          "proto_name", "vlan", "in_port", "out_port", "in_ifindex", "out_ifindex", "packets",
          "bytes", "tcp_flags", "tcp_flags_text", "drop_reason", "end_reason"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j.size(), 22u);
    EXPECT_EQ(j.at("src"), "0.0.0.0");
    EXPECT_EQ(j.at("proto_name"), "0");
}

TEST(FlowJsonTime, Rfc3339Milliseconds) {
    EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339_ms(999999), "1970-01-01T00:00:00.000Z");     // rounds down
    EXPECT_EQ(format_rfc3339_ms(1000000), "1970-01-01T00:00:00.001Z");
    EXPECT_EQ(format_rfc3339_ms(1999999), "1970-01-01T00:00:00.001Z");
    // Never carries into the next second, minute, day or year.
    EXPECT_EQ(format_rfc3339_ms(59999999999ull), "1970-01-01T00:00:59.999Z");
    EXPECT_EQ(format_rfc3339_ms(946684799999999999ull), "1999-12-31T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339_ms(946684800000000000ull), "2000-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339_ms(1709251199999000000ull), "2024-02-29T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339_ms(951868800000000000ull), "2000-03-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339_ms(1763726400123456789ull), "2025-11-21T12:00:00.123Z");
    EXPECT_EQ(format_rfc3339_ms(UINT64_MAX), "2554-07-21T23:34:33.709Z");
}

TEST(FlowJsonFlags, LettersInTcpdumpOrder) {
    EXPECT_EQ(flow_tcp_flags_text(0), "");
    EXPECT_EQ(flow_tcp_flags_text(0x01), "F");
    EXPECT_EQ(flow_tcp_flags_text(0x02), "S");
    EXPECT_EQ(flow_tcp_flags_text(0x12), "SA");
    EXPECT_EQ(flow_tcp_flags_text(0x11), "FA");
    EXPECT_EQ(flow_tcp_flags_text(0x14), "RA");
    EXPECT_EQ(flow_tcp_flags_text(0x18), "PA");
    EXPECT_EQ(flow_tcp_flags_text(0xc2), "SEC");
    EXPECT_EQ(flow_tcp_flags_text(0xff), "FSRPAUEC");
}

TEST(FlowJsonProto, Names) {
    EXPECT_EQ(flow_proto_name(6), "tcp");
    EXPECT_EQ(flow_proto_name(17), "udp");
    EXPECT_EQ(flow_proto_name(1), "icmp");
    EXPECT_EQ(flow_proto_name(58), "icmpv6");
    EXPECT_EQ(flow_proto_name(47), "47");
    EXPECT_EQ(flow_proto_name(0), "0");
    EXPECT_EQ(flow_proto_name(255), "255");
}

TEST(FlowJson, EndReasons) {
    FlowRecord r;
    const std::pair<EndReason, const char*> cases[] = {
        {EndReason::IdleTimeout, "idle"},   {EndReason::ActiveTimeout, "active"},
        {EndReason::EndOfFlow, "end"},      {EndReason::ForcedEnd, "forced"},
        {EndReason::LackOfResources, "resources"},
    };
    for (const auto& [e, name] : cases) {
        r.end = e;
        EXPECT_EQ(flow_to_json(r).at("end_reason"), name);
    }
}

} // namespace
} // namespace xdpnet::telemetry
