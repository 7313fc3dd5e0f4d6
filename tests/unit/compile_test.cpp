// compile(): slots, the exact map values, member lists, static FDB entries,
// resolver errors and the aging-pass interval.
#include <gtest/gtest.h>

#include <cstring>

#include "policy/policy.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;
const std::string kLab = std::string(XDPNET_TEST_POLICIES) + "/lab.yaml";

/// A resolver backed by a map: the host's interfaces in a test.
struct FakeHost {
    std::map<std::string, InterfaceInfo> ifaces;
    InterfaceResolver resolver() const {
        return [this](const std::string& name) -> std::optional<InterfaceInfo> {
            auto it = ifaces.find(name);
            if (it == ifaces.end())
                return std::nullopt;
            return it->second;
        };
    }
};

MacAddr mac(uint8_t last) { return {0x02, 0x00, 0x00, 0x00, 0x00, last}; }

FakeHost lab_host() {
    return FakeHost{{{"vm1", {11, mac(1)}}, {"vm2", {12, mac(2)}}, {"vm3", {13, mac(3)}}, {"up0", {2, mac(0xf0)}}}};
}

const PortImage& port(const MapImage& img, const std::string& name) {
    for (const auto& p : img.ports)
        if (p.name == name)
            return p;
    throw std::runtime_error("no port " + name);
}

bool has_vlan(const xdpnet_port& p, unsigned vid) { return (p.vlans[vid / 64] >> (vid % 64)) & 1; }

TEST(Compile, FreshSlotsInPolicyOrder) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver());
    ASSERT_EQ(img.ports.size(), 4u);
    const char* names[] = {"vm1", "vm2", "vm3", "up0"};
    for (uint16_t i = 0; i < 4; i++) {
        EXPECT_EQ(img.ports[i].name, names[i]);
        EXPECT_EQ(img.ports[i].port.slot, i);
    }
}

TEST(Compile, KeepsPreviousSlotsAndFillsLowestFree) {
    const FakeHost host = lab_host();
    // up0 and vm2 stay where they were; vm1 and vm3 are new (or lost their
    // slot) and take the lowest free ones, in policy order. "gone" is a port
    // the new policy dropped: its slot is free again.
    const MapImage img = compile(load_policy_file(kLab), host.resolver(),
                                 {{"up0", 7}, {"vm2", 0}, {"gone", 1}});
    std::vector<std::pair<std::string, uint16_t>> got;
    for (const auto& p : img.ports)
        got.emplace_back(p.name, p.port.slot);
    const std::vector<std::pair<std::string, uint16_t>> want = {{"vm2", 0}, {"vm1", 1}, {"vm3", 2}, {"up0", 7}};
    EXPECT_EQ(got, want); // ordered by slot
}

TEST(Compile, PreviousSlotOutOfRangeOrTakenIsReassigned) {
    const FakeHost host = lab_host();
    // vm1 and vm3 both claim 3: the first in policy order keeps it. 255 is
    // not a port slot (XDPNET_SLOT_NONE).
    const MapImage img = compile(load_policy_file(kLab), host.resolver(),
                                 {{"vm1", 3}, {"vm3", 3}, {"up0", XDPNET_MAX_PORTS}});
    EXPECT_EQ(port(img, "vm1").port.slot, 3);
    EXPECT_EQ(port(img, "vm2").port.slot, 0);
    EXPECT_EQ(port(img, "vm3").port.slot, 1);
    EXPECT_EQ(port(img, "up0").port.slot, 2);
    for (size_t i = 1; i < img.ports.size(); i++)
        EXPECT_LT(img.ports[i - 1].port.slot, img.ports[i].port.slot);
}

TEST(Compile, AccessPortExactBytes) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver());
    xdpnet_port want;
    std::memset(&want, 0, sizeof(want));
    want.ifindex = 11;
    want.slot = 0;
    want.pvid = 10;
    want.mode = XDPNET_MODE_ACCESS;
    want.flags = 0;
    std::memcpy(want.mac, mac(1).data(), 6);
    want.mac_limit = 16;
    want.vlans[0] = 1ull << 10;
    const xdpnet_port& got = port(img, "vm1").port;
    EXPECT_EQ(std::memcmp(&got, &want, sizeof(want)), 0);
    EXPECT_EQ(got.ipv4, 0u);
}

