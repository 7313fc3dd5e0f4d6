// The explanation of a trace (telemetry::explain): facts written by hand the
// way a run of the datapath leaves them (counters per slot, output frame,
// table changes), and the verdict, reason, egress ports, rewrites and state
// changes checked in the JSON, and the story in the steps and the text.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

#include "telemetry/frame_diff.h"
#include "telemetry/packet_spec.h"
#include "telemetry/trace_report.h"

namespace xdpnet::telemetry {
namespace {

using Bytes = std::vector<uint8_t>;

// The lab's layout: three access ports, a host trunk, a NAT network's VM and its uplink.
enum Slot : uint16_t { VM1 = 0, VM2 = 1, VM3 = 2, VM5 = 4, UP0 = 5, WAN = 6 };

struct xdpnet_port make_port(uint16_t slot, uint8_t mode, uint16_t pvid, std::vector<uint16_t> vlans,
                             uint8_t flags = 0) {
    struct xdpnet_port p = {};
    p.slot = slot;
    p.ifindex = 100u + slot;
    p.mode = mode;
    p.pvid = pvid;
    p.flags = flags;
    vlans.push_back(pvid);
    for (uint16_t v : vlans)
        if (v)
            p.vlans[v / 64] |= 1ull << (v % 64);
    return p;
}

struct xdpnet_gateway gateway(const char* ip, uint8_t len, uint8_t last) {
    struct xdpnet_gateway g = {};
    inet_pton(AF_INET, ip, &g.gw_ip);
    g.prefix_len = len;
    const uint8_t mac[6] = {0x02, 0x78, 0x64, 0x00, 0x00, last};
    std::memcpy(g.router_mac, mac, 6);
    return g;
}

__be32 addr(const char* s) {
    __be32 a = 0;
    inet_pton(AF_INET, s, &a);
    return a;
}

TraceFacts lab_facts(uint16_t in_slot, const std::string& spec) {
    TraceFacts f;
    f.instance = "lab";
    f.in_slot = in_slot;
    f.ports[VM1] = {"vm1", make_port(VM1, XDPNET_MODE_ACCESS, 10, {})};
    f.ports[VM2] = {"vm2", make_port(VM2, XDPNET_MODE_ACCESS, 10, {})};
    f.ports[VM3] = {"vm3", make_port(VM3, XDPNET_MODE_ACCESS, 20, {})};
    f.ports[VM5] = {"vm5", make_port(VM5, XDPNET_MODE_ACCESS, 30, {})};
    f.ports[UP0] = {"up0", make_port(UP0, XDPNET_MODE_TRUNK, 1, {10, 20}, XDPNET_PORT_HOST)};
    f.ports[WAN] = {"wan", make_port(WAN, XDPNET_MODE_UPLINK, 0, {})};
    f.ports[WAN].port.ipv4 = addr("203.0.113.1");
    f.vlans = {{1, {UP0}}, {10, {VM1, VM2, UP0}}, {20, {VM3, UP0}}, {30, {VM5}}};
    f.networks[10] = {"vms10", gateway("10.0.10.254", 24, 10), std::nullopt};
    f.networks[20] = {"vms20", gateway("10.0.20.254", 24, 20), std::nullopt};
    f.frame_in = build_packet(spec);
    f.frame_out = f.frame_in;
    f.stats[in_slot].ctr[XDPNET_CTR_RX] = 1;
    f.stats[in_slot].ctr[XDPNET_CTR_RX_BYTES] = f.frame_in.size();
    return f;
}

bool has_step(const TraceReport& r, const std::string& part) {
    for (const auto& s : r.steps)
        if (s.find(part) != std::string::npos)
            return true;
    return false;
}

std::string steps_of(const TraceReport& r) {
    std::string out;
    for (const auto& s : r.steps)
        out += "  " + s + "\n";
    return out;
}

const std::string kVm1ToVm2 = "eth(src=52:54:00:00:00:01,dst=52:54:00:00:00:02)/ipv4(src=10.0.10.1,dst=10.0.10.2)/"
                              "udp(sport=4000,dport=7000)";

TEST(TraceReport, KnownUnicast) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_REDIRECT;
    f.stats[VM2].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    f.fdb_src = xdpnet_fdb_entry{1, 100, VM1, 0, 0};
    f.fdb_dst = xdpnet_fdb_entry{1, 101, VM2, 0, 0};
    const TraceReport r = explain(f);
    const auto& j = r.json;
    EXPECT_EQ(j["verdict"], "XDP_REDIRECT");
    EXPECT_EQ(j["reason"], "known_unicast");
    EXPECT_EQ(j["meaning"], "sent out of vm2");
    EXPECT_EQ(j["vlan"], 10);
    ASSERT_EQ(j["egress"].size(), 1u);
    EXPECT_EQ(j["egress"][0]["port"], "vm2");
    EXPECT_EQ(j["egress"][0]["tagged"], false);
    EXPECT_EQ(j["egress"][0]["vlan"], 10);
    EXPECT_EQ(j["egress"][0]["frame"], to_hex(f.frame_in));
    EXPECT_TRUE(j["rewritten"].empty());
    EXPECT_TRUE(j["flooded"].is_null());
    EXPECT_EQ(j["to_host"], false);
    EXPECT_TRUE(j["state_changes"].empty());
    EXPECT_EQ(j["counters"]["vm2"]["counters"]["tx_unicast"], 1);
    EXPECT_EQ(j["counters"]["vm1"]["counters"]["rx_packets"], 1);
    EXPECT_EQ(r.steps, (std::vector<std::string>{
                           "received on vm1 (slot 0, access VLAN 10)",
                           "classified into VLAN 10: the access port's VLAN",
                           "source 52:54:00:00:00:01 in VLAN 10 already known on vm1",
                           "known unicast: 52:54:00:00:00:02 in VLAN 10 is behind vm2 (learned); sent out of vm2 "
                           "untagged"}));
    const std::string text = r.text();
    EXPECT_NE(text.find("verdict: XDP_REDIRECT, sent out of vm2 (known_unicast)"), std::string::npos) << text;
    EXPECT_NE(text.find("rewritten: nothing"), std::string::npos) << text;
    EXPECT_NE(text.find("vm2 {tx_unicast 1}"), std::string::npos) << text;
}

TEST(TraceReport, UnknownUnicastFloodsHonouringEachMembersTag) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_REDIRECT;
    f.frame_out = build_packet("eth(src=52:54:00:00:00:01,dst=52:54:00:00:00:02)/vlan(10)/"
                               "ipv4(src=10.0.10.1,dst=10.0.10.2)/udp(sport=4000,dport=7000)");
    f.stats[VM1].ctr[XDPNET_CTR_FLOODED] = 1;
    f.stats[VM1].ctr[XDPNET_CTR_LEARNED] = 1;
    RowChange<xdpnet_fdb_key, xdpnet_fdb_entry> learned;
    learned.key.vlan = 10;
    std::memcpy(learned.key.mac, f.frame_in.data() + 6, 6);
    learned.after = xdpnet_fdb_entry{5, 100, VM1, 0, 0};
    f.fdb.push_back(learned);
    const TraceReport r = explain(f);
    const auto& j = r.json;
    EXPECT_EQ(j["reason"], "flood");
    EXPECT_EQ(j["meaning"], "flooded to vm2, up0");
    ASSERT_EQ(j["egress"].size(), 2u) << j["egress"].dump(1);
    EXPECT_EQ(j["egress"][0]["port"], "vm2");
    EXPECT_EQ(j["egress"][0]["tagged"], false);
    EXPECT_EQ(j["egress"][0]["frame"], to_hex(f.frame_in)) << "the access port's copy leaves untagged";
    EXPECT_TRUE(j["egress"][0]["rewritten"].empty());
    EXPECT_EQ(j["egress"][1]["port"], "up0");
    EXPECT_EQ(j["egress"][1]["tagged"], true);
    EXPECT_EQ(j["egress"][1]["frame"], to_hex(f.frame_out));
    EXPECT_EQ(j["egress"][1]["rewritten"][0]["change"], "pushed");
    EXPECT_EQ(j["flooded"]["vlan"], 10);
    EXPECT_EQ(j["flooded"]["members"], j["egress"]);
    ASSERT_EQ(j["state_changes"].size(), 1u);
    EXPECT_EQ(j["state_changes"][0],
              (nlohmann::json{{"table", "fdb"}, {"op", "add"}, {"vlan", 10}, {"mac", "52:54:00:00:00:01"},
                              {"port", "vm1"}}));
    EXPECT_TRUE(has_step(r, "source 52:54:00:00:00:01 learned in VLAN 10 on vm1")) << steps_of(r);
    EXPECT_TRUE(has_step(r, "destination 52:54:00:00:00:02 unknown in VLAN 10: flooded in VLAN 10 to vm2 "
                            "untagged, up0 tagged 10"))
        << steps_of(r);
    const std::string text = r.text();
    EXPECT_NE(text.find("  up0 tagged 10: vlan pushed\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  vm2 untagged: as it came in\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fdb: learn 52:54:00:00:00:01 in VLAN 10 on vm1"), std::string::npos) << text;
}

