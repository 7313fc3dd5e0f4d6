// IPFIX (RFC 7011) encoding: exact bytes, sequence numbers, splitting, and a
// round trip through a small collector written here from the RFC.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "telemetry/ipfix.h"

namespace xdpnet::telemetry {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------
// A minimal collector: keeps the templates it has seen and decodes data sets
// with them. It knows nothing of the encoder's tables, only of the wire format.

struct Field {
    uint16_t ie;
    uint16_t len;
};

struct Header {
    uint16_t version = 0;
    uint16_t length = 0;
    uint32_t export_time = 0;
    uint32_t sequence = 0;
    uint32_t domain = 0;
};

/// One decoded data record: its template and each IE's raw bytes.
struct Decoded {
    uint16_t tmpl = 0;
    std::map<uint16_t, Bytes> ies;

    uint64_t uint(uint16_t ie) const {
        const Bytes& b = ies.at(ie);
        uint64_t v = 0;
        for (uint8_t x : b)
            v = v << 8 | x;
        return v;
    }
};

uint64_t be(const Bytes& m, size_t at, size_t n) {
    if (at + n > m.size())
        throw std::out_of_range("read past the message");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
        v = v << 8 | m[at + i];
    return v;
}

class Collector {
  public:
    /// Decodes one message, appending its data records; checks the framing.
    Header feed(const Bytes& m) {
        Header h;
        h.version = static_cast<uint16_t>(be(m, 0, 2));
        h.length = static_cast<uint16_t>(be(m, 2, 2));
        h.export_time = static_cast<uint32_t>(be(m, 4, 4));
        h.sequence = static_cast<uint32_t>(be(m, 8, 4));
        h.domain = static_cast<uint32_t>(be(m, 12, 4));
        EXPECT_EQ(h.version, 10);
        EXPECT_EQ(h.length, m.size());
        size_t at = 16;
        while (at < m.size()) {
            const auto set_id = static_cast<uint16_t>(be(m, at, 2));
            const auto set_len = static_cast<size_t>(be(m, at + 2, 2));
            EXPECT_GE(set_len, 4u);
            EXPECT_LE(at + set_len, m.size());
            if (set_id == 2)
                read_templates(m, at + 4, at + set_len);
            else
                read_data(m, set_id, at + 4, at + set_len);
            at += set_len;
        }
        EXPECT_EQ(at, m.size());
        return h;
    }

    std::vector<Decoded> records;
    std::map<uint16_t, std::vector<Field>> templates;
    std::vector<uint16_t> set_ids;   // data set IDs in the order met

  private:
    void read_templates(const Bytes& m, size_t at, size_t end) {
        while (at < end) {
            const auto id = static_cast<uint16_t>(be(m, at, 2));
            const auto n = static_cast<size_t>(be(m, at + 2, 2));
            at += 4;
            std::vector<Field> fields;
            for (size_t i = 0; i < n; ++i, at += 4) {
                const auto ie = static_cast<uint16_t>(be(m, at, 2));
                EXPECT_EQ(ie & 0x8000, 0) << "no enterprise elements expected";
                fields.push_back({ie, static_cast<uint16_t>(be(m, at + 2, 2))});
            }
            templates[id] = fields;
        }
        EXPECT_EQ(at, end);
    }

    void read_data(const Bytes& m, uint16_t id, size_t at, size_t end) {
        ASSERT_TRUE(templates.count(id)) << "data set " << id << " before its template";
        set_ids.push_back(id);
        const auto& fields = templates[id];
        size_t rec_len = 0;
        for (const Field& f : fields)
            rec_len += f.len;
        EXPECT_EQ((end - at) % rec_len, 0u) << "padding or a partial record";
        while (at + rec_len <= end) {
            Decoded d;
            d.tmpl = id;
            for (const Field& f : fields) {
                d.ies[f.ie] = Bytes(m.begin() + at, m.begin() + at + f.len);
                at += f.len;
            }
            records.push_back(std::move(d));
        }
    }
};

// ---------------------------------------------------------------------------
// Records.

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return {a, b, c, d};
}

