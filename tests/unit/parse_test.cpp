// parse_policy / load_policy_file: the valid model and every rejection, with
// the exact line (and column where it matters) of the offending node.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "policy/policy.h"
#include "policy_helpers.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;
const std::string kDir = XDPNET_TEST_POLICIES;

/// Joins lines with '\n': line N of the YAML is lines[N-1].
/// The diagnostics parse_policy throws; fails the test if it accepts.
VlanSet vlans_of(std::initializer_list<int> ids) {
    VlanSet s;
    for (int id : ids)
        s.set(id);
    return s;
}

const std::string kPort = "  - { name: a, mode: access, vlan: 10 }"; // a valid port line

// ---------------------------------------------------------------- valid policies

void expect_lab(const Policy& p, const std::string& file) {
    EXPECT_EQ(p.file, file);
    EXPECT_EQ(p.instance, "lab");
    EXPECT_EQ(p.mac_aging_ns, 300 * kS);
    EXPECT_EQ(p.fdb_size, 65536u);
    EXPECT_EQ(p.xdp_mode, XdpMode::Native);
    ASSERT_EQ(p.ports.size(), 4u);

    const PortSpec& vm1 = p.ports[0];
    EXPECT_EQ(vm1.name, "vm1");
    EXPECT_EQ(vm1.mode, PortMode::Access);
    EXPECT_EQ(vm1.vlan, 10);
    EXPECT_TRUE(vm1.vlans.none());
    EXPECT_EQ(vm1.native_vlan, 0);
    EXPECT_EQ(vm1.mac_limit, 16u);
    EXPECT_FALSE(vm1.host);
    EXPECT_EQ(vm1.loc.file, file);
    EXPECT_EQ(vm1.loc.line, 8);
    EXPECT_EQ(vm1.loc.column, 5);

    EXPECT_EQ(p.ports[1].name, "vm2");
    EXPECT_EQ(p.ports[1].vlan, 10);
    EXPECT_EQ(p.ports[1].mac_limit, 0u);
    EXPECT_EQ(p.ports[1].loc.line, 9);
    EXPECT_EQ(p.ports[2].name, "vm3");
    EXPECT_EQ(p.ports[2].vlan, 20);
    EXPECT_FALSE(p.ports[2].host);

    const PortSpec& up0 = p.ports[3];
    EXPECT_EQ(up0.name, "up0");
    EXPECT_EQ(up0.mode, PortMode::Trunk);
    EXPECT_EQ(up0.vlan, 0);
    EXPECT_EQ(up0.vlans, vlans_of({10, 20}) | parse_vlan_item("100-199"));
    EXPECT_EQ(format_vlans(up0.vlans), "10,20,100-199");
    EXPECT_EQ(up0.native_vlan, 1);
    EXPECT_TRUE(up0.host); // trunk default
    EXPECT_EQ(up0.loc.line, 11);

    ASSERT_EQ(p.static_fdb.size(), 1u);
    EXPECT_EQ(format_mac(p.static_fdb[0].mac), "52:54:00:00:00:99");
    EXPECT_EQ(p.static_fdb[0].vlan, 10);
    EXPECT_EQ(p.static_fdb[0].port, "vm2");
    EXPECT_EQ(p.static_fdb[0].loc.line, 13);
}

TEST(Parse, FullExampleFromFile) {
    const std::string path = kDir + "/lab.yaml";
    expect_lab(load_policy_file(path), path);
}

TEST(Parse, FullExampleFromText) {
    std::ifstream in(kDir + "/lab.yaml");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(text.empty());
    expect_lab(parse_policy(text, "x.yaml"), "x.yaml");
}

TEST(Parse, Defaults) {
    const Policy p = accepts(yaml({"ports:", "  - { name: a, mode: access, vlan: 10 }",
                                   "  - { name: t, mode: trunk, vlans: [20] }"}));
    EXPECT_EQ(p.instance, "default");
    EXPECT_EQ(p.mac_aging_ns, 300 * kS);
    EXPECT_EQ(p.fdb_size, 65536u);
    EXPECT_EQ(p.xdp_mode, XdpMode::Native);
    EXPECT_TRUE(p.static_fdb.empty());
    ASSERT_EQ(p.ports.size(), 2u);
    EXPECT_FALSE(p.ports[0].host);
    EXPECT_EQ(p.ports[0].mac_limit, 0u);
    EXPECT_TRUE(p.ports[1].host);
    EXPECT_EQ(p.ports[1].native_vlan, 0);
}