TEST(TraceReport, DropNamesTheReasonAndItsHelp) {
    TraceFacts f = lab_facts(UP0, "eth(src=52:54:00:00:0a:0a,dst=ff:ff:ff:ff:ff:ff)/vlan(30)/"
                                  "ipv4(src=10.0.30.9,dst=10.0.30.5)/udp(sport=1,dport=2)");
    f.verdict = XDP_DROP;
    f.stats[UP0].drops[XDPNET_DROP_VLAN_NOT_ALLOWED] = 1;
    const TraceReport r = explain(f);
    const auto& j = r.json;
    EXPECT_EQ(j["verdict"], "XDP_DROP");
    EXPECT_EQ(j["meaning"], "dropped");
    EXPECT_EQ(j["reason"], "vlan_not_allowed");
    EXPECT_EQ(j["reason_text"], "tag not in the trunk's allowed VLANs");
    EXPECT_TRUE(j["vlan"].is_null());
    EXPECT_TRUE(j["egress"].empty());
    EXPECT_TRUE(j["rewritten"].empty());
    ASSERT_EQ(j["drops"].size(), 1u);
    EXPECT_EQ(j["drops"][0]["port"], "up0");
    EXPECT_EQ(r.steps.back(), "dropped: vlan_not_allowed (tag not in the trunk's allowed VLANs)");
    EXPECT_EQ(r.text().find("rewritten"), std::string::npos) << "a dropped frame is not rewritten";
}

