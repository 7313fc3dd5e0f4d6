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

/* Rebuild the frame as an ICMP error (type, code) from `from` (with source
 * MAC router_mac) back to the packet's sender, keeping its L2 tagging so it
 * can leave through the ingress port. `ip` is the validated offending header.
 * 0 or a drop reason. */
static __always_inline int icmp_error_in_place(struct xdp_md *ctx, struct pkt *p, struct iphdr *ip,
					       __u8 type, __u8 code, __be32 from,
					       const __u8 *router_mac)
{
	__u8 quote[ICMP_QUOTE_MAX] = {};
	__u8 sender_mac[ETH_ALEN];
	__be32 sender = ip->saddr;
	__u32 ihl = ip->ihl * 4;
	__u32 payload = bpf_ntohs(ip->tot_len) - ihl;
	__u64 qlen = ihl + (payload >= 8 ? 8 : 0); /* a multiple of 4; 64-bit so the
						      verifier sees the checked register */
	__u32 l2 = l2_len(p);
	struct icmphdr *icmp;
	struct iphdr *nip;
	__u32 sum = 0;
	void *l2src;

	/* Errors are never sent about ICMP errors or non-first fragments. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return XDPNET_DROP_TTL_EXCEEDED;
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *oi = (void *)ip + ihl;

		if ((void *)(oi + 1) > p->end)
			return XDPNET_DROP_BAD_L3;
		if (oi->type != ICMP_ECHO && oi->type != ICMP_ECHOREPLY)
			return XDPNET_DROP_TTL_EXCEEDED;
	}
	asm volatile("" : "+r"(qlen)); /* check and use the same register */
	if (qlen > ICMP_QUOTE_MAX || qlen < 20)
		return XDPNET_DROP_BAD_L3;
	if (bpf_xdp_load_bytes(ctx, l2, quote, qlen))
		return XDPNET_DROP_BAD_L3;
	__builtin_memcpy(sender_mac, p->eth->h_source, ETH_ALEN);

	/* Room for the new headers in front of the quote, then cut the tail. */
	if (bpf_xdp_adjust_head(ctx, -(int)ICMP_ERR_HLEN))
		return XDPNET_DROP_HEADROOM;
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	l2src = p->data + ICMP_ERR_HLEN;
	if (l2src + sizeof(struct ethhdr) + VLAN_HLEN > p->end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(p->data, l2src, sizeof(struct ethhdr) + VLAN_HLEN);
	if (bpf_xdp_adjust_tail(ctx, (int)(l2 + ICMP_ERR_HLEN + qlen) - (int)frame_len(ctx)))
		return XDPNET_DROP_HEADROOM;
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);

	nip = p->data + l2;
	icmp = (void *)(nip + 1);
	if ((void *)(icmp + 1) > p->end || (void *)(p->eth + 1) > p->end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(p->eth->h_dest, sender_mac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, router_mac, ETH_ALEN);
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
	sum = bpf_htons((__u16)type << 8 | code);
#pragma unroll
	for (int i = 0; i < ICMP_QUOTE_MAX / 2; i++)
		sum += ((__u16 *)quote)[i]; /* bytes past qlen are zero */
	icmp->checksum = (__sum16)~csum_fold32(sum);
	return STAGE_CONTINUE;
}

#endif
