// networks: the routing/NAT keys (uplink, masquerade, port_range,
// port_forwards, timeouts, max_connections): defaults, accepted forms and
// every rejection, with the line (and column) of the offending node.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>

#include "policy/policy.h"
#include "policy_helpers.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;
const std::string kDir = XDPNET_TEST_POLICIES;

// Lines 1..5; the first network starts at line 6.
const std::string kBase = yaml({
    "ports:",
    "  - { name: vm1, mode: access, vlan: 30 }",
    "  - { name: vm2, mode: access, vlan: 40 }",
    "  - { name: lan, mode: trunk, vlans: [50] }",
    "networks:",
});

/// natnet (VLAN 30, 10.0.30.1/24, uplink up0) on lines 6..9, then `rest`
/// from line 10.
std::string with_uplink(std::initializer_list<std::string> rest) {
    return kBase + yaml({"  - name: natnet", "    vlan: 30", "    gateway: 10.0.30.1/24", "    uplink: up0"}) +
           yaml(rest);
}

/// natnet without an uplink on lines 6..8, then `rest` from line 9.
std::string no_uplink(std::initializer_list<std::string> rest) {
    return kBase + yaml({"  - name: natnet", "    vlan: 30", "    gateway: 10.0.30.1/24"}) + yaml(rest);
}

/// The one network of an accepted policy.
NetworkSpec only_network(const std::string& text) {
    const Policy p = accepts(text);
    if (p.networks.size() != 1) {
        ADD_FAILURE() << p.networks.size() << " networks";
        return {};
    }
    return p.networks[0];
}

// ---------------------------------------------------------------- accepted

TEST(NatPolicy, IssueExampleFromFile) {
    const std::string path = kDir + "/nat.yaml";
    const Policy p = load_policy_file(path);
    ASSERT_EQ(p.networks.size(), 2u);

    const NetworkSpec& nat = p.networks[0];
    EXPECT_EQ(nat.name, "natnet");
    EXPECT_EQ(nat.vlan, 30);
    EXPECT_EQ(nat.gateway, 0x0a001e01u);
    EXPECT_EQ(nat.prefix_len, 24);
    EXPECT_EQ(nat.loc.line, 8);
    EXPECT_EQ(nat.uplink, "up0");
    EXPECT_EQ(nat.uplink_loc.file, path);
    EXPECT_EQ(nat.uplink_loc.line, 11);
    EXPECT_EQ(nat.uplink_loc.column, 13);
    EXPECT_TRUE(nat.masquerade);
    EXPECT_EQ(nat.port_lo, 20000);
    EXPECT_EQ(nat.port_hi, 59999);
    ASSERT_EQ(nat.port_forwards.size(), 2u);
    EXPECT_EQ(nat.port_forwards[0].proto, 6);
    EXPECT_EQ(nat.port_forwards[0].port, 8080);
    EXPECT_EQ(nat.port_forwards[0].to_addr, 0x0a001e0bu);
    EXPECT_EQ(nat.port_forwards[0].to_port, 80);
    EXPECT_EQ(nat.port_forwards[0].loc.line, 15);
    EXPECT_EQ(nat.port_forwards[1].proto, 17);
    EXPECT_EQ(nat.port_forwards[1].port, 5353);
    EXPECT_EQ(nat.port_forwards[1].to_addr, 0x0a001e0cu);
    EXPECT_EQ(nat.port_forwards[1].to_port, 53);
    EXPECT_EQ(nat.port_forwards[1].loc.line, 16);
    EXPECT_EQ(nat.timeouts.tcp_syn_ns, 60 * kS);
    EXPECT_EQ(nat.timeouts.tcp_established_ns, 7200 * kS);
    EXPECT_EQ(nat.timeouts.tcp_closing_ns, 10 * kS);
    EXPECT_EQ(nat.timeouts.udp_ns, 300 * kS);
    EXPECT_EQ(nat.timeouts.icmp_ns, 60 * kS);
    EXPECT_EQ(nat.max_connections, 262144u);

    const NetworkSpec& backend = p.networks[1];
    EXPECT_EQ(backend.name, "backend");
    EXPECT_EQ(backend.uplink, "up0"); // networks may share an uplink
    EXPECT_EQ(backend.uplink_loc.line, 22);
    EXPECT_FALSE(backend.masquerade);
    EXPECT_TRUE(backend.port_forwards.empty());
}

