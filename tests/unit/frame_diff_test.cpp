// Frame decoding and comparison for `xdpnet trace`: frames come from packet
// descriptions (packet_spec, tested on its own), rewrites are made by hand
// the way the datapath makes them, and the expected field lists are spelled
// out in full, so an extra or a missing field fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "telemetry/frame_diff.h"
#include "telemetry/packet_spec.h"

namespace xdpnet::telemetry {
namespace {

using Bytes = std::vector<uint8_t>;

const std::string kEth = "eth(src=52:54:00:00:00:01,dst=52:54:00:00:00:02)";

Bytes pkt(const std::string& spec) { return build_packet(spec); }

/// "field:before>after[:change]" per change, for compact comparisons.
std::vector<std::string> flat(const std::vector<FieldChange>& cs) {
    std::vector<std::string> out;
    for (const auto& c : cs)
        out.push_back(c.field + ":" + c.before + ">" + c.after + (c.change.empty() ? "" : ":" + c.change));
    return out;
}

std::vector<std::string> names(const DecodedFrame& d) {
    std::vector<std::string> out;
    for (const auto& f : d.fields)
        out.push_back(f.name);
    return out;
}

std::string value(const DecodedFrame& d, const std::string& name) {
    for (const auto& f : d.fields)
        if (f.name == name)
            return f.value;
    return "(absent)";
}

TEST(FrameDiff, SameFrameHasNoChanges) {
    const Bytes f = pkt(kEth + "/vlan(10)/ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1,dport=2)/payload(len=20)");
    EXPECT_TRUE(diff_frames(f, f).empty());
}

TEST(FrameDiff, DecodesTcpOverIpv4InHeaderOrder) {
    const DecodedFrame d = decode_frame(pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,ttl=9,tos=0xb9,id=7,df=1)/"
                                                   "tcp(sport=1234,dport=80,flags=SA)/payload(len=3)"));
    EXPECT_EQ(names(d), (std::vector<std::string>{"eth.dst", "eth.src", "eth.type", "ipv4.dscp", "ipv4.ecn",
                                                  "ipv4.len", "ipv4.id", "ipv4.flags", "ipv4.frag", "ipv4.ttl",
                                                  "ipv4.proto", "ipv4.checksum", "ipv4.src", "ipv4.dst", "tcp.sport",
                                                  "tcp.dport", "tcp.flags", "tcp.checksum"}));
    EXPECT_EQ(value(d, "eth.type"), "0x0800 (ipv4)");
    EXPECT_EQ(value(d, "ipv4.dscp"), "46");
    EXPECT_EQ(value(d, "ipv4.ecn"), "1");
    EXPECT_EQ(value(d, "ipv4.len"), "43");
    EXPECT_EQ(value(d, "ipv4.flags"), "DF");
    EXPECT_EQ(value(d, "ipv4.ttl"), "9");
    EXPECT_EQ(value(d, "ipv4.proto"), "6 (tcp)");
    EXPECT_EQ(value(d, "tcp.flags"), "SA");
    EXPECT_TRUE(d.bad_checksums.empty());
    EXPECT_EQ(d.payload_offset, 14u + 20 + 20);
}

TEST(FrameDiff, RoutedFrameShowsMacsTtlAndChecksum) {
    // What the router does: MACs rewritten, TTL - 1 with the header checksum
    // updated. The expected "after" is the description with those changes.
    const Bytes in = pkt(kEth + "/ipv4(src=10.0.10.1,dst=10.0.20.3,ttl=64)/udp(sport=5,dport=6)");
    const Bytes out = pkt("eth(src=02:78:64:00:00:14,dst=52:54:00:00:00:03)/ipv4(src=10.0.10.1,dst=10.0.20.3,ttl=63)/"
                          "udp(sport=5,dport=6)");
    const auto d = decode_frame(in);
    EXPECT_EQ(flat(diff_frames(in, out)),
              (std::vector<std::string>{"eth.dst:52:54:00:00:00:02>52:54:00:00:00:03",
                                        "eth.src:52:54:00:00:00:01>02:78:64:00:00:14", "ipv4.ttl:64>63",
                                        "ipv4.checksum:" + value(d, "ipv4.checksum") + ">" +
                                            value(decode_frame(out), "ipv4.checksum")}));
    EXPECT_TRUE(decode_frame(out).bad_checksums.empty());
}

