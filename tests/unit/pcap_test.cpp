// The pcap reader of `xdpnet trace --pcap`: capture files written here byte
// by byte, in both byte orders and both timestamp units, and every way a
// file can be unusable.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "telemetry/pcap.h"

namespace xdpnet::telemetry {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kMicro = 0xa1b2c3d4, kNano = 0xa1b23c4d;

/// Appends v in little-endian, or big-endian when `big`.
void put32(Bytes& b, uint32_t v, bool big) {
    for (int i = 0; i < 4; i++)
        b.push_back(uint8_t(v >> (big ? 24 - 8 * i : 8 * i)));
}

void put16(Bytes& b, uint16_t v, bool big) {
    b.push_back(uint8_t(big ? v >> 8 : v));
    b.push_back(uint8_t(big ? v : v >> 8));
}

struct Writer {
    bool big = false;
    Bytes b;

    Writer(uint32_t magic, bool big_endian, uint32_t network = 1, uint32_t snaplen = 65535) : big(big_endian) {
        put32(b, magic, big);
        put16(b, 2, big);
        put16(b, 4, big);
        put32(b, 0, big); // thiszone
        put32(b, 0, big); // sigfigs
        put32(b, snaplen, big);
        put32(b, network, big);
    }
    Writer& packet(const Bytes& data, uint32_t sec, uint32_t frac, uint32_t orig = 0) {
        put32(b, sec, big);
        put32(b, frac, big);
        put32(b, uint32_t(data.size()), big);
        put32(b, orig ? orig : uint32_t(data.size()), big);
        b.insert(b.end(), data.begin(), data.end());
        return *this;
    }
};

/// A distinct frame per n: broadcast, source 02:..:n, ethertype 0x88b5, payload of n.
Bytes frame(uint8_t n, size_t len = 60) {
    Bytes f = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, n, 0x88, 0xb5};
    f.resize(len, n);
    return f;
}