TEST(TraceReport, RoutedBetweenNetworks) {
    TraceFacts f = lab_facts(VM1, "eth(src=52:54:00:00:00:01,dst=02:78:64:00:00:0a)/"
                                  "ipv4(src=10.0.10.1,dst=10.0.20.3)/udp(sport=1,dport=2)");
    f.verdict = XDP_REDIRECT;
    f.frame_out = build_packet("eth(src=02:78:64:00:00:14,dst=52:54:00:00:00:03)/"
                               "ipv4(src=10.0.10.1,dst=10.0.20.3,ttl=63)/udp(sport=1,dport=2)");
    f.stats[VM1].ctr[XDPNET_CTR_ROUTED] = 1;
    f.stats[VM3].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["reason"], "routed");
    EXPECT_EQ(r.json["egress"][0]["port"], "vm3");
    EXPECT_EQ(r.json["egress"][0]["vlan"], 20);
    std::vector<std::string> fields;
    for (const auto& c : r.json["rewritten"])
        fields.push_back(c["field"]);
    EXPECT_EQ(fields, (std::vector<std::string>{"eth.dst", "eth.src", "ipv4.ttl", "ipv4.checksum"}));
    EXPECT_TRUE(has_step(r, "routed from VLAN 10 (network vms10) into VLAN 20 (network vms20): TTL decremented, "
                            "source MAC the router's 02:78:64:00:00:14, destination MAC the neighbour's "
                            "52:54:00:00:00:03"))
        << steps_of(r);
    EXPECT_TRUE(has_step(r, "delivered: 52:54:00:00:00:03 in VLAN 20 is behind vm3; sent out of vm3 untagged"))
        << steps_of(r);
    EXPECT_TRUE(r.json["checksum_errors"].empty());
}

