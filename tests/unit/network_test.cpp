// networks: the gateway addresses xdpnet serves on VLANs (parse, validate, compile).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "policy/policy.h"

namespace xdpnet::policy {
namespace {

const std::string kPorts = R"(instance: lab
ports:
  - { name: vm1, mode: access, vlan: 10 }
  - { name: vm3, mode: access, vlan: 20 }
  - { name: up0, mode: trunk, vlans: [10, 20, 30], native_vlan: 1 }
)";

Policy parse(const std::string& networks) { return parse_policy(kPorts + networks, "n.yaml"); }

/// The single diagnostic a policy produces (fails the test otherwise).
Diagnostic only_error(const std::string& networks) {
    try {
        parse(networks);
    } catch (const PolicyError& e) {
        EXPECT_EQ(e.diagnostics().size(), 1u) << e.what();
        return e.diagnostics().at(0);
    }
    ADD_FAILURE() << "policy accepted:\n" << networks;
    return {};
}

TEST(Networks, Parsed) {
    Policy p = parse("networks:\n"
                     "  - { name: vms10, vlan: 10, gateway: 10.0.10.254/24 }\n"
                     "  - { name: vms20, vlan: 20, gateway: 10.0.20.1/24 }\n");
    ASSERT_EQ(p.networks.size(), 2u);
    EXPECT_EQ(p.networks[0].name, "vms10");
    EXPECT_EQ(p.networks[0].vlan, 10);
    EXPECT_EQ(p.networks[0].gateway, 0x0a000afeu);
    EXPECT_EQ(p.networks[0].prefix_len, 24);
    EXPECT_EQ(p.networks[0].loc.line, 7);
    EXPECT_EQ(p.networks[1].gateway, 0x0a001401u);
}

TEST(Networks, NoneIsFine) {
    EXPECT_TRUE(parse("").networks.empty());
    EXPECT_TRUE(parse("networks:\n").networks.empty());
}

struct ErrorCase {
    const char* name;
    std::string networks;
    int line;
    int column;
    const char* reason;
};

class NetworkError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(NetworkError, Reported) {
    const ErrorCase& c = GetParam();
    Diagnostic d = only_error(c.networks);
    EXPECT_EQ(d.loc.line, c.line) << d.str();
    EXPECT_EQ(d.loc.column, c.column) << d.str();
    EXPECT_NE(d.reason.find(c.reason), std::string::npos) << d.str();
}

const std::string N = "networks:\n";
INSTANTIATE_TEST_SUITE_P(
    All, NetworkError,
    ::testing::Values(
        ErrorCase{"not_a_list", "networks: 5\n", 6, 11, "expected a list"},
        ErrorCase{"entry_not_a_map", N + "  - vms10\n", 7, 5, "expected a mapping"},
        ErrorCase{"no_name", N + "  - { vlan: 10, gateway: 10.0.10.1/24 }\n", 7, 5, "has no 'name'"},
        ErrorCase{"no_vlan", N + "  - { name: a, gateway: 10.0.10.1/24 }\n", 7, 5, "has no 'vlan'"},
        ErrorCase{"no_gateway", N + "  - { name: a, vlan: 10 }\n", 7, 5, "has no 'gateway'"},
        ErrorCase{"bad_name", N + "  - { name: \"a b\", vlan: 10, gateway: 10.0.10.1/24 }\n", 7, 13,
                  "not a valid network name"},
        ErrorCase{"vlan_not_carried", N + "  - { name: a, vlan: 40, gateway: 10.0.40.1/24 }\n", 7, 22,
                  "no port carries VLAN 40"},
        ErrorCase{"vlan_reserved", N + "  - { name: a, vlan: 4095, gateway: 10.0.40.1/24 }\n", 7, 22,
                  "vlan"},
        ErrorCase{"no_prefix", N + "  - { name: a, vlan: 10, gateway: 10.0.10.1 }\n", 7, 35,
                  "has no prefix length"},
        ErrorCase{"bad_address", N + "  - { name: a, vlan: 10, gateway: 10.0.300.1/24 }\n", 7, 35,
                  "not an IPv4 address"},
        ErrorCase{"prefix_too_long", N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/31 }\n", 7, 35,
                  "/8../30"},
        ErrorCase{"prefix_too_short", N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/7 }\n", 7, 35,
                  "/8../30"},
        ErrorCase{"network_address", N + "  - { name: a, vlan: 10, gateway: 10.0.10.0/24 }\n", 7, 35,
                  "is the network address"},
        ErrorCase{"broadcast_address", N + "  - { name: a, vlan: 10, gateway: 10.0.10.255/24 }\n", 7, 35,
                  "is the broadcast address"},
        ErrorCase{"unknown_key", N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/24, gw: 1 }\n", 7, 49,
                  "unknown key 'gw'"},
        ErrorCase{"uplink_is_a_port", N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/24, uplink: up0 }\n",
                  7, 57, "uplink: 'up0' is also a switch port"},
        ErrorCase{"masquerade_without_uplink",
                  N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/24, masquerade: true }\n", 7, 49,
                  "masquerade needs an uplink"},
        ErrorCase{"duplicate_name",
                  N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/24 }\n"
                      "  - { name: a, vlan: 20, gateway: 10.0.20.1/24 }\n",
                  8, 13, "duplicate network 'a'; first defined at line 7"},
        ErrorCase{"duplicate_vlan",
                  N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/24 }\n"
                      "  - { name: b, vlan: 10, gateway: 10.0.20.1/24 }\n",
                  8, 22, "VLAN 10 already has a network (line 7)"},
        ErrorCase{"overlapping_subnets",
                  N + "  - { name: a, vlan: 10, gateway: 10.0.10.1/16 }\n"
                      "  - { name: b, vlan: 20, gateway: 10.0.20.1/24 }\n",
                  8, 5, "overlaps network 'a' (line 7)"}),
    [](const ::testing::TestParamInfo<ErrorCase>& i) { return std::string(i.param.name); });

