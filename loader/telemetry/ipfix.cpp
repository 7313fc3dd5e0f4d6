#include "telemetry/ipfix.h"

#include <array>
#include <cassert>
#include <span>
#include <stdexcept>
#include <string>

namespace xdpnet::telemetry {
namespace {

// IANA IPFIX Information Element numbers (https://www.iana.org/assignments/ipfix).
enum Ie : uint16_t {
    kOctetDeltaCount = 1,
    kPacketDeltaCount = 2,
    kProtocolIdentifier = 4,
    kTcpControlBits = 6,
    kSourceTransportPort = 7,
    kSourceIPv4Address = 8,
    kIngressInterface = 10,
    kDestinationTransportPort = 11,
    kDestinationIPv4Address = 12,
    kEgressInterface = 14,
    kSourceIPv6Address = 27,
    kDestinationIPv6Address = 28,
    kVlanId = 58,
    kFlowEndReason = 136,
    kFlowStartMilliseconds = 152,
    kFlowEndMilliseconds = 153,
    kPostNATSourceIPv4Address = 225,
    kPostNATDestinationIPv4Address = 226,
    kPostNAPTSourceTransportPort = 227,
    kPostNAPTDestinationTransportPort = 228,
};

// A Field Specifier (RFC 7011 3.2) without the enterprise bit: every IE here
// is IANA-registered, so the specifier is just (IE number, field length).
struct Field {
    uint16_t ie;
    uint16_t len;
};

// The templates. The same tables drive both the template set and the data
// records (put_field), so the two cannot disagree.
constexpr std::array<Field, 14> kV4Fields{{
    {kSourceIPv4Address, 4}, {kDestinationIPv4Address, 4}, {kSourceTransportPort, 2},
    {kDestinationTransportPort, 2}, {kProtocolIdentifier, 1}, {kVlanId, 2},
    {kIngressInterface, 4}, {kEgressInterface, 4}, {kPacketDeltaCount, 8},
    {kOctetDeltaCount, 8}, {kFlowStartMilliseconds, 8}, {kFlowEndMilliseconds, 8},
    {kTcpControlBits, 2}, {kFlowEndReason, 1},
}};

constexpr std::array<Field, 18> kV4NatFields{{
    {kSourceIPv4Address, 4}, {kDestinationIPv4Address, 4}, {kSourceTransportPort, 2},
    {kDestinationTransportPort, 2}, {kProtocolIdentifier, 1}, {kVlanId, 2},
    {kIngressInterface, 4}, {kEgressInterface, 4}, {kPacketDeltaCount, 8},
    {kOctetDeltaCount, 8}, {kFlowStartMilliseconds, 8}, {kFlowEndMilliseconds, 8},
    {kTcpControlBits, 2}, {kFlowEndReason, 1},
    {kPostNATSourceIPv4Address, 4}, {kPostNATDestinationIPv4Address, 4},
    {kPostNAPTSourceTransportPort, 2}, {kPostNAPTDestinationTransportPort, 2},
}};

constexpr std::array<Field, 14> kV6Fields{{
    {kSourceIPv6Address, 16}, {kDestinationIPv6Address, 16}, {kSourceTransportPort, 2},
    {kDestinationTransportPort, 2}, {kProtocolIdentifier, 1}, {kVlanId, 2},
    {kIngressInterface, 4}, {kEgressInterface, 4}, {kPacketDeltaCount, 8},
    {kOctetDeltaCount, 8}, {kFlowStartMilliseconds, 8}, {kFlowEndMilliseconds, 8},
    {kTcpControlBits, 2}, {kFlowEndReason, 1},
}};

struct Template {
    uint16_t id;
    std::span<const Field> fields;
};

// In template ID order: this is also the order of the data sets in a message.
constexpr std::array<Template, 3> kTemplates{{
    {kIpfixTemplateV4, kV4Fields},
    {kIpfixTemplateV4Nat, kV4NatFields},
    {kIpfixTemplateV6, kV6Fields},
}};

constexpr uint16_t kVersion = 0x000a;      // RFC 7011 3.1: IPFIX is version 10
constexpr uint16_t kTemplateSetId = 2;     // RFC 7011 3.3.2: 2 = Template Set
constexpr size_t kSetHeaderLen = 4;        // Set ID + Length
constexpr size_t kTemplateHeaderLen = 4;   // Template ID + Field Count
constexpr size_t kFieldSpecLen = 4;        // IE + length (no enterprise number)

constexpr size_t record_len(const Template& t) {
    size_t n = 0;
    for (const Field& f : t.fields)
        n += f.len;
    return n;
}

constexpr size_t template_set_len() {
    size_t n = kSetHeaderLen;
    for (const Template& t : kTemplates)
        n += kTemplateHeaderLen + kFieldSpecLen * t.fields.size();
    return n;
}

static_assert(record_len(kTemplates[0]) == 58);
static_assert(record_len(kTemplates[1]) == 70);
static_assert(record_len(kTemplates[2]) == 82);
static_assert(kIpfixHeaderLen + template_set_len() == kIpfixMinMessage);

size_t template_index(uint16_t id) {
    return static_cast<size_t>(id - kIpfixTemplateV4);
}

// Appends big-endian (network order) integers and raw bytes to a buffer.
class Writer {
  public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(v); }
    void u16(uint16_t v) { uint_be(v, 2); }
    void u32(uint32_t v) { uint_be(v, 4); }
    void u64(uint64_t v) { uint_be(v, 8); }
    void bytes(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
    size_t pos() const { return out_.size(); }
    /// Overwrites a 16-bit length written earlier as a placeholder.
    void patch_u16(size_t at, size_t v) {
        assert(v <= 0xffff);
        out_[at] = static_cast<uint8_t>(v >> 8);
        out_[at + 1] = static_cast<uint8_t>(v);
    }

  private:
    void uint_be(uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i)
            out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    std::vector<uint8_t>& out_;
};

// One field of a data record. Every value is written at exactly f.len bytes
// (no reduced-size encoding, RFC 7011 6.2), so the record length is fixed.
void put_field(Writer& w, const FlowRecord& r, Field f) {
    switch (f.ie) {
    case kSourceIPv4Address:
    case kSourceIPv6Address:
        return w.bytes(r.key.src.data(), f.len);   // already network order
    case kDestinationIPv4Address:
    case kDestinationIPv6Address:
        return w.bytes(r.key.dst.data(), f.len);
    case kSourceTransportPort:
        return w.u16(r.key.sport);
    case kDestinationTransportPort:
        return w.u16(r.key.dport);
    case kProtocolIdentifier:
        return w.u8(r.key.proto);
    case kVlanId:
        return w.u16(r.key.vlan);
    case kIngressInterface:
        return w.u32(r.in_ifindex);
    case kEgressInterface:
        return w.u32(r.out_ifindex);
    case kPacketDeltaCount:
        return w.u64(r.packets);
    case kOctetDeltaCount:
        return w.u64(r.bytes);
    case kFlowStartMilliseconds:   // dateTimeMilliseconds: Unix epoch ms
        return w.u64(r.first_ns / 1000000);
    case kFlowEndMilliseconds:
        return w.u64(r.last_ns / 1000000);
    case kTcpControlBits:          // RFC 7125: 16 bits; NS/reserved bits stay 0
        return w.u16(r.tcp_flags);
    case kFlowEndReason:
        return w.u8(static_cast<uint8_t>(r.end));
    case kPostNATSourceIPv4Address:   // NatXlate holds host order
        return w.u32(r.nat.src);
    case kPostNATDestinationIPv4Address:
        return w.u32(r.nat.dst);
    case kPostNAPTSourceTransportPort:
        return w.u16(r.nat.sport);
    case kPostNAPTDestinationTransportPort:
        return w.u16(r.nat.dport);
    }
    assert(!"field without an encoder");
}

// RFC 7011 3.1 message header; the length is patched by finish_message().
void put_header(Writer& w, uint32_t export_time_s, uint32_t sequence, uint32_t domain) {
    w.u16(kVersion);
    w.u16(0);   // Length: placeholder
    w.u32(export_time_s);
    w.u32(sequence);
    w.u32(domain);
}

void finish_message(Writer& w) {
    w.patch_u16(2, w.pos());
}

// RFC 7011 3.4.1: one Template Set holding all three Template Records.
void put_template_set(Writer& w) {
    const size_t start = w.pos();
    w.u16(kTemplateSetId);
    w.u16(0);
    for (const Template& t : kTemplates) {
        w.u16(t.id);
        w.u16(static_cast<uint16_t>(t.fields.size()));
        for (const Field& f : t.fields) {
            w.u16(f.ie);   // enterprise bit (0x8000) clear: IANA element
            w.u16(f.len);
        }
    }
    w.patch_u16(start + 2, w.pos() - start);
}

// One Data Set (RFC 7011 3.3.1): Set ID = the template ID, then the records
// back to back. All records have the same fixed length and there is no
// padding, so a collector computes the count as (length - 4) / record length.
void put_data_set(Writer& w, const Template& t, const std::vector<const FlowRecord*>& recs) {
    const size_t start = w.pos();
    w.u16(t.id);
    w.u16(0);
    for (const FlowRecord* r : recs)
        for (const Field& f : t.fields)
            put_field(w, *r, f);
    w.patch_u16(start + 2, w.pos() - start);
}

// The records of one message, grouped by template (input order kept within
// each group), and the message length they add up to.
struct Batch {
    std::array<std::vector<const FlowRecord*>, kTemplates.size()> by_template;
    size_t len = kIpfixHeaderLen;
    size_t count = 0;
    bool with_templates = false;