TEST(TraceReport, FlagsAnOutputChecksumThatDoesNotVerify) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_REDIRECT;
    f.stats[VM2].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    f.frame_out[14 + 8] = 63; // TTL without its checksum
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["checksum_errors"], nlohmann::json::array({"ipv4.checksum"}));
    EXPECT_NE(r.text().find("warning: ipv4.checksum of the output frame does not verify"), std::string::npos);
}

TraceFacts snat_facts() {
    TraceFacts f = lab_facts(VM5, "eth(src=52:54:00:00:00:05,dst=02:78:64:00:00:1e)/"
                                  "ipv4(src=10.0.30.5,dst=198.51.100.1)/tcp(sport=40000,dport=80)");
    struct xdpnet_nat_config c = {};
    c.uplink_ifindex = 106;
    c.uplink_slot = WAN;
    c.flags = XDPNET_NAT_MASQ;
    c.uplink_ip = addr("203.0.113.1");
    c.port_lo = 20000;
    c.port_hi = 29999;
    f.networks[30] = {"natnet", gateway("10.0.30.1", 24, 30), c};
    f.stats[VM5].ctr[XDPNET_CTR_NAT_NEW] = 1;
    // The pair as nat.h builds it: 10.0.30.5:40000 -> far:80 becomes
    // 203.0.113.1:20001 -> far:80; replies far:80 -> 203.0.113.1:20001.
    RowChange<xdpnet_ct_key, xdpnet_ct> orig, reply;
    orig.key = {addr("10.0.30.5"), addr("198.51.100.1"), htons(40000), htons(80), IPPROTO_TCP, XDPNET_SIDE_VM, 0};
    reply.key = {addr("198.51.100.1"), addr("203.0.113.1"), htons(80), htons(20001), IPPROTO_TCP,
                 XDPNET_SIDE_UPLINK, 0};
    struct xdpnet_ct o = {}, rv = {};
    o.to_saddr = addr("203.0.113.1");
    o.to_daddr = addr("198.51.100.1");
    o.to_sport = htons(20001);
    o.to_dport = htons(80);
    o.vid = 30;
    o.state = XDPNET_CT_TCP_SYN_SENT;
    o.flags = XDPNET_CT_ORIGINAL | XDPNET_CT_SNAT | XDPNET_CT_PEER_UPLINK;
    o.packets = 1;
    rv = o;
    rv.to_saddr = orig.key.daddr;
    rv.to_daddr = orig.key.saddr;
    rv.to_sport = orig.key.dport;
    rv.to_dport = orig.key.sport;
    rv.flags = XDPNET_CT_SNAT;
    orig.after = o;
    reply.after = rv;
    f.ct = {reply, orig};
    return f;
}

