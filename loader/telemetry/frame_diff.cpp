// Frame decoding into named fields, and the comparison of two frames.
#include "telemetry/frame_diff.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "policy/policy.h"

namespace xdpnet::telemetry {
namespace {

constexpr uint16_t kTypeIpv4 = 0x0800, kTypeArp = 0x0806, kTypeIpv6 = 0x86dd;
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr size_t kEthLen = 14, kVlanLen = 4, kIpv4Len = 20, kIpv6Len = 40, kArpLen = 28;

using Bytes = std::span<const uint8_t>;

uint16_t be16(Bytes f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }
uint32_t be32(Bytes f, size_t at) { return uint32_t{be16(f, at)} << 16 | be16(f, at + 2); }

std::string hex16(uint16_t v) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "0x%04x", v);
    return buf;
}

std::string ip4_text(Bytes f, size_t at) {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, f.data() + at, buf, sizeof(buf));
    return buf;
}

std::string ip6_text(Bytes f, size_t at) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, f.data() + at, buf, sizeof(buf));
    return buf;
}

std::string ethertype_text(uint16_t t) {
    switch (t) {
    case kTypeIpv4: return "0x0800 (ipv4)";
    case kTypeArp: return "0x0806 (arp)";
    case kTypeIpv6: return "0x86dd (ipv6)";
    default: return hex16(t);
    }
}

std::string proto_text(uint8_t p) {
    switch (p) {
    case kProtoIcmp: return "1 (icmp)";
    case kProtoTcp: return "6 (tcp)";
    case kProtoUdp: return "17 (udp)";
    case kProtoIcmpv6: return "58 (icmpv6)";
    default: return std::to_string(p);
    }
}

/// An ICMP type's name ("" for the ones xdpnet has no business with).
std::string icmp_name(uint8_t t) {
    switch (t) {
    case 0: return "echo-reply";
    case 3: return "dest-unreachable";
    case 8: return "echo-request";
    case 11: return "time-exceeded";
    case 12: return "parameter-problem";
    default: return "";
    }
}

std::string icmp_type_text(uint8_t t) {
    const std::string name = icmp_name(t);
    return name.empty() ? std::to_string(t) : std::to_string(t) + " (" + name + ")";
}

std::string tcp_flags_text(uint8_t flags) {
    static constexpr char kLetters[] = "FSRPAUEC"; // bit i = letter i, as in packet specs
    std::string s;
    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            s += kLetters[i];
    return s.empty() ? "none" : s;
}

/// The one's-complement sum of big-endian words (an odd last byte padded).
uint32_t sum_words(Bytes data, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < data.size(); i += 2)
        acc += uint32_t{data[i]} << 8 | data[i + 1];
    if (data.size() % 2)
        acc += uint32_t{data.back()} << 8;
    return acc;
}

bool sums_to_ones(uint32_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return acc == 0xffff;
}

/// Decodes one frame into fields; see frame_diff.h for what it knows.
class Decoder {
  public:
    explicit Decoder(Bytes f) : f_(f) {}

    DecodedFrame run() {
        out_.payload_offset = l2();
        return std::move(out_);
    }

  private:
    bool has(size_t at, size_t len) const { return at + len <= f_.size(); }
    void add(std::string name, std::string value) { out_.fields.push_back({std::move(name), std::move(value)}); }
    void check(bool ok, const std::string& name) {
        if (!ok)
            out_.bad_checksums.push_back(name);
    }

    /// Ethernet and tags; returns where decoding stopped.
    size_t l2() {
        if (!has(0, kEthLen))
            return 0;
        add("eth.dst", policy::format_mac(f_.data()));
        add("eth.src", policy::format_mac(f_.data() + 6));
        size_t at = 12;
        uint16_t type = be16(f_, at);
        for (int tags = 0; (type == kTpid8021Q || type == kTpid8021AD) && tags < 2; tags++) {
            if (!has(at, 2 + kVlanLen))
                return at;
            const uint16_t tci = be16(f_, at + 2);
            std::string v = std::to_string(tci & 0x0fff);
            if (tci >> 13)
                v += " pcp " + std::to_string(tci >> 13);
            if (tci & 0x1000)
                v += " dei";
            if (type == kTpid8021AD)
                v += " (802.1ad)";
            add(tags == 0 ? "vlan" : "vlan.inner", v);
            at += kVlanLen;
            type = be16(f_, at);
        }
        add("eth.type", ethertype_text(type));
        at += 2;
        switch (type) {
        case kTypeIpv4: return ipv4(at, "");
        case kTypeIpv6: return ipv6(at);
        case kTypeArp: return arp(at);
        default: return at;
        }
    }