FlowRecord tcp_record() {
    FlowRecord r;
    r.key.family = 4;
    r.key.src = v4(10, 0, 0, 1);
    r.key.dst = v4(192, 168, 1, 20);
    r.key.sport = 40000;
    r.key.dport = 443;
    r.key.proto = 6;
    r.key.vlan = 10;
    r.in_ifindex = 3;
    r.out_ifindex = 5;
    r.packets = 12;
    r.bytes = 3456;
    r.first_ns = 1763726400123456789ull;   // 2025-11-21T12:00:00.123456789Z
    r.last_ns = 1763726460999999999ull;    // 2025-11-21T12:01:00.999999999Z
    r.tcp_flags = 0x1b;                    // FIN SYN PSH ACK
    r.end = EndReason::EndOfFlow;
    return r;
}

FlowRecord v4_record(uint64_t id) {
    FlowRecord r = tcp_record();
    r.packets = id;
    return r;
}

FlowRecord nat_record(uint64_t id) {
    FlowRecord r = v4_record(id);
    r.nat = {true, 0xcb007105, 0x08080808, 50001, 53};   // 203.0.113.5, 8.8.8.8
    return r;
}

FlowRecord v6_record(uint64_t id) {
    FlowRecord r = v4_record(id);
    r.key.family = 6;
    r.key.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    r.key.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    return r;
}

// The fields IPFIX carries, back out of a decoded record.
FlowRecord to_record(const Decoded& d) {
    FlowRecord r;
    const bool six = d.ies.count(27);
    r.key.family = six ? 6 : 4;
    const Bytes& s = d.ies.at(six ? 27 : 8);
    const Bytes& t = d.ies.at(six ? 28 : 12);
    std::copy(s.begin(), s.end(), r.key.src.begin());
    std::copy(t.begin(), t.end(), r.key.dst.begin());
    r.key.sport = static_cast<uint16_t>(d.uint(7));
    r.key.dport = static_cast<uint16_t>(d.uint(11));
    r.key.proto = static_cast<uint8_t>(d.uint(4));
    r.key.vlan = static_cast<uint16_t>(d.uint(58));
    r.in_ifindex = static_cast<uint32_t>(d.uint(10));
    r.out_ifindex = static_cast<uint32_t>(d.uint(14));
    r.packets = d.uint(2);
    r.bytes = d.uint(1);
    r.first_ns = d.uint(152) * 1000000;
    r.last_ns = d.uint(153) * 1000000;
    r.tcp_flags = static_cast<uint8_t>(d.uint(6));
    EXPECT_EQ(d.uint(6) >> 8, 0u);
    r.end = static_cast<EndReason>(d.uint(136));
    if (d.ies.count(225)) {
        r.nat.present = true;
        r.nat.src = static_cast<uint32_t>(d.uint(225));
        r.nat.dst = static_cast<uint32_t>(d.uint(226));
        r.nat.sport = static_cast<uint16_t>(d.uint(227));
        r.nat.dport = static_cast<uint16_t>(d.uint(228));
    }
    return r;
}

// What a record looks like after the trip: ms resolution, no NAT on IPv6,
// and the fields IPFIX does not carry (port names, drop reason) cleared.
FlowRecord exported_view(FlowRecord r) {
    r.first_ns = r.first_ns / 1000000 * 1000000;
    r.last_ns = r.last_ns / 1000000 * 1000000;
    if (r.key.family == 6)
        r.nat = {};
    r.in_port.clear();
    r.out_port.clear();
    r.drop_reason = 0;
    return r;
}

void expect_same(const FlowRecord& got, const FlowRecord& want, size_t i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(got.key.family, want.key.family);
    EXPECT_EQ(got.key.src, want.key.src);
    EXPECT_EQ(got.key.dst, want.key.dst);
    EXPECT_EQ(got.key.sport, want.key.sport);
    EXPECT_EQ(got.key.dport, want.key.dport);
    EXPECT_EQ(got.key.proto, want.key.proto);
    EXPECT_EQ(got.key.vlan, want.key.vlan);
    EXPECT_EQ(got.in_ifindex, want.in_ifindex);
    EXPECT_EQ(got.out_ifindex, want.out_ifindex);
    EXPECT_EQ(got.packets, want.packets);
    EXPECT_EQ(got.bytes, want.bytes);
    EXPECT_EQ(got.first_ns, want.first_ns);
    EXPECT_EQ(got.last_ns, want.last_ns);
    EXPECT_EQ(got.tcp_flags, want.tcp_flags);
    EXPECT_EQ(got.end, want.end);
    EXPECT_EQ(got.nat.present, want.nat.present);
    EXPECT_EQ(got.nat.src, want.nat.src);
    EXPECT_EQ(got.nat.dst, want.nat.dst);
    EXPECT_EQ(got.nat.sport, want.nat.sport);
    EXPECT_EQ(got.nat.dport, want.nat.dport);
}