TEST(TraceReport, SnatShowsTheNewConnectionAndThePortChosen) {
    TraceFacts f = snat_facts();
    f.verdict = XDP_REDIRECT;
    f.frame_out = build_packet("eth(src=52:54:00:00:00:fd,dst=52:54:00:00:00:60)/"
                               "ipv4(src=203.0.113.1,dst=198.51.100.1,ttl=63)/tcp(sport=20001,dport=80)");
    f.stats[VM5].ctr[XDPNET_CTR_NAT_OUT] = 1;
    f.stats[WAN].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    const TraceReport r = explain(f);
    const auto& j = r.json;
    EXPECT_EQ(j["reason"], "nat_out");
    ASSERT_EQ(j["egress"].size(), 1u);
    EXPECT_EQ(j["egress"][0]["port"], "wan");
    EXPECT_TRUE(j["egress"][0]["vlan"].is_null()) << "an uplink carries no VLANs";
    ASSERT_EQ(j["state_changes"].size(), 1u) << "one connection, listed once: " << j["state_changes"].dump(1);
    const auto& c = j["state_changes"][0];
    EXPECT_EQ(c["table"], "nat");
    EXPECT_EQ(c["op"], "add");
    EXPECT_EQ(c["kind"], "snat");
    EXPECT_EQ(c["state"], "syn_sent");
    EXPECT_EQ(c["original"], (nlohmann::json{{"src", "10.0.30.5"}, {"sport", 40000}, {"dst", "198.51.100.1"},
                                             {"dport", 80}}));
    EXPECT_EQ(c["translated"]["src"], "203.0.113.1");
    EXPECT_EQ(c["translated"]["sport"], 20001);
    EXPECT_EQ(c["reply"]["dport"], 20001);
    EXPECT_TRUE(has_step(r, "new snat tcp connection 10.0.30.5:40000 -> 198.51.100.1:80: translated to "
                            "203.0.113.1:20001 -> 198.51.100.1:80; its replies arrive as 198.51.100.1:80 -> "
                            "203.0.113.1:20001 (source port 20001 picked now"))
        << steps_of(r);
    EXPECT_TRUE(has_step(r, "out of the uplink, to the next hop the kernel's FIB names (52:54:00:00:00:60)"))
        << steps_of(r);
    std::vector<std::string> fields;
    for (const auto& x : j["rewritten"])
        fields.push_back(x["field"]);
    EXPECT_EQ(fields, (std::vector<std::string>{"eth.dst", "eth.src", "ipv4.ttl", "ipv4.checksum", "ipv4.src",
                                                "tcp.sport", "tcp.checksum"}));
}

TEST(TraceReport, SlowPathIsExplained) {
    TraceFacts f = snat_facts();
    f.verdict = XDP_PASS;
    f.meta = xdpnet_meta{XDPNET_META_MAGIC, 106};
    f.stats[VM5].ctr[XDPNET_CTR_NAT_SLOW] = 1;
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["reason"], "nat_slow_path");
    EXPECT_EQ(r.json["slow_path"]["uplink"], "wan");
    EXPECT_EQ(r.json["to_host"], false);
    EXPECT_TRUE(has_step(r, "to the tc program xdpnet_nat_slow, which translates it and hands it to "
                            "bpf_redirect_neigh out of wan"))
        << steps_of(r);
    EXPECT_NE(r.text().find("rewritten: nothing in XDP (tc translates it)"), std::string::npos) << r.text();
}

TEST(TraceReport, HostBroadcastGoesUpAndTcFloodsIt) {
    TraceFacts f = lab_facts(UP0, "eth(src=52:54:00:00:00:50,dst=ff:ff:ff:ff:ff:ff)/"
                                  "arp(spa=192.168.50.2,tpa=192.168.50.1)");
    f.ports[VM2].port.vlans[0] |= 1ull << 1; // say vm2 were a trunk member of VLAN 1
    f.ports[VM2].port.mode = XDPNET_MODE_TRUNK;
    f.vlans[1] = {UP0, VM2};
    f.verdict = XDP_PASS;
    f.stats[UP0].ctr[XDPNET_CTR_TO_HOST] = 1;
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["reason"], "to_host");
    EXPECT_EQ(r.json["to_host"], true);
    EXPECT_TRUE(r.json["egress"].empty());
    ASSERT_EQ(r.json["host_flood"].size(), 1u);
    EXPECT_EQ(r.json["host_flood"][0]["port"], "vm2");
    EXPECT_EQ(r.json["host_flood"][0]["tagged"], true) << "VLAN 1 is not vm2's native VLAN";
    EXPECT_TRUE(has_step(r, "passed to the host's network stack (XDP_PASS)")) << steps_of(r);
    EXPECT_TRUE(has_step(r, "xdpnet_host_flood floods copies to the rest of VLAN 1: vm2 tagged 1")) << steps_of(r);
}

