// pcapng writer: block layout per the pcapng spec (section header, interface
// description, enhanced packet block with a comment), read back block by block.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "telemetry/pcapng.h"

using xdpnet::telemetry::PcapngWriter;

namespace {

std::vector<uint8_t> written(const std::function<void(PcapngWriter&)>& body) {
    std::FILE* f = std::tmpfile();
    {
        PcapngWriter w(f);
        body(w);
        EXPECT_TRUE(w.ok());
    }
    std::fflush(f);
    std::vector<uint8_t> out(static_cast<size_t>(std::ftell(f)));
    std::rewind(f);
    EXPECT_EQ(std::fread(out.data(), 1, out.size(), f), out.size());
    std::fclose(f);
    return out;
}

uint32_t u32(const std::vector<uint8_t>& b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

struct Block {
    uint32_t type;
    std::vector<uint8_t> body;
};

std::vector<Block> blocks(const std::vector<uint8_t>& b) {
    std::vector<Block> out;
    for (size_t at = 0; at < b.size();) {
        const uint32_t len = u32(b, at + 4);
        EXPECT_EQ(len % 4, 0u);
        EXPECT_LE(at + len, b.size());
        EXPECT_EQ(u32(b, at + len - 4), len) << "trailing length repeats the leading one";
        out.push_back({u32(b, at), std::vector<uint8_t>(b.begin() + at + 8, b.begin() + at + len - 4)});
        at += len;
    }
    return out;
}

} // namespace

TEST(Pcapng, SectionInterfaceAndPacketBlocks) {
    const uint8_t frame[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0xaa};
    const auto b = written([&](PcapngWriter& w) {
        const uint32_t id = w.interface(7, "vm1", 1536);
        EXPECT_EQ(w.interface(7, "vm1", 1536), id) << "one block per interface";
        EXPECT_EQ(w.interface(9, "vm2", 1536), id + 1);
        w.packet(id, 0x0000000100000002ull, frame, sizeof(frame), 60, "xdpnet: received on vm1");
    });
    const auto bl = blocks(b);
    ASSERT_EQ(bl.size(), 4u);
    EXPECT_EQ(bl[0].type, 0x0A0D0D0Au);
    EXPECT_EQ(u32(bl[0].body, 0), 0x1A2B3C4Du) << "byte-order magic";
    EXPECT_EQ(bl[1].type, 1u);
    EXPECT_EQ(bl[1].body[0], 1) << "LINKTYPE_ETHERNET";
    EXPECT_EQ(u32(bl[1].body, 4), 1536u) << "snaplen";
    EXPECT_EQ(bl[3].type, 6u);
    const auto& e = bl[3].body;
    EXPECT_EQ(u32(e, 0), 0u) << "interface id";
    EXPECT_EQ(u32(e, 4), 1u) << "timestamp high";
    EXPECT_EQ(u32(e, 8), 2u) << "timestamp low";
    EXPECT_EQ(u32(e, 12), sizeof(frame));
    EXPECT_EQ(u32(e, 16), 60u) << "original length";
    EXPECT_EQ(std::memcmp(e.data() + 20, frame, sizeof(frame)), 0);
    const size_t opt = 20 + 16; // the frame padded to 4 bytes
    EXPECT_EQ(e[opt], 1) << "opt_comment";
    const std::string comment(reinterpret_cast<const char*>(e.data() + opt + 4), e[opt + 2]);
    EXPECT_EQ(comment, "xdpnet: received on vm1");
}