// ---------------------------------------------------------------------------
// Exact bytes.

// The 14 fields common to all templates after the two addresses.
#define COMMON_FIELDS                                                                       \
    0x00, 0x07, 0x00, 0x02,     /* sourceTransportPort 7, 2 */                              \
        0x00, 0x0b, 0x00, 0x02, /* destinationTransportPort 11, 2 */                        \
        0x00, 0x04, 0x00, 0x01, /* protocolIdentifier 4, 1 */                               \
        0x00, 0x3a, 0x00, 0x02, /* vlanId 58, 2 */                                          \
        0x00, 0x0a, 0x00, 0x04, /* ingressInterface 10, 4 */                                \
        0x00, 0x0e, 0x00, 0x04, /* egressInterface 14, 4 */                                 \
        0x00, 0x02, 0x00, 0x08, /* packetDeltaCount 2, 8 */                                 \
        0x00, 0x01, 0x00, 0x08, /* octetDeltaCount 1, 8 */                                  \
        0x00, 0x98, 0x00, 0x08, /* flowStartMilliseconds 152, 8 */                          \
        0x00, 0x99, 0x00, 0x08, /* flowEndMilliseconds 153, 8 */                            \
        0x00, 0x06, 0x00, 0x02, /* tcpControlBits 6, 2 */                                   \
        0x00, 0x88, 0x00, 0x01  /* flowEndReason 136, 1 */

const Bytes kTemplateSet = {
    0x00, 0x02, 0x00, 0xc8,   // Set ID 2 (Template Set), length 200
    // -- template 256: IPv4
    0x01, 0x00, 0x00, 0x0e,   // Template ID 256, 14 fields
    0x00, 0x08, 0x00, 0x04,   // sourceIPv4Address 8, 4
    0x00, 0x0c, 0x00, 0x04,   // destinationIPv4Address 12, 4
    COMMON_FIELDS,
    // -- template 257: IPv4 + NAT
    0x01, 0x01, 0x00, 0x12,   // Template ID 257, 18 fields
    0x00, 0x08, 0x00, 0x04,   // sourceIPv4Address
    0x00, 0x0c, 0x00, 0x04,   // destinationIPv4Address
    COMMON_FIELDS,
    0x00, 0xe1, 0x00, 0x04,   // postNATSourceIPv4Address 225, 4
    0x00, 0xe2, 0x00, 0x04,   // postNATDestinationIPv4Address 226, 4
    0x00, 0xe3, 0x00, 0x02,   // postNAPTSourceTransportPort 227, 2
    0x00, 0xe4, 0x00, 0x02,   // postNAPTDestinationTransportPort 228, 2
    // -- template 258: IPv6
    0x01, 0x02, 0x00, 0x0e,   // Template ID 258, 14 fields
    0x00, 0x1b, 0x00, 0x10,   // sourceIPv6Address 27, 16
    0x00, 0x1c, 0x00, 0x10,   // destinationIPv6Address 28, 16
    COMMON_FIELDS,
};
#undef COMMON_FIELDS

// tcp_record() as a Data Set of template 256.
const Bytes kTcpDataSet = {
    0x01, 0x00, 0x00, 0x3e,   // Set ID 256, length 62 = 4 + 58
    0x0a, 0x00, 0x00, 0x01,   // sourceIPv4Address 10.0.0.1
    0xc0, 0xa8, 0x01, 0x14,   // destinationIPv4Address 192.168.1.20
    0x9c, 0x40,               // sourceTransportPort 40000
    0x01, 0xbb,               // destinationTransportPort 443
    0x06,                     // protocolIdentifier TCP
    0x00, 0x0a,               // vlanId 10
    0x00, 0x00, 0x00, 0x03,   // ingressInterface 3
    0x00, 0x00, 0x00, 0x05,   // egressInterface 5
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,   // packetDeltaCount 12
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x80,   // octetDeltaCount 3456
    0x00, 0x00, 0x01, 0x9a, 0xa6, 0x49, 0x1a, 0x7b,   // flowStartMilliseconds 1763726400123
    0x00, 0x00, 0x01, 0x9a, 0xa6, 0x4a, 0x08, 0x47,   // flowEndMilliseconds 1763726460999
    0x00, 0x1b,               // tcpControlBits FIN|SYN|PSH|ACK
    0x03,                     // flowEndReason 3 endOfFlowDetected
};

