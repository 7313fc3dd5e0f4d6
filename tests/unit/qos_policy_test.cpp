// Policing, DSCP, port security, per-address limits and the ACL: the unit
// parsers (rates, sizes, packet rates, DSCP, prefixes), the YAML keys with
// their defaults and every rejection (with its line), the warnings, and the
// compiled policer and ACL images.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "policy/policy.h"
#include "policy_helpers.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;
const std::string kDir = XDPNET_TEST_POLICIES;

// Lines 1..4.
const std::string kBase = yaml({
    "ports:",
    "  - { name: vm1, mode: access, vlan: 10 }",
    "  - { name: vm2, mode: access, vlan: 20 }",
    "  - { name: up0, mode: trunk, vlans: [10, 20, 100, 200] }",
});

/// A port vm3 on lines 5..7, then `rest` (its keys, 4 spaces in) from line 8.
std::string port(std::initializer_list<std::string> rest) {
    return kBase + yaml({"  - name: vm3", "    mode: access", "    vlan: 10"}) + yaml(rest);
}

/// Top-level `rest` from line 5.
std::string top(std::initializer_list<std::string> rest) { return kBase + yaml(rest); }

/// ACL rules (6 spaces in: "    - { ... }") from line 7.
std::string rules(std::initializer_list<std::string> rest) {
    return kBase + yaml({"acl:", "  rules:"}) + yaml(rest);
}

/// The port vm3 of an accepted policy.
PortSpec vm3(const std::string& text) {
    const Policy p = accepts(text);
    for (const PortSpec& s : p.ports)
        if (s.name == "vm3")
            return s;
    ADD_FAILURE() << "no vm3";
    return {};
}

/// The message of the std::invalid_argument `f` throws, or fails.
template <typename F> std::string why(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception";
    return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ================================================================ units

TEST(Units, RateSuffixes) {
    const std::pair<const char*, uint64_t> cases[] = {
        {"1", 1},
        {"1000000", 1000000},
        {"500bit", 500},
        {"64kbit", 64000},
        {"100mbit", 100000000},
        {"1gbit", 1000000000},
        {"10Gbit", 10000000000},
        {"1tbit", 1000000000000},
        {"1bps", 8}, // tc: bytes per second
        {"1kbps", 8000},
        {"100mbps", 800000000},
        {"1gbps", 8000000000},
        {"1tbps", 8000000000000},
        {"1.5mbit", 1500000},
        {"0.5kbit", 500},
        {"2.25GBIT", 2250000000},
        {"1.500000mbit", 1500000},
        {"0.001kbit", 1},
        {"00100bit", 100},
    };
    for (const auto& [text, want] : cases)
        EXPECT_EQ(parse_rate_bps(text), want) << text;
}

TEST(Units, RateErrors) {
    EXPECT_HAS(why([] { parse_rate_bps(""); }), "the rate is empty");
    EXPECT_HAS(why([] { parse_rate_bps("-5mbit"); }), "'-5mbit' is negative");
    EXPECT_HAS(why([] { parse_rate_bps("100mb/s"); }), "unknown unit 'mb/s'");
    EXPECT_HAS(why([] { parse_rate_bps("100mb/s"); }), "without '/s'");
    EXPECT_HAS(why([] { parse_rate_bps("100mb"); }), "did you mean 100mbit?");
    EXPECT_HAS(why([] { parse_rate_bps("100k"); }), "did you mean 100kbit?");
    EXPECT_HAS(why([] { parse_rate_bps("10kpps"); }), "use the 'pps' key");
    EXPECT_HAS(why([] { parse_rate_bps("100xbit"); }), "unknown unit 'xbit'; expected a bare number or bit, kbit");
    EXPECT_HAS(why([] { parse_rate_bps("mbit"); }), "does not start with a number");
    EXPECT_HAS(why([] { parse_rate_bps(".5mbit"); }), "is not a number with a unit");
    EXPECT_HAS(why([] { parse_rate_bps("1.mbit"); }), "is not a number with a unit");
    EXPECT_HAS(why([] { parse_rate_bps("1.5bit"); }), "'1.5bit' is not a whole number of bits per second");
    EXPECT_HAS(why([] { parse_rate_bps("0"); }), "is zero");
    EXPECT_HAS(why([] { parse_rate_bps("0mbit"); }), "a rate of 0 admits nothing");
    EXPECT_HAS(why([] { parse_rate_bps("0.0gbit"); }), "is zero");
    EXPECT_HAS(why([] { parse_rate_bps("99999999999999999999bit"); }), "is too large");
    EXPECT_HAS(why([] { parse_rate_bps("3000000tbps"); }), "is too large");
    EXPECT_HAS(why([] { parse_rate_bps("100 mbit"); }), "contains a space");
    EXPECT_HAS(why([] { parse_rate_bps("+5mbit"); }), "does not start with a number");
    EXPECT_HAS(why([] { parse_rate_bps("1e6"); }), "unknown unit 'e6'");
    EXPECT_HAS(why([] { parse_rate_bps("1.2.3mbit"); }), "unknown unit '.3mbit'");
    // The largest value that fits.
    EXPECT_EQ(parse_rate_bps("18446744073709551615"), UINT64_MAX);
    EXPECT_HAS(why([] { parse_rate_bps("18446744073709551616"); }), "too large");
}

TEST(Units, SizeSuffixes) {
    const std::pair<const char*, uint64_t> cases[] = {
        {"1500", 1500},      {"1500b", 1500},        {"64kb", 65536},        {"64k", 65536},
        {"1mb", 1048576},    {"1m", 1048576},        {"1gb", 1073741824},    {"1g", 1073741824},
        {"1.5kb", 1536},     {"2KB", 2048},          {"256Kb", 262144},      {"0.5mb", 524288},
        {"3036B", 3036},
    };
    for (const auto& [text, want] : cases)
        EXPECT_EQ(parse_size_bytes(text), want) << text;
}

TEST(Units, SizeErrors) {
    EXPECT_HAS(why([] { parse_size_bytes(""); }), "the size is empty");
    EXPECT_HAS(why([] { parse_size_bytes("-1kb"); }), "is negative");
    EXPECT_HAS(why([] { parse_size_bytes("1kbit"); }), "'kbit' is a rate; a size is in bytes");
    EXPECT_HAS(why([] { parse_size_bytes("1tb"); }), "unknown unit 'tb'; expected a bare number or b, kb");
    EXPECT_HAS(why([] { parse_size_bytes("0"); }), "is zero");
    EXPECT_HAS(why([] { parse_size_bytes("0.1kb"); }), "not a whole number of bytes");
    EXPECT_HAS(why([] { parse_size_bytes("17179869184gb"); }), "too large"); // 2^64
    EXPECT_EQ(parse_size_bytes("17179869183gb"), 17179869183ull << 30);
}

TEST(Units, PacketRates) {
    EXPECT_EQ(parse_pps("200000"), 200000u);
    EXPECT_EQ(parse_pps("500pps"), 500u);
    EXPECT_EQ(parse_pps("200kpps"), 200000u);
    EXPECT_EQ(parse_pps("1mpps"), 1000000u);
    EXPECT_EQ(parse_pps("1.5kpps"), 1500u);
    EXPECT_EQ(parse_pps("2MPPS"), 2000000u);
    EXPECT_HAS(why([] { parse_pps(""); }), "the packet rate is empty");
    EXPECT_HAS(why([] { parse_pps("0pps"); }), "a packet rate of 0 admits nothing");
    EXPECT_HAS(why([] { parse_pps("-1"); }), "is negative");
    EXPECT_HAS(why([] { parse_pps("1.5pps"); }), "not a whole number of packets per second");
    EXPECT_HAS(why([] { parse_pps("10mbit"); }), "unknown unit 'mbit'; expected a bare number or pps, kpps, mpps");
    EXPECT_HAS(why([] { parse_pps("10gpps"); }), "unknown unit 'gpps'");
}

TEST(Units, DscpNumbersAndNames) {
    const std::pair<const char*, int> cases[] = {
        {"0", 0},     {"63", 63},   {"46", 46},   {"be", 0},    {"default", 0}, {"cs0", 0},
        {"le", 1},    {"cs1", 8},   {"cs2", 16},  {"cs5", 40},  {"cs7", 56},    {"af11", 10},
        {"af12", 12}, {"af13", 14}, {"af21", 18}, {"af22", 20}, {"af31", 26},   {"af33", 30},
        {"af41", 34}, {"af42", 36}, {"af43", 38}, {"ef", 46},   {"EF", 46},     {"va", 44},
        {"AF41", 34}, {"Default", 0},
    };
    for (const auto& [text, want] : cases)
        EXPECT_EQ(parse_dscp(text), want) << text;
}

TEST(Units, DscpErrors) {
    EXPECT_HAS(why([] { parse_dscp("64"); }), "DSCP 64 is out of range; allowed: 0..63");
    EXPECT_HAS(why([] { parse_dscp("256"); }), "out of range");
    EXPECT_HAS(why([] { parse_dscp("af44"); }), "af11..af43");
    EXPECT_HAS(why([] { parse_dscp("af51"); }), "is not a DSCP name");
    EXPECT_HAS(why([] { parse_dscp("af10"); }), "is not a DSCP name");
    EXPECT_HAS(why([] { parse_dscp("cs8"); }), "class selectors are cs0..cs7");
    EXPECT_HAS(why([] { parse_dscp("gold"); }), "'gold' is not a DSCP code point");
    EXPECT_HAS(why([] { parse_dscp(""); }), "empty");
    EXPECT_HAS(why([] { parse_dscp("-1"); }), "is not a DSCP code point");
}

// ================================================================ prefixes

std::array<uint8_t, 16> bytes(std::initializer_list<int> b) {
    std::array<uint8_t, 16> out{};
    size_t i = 0;
    for (int v : b)
        out[i++] = static_cast<uint8_t>(v);
    return out;
}

TEST(Prefix, ParseForms) {
    IpPrefix p = parse_ip_prefix("10.0.10.0/24");
    EXPECT_EQ(p.family, 4);
    EXPECT_EQ(p.len, 24);
    EXPECT_EQ(p.addr, bytes({10, 0, 10, 0}));
    EXPECT_EQ(p.str(), "10.0.10.0/24");

    p = parse_ip_prefix("10.0.10.11");
    EXPECT_EQ(p.family, 4);
    EXPECT_EQ(p.len, 32);
    EXPECT_EQ(p.addr, bytes({10, 0, 10, 11}));
    EXPECT_EQ(p.str(), "10.0.10.11");

    p = parse_ip_prefix("fd00:10::11");
    EXPECT_EQ(p.family, 6);
    EXPECT_EQ(p.len, 128);
    EXPECT_EQ(p.addr, bytes({0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11}));
    EXPECT_EQ(p.str(), "fd00:10::11");

    p = parse_ip_prefix("FD00:10::/64");
    EXPECT_EQ(p.family, 6);
    EXPECT_EQ(p.len, 64);
    EXPECT_EQ(p.str(), "fd00:10::/64");

    EXPECT_EQ(parse_ip_prefix("0.0.0.0/0").str(), "0.0.0.0/0");
    EXPECT_EQ(parse_ip_prefix("::/0").str(), "::/0");
    EXPECT_EQ(parse_ip_prefix("10.0.10.0/23").len, 23);
    EXPECT_EQ(parse_ip_prefix("10.0.10.11/32").str(), "10.0.10.11");
    EXPECT_EQ(parse_ip_prefix("fd00::1/128").str(), "fd00::1");
    EXPECT_EQ(parse_ip_prefix("fc00::/7").len, 7);
}

TEST(Prefix, Errors) {
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.11.0/23"); }), "has host bits set: the prefix is 10.0.10.0/23");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.10.1/24"); }), "the prefix is 10.0.10.0/24");
    EXPECT_HAS(why([] { parse_ip_prefix("fd00::1/64"); }), "the prefix is fd00::/64");
    EXPECT_HAS(why([] { parse_ip_prefix("fd00::/7"); }), "the prefix is fc00::/7"); // 0xfd: bit 8 is a host bit
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.0/33"); }), "the prefix length must be 0..32 for an IPv4");
    EXPECT_HAS(why([] { parse_ip_prefix("fd00::/129"); }), "must be 0..128 for an IPv6");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.0/"); }), "prefix length must be");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.0/-1"); }), "prefix length must be");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.0/24x"); }), "prefix length must be");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.0/24/8"); }), "prefix length must be");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0/24"); }), "'10.0.0' is not an IPv4 or IPv6 address");
    EXPECT_HAS(why([] { parse_ip_prefix("10.0.0.256"); }), "is not an IPv4 or IPv6 address");
    EXPECT_HAS(why([] { parse_ip_prefix("garbage"); }), "is not an IPv4 or IPv6 address");
    EXPECT_HAS(why([] { parse_ip_prefix("fd00:::1"); }), "is not an IPv6 address");
    EXPECT_HAS(why([] { parse_ip_prefix("fe80::1%eth0"); }), "is not an IPv6 address");
    EXPECT_HAS(why([] { parse_ip_prefix(""); }), "the address is empty");
}