TEST(NatPolicy, DefaultsWithoutUplink) {
    const NetworkSpec n = only_network(no_uplink({}));
    EXPECT_EQ(n.uplink, "");
    EXPECT_EQ(n.uplink_loc.line, 0);
    EXPECT_FALSE(n.masquerade);
    EXPECT_EQ(n.port_lo, 20000);
    EXPECT_EQ(n.port_hi, 32767);
    EXPECT_TRUE(n.port_forwards.empty());
    EXPECT_EQ(n.timeouts.tcp_syn_ns, 60 * kS);
    EXPECT_EQ(n.timeouts.tcp_established_ns, 2 * 3600 * kS);
    EXPECT_EQ(n.timeouts.tcp_closing_ns, 10 * kS);
    EXPECT_EQ(n.timeouts.udp_ns, 5 * 60 * kS);
    EXPECT_EQ(n.timeouts.icmp_ns, 60 * kS);
    EXPECT_EQ(n.max_connections, 65536u);
}

TEST(NatPolicy, MasqueradeDefaultsToTrueWithUplink) {
    const NetworkSpec n = only_network(with_uplink({}));
    EXPECT_EQ(n.uplink, "up0");
    EXPECT_EQ(n.uplink_loc.line, 9);
    EXPECT_TRUE(n.masquerade);
    EXPECT_EQ(n.port_lo, 20000);
    EXPECT_EQ(n.port_hi, 32767);
    EXPECT_EQ(n.max_connections, 65536u);
    EXPECT_EQ(n.timeouts.udp_ns, 300 * kS);
}

TEST(NatPolicy, ExplicitMasqueradeValues) {
    EXPECT_TRUE(only_network(with_uplink({"    masquerade: true"})).masquerade);
    EXPECT_FALSE(only_network(with_uplink({"    masquerade: false"})).masquerade);
    // Routes only between networks: explicitly no NAT, no uplink.
    EXPECT_FALSE(only_network(no_uplink({"    masquerade: false"})).masquerade);
}

TEST(NatPolicy, PortRangeForms) {
    NetworkSpec n = only_network(with_uplink({"    port_range: 1024-65535"}));
    EXPECT_EQ(n.port_lo, 1024);
    EXPECT_EQ(n.port_hi, 65535);
    n = only_network(with_uplink({"    port_range: \"40000-40000\""})); // quoted; one port
    EXPECT_EQ(n.port_lo, 40000);
    EXPECT_EQ(n.port_hi, 40000);
    n = only_network(with_uplink({"    masquerade: true", "    port_range: 30000-39999"}));
    EXPECT_EQ(n.port_lo, 30000);
    EXPECT_EQ(n.port_hi, 39999);
}

TEST(NatPolicy, PortForwardForms) {
    const NetworkSpec n = only_network(with_uplink({
        "    port_forwards:",
        "      - { proto: tcp, port: 8080, to: 10.0.30.11:80 }", // unquoted
        "      - { proto: udp, port: 53, to: 10.0.30.12 }",     // same port
        "      - proto: tcp",                                   // block style
        "        port: 22",
        "        to: \"10.0.30.254:2222\"",
        "      - { proto: udp, port: 8080, to: \"10.0.30.11:80\" }", // same port, other proto
        "      - { proto: tcp, port: 25000, to: \"10.0.30.13:25\" }", // inside the port range: reserved
        "      - { proto: tcp, port: 1, to: \"10.0.30.2:65535\" }",
        "      - { proto: tcp, port: 65535, to: \"10.0.30.3:1\" }",
    }));
    ASSERT_EQ(n.port_forwards.size(), 7u);
    EXPECT_EQ(n.port_forwards[0].to_addr, 0x0a001e0bu);
    EXPECT_EQ(n.port_forwards[0].to_port, 80);
    EXPECT_EQ(n.port_forwards[0].loc.line, 11);
    EXPECT_EQ(n.port_forwards[1].proto, 17);
    EXPECT_EQ(n.port_forwards[1].port, 53);
    EXPECT_EQ(n.port_forwards[1].to_addr, 0x0a001e0cu);
    EXPECT_EQ(n.port_forwards[1].to_port, 53);
    EXPECT_EQ(n.port_forwards[2].proto, 6);
    EXPECT_EQ(n.port_forwards[2].port, 22);
    EXPECT_EQ(n.port_forwards[2].to_addr, 0x0a001efeu);
    EXPECT_EQ(n.port_forwards[2].to_port, 2222);
    EXPECT_EQ(n.port_forwards[2].loc.line, 13);
    EXPECT_EQ(n.port_forwards[4].port, 25000);
    EXPECT_EQ(n.port_forwards[5].to_port, 65535);
    EXPECT_EQ(n.port_forwards[6].port, 65535);
    EXPECT_TRUE(n.masquerade);
}