Bytes concat(std::initializer_list<const Bytes*> parts) {
    Bytes out;
    for (const Bytes* p : parts)
        out.insert(out.end(), p->begin(), p->end());
    return out;
}

TEST(IpfixTemplates, ExactBytes) {
    const IpfixEncoder enc(0x01020304);
    const Bytes header = {
        0x00, 0x0a,               // version 10
        0x00, 0xd8,               // length 216 = 16 + 200
        0x69, 0x20, 0x54, 0x40,   // export time 1763726400
        0x00, 0x00, 0x00, 0x00,   // sequence 0
        0x01, 0x02, 0x03, 0x04,   // observation domain
    };
    EXPECT_EQ(enc.templates_message(1763726400), concat({&header, &kTemplateSet}));
}

TEST(IpfixEncode, OneIpv4RecordExactBytes) {
    IpfixEncoder enc(7);
    const auto msgs = enc.encode({tcp_record()}, 1763726461, false);
    ASSERT_EQ(msgs.size(), 1u);
    const Bytes header = {
        0x00, 0x0a,               // version 10
        0x00, 0x4e,               // length 78 = 16 + 62
        0x69, 0x20, 0x54, 0x7d,   // export time 1763726461
        0x00, 0x00, 0x00, 0x00,   // sequence 0
        0x00, 0x00, 0x00, 0x07,   // observation domain 7
    };
    EXPECT_EQ(msgs[0], concat({&header, &kTcpDataSet}));
    EXPECT_EQ(enc.sequence(), 1u);
}

TEST(IpfixEncode, TemplatesComeFirstInTheFirstMessage) {
    IpfixEncoder enc(7);
    const auto msgs = enc.encode({tcp_record()}, 1763726461, true);
    ASSERT_EQ(msgs.size(), 1u);
    const Bytes header = {
        0x00, 0x0a, 0x01, 0x16,   // version 10, length 278 = 16 + 200 + 62
        0x69, 0x20, 0x54, 0x7d,   // export time
        0x00, 0x00, 0x00, 0x00,   // sequence 0
        0x00, 0x00, 0x00, 0x07,   // domain 7
    };
    EXPECT_EQ(msgs[0], concat({&header, &kTemplateSet, &kTcpDataSet}));
}

TEST(IpfixEncode, EmptyInput) {
    IpfixEncoder enc(1);
    EXPECT_TRUE(enc.encode({}, 5, false).empty());
    const auto msgs = enc.encode({}, 5, true);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0], enc.templates_message(5));
    EXPECT_EQ(enc.sequence(), 0u);
}

TEST(IpfixEncoder, RejectsUnusableMaxMessage) {
    EXPECT_THROW(IpfixEncoder(1, kIpfixMinMessage - 1), std::invalid_argument);
    EXPECT_THROW(IpfixEncoder(1, 65536), std::invalid_argument);
    EXPECT_NO_THROW(IpfixEncoder(1, kIpfixMinMessage));
    EXPECT_NO_THROW(IpfixEncoder(1, 65535));
}

// ---------------------------------------------------------------------------
// Sequence numbers.

uint32_t seq_of(const Bytes& m) {
    return static_cast<uint32_t>(be(m, 8, 4));
}