    size_t arp(size_t at) {
        if (!has(at, kArpLen) || be16(f_, at) != 1 || be16(f_, at + 2) != kTypeIpv4 || f_[at + 4] != 6 ||
            f_[at + 5] != 4)
            return at;
        const uint16_t op = be16(f_, at + 6);
        add("arp.op", op == 1 ? "1 (request)" : op == 2 ? "2 (reply)" : std::to_string(op));
        add("arp.sha", policy::format_mac(f_.data() + at + 8));
        add("arp.spa", ip4_text(f_, at + 14));
        add("arp.tha", policy::format_mac(f_.data() + at + 18));
        add("arp.tpa", ip4_text(f_, at + 24));
        return at + kArpLen;
    }

    /// An IPv4 header at `at` and what it carries. `pre` prefixes the field
    /// names ("icmp.inner." for the packet an ICMP error quotes, whose
    /// transport header is cut to 8 bytes and not checksummed).
    size_t ipv4(size_t at, const std::string& pre) {
        if (!has(at, kIpv4Len) || (f_[at] >> 4) != 4)
            return at;
        const size_t ihl = size_t{f_[at] & 0x0fu} * 4;
        if (ihl < kIpv4Len || !has(at, ihl))
            return at;
        const uint8_t tos = f_[at + 1], proto = f_[at + 9];
        const uint16_t tot = be16(f_, at + 2), frag = be16(f_, at + 6);
        add(pre + "ipv4.dscp", std::to_string(tos >> 2));
        add(pre + "ipv4.ecn", std::to_string(tos & 3));
        add(pre + "ipv4.len", std::to_string(tot));
        add(pre + "ipv4.id", std::to_string(be16(f_, at + 4)));
        std::string flags = (frag & 0x4000) ? "DF" : "";
        if (frag & 0x2000)
            flags += flags.empty() ? "MF" : " MF";
        add(pre + "ipv4.flags", flags.empty() ? "none" : flags);
        add(pre + "ipv4.frag", std::to_string((frag & 0x1fff) * 8));
        add(pre + "ipv4.ttl", std::to_string(f_[at + 8]));
        add(pre + "ipv4.proto", proto_text(proto));
        add(pre + "ipv4.checksum", hex16(be16(f_, at + 10)));
        check(sums_to_ones(sum_words(f_.subspan(at, ihl))), pre + "ipv4.checksum");
        add(pre + "ipv4.src", ip4_text(f_, at + 12));
        add(pre + "ipv4.dst", ip4_text(f_, at + 16));
        if (frag & 0x1fff)
            return at + ihl; // a later fragment: no transport header
        const size_t l4 = at + ihl;
        // The transport segment as the header states it, when it is all there
        // (checksums are verified only then, and never inside an ICMP quote).
        const bool whole = pre.empty() && !(frag & 0x2000) && tot >= ihl && has(at, tot);
        const size_t end = whole ? at + tot : f_.size();
        uint32_t pseudo = 0;
        if (whole)
            pseudo = sum_words(f_.subspan(at + 12, 8), proto + uint32_t(tot - ihl));
        return transport(proto, l4, end, whole, pseudo, pre);
    }

    size_t ipv6(size_t at) {
        if (!has(at, kIpv6Len) || (f_[at] >> 4) != 6)
            return at;
        const uint32_t w = be32(f_, at);
        const uint8_t tc = static_cast<uint8_t>(w >> 20), nh = f_[at + 6];
        const uint16_t plen = be16(f_, at + 4);
        add("ipv6.dscp", std::to_string(tc >> 2));
        add("ipv6.ecn", std::to_string(tc & 3));
        add("ipv6.flow", std::to_string(w & 0xfffff));
        add("ipv6.plen", std::to_string(plen));
        add("ipv6.nh", proto_text(nh));
        add("ipv6.hlim", std::to_string(f_[at + 7]));
        add("ipv6.src", ip6_text(f_, at + 8));
        add("ipv6.dst", ip6_text(f_, at + 24));
        const bool whole = has(at + kIpv6Len, plen);
        const uint32_t pseudo = whole ? sum_words(f_.subspan(at + 8, 32), nh + uint32_t{plen}) : 0;
        return transport(nh, at + kIpv6Len, whole ? at + kIpv6Len + plen : f_.size(), whole, pseudo, "");
    }