TEST(NatPolicy, EmptyForwardList) {
    EXPECT_TRUE(only_network(with_uplink({"    port_forwards: []"})).port_forwards.empty());
}

TEST(NatPolicy, ForwardsWithoutMasquerade) {
    // A routed network may still publish ports on its uplink.
    const NetworkSpec n = only_network(
        with_uplink({"    masquerade: false", "    port_forwards: [{ proto: tcp, port: 80, to: 10.0.30.5 }]"}));
    EXPECT_FALSE(n.masquerade);
    ASSERT_EQ(n.port_forwards.size(), 1u);
    EXPECT_EQ(n.port_forwards[0].to_port, 80);
}

TEST(NatPolicy, SharedUplinkDistinctForwards) {
    const Policy p = accepts(kBase + yaml({
                                         "  - name: a",
                                         "    vlan: 30",
                                         "    gateway: 10.0.30.1/24",
                                         "    uplink: up0",
                                         "    port_forwards: [{ proto: tcp, port: 80, to: 10.0.30.5 }]",
                                         "  - name: b",
                                         "    vlan: 40",
                                         "    gateway: 10.0.40.1/24",
                                         "    uplink: up0",
                                         "    port_forwards: [{ proto: tcp, port: 81, to: 10.0.40.5:80 },",
                                         "                    { proto: udp, port: 80, to: 10.0.40.5 }]",
                                         "  - name: c",
                                         "    vlan: 50",
                                         "    gateway: 10.0.50.1/24",
                                         "    uplink: up1", // same (proto, port) on another uplink
                                         "    port_forwards: [{ proto: tcp, port: 80, to: 10.0.50.5 }]",
                                     }));
    ASSERT_EQ(p.networks.size(), 3u);
    EXPECT_EQ(p.networks[0].uplink, "up0");
    EXPECT_EQ(p.networks[1].uplink, "up0");
    EXPECT_EQ(p.networks[1].port_forwards.size(), 2u);
    EXPECT_EQ(p.networks[2].uplink, "up1");
}

TEST(NatPolicy, KeyOrderDoesNotMatter) {
    // port_forwards and port_range before gateway, uplink last.
    const NetworkSpec n = only_network(kBase + yaml({
                                                   "  - port_forwards:",
                                                   "      - { proto: tcp, port: 8080, to: \"10.0.30.11:80\" }",
                                                   "    port_range: 30000-30999",
                                                   "    timeouts: { udp: 30s }",
                                                   "    max_connections: 1",
                                                   "    masquerade: true",
                                                   "    gateway: 10.0.30.1/24",
                                                   "    vlan: 30",
                                                   "    name: natnet",
                                                   "    uplink: up0",
                                               }));
    EXPECT_EQ(n.uplink, "up0");
    EXPECT_TRUE(n.masquerade);
    EXPECT_EQ(n.port_lo, 30000);
    ASSERT_EQ(n.port_forwards.size(), 1u);
    EXPECT_EQ(n.port_forwards[0].to_addr, 0x0a001e0bu);
    EXPECT_EQ(n.timeouts.udp_ns, 30 * kS);
    EXPECT_EQ(n.timeouts.tcp_syn_ns, 60 * kS); // the others keep their defaults
    EXPECT_EQ(n.max_connections, 1u);
}