TEST(Prefix, Contains) {
    const IpPrefix net8 = parse_ip_prefix("10.0.0.0/8");
    EXPECT_TRUE(net8.contains(parse_ip_prefix("10.1.2.0/24")));
    EXPECT_TRUE(net8.contains(parse_ip_prefix("10.255.255.255")));
    EXPECT_TRUE(net8.contains(net8));
    EXPECT_FALSE(net8.contains(parse_ip_prefix("11.0.0.0/24")));
    EXPECT_FALSE(net8.contains(parse_ip_prefix("0.0.0.0/0")));
    EXPECT_FALSE(parse_ip_prefix("10.1.2.0/24").contains(net8));
    EXPECT_FALSE(net8.contains(parse_ip_prefix("::/0"))); // another family
    EXPECT_TRUE(parse_ip_prefix("0.0.0.0/0").contains(parse_ip_prefix("192.168.1.1")));
    EXPECT_FALSE(parse_ip_prefix("0.0.0.0/0").contains(parse_ip_prefix("::1")));
    // Not on a byte boundary.
    const IpPrefix net23 = parse_ip_prefix("10.0.10.0/23");
    EXPECT_TRUE(net23.contains(parse_ip_prefix("10.0.11.5")));
    EXPECT_TRUE(net23.contains(parse_ip_prefix("10.0.10.0/24")));
    EXPECT_FALSE(net23.contains(parse_ip_prefix("10.0.12.0")));
    EXPECT_FALSE(net23.contains(parse_ip_prefix("10.0.9.255")));
    const IpPrefix v6 = parse_ip_prefix("fd00::/64");
    EXPECT_TRUE(v6.contains(parse_ip_prefix("fd00::1")));
    EXPECT_FALSE(v6.contains(parse_ip_prefix("fd00:0:0:1::1")));
    EXPECT_TRUE(parse_ip_prefix("fc00::/7").contains(parse_ip_prefix("fc00::1")));
}

// ================================================================ the example file

TEST(QosPolicy, ExampleFromFile) {
    const std::string path = kDir + "/qos.yaml";
    const Policy p = load_policy_file(path);
    EXPECT_TRUE(p.warnings.empty()) << PolicyError(p.warnings).what();
    ASSERT_EQ(p.ports.size(), 3u);

    const PortSpec& vm1 = p.ports[0];
    ASSERT_TRUE(vm1.police_ingress);
    EXPECT_EQ(vm1.police_ingress->rate_bps, 100000000u);
    EXPECT_EQ(vm1.police_ingress->burst_bytes, 262144u);
    EXPECT_EQ(vm1.police_ingress->pps, 0u);
    EXPECT_EQ(vm1.police_ingress->burst_packets, 0u);
    EXPECT_FALSE(vm1.police_ingress->remark);
    EXPECT_EQ(vm1.police_ingress->loc.line, 8);
    EXPECT_EQ(vm1.police_ingress->loc.file, path);
    ASSERT_TRUE(vm1.police_egress);
    EXPECT_EQ(vm1.police_egress->rate_bps, 1000000000u);
    EXPECT_EQ(vm1.police_egress->burst_bytes, 1048576u);
    EXPECT_EQ(vm1.police_egress->pps, 200000u);
    EXPECT_EQ(vm1.police_egress->burst_packets, 2000u); // pps / 100
    EXPECT_EQ(vm1.dscp, std::optional<uint8_t>(46));
    ASSERT_TRUE(vm1.security);
    ASSERT_EQ(vm1.security->macs.size(), 1u);
    EXPECT_EQ(vm1.security->macs[0], (MacAddr{0x52, 0x54, 0, 0, 0, 1}));
    ASSERT_EQ(vm1.security->ips.size(), 2u);
    EXPECT_EQ(vm1.security->ips[0].str(), "10.0.10.11");
    EXPECT_EQ(vm1.security->ips[1].str(), "fd00:10::11");
    EXPECT_EQ(vm1.security->loc.line, 11);

    const PortSpec& vm2 = p.ports[1];
    EXPECT_FALSE(vm2.police_ingress);
    EXPECT_FALSE(vm2.police_egress);
    EXPECT_EQ(vm2.dscp, std::optional<uint8_t>(34));
    ASSERT_TRUE(vm2.security); // {}: the guard only
    EXPECT_TRUE(vm2.security->macs.empty());
    EXPECT_TRUE(vm2.security->ips.empty());
    EXPECT_FALSE(p.ports[2].security);
    EXPECT_FALSE(p.ports[2].dscp);

    ASSERT_EQ(p.limits.size(), 2u);
    EXPECT_EQ(p.limits[0].src.str(), "10.0.30.0/24");
    EXPECT_EQ(p.limits[0].rate.rate_bps, 10000000u);
    EXPECT_EQ(p.limits[0].rate.burst_bytes, 65536u);
    EXPECT_EQ(p.limits[0].rate.pps, 0u);
    EXPECT_EQ(p.limits[0].loc.line, 17);
    EXPECT_EQ(p.limits[1].src.str(), "fd00:30::/64");
    EXPECT_EQ(p.limits[1].rate.rate_bps, 0u);
    EXPECT_EQ(p.limits[1].rate.burst_bytes, 0u);
    EXPECT_EQ(p.limits[1].rate.pps, 1000u);
    EXPECT_EQ(p.limits[1].rate.burst_packets, 10u);
    EXPECT_TRUE(p.limits[1].rate.remark);
    EXPECT_EQ(p.limits[1].rate.remark_dscp, 8);

    const AclSpec& acl = p.acl;
    EXPECT_TRUE(acl.present);
    EXPECT_TRUE(acl.default_allow);
    EXPECT_EQ(acl.loc.line, 19);
    EXPECT_EQ(acl.timeouts.tcp_established_ns, 3600 * kS);
    EXPECT_EQ(acl.timeouts.udp_ns, 30 * kS);
    EXPECT_EQ(acl.timeouts.tcp_syn_ns, 60 * kS); // default kept
    EXPECT_EQ(acl.max_connections, 1000u);
    ASSERT_EQ(acl.rules.size(), 4u);
    const AclRuleSpec& r0 = acl.rules[0];
    EXPECT_FALSE(r0.allow);
    EXPECT_EQ(r0.proto, std::optional<uint8_t>(1));
    EXPECT_EQ(r0.family, 4);
    EXPECT_EQ(r0.from_vlan, 20);
    EXPECT_EQ(r0.to_vlan, 0);
    ASSERT_TRUE(r0.to);
    EXPECT_EQ(r0.to->str(), "10.0.10.0/24");
    EXPECT_FALSE(r0.from);
    EXPECT_EQ(r0.loc.line, 24);
    const AclRuleSpec& r1 = acl.rules[1];
    EXPECT_TRUE(r1.allow);
    EXPECT_TRUE(r1.stateful);
    EXPECT_EQ(r1.proto, std::optional<uint8_t>(6));
    EXPECT_EQ(r1.family, 0);
    EXPECT_EQ(r1.dport_lo, 443);
    EXPECT_EQ(r1.dport_hi, 443);
    EXPECT_EQ(r1.sport_lo, 0);
    EXPECT_EQ(r1.sport_hi, 65535);
    EXPECT_EQ(r1.from_vlan, 100);
    EXPECT_EQ(r1.to_vlan, 200);
    const AclRuleSpec& r2 = acl.rules[2];
    EXPECT_FALSE(r2.proto);
    EXPECT_FALSE(r2.stateful);
    const AclRuleSpec& r3 = acl.rules[3];
    EXPECT_EQ(r3.in_port, "vm1");
    EXPECT_EQ(r3.family, 6);
    EXPECT_EQ(r3.sport_lo, 1024);
    EXPECT_EQ(r3.sport_hi, 65535);
    EXPECT_EQ(r3.dport_lo, 53);
}

