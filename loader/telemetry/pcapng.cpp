#include "telemetry/pcapng.h"

#include <cstring>

namespace xdpnet::telemetry {
namespace {

constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDesc = 0x00000001;
constexpr uint32_t kEnhancedPacket = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kLinkEthernet = 1;
constexpr uint16_t kOptEnd = 0, kOptComment = 1, kShbUserAppl = 4, kIfName = 2, kIfTsresol = 9;

void put16(std::vector<uint8_t>& b, uint16_t v) {
    b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2);
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
}
void pad4(std::vector<uint8_t>& b) {
    while (b.size() % 4)
        b.push_back(0);
}
void option(std::vector<uint8_t>& b, uint16_t code, const void* v, size_t len) {
    put16(b, code);
    put16(b, static_cast<uint16_t>(len));
    const auto* p = static_cast<const uint8_t*>(v);
    b.insert(b.end(), p, p + len);
    pad4(b);
}
void option(std::vector<uint8_t>& b, uint16_t code, const std::string& s) {
    option(b, code, s.data(), std::min<size_t>(s.size(), 0xfff0));
}
void end_options(std::vector<uint8_t>& b) {
    put16(b, kOptEnd);
    put16(b, 0);
}

} // namespace

PcapngWriter::PcapngWriter(std::FILE* f, const std::string& app) : f_(f) {
    std::vector<uint8_t> b;
    put32(b, kByteOrderMagic);
    put16(b, 1); // version 1.0
    put16(b, 0);
    put32(b, 0xffffffff); // section length: not given
    put32(b, 0xffffffff);
    option(b, kShbUserAppl, app);
    end_options(b);
    block(kSectionHeader, b);
}

uint32_t PcapngWriter::interface(uint32_t ifindex, const std::string& name, uint32_t snaplen) {
    auto it = ids_.find(ifindex);
    if (it != ids_.end())
        return it->second;
    std::vector<uint8_t> b;
    put16(b, kLinkEthernet);
    put16(b, 0);
    put32(b, snaplen);
    option(b, kIfName, name.empty() ? "if" + std::to_string(ifindex) : name);
    const uint8_t nanoseconds = 9;
    option(b, kIfTsresol, &nanoseconds, 1);
    end_options(b);
    block(kInterfaceDesc, b);
    const auto id = static_cast<uint32_t>(ids_.size());
    ids_[ifindex] = id;
    return id;
}

void PcapngWriter::packet(uint32_t if_id, uint64_t unix_ns, const uint8_t* data, uint32_t caplen,
                          uint32_t len, const std::string& comment) {
    std::vector<uint8_t> b;
    b.reserve(64 + caplen + comment.size());
    put32(b, if_id);
    put32(b, static_cast<uint32_t>(unix_ns >> 32));
    put32(b, static_cast<uint32_t>(unix_ns));
    put32(b, caplen);
    put32(b, len);
    b.insert(b.end(), data, data + caplen);
    pad4(b);
    if (!comment.empty())
        option(b, kOptComment, comment);
    end_options(b);
    block(kEnhancedPacket, b);
}

void PcapngWriter::block(uint32_t type, const std::vector<uint8_t>& body) {
    std::vector<uint8_t> b;
    const auto total = static_cast<uint32_t>(12 + body.size());
    put32(b, type);
    put32(b, total);
    b.insert(b.end(), body.begin(), body.end());
    put32(b, total);
    if (std::fwrite(b.data(), 1, b.size(), f_) != b.size())
        ok_ = false;
}

} // namespace xdpnet::telemetry