std::string error_of(const Bytes& file, size_t n) {
    try {
        pcap_packet(file, n);
    } catch (const PcapError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Pcap, ReadsEveryMagicAndByteOrder) {
    for (bool big : {false, true}) {
        for (uint32_t magic : {kMicro, kNano}) {
            SCOPED_TRACE(std::string(big ? "big" : "little") + (magic == kNano ? " nano" : " micro"));
            Writer w(magic, big);
            w.packet(frame(1), 1700000000, 250000).packet(frame(2, 64), 1700000001, 999);
            const PcapPacket p1 = pcap_packet(w.b, 1);
            EXPECT_EQ(p1.data, frame(1));
            EXPECT_EQ(p1.orig_len, 60u);
            const uint64_t frac1 = magic == kNano ? 250000ull : 250000ull * 1000;
            EXPECT_EQ(p1.ts_ns, 1700000000ull * 1000000000ull + frac1);
            const PcapPacket p2 = pcap_packet(w.b, 2);
            EXPECT_EQ(p2.data, frame(2, 64));
            EXPECT_EQ(p2.ts_ns, 1700000001ull * 1000000000ull + (magic == kNano ? 999ull : 999000ull));
        }
    }
}

TEST(Pcap, PicksThePacketAsked) {
    Writer w(kMicro, false);
    for (uint8_t n = 1; n <= 5; n++)
        w.packet(frame(n, 60 + n), n, 0);
    for (uint8_t n = 1; n <= 5; n++)
        EXPECT_EQ(pcap_packet(w.b, n).data, frame(n, 60 + n));
}

TEST(Pcap, CountsPacketsWhenAskedForOneTooMany) {
    Writer w(kMicro, false);
    w.packet(frame(1), 0, 0).packet(frame(2), 0, 0);
    EXPECT_EQ(error_of(w.b, 3), "the file has 2 packets, no packet 3");
    Writer one(kMicro, false);
    one.packet(frame(1), 0, 0);
    EXPECT_EQ(error_of(one.b, 2), "the file has 1 packet, no packet 2");
    Writer none(kNano, true);
    EXPECT_EQ(error_of(none.b, 1), "the file has 0 packets, no packet 1");
    EXPECT_EQ(error_of(w.b, 0), "packets are numbered from 1");
}

TEST(Pcap, RefusesShortAndTruncatedFiles) {
    EXPECT_EQ(error_of(Bytes{}, 1), "too short for a pcap file (0 bytes, the file header alone is 24)");
    Writer w(kMicro, false);
    EXPECT_EQ(error_of(Bytes(w.b.begin(), w.b.begin() + 20), 1),
              "too short for a pcap file (20 bytes, the file header alone is 24)");

    w.packet(frame(1), 0, 0).packet(frame(2), 0, 0);
    const Bytes cut_data(w.b.begin(), w.b.end() - 10); // packet 2 loses 10 of its 60 bytes
    EXPECT_EQ(error_of(cut_data, 2), "truncated: packet 2 has 50 of its 60 bytes");
    EXPECT_EQ(pcap_packet(cut_data, 1).data, frame(1)) << "packets before the cut still read";

    const Bytes cut_header(w.b.begin(), w.b.begin() + 24 + 16 + 60 + 7);
    EXPECT_EQ(error_of(cut_header, 2), "truncated: packet 2's record header is cut short (7 of 16 bytes)");
}

TEST(Pcap, RefusesOtherLinkTypes) {
    EXPECT_EQ(error_of(Writer(kMicro, false, 113).packet(frame(1), 0, 0).b, 1),
              "frames are Linux cooked capture (tcpdump -i any writes it: capture on one interface), "
              "not Ethernet (link type 1)");
    EXPECT_EQ(error_of(Writer(kNano, true, 101).packet(frame(1), 0, 0).b, 1),
              "frames are raw IP, not Ethernet (link type 1)");
    EXPECT_EQ(error_of(Writer(kMicro, false, 147).b, 1), "frames are link type 147, not Ethernet (link type 1)");
}

TEST(Pcap, RefusesOtherFormats) {
    Bytes ng = {0x0a, 0x0d, 0x0d, 0x0a};
    ng.resize(64, 0);
    EXPECT_NE(error_of(ng, 1).find("a pcapng file, not classic pcap"), std::string::npos) << error_of(ng, 1);
    Bytes junk(64, 0x42);
    EXPECT_EQ(error_of(junk, 1), "not a pcap file (magic 0x42424242)");
    Writer v1(kMicro, false);
    v1.b[4] = 1; // version 1.4
    EXPECT_EQ(error_of(v1.b, 1), "pcap version 1.4 is not supported (2.x only)");
}

TEST(Pcap, RefusesFramesCutBySnaplen) {
    Writer w(kMicro, false, 1, 54);
    Bytes cut = frame(1);
    cut.resize(54);
    w.packet(cut, 0, 0, 60);
    EXPECT_EQ(error_of(w.b, 1),
              "packet 1 was cut to 54 of 60 bytes when captured (snaplen 54); capture whole frames (tcpdump -s 0)");
}

TEST(Pcap, RefusesRecordsLargerThanTheSnaplen) {
    Writer w(kMicro, false, 1, 100);
    w.packet(frame(1, 200), 0, 0);
    EXPECT_EQ(error_of(w.b, 1), "corrupt: packet 1 claims 200 bytes (snaplen 100)");
}

TEST(Pcap, StripsTheFcsTheHeaderAnnounces) {
    // network: link type 1, F bit (0x04000000), FCS length 2 x 16 bits (0x20000000).
    Writer w(kMicro, true, 0x24000001);
    Bytes with_fcs = frame(7);
    with_fcs.insert(with_fcs.end(), {0xde, 0xad, 0xbe, 0xef});
    w.packet(with_fcs, 0, 0);
    EXPECT_EQ(pcap_packet(w.b, 1).data, frame(7));
}

TEST(Pcap, ReadsFilesAndNamesThemInErrors) {
    const std::string dir = ::testing::TempDir();
    const std::string path = dir + "/xdpnet-pcap-test-" + std::to_string(::getpid()) + ".pcap";
    Writer w(kNano, false);
    w.packet(frame(3), 5, 6);
    {
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(w.b.data()), std::streamsize(w.b.size()));
    }
    EXPECT_EQ(read_pcap_packet(path, 1).data, frame(3));
    try {
        read_pcap_packet(path, 2);
        ADD_FAILURE() << "no error for a missing packet";
    } catch (const PcapError& e) {
        EXPECT_EQ(std::string(e.what()), path + ": the file has 1 packet, no packet 2");
    }
    std::remove(path.c_str());
    try {
        read_pcap_packet(path, 1);
        ADD_FAILURE() << "no error for a missing file";
    } catch (const PcapError& e) {
        EXPECT_EQ(std::string(e.what()), path + ": No such file or directory");
    }
    try {
        read_pcap_packet(dir, 1);
        ADD_FAILURE() << "no error for a directory";
    } catch (const PcapError& e) {
        EXPECT_EQ(std::string(e.what()), dir + ": is a directory");
    }
}

} // namespace
} // namespace xdpnet::telemetry