TEST(FrameDiff, VlanPushedPoppedChanged) {
    const Bytes untagged = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)");
    const Bytes tag10 = pkt(kEth + "/vlan(10)/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)");
    const Bytes tag20p5 = pkt(kEth + "/vlan(vid=20,pcp=5)/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)");
    EXPECT_EQ(flat(diff_frames(untagged, tag10)), (std::vector<std::string>{"vlan:none>10:pushed"}));
    EXPECT_EQ(flat(diff_frames(tag10, untagged)), (std::vector<std::string>{"vlan:10>none:popped"}));
    EXPECT_EQ(flat(diff_frames(tag10, tag20p5)), (std::vector<std::string>{"vlan:10>20 pcp 5:changed"}));
}

TEST(FrameDiff, SnatShowsAddressPortAndBothChecksums) {
    const Bytes in = pkt(kEth + "/ipv4(src=10.0.30.5,dst=198.51.100.1)/tcp(sport=40000,dport=80)");
    const Bytes out = pkt(kEth + "/ipv4(src=203.0.113.1,dst=198.51.100.1)/tcp(sport=20001,dport=80)");
    const auto a = decode_frame(in), b = decode_frame(out);
    EXPECT_EQ(flat(diff_frames(in, out)),
              (std::vector<std::string>{
                  "ipv4.checksum:" + value(a, "ipv4.checksum") + ">" + value(b, "ipv4.checksum"),
                  "ipv4.src:10.0.30.5>203.0.113.1", "tcp.sport:40000>20001",
                  "tcp.checksum:" + value(a, "tcp.checksum") + ">" + value(b, "tcp.checksum")}));
}

TEST(FrameDiff, ArpRequestBecomesReply) {
    const Bytes req = pkt("eth(src=52:54:00:00:00:03,dst=ff:ff:ff:ff:ff:ff)/arp(spa=10.0.20.3,tpa=10.0.20.254)");
    const Bytes rep = pkt("eth(src=02:78:64:00:00:14,dst=52:54:00:00:00:03)/"
                          "arp(op=reply,sha=02:78:64:00:00:14,spa=10.0.20.254,tha=52:54:00:00:00:03,tpa=10.0.20.3)");
    EXPECT_EQ(flat(diff_frames(req, rep)),
              (std::vector<std::string>{
                  "eth.dst:ff:ff:ff:ff:ff:ff>52:54:00:00:00:03", "eth.src:52:54:00:00:00:03>02:78:64:00:00:14",
                  "arp.op:1 (request)>2 (reply)", "arp.sha:52:54:00:00:00:03>02:78:64:00:00:14",
                  "arp.spa:10.0.20.3>10.0.20.254", "arp.tha:00:00:00:00:00:00>52:54:00:00:00:03",
                  "arp.tpa:10.0.20.254>10.0.20.3"}));
}

TEST(FrameDiff, FieldsOnlyOneFrameHasReadAsDash) {
    // An IPv4 packet turned into an ARP request (what the router does for an
    // unresolved neighbour): the IP fields go, the ARP fields come.
    const Bytes ip = pkt(kEth + "/ipv4(src=10.0.10.1,dst=10.0.20.3)");
    const Bytes arp = pkt("eth(src=02:78:64:00:00:14,dst=ff:ff:ff:ff:ff:ff)/arp(spa=10.0.20.254,tpa=10.0.20.3)");
    const auto cs = flat(diff_frames(ip, arp));
    ASSERT_GE(cs.size(), 4u);
    EXPECT_EQ(cs[2], "eth.type:0x0800 (ipv4)>0x0806 (arp)");
    // Fields that went come where they stood, before the fields that came.
    auto at = [&](const std::string& s) { return std::find(cs.begin(), cs.end(), s) - cs.begin(); };
    EXPECT_EQ(at("ipv4.dscp:0>-"), 3);
    EXPECT_LT(at("ipv4.src:10.0.10.1>-"), at("arp.op:->1 (request)"));
    EXPECT_LT(at("arp.op:->1 (request)"), long(cs.size()));
    EXPECT_LT(at("arp.tpa:->10.0.20.3"), long(cs.size()));
}