TEST(Compile, TrunkPortExactBytes) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver());
    xdpnet_port want;
    std::memset(&want, 0, sizeof(want));
    want.ifindex = 2;
    want.slot = 3;
    want.pvid = 1; // native VLAN
    want.mode = XDPNET_MODE_TRUNK;
    want.flags = XDPNET_PORT_HOST; // trunk default
    std::memcpy(want.mac, mac(0xf0).data(), 6);
    want.mac_limit = 0;
    // 1 (native), 10, 20, 100-199
    want.vlans[0] = (1ull << 1) | (1ull << 10) | (1ull << 20);
    want.vlans[1] = ~0ull << (100 - 64); // 100..127
    want.vlans[2] = ~0ull;               // 128..191
    want.vlans[3] = 0xffull;             // 192..199
    const xdpnet_port& got = port(img, "up0").port;
    EXPECT_EQ(std::memcmp(&got, &want, sizeof(want)), 0);
    EXPECT_TRUE(has_vlan(got, 199));
    EXPECT_FALSE(has_vlan(got, 200));
    EXPECT_FALSE(has_vlan(got, 99));
    EXPECT_FALSE(has_vlan(got, 0));
}

TEST(Compile, HostFlagAndPvidVariants) {
    const Policy p = parse_policy("ports:\n"
                                  "  - { name: a, mode: access, vlan: 4094, host: true }\n"
                                  "  - { name: t, mode: trunk, vlans: [5], host: false }\n",
                                  "h.yaml");
    const FakeHost host{{{"a", {3, mac(3)}}, {"t", {4, mac(4)}}}};
    const MapImage img = compile(p, host.resolver());
    EXPECT_EQ(port(img, "a").port.flags, XDPNET_PORT_HOST);
    EXPECT_EQ(port(img, "a").port.pvid, 4094);
    EXPECT_TRUE(has_vlan(port(img, "a").port, 4094));
    EXPECT_EQ(port(img, "a").port.vlans[63], 1ull << 62);
    EXPECT_EQ(port(img, "t").port.flags, 0);
    EXPECT_EQ(port(img, "t").port.pvid, 0); // no native VLAN
    EXPECT_EQ(port(img, "t").port.vlans[0], 1ull << 5);
}

TEST(Compile, VlanMembers) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver(), {{"up0", 0}});
    // up0 holds slot 0 now: vm1=1, vm2=2, vm3=3.
    ASSERT_EQ(img.vlans.size(), 103u); // 1, 10, 20 and 100..199
    EXPECT_EQ(img.vlans.at(1), (std::vector<uint16_t>{0}));
    EXPECT_EQ(img.vlans.at(10), (std::vector<uint16_t>{0, 1, 2}));
    EXPECT_EQ(img.vlans.at(20), (std::vector<uint16_t>{0, 3}));
    for (uint16_t v = 100; v <= 199; v++)
        EXPECT_EQ(img.vlans.at(v), (std::vector<uint16_t>{0})) << v;
    EXPECT_EQ(img.vlans.count(2), 0u);
    EXPECT_EQ(img.vlans.count(200), 0u);
}

TEST(Compile, VlanMembersAscendingWhenSlotsAreNotInPolicyOrder) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver(), {{"vm1", 9}, {"vm2", 4}});
    EXPECT_EQ(img.vlans.at(10), (std::vector<uint16_t>{1, 4, 9})); // up0=1 (vm3=0)
}

TEST(Compile, StaticFdbEntry) {
    const FakeHost host = lab_host();
    const MapImage img = compile(load_policy_file(kLab), host.resolver(), {{"vm2", 5}});
    ASSERT_EQ(img.static_fdb.size(), 1u);
    StaticFdbImage want;
    std::memset(&want, 0, sizeof(want));
    want.key.vlan = 10;
    const uint8_t m[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x99};
    std::memcpy(want.key.mac, m, 6);
    want.entry.last_seen_ns = 0;
    want.entry.ifindex = 12;
    want.entry.slot = 5;
    want.entry.flags = XDPNET_FDB_STATIC;
    EXPECT_EQ(std::memcmp(&img.static_fdb[0].key, &want.key, sizeof(want.key)), 0);
    EXPECT_EQ(std::memcmp(&img.static_fdb[0].entry, &want.entry, sizeof(want.entry)), 0);
}

