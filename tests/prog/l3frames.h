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

} // namespace xt