TEST(Parse, BlockStyleAndExplicitValues) {
    const Policy p = accepts(yaml({
        "instance: Lab_2-b",
        "bridge:",
        "  mac_aging: 5m",
        "  fdb_size: 16",
        "  xdp_mode: generic",
        "ports:",
        "  - name: eth0.100",
        "    mode: trunk",
        "    native_vlan: 100",
        "    host: false",
        "    mac_limit: 1000000",
        "  - name: tap0",
        "    mode: access",
        "    vlan: 4094",
        "    host: true",
        "    mac_limit: 0",
    }));
    EXPECT_EQ(p.instance, "Lab_2-b");
    EXPECT_EQ(p.mac_aging_ns, 300 * kS);
    EXPECT_EQ(p.fdb_size, 16u);
    EXPECT_EQ(p.xdp_mode, XdpMode::Generic);
    ASSERT_EQ(p.ports.size(), 2u);
    EXPECT_EQ(p.ports[0].name, "eth0.100");
    EXPECT_TRUE(p.ports[0].vlans.none());
    EXPECT_EQ(p.ports[0].native_vlan, 100);
    EXPECT_FALSE(p.ports[0].host);
    EXPECT_EQ(p.ports[0].mac_limit, 1000000u);
    EXPECT_EQ(p.ports[0].loc.line, 7);
    EXPECT_EQ(p.ports[1].vlan, 4094);
    EXPECT_TRUE(p.ports[1].host);
}

TEST(Parse, DurationsInRange) {
    const std::pair<const char*, uint64_t> cases[] = {
        {"1s", kS}, {"1000ms", kS}, {"1", kS}, {"86400", 86400 * kS}, {"1d", 86400 * kS},
        {"24h", 86400 * kS}, {"1500ms", 1500000000ull}, {"\"300\"", 300 * kS},
    };
    for (const auto& [text, ns] : cases) {
        const Policy p = accepts(yaml({"bridge:", std::string("  mac_aging: ") + text, "ports:", kPort}));
        EXPECT_EQ(p.mac_aging_ns, ns) << text;
    }
}

TEST(Parse, FdbSizeBounds) {
    EXPECT_EQ(accepts(yaml({"bridge: { fdb_size: 16777216 }", "ports:", kPort})).fdb_size, 16777216u);
}

TEST(Parse, TrunkVlanItemsUnion) {
    // ints, quoted and unquoted ranges, overlaps and duplicates all union.
    const Policy p = accepts(yaml({"ports:",
                                   "  - name: t",
                                   "    mode: trunk",
                                   "    vlans: [10-20, \"15-30\", 25, 25, '40', 4094]"}));
    ASSERT_EQ(p.ports.size(), 1u);
    EXPECT_EQ(format_vlans(p.ports[0].vlans), "10-30,40,4094");
}

TEST(Parse, TrunkNativeOnlyAndEmptyListWithNative) {
    const Policy p = accepts(yaml({"ports:", "  - { name: t, mode: trunk, native_vlan: 5 }",
                                   "  - { name: u, mode: trunk, vlans: [], native_vlan: 6 }"}));
    ASSERT_EQ(p.ports.size(), 2u);
    EXPECT_EQ(p.ports[0].native_vlan, 5);
    EXPECT_TRUE(p.ports[1].vlans.none());
}

TEST(Parse, StaticFdbForms) {
    // Unquoted and dash MACs; a trunk's native VLAN is carried without being
    // listed; static_fdb may come before ports in the file.
    const Policy p = accepts(yaml({
        "static_fdb:",
        "  - { mac: 52:54:00:00:00:01, vlan: 1, port: up }",
        "  - { mac: 52-54-00-00-00-02, vlan: 150, port: up }",
        "  - { mac: \"52:54:00:00:00:01\", vlan: 10, port: a }",
        "ports:",
        kPort,
        "  - { name: up, mode: trunk, vlans: [100-199], native_vlan: 1 }",
    }));
    ASSERT_EQ(p.static_fdb.size(), 3u);
    EXPECT_EQ(p.static_fdb[0].vlan, 1);
    EXPECT_EQ(format_mac(p.static_fdb[1].mac), "52:54:00:00:00:02");
    EXPECT_EQ(p.static_fdb[1].port, "up");
    EXPECT_EQ(p.static_fdb[2].port, "a"); // same MAC, other VLAN: not a duplicate
}