TEST(TraceReport, EveryCounterAppearsInTheSteps) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_REDIRECT;
    f.stats[VM2].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    f.stats[VM1].ctr[XDPNET_CTR_NEIGH_FAILED] = 1; // no stage words it: its help text does
    f.stats[VM2].drops[XDPNET_DROP_HEADROOM] = 1;
    const TraceReport r = explain(f);
    EXPECT_TRUE(has_step(r, "neigh_update_failed on vm1: neighbours seen but not recorded (table update failed)"))
        << steps_of(r);
    EXPECT_TRUE(has_step(r, "dropped on vm2: headroom (could not push or pop a VLAN tag)")) << steps_of(r);
}

TEST(TraceReport, AclRuleThatMatched) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_DROP;
    f.stats[VM1].drops[XDPNET_DROP_ACL_DENY] = 1;
    f.acl = AclHit{2, XDPNET_ACL_DENY, "deny udp from_vlan 10"};
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["reason"], "acl_deny");
    EXPECT_EQ(r.json["acl"], (nlohmann::json{{"rule", 3}, {"default", false}, {"action", "deny"},
                                             {"text", "deny udp from_vlan 10"}}));
    EXPECT_TRUE(has_step(r, "ACL: rule 3 `deny udp from_vlan 10` matches: deny")) << steps_of(r);
    f.acl = AclHit{XDPNET_ACL_MAX_RULES, XDPNET_ACL_DENY, ""};
    EXPECT_TRUE(has_step(explain(f), "ACL: no rule matches: the default, deny"));
}

TEST(TraceReport, MovedMacIsAStateChange) {
    TraceFacts f = lab_facts(VM1, kVm1ToVm2);
    f.verdict = XDP_REDIRECT;
    f.stats[VM1].ctr[XDPNET_CTR_MOVED] = 1;
    f.stats[VM2].ctr[XDPNET_CTR_TX_UNICAST] = 1;
    RowChange<xdpnet_fdb_key, xdpnet_fdb_entry> moved;
    moved.key.vlan = 10;
    std::memcpy(moved.key.mac, f.frame_in.data() + 6, 6);
    moved.before = xdpnet_fdb_entry{1, 101, VM2, 0, 0};
    moved.after = xdpnet_fdb_entry{2, 100, VM1, 0, 0};
    f.fdb = {moved};
    const TraceReport r = explain(f);
    EXPECT_TRUE(has_step(r, "source 52:54:00:00:00:01 in VLAN 10 moved from vm2 to vm1")) << steps_of(r);
    ASSERT_EQ(r.json["state_changes"].size(), 1u);
    EXPECT_EQ(r.json["state_changes"][0]["op"], "move");
    EXPECT_EQ(r.json["state_changes"][0]["from"], "vm2");
    EXPECT_EQ(r.json["state_changes"][0]["port"], "vm1");
    // Only its timestamp refreshed: no change worth telling.
    f.fdb[0].before = xdpnet_fdb_entry{1, 100, VM1, 0, 0};
    f.stats[VM1].ctr[XDPNET_CTR_MOVED] = 0;
    EXPECT_TRUE(explain(f).json["state_changes"].empty());
}