// ================================================================ police, dscp, security

TEST(QosPolicy, PolicerDefaults) {
    // burst = max(rate x 10 ms, 3036): 100mbit -> 125000 bytes.
    PortSpec s = vm3(port({"    police: { ingress: { rate: 100mbit } }"}));
    ASSERT_TRUE(s.police_ingress);
    EXPECT_FALSE(s.police_egress);
    EXPECT_EQ(s.police_ingress->burst_bytes, 125000u);
    EXPECT_EQ(s.police_ingress->pps, 0u);
    EXPECT_FALSE(s.police_ingress->remark);
    EXPECT_EQ(s.police_ingress->loc.line, 8);
    // A slow rate gets two full-size frames.
    s = vm3(port({"    police: { egress: { rate: 1mbit } }"}));
    ASSERT_TRUE(s.police_egress);
    EXPECT_EQ(s.police_egress->burst_bytes, 3036u);
    // burst_packets = max(pps / 100, 2).
    s = vm3(port({"    police: { egress: { pps: 200kpps } }"}));
    EXPECT_EQ(s.police_egress->rate_bps, 0u);
    EXPECT_EQ(s.police_egress->burst_bytes, 0u);
    EXPECT_EQ(s.police_egress->pps, 200000u);
    EXPECT_EQ(s.police_egress->burst_packets, 2000u);
    s = vm3(port({"    police: { egress: { pps: 50 } }"}));
    EXPECT_EQ(s.police_egress->burst_packets, 2u);
    EXPECT_TRUE(accepts(port({"    police: { egress: { pps: 50 } }"})).warnings.empty());
}

TEST(QosPolicy, PolicerExplicitValues) {
    const PortSpec s = vm3(port({
        "    police:",
        "      ingress:",
        "        rate: 1000000", // a YAML integer: bits/s
        "        burst: 4096",
        "        pps: 1000",
        "        pps_burst: 50",
        "        exceed: remark",
        "        remark_dscp: cs1",
        "      egress: { rate: \"2.5gbit\", exceed: drop }",
    }));
    ASSERT_TRUE(s.police_ingress);
    EXPECT_EQ(s.police_ingress->rate_bps, 1000000u);
    EXPECT_EQ(s.police_ingress->burst_bytes, 4096u);
    EXPECT_EQ(s.police_ingress->pps, 1000u);
    EXPECT_EQ(s.police_ingress->burst_packets, 50u);
    EXPECT_TRUE(s.police_ingress->remark);
    EXPECT_EQ(s.police_ingress->remark_dscp, 8);
    EXPECT_EQ(s.police_ingress->loc.line, 10);
    ASSERT_TRUE(s.police_egress);
    EXPECT_EQ(s.police_egress->rate_bps, 2500000000u);
    EXPECT_FALSE(s.police_egress->remark);
    EXPECT_EQ(s.police_egress->burst_bytes, 3125000u);
}

TEST(QosPolicy, PolicerBounds) {
    PortSpec s = vm3(port({"    police: { ingress: { rate: 400gbit, burst: 1gb, pps: 1000mpps, pps_burst: 1000000000 } }"}));
    EXPECT_EQ(s.police_ingress->rate_bps, 400000000000u);
    EXPECT_EQ(s.police_ingress->burst_bytes, 1u << 30);
    EXPECT_EQ(s.police_ingress->pps, 1000000000u);
    s = vm3(port({"    police: { ingress: { rate: 1bit, burst: 64, pps: 1, pps_burst: 1 } }"}));
    EXPECT_EQ(s.police_ingress->rate_bps, 1u);
    EXPECT_EQ(s.police_ingress->burst_bytes, 64u);
    EXPECT_EQ(s.police_ingress->burst_packets, 1u);
}

TEST(QosPolicy, SmallBurstIsAWarningNamingTheMinimum) {
    // 1gbit refills 500000 bytes per 4 ms tick.
    const Policy p = accepts(port({"    police:", "      ingress: { rate: 1gbit, burst: 64kb }"}));
    ASSERT_EQ(p.warnings.size(), 1u);
    const Diagnostic& w = p.warnings[0];
    EXPECT_EQ(w.loc.line, 9);
    EXPECT_EQ(w.loc.column, 38);
    EXPECT_HAS(w.reason, "police.ingress: burst 64kb (65536 bytes)");
    EXPECT_HAS(w.reason, "one tick of the datapath clock (4 ms: jiffies at HZ 250)");
    EXPECT_HAS(w.reason, "admits less than the rate");
    EXPECT_HAS(w.reason, "at least 500000 bytes");
    // Exactly one tick's worth is enough.
    EXPECT_TRUE(accepts(port({"    police: { ingress: { rate: 1gbit, burst: 500000 } }"})).warnings.empty());
    EXPECT_EQ(accepts(port({"    police: { ingress: { rate: 1gbit, burst: 499999 } }"})).warnings.size(), 1u);
    // Packets likewise: 100000 pps is 400 per tick.
    const Policy q = accepts(port({"    police: { egress: { pps: 100000, pps_burst: 399 } }"}));
    ASSERT_EQ(q.warnings.size(), 1u);
    EXPECT_HAS(q.warnings[0].reason, "police.egress: pps_burst 399");
    EXPECT_HAS(q.warnings[0].reason, "at least 400");
}

TEST(QosPolicy, Dscp) {
    EXPECT_EQ(vm3(port({"    dscp: 0"})).dscp, std::optional<uint8_t>(0));
    EXPECT_EQ(vm3(port({"    dscp: 63"})).dscp, std::optional<uint8_t>(63));
    EXPECT_EQ(vm3(port({"    dscp: ef"})).dscp, std::optional<uint8_t>(46));
    EXPECT_EQ(vm3(port({"    dscp: af11"})).dscp, std::optional<uint8_t>(10));
    EXPECT_FALSE(vm3(port({})).dscp);
}

TEST(QosPolicy, SecurityForms) {
    PortSpec s = vm3(port({"    security: {}"}));
    ASSERT_TRUE(s.security);
    EXPECT_TRUE(s.security->macs.empty());
    EXPECT_TRUE(s.security->ips.empty());
    EXPECT_EQ(s.security->loc.line, 8);
    s = vm3(port({"    security:", "      macs: [52-54-00-00-00-0A, \"52:54:00:00:00:0b\"]",
                  "      ips: [10.0.10.0/24, 10.0.10.11, \"fd00::/64\", \"fd00:1::1\"]"}));
    ASSERT_EQ(s.security->macs.size(), 2u);
    EXPECT_EQ(s.security->macs[0], (MacAddr{0x52, 0x54, 0, 0, 0, 0x0a}));
    EXPECT_EQ(s.security->macs[1], (MacAddr{0x52, 0x54, 0, 0, 0, 0x0b}));
    ASSERT_EQ(s.security->ips.size(), 4u); // overlapping entries are fine, duplicates are not
    EXPECT_EQ(s.security->ips[0].str(), "10.0.10.0/24");
    EXPECT_EQ(s.security->ips[2].family, 6);
    s = vm3(port({"    security: { macs: [], ips: [] }"}));
    EXPECT_TRUE(s.security->macs.empty());
}

// ================================================================ limits

TEST(QosPolicy, Limits) {
    const Policy p = accepts(top({
        "limits:",
        "  - { match: { src: 10.0.30.0/24 }, per: src_ip, rate: 10mbit, burst: 64kb }",
        "  - match: { src: 10.0.30.0/25 }", // a longer prefix of the same: fine (LPM)
        "    rate: 1mbit",
        "  - { match: { src: \"fd00::/48\" }, pps: 100 }",
    }));
    ASSERT_EQ(p.limits.size(), 3u);
    EXPECT_EQ(p.limits[0].src.str(), "10.0.30.0/24");
    EXPECT_EQ(p.limits[0].rate.rate_bps, 10000000u);
    EXPECT_EQ(p.limits[0].rate.burst_bytes, 65536u);
    EXPECT_EQ(p.limits[0].loc.line, 6);
    EXPECT_EQ(p.limits[1].rate.burst_bytes, 3036u);
    EXPECT_EQ(p.limits[1].loc.line, 7);
    EXPECT_EQ(p.limits[2].src.family, 6);
    EXPECT_EQ(p.limits[2].rate.burst_packets, 2u);
    EXPECT_TRUE(accepts(top({"limits:"})).limits.empty());
    EXPECT_TRUE(accepts(top({"limits: []"})).limits.empty());
}

TEST(QosPolicy, TooManyLimits) {
    std::string text = top({"limits:"});
    for (int i = 0; i < 4097; i++)
        text += "  - { match: { src: 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                ".0/24 }, rate: 1mbit }\n";
    const auto d = rejects(text);
    ASSERT_EQ(d.size(), 1u) << PolicyError(d).what();
    EXPECT_EQ(d[0].loc.line, 5 + 4097);
    EXPECT_HAS(d[0].reason, "limits: 4097 limits listed; at most 4096");
}