TEST(Parse, EmptyOptionalSections) {
    const Policy p = accepts(yaml({"bridge:", "static_fdb:", "ports:", kPort}));
    EXPECT_EQ(p.fdb_size, 65536u);
    EXPECT_TRUE(p.static_fdb.empty());
}

TEST(Parse, MaxPorts) {
    std::string text = "ports:\n";
    for (int i = 0; i < XDPNET_MAX_PORTS; i++)
        text += "  - { name: p" + std::to_string(i) + ", mode: access, vlan: 10 }\n";
    EXPECT_EQ(accepts(text).ports.size(), 255u);
    text += "  - { name: extra, mode: access, vlan: 10 }\n";
    const auto d = rejects(text);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].loc.line, 257);
    EXPECT_NE(d[0].reason.find("256 ports listed; at most 255"), std::string::npos) << d[0].reason;
}

// ---------------------------------------------------------------- rejections

class ParseError : public testing::TestWithParam<ErrorCase> {};

TEST_P(ParseError, Reported) { expect_rejected(GetParam()); }

const ErrorCase kErrors[] = {
    // --- the document
    {"syntax_unclosed_flow", yaml({"ports:", "  - { name: a, mode: access, vlan: 10", "x: 1"}), 3,
     "invalid YAML: "},
    {"syntax_bad_map", yaml({"ports:", kPort, "bridge: a: b"}), 3, "invalid YAML: illegal map value", 10},
    {"empty_file", "", 0, "the policy is empty"},
    {"only_comments", "# nothing\n\n", 0, "the policy is empty"},
    {"top_level_list", yaml({"- a", "- b"}), 1, "must be a mapping", 1},
    {"top_level_scalar", "hello\n", 1, "must be a mapping"},
    {"two_documents", yaml({"ports:", kPort, "---", "ports:", kPort}), 4, "2 YAML documents"},
    {"unknown_top_key", yaml({"ports:", kPort, "fdb: 3"}), 3,
     "unknown key 'fdb' at the top level; expected one of: instance, bridge, ports, static_fdb", 1},
    {"top_key_typo", yaml({"instnce: lab", "ports:", kPort}), 1, "(did you mean 'instance'?)"},
    {"duplicate_top_key", yaml({"ports:", kPort, "ports:", kPort}), 3,
     "duplicate key 'ports' at the top level; first set at line 1"},
    {"no_ports", yaml({"instance: lab"}), 1, "no 'ports'"},
    {"ports_empty", yaml({"ports: []"}), 1, "ports: the list is empty"},
    {"ports_null", yaml({"ports:"}), 1, "ports: the list is empty"},
    {"ports_scalar", yaml({"ports: vm1"}), 1, "ports: expected a list of ports, got 'vm1'"},
    {"ports_mapping", yaml({"ports: { name: a }"}), 1, "expected a list of ports, got a mapping"},
    {"port_not_mapping", yaml({"ports:", kPort, "  - vm2"}), 3, "port entry 2: expected a mapping", 5},
    // --- instance
    {"instance_bad_char", yaml({"instance: my lab", "ports:", kPort}), 1, "'my lab' is not a valid instance name"},
    {"instance_slash", yaml({"instance: a/b", "ports:", kPort}), 1, "use 1..32 characters"},
    {"instance_too_long", yaml({"instance: " + std::string(33, 'x'), "ports:", kPort}), 1,
     "is not a valid instance name"},
    {"instance_empty", yaml({"instance: ''", "ports:", kPort}), 1, "is not a valid instance name"},
    {"instance_null", yaml({"instance:", "ports:", kPort}), 1, "instance: has no value"},
    {"instance_list", yaml({"instance: [a]", "ports:", kPort}), 1, "instance: expected a string, got a list"},
    // --- bridge
    {"bridge_not_mapping", yaml({"bridge: [1]", "ports:", kPort}), 1, "bridge: expected a mapping"},
    {"bridge_unknown_key", yaml({"bridge:", "  aging: 5s", "ports:", kPort}), 2,
     "unknown key 'aging' in bridge; expected one of: mac_aging, fdb_size, xdp_mode", 3},
    {"aging_zero", yaml({"bridge:", "  mac_aging: 0s", "ports:", kPort}), 2,
     "mac_aging: 0s is out of range; allowed: 1s..1d (86400s)", 14},
    {"aging_below_1s", yaml({"bridge:", "  mac_aging: 999ms", "ports:", kPort}), 2, "out of range"},
    {"aging_above_1d", yaml({"bridge:", "  mac_aging: 86401", "ports:", kPort}), 2, "out of range"},
    {"aging_2d", yaml({"bridge:", "  mac_aging: 2d", "ports:", kPort}), 2, "mac_aging: 2d is out of range"},
    {"aging_garbage", yaml({"bridge:", "  mac_aging: 5x", "ports:", kPort}), 2, "'5x' is not a duration"},
    {"aging_float", yaml({"bridge:", "  mac_aging: 1.5s", "ports:", kPort}), 2, "is not a duration"},
    {"aging_negative", yaml({"bridge:", "  mac_aging: -5s", "ports:", kPort}), 2, "is not a duration"},
    {"aging_list", yaml({"bridge:", "  mac_aging: [5s]", "ports:", kPort}), 2, "expected a string, got a list"},
    {"fdb_size_small", yaml({"bridge:", "  fdb_size: 15", "ports:", kPort}), 2,
     "fdb_size: 15 is out of range; allowed: 16..16777216"},
    {"fdb_size_big", yaml({"bridge:", "  fdb_size: 16777217", "ports:", kPort}), 2, "out of range"},
    {"fdb_size_huge", yaml({"bridge:", "  fdb_size: 99999999999999999999999", "ports:", kPort}), 2,
     "out of range"},
    {"fdb_size_word", yaml({"bridge:", "  fdb_size: big", "ports:", kPort}), 2,
     "fdb_size: expected an integer 16..16777216, got 'big'"},
    {"fdb_size_quoted", yaml({"bridge:", "  fdb_size: \"1024\"", "ports:", kPort}), 2,
     "got the string \"1024\" (remove the quotes)"},
    {"fdb_size_suffix", yaml({"bridge:", "  fdb_size: 10x", "ports:", kPort}), 2, "expected an integer"},
    {"fdb_size_float", yaml({"bridge:", "  fdb_size: 1024.0", "ports:", kPort}), 2, "expected an integer"},
    {"fdb_size_negative", yaml({"bridge:", "  fdb_size: -1024", "ports:", kPort}), 2, "expected an integer"},
    {"fdb_size_hex", yaml({"bridge:", "  fdb_size: 0x400", "ports:", kPort}), 2, "expected an integer"},
    {"xdp_mode_bad", yaml({"bridge:", "  xdp_mode: skb", "ports:", kPort}), 2,
     "xdp_mode: 'skb' is not an XDP mode; expected native or generic"},
    // --- port keys
    {"port_unknown_key", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, speed: 10 }"}), 2,
     "unknown key 'speed' in port; expected one of: name, mode, vlan, vlans, native_vlan, mac_limit, host",
     40},
    {"port_typo_vlna", yaml({"ports:", "  - name: a", "    mode: access", "    vlna: 10"}), 4,
     "unknown key 'vlna' in port; expected one of: name, mode,", 5, 2},
    {"port_typo_suggests", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, mac_limt: 3 }"}), 2,
     "(did you mean 'mac_limit'?)"},
    {"port_duplicate_key", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, vlan: 20 }"}), 2,
     "duplicate key 'vlan' in port; first set at line 2", 40},
    // --- port.name
    {"name_missing", yaml({"ports:", kPort, "  - { mode: access, vlan: 10 }"}), 3,
     "port entry 2 has no 'name'", 5},
    {"name_null", yaml({"ports:", "  - name:", "    mode: access", "    vlan: 10"}), 2, "name: has no value", 5},
    {"name_too_long", yaml({"ports:", "  - { name: abcdefghijklmnop, mode: access, vlan: 10 }"}), 2,
     "'abcdefghijklmnop' is 16 characters long; use 1..15 characters", 13},
    {"name_slash", yaml({"ports:", "  - { name: a/b, mode: access, vlan: 10 }"}), 2,
     "'a/b' is not a valid interface name"},
    {"name_colon", yaml({"ports:", "  - { name: \"a:b\", mode: access, vlan: 10 }"}), 2,
     "not a valid interface name"},
    {"name_space", yaml({"ports:", "  - { name: \"a b\", mode: access, vlan: 10 }"}), 2,
     "'a b' is not a valid interface name"},
    {"name_dot", yaml({"ports:", "  - { name: ., mode: access, vlan: 10 }"}), 2, "'.' is not a valid interface name"},
    {"name_dotdot", yaml({"ports:", "  - { name: \"..\", mode: access, vlan: 10 }"}), 2,
     "'..' is not a valid interface name"},
    {"name_empty", yaml({"ports:", "  - { name: \"\", mode: access, vlan: 10 }"}), 2, "interface name is empty"},
    {"name_list", yaml({"ports:", "  - { name: [a], mode: access, vlan: 10 }"}), 2, "name: expected a string"},
    {"name_duplicate", yaml({"ports:", kPort, "  - { name: b, mode: access, vlan: 10 }",
                             "  - { name: a, mode: access, vlan: 20 }"}),
     4, "name: duplicate port 'a'; first defined at line 2", 13},
    // --- port.mode
    {"mode_missing", yaml({"ports:", "  - { name: a, vlan: 10 }"}), 2, "port 'a' has no 'mode'; set it to access or trunk", 5},
    {"mode_bad", yaml({"ports:", "  - { name: a, mode: acess, vlan: 10 }"}), 2,
     "mode: 'acess' is not a port mode; expected access or trunk", 22},
    {"mode_list", yaml({"ports:", "  - { name: a, mode: [access], vlan: 10 }"}), 2, "mode: expected a string"},
    // --- access ports
    {"access_no_vlan", yaml({"ports:", "  - name: a", "    mode: access"}), 2,
     "access port 'a' has no 'vlan'; set vlan: 1..4094", 5},
    {"access_vlan_0", yaml({"ports:", "  - { name: a, mode: access, vlan: 0 }"}), 2,
     "vlan: VLAN 0 is reserved; allowed: 1..4094", 36},
    {"access_vlan_4095", yaml({"ports:", "  - { name: a, mode: access, vlan: 4095 }"}), 2,
     "vlan: VLAN 4095 is reserved"},
    {"access_vlan_4096", yaml({"ports:", "  - { name: a, mode: access, vlan: 4096 }"}), 2,
     "vlan: VLAN 4096 is out of range; allowed: 1..4094"},
    {"access_vlan_quoted", yaml({"ports:", "  - { name: a, mode: access, vlan: \"10\" }"}), 2,
     "vlan: expected an integer"},
    {"access_vlan_suffix", yaml({"ports:", "  - { name: a, mode: access, vlan: 10x }"}), 2,
     "vlan: expected an integer 1..4094, got '10x'", 36},
    {"access_vlan_negative", yaml({"ports:", "  - { name: a, mode: access, vlan: -1 }"}), 2,
     "got '-1'"},
    {"access_vlan_float", yaml({"ports:", "  - { name: a, mode: access, vlan: 1.5 }"}), 2, "got '1.5'"},
    {"access_vlan_list", yaml({"ports:", "  - { name: a, mode: access, vlan: [10] }"}), 2,
     "vlan: expected an integer 1..4094, got a list"},
    {"access_vlan_range", yaml({"ports:", "  - { name: a, mode: access, vlan: 10-20 }"}), 2,
     "got '10-20'"},
    {"access_with_vlans", yaml({"ports:", "  - name: a", "    mode: access", "    vlan: 10", "    vlans: [20]"}),
     5, "vlans: not allowed on an access port", 5},
    {"access_with_native", yaml({"ports:", "  - name: a", "    mode: access", "    vlan: 10", "    native_vlan: 20"}),
     5, "native_vlan: not allowed on an access port"},
    // --- trunk ports
    {"trunk_with_vlan", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlan: 10", "    vlans: [20]"}),
     4, "vlan: not allowed on a trunk port; use 'vlans'", 5},
    {"trunk_no_vlans", yaml({"ports:", kPort, "  - { name: t, mode: trunk }"}), 3,
     "trunk port 't' carries no VLAN; set 'vlans', 'native_vlan' or both", 5},
    {"trunk_empty_vlans", yaml({"ports:", "  - { name: t, mode: trunk, vlans: [] }"}), 2, "carries no VLAN"},
    {"trunk_vlans_null", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans:"}), 2, "carries no VLAN"},
    {"trunk_vlan_0", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans: [10, 0]"}), 4,
     "vlans: VLAN 0 is reserved", 17},
    {"trunk_vlan_4095", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans:", "      - 10", "      - 4095"}),
     6, "vlans: VLAN 4095 is reserved", 9},
    {"trunk_reversed", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans: [20-10]"}), 4,
     "vlans: range 20-10 is reversed"},
    {"trunk_garbage", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans: [10, ten]"}), 4,
     "vlans: 'ten' is not a VLAN ID or range", 17},
    {"trunk_nested_list", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans: [[10]]"}), 4,
     "vlans: expected a VLAN ID or a range 'a-b', got a list"},
    {"trunk_vlans_scalar", yaml({"ports:", "  - name: t", "    mode: trunk", "    vlans: 10"}), 4,
     "vlans: expected a list like [10, 20, 100-199]"},
    {"trunk_native_0", yaml({"ports:", "  - { name: t, mode: trunk, vlans: [10], native_vlan: 0 }"}), 2,
     "native_vlan: VLAN 0 is reserved"},
    {"trunk_native_4095", yaml({"ports:", "  - { name: t, mode: trunk, native_vlan: 4095 }"}), 2,
     "native_vlan: VLAN 4095 is reserved"},
    // --- mac_limit, host
    {"mac_limit_negative", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, mac_limit: -1 }"}), 2,
     "mac_limit: expected an integer 0..1000000, got '-1'"},
    {"mac_limit_big", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, mac_limit: 1000001 }"}), 2,
     "mac_limit: 1000001 is out of range; allowed: 0..1000000"},
    {"mac_limit_float", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, mac_limit: 2.0 }"}), 2,
     "expected an integer"},
    {"host_yes", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, host: yes }"}), 2,
     "host: expected true or false, got 'yes'"},
    {"host_quoted", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, host: \"true\" }"}), 2,
     "host: expected true or false, got the string \"true\""},
    {"host_int", yaml({"ports:", "  - { name: a, mode: access, vlan: 10, host: 1 }"}), 2, "expected true or false"},
    // --- static_fdb
    {"static_not_list", yaml({"ports:", kPort, "static_fdb: { mac: x }"}), 3, "static_fdb: expected a list"},
    {"static_entry_not_mapping", yaml({"ports:", kPort, "static_fdb:", "  - 52:54:00:00:00:01"}), 4,
     "static_fdb entry 1: expected a mapping"},
    {"static_unknown_key", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: 10, port: a, age: 1 }"}),
     4, "unknown key 'age' in static_fdb entry; expected one of: mac, vlan, port"},
    {"static_no_mac", yaml({"ports:", kPort, "static_fdb:", "  - { vlan: 10, port: a }"}), 4,
     "static_fdb entry 1 has no 'mac'", 5},
    {"static_no_vlan", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, port: a }"}), 4,
     "has no 'vlan'"},
    {"static_no_port", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: 10 }"}), 4,
     "has no 'port'"},
    {"static_bad_mac", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:01, vlan: 10, port: a }"}), 4,
     "mac: '52:54:00:00:01' is not a MAC address", 12},
    {"static_multicast", yaml({"ports:", kPort, "static_fdb:", "  - { mac: \"01:00:5e:00:00:01\", vlan: 10, port: a }"}),
     4, "mac: 01:00:5e:00:00:01 is a multicast address"},
    {"static_broadcast", yaml({"ports:", kPort, "static_fdb:", "  - { mac: ff:ff:ff:ff:ff:ff, vlan: 10, port: a }"}),
     4, "is a multicast address"},
    {"static_zero", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 00:00:00:00:00:00, vlan: 10, port: a }"}), 4,
     "mac: 00:00:00:00:00:00 is not a usable address"},
    {"static_vlan_0", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: 0, port: a }"}), 4,
     "vlan: VLAN 0 is reserved"},
    {"static_vlan_word", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: ten, port: a }"}),
     4, "vlan: expected an integer"},
    {"static_unknown_port", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: 10, port: vm9 }"}),
     4, "port: 'vm9' is not a port of this policy", 47},
    {"static_access_other_vlan", yaml({"ports:", kPort, "static_fdb:", "  - { mac: 52:54:00:00:00:01, vlan: 20, port: a }"}),
     4, "port: 'a' does not carry VLAN 20 (it is an access port in VLAN 10)"},
    {"static_trunk_other_vlan",
     yaml({"ports:", "  - { name: t, mode: trunk, vlans: [10, 100-199], native_vlan: 1 }", "static_fdb:",
           "  - { mac: 52:54:00:00:00:01, vlan: 200, port: t }"}),
     4, "port: 't' does not carry VLAN 200 (it is a trunk carrying 10,100-199, native 1)"},
    {"static_duplicate",
     yaml({"ports:", kPort, "  - { name: b, mode: access, vlan: 10 }", "static_fdb:",
           "  - { mac: 52:54:00:00:00:01, vlan: 10, port: a }", "  - { mac: 52-54-00-00-00-01, vlan: 10, port: b }"}),
     6, "mac: duplicate static entry for 52:54:00:00:00:01 in VLAN 10; first at line 5", 12},
};