TEST(Compile, BridgeSettingsCopied) {
    Policy p = parse_policy("instance: edge\nbridge: { mac_aging: 10m, fdb_size: 1024, xdp_mode: generic }\n"
                            "ports:\n  - { name: a, mode: access, vlan: 10 }\n",
                            "b.yaml");
    const FakeHost host{{{"a", {3, mac(3)}}}};
    const MapImage img = compile(p, host.resolver());
    EXPECT_EQ(img.instance, "edge");
    EXPECT_EQ(img.fdb_size, 1024u);
    EXPECT_EQ(img.xdp_mode, XdpMode::Generic);
    EXPECT_EQ(img.config.aging_ns, 600 * kS);
    EXPECT_EQ(img.config.ns_per_jiffy, 0u); // the datapath fills it in (kernel HZ)
    EXPECT_EQ(img.config.subnets, 0u); // no networks
}

TEST(Compile, GcIntervalClamp) {
    const std::pair<uint64_t, uint64_t> cases[] = {
        {1 * kS, 1 * kS},          // half is 0.5s: clamped up to 1s
        {2 * kS, 1 * kS},
        {3 * kS, 1500000000ull},
        {100 * kS, 50 * kS},
        {120 * kS, 60 * kS},
        {300 * kS, 60 * kS},       // clamped down to 60s
        {86400 * kS, 60 * kS},
    };
    const FakeHost host{{{"a", {3, mac(3)}}}};
    for (const auto& [aging, interval] : cases) {
        Policy p = parse_policy("ports:\n  - { name: a, mode: access, vlan: 10 }\n", "g.yaml");
        p.mac_aging_ns = aging;
        const MapImage img = compile(p, host.resolver());
        EXPECT_EQ(img.gc_interval_ns, interval) << aging;
        EXPECT_EQ(img.config.aging_ns, aging);
    }
}

TEST(Compile, UnresolvedInterfacesAllReportedWithFileLine) {
    FakeHost host = lab_host();
    host.ifaces.erase("vm3");
    host.ifaces.erase("up0");
    try {
        compile(load_policy_file(kLab), host.resolver());
        FAIL() << "compiled without vm3/up0";
    } catch (const PolicyError& e) {
        ASSERT_EQ(e.diagnostics().size(), 2u) << e.what();
        EXPECT_EQ(e.diagnostics()[0].loc.line, 10);
        EXPECT_EQ(e.diagnostics()[1].loc.line, 11);
        EXPECT_EQ(std::string(e.what()), kLab + ":10:5: interface 'vm3' does not exist\n" + kLab +
                                             ":11:5: interface 'up0' does not exist");
    }
}

TEST(Compile, IfindexTooLarge) {
    FakeHost host = lab_host();
    host.ifaces["vm2"].ifindex = XDPNET_MAX_IFINDEX;
    try {
        compile(load_policy_file(kLab), host.resolver());
        FAIL();
    } catch (const PolicyError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(e.diagnostics()[0].loc.line, 9);
        EXPECT_NE(e.diagnostics()[0].reason.find("interface 'vm2' has ifindex 65536; xdpnet supports 1..65535"),
                  std::string::npos)
            << e.what();
    }
    host.ifaces["vm2"].ifindex = XDPNET_MAX_IFINDEX - 1;
    EXPECT_EQ(port(compile(load_policy_file(kLab), host.resolver()), "vm2").port.ifindex, 65535u);
}

TEST(Compile, TwoNamesForOneDevice) {
    FakeHost host = lab_host();
    host.ifaces["vm3"].ifindex = 11; // e.g. an altname of vm1
    try {
        compile(load_policy_file(kLab), host.resolver());
        FAIL();
    } catch (const PolicyError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(e.diagnostics()[0].loc.line, 10);
        EXPECT_NE(std::string(e.what()).find("'vm3' is the same device as port 'vm1'"), std::string::npos);
    }
}

TEST(Compile, MaxPortsUseEverySlot) {
    std::string text = "ports:\n";
    FakeHost host;
    for (int i = 0; i < XDPNET_MAX_PORTS; i++) {
        const std::string name = "p" + std::to_string(i);
        text += "  - { name: " + name + ", mode: access, vlan: 10 }\n";
        host.ifaces[name] = {static_cast<uint32_t>(100 + i), mac(static_cast<uint8_t>(i))};
    }
    const MapImage img = compile(parse_policy(text, "m.yaml"), host.resolver(), {{"p254", 0}});
    ASSERT_EQ(img.ports.size(), 255u);
    EXPECT_EQ(img.ports[0].name, "p254");
    EXPECT_EQ(img.ports[254].port.slot, 254);
    EXPECT_EQ(img.vlans.at(10).size(), 255u);
}

} // namespace
} // namespace xdpnet::policy