// ================================================================ acl

TEST(QosPolicy, AclDefaults) {
    const Policy p = accepts(top({"acl: { rules: [] }"}));
    EXPECT_TRUE(p.acl.present);
    EXPECT_TRUE(p.acl.default_allow);
    EXPECT_TRUE(p.acl.rules.empty());
    EXPECT_EQ(p.acl.max_connections, 65536u);
    EXPECT_EQ(p.acl.timeouts.tcp_established_ns, 7200 * kS);
    EXPECT_EQ(p.acl.loc.line, 5);
    EXPECT_FALSE(accepts(top({})).acl.present);
    EXPECT_FALSE(accepts(top({"acl:"})).acl.present);
    const Policy q = accepts(top({"acl:", "  default: deny", "  max_connections: 16777216",
                                  "  timeouts: { tcp_syn: 5s, icmp: 10s }"}));
    EXPECT_TRUE(q.acl.present);
    EXPECT_FALSE(q.acl.default_allow);
    EXPECT_EQ(q.acl.max_connections, 16777216u);
    EXPECT_EQ(q.acl.timeouts.tcp_syn_ns, 5 * kS);
    EXPECT_EQ(q.acl.timeouts.icmp_ns, 10 * kS);
}

TEST(QosPolicy, AclRuleFields) {
    const Policy p = accepts(rules({
        "    - { action: allow, proto: icmpv6 }",                                  // 7
        "    - { action: deny, proto: 47, from: 10.0.0.0/8, to: 192.168.0.0/16 }", // 8
        "    - { action: deny, proto: any, to: \"fd00::/8\" }",                     // 9
        "    - { action: allow, proto: udp, src_port: \"1000-2000\", dst_port: 0 }", // 10
        "    - { action: deny, proto: \"1\", in_port: up0, to_vlan: 4094 }",         // 11
        "    - action: allow",                                                       // 12
        "      proto: tcp",
        "      dst_port: 65535",
        "      stateful: false",
    }));
    ASSERT_EQ(p.acl.rules.size(), 6u);
    const auto& r = p.acl.rules;
    EXPECT_EQ(r[0].proto, std::optional<uint8_t>(58));
    EXPECT_EQ(r[0].family, 6);
    EXPECT_EQ(r[1].proto, std::optional<uint8_t>(47));
    EXPECT_EQ(r[1].family, 4);
    EXPECT_EQ(r[1].from->str(), "10.0.0.0/8");
    EXPECT_EQ(r[1].to->str(), "192.168.0.0/16");
    EXPECT_FALSE(r[2].proto);
    EXPECT_EQ(r[2].family, 6);
    EXPECT_EQ(r[3].sport_lo, 1000);
    EXPECT_EQ(r[3].sport_hi, 2000);
    EXPECT_EQ(r[3].dport_lo, 0);
    EXPECT_EQ(r[3].dport_hi, 0);
    EXPECT_EQ(r[4].proto, std::optional<uint8_t>(1));
    EXPECT_EQ(r[4].family, 4); // protocol 1 is ICMP, however written
    EXPECT_EQ(r[4].in_port, "up0");
    EXPECT_EQ(r[4].to_vlan, 4094);
    EXPECT_EQ(r[5].loc.line, 12);
    EXPECT_EQ(r[5].dport_lo, 65535);
    EXPECT_FALSE(r[5].stateful);
    EXPECT_TRUE(p.warnings.empty()) << PolicyError(p.warnings).what();
}

TEST(QosPolicy, ShadowedRulesAreWarnings) {
    const Policy p = accepts(rules({
        "    - { action: deny, from_vlan: 20 }",                                     // 7: rule 1
        "    - { action: allow, proto: tcp, from_vlan: 20, dst_port: 443 }",         // 8: hidden by 1
        "    - { action: deny, to: 0.0.0.0/0 }",                                     // 9: all IPv4
        "    - { action: deny, proto: icmp }",                                       // 10: hidden by 3
        "    - { action: deny, proto: tcp }",                                        // 11: IPv6 still reaches it
        "    - { action: deny, proto: udp, dst_port: 1024-65535, to: \"fd00::/8\" }", // 12
        "    - { action: deny, proto: udp, dst_port: 8080, to: \"fd00:1::/32\" }",    // 13: hidden by 6
        "    - { action: deny, proto: udp, dst_port: 80, to: \"fd00:1::/32\" }",      // 14: port outside
        "    - { action: deny, proto: udp, in_port: vm1, to: \"fd00::/8\" }",          // 15
        "    - { action: deny, proto: udp, to: \"fd00::/8\" }",                        // 16: in_port narrows 15
        "    - { action: deny, proto: udp, in_port: vm1, to: \"fd00::/16\" }",         // 17: hidden by 15
    }));
    // Not reported: rule 5 (IPv6 TCP gets past rule 3), rule 8 (port 80 is
    // outside rule 6's range), rule 10 (rule 9 only covers vm1).
    const std::vector<std::pair<int, std::string>> want = {
        {8, "rule 2 (line 8) is never reached: rule 1 (line 7) matches all its packets"},
        {10, "rule 4 (line 10) is never reached: rule 3 (line 9) matches all its packets"},
        {13, "rule 7 (line 13) is never reached: rule 6 (line 12) matches all its packets"},
        {17, "rule 11 (line 17) is never reached: rule 9 (line 15) matches all its packets"},
    };
    std::vector<std::pair<int, std::string>> got;
    for (const Diagnostic& w : p.warnings)
        got.emplace_back(w.loc.line, w.reason);
    EXPECT_EQ(got, want) << PolicyError(p.warnings).what();
    EXPECT_EQ(p.warnings[0].loc.column, 7);
    EXPECT_EQ(p.warnings[0].loc.file, "t.yaml");
}

TEST(QosPolicy, ShadowNamesTheEarliestHider) {
    AclRuleSpec narrow, wide, tcp443;
    narrow.proto = 6;
    narrow.family = 4;
    narrow.to = parse_ip_prefix("10.0.0.0/8");
    // wide: nothing set, matches everything
    tcp443.proto = 6;
    tcp443.family = 4;
    tcp443.to = parse_ip_prefix("10.1.0.0/16");
    tcp443.dport_lo = tcp443.dport_hi = 443;
    AclSpec acl;
    acl.present = true;
    // narrow first: it is the earliest hider of tcp443; wide hides nothing earlier.
    acl.rules = {narrow, wide, tcp443};
    for (int i = 0; i < 3; i++)
        acl.rules[i].loc.line = i + 1;
    auto w = acl_shadow_warnings(acl);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].reason, "rule 3 (line 3) is never reached: rule 1 (line 1) matches all its packets");
    EXPECT_EQ(w[0].loc.line, 3);
    // wide first: found in a more general bucket than narrow, but earlier.
    acl.rules = {wide, narrow, tcp443};
    for (int i = 0; i < 3; i++)
        acl.rules[i].loc.line = i + 1;
    w = acl_shadow_warnings(acl);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0].reason, "rule 2 (line 2) is never reached: rule 1 (line 1) matches all its packets");
    EXPECT_EQ(w[1].reason, "rule 3 (line 3) is never reached: rule 1 (line 1) matches all its packets");
}

TEST(QosPolicy, ShadowNeedsEveryFieldCovered) {
    // A prefix does not cover "any address" unless it is /0; nor a port
    // range a wider one; nor an unset VLAN a set one.
    const Policy p = accepts(rules({
        "    - { action: deny, to: 10.0.0.0/8 }",                 // 7
        "    - { action: deny, proto: icmp }",                    // 8: IPv4, any destination
        "    - { action: deny, proto: tcp, dst_port: 80-443 }",   // 9
        "    - { action: deny, proto: tcp, dst_port: 79-80 }",    // 10
        "    - { action: deny, to_vlan: 10, from_vlan: 20 }",     // 11
        "    - { action: deny, from_vlan: 20 }",                  // 12
        "    - { action: deny, proto: tcp, src_port: 1-2 }",      // 13
        "    - { action: deny, proto: tcp, src_port: 1-2, dst_port: 100 }", // 14: hidden by 9
        "    - { action: deny, proto: tcp, src_port: 0-2 }",      // 15: wider than 13
    }));
    ASSERT_EQ(p.warnings.size(), 1u) << PolicyError(p.warnings).what();
    EXPECT_EQ(p.warnings[0].reason, "rule 8 (line 14) is never reached: rule 3 (line 9) matches all its packets");
}

TEST(QosPolicy, ShadowCheckOnTenThousandRulesIsFast) {
    // Worst case for buckets: every rule in one (family 4, tcp) bucket, and
    // no rule hides another, so every candidate is examined up to the budget.
    AclSpec acl;
    acl.present = true;
    for (int i = 0; i < 10000; i++) {
        AclRuleSpec r;
        r.proto = 6;
        r.family = 4;
        r.to = parse_ip_prefix("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
        r.loc.line = i + 1;
        acl.rules.push_back(r);
    }
    // The last rule is hidden by the first, which is within every budget.
    AclRuleSpec hidden = acl.rules[0];
    hidden.loc.line = 10001;
    acl.rules.push_back(hidden);
    const auto t0 = std::chrono::steady_clock::now();
    const auto w = acl_shadow_warnings(acl);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].loc.line, 10001);
    EXPECT_HAS(w[0].reason, "rule 1 (line 1)");
    EXPECT_LT(ms, 5000) << "shadow check took " << ms << " ms";
    std::printf("shadow check of 10001 rules: %lld ms\n", static_cast<long long>(ms));
}

TEST(QosPolicy, TenThousandRulesParse) {
    std::string text = top({"acl:", "  rules:"});
    for (int i = 0; i < 10000; i++)
        text += "    - { action: deny, proto: tcp, dst_port: 22, to: 10.1." + std::to_string(i / 256) + "." +
                std::to_string(i % 256) + " }\n";
    const auto t0 = std::chrono::steady_clock::now();
    const Policy p = accepts(text);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(p.acl.rules.size(), 10000u);
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_LT(ms, 20000) << ms << " ms";
    std::printf("parse of 10000 rules: %lld ms\n", static_cast<long long>(ms));
}

