// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// ARP and IPv4 frame builders and a from-scratch Internet checksum, for the
// gateway and routing tests.
#pragma once

#include <algorithm>
#include <cstdint>

#include "harness.h"

namespace xt {

inline void put32(Bytes &b, uint32_t v)
{
	for (int s = 24; s >= 0; s -= 8)
		b.push_back(uint8_t(v >> s));
}
inline void put16(Bytes &b, uint16_t v)
{
	b.push_back(uint8_t(v >> 8));
	b.push_back(uint8_t(v));
}

// The Internet checksum of b[off, off+len), from scratch (RFC 1071).
inline uint16_t inet_csum(const Bytes &b, size_t off, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += uint32_t(b[off + i] << 8 | b[off + i + 1]);
	if (len & 1)
		sum += uint32_t(b[off + len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return uint16_t(~sum);
}

inline Bytes arp(uint16_t op, const Mac &eth_dst, const Mac &eth_src, const Mac &sha, uint32_t spa, const Mac &tha,
	  uint32_t tpa, std::vector<Tag> tags = {})
{
	Bytes b = frame(eth_dst, eth_src, tags, 0x0806, 0);
	put16(b, 1);
	put16(b, 0x0800);
	b.push_back(6);
	b.push_back(4);
	put16(b, op);
	b.insert(b.end(), sha.begin(), sha.end());
	put32(b, spa);
	b.insert(b.end(), tha.begin(), tha.end());
	put32(b, tpa);
	b.resize(std::max<size_t>(b.size(), 60), 0);
	return b;
}

// An ICMP echo (type 8) or reply (0) with valid checksums.
inline Bytes icmp_echo(uint8_t type, const Mac &dst, const Mac &src, uint32_t saddr, uint32_t daddr,
		std::vector<Tag> tags = {}, uint8_t ttl = 64)
{
	Bytes b = frame(dst, src, tags, 0x0800, 0);
	size_t ip = b.size();
	const uint8_t hdr[] = {0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, ttl, 1, 0, 0};
	b.insert(b.end(), hdr, hdr + sizeof(hdr));
	put32(b, saddr);
	put32(b, daddr);
	size_t icmp = b.size();
	b.push_back(type);
	b.push_back(0);
	put16(b, 0);
	put16(b, 0x4242); // id
	put16(b, 7);      // sequence
	for (int i = 0; i < 32; i++)
		b.push_back(uint8_t(i * 3));
	uint16_t total = uint16_t(b.size() - ip);
	b[ip + 2] = uint8_t(total >> 8);
	b[ip + 3] = uint8_t(total);
	uint16_t c = inet_csum(b, ip, 20);
	b[ip + 10] = uint8_t(c >> 8);
	b[ip + 11] = uint8_t(c);
	c = inet_csum(b, icmp, b.size() - icmp);
	b[icmp + 2] = uint8_t(c >> 8);
	b[icmp + 3] = uint8_t(c);
	return b;
}

// ---------------------------------------------------------------------------
// IPv4 with TCP, UDP and ICMP payloads (the NAT tests). Checksums are computed
// from scratch here, never incrementally, so they check the datapath's
// incremental updates independently.

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

inline uint16_t get16(const Bytes &b, size_t off) { return uint16_t(b[off] << 8 | b[off + 1]); }
inline uint32_t get32(const Bytes &b, size_t off) { return uint32_t(get16(b, off)) << 16 | get16(b, off + 2); }
inline void set16(Bytes &b, size_t off, uint16_t v)
{
	b[off] = uint8_t(v >> 8);
	b[off + 1] = uint8_t(v);
}

// The one's-complement sum of b[off, off+len) added to sum, folded (not
// complemented): 0xffff and 0 are both "zero".
inline uint16_t csum_fold_add(uint32_t sum, const Bytes &b, size_t off, size_t len)
{
	uint64_t s = sum;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += uint32_t(b[off + i] << 8 | b[off + i + 1]);
	if (len & 1)
		s += uint32_t(b[off + len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return uint16_t(s);
}

// The IPv4 packet at l3 in f: header length, L4 offset and length, protocol.
struct Ip4View {
	size_t l3, l4, l4len;
	uint8_t proto;
};
inline Ip4View ip4_view(const Bytes &f, size_t l3)
{
	Ip4View v{};
	v.l3 = l3;
	v.l4 = l3 + (f[l3] & 0xf) * 4;
	v.l4len = get16(f, l3 + 2) - (f[l3] & 0xf) * 4;
	v.proto = f[l3 + 9];
	return v;
}

// The folded (not complemented) pseudo-header sum of the TCP/UDP segment of
// the IPv4 packet at l3: what a CHECKSUM_PARTIAL sender leaves in the field.
inline uint16_t pseudo_sum(const Bytes &f, size_t l3)
{
	Ip4View v = ip4_view(f, l3);
	uint32_t s = uint32_t(get16(f, l3 + 12)) + get16(f, l3 + 14) + get16(f, l3 + 16) + get16(f, l3 + 18) +
		     v.proto + uint32_t(v.l4len);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return uint16_t(s);
}

inline size_t l4_check_field(uint8_t proto) { return proto == 6 ? 16 : proto == 17 ? 6 : 2; }

// Is the TCP/UDP (pseudo-header included) or ICMP checksum of the IPv4 packet
// at l3 valid, from scratch? A UDP checksum of 0 (none) counts as invalid:
// every UDP datagram here carries one.
inline bool l4_csum_ok(const Bytes &f, size_t l3)
{
	Ip4View v = ip4_view(f, l3);
	if (v.l4 + v.l4len > f.size())
		return false;
	if (v.proto == 1)
		return inet_csum(f, v.l4, v.l4len) == 0;
	if (v.proto == 17 && get16(f, v.l4 + 6) == 0)
		return false;
	uint16_t s = csum_fold_add(pseudo_sum(f, l3), f, v.l4, v.l4len);
	return s == 0xffff;
}

inline bool ip_csum_ok(const Bytes &f, size_t l3) { return inet_csum(f, l3, (f[l3] & 0xf) * 4) == 0; }

// Write valid IPv4 header and L4 (TCP, UDP, ICMP) checksums, from scratch.
inline void ip_csum_fill(Bytes &f, size_t l3)
{
	set16(f, l3 + 10, 0);
	set16(f, l3 + 10, inet_csum(f, l3, (f[l3] & 0xf) * 4));
}
inline void l4_csum_fill(Bytes &f, size_t l3)
{
	Ip4View v = ip4_view(f, l3);
	size_t c = v.l4 + l4_check_field(v.proto);
	set16(f, c, 0);
	if (v.proto == 1) {
		set16(f, c, inet_csum(f, v.l4, v.l4len));
		return;
	}
	uint16_t s = uint16_t(~csum_fold_add(pseudo_sum(f, l3), f, v.l4, v.l4len));
	if (v.proto == 17 && s == 0)
		s = 0xffff;
	set16(f, c, s);
}

// A bare IPv4 packet (no L2): 20-byte header, DF, the given id, l4 appended;
// both checksums valid (protocols other than TCP/UDP/ICMP: L4 untouched).
inline Bytes ipv4_packet(uint32_t saddr, uint32_t daddr, uint8_t proto, const Bytes &l4, uint8_t ttl = 64,
			 uint16_t id = 0x1234)
{
	Bytes b;
	const uint8_t hdr[] = {0x45, 0, 0, 0, uint8_t(id >> 8), uint8_t(id), 0x40, 0, ttl, proto, 0, 0};
	b.insert(b.end(), hdr, hdr + sizeof(hdr));
	put32(b, saddr);
	put32(b, daddr);
	b.insert(b.end(), l4.begin(), l4.end());
	set16(b, 2, uint16_t(b.size()));
	if (proto == 1 || proto == 6 || proto == 17)
		l4_csum_fill(b, 0);
	ip_csum_fill(b, 0);
	return b;
}

// An Ethernet frame (tags optional) around an IPv4 packet.
inline Bytes eth_ipv4(const Mac &dst, const Mac &src, const Bytes &packet, std::vector<Tag> tags = {})
{
	Bytes b = frame(dst, src, tags, 0x0800, 0);
	b.insert(b.end(), packet.begin(), packet.end());
	return b;
}

// L4 headers with a patterned payload; checksums are left 0 for ipv4_packet.
inline Bytes udp_l4(uint16_t sport, uint16_t dport, size_t payload = 12)
{
	Bytes b;
	put16(b, sport);
	put16(b, dport);
	put16(b, uint16_t(8 + payload));
	put16(b, 0);
	for (size_t i = 0; i < payload; i++)
		b.push_back(uint8_t(0x61 + i * 5));
	return b;
}
inline Bytes tcp_l4(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload = 0, uint32_t seq = 1000,
		    uint32_t ack = 0)
{
	Bytes b;
	put16(b, sport);
	put16(b, dport);
	put32(b, seq);
	put32(b, ack);
	b.push_back(0x50); // data offset 5
	b.push_back(flags);
	put16(b, 64240); // window
	put16(b, 0);     // checksum
	put16(b, 0);     // urgent
	for (size_t i = 0; i < payload; i++)
		b.push_back(uint8_t(0x17 + i * 11));
	return b;
}
inline Bytes icmp_echo_l4(uint8_t type, uint16_t id, uint16_t seq = 1, size_t payload = 32)
{
	Bytes b{type, 0, 0, 0};
	put16(b, id);
	put16(b, seq);
	for (size_t i = 0; i < payload; i++)
		b.push_back(uint8_t(i * 3 + 1));
	return b;
}
// An ICMP error (unused word 0) quoting `quote` (an IPv4 packet, or its head).
inline Bytes icmp_error_l4(uint8_t type, uint8_t code, const Bytes &quote)
{
	Bytes b{type, code, 0, 0, 0, 0, 0, 0};
	b.insert(b.end(), quote.begin(), quote.end());
	return b;
}

} // namespace xt
