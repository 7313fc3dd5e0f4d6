// Packet descriptions for `xdpnet trace`: a one-line, layered description of
// a frame, e.g.
//
//   eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)/vlan(10)/
//   ipv4(src=10.0.0.1,dst=10.0.0.2)/tcp(sport=1234,dport=80,flags=S)
//
// parsed and built into the exact bytes XDP would see: Ethernet first, every
// ethertype, length, protocol and checksum filled in. Frames shorter than the
// 60-byte Ethernet minimum are NOT padded: the frame is exactly what was
// described, as a trace must run the programs on exactly that.
//
// Layers are separated by '/', each `name(key=value,...)`; whitespace around
// tokens is allowed; numbers are decimal or 0x-hex; [..] marks optional fields.
//
//   eth(src=MAC,dst=MAC[,type=N])     first, once; MAC aa:bb:.. or aa-bb-..;
//                                     type only (and then required) with no L3
//   vlan(VID) | vlan(vid=N[,pcp,dei,tpid])  0..4094, at most 2, right after eth;
//                                     tpid default 0x8100 (QinQ outer: 0x88a8)
//   ipv4(src,dst[,ttl=64,tos,id,df,mf,frag,proto])   proto default: from L4
//   ipv6(src,dst[,hlim,tc,flow,nh])   hlim default 64 (255 for ND types 133..137)
//   arp([op=request|reply,][sha=eth src,]spa,[tha=0,]tpa)    nothing after it
//   tcp(sport,dport[,flags=S,seq=0,ack=0,win=65535])  flags: FSRPAUEC or none
//   udp(sport,dport)
//   icmp([type=echo-request|N,code,id,seq])          over ipv4 only
//   icmpv6([type=echo-request|N,code,id,seq])        over ipv6 only, or
//   icmpv6(type=ns|na,target=IPv6[,lladdr=MAC])      with an LL address option
//   payload(len=N | hex=HEX)          last; len bytes are 00 01 02 .. (mod 256)
//
// With no L4 layer, proto / nh default to 253 (RFC 3692 experimental). More in
// packet_spec.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace xdpnet::telemetry {

/// A parse error: the 0-based column in the description and why.
struct SpecError : std::runtime_error {
    /// Builds the error; what() reads "column N: reason".
    SpecError(size_t column, const std::string& reason);

    size_t column;       ///< 0-based offset of the offending token in the description
    std::string reason;  ///< the message without the "column N: " prefix
};

/// Parse a packet description and build the frame (Ethernet first). Throws SpecError.
std::vector<uint8_t> build_packet(std::string_view description);

}  // namespace xdpnet::telemetry
