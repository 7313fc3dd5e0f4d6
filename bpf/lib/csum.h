/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internet checksum arithmetic, in one place (RFC 1071, RFC 1624). */
#ifndef XDPNET_BPF_CSUM_H
#define XDPNET_BPF_CSUM_H
#include "common.h"

static __always_inline __u16 csum_fold32(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

/* The one's-complement change (RFC 1624 eqn. 3: ~m + m', unfolded) of a
 * 16-bit word going from `from` to `to`, and of a 32-bit field (an address).
 * Works on network-order values; sums of several changes fold once. */
static __always_inline __u32 csum_change2(__be16 from, __be16 to)
{
	return (__u16)~from + (__u16)to;
}

static __always_inline __u32 csum_change4(__be32 from, __be32 to)
{
	return (__u16)~(from & 0xffff) + (__u16)~(from >> 16) + (to & 0xffff) + (to >> 16);
}

/* A checksum after changes summing (folded) to `change`:
 * HC' = ~(~HC + change). */
static __always_inline __sum16 csum_apply(__sum16 check, __u16 change)
{
	return (__sum16)~csum_fold32((__u32)(__u16)~check + change);
}

/* The checksum after one 16-bit word changed from `from` to `to`. */
static __always_inline __sum16 csum_replace2(__sum16 check, __be16 from, __be16 to)
{
	return (__sum16)~csum_fold32((__u16)~check + csum_change2(from, to));
}

/* The checksum after a 32-bit field (an address) changed. */
static __always_inline __sum16 csum_replace4(__sum16 check, __be32 from, __be32 to)
{
	return (__sum16)~csum_fold32((__u16)~check + csum_change4(from, to));
}

/* The IPv4 pseudo-header (RFC 793) of a TCP/UDP segment of l4len bytes,
 * unfolded. Raw 16-bit loads: one's-complement sums do not care about byte
 * order as long as the result is stored the same way. */
static __always_inline __u32 csum_pseudo(__be32 saddr, __be32 daddr, __u8 proto, __u16 l4len)
{
	return (saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       bpf_htons((__u16)proto) + bpf_htons(l4len);
}

/* The checksum of a header of `words` 16-bit words from scratch, for headers
 * the router writes itself. words is a constant, so the loop unrolls. */
static __always_inline __sum16 csum_words(const __u16 *w, int words)
{
	__u32 c = 0;

#pragma unroll
	for (int i = 0; i < words; i++)
		c += w[i];
	return (__sum16)~csum_fold32(c);
}

#endif