// ================================================================ rejections

class QosError : public testing::TestWithParam<ErrorCase> {};

TEST_P(QosError, Reported) { expect_rejected(GetParam()); }

const ErrorCase kQosErrors[] = {
    // --- police
    {"police_not_mapping", port({"    police: 100mbit"}), 8, "police: expected a mapping", 13},
    {"police_null", port({"    police:"}), 8, "police: has no value"},
    {"police_empty", port({"    police: {}"}), 8, "police: set ingress (from the VM), egress (to the VM) or both"},
    {"police_dir_typo", port({"    police:", "      ingres: { rate: 1mbit }"}), 9,
     "unknown key 'ingres' in police; expected one of: ingress, egress (did you mean 'ingress'?)", 7},
    {"police_dir_not_mapping", port({"    police: { egress: 1mbit }"}), 8,
     "police.egress: expected a mapping like { rate: 100mbit, burst: 256kb }, got '1mbit'"},
    {"police_dir_null", port({"    police:", "      egress:"}), 9, "egress: has no value"},
    {"policer_key_typo", port({"    police: { ingress: { rate: 1mbit, burts: 4kb } }"}), 8,
     "unknown key 'burts' in police.ingress; expected one of: rate, burst, pps, pps_burst, exceed, "
     "remark_dscp (did you mean 'burst'?)"},
    {"policer_no_rate", port({"    police:", "      ingress: { burst: 64kb }"}), 9,
     "police.ingress has neither 'rate' nor 'pps'", 16, 2},
    {"policer_burst_needs_rate", port({"    police:", "      ingress: { pps: 100, burst: 64kb }"}), 9,
     "burst needs 'rate'", 28},
    {"policer_pps_burst_needs_pps", port({"    police:", "      egress: { rate: 1mbit, pps_burst: 4 }"}), 9,
     "pps_burst needs 'pps'", 30},
    {"policer_remark_dscp_alone", port({"    police:", "      egress: { rate: 1mbit, remark_dscp: ef }"}), 9,
     "remark_dscp applies only with exceed: remark", 30},
    {"policer_remark_dscp_with_drop", port({"    police: { egress: { rate: 1mbit, exceed: drop, remark_dscp: 8 } }"}),
     8, "remark_dscp applies only with exceed: remark"},
    {"policer_remark_needs_dscp", port({"    police:", "      egress: { rate: 1mbit, exceed: remark }"}), 9,
     "exceed: remark needs remark_dscp", 30},
    {"policer_exceed_bad", port({"    police: { egress: { rate: 1mbit, exceed: shape } }"}), 8,
     "exceed: 'shape' is not an exceed action; expected drop or remark"},
    {"policer_remark_dscp_bad", port({"    police: { egress: { rate: 1mbit, exceed: remark, remark_dscp: 64 } }"}),
     8, "remark_dscp: DSCP 64 is out of range"},
    {"rate_unit", port({"    police:", "      ingress: { rate: 100mb/s }"}), 9,
     "rate: '100mb/s' has an unknown unit 'mb/s'", 24},
    {"rate_zero", port({"    police: { ingress: { rate: 0 } }"}), 8, "rate: '0' is zero"},
    {"rate_too_high", port({"    police: { ingress: { rate: 401gbit } }"}), 8,
     "rate: 401gbit is out of range; allowed: 1bit..400gbit"},
    {"rate_negative", port({"    police: { ingress: { rate: -1mbit } }"}), 8, "rate: '-1mbit' is negative"},
    {"rate_list", port({"    police: { ingress: { rate: [1] } }"}), 8, "rate: expected a string, got a list"},
    {"burst_too_small", port({"    police: { ingress: { rate: 1mbit, burst: 63 } }"}), 8,
     "burst: 63 is out of range; allowed: 64b..1gb"},
    {"burst_too_large", port({"    police: { ingress: { rate: 1mbit, burst: 2gb } }"}), 8,
     "burst: 2gb is out of range"},
    {"burst_bits", port({"    police: { ingress: { rate: 1mbit, burst: 64kbit } }"}), 8,
     "'kbit' is a rate; a size is in bytes"},
    {"pps_zero", port({"    police: { ingress: { pps: 0 } }"}), 8, "pps: '0' is zero"},
    {"pps_too_high", port({"    police: { ingress: { pps: 1001mpps } }"}), 8,
     "pps: 1001mpps is out of range; allowed: 1..1000000000"},
    {"pps_burst_zero", port({"    police: { ingress: { pps: 10, pps_burst: 0 } }"}), 8,
     "pps_burst: 0 is out of range; allowed: 1..1000000000"},
    {"pps_burst_text", port({"    police: { ingress: { pps: 10, pps_burst: 1k } }"}), 8,
     "pps_burst: expected an integer"},
    // --- dscp
    {"dscp_range", port({"    dscp: 64"}), 8, "dscp: DSCP 64 is out of range; allowed: 0..63", 11},
    {"dscp_name", port({"    dscp: af44"}), 8, "dscp: 'af44' is not a DSCP name"},
    {"dscp_null", port({"    dscp:"}), 8, "dscp: has no value"},
    // --- security
    {"security_null", port({"    security:"}), 8, "security: has no value; list macs and/or ips, or write security: {}"},
    {"security_list", port({"    security: [a]"}), 8, "security: expected a mapping"},
    {"security_key_typo", port({"    security: { mac: [] }"}), 8,
     "unknown key 'mac' in security; expected one of: macs, ips (did you mean 'macs'?)"},
    {"security_macs_scalar", port({"    security: { macs: 52:54:00:00:00:01 }"}), 8, "macs: expected a list"},
    {"security_bad_mac", port({"    security:", "      macs: [\"52:54:00:00:00\"]"}), 9,
     "macs: '52:54:00:00:00' is not a MAC address", 14},
    {"security_multicast_mac", port({"    security: { macs: [\"01:00:5e:00:00:01\"] }"}), 8,
     "macs: 01:00:5e:00:00:01 is a multicast address"},
    {"security_zero_mac", port({"    security: { macs: [\"00:00:00:00:00:00\"] }"}), 8,
     "macs: 00:00:00:00:00:00 is not a usable address"},
    {"security_dup_mac",
     port({"    security:", "      macs:", "        - 52:54:00:00:00:01", "        - 52-54-00-00-00-01"}), 11,
     "macs: 52:54:00:00:00:01 is listed twice (first at line 10)", 11},
    {"security_host_bits", port({"    security:", "      ips: [10.0.10.11/24]"}), 9,
     "ips: '10.0.10.11/24' has host bits set: the prefix is 10.0.10.0/24", 13},
    {"security_bad_ip", port({"    security: { ips: [10.0.10] }"}), 8, "ips: '10.0.10' is not an IPv4 or IPv6 address"},
    {"security_ip_list_item", port({"    security: { ips: [[10.0.0.1]] }"}), 8,
     "ips: expected an address or prefix, got a list"},
    {"security_dup_ip", port({"    security:", "      ips: [\"fd00::1\", \"fd00:0::1/128\"]"}), 9,
     "ips: fd00::1 is listed twice (first at line 9)"},
    // --- limits
    {"limits_not_list", top({"limits: { src: 10.0.0.0/8 }"}), 5, "limits: expected a list"},
    {"limit_not_mapping", top({"limits:", "  - 10.0.0.0/8"}), 6, "limit 1: expected a mapping", 5},
    {"limit_no_match", top({"limits:", "  - { rate: 1mbit }"}), 6, "limit 1 has no 'match'", 5},
    {"limit_no_rate", top({"limits:", "  - { match: { src: 10.0.0.0/8 } }"}), 6,
     "limit 1 has neither 'rate' nor 'pps'"},
    {"limit_match_dst", top({"limits:", "  - { match: { dst: 10.0.0.0/8 }, rate: 1mbit }"}), 6,
     "unknown key 'dst' in limit match (only src is supported); expected one of: src", 16},
    {"limit_match_empty", top({"limits:", "  - { match: {}, rate: 1mbit }"}), 6, "match: has no 'src'"},
    {"limit_match_scalar", top({"limits:", "  - { match: 10.0.0.0/8, rate: 1mbit }"}), 6,
     "match: expected a mapping like { src: 10.0.30.0/24 }"},
    {"limit_src_bad", top({"limits:", "  - { match: { src: 10.0.0.1/8 }, rate: 1mbit }"}), 6,
     "match.src: '10.0.0.1/8' has host bits set", 21},
    {"limit_per", top({"limits:", "  - { match: { src: 10.0.0.0/8 }, per: dst_ip, rate: 1mbit }"}), 6,
     "per: 'dst_ip' is not supported; a limit keeps one bucket per source address (src_ip)"},
    {"limit_dup",
     top({"limits:", "  - { match: { src: 10.0.0.0/8 }, rate: 1mbit }", "  - { match: { src: 10.0.0.0/8 }, pps: 5 }"}),
     7, "match.src: 10.0.0.0/8 already has a limit (line 6)"},
    {"limit_rate_bad", top({"limits:", "  - { match: { src: 10.0.0.0/8 }, rate: 1mbps/s }"}), 6,
     "rate: '1mbps/s' has an unknown unit"},
    {"limit_key_typo", top({"limits:", "  - { match: { src: 10.0.0.0/8 }, rate: 1mbit, brust: 4kb }"}), 6,
     "unknown key 'brust' in limit; expected one of: match, per, rate, burst, pps, pps_burst, exceed, "
     "remark_dscp (did you mean 'burst'?)"},
    {"limit_remark_needs_dscp", top({"limits:", "  - { match: { src: 10.0.0.0/8 }, pps: 5, exceed: remark }"}), 6,
     "exceed: remark needs remark_dscp"},
    // --- acl
    {"acl_not_mapping", top({"acl: [1]"}), 5, "acl: expected a mapping"},
    {"acl_key_typo", top({"acl:", "  rule: []"}), 6,
     "unknown key 'rule' in acl; expected one of: default, rules, timeouts, max_connections (did you mean 'rules'?)"},
    {"acl_default", top({"acl: { default: reject }"}), 5, "default: 'reject' is not an ACL action; expected allow or deny"},
    {"acl_max_connections", top({"acl:", "  max_connections: 16777217"}), 6,
     "max_connections: 16777217 is out of range; allowed: 1..16777216"},
    {"acl_timeouts_key", top({"acl:", "  timeouts: { udpp: 5s }"}), 6, "unknown key 'udpp' in timeouts"},
    {"acl_timeouts_range", top({"acl:", "  timeouts: { tcp_syn: 8d }"}), 6, "timeouts.tcp_syn: 8d is out of range"},
    {"acl_rules_scalar", top({"acl: { rules: deny }"}), 5, "rules: expected a list"},
    {"rule_not_mapping", rules({"    - deny"}), 7, "acl rule 1: expected a mapping", 7},
    {"rule_no_action", rules({"    - { proto: tcp }"}), 7, "acl rule 1 has no 'action'; set it to allow or deny", 7},
    {"rule_bad_action", rules({"    - { action: drop }"}), 7, "action: 'drop' is not an ACL action"},
    {"rule_key_typo", rules({"    - { action: deny, in_prot: vm1 }"}), 7,
     "unknown key 'in_prot' in acl rule; expected one of: action, proto, in_port"},
    {"rule_bad_proto", rules({"    - { action: deny, proto: sctpx }"}), 7,
     "proto: 'sctpx' is not a protocol; expected tcp, udp, icmp, icmpv6, any or a protocol number 0..255", 30},
    {"rule_proto_256", rules({"    - { action: deny, proto: 256 }"}), 7, "proto: '256' is not a protocol"},
    {"rule_proto_upper", rules({"    - { action: deny, proto: TCP }"}), 7, "proto: 'TCP' is not a protocol"},
    {"rule_in_port", rules({"    - { action: deny, in_port: vm9 }"}), 7, "in_port: 'vm9' is not a port of this policy", 32},
    {"rule_from_vlan", rules({"    - { action: deny, from_vlan: 4095 }"}), 7, "from_vlan: VLAN 4095 is reserved"},
    {"rule_to_vlan_zero", rules({"    - { action: deny, to_vlan: 0 }"}), 7, "to_vlan: VLAN 0 is reserved"},
    {"rule_from_bad", rules({"    - { action: deny, from: 10.0.0.0/33 }"}), 7, "from: '10.0.0.0/33': the prefix length"},
    {"rule_to_host_bits", rules({"    - { action: deny, to: \"fd00::1/64\" }"}), 7, "to: 'fd00::1/64' has host bits set"},
    {"rule_family_mismatch", rules({"    - { action: deny, from: 10.0.0.0/8, to: \"fd00::/8\" }"}), 7,
     "to: fd00::/8 is IPv6 but from (10.0.0.0/8) is IPv4; a rule matches one address family", 45},
    {"rule_icmp_v6", rules({"    - { action: deny, proto: icmp, to: \"fd00::/8\" }"}), 7,
     "proto: icmp is IPv4 only, but to is an IPv6 prefix (fd00::/8); use icmpv6", 30},
    {"rule_icmpv6_v4", rules({"    - { action: deny, proto: icmpv6, from: 10.0.0.0/8 }"}), 7,
     "proto: icmpv6 is IPv6 only, but from is an IPv4 prefix (10.0.0.0/8); use icmp"},
    {"rule_port_without_proto", rules({"    - { action: deny, dst_port: 22 }"}), 7,
     "dst_port needs proto tcp or udp", 23},
    {"rule_port_with_icmp", rules({"    - { action: deny, proto: icmp, src_port: 22 }"}), 7,
     "src_port needs proto tcp or udp (proto icmp has no ports)"},
    {"rule_port_with_any", rules({"    - { action: deny, proto: any, dst_port: 22 }"}), 7, "dst_port needs proto tcp or udp"},
    {"rule_port_range_reversed", rules({"    - { action: deny, proto: tcp, dst_port: 200-100 }"}), 7,
     "dst_port: range 200-100 is reversed", 45},
    {"rule_port_range_high", rules({"    - { action: deny, proto: tcp, dst_port: 1-65536 }"}), 7,
     "dst_port: port 65536 is out of range; allowed: 0..65535"},
    {"rule_port_garbage", rules({"    - { action: deny, proto: udp, src_port: http }"}), 7,
     "src_port: 'http' is not a port or a port range; write 443 or 1024-65535"},
    {"rule_port_open_range", rules({"    - { action: deny, proto: udp, src_port: 1024- }"}), 7,
     "is not a port or a port range"},
    {"rule_stateful_deny", rules({"    - { action: deny, proto: tcp, stateful: true }"}), 7,
     "stateful applies only to allow rules", 35},
    {"rule_stateful_bad", rules({"    - { action: allow, stateful: yes }"}), 7, "stateful: expected true or false"},
    // --- several problems in one pass, in file order
    {"all_collected",
     port({"    dscp: 99", "    police: { ingress: { rate: 1xbit } }", "limits:", "  - { match: { src: x }, rate: 1mbit }",
           "acl:", "  rules:", "    - { action: maybe }"}),
     14, "action: 'maybe'", 0, 4},
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(All, QosError, testing::ValuesIn(kQosErrors));

TEST(QosPolicy, TooManyRules) {
    std::string text = top({"acl:", "  rules:"});
    text.reserve(XDPNET_ACL_MAX_RULES * 24);
    for (int i = 0; i <= XDPNET_ACL_MAX_RULES; i++)
        text += "    - { action: deny }\n";
    const auto d = rejects(text);
    ASSERT_EQ(d.size(), 1u) << d[0].str();
    EXPECT_EQ(d[0].loc.line, 7 + XDPNET_ACL_MAX_RULES);
    EXPECT_HAS(d[0].reason, "rules: 65537 rules listed; at most 65536 are allowed");
}

// ================================================================ compile_policer

TEST(CompilePolicer, ExactArithmetic) {
    PolicerSpec s;
    s.rate_bps = 100000000; // 100mbit
    s.burst_bytes = 262144;  // 256kb
    const xdpnet_policer p = compile_policer(s);
    EXPECT_EQ(p.bits.rate, 100000000u);
    EXPECT_EQ(p.bits.depth, 262144ull * 8 * 1000000000ull);
    EXPECT_EQ(p.bits.fill_ns, 20971520u); // 256 KiB at 12.5 MB/s: 20.97152 ms, exact
    EXPECT_EQ(p.packets.rate, 0u);
    EXPECT_EQ(p.packets.depth, 0u);
    EXPECT_EQ(p.packets.fill_ns, 0u);
    EXPECT_EQ(p.exceed, XDPNET_EXCEED_DROP);
    EXPECT_EQ(p.remark_dscp, 0);
    EXPECT_EQ(p.full_s, 1u); // 21 ms, rounded up to a second
}

TEST(CompilePolicer, FillRoundsUp) {
    PolicerSpec s;
    s.rate_bps = 3;
    s.burst_bytes = 64; // 512 bits at 3 bit/s: 170.666... s
    s.pps = 3;
    s.burst_packets = 2; // 0.666... s
    s.remark = true;
    s.remark_dscp = 8;
    const xdpnet_policer p = compile_policer(s);
    EXPECT_EQ(p.bits.depth, 64 * XDPNET_BIT_COST);
    EXPECT_EQ(p.bits.fill_ns, 170666666667u);
    EXPECT_EQ(p.packets.rate, 3u);
    EXPECT_EQ(p.packets.depth, 2 * XDPNET_TOKEN_SCALE);
    EXPECT_EQ(p.packets.fill_ns, 666666667u);
    EXPECT_EQ(p.exceed, XDPNET_EXCEED_REMARK);
    EXPECT_EQ(p.remark_dscp, 8);
    EXPECT_EQ(p.pad, 0);
    EXPECT_EQ(p.full_s, 171u); // the slower bucket: 170.67 s, rounded up
}

TEST(CompilePolicer, LargestValuesDoNotOverflow) {
    PolicerSpec s;
    s.rate_bps = 400000000000ull; // 400gbit
    s.burst_bytes = 1ull << 30;   // 1gb
    s.pps = 1000000000;
    s.burst_packets = 1000000000;
    const xdpnet_policer p = compile_policer(s);
    EXPECT_EQ(p.bits.depth, (1ull << 30) * XDPNET_BIT_COST);
    EXPECT_EQ(p.bits.fill_ns, 21474837u); // 8589934592e9 / 4e11 = 21474836.48 -> up
    EXPECT_EQ(p.packets.depth, 1000000000ull * XDPNET_TOKEN_SCALE);
    EXPECT_EQ(p.packets.fill_ns, 1000000000u); // a full second
    EXPECT_EQ(p.full_s, 1u);
}

TEST(CompilePolicer, FromParsedPolicy) {
    const PortSpec s = vm3(port({"    police: { egress: { rate: 8mbit } }"}));
    const xdpnet_policer p = compile_policer(*s.police_egress);
    EXPECT_EQ(p.bits.depth, 10000ull * XDPNET_BIT_COST); // 10 ms of 1 MB/s
    EXPECT_EQ(p.bits.fill_ns, 10000000u);                // 10 ms
}

// ================================================================ compile_acl

/// A rule built in code; the parser's checks do not apply.
AclRuleSpec rule(bool allow, int line) {
    AclRuleSpec r;
    r.allow = allow;
    r.loc = SourceLoc{"t.yaml", line, 7};
    return r;
}

AclSpec acl_of(std::vector<AclRuleSpec> rs) {
    AclSpec a;
    a.present = true;
    a.loc = SourceLoc{"t.yaml", 3, 1};
    a.rules = std::move(rs);
    return a;
}

uint16_t be(uint16_t host) { return htons(host); }

/// The two bytes of a __be16 as they lie in memory.
std::array<uint8_t, 2> wire(uint16_t be16) {
    std::array<uint8_t, 2> b;
    std::memcpy(b.data(), &be16, 2);
    return b;
}

std::string acl_error(const AclSpec& a) {
    try {
        compile_acl(a, {});
    } catch (const PolicyError& e) {
        EXPECT_EQ(e.diagnostics().size(), 1u);
        return e.what();
    }
    ADD_FAILURE() << "compiled";
    return "";
}

TEST(PortPrefixes, ExactSplits) {
    using V = std::vector<std::pair<uint16_t, uint16_t>>;
    EXPECT_EQ(port_range_prefixes(0, 65535), (V{{0, 0}}));
    EXPECT_EQ(port_range_prefixes(80, 80), (V{{80, 0xffff}}));
    EXPECT_EQ(port_range_prefixes(0, 0), (V{{0, 0xffff}}));
    EXPECT_EQ(port_range_prefixes(65535, 65535), (V{{65535, 0xffff}}));
    EXPECT_EQ(port_range_prefixes(1024, 65535),
              (V{{1024, 0xfc00}, {2048, 0xf800}, {4096, 0xf000}, {8192, 0xe000}, {16384, 0xc000}, {32768, 0x8000}}));
    EXPECT_EQ(port_range_prefixes(0, 1023), (V{{0, 0xfc00}}));
    EXPECT_EQ(port_range_prefixes(32768, 65535), (V{{32768, 0x8000}}));
    EXPECT_EQ(port_range_prefixes(8000, 8080),
              (V{{8000, 0xffc0}, {8064, 0xfff0}, {8080, 0xffff}}));
    EXPECT_EQ(port_range_prefixes(1, 65535).size(), 16u);
    EXPECT_EQ(port_range_prefixes(1, 65534).size(), 30u); // the worst case
}

TEST(PortPrefixes, UnionIsExactlyTheRangeAndMinimal) {
    const std::pair<uint16_t, uint16_t> ranges[] = {{0, 65535}, {1, 65534}, {1024, 65535}, {53, 53},
                                                    {1000, 1999}, {3, 12},   {49152, 65535}, {0, 1},
                                                    {65534, 65535}, {12345, 54321}};
    for (const auto& [lo, hi] : ranges) {
        const auto prefixes = port_range_prefixes(lo, hi);
        std::vector<int> hits(65536, 0);
        for (const auto& [value, mask] : prefixes) {
            ASSERT_EQ(value & ~mask & 0xffff, 0) << "unaligned prefix " << value << "/" << mask;
            // The mask is a prefix: leading ones, then zeros.
            const uint16_t inv = static_cast<uint16_t>(~mask);
            ASSERT_EQ(inv & (inv + 1) & 0xffff, 0) << "not a prefix mask " << mask;
            for (uint32_t p = 0; p < 65536; p++)
                if ((p & mask) == value)
                    hits[p]++;
        }
        for (uint32_t p = 0; p < 65536; p++)
            ASSERT_EQ(hits[p], (p >= lo && p <= hi) ? 1 : 0) << "port " << p << " in " << lo << "-" << hi;
        // Minimal: no two neighbours could merge into one aligned prefix.
        for (size_t i = 1; i < prefixes.size(); i++) {
            const auto [va, ma] = prefixes[i - 1];
            const auto [vb, mb] = prefixes[i];
            const bool mergeable = ma == mb && ((va ^ vb) == (static_cast<uint16_t>(~ma) + 1)) &&
                                   (va & ((static_cast<uint16_t>(~ma) + 1) * 2 - 1)) == 0;
            EXPECT_FALSE(mergeable) << lo << "-" << hi << " at " << i;
        }
    }
}

TEST(CompileAcl, MaskAndKeyBytes) {
    AclRuleSpec r = rule(true, 10);
    r.proto = 6;
    r.family = 4;
    r.in_port = "vm1";
    r.from_vlan = 100;
    r.to_vlan = 200;
    r.from = parse_ip_prefix("10.0.10.0/23");
    r.dport_lo = r.dport_hi = 443;
    r.stateful = true;
    const AclImage img = compile_acl(acl_of({r}), {{"vm1", 7}});
    ASSERT_EQ(img.shapes.size(), 1u);
    ASSERT_EQ(img.entries.size(), 1u);

    const xdpnet_acl_key& m = img.shapes[0].mask;
    EXPECT_EQ(m.shape, 0);
    EXPECT_EQ(m.family, 0xff);
    EXPECT_EQ(m.proto, 0xff);
    EXPECT_EQ(m.pad, 0);
    EXPECT_EQ(m.in_slot, 0xffff);
    EXPECT_EQ(m.from_vlan, 0xffff);
    EXPECT_EQ(m.to_vlan, 0xffff);
    EXPECT_EQ(m.sport, 0);
    EXPECT_EQ(m.dport, 0xffff);
    EXPECT_EQ(m.pad2, 0);
    EXPECT_EQ(std::vector<uint8_t>(m.src, m.src + 16), std::vector<uint8_t>({0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(std::vector<uint8_t>(m.dst, m.dst + 16), std::vector<uint8_t>(16, 0));
    EXPECT_EQ(img.shapes[0].best, 0u);
    EXPECT_EQ(img.shapes[0].pad, 0u);

    const auto& [k, v] = img.entries[0];
    EXPECT_EQ(k.shape, 0);
    EXPECT_EQ(k.family, 4);
    EXPECT_EQ(k.proto, 6);
    EXPECT_EQ(k.in_slot, 7);
    EXPECT_EQ(k.from_vlan, 100); // host order
    EXPECT_EQ(k.to_vlan, 200);
    EXPECT_EQ(k.sport, 0);
    EXPECT_EQ(wire(k.dport), (std::array<uint8_t, 2>{0x01, 0xbb})); // 443, network order
    EXPECT_EQ(std::vector<uint8_t>(k.src, k.src + 4), std::vector<uint8_t>({10, 0, 10, 0}));
    EXPECT_EQ(v.rule, 0u);
    EXPECT_EQ(v.action, XDPNET_ACL_ALLOW);
    EXPECT_EQ(v.flags, XDPNET_ACL_STATEFUL);
    EXPECT_EQ(v.pad, 0);

    EXPECT_EQ(img.config.shapes, 1u);
    EXPECT_EQ(img.config.default_action, XDPNET_ACL_ALLOW);
    EXPECT_EQ(img.config.stateful, 1);
}

TEST(CompileAcl, PortPrefixesInNetworkOrder) {
    AclRuleSpec r = rule(false, 1);
    r.proto = 17;
    r.family = 6;
    r.sport_lo = 1024;
    r.sport_hi = 65535;
    r.dport_lo = r.dport_hi = 53;
    const AclImage img = compile_acl(acl_of({r}), {});
    ASSERT_EQ(img.shapes.size(), 6u); // one per source port prefix
    ASSERT_EQ(img.entries.size(), 6u);
    const uint16_t masks[] = {0xfc00, 0xf800, 0xf000, 0xe000, 0xc000, 0x8000};
    const uint16_t values[] = {1024, 2048, 4096, 8192, 16384, 32768};
    for (size_t i = 0; i < 6; i++) {
        EXPECT_EQ(img.shapes[i].mask.sport, be(masks[i])) << i;
        EXPECT_EQ(wire(img.shapes[i].mask.dport), (std::array<uint8_t, 2>{0xff, 0xff}));
        EXPECT_EQ(img.shapes[i].best, 0u);
        const auto& k = img.entries[i].first;
        EXPECT_EQ(k.shape, i);
        EXPECT_EQ(k.sport, be(values[i]));
        EXPECT_EQ(wire(k.dport), (std::array<uint8_t, 2>{0x00, 53}));
        EXPECT_EQ(k.family, 6);
    }
    // 0xfc00 in memory: fc first.
    EXPECT_EQ(wire(img.shapes[0].mask.sport), (std::array<uint8_t, 2>{0xfc, 0x00}));
}

TEST(CompileAcl, FamilyExpansion) {
    AclRuleSpec both = rule(false, 1);
    both.proto = 6; // no prefix: IPv4 and IPv6
    AclRuleSpec icmp = rule(false, 2);
    icmp.proto = 1; // family left 0 on purpose: compile_acl still knows ICMP is IPv4
    AclRuleSpec icmp6 = rule(false, 3);
    icmp6.proto = 58;
    AclRuleSpec v6 = rule(false, 4);
    v6.to = parse_ip_prefix("fd00::/16"); // family left 0: taken from the prefix
    const AclImage img = compile_acl(acl_of({both, icmp, icmp6, v6}), {});
    std::vector<std::pair<uint32_t, int>> got; // (rule, family)
    for (const auto& [k, v] : img.entries)
        got.emplace_back(v.rule, k.family);
    EXPECT_EQ(got, (std::vector<std::pair<uint32_t, int>>{{0, 4}, {0, 6}, {1, 4}, {2, 6}, {3, 6}}));
    // Same fields, so one shape for the first three; the prefix makes a second.
    EXPECT_EQ(img.shapes.size(), 2u);
    const auto& k = img.entries[4].first;
    EXPECT_EQ(k.dst[0], 0xfd);
    EXPECT_EQ(k.dst[1], 0x00);
    EXPECT_EQ(img.shapes[1].mask.dst[1], 0xff);
    EXPECT_EQ(img.shapes[1].mask.dst[2], 0x00);
}

TEST(CompileAcl, ShapesOrderedByBestRule) {
    AclRuleSpec a = rule(false, 1); // shape A: /8 destinations
    a.to = parse_ip_prefix("10.0.0.0/8");
    AclRuleSpec b = rule(true, 2); // shape B: tcp + dport
    b.proto = 6;
    b.dport_lo = b.dport_hi = 80;
    AclRuleSpec c = rule(false, 3); // shape C: /16
    c.to = parse_ip_prefix("10.1.0.0/16");
    AclRuleSpec d = rule(true, 4); // shape A again
    d.to = parse_ip_prefix("11.0.0.0/8");
    const AclImage img = compile_acl(acl_of({a, b, c, d}), {});
    ASSERT_EQ(img.shapes.size(), 3u);
    EXPECT_EQ(img.shapes[0].best, 0u);
    EXPECT_EQ(img.shapes[0].mask.dst[0], 0xff);
    EXPECT_EQ(img.shapes[0].mask.dst[1], 0x00);
    EXPECT_EQ(img.shapes[1].best, 1u);
    EXPECT_EQ(img.shapes[1].mask.proto, 0xff);
    EXPECT_EQ(img.shapes[2].best, 2u);
    EXPECT_EQ(img.shapes[2].mask.dst[1], 0xff);
    std::vector<std::pair<uint32_t, int>> got; // (rule, shape)
    for (const auto& [k, v] : img.entries)
        got.emplace_back(v.rule, k.shape);
    EXPECT_EQ(got, (std::vector<std::pair<uint32_t, int>>{{0, 0}, {1, 1}, {1, 1}, {2, 2}, {3, 0}}));
    EXPECT_EQ(img.config.shapes, 3u);
    EXPECT_EQ(img.config.stateful, 0);
}

TEST(CompileAcl, FirstMatchWinsOnDuplicateKeys) {
    AclRuleSpec deny = rule(false, 1);
    deny.proto = 6;
    deny.family = 4;
    deny.to = parse_ip_prefix("0.0.0.0/0"); // mask 0: same key as "tcp, IPv4"
    AclRuleSpec allow = rule(true, 2);
    allow.proto = 6; // IPv4 and IPv6: the IPv4 entry is rule 0's already
    AclRuleSpec again = rule(true, 3);
    again.proto = 6;
    again.family = 6; // all taken
    const AclImage img = compile_acl(acl_of({deny, allow, again}), {});
    ASSERT_EQ(img.entries.size(), 2u);
    EXPECT_EQ(img.entries[0].first.family, 4);
    EXPECT_EQ(img.entries[0].second.rule, 0u);
    EXPECT_EQ(img.entries[0].second.action, XDPNET_ACL_DENY);
    EXPECT_EQ(img.entries[1].first.family, 6);
    EXPECT_EQ(img.entries[1].second.rule, 1u);
    EXPECT_EQ(img.entries[1].second.action, XDPNET_ACL_ALLOW);
    ASSERT_EQ(img.shapes.size(), 1u);
    EXPECT_EQ(img.shapes[0].best, 0u);
}

TEST(CompileAcl, ConfigFromSpec) {
    AclSpec a = acl_of({rule(true, 1)});
    a.default_allow = false;
    a.timeouts.udp_ns = 30 * kS;
    a.timeouts.tcp_closing_ns = 1500000000; // 1.5 s: whole seconds, down
    const AclImage img = compile_acl(a, {});
    EXPECT_EQ(img.config.default_action, XDPNET_ACL_DENY);
    EXPECT_EQ(img.config.stateful, 0);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_TCP_SYN], 60u);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_TCP_EST], 7200u);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_TCP_CLOSING], 1u);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_UDP], 30u);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_ICMP], 60u);
    EXPECT_EQ(img.config.pad, 0);
    EXPECT_EQ(img.config.pad2, 0u);
    // A rule with nothing set: one entry per family, shape of family only.
    ASSERT_EQ(img.entries.size(), 2u);
    EXPECT_EQ(img.shapes[0].mask.family, 0xff);
    EXPECT_EQ(img.shapes[0].mask.proto, 0);
}

