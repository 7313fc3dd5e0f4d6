// IPFIX (RFC 7011) encoding of flow records: pure bytes, no sockets.
//
// Three fixed templates, always the same IDs and layouts, so a collector that
// has seen them once can decode every later message of the stream:
//   256  IPv4 flow            (58-byte records)
//   257  IPv4 flow with NAT   (70-byte records: 256 + post-NAT addresses/ports)
//   258  IPv6 flow            (82-byte records)
// Fields, in record order (IANA IE number, length in bytes):
//   source address          8 (4)  | 27 (16) for IPv6
//   destination address    12 (4)  | 28 (16) for IPv6
//   sourceTransportPort          7 (2)
//   destinationTransportPort    11 (2)   ICMP: type << 8 | code, as in FlowKey
//   protocolIdentifier           4 (1)
//   vlanId                      58 (2)   0: untagged
//   ingressInterface            10 (4)   ifindex
//   egressInterface             14 (4)   ifindex, 0: not forwarded
//   packetDeltaCount             2 (8)
//   octetDeltaCount              1 (8)
//   flowStartMilliseconds      152 (8)   Unix ms, truncated from first_ns
//   flowEndMilliseconds        153 (8)   Unix ms, truncated from last_ns
//   tcpControlBits               6 (2)   RFC 7125: 16 bits, the low 8 used
//   flowEndReason              136 (1)
//   template 257 only:
//   postNATSourceIPv4Address         225 (4)
//   postNATDestinationIPv4Address    226 (4)
//   postNAPTSourceTransportPort      227 (2)
//   postNAPTDestinationTransportPort 228 (2)
// A record uses 258 when key.family == 6 (any NAT data is then ignored: NAT
// is IPv4 only), else 257 when nat.present, else 256.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "telemetry/flow.h"

namespace xdpnet::telemetry {

/// Template ID of plain IPv4 flow records.
inline constexpr uint16_t kIpfixTemplateV4 = 256;
/// Template ID of IPv4 flow records with the NAT translation.
inline constexpr uint16_t kIpfixTemplateV4Nat = 257;
/// Template ID of IPv6 flow records.
inline constexpr uint16_t kIpfixTemplateV6 = 258;
/// Size of the IPFIX message header (RFC 7011 3.1).
inline constexpr size_t kIpfixHeaderLen = 16;
/// Smallest max_message accepted: the header plus the whole template set, so
/// the templates always travel in one message.
inline constexpr size_t kIpfixMinMessage = 216;

/// Data records in one message IpfixEncoder made (for counting what was
/// sent); 0 for a malformed message.
size_t ipfix_record_count(const std::vector<uint8_t>& msg);

/// Which of the three templates a record is encoded with.
uint16_t ipfix_template_for(const FlowRecord& r);

/// Encodes flow records as IPFIX messages for one Observation Domain. Keeps
/// the stream's sequence number, so use one encoder per (collector, domain)
/// stream and feed it every message you send there.
class IpfixEncoder {
  public:
    /// max_message bounds every message's length (typically the path MTU
    /// minus IP/UDP headers). Throws std::invalid_argument outside
    /// [kIpfixMinMessage, 65535] (the header's length field is 16 bits).
    explicit IpfixEncoder(uint32_t observation_domain, size_t max_message = 1400);

    /// Messages carrying these records (split to fit max_message), templates
    /// first when with_templates. Advances sequence() by recs.size(). With no
    /// records: one templates-only message when with_templates, else none.
    std::vector<std::vector<uint8_t>> encode(const std::vector<FlowRecord>& recs,
                                             uint32_t export_time_s, bool with_templates);

    /// Only the template set (for periodic re-sends, e.g. template_refresh).
    /// Carries the current sequence number and does not advance it.
    std::vector<uint8_t> templates_message(uint32_t export_time_s) const;

    /// Data records sent so far, mod 2^32: the next message's sequence number.
    uint32_t sequence() const { return sequence_; }

  private:
    uint32_t domain_;
    size_t max_message_;
    uint32_t sequence_ = 0;
};

} // namespace xdpnet::telemetry