TEST(IpfixSequence, CountsDataRecordsNotTemplates) {
    IpfixEncoder enc(1);
    auto m1 = enc.encode({v4_record(1), v4_record(2), v4_record(3)}, 0, true);
    ASSERT_EQ(m1.size(), 1u);
    EXPECT_EQ(seq_of(m1[0]), 0u);
    EXPECT_EQ(enc.sequence(), 3u);

    // Templates-only messages carry the current number and do not advance it.
    EXPECT_EQ(seq_of(enc.templates_message(0)), 3u);
    EXPECT_EQ(seq_of(enc.templates_message(0)), 3u);
    EXPECT_EQ(enc.sequence(), 3u);
    auto m0 = enc.encode({}, 0, true);
    EXPECT_EQ(seq_of(m0.at(0)), 3u);
    EXPECT_EQ(enc.sequence(), 3u);

    auto m2 = enc.encode({v6_record(4), nat_record(5)}, 0, false);
    ASSERT_EQ(m2.size(), 1u);
    EXPECT_EQ(seq_of(m2[0]), 3u);
    EXPECT_EQ(enc.sequence(), 5u);
}

TEST(IpfixSequence, AdvancesPerMessageWithinOneCall) {
    IpfixEncoder enc(1, 300);   // 4 IPv4 records per message
    std::vector<FlowRecord> recs;
    for (uint64_t i = 0; i < 10; ++i)
        recs.push_back(v4_record(i));
    const auto msgs = enc.encode(recs, 0, false);
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(seq_of(msgs[0]), 0u);
    EXPECT_EQ(seq_of(msgs[1]), 4u);
    EXPECT_EQ(seq_of(msgs[2]), 8u);
    EXPECT_EQ(enc.sequence(), 10u);
    EXPECT_EQ(seq_of(enc.encode({v4_record(10)}, 0, false).at(0)), 10u);
}

// ---------------------------------------------------------------------------
// Splitting.

// Decodes every message, checking size bounds, and returns the records' ids.
std::vector<uint64_t> decode_all(const std::vector<Bytes>& msgs, size_t max, Collector& c) {
    for (const Bytes& m : msgs) {
        EXPECT_LE(m.size(), max);
        c.feed(m);
    }
    std::vector<uint64_t> ids;
    for (const Decoded& d : c.records)
        ids.push_back(d.uint(2));
    return ids;
}

TEST(IpfixSplit, SmallMaxMessageWithoutTemplates) {
    // 300 bytes: 16 + 4 + 4 * 58 = 252 fits, a fifth record (310) does not.
    IpfixEncoder enc(1, 300);
    std::vector<FlowRecord> recs;
    std::vector<uint64_t> want;
    for (uint64_t i = 0; i < 50; ++i) {
        recs.push_back(v4_record(i));
        want.push_back(i);
    }
    const auto msgs = enc.encode(recs, 0, false);
    EXPECT_EQ(msgs.size(), 13u);   // 12 x 4 + 2
    Collector c;
    const Bytes tmpl = enc.templates_message(0);
    c.feed(tmpl);
    EXPECT_EQ(decode_all(msgs, 300, c), want);
    for (size_t i = 0; i + 1 < msgs.size(); ++i)
        EXPECT_EQ(msgs[i].size(), 252u);
    EXPECT_EQ(msgs.back().size(), 16u + 4 + 2 * 58);
}

TEST(IpfixSplit, SmallMaxMessageWithTemplates) {
    // First message: 216 of header + templates leaves room for one record
    // (278); the rest go 4 per message.
    IpfixEncoder enc(1, 300);
    std::vector<FlowRecord> recs;
    std::vector<uint64_t> want;
    for (uint64_t i = 0; i < 50; ++i) {
        recs.push_back(v4_record(i));
        want.push_back(i);
    }
    const auto msgs = enc.encode(recs, 0, true);
    EXPECT_EQ(msgs.size(), 14u);   // 1 + 12 x 4 + 1
    EXPECT_EQ(msgs[0].size(), 278u);
    Collector c;
    EXPECT_EQ(decode_all(msgs, 300, c), want);
}

TEST(IpfixSplit, TemplatesAloneWhenTheyFillTheMessage) {
    IpfixEncoder enc(1, kIpfixMinMessage);   // (216 - 20) / 58 = 3 records per message
    const auto msgs = enc.encode({v4_record(0), v4_record(1), v4_record(2), v4_record(3)}, 0, true);
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0], IpfixEncoder(1, kIpfixMinMessage).templates_message(0));
    EXPECT_EQ(seq_of(msgs[0]), 0u);
    EXPECT_EQ(seq_of(msgs[1]), 0u);
    EXPECT_EQ(seq_of(msgs[2]), 3u);
    Collector c;
    EXPECT_EQ(decode_all(msgs, kIpfixMinMessage, c), (std::vector<uint64_t>{0, 1, 2, 3}));
}