TEST(FrameDiff, PayloadChangesAreCounted) {
    const Bytes a = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,proto=253)/payload(hex=000102)");
    Bytes b = a;
    b.back() = 0x42;
    EXPECT_EQ(flat(diff_frames(a, b)), (std::vector<std::string>{"payload:3 bytes>3 bytes (1 differ)"}));
    Bytes longer = a;
    longer.push_back(0);
    EXPECT_EQ(flat(diff_frames(a, longer)), (std::vector<std::string>{"payload:3 bytes>4 bytes"}));
}

TEST(FrameDiff, FindsChecksumsThatDoNotVerify) {
    Bytes f = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1,dport=2)");
    f[14 + 8] -= 1; // TTL, header checksum left alone
    EXPECT_EQ(decode_frame(f).bad_checksums, (std::vector<std::string>{"ipv4.checksum"}));
    Bytes g = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1,dport=2)");
    g[14 + 20 + 1] = 9; // source port, TCP checksum left alone
    EXPECT_EQ(decode_frame(g).bad_checksums, (std::vector<std::string>{"tcp.checksum"}));
    Bytes u = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)/payload(len=4)");
    u[14 + 20 + 6] = 0; // UDP over IPv4 may carry no checksum
    u[14 + 20 + 7] = 0;
    EXPECT_EQ(value(decode_frame(u), "udp.checksum"), "0x0000 (none)");
    EXPECT_TRUE(decode_frame(u).bad_checksums.empty());
    Bytes i = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/icmp(id=7,seq=1)");
    i[14 + 20 + 4] ^= 1; // the echo identifier
    EXPECT_EQ(decode_frame(i).bad_checksums, (std::vector<std::string>{"icmp.checksum"}));
}

TEST(FrameDiff, DecodesThePacketAnIcmpErrorQuotes) {
    // Time exceeded about UDP 10.0.30.5:40000 -> 198.51.100.1:53: the quoted
    // IPv4 header and the first 8 bytes of its UDP header.
    const Bytes quoted = pkt("eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02)/"
                             "ipv4(src=10.0.30.5,dst=198.51.100.1,ttl=1)/udp(sport=40000,dport=53)");
    std::string hex;
    for (size_t i = 14; i < 14 + 28; i++) {
        static const char* d = "0123456789abcdef";
        hex += d[quoted[i] >> 4];
        hex += d[quoted[i] & 15];
    }
    const DecodedFrame d = decode_frame(
        pkt(kEth + "/ipv4(src=10.0.30.1,dst=10.0.30.5)/icmp(type=time-exceeded)/payload(hex=" + hex + ")"));
    EXPECT_EQ(value(d, "icmp.type"), "11 (time-exceeded)");
    EXPECT_EQ(value(d, "icmp.inner.ipv4.src"), "10.0.30.5");
    EXPECT_EQ(value(d, "icmp.inner.ipv4.dst"), "198.51.100.1");
    EXPECT_EQ(value(d, "icmp.inner.ipv4.ttl"), "1");
    EXPECT_EQ(value(d, "icmp.inner.udp.sport"), "40000");
    EXPECT_EQ(value(d, "icmp.inner.udp.dport"), "53");
    EXPECT_EQ(value(d, "icmp.id"), "(absent)") << "errors carry no echo identifier";
    EXPECT_TRUE(d.bad_checksums.empty());
}