    /// TCP, UDP, ICMP or ICMPv6 at `at`, the segment ending at `end`.
    size_t transport(uint8_t proto, size_t at, size_t end, bool whole, uint32_t pseudo,
                     const std::string& pre) {
        const Bytes seg = whole ? f_.subspan(at, end - at) : Bytes{};
        if (proto == kProtoTcp && has(at, pre.empty() ? 20 : 8)) {
            add(pre + "tcp.sport", std::to_string(be16(f_, at)));
            add(pre + "tcp.dport", std::to_string(be16(f_, at + 2)));
            if (!pre.empty())
                return at + 8;
            add("tcp.flags", tcp_flags_text(f_[at + 13]));
            add("tcp.checksum", hex16(be16(f_, at + 16)));
            if (whole)
                check(sums_to_ones(sum_words(seg, pseudo)), "tcp.checksum");
            return at + size_t(f_[at + 12] >> 4) * 4;
        }
        if (proto == kProtoUdp && has(at, 8)) {
            add(pre + "udp.sport", std::to_string(be16(f_, at)));
            add(pre + "udp.dport", std::to_string(be16(f_, at + 2)));
            if (!pre.empty())
                return at + 8;
            add("udp.len", std::to_string(be16(f_, at + 4)));
            const uint16_t csum = be16(f_, at + 6);
            add("udp.checksum", csum ? hex16(csum) : "0x0000 (none)");
            if (whole && csum)
                check(sums_to_ones(sum_words(seg, pseudo)), "udp.checksum");
            return at + 8;
        }
        if (proto == kProtoIcmp && has(at, 8))
            return icmp(at, seg, whole, pre);
        if (proto == kProtoIcmpv6 && pre.empty() && has(at, 4)) {
            add("icmpv6.type", std::to_string(f_[at]));
            add("icmpv6.code", std::to_string(f_[at + 1]));
            add("icmpv6.checksum", hex16(be16(f_, at + 2)));
            if (whole)
                check(sums_to_ones(sum_words(seg, pseudo)), "icmpv6.checksum");
            return at + 4;
        }
        return at;
    }

    size_t icmp(size_t at, Bytes seg, bool whole, const std::string& pre) {
        const uint8_t type = f_[at];
        add(pre + "icmp.type", icmp_type_text(type));
        add(pre + "icmp.code", std::to_string(f_[at + 1]));
        if (type == 0 || type == 8) {
            add(pre + "icmp.id", std::to_string(be16(f_, at + 4)));
            add(pre + "icmp.seq", std::to_string(be16(f_, at + 6)));
        }
        if (!pre.empty())
            return at + 8;
        add("icmp.checksum", hex16(be16(f_, at + 2)));
        if (whole)
            check(sums_to_ones(sum_words(seg)), "icmp.checksum");
        if (type == 3 || type == 11 || type == 12) // errors quote the packet they are about
            return ipv4(at + 8, "icmp.inner.");
        return at + 8;
    }

    Bytes f_;
    DecodedFrame out_;
};

const std::string* value_of(const DecodedFrame& d, const std::string& name) {
    for (const auto& f : d.fields)
        if (f.name == name)
            return &f.value;
    return nullptr;
}

/// Field names of both frames: after's order, with fields only before has
/// inserted behind their predecessor in before's order.
std::vector<std::string> merged_names(const DecodedFrame& a, const DecodedFrame& b) {
    std::vector<std::string> out;
    for (const auto& f : b.fields)
        out.push_back(f.name);
    auto pos = out.begin();
    for (const auto& f : a.fields) {
        auto it = std::find(out.begin(), out.end(), f.name);
        if (it != out.end()) {
            pos = it + 1;
            continue;
        }
        pos = out.insert(pos, f.name) + 1;
    }
    return out;
}

std::string bytes_text(size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

std::optional<FieldChange> payload_change(Bytes before, const DecodedFrame& a, Bytes after,
                                          const DecodedFrame& b) {
    const Bytes pa = before.subspan(std::min(a.payload_offset, before.size()));
    const Bytes pb = after.subspan(std::min(b.payload_offset, after.size()));
    if (std::equal(pa.begin(), pa.end(), pb.begin(), pb.end()))
        return std::nullopt;
    std::string after_text = bytes_text(pb.size());
    if (pa.size() == pb.size()) {
        size_t differ = 0;
        for (size_t i = 0; i < pa.size(); i++)
            differ += pa[i] != pb[i];
        after_text += " (" + std::to_string(differ) + " differ)";
    }
    return FieldChange{"payload", bytes_text(pa.size()), after_text, ""};
}

} // namespace

