// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// ARP, IPv4 and IPv6 frame builders and a from-scratch Internet checksum, for
// the gateway, routing, NAT and control tests.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <array>
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

// ---------------------------------------------------------------------------
// IPv6 with TCP, UDP and ICMPv6 payloads, and neighbour discovery (the port
// security, DSCP and ACL tests). Checksums from scratch, as above.

using In6 = std::array<uint8_t, 16>;

// "2001:db8::1" -> bytes (a malformed literal fails the test).
inline In6 ip6(const char *s)
{
	In6 a{};
	if (inet_pton(AF_INET6, s, a.data()) != 1)
		ADD_FAILURE() << "bad IPv6 literal " << s;
	return a;
}

constexpr uint8_t kIcmp6 = 58;

struct Ip6Opts {
	uint8_t hop = 64;
	uint8_t tclass = 0;     // traffic class (DSCP << 2 | ECN)
	uint32_t flow = 0;      // flow label, 20 bits
	bool frag = false;      // a fragment header (first fragment, more follow) before l4
	uint16_t frag_off = 0;  // its offset in 8-byte units (nonzero: a later fragment)
	uint32_t frag_id = 0x51;
};

// The upper-layer checksum offset in the header of proto, or 0 for none.
inline size_t l4_check6(uint8_t proto) { return proto == 6 ? 16 : proto == 17 ? 6 : proto == kIcmp6 ? 2 : 0; }

// The folded (not complemented) sum of the IPv6 pseudo-header.
inline uint32_t pseudo6(const In6 &src, const In6 &dst, uint32_t len, uint8_t proto)
{
	uint32_t s = 0;
	for (int i = 0; i < 16; i += 2)
		s += uint32_t(src[i] << 8 | src[i + 1]) + uint32_t(dst[i] << 8 | dst[i + 1]);
	s += (len >> 16) + (len & 0xffff) + proto;
	return s;
}

// A bare IPv6 packet (no L2): the 40-byte header, an optional fragment
// header, then l4 with its checksum filled from scratch (TCP, UDP, ICMPv6).
inline Bytes ipv6_packet(const In6 &src, const In6 &dst, uint8_t proto, Bytes l4, Ip6Opts o = {})
{
	if (size_t c = l4_check6(proto); c && l4.size() >= c + 2) {
		l4[c] = l4[c + 1] = 0;
		uint16_t sum = uint16_t(~csum_fold_add(pseudo6(src, dst, uint32_t(l4.size()), proto), l4, 0, l4.size()));
		if (proto == 17 && sum == 0)
			sum = 0xffff;
		set16(l4, c, sum);
	}
	Bytes b;
	put32(b, 0x60000000u | uint32_t(o.tclass) << 20 | (o.flow & 0xfffff));
	put16(b, uint16_t(l4.size() + (o.frag ? 8 : 0)));
	b.push_back(o.frag ? 44 : proto);
	b.push_back(o.hop);
	b.insert(b.end(), src.begin(), src.end());
	b.insert(b.end(), dst.begin(), dst.end());
	if (o.frag) {
		b.push_back(proto);
		b.push_back(0);
		put16(b, uint16_t(o.frag_off << 3 | 1)); // M: more fragments follow
		put32(b, o.frag_id);
	}
	b.insert(b.end(), l4.begin(), l4.end());
	return b;
}

inline Bytes eth_ipv6(const Mac &dst, const Mac &src, const Bytes &packet, std::vector<Tag> tags = {})
{
	Bytes b = frame(dst, src, tags, 0x86dd, 0);
	b.insert(b.end(), packet.begin(), packet.end());
	return b;
}

// Is the upper-layer checksum of the unfragmented IPv6 packet at l3 valid?
inline bool l4_csum6_ok(const Bytes &f, size_t l3)
{
	In6 s{}, d{};
	std::copy(f.begin() + l3 + 8, f.begin() + l3 + 24, s.begin());
	std::copy(f.begin() + l3 + 24, f.begin() + l3 + 40, d.begin());
	uint32_t len = get16(f, l3 + 4);
	return csum_fold_add(pseudo6(s, d, len, f[l3 + 6]), f, l3 + 40, len) == 0xffff;
}

// The 33:33:ff:xx:xx:xx MAC of a solicited-node group, and the group.
inline Mac solicited_mac(const In6 &a) { return Mac{0x33, 0x33, 0xff, a[13], a[14], a[15]}; }
inline In6 solicited_node(const In6 &a)
{
	In6 g = ip6("ff02::1:ff00:0");
	g[13] = a[13];
	g[14] = a[14];
	g[15] = a[15];
	return g;
}

// Neighbour discovery options: link-layer address (1 source, 2 target) and
// a nonce (14, RFC 3971), 8 bytes each.
inline Bytes nd_ll_opt(uint8_t type, const Mac &m)
{
	Bytes b{type, 1};
	b.insert(b.end(), m.begin(), m.end());
	return b;
}
inline Bytes nd_nonce_opt() { return Bytes{14, 1, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}; }

// ICMPv6 messages (checksum 0: ipv6_packet fills it).
inline Bytes icmp6_l4(uint8_t type, uint8_t code, const Bytes &body)
{
	Bytes b{type, code, 0, 0};
	b.insert(b.end(), body.begin(), body.end());
	return b;
}
inline Bytes icmp6_echo_l4(uint8_t type, uint16_t id, uint16_t seq = 1)
{
	Bytes body;
	put16(body, id);
	put16(body, seq);
	for (int i = 0; i < 24; i++)
		body.push_back(uint8_t(i * 5 + 2));
	return icmp6_l4(type, 0, body);
}
// Neighbour solicitation (135) and advertisement (136; flags R 0x80, S 0x40,
// O 0x20) for target, options appended.
inline Bytes nd_ns_l4(const In6 &target, const Bytes &opts = {})
{
	Bytes body{0, 0, 0, 0};
	body.insert(body.end(), target.begin(), target.end());
	body.insert(body.end(), opts.begin(), opts.end());
	return icmp6_l4(135, 0, body);
}
inline Bytes nd_na_l4(const In6 &target, uint8_t flags, const Bytes &opts = {})
{
	Bytes body{flags, 0, 0, 0};
	body.insert(body.end(), target.begin(), target.end());
	body.insert(body.end(), opts.begin(), opts.end());
	return icmp6_l4(136, 0, body);
}
// Router advertisement (134): hop limit 64, lifetime 1800 s, options appended.
inline Bytes nd_ra_l4(const Bytes &opts = {})
{
	Bytes body{64, 0};
	put16(body, 1800);
	put32(body, 0);
	put32(body, 0);
	body.insert(body.end(), opts.begin(), opts.end());
	return icmp6_l4(134, 0, body);
}
// Redirect (137): a better first hop `target` for `dest`.
inline Bytes nd_redirect_l4(const In6 &target, const In6 &dest)
{
	Bytes body{0, 0, 0, 0};
	body.insert(body.end(), target.begin(), target.end());
	body.insert(body.end(), dest.begin(), dest.end());
	return icmp6_l4(137, 0, body);
}

} // namespace xt