TEST(CompileAcl, AbsentAclIsEmpty) {
    const AclImage img = compile_acl(AclSpec{}, {});
    EXPECT_EQ(img.config.shapes, 0u);
    EXPECT_EQ(img.config.default_action, 0);
    EXPECT_TRUE(img.shapes.empty());
    EXPECT_TRUE(img.entries.empty());
    // Present without rules: the default alone.
    AclSpec deny_all = acl_of({});
    deny_all.default_allow = false;
    const AclImage d = compile_acl(deny_all, {});
    EXPECT_EQ(d.config.shapes, 0u);
    EXPECT_EQ(d.config.default_action, XDPNET_ACL_DENY);
}

TEST(CompileAcl, FromParsedPolicy) {
    const Policy p = load_policy_file(kDir + "/qos.yaml");
    const AclImage img = compile_acl(p.acl, {{"vm1", 3}, {"vm2", 4}, {"up0", 5}});
    // icmp/vlan/dst (1) + tcp/vlans/dport (1) + vlans (1) + udp/in_port/sport x6 prefixes/dport/src (6)
    EXPECT_EQ(img.shapes.size(), 9u);
    EXPECT_EQ(img.entries.size(), 1u + 2u + 2u + 6u);
    EXPECT_EQ(img.config.stateful, 1);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_UDP], 30u);
    EXPECT_EQ(img.config.timeout_s[XDPNET_TO_TCP_EST], 3600u);
    for (const auto& [k, v] : img.entries) {
        if (v.rule == 3) {
            EXPECT_EQ(k.in_slot, 3);
        }
    }
    // Search order follows the rules.
    for (size_t i = 1; i < img.shapes.size(); i++)
        EXPECT_LE(img.shapes[i - 1].best, img.shapes[i].best);
}