    /// Bytes that adding a record of template t costs: its record, plus a set
    /// header when it is the first record of that template in the message.
    size_t cost(size_t t) const {
        return record_len(kTemplates[t]) + (by_template[t].empty() ? kSetHeaderLen : 0);
    }
    void add(size_t t, const FlowRecord& r) {
        len += cost(t);
        by_template[t].push_back(&r);
        ++count;
    }
};

std::vector<uint8_t> build_message(const Batch& b, uint32_t export_time_s, uint32_t sequence,
                                   uint32_t domain) {
    std::vector<uint8_t> out;
    out.reserve(b.len);
    Writer w(out);
    put_header(w, export_time_s, sequence, domain);
    if (b.with_templates)
        put_template_set(w);
    for (size_t t = 0; t < kTemplates.size(); ++t)
        if (!b.by_template[t].empty())
            put_data_set(w, kTemplates[t], b.by_template[t]);
    finish_message(w);
    assert(out.size() == b.len);
    return out;
}

} // namespace

uint16_t ipfix_template_for(const FlowRecord& r) {
    if (r.key.family == 6)
        return kIpfixTemplateV6;
    return r.nat.present ? kIpfixTemplateV4Nat : kIpfixTemplateV4;
}

IpfixEncoder::IpfixEncoder(uint32_t observation_domain, size_t max_message)
    : domain_(observation_domain), max_message_(max_message) {
    if (max_message < kIpfixMinMessage || max_message > 0xffff)
        throw std::invalid_argument("IPFIX max message size " + std::to_string(max_message) +
                                    " is outside " + std::to_string(kIpfixMinMessage) +
                                    "..65535");
}

std::vector<std::vector<uint8_t>> IpfixEncoder::encode(const std::vector<FlowRecord>& recs,
                                                       uint32_t export_time_s,
                                                       bool with_templates) {
    std::vector<std::vector<uint8_t>> msgs;
    Batch batch;
    if (with_templates) {
        batch.with_templates = true;
        batch.len += template_set_len();
    }
    // Sequence Number (RFC 7011 3.1): data records sent before this message,
    // mod 2^32. Template records do not count; uint32_t arithmetic wraps.
    auto flush = [&] {
        msgs.push_back(build_message(batch, export_time_s, sequence_, domain_));
        sequence_ += static_cast<uint32_t>(batch.count);
        batch = Batch{};
    };
    // Greedy packing in input order: a record never spans messages (RFC 7011
    // 3.3.1), so when the next one does not fit, the message is closed.
    for (const FlowRecord& r : recs) {
        const size_t t = template_index(ipfix_template_for(r));
        // Only a non-empty batch (records or templates) can overflow: an empty
        // one is a bare header, and header + set header + the largest record
        // (102 bytes) is below kIpfixMinMessage. When the templates fill the
        // first message, they go alone and the records follow.
        if (batch.len + batch.cost(t) > max_message_)
            flush();
        assert(batch.len + batch.cost(t) <= max_message_);
        batch.add(t, r);
    }
    if (batch.count > 0 || batch.with_templates)
        flush();
    return msgs;
}

std::vector<uint8_t> IpfixEncoder::templates_message(uint32_t export_time_s) const {
    Batch b;
    b.with_templates = true;
    b.len += template_set_len();
    return build_message(b, export_time_s, sequence_, domain_);
}

size_t ipfix_record_count(const std::vector<uint8_t>& msg) {
    auto be16 = [&](size_t at) { return static_cast<size_t>(msg[at] << 8 | msg[at + 1]); };
    if (msg.size() < kIpfixHeaderLen || be16(2) != msg.size())
        return 0;
    size_t n = 0;
    for (size_t at = kIpfixHeaderLen; at + kSetHeaderLen <= msg.size();) {
        const size_t id = be16(at), len = be16(at + 2);
        if (len < kSetHeaderLen || at + len > msg.size())
            return 0;
        for (const auto& t : kTemplates)
            if (t.id == id)
                n += (len - kSetHeaderLen) / record_len(t);
        at += len;
    }
    return n;
}

} // namespace xdpnet::telemetry
