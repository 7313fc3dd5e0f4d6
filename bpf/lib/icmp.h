/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* ICMP errors the router sends itself (RFC 792, RFC 1812 4.3.2.3): the
 * offending packet's IP header and first 8 payload bytes, quoted behind a new
 * IP and ICMP header, built in place in the offending frame. */
#ifndef XDPNET_BPF_ICMP_H
#define XDPNET_BPF_ICMP_H
#include <linux/icmp.h>
#include <linux/in.h>

#include "common.h"
#include "csum.h"
#include "l3.h"

#define ICMP_ERR_HLEN (sizeof(struct iphdr) + sizeof(struct icmphdr)) /* 28 */
#define ICMP_QUOTE_MAX (60 + 8)

/* Rebuild the frame as an ICMP error (mtu << 16 | type << 8 | code; mtu only
 * for "fragmentation needed") from `from` (with source
 * MAC router_mac, packed in the low 48 bits) back to the packet's sender,
 * keeping its L2 header of l2 bytes so it can leave through the ingress port.
 * A global function: verified once, not at every call site. 0 or a drop
 * reason. */
__attribute__((noinline)) int xdpnet_icmp_error(struct xdp_md *ctx, __u32 l2, __u32 type_code,
						__be32 from, __u64 router_mac)
{
	__u8 type = type_code >> 8, code = type_code & 0xff;
	__u8 quote[ICMP_QUOTE_MAX] = {};
	__u8 sender_mac[ETH_ALEN];
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth;
	struct icmphdr *icmp;
	struct iphdr *ip, *nip;
	__be32 sender;
	__u32 ihl, payload, sum;
	__u64 qlen;
	void *l2src;

	if (l2 != sizeof(struct ethhdr) && l2 != sizeof(struct ethhdr) + VLAN_HLEN)
		return XDPNET_DROP_BAD_L3;
	ip = data + l2;
	if ((void *)(ip + 1) > end)
		return XDPNET_DROP_BAD_L3;
	sender = ip->saddr;
	ihl = ip->ihl * 4;
	payload = bpf_ntohs(ip->tot_len) - ihl;
	qlen = ihl + (payload >= 8 ? 8 : 0); /* a multiple of 4 */
	/* Errors are never sent about ICMP errors or non-first fragments. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return XDPNET_DROP_TTL_EXCEEDED;
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *oi = (void *)ip + (ihl & 0x3c);

		if ((void *)(oi + 1) > end)
			return XDPNET_DROP_BAD_L3;
		if (oi->type != ICMP_ECHO && oi->type != ICMP_ECHOREPLY)
			return XDPNET_DROP_TTL_EXCEEDED;
	}
	asm volatile("" : "+r"(qlen)); /* check and use the same register */
	if (qlen > ICMP_QUOTE_MAX || qlen < 20)
		return XDPNET_DROP_BAD_L3;
	if (bpf_xdp_load_bytes(ctx, l2, quote, qlen))
		return XDPNET_DROP_BAD_L3;
	eth = data;
	__builtin_memcpy(sender_mac, eth->h_source, ETH_ALEN);

	/* Room for the new headers in front of the quote, then cut the tail. */
	if (bpf_xdp_adjust_head(ctx, -(int)ICMP_ERR_HLEN))
		return XDPNET_DROP_HEADROOM;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	l2src = data + ICMP_ERR_HLEN;
	if (l2src + sizeof(struct ethhdr) + VLAN_HLEN > end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(data, l2src, sizeof(struct ethhdr) + VLAN_HLEN);
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + ICMP_ERR_HLEN + qlen) - (int)frame_len(ctx)))
		return XDPNET_DROP_HEADROOM;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;

	eth = data;
	nip = data + l2;
	icmp = (void *)(nip + 1);
	if ((void *)(icmp + 1) > end || (void *)(eth + 1) > end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(eth->h_dest, sender_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, &router_mac, ETH_ALEN);
	nip->version = 4;
	nip->ihl = 5;
	nip->tos = 0xc0; /* internetwork control, as Linux sends its errors */
	nip->tot_len = bpf_htons(ICMP_ERR_HLEN + qlen);
	nip->id = 0;
	nip->frag_off = 0;
	nip->ttl = 64;
	nip->protocol = IPPROTO_ICMP;
	nip->check = 0;
	nip->saddr = from;
	nip->daddr = sender;
	nip->check = csum_words((const __u16 *)nip, 10);

	icmp->type = type;
	icmp->code = code;
	icmp->checksum = 0;
	icmp->un.gateway = 0;
	icmp->un.frag.mtu = bpf_htons(type_code >> 16); /* fragmentation needed: next-hop MTU */
	sum = bpf_htons((__u16)(type << 8 | code)) + icmp->un.frag.mtu;
#pragma unroll
	for (int i = 0; i < ICMP_QUOTE_MAX / 2; i++)
		sum += ((__u16 *)quote)[i]; /* bytes past qlen are zero */
	icmp->checksum = (__sum16)~csum_fold32(sum);
	return STAGE_CONTINUE;
}

/* Pack a MAC into the low 48 bits of a u64 (memory order), for passing it
 * by value to a global function. */
static __always_inline __u64 mac_pack(const __u8 *mac)
{
	__u64 v = 0;

	__builtin_memcpy(&v, mac, ETH_ALEN);
	return v;
}

static __always_inline int icmp_error_in_place(struct xdp_md *ctx, struct pkt *p, __u8 type,
					       __u8 code, __u16 mtu, __be32 from,
					       const __u8 *router_mac)
{
	int r = xdpnet_icmp_error(ctx, l2_len(p), (__u32)mtu << 16 | (__u32)type << 8 | code, from,
				  mac_pack(router_mac));

	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return drop_reason_clamp(r);
}

#endif