TEST(CompileAcl, UnknownInPort) {
    AclRuleSpec r = rule(false, 9);
    r.in_port = "ghost";
    const std::string what = acl_error(acl_of({r}));
    EXPECT_HAS(what, "t.yaml:9:7: in_port: 'ghost'");
}

TEST(CompileAcl, ShapeLimit) {
    // 32 prefix lengths (/1../32) are 32 shapes: the limit, accepted.
    std::vector<AclRuleSpec> rs;
    for (int len = 1; len <= 32; len++) {
        AclRuleSpec r = rule(false, 10 + len);
        r.to = parse_ip_prefix("0.0.0.0/" + std::to_string(len));
        rs.push_back(r);
    }
    EXPECT_EQ(compile_acl(acl_of(rs), {}).shapes.size(), 32u);
    // One more length-free rule of another field set is the 33rd.
    AclRuleSpec extra = rule(false, 50);
    extra.from_vlan = 10;
    rs.push_back(extra);
    const std::string what = acl_error(acl_of(rs));
    EXPECT_HAS(what, "t.yaml:3:1: acl: the rules need 33 shapes; the datapath searches at most 32");
    EXPECT_HAS(what, "rule 33 (line 50) is the first to need shape 33");
    EXPECT_HAS(what, "port range is split into aligned prefixes");
    EXPECT_HAS(what, "different prefix length");
}