TEST(NatPolicy, TimeoutAndLimitBounds) {
    NetworkSpec n = only_network(with_uplink(
        {"    timeouts: { tcp_syn: 1s, tcp_established: 7d, tcp_closing: 1000ms, udp: 168h, icmp: 3600 }",
         "    max_connections: 16777216"}));
    EXPECT_EQ(n.timeouts.tcp_syn_ns, kS);
    EXPECT_EQ(n.timeouts.tcp_established_ns, 7 * 86400 * kS);
    EXPECT_EQ(n.timeouts.tcp_closing_ns, kS);
    EXPECT_EQ(n.timeouts.udp_ns, 168 * 3600 * kS);
    EXPECT_EQ(n.timeouts.icmp_ns, 3600 * kS);
    EXPECT_EQ(n.max_connections, 16777216u);
    n = only_network(with_uplink({"    timeouts: {}", "    max_connections: 1"}));
    EXPECT_EQ(n.timeouts.tcp_established_ns, 7200 * kS);
    EXPECT_EQ(n.max_connections, 1u);
}

// ---------------------------------------------------------------- rejected

class NatPolicyError : public testing::TestWithParam<ErrorCase> {};

TEST_P(NatPolicyError, Reported) { expect_rejected(GetParam()); }

const std::string kFwd = "    port_forwards:";

