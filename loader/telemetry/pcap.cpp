// Classic pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.html):
//
//   global header, 24 bytes: magic, version major/minor (u16 each),
//     thiszone, sigfigs, snaplen, network (u32 each)
//   per packet, 16 bytes: ts_sec, ts_frac (us or ns), incl_len, orig_len,
//     then incl_len bytes of frame
//
// Every field is in the writer's byte order, which the magic reveals.
#include "telemetry/pcap.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace xdpnet::telemetry {
namespace {

constexpr size_t kFileHeader = 24, kRecordHeader = 16;
constexpr uint32_t kMagicMicro = 0xa1b2c3d4, kMagicNano = 0xa1b23c4d;
constexpr uint32_t kMagicPcapng = 0x0a0d0d0a; // a pcapng Section Header Block
constexpr uint32_t kLinkEthernet = 1;
constexpr uint32_t kMaxRecord = 262144; // libpcap's own sanity bound (MAXIMUM_SNAPLEN)

uint32_t swap32(uint32_t v) { return __builtin_bswap32(v); }

/// Reads u32 fields in the file's byte order.
struct Reader {
    std::span<const uint8_t> file;
    bool swapped = false;

    uint32_t u32(size_t at) const {
        uint32_t v;
        std::memcpy(&v, file.data() + at, 4);
        return swapped ? swap32(v) : v;
    }
    uint16_t u16(size_t at) const {
        uint16_t v;
        std::memcpy(&v, file.data() + at, 2);
        return swapped ? __builtin_bswap16(v) : v;
    }
};

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08x", v);
    return buf;
}

std::string link_name(uint32_t link) {
    switch (link) {
    case 0: return "BSD loopback";
    case 101: return "raw IP";
    case 113: return "Linux cooked capture (tcpdump -i any writes it: capture on one interface)";
    case 276: return "Linux cooked capture v2 (tcpdump -i any writes it: capture on one interface)";
    default: return "link type " + std::to_string(link);
    }
}

/// The magic decides byte order and timestamp unit; anything else is refused.
Reader open_header(std::span<const uint8_t> file, bool& nano) {
    if (file.size() < kFileHeader)
        throw PcapError("too short for a pcap file (" + std::to_string(file.size()) +
                        " bytes, the file header alone is 24)");
    Reader r{file, false};
    const uint32_t magic = r.u32(0);
    if (magic == kMagicMicro || magic == kMagicNano) {
        nano = magic == kMagicNano;
    } else if (swap32(magic) == kMagicMicro || swap32(magic) == kMagicNano) {
        r.swapped = true;
        nano = swap32(magic) == kMagicNano;
    } else if (magic == kMagicPcapng) {
        throw PcapError("a pcapng file, not classic pcap: convert it with "
                        "`tcpdump -r IN -w OUT` (or editcap -F pcap IN OUT)");
    } else {
        throw PcapError("not a pcap file (magic " + hex32(magic) + ")");
    }
    if (r.u16(4) != 2)
        throw PcapError("pcap version " + std::to_string(r.u16(4)) + "." + std::to_string(r.u16(6)) +
                        " is not supported (2.x only)");
    return r;
}

/// FCS bytes every frame carries (the 'F' bit and FCS length of `network`).
size_t fcs_bytes(uint32_t network) {
    if (!(network & 0x04000000u))
        return 0;
    return ((network >> 28) & 0xfu) * 2u;
}

} // namespace

PcapPacket pcap_packet(std::span<const uint8_t> file, size_t n) {
    if (n == 0)
        throw PcapError("packets are numbered from 1");
    bool nano = false;
    const Reader r = open_header(file, nano);
    const uint32_t snaplen = r.u32(16), network = r.u32(20);
    const uint32_t link = network & 0xffffu;
    if (link != kLinkEthernet)
        throw PcapError("frames are " + link_name(link) + ", not Ethernet (link type 1)");
    const size_t fcs = fcs_bytes(network);

    size_t at = kFileHeader;
    for (size_t i = 1;; i++) {
        if (at == file.size())
            throw PcapError("the file has " + std::to_string(i - 1) + " packet" + (i == 2 ? "" : "s") +
                            ", no packet " + std::to_string(n));
        if (file.size() - at < kRecordHeader)
            throw PcapError("truncated: packet " + std::to_string(i) + "'s record header is cut short (" +
                            std::to_string(file.size() - at) + " of 16 bytes)");
        const uint32_t incl = r.u32(at + 8), orig = r.u32(at + 12);
        if (incl > kMaxRecord || (snaplen && incl > snaplen && snaplen >= 14))
            throw PcapError("corrupt: packet " + std::to_string(i) + " claims " + std::to_string(incl) +
                            " bytes (snaplen " + std::to_string(snaplen) + ")");
        if (file.size() - at - kRecordHeader < incl)
            throw PcapError("truncated: packet " + std::to_string(i) + " has " +
                            std::to_string(file.size() - at - kRecordHeader) + " of its " +
                            std::to_string(incl) + " bytes");
        if (i < n) {
            at += kRecordHeader + incl;
            continue;
        }
        if (incl < orig)
            throw PcapError("packet " + std::to_string(n) + " was cut to " + std::to_string(incl) + " of " +
                            std::to_string(orig) + " bytes when captured (snaplen " +
                            std::to_string(snaplen) + "); capture whole frames (tcpdump -s 0)");
        if (incl < fcs)
            throw PcapError("packet " + std::to_string(n) + " is shorter than its FCS");
        PcapPacket p;
        const uint8_t* data = file.data() + at + kRecordHeader;
        p.data.assign(data, data + (incl - fcs));
        p.orig_len = orig;
        p.ts_ns = uint64_t{r.u32(at)} * 1000000000ull + uint64_t{r.u32(at + 4)} * (nano ? 1 : 1000);
        return p;
    }
}

PcapPacket read_pcap_packet(const std::string& path, size_t n) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw PcapError(path + ": is a directory");
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw PcapError(path + ": " + std::strerror(errno));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad())
        throw PcapError(path + ": read error");
    try {
        return pcap_packet(bytes, n);
    } catch (const PcapError& e) {
        throw PcapError(path + ": " + e.what());
    }
}

} // namespace xdpnet::telemetry
