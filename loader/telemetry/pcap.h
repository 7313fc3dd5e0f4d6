// Classic libpcap capture files (what `tcpdump -w` writes), for `xdpnet
// trace --pcap`: both byte orders, microsecond and nanosecond timestamps,
// Ethernet link type only. pcapng is recognised and refused with a hint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace xdpnet::telemetry {

/// A file that is not a usable capture; what() says what and where.
struct PcapError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One captured frame.
struct PcapPacket {
    std::vector<uint8_t> data; ///< the frame, Ethernet header first (any FCS stripped)
    uint32_t orig_len = 0;     ///< its length on the wire
    uint64_t ts_ns = 0;        ///< capture time, ns since the epoch
};

/// Packet n (1-based) of a capture held in memory. Throws PcapError for a
/// short or corrupt file, another link type than Ethernet, a frame that was
/// cut short when captured (snaplen), or fewer than n packets.
PcapPacket pcap_packet(std::span<const uint8_t> file, size_t n);

/// Packet n (1-based) of the capture file at path. Throws PcapError (also
/// when the file cannot be read), naming the path.
PcapPacket read_pcap_packet(const std::string& path, size_t n);

} // namespace xdpnet::telemetry