const ErrorCase kErrors[] = {
    // --- uplink
    {"uplink_is_a_port", no_uplink({"    uplink: vm1"}), 9,
     "uplink: 'vm1' is also a switch port; the uplink is a routed host interface, remove it from ports", 13},
    {"uplink_trunk_port", no_uplink({"    uplink: lan"}), 9, "'lan' is also a switch port", 13},
    {"uplink_too_long", no_uplink({"    uplink: abcdefghijklmnop"}), 9,
     "uplink: 'abcdefghijklmnop' is 16 characters long; use 1..15 characters", 13},
    {"uplink_slash", no_uplink({"    uplink: a/b"}), 9, "uplink: 'a/b' is not a valid interface name", 13},
    {"uplink_dotdot", no_uplink({"    uplink: .."}), 9, "uplink: '..' is not a valid interface name"},
    {"uplink_empty", no_uplink({"    uplink: \"\""}), 9, "uplink: interface name is empty", 13},
    {"uplink_null", no_uplink({"    uplink:"}), 9, "uplink: has no value", 5},
    {"uplink_list", no_uplink({"    uplink: [up0]"}), 9, "uplink: expected a string, got a list"},
    // --- masquerade
    {"masquerade_without_uplink", no_uplink({"    masquerade: true"}), 9,
     "masquerade needs an uplink", 5},
    {"masquerade_not_bool", with_uplink({"    masquerade: yes"}), 10,
     "masquerade: expected true or false, got 'yes'", 17},
    {"masquerade_quoted", with_uplink({"    masquerade: \"true\""}), 10,
     "masquerade: expected true or false, got the string \"true\""},
    // --- port_range
    {"range_reversed", with_uplink({"    port_range: 40000-30000"}), 10,
     "port_range: range 40000-30000 is reversed", 17},
    {"range_below_1024", with_uplink({"    port_range: 80-2000"}), 10,
     "port_range: port 80 is below 1024; NAT source ports are 1024..65535", 17},
    {"range_1023", with_uplink({"    port_range: 1023-2000"}), 10, "port 1023 is below 1024"},
    {"range_above_65535", with_uplink({"    port_range: 20000-65536"}), 10,
     "port_range: port 65536 is out of range; NAT source ports are 1024..65535"},
    {"range_single_number", with_uplink({"    port_range: 20000"}), 10,
     "port_range: '20000' is not a port range; write it like 20000-59999", 17},
    {"range_no_end", with_uplink({"    port_range: 20000-"}), 10, "is not a port range"},
    {"range_three_parts", with_uplink({"    port_range: 1-2-3"}), 10, "is not a port range"},
    {"range_negative", with_uplink({"    port_range: -5"}), 10, "is not a port range"},
    {"range_spaces", with_uplink({"    port_range: 20000 - 30000"}), 10, "is not a port range"},
    {"range_list", with_uplink({"    port_range: [20000, 30000]"}), 10,
     "port_range: expected a string, got a list"},
    {"range_masquerade_false", with_uplink({"    masquerade: false", "    port_range: 20000-30000"}), 11,
     "port_range applies only to a masquerading network; this one has masquerade: false", 5},
    {"range_without_uplink", no_uplink({"    port_range: 20000-30000"}), 9,
     "port_range applies only to a masquerading network; this one has no uplink", 5},
    // --- port_forwards
    {"forwards_without_uplink", no_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30.5 }"}), 9,
     "port_forwards need an uplink", 5},
    {"forwards_not_list", with_uplink({"    port_forwards: 8080"}), 10,
     "port_forwards: expected a list like", 20},
    {"forwards_null", with_uplink({kFwd}), 10, "port_forwards: has no value"},
    {"forward_not_mapping", with_uplink({kFwd, "      - 8080"}), 11,
     "port_forwards entry 1: expected a mapping like { proto: tcp", 9},
    {"forward_unknown_key", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30.5, dport: 8 }"}),
     11, "unknown key 'dport' in port forward; expected one of: proto, port, to", 48},
    {"forward_no_proto", with_uplink({kFwd, "      - { port: 80, to: 10.0.30.5 }"}), 11,
     "port_forwards entry 1 has no 'proto'; a port forward needs proto, port and to", 9},
    {"forward_no_port", with_uplink({kFwd, "      - { proto: tcp, to: 10.0.30.5 }"}), 11,
     "port_forwards entry 1 has no 'port'"},
    {"forward_no_to", with_uplink({kFwd, "      - { proto: tcp, port: 80 }",
                                   "      - { proto: tcp, port: 81 }"}),
     12, "port_forwards entry 2 has no 'to'", 9, 2},
    {"forward_bad_proto", with_uplink({kFwd, "      - { proto: icmp, port: 80, to: 10.0.30.5 }"}), 11,
     "proto: 'icmp' is not a forwarded protocol; expected tcp or udp", 18},
    {"forward_upper_proto", with_uplink({kFwd, "      - { proto: TCP, port: 80, to: 10.0.30.5 }"}), 11,
     "proto: 'TCP' is not a forwarded protocol"},
    {"forward_port_zero", with_uplink({kFwd, "      - { proto: tcp, port: 0, to: 10.0.30.5 }"}), 11,
     "port: 0 is out of range; allowed: 1..65535", 29},
    {"forward_port_too_big", with_uplink({kFwd, "      - { proto: udp, port: 65536, to: 10.0.30.5 }"}), 11,
     "port: 65536 is out of range; allowed: 1..65535"},
    {"forward_port_quoted", with_uplink({kFwd, "      - { proto: udp, port: \"53\", to: 10.0.30.5 }"}), 11,
     "port: expected an integer 1..65535, got the string \"53\""},
    {"forward_to_not_address", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30 }"}), 11,
     "to: '10.0.30' is not an IPv4 address with an optional port; write it like 10.0.30.11:80", 37},
    {"forward_to_bad_octet", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.30.256:80\" }"}), 11,
     "is not an IPv4 address with an optional port"},
    {"forward_to_bad_port", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.30.5:http\" }"}), 11,
     "is not an IPv4 address with an optional port"},
    {"forward_to_port_zero", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.30.5:0\" }"}), 11,
     "to: '10.0.30.5:0': the port must be 1..65535", 37},
    {"forward_to_port_too_big", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.30.5:65536\" }"}),
     11, "the port must be 1..65535"},
    {"forward_to_cidr", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30.5/24 }"}), 11,
     "is not an IPv4 address with an optional port"},
    {"forward_to_outside", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.31.5:80\" }"}), 11,
     "to: 10.0.31.5 is outside this network's subnet 10.0.30.0/24; forward to a host of the network", 37},
    {"forward_to_network_address", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30.0 }"}), 11,
     "to: 10.0.30.0 is the network address of 10.0.30.0/24", 37},
    {"forward_to_broadcast", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: 10.0.30.255 }"}), 11,
     "to: 10.0.30.255 is the broadcast address of 10.0.30.0/24"},
    {"forward_to_gateway", with_uplink({kFwd, "      - { proto: tcp, port: 80, to: \"10.0.30.1:8080\" }"}), 11,
     "to: 10.0.30.1 is the gateway itself", 37},
    {"forward_target_checked_when_gateway_comes_later",
     kBase + yaml({"  - port_forwards: [{ proto: tcp, port: 80, to: 10.0.31.5 }]", "    uplink: up0",
                   "    name: natnet", "    vlan: 30", "    gateway: 10.0.30.1/24"}),
     6, "to: 10.0.31.5 is outside this network's subnet 10.0.30.0/24", 49},
    {"forward_collision_same_network",
     with_uplink({kFwd, "      - { proto: tcp, port: 8080, to: 10.0.30.5 }",
                  "      - { proto: tcp, port: 8080, to: \"10.0.30.6:80\" }"}),
     12,
     "port_forwards: tcp port 8080 of uplink 'up0' is already forwarded at line 11 (network 'natnet'); "
     "an uplink port forwards to one place",
     9},
    {"forward_collision_across_networks",
     with_uplink({kFwd, "      - { proto: udp, port: 5353, to: 10.0.30.5:53 }", "  - name: backend",
                  "    vlan: 40", "    gateway: 10.0.40.1/24", "    uplink: up0", "    masquerade: false",
                  "    port_forwards: [{ proto: udp, port: 5353, to: 10.0.40.7 }]"}),
     17, "udp port 5353 of uplink 'up0' is already forwarded at line 11 (network 'natnet')", 21},
    // --- timeouts
    {"timeouts_without_uplink", no_uplink({"    timeouts: { udp: 5m }"}), 9,
     "timeouts apply only to a network with an uplink", 5},
    {"timeouts_not_mapping", with_uplink({"    timeouts: 5m"}), 10,
     "timeouts: expected a mapping like { tcp_established: 2h, udp: 5m }, got '5m'", 15},
    {"timeouts_null", with_uplink({"    timeouts:"}), 10, "timeouts: has no value"},
    {"timeouts_unknown_key", with_uplink({"    timeouts: { tcp: 5m }"}), 10,
     "unknown key 'tcp' in timeouts; expected one of: tcp_syn, tcp_established, tcp_closing, udp, icmp", 17},
    {"timeouts_typo", with_uplink({"    timeouts: { tcp_establihsed: 5m }"}), 10,
     "(did you mean 'tcp_established'?)"},
    {"timeouts_zero", with_uplink({"    timeouts: { udp: 0s }"}), 10,
     "timeouts.udp: 0s is out of range; allowed: 1s..7d", 22},
    {"timeouts_below_1s", with_uplink({"    timeouts: { icmp: 999ms }"}), 10,
     "timeouts.icmp: 999ms is out of range; allowed: 1s..7d"},
    {"timeouts_above_7d", with_uplink({"    timeouts: { tcp_established: 8d }"}), 10,
     "timeouts.tcp_established: 8d is out of range; allowed: 1s..7d"},
    {"timeouts_not_duration", with_uplink({"    timeouts: { tcp_syn: 1.5s }"}), 10,
     "timeouts.tcp_syn: '1.5s' is not a duration"},
    {"timeouts_value_list", with_uplink({"    timeouts: { tcp_closing: [1s] }"}), 10,
     "timeouts.tcp_closing: expected a string, got a list"},
    {"timeouts_duplicate", with_uplink({"    timeouts:", "      udp: 5m", "      udp: 6m"}), 12,
     "duplicate key 'udp' in timeouts; first set at line 11"},
    // --- max_connections
    {"max_connections_without_uplink", no_uplink({"    max_connections: 1000"}), 9,
     "max_connections applies only to a network with an uplink", 5},
    {"max_connections_zero", with_uplink({"    max_connections: 0"}), 10,
     "max_connections: 0 is out of range; allowed: 1..16777216", 22},
    {"max_connections_too_big", with_uplink({"    max_connections: 16777217"}), 10,
     "max_connections: 16777217 is out of range; allowed: 1..16777216"},
    {"max_connections_not_integer", with_uplink({"    max_connections: many"}), 10,
     "max_connections: expected an integer 1..16777216, got 'many'"},
    // --- unchanged: overlapping subnets (a gateway inside another network's subnet)
    {"gateway_inside_other_subnet",
     with_uplink({"  - name: backend", "    vlan: 40", "    gateway: 10.0.30.200/24", "    uplink: up0"}), 10,
     "network 'backend': its subnet overlaps network 'natnet' (line 6)", 5},
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(All, NatPolicyError, testing::ValuesIn(kErrors),
                         [](const testing::TestParamInfo<ErrorCase>& i) { return std::string(i.param.name); });