DecodedFrame decode_frame(std::span<const uint8_t> frame) { return Decoder(frame).run(); }

std::vector<FieldChange> diff_frames(std::span<const uint8_t> before, std::span<const uint8_t> after) {
    const DecodedFrame a = decode_frame(before), b = decode_frame(after);
    std::vector<FieldChange> out;
    for (const auto& name : merged_names(a, b)) {
        const std::string* va = value_of(a, name);
        const std::string* vb = value_of(b, name);
        if (va && vb && *va == *vb)
            continue;
        const bool tag = name == "vlan" || name == "vlan.inner";
        const std::string absent = tag ? "none" : "-";
        FieldChange c{name, va ? *va : absent, vb ? *vb : absent, ""};
        if (tag)
            c.change = !va ? "pushed" : !vb ? "popped" : "changed";
        out.push_back(std::move(c));
    }
    if (auto p = payload_change(before, a, after, b))
        out.push_back(*p);
    return out;
}

std::string describe_frame(std::span<const uint8_t> frame) {
    const DecodedFrame d = decode_frame(frame);
    auto v = [&](const char* name) -> std::string {
        const std::string* s = value_of(d, name);
        return s ? *s : "";
    };
    auto first_word = [](const std::string& s) { return s.substr(0, s.find(' ')); };
    // "8 (echo-request)" -> "echo-request"; an unnamed type -> "type 42".
    auto icmp_word = [](const std::string& s) {
        const size_t open = s.find('(');
        return open == std::string::npos ? "type " + s : s.substr(open + 1, s.size() - open - 2);
    };
    if (v("eth.src").empty())
        return bytes_text(frame.size()) + ", shorter than an Ethernet header";
    std::string s = v("eth.src") + " > " + v("eth.dst");
    if (!v("vlan").empty())
        s += ", vlan " + v("vlan");
    if (!v("vlan.inner").empty())
        s += ", inner vlan " + v("vlan.inner");
    if (!v("arp.op").empty()) {
        s += v("arp.op") == "2 (reply)" ? ", ARP reply " + v("arp.spa") + " is-at " + v("arp.sha")
                                        : ", ARP who-has " + v("arp.tpa") + " tell " + v("arp.spa");
    } else if (!v("ipv4.src").empty()) {
        s += ", IPv4 " + v("ipv4.src") + " > " + v("ipv4.dst") + " ttl " + v("ipv4.ttl");
        if (v("ipv4.frag") != "0" || v("ipv4.flags").find("MF") != std::string::npos)
            s += " fragment at " + v("ipv4.frag");
    } else if (!v("ipv6.src").empty()) {
        s += ", IPv6 " + v("ipv6.src") + " > " + v("ipv6.dst") + " hlim " + v("ipv6.hlim");
    } else if (!v("eth.type").empty()) {
        s += ", ethertype " + first_word(v("eth.type"));
    }
    if (!v("tcp.sport").empty())
        s += ", TCP " + v("tcp.sport") + " > " + v("tcp.dport") + " [" + v("tcp.flags") + "]";
    else if (!v("udp.sport").empty())
        s += ", UDP " + v("udp.sport") + " > " + v("udp.dport");
    else if (!v("icmp.type").empty())
        s += ", ICMP " + icmp_word(v("icmp.type")) + (v("icmp.id").empty() ? "" : " id " + v("icmp.id"));
    else if (!v("icmpv6.type").empty())
        s += ", ICMPv6 type " + v("icmpv6.type");
    return s + ", " + bytes_text(frame.size());
}

std::vector<uint8_t> pop_vlan(std::span<const uint8_t> frame) {
    std::vector<uint8_t> out(frame.begin(), frame.end());
    if (frame_vid(frame) >= 0)
        out.erase(out.begin() + 12, out.begin() + 12 + kVlanLen);
    return out;
}

int frame_vid(std::span<const uint8_t> frame) {
    if (frame.size() < kEthLen + kVlanLen || be16(frame, 12) != kTpid8021Q)
        return -1;
    return be16(frame, 14) & 0x0fff;
}

std::string to_hex(std::span<const uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        s += kDigits[b >> 4];
        s += kDigits[b & 0xf];
    }
    return s;
}

} // namespace xdpnet::telemetry