TEST(FrameDiff, DecodesIpv6AndVerifiesItsTransportChecksum) {
    Bytes f = pkt(kEth + "/ipv6(src=2001:db8::1,dst=2001:db8::2,hlim=5,tc=0xb8)/tcp(sport=9,dport=10)");
    const DecodedFrame d = decode_frame(f);
    EXPECT_EQ(value(d, "ipv6.src"), "2001:db8::1");
    EXPECT_EQ(value(d, "ipv6.hlim"), "5");
    EXPECT_EQ(value(d, "ipv6.dscp"), "46");
    EXPECT_EQ(value(d, "tcp.dport"), "10");
    EXPECT_TRUE(d.bad_checksums.empty());
    f[14 + 8] ^= 0x10; // a source address bit: in the pseudo-header
    EXPECT_EQ(decode_frame(f).bad_checksums, (std::vector<std::string>{"tcp.checksum"}));
}

TEST(FrameDiff, TruncatedFramesDecodeAsFarAsTheyGo) {
    const Bytes f = pkt(kEth + "/vlan(10)/ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1,dport=2)");
    EXPECT_TRUE(decode_frame(Bytes(f.begin(), f.begin() + 10)).fields.empty());
    const DecodedFrame d = decode_frame(Bytes(f.begin(), f.begin() + 30)); // inside the IPv4 header
    EXPECT_EQ(names(d), (std::vector<std::string>{"eth.dst", "eth.src", "vlan", "eth.type"}));
    EXPECT_EQ(d.payload_offset, 18u);
}

TEST(FrameDiff, DescribesAFrameOnOneLine) {
    EXPECT_EQ(describe_frame(pkt(kEth + "/vlan(10)/ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1234,dport=80)")),
              "52:54:00:00:00:01 > 52:54:00:00:00:02, vlan 10, IPv4 10.0.0.1 > 10.0.0.2 ttl 64, "
              "TCP 1234 > 80 [S], 58 bytes");
    EXPECT_EQ(describe_frame(pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/icmp(id=9)")),
              "52:54:00:00:00:01 > 52:54:00:00:00:02, IPv4 10.0.0.1 > 10.0.0.2 ttl 64, ICMP echo-request id 9, "
              "42 bytes");
    EXPECT_EQ(describe_frame(pkt("eth(src=52:54:00:00:00:03,dst=ff:ff:ff:ff:ff:ff)/arp(spa=10.0.0.3,tpa=10.0.0.1)")),
              "52:54:00:00:00:03 > ff:ff:ff:ff:ff:ff, ARP who-has 10.0.0.1 tell 10.0.0.3, 42 bytes");
    EXPECT_EQ(describe_frame(pkt(kEth + "/vlan(vid=20,pcp=3)/ipv6(src=::1,dst=::2)/udp(sport=1,dport=2)")),
              "52:54:00:00:00:01 > 52:54:00:00:00:02, vlan 20 pcp 3, IPv6 ::1 > ::2 hlim 64, UDP 1 > 2, 66 bytes");
    EXPECT_EQ(describe_frame(Bytes(7, 0)), "7 bytes, shorter than an Ethernet header");
}

TEST(FrameDiff, PopsAndReadsTheOuterTag) {
    const Bytes untagged = pkt(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)");
    const Bytes tagged = pkt(kEth + "/vlan(vid=30,pcp=2)/ipv4(src=10.0.0.1,dst=10.0.0.2)/udp(sport=1,dport=2)");
    EXPECT_EQ(frame_vid(tagged), 30);
    EXPECT_EQ(frame_vid(untagged), -1);
    EXPECT_EQ(pop_vlan(tagged), untagged);
    EXPECT_EQ(pop_vlan(untagged), untagged);
    EXPECT_EQ(to_hex(Bytes{0x00, 0xab, 0x5f}), "00ab5f");
}

} // namespace
} // namespace xdpnet::telemetry