// ---------------------------------------------------------------- several problems

TEST(NatPolicy, CollectsAllProblemsInFileOrder) {
    const std::string text = kBase + yaml({
                                         "  - name: natnet",                                        // 6
                                         "    vlan: 30",                                            // 7
                                         "    gateway: 10.0.30.1/24",                               // 8
                                         "    uplink: vm1",                                         // 9
                                         "    port_range: 30000-20000",                             // 10
                                         "    port_forwards:",                                      // 11
                                         "      - { proto: tcp, port: 80, to: 10.0.30.5 }",         // 12
                                         "      - { proto: sctp, port: 81, to: 10.0.99.5 }",        // 13
                                         "    timeouts: { udp: 0s, icmp: 8d }",                     // 14
                                         "  - name: routed",                                        // 15
                                         "    vlan: 40",                                            // 16
                                         "    gateway: 10.0.40.1/24",                               // 17
                                         "    masquerade: true",                                    // 18
                                         "    max_connections: 0",                                  // 19
                                         "  - name: third",                                         // 20
                                         "    vlan: 50",                                            // 21
                                         "    gateway: 10.0.50.1/24",                               // 22
                                         "    uplink: up0",                                         // 23
                                         "    port_forwards: [{ proto: tcp, port: 80, to: 10.0.50.5 },", // 24
                                         "                    { proto: tcp, port: 80, to: 10.0.50.6 }]", // 25
                                     });
    try {
        parse_policy(text, "t.yaml");
        FAIL() << "accepted";
    } catch (const PolicyError& e) {
        const std::vector<std::pair<int, std::string>> want = {
            {9, "uplink: 'vm1' is also a switch port"},
            {10, "port_range: range 30000-20000 is reversed"},
            {13, "proto: 'sctp' is not a forwarded protocol"},
            {13, "to: 10.0.99.5 is outside this network's subnet 10.0.30.0/24"},
            {14, "timeouts.udp: 0s is out of range"},
            {14, "timeouts.icmp: 8d is out of range"},
            {18, "masquerade needs an uplink"},
            {19, "max_connections applies only to a network with an uplink"}, // at the key
            {19, "max_connections: 0 is out of range"},                        // at the value
            {25, "tcp port 80 of uplink 'up0' is already forwarded at line 24 (network 'third')"},
        };
        const auto& d = e.diagnostics();
        ASSERT_EQ(d.size(), want.size()) << e.what();
        for (size_t i = 0; i < want.size(); i++) {
            EXPECT_EQ(d[i].loc.line, want[i].first) << d[i].str();
            EXPECT_NE(d[i].reason.find(want[i].second), std::string::npos) << d[i].str();
        }
    }
}