TEST(IpfixSplit, MixedTemplatesEveryRecordOnce) {
    for (size_t max : {kIpfixMinMessage, size_t{300}, size_t{512}, size_t{1400}, size_t{9000}}) {
        SCOPED_TRACE("max_message " + std::to_string(max));
        IpfixEncoder enc(1, max);
        std::vector<FlowRecord> recs;
        for (uint64_t i = 0; i < 301; ++i)
            recs.push_back(i % 3 == 0 ? v4_record(i) : i % 3 == 1 ? nat_record(i) : v6_record(i));
        const auto msgs = enc.encode(recs, 0, true);
        Collector c;
        const auto ids = decode_all(msgs, max, c);
        EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.end()).size(), recs.size());
        EXPECT_EQ(ids.size(), recs.size());
        EXPECT_EQ(enc.sequence(), recs.size());
        // Greedy packing: a message is closed only when the next record (at
        // most 4 + 82 bytes with its set header) does not fit.
        for (size_t i = 0; i + 1 < msgs.size(); ++i)
            EXPECT_GT(msgs[i].size() + 4 + 82, max) << "message " << i << " underfilled";
    }
}

// ---------------------------------------------------------------------------
// Templates per record kind.

TEST(IpfixTemplates, ChosenByFamilyAndNat) {
    EXPECT_EQ(ipfix_template_for(v4_record(0)), kIpfixTemplateV4);
    EXPECT_EQ(ipfix_template_for(nat_record(0)), kIpfixTemplateV4Nat);
    EXPECT_EQ(ipfix_template_for(v6_record(0)), kIpfixTemplateV6);
    FlowRecord v6nat = v6_record(0);
    v6nat.nat.present = true;   // NAT is IPv4 only: ignored
    EXPECT_EQ(ipfix_template_for(v6nat), kIpfixTemplateV6);
}

TEST(IpfixTemplates, Ipv6AndNatRecordsUseTheirTemplates) {
    IpfixEncoder enc(1);
    const auto msgs = enc.encode({v6_record(1), nat_record(2)}, 0, true);
    ASSERT_EQ(msgs.size(), 1u);
    Collector c;
    c.feed(msgs[0]);
    ASSERT_EQ(c.records.size(), 2u);
    // Sets go in template ID order: the NAT record's set comes first.
    EXPECT_EQ(c.set_ids, (std::vector<uint16_t>{257, 258}));
    EXPECT_EQ(c.records[0].tmpl, 257);
    EXPECT_EQ(c.records[0].uint(2), 2u);
    EXPECT_EQ(c.records[0].uint(225), 0xcb007105u);   // 203.0.113.5
    EXPECT_EQ(c.records[0].uint(226), 0x08080808u);
    EXPECT_EQ(c.records[0].uint(227), 50001u);
    EXPECT_EQ(c.records[0].uint(228), 53u);
    EXPECT_EQ(c.records[1].tmpl, 258);
    const auto src6 = v6_record(1).key.src;
    EXPECT_EQ(c.records[1].ies.at(27), Bytes(src6.begin(), src6.end()));
    // 16 header + 200 templates + (4 + 70) + (4 + 82)
    EXPECT_EQ(msgs[0].size(), 16u + 200 + 74 + 86);
    EXPECT_EQ(c.templates.at(256).size(), 14u);
    EXPECT_EQ(c.templates.at(257).size(), 18u);
    EXPECT_EQ(c.templates.at(258).size(), 14u);
}

TEST(IpfixEncode, GroupsPerTemplateKeepingInputOrder) {
    IpfixEncoder enc(1);
    const auto msgs = enc.encode(
        {v4_record(0), v6_record(1), v4_record(2), nat_record(3), v6_record(4), v4_record(5)}, 0,
        true);
    ASSERT_EQ(msgs.size(), 1u);
    Collector c;
    c.feed(msgs[0]);
    EXPECT_EQ(c.set_ids, (std::vector<uint16_t>{256, 257, 258}));
    std::vector<uint64_t> ids;
    for (const Decoded& d : c.records)
        ids.push_back(d.uint(2));
    EXPECT_EQ(ids, (std::vector<uint64_t>{0, 2, 5, 3, 1, 4}));
}