// Printed as its name, which ctest then uses as the test's name.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(All, ParseError, testing::ValuesIn(kErrors));

// ---------------------------------------------------------------- several problems

TEST(Parse, CollectsAllProblemsInFileOrder) {
    const std::string path = kDir + "/broken.yaml";
    try {
        load_policy_file(path);
        FAIL() << "broken.yaml accepted";
    } catch (const PolicyError& e) {
        const std::vector<std::pair<int, std::string>> want = {
            {4, "mode: 'acess' is not a port mode"},
            {6, "access port 'vm2' has no 'vlan'"},
            {8, "unknown key 'vlna' in port"},
            {9, "trunk port 'vm1' carries no VLAN"},
            {9, "name: duplicate port 'vm1'; first defined at line 3"},
            {12, "mac: 01:00:5e:00:00:01 is a multicast address"},
            {12, "port: 'vm9' is not a port of this policy"},
        };
        const auto& d = e.diagnostics();
        ASSERT_EQ(d.size(), want.size()) << e.what();
        for (size_t i = 0; i < want.size(); i++) {
            EXPECT_EQ(d[i].loc.file, path);
            EXPECT_EQ(d[i].loc.line, want[i].first) << d[i].str();
            EXPECT_NE(d[i].reason.find(want[i].second), std::string::npos) << d[i].str();
        }
        // what() is every diagnostic, one per line, "file:line:col: reason".
        const std::string what = e.what();
        EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 6);
        EXPECT_EQ(what.rfind(path + ":4:11: mode: 'acess'", 0), 0u) << what;
    }
}