// ---------------------------------------------------------------- value helpers

TEST(NatPolicy, ParsePortRange) {
    EXPECT_EQ(parse_port_range("20000-59999"), (std::pair<uint16_t, uint16_t>{20000, 59999}));
    EXPECT_EQ(parse_port_range("1024-65535"), (std::pair<uint16_t, uint16_t>{1024, 65535}));
    EXPECT_EQ(parse_port_range("5000-5000"), (std::pair<uint16_t, uint16_t>{5000, 5000}));
    for (const char* bad : {"", "-", "20000", "20000-", "-20000", "a-b", "1-2-3", "20000 -30000", "+2000-3000",
                            "1023-2000", "2000-1023", "3000-2000", "2000-65536", "99999999999999999999-1"})
        EXPECT_THROW(parse_port_range(bad), std::invalid_argument) << bad;
}

TEST(NatPolicy, ParseForwardTarget) {
    auto [a, p] = parse_forward_target("10.0.30.11:80");
    EXPECT_EQ(a, 0x0a001e0bu);
    EXPECT_EQ(p, std::optional<uint16_t>(80));
    auto [b, q] = parse_forward_target("192.168.1.2");
    EXPECT_EQ(b, 0xc0a80102u);
    EXPECT_EQ(q, std::nullopt);
    for (const char* bad : {"", "10.0.30", "10.0.30.11.5", "10.0.30.256", "10.0.30.11:", "10.0.30.11:0",
                            "10.0.30.11:65536", "10.0.30.11:80:1", "10.0.30.11/24", "a.b.c.d", ":80",
                            "10..30.11", " 10.0.30.11"})
        EXPECT_THROW(parse_forward_target(bad), std::invalid_argument) << bad;
}

} // namespace
} // namespace xdpnet::policy