// ---------------------------------------------------------------------------
// Round trip.

FlowRecord random_record(std::mt19937_64& rng) {
    auto u = [&](uint64_t max) { return std::uniform_int_distribution<uint64_t>(0, max)(rng); };
    FlowRecord r;
    r.key.family = u(1) ? 6 : 4;
    const size_t alen = r.key.family == 6 ? 16 : 4;
    for (size_t i = 0; i < alen; ++i) {
        r.key.src[i] = static_cast<uint8_t>(u(255));
        r.key.dst[i] = static_cast<uint8_t>(u(255));
    }
    r.key.sport = static_cast<uint16_t>(u(0xffff));
    r.key.dport = static_cast<uint16_t>(u(0xffff));
    r.key.proto = static_cast<uint8_t>(u(255));
    r.key.vlan = static_cast<uint16_t>(u(4094));
    r.in_ifindex = static_cast<uint32_t>(u(0xffffffff));
    r.out_ifindex = static_cast<uint32_t>(u(0xffffffff));
    r.in_port = "vm" + std::to_string(u(9));   // not carried by IPFIX
    r.packets = u(UINT64_MAX);
    r.bytes = u(UINT64_MAX);
    r.first_ns = u(UINT64_MAX);
    r.last_ns = u(UINT64_MAX);
    r.tcp_flags = static_cast<uint8_t>(u(255));
    r.drop_reason = static_cast<uint16_t>(u(20));   // not carried by IPFIX
    r.end = static_cast<EndReason>(1 + u(4));
    if (u(1)) {   // also on IPv6 records, where the encoder must ignore it
        r.nat.present = true;
        r.nat.src = static_cast<uint32_t>(u(0xffffffff));
        r.nat.dst = static_cast<uint32_t>(u(0xffffffff));
        r.nat.sport = static_cast<uint16_t>(u(0xffff));
        r.nat.dport = static_cast<uint16_t>(u(0xffff));
    }
    return r;
}

TEST(IpfixRoundTrip, RandomRecordsDecodeToEveryField) {
    std::mt19937_64 rng(20261121);
    for (size_t max : {kIpfixMinMessage, size_t{1400}, size_t{65535}}) {
        SCOPED_TRACE("max_message " + std::to_string(max));
        IpfixEncoder enc(0xdeadbeef, max);
        Collector c;
        std::vector<FlowRecord> sent;
        uint32_t want_seq = 0;
        for (int batch = 0; batch < 5; ++batch) {
            std::vector<FlowRecord> recs;
            for (int i = 0; i < 200; ++i)
                recs.push_back(random_record(rng));
            sent.insert(sent.end(), recs.begin(), recs.end());
            // Templates only with the first batch: later ones rely on the
            // collector having kept them, as over UDP between refreshes.
            const auto msgs = enc.encode(recs, 1000u + batch, batch == 0);
            for (const Bytes& m : msgs) {
                ASSERT_LE(m.size(), max);
                const size_t before = c.records.size();
                const Header h = c.feed(m);
                EXPECT_EQ(h.domain, 0xdeadbeefu);
                EXPECT_EQ(h.export_time, 1000u + batch);
                EXPECT_EQ(h.sequence, want_seq);
                want_seq += static_cast<uint32_t>(c.records.size() - before);
            }
        }
        ASSERT_EQ(c.records.size(), sent.size());
        // Records come back grouped per template within each message; match
        // them by their (random, hence unique) packet counts.
        std::map<uint64_t, const Decoded*> by_packets;
        for (const Decoded& d : c.records)
            by_packets[d.uint(2)] = &d;
        ASSERT_EQ(by_packets.size(), sent.size());
        for (size_t i = 0; i < sent.size(); ++i) {
            const Decoded& d = *by_packets.at(sent[i].packets);
            EXPECT_EQ(d.tmpl, ipfix_template_for(sent[i]));
            expect_same(to_record(d), exported_view(sent[i]), i);
        }
    }
}

} // namespace
} // namespace xdpnet::telemetry
