// Text helpers of the policy layer: MACs, VLAN lists, durations, diagnostics.
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;

TEST(Mac, ParsesColonAndDashForms) {
    const MacAddr want{0x52, 0x54, 0x00, 0xab, 0xCD, 0x99};
    EXPECT_EQ(parse_mac("52:54:00:ab:cd:99"), want);
    EXPECT_EQ(parse_mac("52-54-00-AB-CD-99"), want);
    EXPECT_EQ(parse_mac("52:54:00:Ab:cD:99"), want);
}

TEST(Mac, RejectsMalformed) {
    for (const char* bad : {"", "52:54:00:00:00", "52:54:00:00:00:9g", "52:54-00:00:00:99",
                            "525400000099", "52:54:00:00:00:099", "5:54:00:00:00:99",
                            "52:54:00:00:00:99:", " 52:54:00:00:00:9", "52.54.00.00.00.99"}) {
        EXPECT_EQ(parse_mac(bad), std::nullopt) << bad;
    }
}

TEST(Mac, FormatsLowercase) {
    const MacAddr mac{0x52, 0x54, 0x00, 0xAB, 0x0c, 0xff};
    EXPECT_EQ(format_mac(mac), "52:54:00:ab:0c:ff");
    EXPECT_EQ(format_mac(mac.data()), "52:54:00:ab:0c:ff");
    EXPECT_EQ(format_mac(*parse_mac("AA-BB-CC-DD-EE-FF")), "aa:bb:cc:dd:ee:ff");
}

VlanSet vlans_of(std::initializer_list<int> ids) {
    VlanSet s;
    for (int id : ids)
        s.set(id);
    return s;
}

TEST(VlanItem, Singles) {
    EXPECT_EQ(parse_vlan_item("10"), vlans_of({10}));
    EXPECT_EQ(parse_vlan_item("1"), vlans_of({1}));
    EXPECT_EQ(parse_vlan_item("4094"), vlans_of({4094}));
}

TEST(VlanItem, Ranges) {
    const VlanSet r = parse_vlan_item("100-199");
    EXPECT_EQ(r.count(), 100u);
    EXPECT_TRUE(r.test(100));
    EXPECT_TRUE(r.test(199));
    EXPECT_FALSE(r.test(99));
    EXPECT_FALSE(r.test(200));
    EXPECT_EQ(parse_vlan_item("5-5"), vlans_of({5}));
    EXPECT_EQ(parse_vlan_item("1-4094").count(), 4094u);
}

struct VlanError {
    const char* item;
    const char* reason; // substring of the exception message
};

TEST(VlanItem, Errors) {
    const VlanError cases[] = {
        {"0", "VLAN 0 is reserved"},
        {"4095", "VLAN 4095 is reserved"},
        {"4096", "VLAN 4096 is out of range"},
        {"99999999999999999999999", "out of range"},
        {"0-10", "VLAN 0 is reserved"},
        {"4000-4095", "VLAN 4095 is reserved"},
        {"20-10", "range 20-10 is reversed"},
        {"abc", "'abc' is not a VLAN ID or range"},
        {"", "is not a VLAN ID or range"},
        {"-", "is not a VLAN ID or range"},
        {"10-", "'10-' is not a VLAN ID or range"},
        {"-10", "'-10' is not a VLAN ID or range"},
        {"1-2-3", "'1-2-3' is not a VLAN ID or range"},
        {"10 ", "is not a VLAN ID or range"},
        {"1e3", "is not a VLAN ID or range"},
        {"0x10", "is not a VLAN ID or range"},
        {"1.5", "is not a VLAN ID or range"},
    };
    for (const auto& c : cases) {
        try {
            parse_vlan_item(c.item);
            ADD_FAILURE() << "'" << c.item << "' was accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(c.reason), std::string::npos)
                << "'" << c.item << "': " << e.what();
        }
    }
}

TEST(FormatVlans, Compact) {
    EXPECT_EQ(format_vlans(VlanSet{}), "");
    EXPECT_EQ(format_vlans(vlans_of({10})), "10");
    EXPECT_EQ(format_vlans(vlans_of({1, 4094})), "1,4094");
    EXPECT_EQ(format_vlans(vlans_of({10, 11})), "10-11");
    EXPECT_EQ(format_vlans(vlans_of({10, 20}) | parse_vlan_item("100-199")), "10,20,100-199");
    EXPECT_EQ(format_vlans(parse_vlan_item("1-4094")), "1-4094");
}

/// Parses "a,b-c,..." back, for round trips.
VlanSet parse_list(const std::string& text) {
    VlanSet set;
    size_t start = 0;
    while (start < text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos)
            comma = text.size();
        set |= parse_vlan_item(text.substr(start, comma - start));
        start = comma + 1;
    }
    return set;
}

TEST(FormatVlans, RoundTrip) {
    uint32_t seed = 12345; // deterministic LCG: the same sets every run
    for (int round = 0; round < 50; round++) {
        VlanSet set;
        const int density = 1 + round % 7;
        for (int v = 1; v <= 4094; v++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 8 < static_cast<uint32_t>(density))
                set.set(v);
        }
        const std::string text = format_vlans(set);
        EXPECT_EQ(parse_list(text), set) << text;
        EXPECT_EQ(text.find(' '), std::string::npos);
    }
}

TEST(Duration, Units) {
    EXPECT_EQ(parse_duration_ns("250ms"), 250000000ull);
    EXPECT_EQ(parse_duration_ns("300s"), 300 * kS);
    EXPECT_EQ(parse_duration_ns("5m"), 300 * kS);
    EXPECT_EQ(parse_duration_ns("2h"), 7200 * kS);
    EXPECT_EQ(parse_duration_ns("1d"), 86400 * kS);
    EXPECT_EQ(parse_duration_ns("300"), 300 * kS);
    EXPECT_EQ(parse_duration_ns("0"), 0u);
}

TEST(Duration, Errors) {
    for (const char* bad : {"", "s", "5x", "-5s", "1.5s", "5 s", "5S", "5sec", "ms5", " 5s", "1e3",
                            "99999999999999999999d", "999999999999d"}) {
        EXPECT_THROW(parse_duration_ns(bad), std::invalid_argument) << "'" << bad << "'";
    }
    try {
        parse_duration_ns("5x");
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("'5x' is not a duration"), std::string::npos) << e.what();
    }
}

TEST(Diagnostic, Str) {
    EXPECT_EQ((Diagnostic{{"p.yaml", 3, 7}, "bad"}).str(), "p.yaml:3:7: bad");
    EXPECT_EQ((Diagnostic{{"p.yaml", 3, 0}, "bad"}).str(), "p.yaml:3: bad");
    EXPECT_EQ((Diagnostic{{"p.yaml", 0, 0}, "bad"}).str(), "p.yaml: bad");
    EXPECT_EQ((Diagnostic{{"p.yaml", 0, 5}, "bad"}).str(), "p.yaml: bad");
}

TEST(PolicyError, WhatJoinsAllDiagnostics) {
    const PolicyError e({Diagnostic{{"a.yaml", 1, 2}, "one"}, Diagnostic{{"a.yaml", 4, 0}, "two"}});
    EXPECT_STREQ(e.what(), "a.yaml:1:2: one\na.yaml:4: two");
    ASSERT_EQ(e.diagnostics().size(), 2u);
    EXPECT_EQ(e.diagnostics()[1].reason, "two");
}

} // namespace
} // namespace xdpnet::policy