namespace xdpnet::policy {
namespace {

MapImage compile_with_up0(const Policy& p) {
    return compile(p, [](const std::string& n) -> std::optional<InterfaceInfo> {
        if (n == "vm1")
            return InterfaceInfo{11, {}, 0};
        if (n == "vm2")
            return InterfaceInfo{12, {}, 0};
        if (n == "lan")
            return InterfaceInfo{13, {}, 0};
        if (n == "up0")
            return InterfaceInfo{2, {}, 0xc6120001u};
        return std::nullopt;
    });
}

// SNAT consults the forwards table only when the network's uplink has
// forwards (XDPNET_NAT_FORWARDS): every network on that uplink gets the flag.
TEST(NatPolicy, NetworksOnAnUplinkWithForwardsAreFlagged) {
    const MapImage img = compile_with_up0(load_policy_file(kDir + "/nat.yaml"));
    ASSERT_EQ(img.nat.size(), 2u);
    EXPECT_EQ(img.nat.at(30).flags, XDPNET_NAT_MASQ | XDPNET_NAT_FORWARDS);
    EXPECT_EQ(img.nat.at(40).flags, XDPNET_NAT_FORWARDS);
    EXPECT_EQ(img.forwards.size(), 2u);
}

TEST(NatPolicy, UplinkWithoutForwardsIsNotFlagged) {
    const MapImage img = compile_with_up0(accepts(with_uplink({})));
    ASSERT_EQ(img.nat.size(), 1u);
    EXPECT_EQ(img.nat.begin()->second.flags, XDPNET_NAT_MASQ);
    EXPECT_TRUE(img.forwards.empty());
}

// Routing scans a policy's few networks in the configuration record (in
// VLAN order; the trie is written too); more than fit send it to the trie.
TEST(NatPolicy, FewNetworksAreInlineInTheConfiguration) {
    const MapImage img = compile_with_up0(load_policy_file(kDir + "/nat.yaml"));
    ASSERT_EQ(img.config.subnets, 2u);
    EXPECT_EQ(img.config.subnet[0].net, htonl(0x0a001e00u));
    EXPECT_EQ(img.config.subnet[0].mask, htonl(0xffffff00u));
    EXPECT_EQ(img.config.subnet[0].vid, 30);
    EXPECT_EQ(img.config.subnet[1].net, htonl(0x0a002800u));
    EXPECT_EQ(img.config.subnet[1].vid, 40);
}

TEST(NatPolicy, ManyNetworksRouteThroughTheTrie) {
    std::vector<std::string> lines = {"ports:", "  - { name: lan, mode: trunk, vlans: [100-119] }", "networks:"};
    for (int i = 0; i < XDPNET_SUBNETS_INLINE + 1; i++) {
        lines.push_back("  - name: n" + std::to_string(i));
        lines.push_back("    vlan: " + std::to_string(100 + i));
        lines.push_back("    gateway: 10.1." + std::to_string(i) + ".1/24");
    }
    std::string text;
    for (const auto& l : lines)
        text += l + "\n";
    const MapImage img = compile_with_up0(accepts(text));
    EXPECT_EQ(img.gateways.size(), size_t(XDPNET_SUBNETS_INLINE + 1));
    EXPECT_EQ(img.config.subnets, XDPNET_SUBNETS_TRIE);
}

TEST(NatPolicy, PrefixMasks) {
    EXPECT_EQ(xdpnet_prefix_mask(0), 0u);
    EXPECT_EQ(xdpnet_prefix_mask(8), htonl(0xff000000u));
    EXPECT_EQ(xdpnet_prefix_mask(23), htonl(0xfffffe00u));
    EXPECT_EQ(xdpnet_prefix_mask(32), 0xffffffffu);
}

} // namespace
} // namespace xdpnet::policy