TEST(Networks, Cidr) {
    EXPECT_EQ(parse_ipv4_cidr("192.168.1.7/30"), (std::pair<uint32_t, uint8_t>{0xc0a80107u, 30}));
    EXPECT_EQ(parse_ipv4_cidr("0.0.0.0/0").second, 0);
    for (const char* bad : {"1.2.3/8", "1.2.3.4.5/8", "a.b.c.d/8", "1.2.3.4/33", "1.2.3.4/", "/8", "1..3.4/8"})
        EXPECT_THROW(parse_ipv4_cidr(bad), std::invalid_argument) << bad;
    EXPECT_EQ(format_ipv4(0x0a000afeu), "10.0.10.254");
}

TEST(Networks, CompiledGateway) {
    Policy p = parse("networks:\n  - { name: vms10, vlan: 10, gateway: 10.0.10.254/24 }\n");
    std::map<std::string, InterfaceInfo> ifs = {{"vm1", {11, {}}}, {"vm3", {13, {}}}, {"up0", {2, {}}}};
    MapImage img = compile(p, [&](const std::string& n) -> std::optional<InterfaceInfo> {
        auto it = ifs.find(n);
        return it == ifs.end() ? std::nullopt : std::optional(it->second);
    });
    ASSERT_EQ(img.gateways.size(), 1u);
    const xdpnet_gateway& gw = img.gateways.at(10);
    EXPECT_EQ(ntohl(gw.gw_ip), 0x0a000afeu);
    EXPECT_EQ(gw.prefix_len, 24);
    MacAddr want = router_mac("lab", 10);
    EXPECT_EQ(std::memcmp(gw.router_mac, want.data(), 6), 0);
    EXPECT_EQ(gw.pad0, 0);
    EXPECT_EQ(gw.pad1, 0u);
    EXPECT_EQ(img.network_names.at(10), "vms10");
}

TEST(Networks, RouterMacIsLocalUnicastAndPerVlan) {
    MacAddr a = router_mac("lab", 10), b = router_mac("lab", 20), c = router_mac("other", 10);
    EXPECT_EQ(a[0] & 0x03, 0x02) << "locally administered, unicast";
    EXPECT_NE(a, b);
    EXPECT_EQ(a[4], 0);
    EXPECT_EQ(a[5], 10);
    EXPECT_EQ(router_mac("lab", 10), a) << "stable";
    EXPECT_NE(a, c) << "instances differ";
}

} // namespace
} // namespace xdpnet::policy
