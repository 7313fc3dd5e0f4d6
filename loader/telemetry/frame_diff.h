// What a program did to a frame, as header fields: `xdpnet trace` runs the
// datapath on a frame and compares what went in with what came out.
//
// A frame is decoded into named fields in header order (eth.dst, eth.src,
// vlan, eth.type, arp.*, ipv4.*, ipv6.*, tcp.*/udp.*/icmp.*, icmp.inner.* for
// the packet an ICMP error quotes); two frames are compared field by field,
// and whatever follows the decoded headers as "payload". Checksums are
// verified, so a rewrite that left one wrong is visible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xdpnet::telemetry {

/// One decoded header field: its name ("ipv4.ttl") and value as text ("64").
struct FrameField {
    std::string name;
    std::string value;
};

/// A frame's headers as far as they could be decoded.
struct DecodedFrame {
    std::vector<FrameField> fields;      ///< in header order
    size_t payload_offset = 0;           ///< first byte after the decoded headers
    std::vector<std::string> bad_checksums; ///< names of checksum fields that do not verify
};

/// A field that differs between two frames. A field one frame lacks reads
/// "-" ("none" for a VLAN tag). change: "pushed", "popped" or "changed" for
/// VLAN tags; empty otherwise.
struct FieldChange {
    std::string field;
    std::string before;
    std::string after;
    std::string change;
};

/// Decodes Ethernet, up to two VLAN tags, ARP, IPv4 (with TCP, UDP, ICMP,
/// and the header an ICMP error quotes) and IPv6 (with TCP, UDP). Truncated
/// headers end the decoding where they start.
DecodedFrame decode_frame(std::span<const uint8_t> frame);

/// The fields that differ between before and after, in header order; the
/// bytes after the headers appear as one "payload" field when they differ.
std::vector<FieldChange> diff_frames(std::span<const uint8_t> before, std::span<const uint8_t> after);

/// One line: "52:54:00:00:00:01 > 52:54:00:00:00:02, vlan 10, IPv4
/// 10.0.10.1 > 10.0.10.2 ttl 64, TCP 40000 > 80 [S], 54 bytes".
std::string describe_frame(std::span<const uint8_t> frame);

/// The frame without its outer 802.1Q tag (an untagged frame as it is).
std::vector<uint8_t> pop_vlan(std::span<const uint8_t> frame);

/// The VLAN ID of the frame's outer 802.1Q tag, or -1 when it has none.
int frame_vid(std::span<const uint8_t> frame);

/// Lower-case hex, no separators.
std::string to_hex(std::span<const uint8_t> bytes);

} // namespace xdpnet::telemetry