TEST(Parse, SyntaxErrorIsOneDiagnosticWithMark) {
    try {
        parse_policy(yaml({"ports:", kPort, "bridge: a: b"}), "s.yaml");
        FAIL();
    } catch (const PolicyError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_STREQ(e.what(), "s.yaml:3:10: invalid YAML: illegal map value");
    }
}

TEST(Load, MissingFile) {
    const std::string path = kDir + "/does-not-exist.yaml";
    try {
        load_policy_file(path);
        FAIL();
    } catch (const PolicyError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(std::string(e.what()), path + ": cannot read: No such file or directory");
    }
}

TEST(Load, Directory) {
    try {
        load_policy_file(kDir);
        FAIL();
    } catch (const PolicyError& e) {
        EXPECT_EQ(std::string(e.what()), kDir + ": cannot read: Is a directory");
    }
}

TEST(Load, EmptyFile) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("xdpnet-empty-" + std::to_string(::getpid()) + ".yaml");
    { std::ofstream(path.string()); }
    try {
        load_policy_file(path.string());
        std::filesystem::remove(path);
        FAIL();
    } catch (const PolicyError& e) {
        std::filesystem::remove(path);
        EXPECT_EQ(std::string(e.what()), path.string() + ": the policy is empty; it needs at least a 'ports' list");
    }
}

} // namespace
} // namespace xdpnet::policy