TEST(CompileAcl, ShapeLimitFromPortRanges) {
    AclRuleSpec r = rule(true, 5);
    r.proto = 6;
    r.sport_lo = 1;
    r.sport_hi = 65534; // 30 prefixes of 15 lengths (/2../16, each twice)
    r.dport_lo = 1;
    r.dport_hi = 3; // 1/16 and 2/15: 2 lengths, 30 shapes: fits
    EXPECT_EQ(compile_acl(acl_of({r}), {}).shapes.size(), 30u);
    r.dport_hi = 7; // and 4/14: 45 shapes
    EXPECT_HAS(acl_error(acl_of({r})), "the rules need 45 shapes");
}

TEST(CompileAcl, EntryLimit) {
    // 30 x 30 port prefixes x 2 families = 1800 entries per rule.
    AclRuleSpec r = rule(true, 5);
    r.proto = 6;
    r.sport_lo = r.dport_lo = 1;
    r.sport_hi = r.dport_hi = 65534;
    EXPECT_HAS(acl_error(acl_of({r})), "the rules need 225 shapes"); // 1800 entries are fine
    std::vector<AclRuleSpec> rs(2300, r); // 4,140,000 entries
    EXPECT_HAS(acl_error(acl_of(rs)), "acl: the rules expand into 4140000 entries; at most 4000000");
}

TEST(CompileAcl, RuleLimit) {
    std::vector<AclRuleSpec> rs(XDPNET_ACL_MAX_RULES + 1, rule(false, 1));
    EXPECT_HAS(acl_error(acl_of(rs)), "acl: 65537 rules; at most 65536");
}

TEST(CompileAcl, TenThousandRules) {
    // 10,000 host rules of two kinds: TCP/22 to a host (IPv4 only: the
    // prefix) and UDP/53 from a host: two shapes whatever the count.
    std::vector<AclRuleSpec> rs;
    for (int i = 0; i < 10000; i++) {
        AclRuleSpec r = rule(i % 3 == 0, i + 1);
        const std::string host = "10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
                                 std::to_string(i % 256);
        if (i % 2) {
            r.proto = 6;
            r.dport_lo = r.dport_hi = 22;
            r.to = parse_ip_prefix(host);
        } else {
            r.proto = 17;
            r.dport_lo = r.dport_hi = 53;
            r.from = parse_ip_prefix(host);
        }
        r.family = 4;
        rs.push_back(r);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const AclImage img = compile_acl(acl_of(rs), {});
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(img.shapes.size(), 2u);
    EXPECT_EQ(img.entries.size(), 10000u);
    EXPECT_EQ(img.shapes[0].best, 0u);
    EXPECT_EQ(img.shapes[1].best, 1u);
    std::set<uint32_t> seen;
    for (const auto& [k, v] : img.entries)
        seen.insert(v.rule);
    EXPECT_EQ(seen.size(), 10000u);
    EXPECT_LT(ms, 5000) << ms << " ms";
    std::printf("compile of 10000 rules: %lld ms\n", static_cast<long long>(ms));
}

} // namespace
} // namespace xdpnet::policy