TEST(TraceReport, UnresolvedNeighbourBecomesAnArpRequest) {
    TraceFacts f = lab_facts(VM1, "eth(src=52:54:00:00:00:01,dst=02:78:64:00:00:0a)/"
                                  "ipv4(src=10.0.10.1,dst=10.0.20.9)/udp(sport=1,dport=2)");
    f.verdict = XDP_REDIRECT;
    f.frame_out = build_packet("eth(src=02:78:64:00:00:14,dst=ff:ff:ff:ff:ff:ff)/vlan(20)/"
                               "arp(spa=10.0.20.254,tpa=10.0.20.9)");
    f.stats[VM1].ctr[XDPNET_CTR_ARP_REQUEST] = 1;
    f.stats[VM1].ctr[XDPNET_CTR_FLOODED] = 1;
    f.stats[VM1].drops[XDPNET_DROP_NEIGH_UNRESOLVED] = 1;
    RowChange<xdpnet_neigh_key, xdpnet_neigh> asked;
    asked.key = {20, 0, addr("10.0.20.9")};
    asked.after = xdpnet_neigh{7, {}, XDPNET_NEIGH_INCOMPLETE, 0};
    f.neigh = {asked};
    const TraceReport r = explain(f);
    EXPECT_EQ(r.json["reason"], "neigh_unresolved");
    EXPECT_EQ(r.json["flooded"]["vlan"], 20);
    std::vector<std::pair<std::string, bool>> members;
    for (const auto& e : r.json["egress"])
        members.emplace_back(e["port"], e["tagged"]);
    EXPECT_EQ(members, (std::vector<std::pair<std::string, bool>>{{"vm3", false}, {"up0", true}}));
    EXPECT_TRUE(has_step(r, "the router has no MAC for 10.0.20.9 in VLAN 20 (network vms20): the packet is "
                            "dropped and an ARP request for it is flooded in its place"))
        << steps_of(r);
    EXPECT_TRUE(has_step(r, "dropped: neigh_unresolved")) << steps_of(r);
    ASSERT_EQ(r.json["state_changes"].size(), 1u);
    EXPECT_EQ(r.json["state_changes"][0],
              (nlohmann::json{{"table", "neigh"}, {"op", "add"}, {"vlan", 20}, {"address", "10.0.20.9"},
                              {"mac", nullptr}, {"state", "incomplete"}}));
}

TEST(TraceReport, ClassifiesLikeTheDatapath) {
    const auto access = make_port(0, XDPNET_MODE_ACCESS, 10, {});
    const auto trunk = make_port(1, XDPNET_MODE_TRUNK, 1, {10, 20});
    const auto no_native = make_port(2, XDPNET_MODE_TRUNK, 0, {10});
    const auto uplink = make_port(3, XDPNET_MODE_UPLINK, 0, {});
    const std::string eth = "eth(src=52:54:00:00:00:01,dst=52:54:00:00:00:02)";
    const std::string ip = "/ipv4(src=10.0.0.1,dst=10.0.0.2)";
    const Bytes untagged = build_packet(eth + ip), tag20 = build_packet(eth + "/vlan(20)" + ip),
                tag30 = build_packet(eth + "/vlan(30)" + ip), prio = build_packet(eth + "/vlan(vid=0,pcp=5)" + ip),
                qinq = build_packet(eth + "/vlan(10)/vlan(20)" + ip);
    EXPECT_EQ(classify_vlan(access, untagged), 10);
    EXPECT_EQ(classify_vlan(access, tag20), std::nullopt) << "tagged on an access port";
    EXPECT_EQ(classify_vlan(trunk, tag20), 20);
    EXPECT_EQ(classify_vlan(trunk, tag30), std::nullopt) << "not allowed";
    EXPECT_EQ(classify_vlan(trunk, untagged), 1) << "native";
    EXPECT_EQ(classify_vlan(trunk, prio), 1) << "a priority tag means the native VLAN";
    EXPECT_EQ(classify_vlan(trunk, qinq), std::nullopt);
    EXPECT_EQ(classify_vlan(no_native, untagged), std::nullopt);
    EXPECT_EQ(classify_vlan(uplink, untagged), std::nullopt);
    EXPECT_EQ(verdict_name(XDP_PASS), "XDP_PASS");
    EXPECT_EQ(verdict_name(9), "verdict 9");
}

} // namespace
} // namespace xdpnet::telemetry
