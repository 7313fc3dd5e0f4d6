// build_packet(): packet descriptions for `xdpnet trace`. Expected frames are
// written out byte by byte (checksums worked out independently of the code
// under test) and every checksum is re-verified with the from-scratch RFC 1071
// sum below; every error path is checked for its column and its message.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "telemetry/packet_spec.h"

namespace xdpnet::telemetry {
namespace {

using Bytes = std::vector<uint8_t>;

const std::string kEth = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)";
const std::string kIp4 = "ipv4(src=10.0.0.1,dst=10.0.0.2)";
const std::string kIp6 = "ipv6(src=2001:db8::1,dst=2001:db8::2)";
const std::string kUdp = "udp(sport=1,dport=2)";

/// RFC 1071 Internet checksum, written independently of the code under test:
/// 16-bit big-endian words, end-around carry folded at every step, an odd
/// last byte padded with zero, result complemented. Over data that already
/// holds a correct checksum it yields 0.
uint16_t internet_checksum(const Bytes& data) {
    uint32_t sum = 0;
    for (size_t i = 0; i < data.size(); i += 2) {
        uint32_t word = static_cast<uint32_t>(data[i]) << 8;
        if (i + 1 < data.size())
            word |= data[i + 1];
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
}

Bytes slice(const Bytes& b, size_t off, size_t len) {
    return Bytes(b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + len));
}

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

uint16_t be16(const Bytes& b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }

/// The L4 checksum over an IPv4 packet at ip: pseudo-header from the header's own fields.
uint16_t l4_checksum_v4(const Bytes& f, size_t ip) {
    const size_t l4_len = be16(f, ip + 2) - 20u;
    Bytes pseudo = slice(f, ip + 12, 8);
    pseudo.insert(pseudo.end(), {0, f[ip + 9], static_cast<uint8_t>(l4_len >> 8), static_cast<uint8_t>(l4_len)});
    return internet_checksum(concat(pseudo, slice(f, ip + 20, l4_len)));
}

/// The L4 checksum over an IPv6 packet at ip (no extension headers).
uint16_t l4_checksum_v6(const Bytes& f, size_t ip) {
    const size_t l4_len = be16(f, ip + 4);
    Bytes pseudo = slice(f, ip + 8, 32);
    pseudo.insert(pseudo.end(), {0, 0, static_cast<uint8_t>(l4_len >> 8), static_cast<uint8_t>(l4_len), 0, 0, 0,
                                 f[ip + 6]});
    return internet_checksum(concat(pseudo, slice(f, ip + 40, l4_len)));
}

/// Where needle first (or last) occurs in text: the expected column of an error.
size_t first(const std::string& text, const std::string& needle) {
    const size_t at = text.find(needle);
    EXPECT_NE(at, std::string::npos) << needle;
    return at;
}
size_t last(const std::string& text, const std::string& needle) {
    const size_t at = text.rfind(needle);
    EXPECT_NE(at, std::string::npos) << needle;
    return at;
}

/// Asserts that desc fails with a SpecError at col whose message contains what.
void expect_error(const std::string& desc, size_t col, const std::string& what) {
    SCOPED_TRACE("description: " + desc);
    try {
        const Bytes b = build_packet(desc);
        ADD_FAILURE() << "no error; built " << b.size() << " bytes";
    } catch (const SpecError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(e.column, col) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nwanted: " << what;
        EXPECT_EQ(msg.rfind("column " + std::to_string(e.column) + ": ", 0), 0u) << msg;
    }
}

// --------------------------------------------------- the checksum helper

TEST(PacketSpecChecksumHelper, MatchesRfc1071AndWikipediaExamples) {
    // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
    EXPECT_EQ(internet_checksum({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}), 0x220d);
    // The IPv4 header example on Wikipedia's "Internet checksum" page.
    EXPECT_EQ(internet_checksum({0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
                                 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}),
              0xb861);
    EXPECT_EQ(internet_checksum({0xab}), static_cast<uint16_t>(~0xab00));  // odd byte is the high half
}

// ------------------------------------------------------- whole frames

TEST(PacketSpecBuild, MinimalIpv4Udp) {
    const Bytes f = build_packet(kEth + "/" + kIp4 + "/udp(sport=1234,dport=53)");
    const Bytes want{
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,  // eth
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x66, 0xcf,              // ipv4
        0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0xe6, 0xd4,  // udp
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(internet_checksum(slice(f, 14, 20)), 0);
    EXPECT_EQ(l4_checksum_v4(f, 14), 0);
    EXPECT_EQ(f.size(), 42u);  // not padded to 60
}

TEST(PacketSpecBuild, VlanIpv4TcpSyn) {
    const Bytes f = build_packet(
        "eth(src=52:54:00:12:34:56,dst=52:54:00:ab:cd:ef)/vlan(10)/"
        "ipv4(src=192.168.10.5,dst=192.168.10.1,id=1,df=1)/tcp(sport=40000,dport=22,seq=1000)");
    const Bytes want{
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst, src
        0x81, 0x00, 0x00, 0x0a, 0x08, 0x00,                                      // 802.1Q vid 10, IPv4
        0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0xa5, 0x78,  // DF, ttl 64, tcp
        0xc0, 0xa8, 0x0a, 0x05, 0xc0, 0xa8, 0x0a, 0x01,
        0x9c, 0x40, 0x00, 0x16, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,  // ports, seq, ack
        0x50, 0x02, 0xff, 0xff, 0x7a, 0x4d, 0x00, 0x00,                          // SYN, win, csum, urg
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(internet_checksum(slice(f, 18, 20)), 0);
    EXPECT_EQ(l4_checksum_v4(f, 18), 0);
}

TEST(PacketSpecBuild, QinQDefaultsTo8021adOuter) {
    const Bytes f = build_packet(kEth + "/vlan(vid=100,pcp=5)/vlan(vid=10,dei=1)/" +
                                 "ipv4(src=10.1.1.1,dst=10.1.1.2,ttl=1)/udp(sport=4789,dport=4789)/"
                                 "payload(hex=deadbeef)");
    const Bytes want{
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0xa8, 0xa0, 0x64,  // outer: 802.1ad, pcp 5, vid 100
        0x81, 0x00, 0x10, 0x0a,  // inner: 802.1Q, dei, vid 10
        0x08, 0x00,
        0x45, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0xa3, 0xc9,
        0x0a, 0x01, 0x01, 0x01, 0x0a, 0x01, 0x01, 0x02,
        0x12, 0xb5, 0x12, 0xb5, 0x00, 0x0c, 0x26, 0xca, 0xde, 0xad, 0xbe, 0xef,
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(internet_checksum(slice(f, 22, 20)), 0);
    EXPECT_EQ(l4_checksum_v4(f, 22), 0);
}

TEST(PacketSpecBuild, Ipv6Udp) {
    const Bytes f = build_packet(kEth + "/" + kIp6 + "/udp(sport=5353,dport=5353)/payload(len=4)");
    const Bytes want{
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40,  // payload length 12, udp, hlim 64
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x14, 0xe9, 0x14, 0xe9, 0x00, 0x0c, 0x78, 0x8b, 0x00, 0x01, 0x02, 0x03,
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(l4_checksum_v6(f, 14), 0);
}

TEST(PacketSpecBuild, Ipv6Icmpv6Echo) {
    const Bytes f = build_packet(kEth + "/ipv6(src=fe80::1,dst=fe80::2)/icmpv6(type=echo-request,id=0x1234,seq=1)");
    const Bytes want{
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0x40,
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x80, 0x00, 0x70, 0x83, 0x12, 0x34, 0x00, 0x01,
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(l4_checksum_v6(f, 14), 0);
    // echo-request is the default type, and it is type 128.
    EXPECT_EQ(build_packet(kEth + "/ipv6(src=fe80::1,dst=fe80::2)/icmpv6(type=128,id=4660,seq=1)"), want);
    EXPECT_EQ(build_packet(kEth + "/ipv6(src=fe80::1,dst=fe80::2)/icmpv6(id=4660,seq=1)"), want);
}

TEST(PacketSpecBuild, ArpRequest) {
    const Bytes f = build_packet(
        "eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff)/"
        "arp(op=request,sha=02:00:00:00:00:01,spa=10.0.0.1,tpa=10.0.0.2)");
    const Bytes want{
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,              // Ethernet/IPv4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01,  // sha, spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,  // tha (zero), tpa
    };
    EXPECT_EQ(f, want);
    // op defaults to request, sha to eth's src.
    EXPECT_EQ(build_packet("eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff)/arp(spa=10.0.0.1,tpa=10.0.0.2)"), want);
}

TEST(PacketSpecBuild, ArpReplyFields) {
    const Bytes f = build_packet(kEth + "/vlan(5)/arp(op=reply,sha=0a:0b:0c:0d:0e:0f,spa=10.0.0.2," +
                                 "tha=02:00:00:00:00:01,tpa=10.0.0.1)");
    ASSERT_EQ(f.size(), 46u);
    EXPECT_EQ(be16(f, 16), 0x0806);
    EXPECT_EQ(be16(f, 24), 2);
    EXPECT_EQ(slice(f, 26, 10), (Bytes{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 10, 0, 0, 2}));
    EXPECT_EQ(slice(f, 36, 10), (Bytes{0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1}));
    EXPECT_EQ(build_packet(kEth + "/arp(op=2,spa=1.2.3.4,tpa=5.6.7.8)")[21], 2);
}

TEST(PacketSpecBuild, Ipv4IcmpEchoOddPayload) {
    const Bytes f = build_packet(kEth + "/" + kIp4 + "/icmp(type=echo-request,id=0x1c46,seq=1)/payload(len=5)");
    const Bytes want{
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
        0x45, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x66, 0xda,
        0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
        0x08, 0x00, 0xd5, 0xb4, 0x1c, 0x46, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04,
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(internet_checksum(slice(f, 34, 13)), 0);  // ICMP: no pseudo-header
    EXPECT_EQ(build_packet(kEth + "/" + kIp4 + "/icmp(id=7238,seq=1)/payload(hex=0001020304)"), want);
}

TEST(PacketSpecBuild, IcmpTypeNamesAndCode) {
    const std::string base = kEth + "/" + kIp4 + "/icmp(";
    EXPECT_EQ(build_packet(base + "type=echo-reply)")[34], 0);
    const Bytes te = build_packet(base + "type=time-exceeded,code=1)");
    EXPECT_EQ(te[34], 11);
    EXPECT_EQ(te[35], 1);
    EXPECT_EQ(internet_checksum(slice(te, 34, 8)), 0);
    EXPECT_EQ(build_packet(base + "type=3,code=4)")[35], 4);
}

TEST(PacketSpecBuild, NeighbourSolicitationWithLladdr) {
    const Bytes f = build_packet("eth(src=02:00:00:00:00:01,dst=33:33:ff:00:00:02)/"
                                 "ipv6(src=fe80::1,dst=ff02::1:ff00:2)/"
                                 "icmpv6(type=ns,target=fe80::2,lladdr=02:00:00:00:00:01)");
    const Bytes want{
        0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,  // hlim 255 by default for ND
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02,
        0x87, 0x00, 0x7a, 0x97, 0x00, 0x00, 0x00, 0x00,  // ns, reserved
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source link-layer address option
    };
    EXPECT_EQ(f, want);
    EXPECT_EQ(l4_checksum_v6(f, 14), 0);
}

TEST(PacketSpecBuild, NeighbourAdvertisementAndHopLimit) {
    const std::string ip = "/ipv6(src=fe80::2,dst=fe80::1";
    const std::string na = ")/icmpv6(type=na,target=fe80::2,lladdr=02:00:00:00:00:02)";
    const Bytes f = build_packet(kEth + ip + na);
    ASSERT_EQ(f.size(), 14u + 40 + 32);
    EXPECT_EQ(f[21], 255);
    EXPECT_EQ(f[54], 136);
    EXPECT_EQ(f[78], 2);  // target link-layer address option
    EXPECT_EQ(l4_checksum_v6(f, 14), 0);
    EXPECT_EQ(build_packet(kEth + ip + ",hlim=64" + na)[21], 64);
    EXPECT_EQ(build_packet(kEth + ip + ")/icmpv6(type=na,target=fe80::2)").size(), 14u + 40 + 24);
    EXPECT_EQ(build_packet(kEth + ip + ")/icmpv6(type=echo-reply)")[21], 64);
}

TEST(PacketSpecBuild, Ipv6TcpOddPayloadChecksum) {
    const Bytes f =
        build_packet(kEth + "/" + kIp6 + "/tcp(sport=443,dport=50000,flags=PA,seq=7,ack=9,win=512)/payload(len=3)");
    ASSERT_EQ(f.size(), 14u + 40 + 20 + 3);
    EXPECT_EQ(f[20], 6);                 // next header
    EXPECT_EQ(be16(f, 18), 23);          // payload length
    EXPECT_EQ(f[54 + 13], 0x18);         // PSH|ACK
    EXPECT_EQ(be16(f, 54 + 14), 512);    // window
    EXPECT_EQ(f[54 + 7], 7);             // seq
    EXPECT_EQ(f[54 + 11], 9);            // ack
    EXPECT_NE(be16(f, 54 + 16), 0);
    EXPECT_EQ(l4_checksum_v6(f, 14), 0);
}

TEST(PacketSpecBuild, UdpZeroChecksumIsSentAsFfff) {
    // This payload makes the one's-complement sum 0xffff, i.e. a computed checksum of 0.
    const Bytes f = build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(hex=ebd4)");
    ASSERT_EQ(f.size(), 44u);
    EXPECT_EQ(be16(f, 40), 0xffff);
    EXPECT_EQ(l4_checksum_v4(f, 14), 0);
    // One payload byte different: an ordinary, non-0xffff checksum.
    const Bytes g = build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(hex=ebd5)");
    EXPECT_EQ(be16(g, 40), 0xfffe);
}

TEST(PacketSpecBuild, KnownIpv4HeaderChecksum) {
    // Wikipedia's example header: 192.168.0.1 -> 192.168.0.199, DF, ttl 64, udp, length 0x73.
    const Bytes f = build_packet(kEth + "/ipv4(src=192.168.0.1,dst=192.168.0.199,df=1)/" + kUdp + "/payload(len=87)");
    EXPECT_EQ(slice(f, 14, 20), (Bytes{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
                                       0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}));
    EXPECT_EQ(l4_checksum_v4(f, 14), 0);
}

TEST(PacketSpecBuild, TcpFlagLetters) {
    const auto flags = [](const std::string& f) {
        return build_packet(kEth + "/" + kIp4 + "/tcp(sport=1,dport=2,flags=" + f + ")")[47];
    };
    EXPECT_EQ(flags("F"), 0x01);
    EXPECT_EQ(flags("S"), 0x02);
    EXPECT_EQ(flags("R"), 0x04);
    EXPECT_EQ(flags("P"), 0x08);
    EXPECT_EQ(flags("A"), 0x10);
    EXPECT_EQ(flags("U"), 0x20);
    EXPECT_EQ(flags("E"), 0x40);
    EXPECT_EQ(flags("C"), 0x80);
    EXPECT_EQ(flags("SA"), 0x12);
    EXPECT_EQ(flags("FA"), 0x11);
    EXPECT_EQ(flags("RA"), 0x14);
    EXPECT_EQ(flags("none"), 0x00);
    EXPECT_EQ(build_packet(kEth + "/" + kIp4 + "/tcp(sport=1,dport=2)")[47], 0x02);  // default SYN
    EXPECT_EQ(be16(build_packet(kEth + "/" + kIp4 + "/tcp(sport=1,dport=2)"), 48), 65535);
}

TEST(PacketSpecBuild, VlanFieldForm) {
    const Bytes f = build_packet(kEth + "/vlan(vid=4094,pcp=7,dei=1,tpid=0x88a8)/" + kIp4);
    EXPECT_EQ(be16(f, 12), 0x88a8);
    EXPECT_EQ(be16(f, 14), 0xffff - 1);  // pcp 7, dei 1, vid 4094
    EXPECT_EQ(be16(f, 16), 0x0800);
    const Bytes g = build_packet(kEth + "/vlan(vid=0)/" + kIp4);
    EXPECT_EQ(be16(g, 12), 0x8100);
    EXPECT_EQ(be16(g, 14), 0);
    // QinQ with both TPIDs given as 0x8100.
    const Bytes q = build_packet(kEth + "/vlan(vid=1,tpid=0x8100)/vlan(2)/" + kIp4);
    EXPECT_EQ(be16(q, 12), 0x8100);
    EXPECT_EQ(be16(q, 16), 0x8100);
    EXPECT_EQ(be16(q, 18), 2);
}

TEST(PacketSpecBuild, RawEthertypeIsNotPadded) {
    // An eth-only frame with its own ethertype: exactly the 16 bytes described.
    const Bytes f = build_packet("eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x88b5)/payload(hex=0102)");
    EXPECT_EQ(f, (Bytes{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 0x01, 0x02}));
}

TEST(PacketSpecBuild, Ipv4FieldsAndProtocol) {
    const Bytes f =
        build_packet(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,ttl=3,tos=0xb8,id=0xbeef,df=1,mf=1,frag=8191)");
    ASSERT_EQ(f.size(), 34u);
    EXPECT_EQ(f[15], 0xb8);
    EXPECT_EQ(be16(f, 16), 20);
    EXPECT_EQ(be16(f, 18), 0xbeef);
    EXPECT_EQ(be16(f, 20), 0x7fff);  // DF | MF | offset 8191
    EXPECT_EQ(f[22], 3);
    EXPECT_EQ(f[23], 253);  // no L4 layer, no proto: RFC 3692 experimental
    EXPECT_EQ(internet_checksum(slice(f, 14, 20)), 0);
    const Bytes g = build_packet(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,mf=1,frag=0x10,proto=47)/payload(len=8)");
    EXPECT_EQ(be16(g, 20), 0x2010);
    EXPECT_EQ(g[23], 47);
    EXPECT_EQ(be16(g, 16), 28);
    EXPECT_EQ(internet_checksum(slice(g, 14, 20)), 0);
    // proto that agrees with the L4 layer is fine.
    EXPECT_EQ(build_packet(kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17)/" + kUdp),
              build_packet(kEth + "/" + kIp4 + "/" + kUdp));
}

TEST(PacketSpecBuild, Ipv6FieldsAndNextHeader) {
    const Bytes f = build_packet(kEth + "/ipv6(src=::1,dst=::2,tc=0xab,flow=0xcdef1,hlim=9)");
    ASSERT_EQ(f.size(), 54u);
    EXPECT_EQ(slice(f, 14, 4), (Bytes{0x6a, 0xbc, 0xde, 0xf1}));
    EXPECT_EQ(be16(f, 18), 0);
    EXPECT_EQ(f[20], 253);
    EXPECT_EQ(f[21], 9);
    EXPECT_EQ(build_packet(kEth + "/ipv6(src=::1,dst=::2,nh=59)")[20], 59);
    const Bytes m = build_packet(kEth + "/ipv6(src=::ffff:10.0.0.1,dst=::2)/payload(len=2)");
    EXPECT_EQ(slice(m, 22 + 10, 6), (Bytes{0xff, 0xff, 10, 0, 0, 1}));
    EXPECT_EQ(be16(m, 18), 2);
}

TEST(PacketSpecBuild, PayloadLenPattern) {
    const Bytes f = build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(len=300)");
    ASSERT_EQ(f.size(), 42u + 300);
    for (size_t i = 0; i < 300; ++i)
        ASSERT_EQ(f[42 + i], static_cast<uint8_t>(i)) << i;
    EXPECT_EQ(be16(f, 38), 308);  // udp length
    EXPECT_EQ(l4_checksum_v4(f, 14), 0);
    EXPECT_EQ(build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(len=0)").size(), 42u);
    EXPECT_EQ(build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(len=9000)").size(), 42u + 9000);
    EXPECT_EQ(build_packet(kEth + "/" + kIp4 + "/" + kUdp + "/payload(hex=0xAbCd)").back(), 0xcd);
}

TEST(PacketSpecBuild, WhitespaceDashMacsAndHexNumbers) {
    const Bytes want = build_packet(kEth + "/vlan(10)/" + kIp4 + "/tcp(sport=80,dport=1024,flags=SA)");
    EXPECT_EQ(build_packet("  eth ( src = 02-00-00-00-00-01 , dst=02:00:00:00:00:02 ) / vlan( 10 ) /\t"
                           "ipv4(src=10.0.0.1, dst=10.0.0.2) / tcp(sport=0x50,dport=0x400,flags=SA)  "),
              want);
    EXPECT_EQ(build_packet(kEth + "/vlan(vid=10)/" + kIp4 + "/tcp(sport=80,dport=1024,flags=AS)"), want);
    EXPECT_EQ(build_packet("eth(src=0A:0b:0C:0d:0E:0f,dst=02:00:00:00:00:02,type=0x1234)").size(), 14u);
    EXPECT_EQ(build_packet("eth(src=0A:0b:0C:0d:0E:0f,dst=02:00:00:00:00:02,type=0x1234)")[11], 0x0f);
}

TEST(PacketSpecBuild, EthTypeOnlyFrameAndTaggedRaw) {
    const std::string raw = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x88b5)";
    EXPECT_EQ(build_packet(raw + "/vlan(3)/payload(len=1)").size(), 19u);
    const Bytes f = build_packet("eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x88b5)/vlan(3)");
    EXPECT_EQ(f, (Bytes{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x03, 0x88, 0xb5}));
}

TEST(PacketSpecError, WhatHasColumnPrefix) {
    try {
        build_packet("eth(");
        FAIL() << "no error";
    } catch (const SpecError& e) {
        EXPECT_EQ(e.column, 4u);
        EXPECT_EQ(std::string(e.what()), "column 4: " + e.reason);
        EXPECT_NE(e.reason.find("missing ')'"), std::string::npos) << e.reason;
    }
}

// ---------------------------------------------------------------- syntax

TEST(PacketSpecSyntax, EmptyDescription) {
    expect_error("", 0, "empty description");
    expect_error("  \t ", 0, "empty description");
}

TEST(PacketSpecSyntax, UnknownLayer) {
    const std::string d = kEth + "/ipx(src=1)";
    expect_error(d, first(d, "ipx"), "unknown layer 'ipx'");
    expect_error("Eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)", 0, "unknown layer 'Eth'");
    expect_error("foo", 0, "unknown layer 'foo'");
}

TEST(PacketSpecSyntax, MissingOpenParen) {
    const std::string d = kEth + "/ipv4 src=10.0.0.1";
    expect_error(d, kEth.size() + 6, "missing '(' after 'ipv4'");
    expect_error("eth", 3, "missing '(' after 'eth'");
    expect_error("eth)", 3, "missing '('");
}

TEST(PacketSpecSyntax, MissingCloseParen) {
    const std::string d = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02";
    expect_error(d, d.size(), "missing ')' to close 'eth(' at column 3");
    const std::string e = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02/" + kIp4;
    expect_error(e, first(e, "/"), "missing ')' to close 'eth(' at column 3 before '/'");
    const std::string u = kEth + "/" + kIp4 + "/udp(sport=1,dport=2";
    expect_error(u, u.size(), "missing ')' to close 'udp(' at column " + std::to_string(last(u, "(")));
}

TEST(PacketSpecSyntax, UnbalancedParens) {
    expect_error("eth((src=02:00:00:00:00:01", 4, "unbalanced parentheses: unexpected '('");
    const std::string d = kEth + "/" + kIp4 + "/" + kUdp + ")";
    expect_error(d, d.size() - 1, "unbalanced parentheses: unexpected ')'");
    const std::string e = kEth + ")/" + kIp4;
    expect_error(e, kEth.size(), "unexpected ')'");
}

TEST(PacketSpecSyntax, EmptyLayer) {
    expect_error(kEth + "//" + kIp4, kEth.size() + 1, "empty layer");
    expect_error(kEth + "/ /" + kIp4, kEth.size() + 2, "empty layer");
    expect_error(kEth + "/", kEth.size() + 1, "empty layer");
    expect_error("/" + kEth, 0, "empty layer");
}

TEST(PacketSpecSyntax, TrailingGarbage) {
    const std::string d = kEth + "/" + kIp4 + "/" + kUdp + " x";
    expect_error(d, d.size() - 1, "trailing characters after ')': unexpected 'x'");
    expect_error(kEth + "x/" + kIp4, kEth.size(), "trailing characters after ')'");
    expect_error(kEth + " " + kIp4, kEth.size() + 1, "unexpected 'i'");
}

TEST(PacketSpecSyntax, ExpectedLayerName) {
    expect_error(kEth + "/(x=1)", kEth.size() + 1, "expected a layer name, found '('");
}

TEST(PacketSpecSyntax, FieldWithoutEquals) {
    const std::string d = kEth + "/" + kIp4 + "/tcp(sport=1,dport=2,syn)";
    expect_error(d, first(d, "syn"), "field 'syn' has no '=' (expected key=value)");
    const std::string v = kEth + "/vlan(pcp=1,10)";
    expect_error(v, v.size() - 3, "field '10' has no '='");  // the bare VID must come first
    const std::string w = kEth + "/vlan(vid)";
    expect_error(w, last(w, "vid"), "field 'vid' has no '='");
}

TEST(PacketSpecSyntax, EmptyFieldNameOrValue) {
    const std::string d = "eth(src=02:00:00:00:00:01,,dst=02:00:00:00:00:02)";
    expect_error(d, first(d, ",,") + 1, "empty field");
    const std::string w = "eth(src=02:00:00:00:00:01,  ,dst=02:00:00:00:00:02)";
    expect_error(w, first(w, "  ,") + 2, "empty field");  // points at the ',' ending it
    const std::string t = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,)";
    expect_error(t, t.size() - 1, "empty field");
    const std::string v = "eth(src=,dst=02:00:00:00:00:02)";
    expect_error(v, 4, "field 'src' has an empty value");
    const std::string k = "eth(=02:00:00:00:00:01)";
    expect_error(k, 4, "missing field name before '='");
}

// ---------------------------------------------------------------- fields

TEST(PacketSpecFields, UnknownField) {
    const std::string d = kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,tll=3)";
    expect_error(d, first(d, "tll"), "unknown field 'tll' for ipv4 (expected src, dst, ttl,");
    const std::string u = kEth + "/" + kIp4 + "/udp(sport=1,dport=2,flags=S)";
    expect_error(u, first(u, "flags"), "unknown field 'flags' for udp");
    const std::string i = kEth + "/" + kIp4 + "/icmp(target=::1)";
    expect_error(i, first(i, "target"), "unknown field 'target' for icmp");
}

TEST(PacketSpecFields, DuplicateField) {
    const std::string d = kEth + "/" + kIp4 + "/udp(sport=1,dport=2,sport=3)";
    expect_error(d, last(d, "sport"), "duplicate field 'sport' in udp");
    const std::string v = kEth + "/vlan(10,vid=11)/" + kIp4;
    expect_error(v, first(v, "vid"), "duplicate field 'vid' in vlan");
}

TEST(PacketSpecFields, MissingRequiredField) {
    const std::string d = kEth + "/" + kIp4 + "/udp(sport=1)";
    expect_error(d, first(d, "udp"), "udp: missing required field 'dport'");
    expect_error("eth(src=02:00:00:00:00:01)/" + kIp4, 0, "eth: missing required field 'dst'");
    const std::string i = kEth + "/ipv6(dst=::1)";
    expect_error(i, kEth.size() + 1, "ipv6: missing required field 'src'");
    const std::string a = kEth + "/arp(spa=10.0.0.1)";
    expect_error(a, kEth.size() + 1, "arp: missing required field 'tpa'");
    expect_error(kEth + "/vlan(pcp=1)/" + kIp4, kEth.size() + 1, "vlan: missing required field 'vid'");
    expect_error(kEth + "/" + kIp4 + "/tcp()", kEth.size() + kIp4.size() + 2, "tcp: missing required field 'sport'");
    expect_error(kEth + "/" + kIp4 + "/payload()", kEth.size() + kIp4.size() + 2,
                 "payload: missing required field 'len' or 'hex'");
    expect_error(kEth, 0, "eth: missing required field 'type' (no ipv4, ipv6 or arp layer follows)");
}

TEST(PacketSpecFields, BadMac) {
    for (const std::string bad : {"02:00:00:00:00", "02:00:00:00:00:0g", "02:00-00:00:00:01", "2:00:00:00:00:01",
                                  "02:00:00:00:00:01:", "020000000001", "02.00.00.00.00.01", "02:00:00:00:00:001"}) {
        const std::string d = "eth(src=02:00:00:00:00:01,dst=" + bad + ")/" + kIp4;
        expect_error(d, 30, "bad MAC address '" + bad + "' (dst)");
    }
    const std::string a = kEth + "/arp(sha=zz,spa=10.0.0.1,tpa=10.0.0.2)";
    expect_error(a, first(a, "zz"), "bad MAC address 'zz' (sha)");
}

TEST(PacketSpecFields, BadIpv4) {
    for (const std::string bad : {"10.0.0.256", "10.0.0", "10.0.0.1.1", "::1", "10.0.0.x", "10.0.0.1/24"}) {
        const std::string d = kEth + "/ipv4(src=10.0.0.1,dst=" + bad + ")";
        if (bad.find('/') != std::string::npos)
            expect_error(d, first(d, "/24"), "missing ')'");  // '/' separates layers
        else
            expect_error(d, last(d, "dst=") + 4, "bad IPv4 address '" + bad + "' (dst)");
    }
    const std::string a = kEth + "/arp(spa=1.2.3,tpa=10.0.0.2)";
    expect_error(a, first(a, "1.2.3"), "bad IPv4 address '1.2.3' (spa)");
}

TEST(PacketSpecFields, BadIpv6) {
    for (const std::string bad : {"2001:db8:::1", "2001:db8::g", "10.0.0.1", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0"}) {
        const std::string d = kEth + "/ipv6(src=" + bad + ",dst=::1)";
        expect_error(d, last(d, "src=") + 4, "bad IPv6 address '" + bad + "' (src)");
    }
    const std::string n = kEth + "/ipv6(src=::1,dst=::2)/icmpv6(type=ns,target=fe80:::2)";
    expect_error(n, first(n, "fe80"), "bad IPv6 address 'fe80:::2' (target)");
}

TEST(PacketSpecFields, NotANumber) {
    for (const std::string bad : {"http", "-1", "+1", "0x", "1e3", "12a", "0xg"}) {
        const std::string d = kEth + "/" + kIp4 + "/udp(sport=" + bad + ",dport=2)";
        expect_error(d, first(d, "sport=") + 6, "'" + bad + "' is not a number (sport=" + bad + ")");
    }
    const std::string t = kEth + "/" + kIp4 + "/icmp(type=ping)";
    expect_error(t, first(t, "ping"), "'ping' is not a number or one of echo-reply, dest-unreachable");
    const std::string o = kEth + "/arp(op=ask,spa=1.1.1.1,tpa=2.2.2.2)";
    expect_error(o, first(o, "ask"), "'ask' is not a number or one of request, reply");
}

TEST(PacketSpecFields, NumberOutOfRange) {
    struct Case {
        std::string desc;
        std::string field;  // key=value (or "(VID"): the error must point at the value
        std::string what;
    };
    const std::string ip = kEth + "/" + kIp4;
    const std::vector<Case> cases{
        {ip + "/tcp(sport=65536,dport=2)", "sport=65536", "sport=65536 is out of range (0..65535)"},
        {ip + "/udp(sport=1,dport=70000)", "dport=70000", "dport=70000 is out of range (0..65535)"},
        {kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,ttl=256)", "ttl=256", "ttl=256 is out of range (0..255)"},
        {kEth + "/vlan(4096)/" + kIp4, "(4096", "vid=4096 is out of range (0..4094)"},
        {kEth + "/vlan(vid=0x1388)/" + kIp4, "vid=0x1388", "vid=0x1388 is out of range (0..4094)"},
        {kEth + "/vlan(vid=1,pcp=8)/" + kIp4, "pcp=8", "pcp=8 is out of range (0..7)"},
        {kEth + "/vlan(vid=1,dei=2)/" + kIp4, "dei=2", "dei=2 is out of range (0..1)"},
        {kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,frag=8192)", "frag=8192", "frag=8192 is out of range (0..8191)"},
        {kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,df=2)", "df=2", "df=2 is out of range (0..1)"},
        {ip + "/payload(len=9001)", "len=9001", "len=9001 is out of range (0..9000)"},
        {kEth + "/ipv6(src=::1,dst=::2,flow=0x100000)", "flow=0x100000", "flow=0x100000 is out of range (0..1048575)"},
        {ip + "/tcp(sport=1,dport=2,seq=4294967296)", "seq=4294967296", "seq=4294967296 is out of range (0..4294967295)"},
        {ip + "/icmp(code=256)", "code=256", "code=256 is out of range (0..255)"},
        {ip + "/udp(sport=99999999999999999999999,dport=1)", "sport=9", "is out of range (0..65535)"},
    };
    for (const auto& c : cases)
        expect_error(c.desc, last(c.desc, c.field) + c.field.find_first_of("=(") + 1, c.what);
}

TEST(PacketSpecFields, VidReserved) {
    const std::string d = kEth + "/vlan(4095)/" + kIp4;
    expect_error(d, first(d, "4095"), "vid 4095 is reserved (0..4094)");
    const std::string h = kEth + "/vlan(vid=0xfff)/" + kIp4;
    expect_error(h, first(h, "0xfff"), "reserved");
}

TEST(PacketSpecFields, TcpFlagUnknown) {
    const std::string d = kEth + "/" + kIp4 + "/tcp(sport=1,dport=2,flags=SX)";
    expect_error(d, first(d, "SX") + 1, "unknown tcp flag 'X'");
    const std::string l = kEth + "/" + kIp4 + "/tcp(sport=1,dport=2,flags=s)";
    expect_error(l, last(l, "s)"), "unknown tcp flag 's'");
    const std::string n = kEth + "/" + kIp4 + "/tcp(sport=1,dport=2,flags=None)";
    expect_error(n, first(n, "None"), "unknown tcp flag 'N'");  // "none" is lowercase only
}

TEST(PacketSpecFields, EthTypeWithL3) {
    const std::string d = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x0800)/" + kIp4;
    expect_error(d, first(d, "type"), "eth: 'type' is filled in from the next layer");
    const std::string a = "eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x0806)/vlan(1)/arp(spa=1.1.1.1,tpa=2.2.2.2)";
    expect_error(a, first(a, "type"), "'type' is filled in");
}

TEST(PacketSpecFields, ProtoContradictsL4) {
    const std::string d = kEth + "/ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17)/tcp(sport=1,dport=2)";
    expect_error(d, first(d, "17"), "proto=17 contradicts the tcp layer (6)");
    const std::string v = kEth + "/ipv6(src=::1,dst=::2,nh=6)/" + kUdp;
    expect_error(v, first(v, "nh=") + 3, "nh=6 contradicts the udp layer (17)");
}

TEST(PacketSpecFields, BadTpid) {
    const std::string d = kEth + "/vlan(vid=1,tpid=0x9100)/" + kIp4;
    expect_error(d, first(d, "0x9100"), "tpid must be 0x8100 or 0x88a8");
}

TEST(PacketSpecFields, BadArpOp) {
    const std::string d = kEth + "/arp(op=3,spa=1.1.1.1,tpa=2.2.2.2)";
    expect_error(d, first(d, "3,"), "op must be request, reply, 1 or 2");
}

TEST(PacketSpecFields, PayloadForms) {
    const std::string ip = kEth + "/" + kIp4 + "/" + kUdp;
    const std::string both = ip + "/payload(len=1,hex=00)";
    expect_error(both, first(both, "hex"), "payload takes len or hex, not both");
    const std::string digit = ip + "/payload(hex=00zz)";
    expect_error(digit, first(digit, "zz"), "bad hex digit 'z'");
    const std::string odd = ip + "/payload(hex=0x123)";
    expect_error(odd, first(odd, "0x123"), "odd number of digits (3)");
    const std::string big = ip + "/payload(hex=" + std::string(2 * 9001, 'a') + ")";
    expect_error(big, first(big, "aaaa"), "payload hex is 9001 bytes, out of range (0..9000)");
}

TEST(PacketSpecFields, Icmpv6NeighbourDiscoveryFields) {
    const std::string ip = kEth + "/ipv6(src=fe80::1,dst=fe80::2)/";
    const std::string no_target = ip + "icmpv6(type=ns)";
    expect_error(no_target, first(no_target, "icmpv6"), "icmpv6: missing required field 'target' (for ns/na)");
    const std::string echo_target = ip + "icmpv6(type=echo-request,target=fe80::3)";
    expect_error(echo_target, first(echo_target, "target"), "'target' applies to ns/na only");
    const std::string echo_ll = ip + "icmpv6(lladdr=02:00:00:00:00:01)";
    expect_error(echo_ll, first(echo_ll, "lladdr"), "'lladdr' applies to ns/na only");
    const std::string na_id = ip + "icmpv6(type=na,target=fe80::3,id=1)";
    expect_error(na_id, first(na_id, "id="), "'id' does not apply to ns/na");
}

// ----------------------------------------------------------------- order

TEST(PacketSpecOrder, EthNotFirst) {
    expect_error(kIp4 + "/" + kUdp, 0, "the first layer must be eth, not 'ipv4'");
    expect_error(" vlan(1)/" + kEth, 1, "the first layer must be eth, not 'vlan'");
}

TEST(PacketSpecOrder, EthTwice) {
    const std::string d = kEth + "/" + kEth + "/" + kIp4;
    expect_error(d, kEth.size() + 1, "eth must be the first layer and appear only once");
}

TEST(PacketSpecOrder, VlanAfterL3) {
    const std::string d = kEth + "/" + kIp4 + "/vlan(10)";
    expect_error(d, first(d, "vlan"), "vlan must directly follow eth or another vlan");
    const std::string a = kEth + "/arp(spa=1.1.1.1,tpa=2.2.2.2)/vlan(10)";
    expect_error(a, first(a, "vlan"), "nothing may follow arp ('vlan' does)");
}

TEST(PacketSpecOrder, MoreThanTwoVlans) {
    const std::string d = kEth + "/vlan(1)/vlan(2)/vlan(3)/" + kIp4;
    expect_error(d, first(d, "vlan(3)"), "at most 2 vlan tags");
}

TEST(PacketSpecOrder, L4WithoutL3) {
    const std::string d = kEth + "/" + kUdp;
    expect_error(d, kEth.size() + 1, "'udp' needs an ipv4 or ipv6 layer before it");
    const std::string t = kEth + "/vlan(1)/tcp(sport=1,dport=2)";
    expect_error(t, first(t, "tcp"), "'tcp' needs an ipv4 or ipv6 layer before it");
}

TEST(PacketSpecOrder, TwoL3Layers) {
    const std::string d = kEth + "/" + kIp4 + "/" + kIp6;
    expect_error(d, first(d, "ipv6"), "only one L3 layer allowed: 'ipv4' at column " + std::to_string(kEth.size() + 1) + " already");
    const std::string a = kEth + "/" + kIp4 + "/arp(spa=1.1.1.1,tpa=2.2.2.2)";
    expect_error(a, first(a, "arp"), "arp must directly follow eth or vlan");
    const std::string l = kEth + "/" + kIp4 + "/" + kUdp + "/" + kIp6;
    expect_error(l, first(l, "ipv6"), "only one L3 layer allowed");
}

TEST(PacketSpecOrder, TwoL4Layers) {
    const std::string d = kEth + "/" + kIp4 + "/tcp(sport=1,dport=2)/" + kUdp;
    expect_error(d, first(d, "udp"), "only one L4 layer allowed: 'tcp' at column");
}

TEST(PacketSpecOrder, IcmpOverIpv6) {
    const std::string d = kEth + "/" + kIp6 + "/icmp(type=echo-request)";
    expect_error(d, first(d, "icmp"), "icmp runs over ipv4 only (use icmpv6 over ipv6)");
}

TEST(PacketSpecOrder, Icmpv6OverIpv4) {
    const std::string d = kEth + "/" + kIp4 + "/icmpv6(type=echo-request)";
    expect_error(d, first(d, "icmpv6"), "icmpv6 runs over ipv6 only (use icmp over ipv4)");
}

TEST(PacketSpecOrder, ArpFollowedByAnything) {
    const std::string d = kEth + "/arp(spa=1.1.1.1,tpa=2.2.2.2)/payload(len=4)";
    expect_error(d, first(d, "payload"), "nothing may follow arp ('payload' does)");
    const std::string i = kEth + "/arp(spa=1.1.1.1,tpa=2.2.2.2)/" + kIp4;
    expect_error(i, first(i, "ipv4"), "nothing may follow arp ('ipv4' does)");
}

TEST(PacketSpecOrder, PayloadNotLast) {
    const std::string d = kEth + "/" + kIp4 + "/payload(len=1)/" + kUdp;
    expect_error(d, first(d, "udp"), "payload must be the last layer ('udp' follows it)");
    const std::string p = kEth + "/" + kIp4 + "/payload(len=1)/payload(len=2)";
    expect_error(p, last(p, "payload"), "payload must be the last layer");
}

TEST(PacketSpecOrder, FirstErrorFromTheLeftWins) {
    // A syntax error anywhere beats an order or field error before it.
    const std::string d = kIp4 + "/udp(sport=99999,dport=1)/foo()";
    expect_error(d, first(d, "foo"), "unknown layer 'foo'");
    // Order errors come before field errors.
    const std::string o = "eth(src=bad,dst=02:00:00:00:00:02)/" + kUdp;
    expect_error(o, first(o, "udp"), "needs an ipv4 or ipv6 layer");
}

}  // namespace
}  // namespace xdpnet::telemetry
