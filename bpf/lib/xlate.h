/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The NAT rewrite in XDP: addresses and ports of a packet changed to what its
 * connection half says, with incremental checksum updates (RFC 1624).
 *
 * Unfinished checksums. A sender with checksum offload (a veth or tap peer)
 * hands over TCP/UDP with only the pseudo-header sum in the checksum field
 * (CHECKSUM_PARTIAL); the skb says so, but XDP cannot see the skb, and a
 * redirected frame loses that state, so the receiver would see a bad
 * checksum. Such a field equals the folded pseudo-header sum, which the code
 * recognises: the checksum is then completed from scratch over the segment
 * (the field already holds the pseudo-header part) before the rewrite. A
 * finished checksum that happens to equal that value (1 in 65536) is
 * recomputed too, which yields the same correct value.
 */
#ifndef XDPNET_BPF_XLATE_H
#define XDPNET_BPF_XLATE_H
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>

#include "common.h"
#include "csum.h"
#include "flow.h"
#include "l3.h"
#include "nat.h"
#include "parse.h"
#include "stats.h"

#define CSUM_CHUNK 64
#define CSUM_MAX_CHUNKS 64 /* segments up to 4 KiB */

/* Offset of the checksum field in the L4 header, 0 when there is none to
 * keep (UDP without checksum). */
static __always_inline __u32 l4_check_off(__u8 proto)
{
	if (proto == IPPROTO_TCP)
		return 16;
	if (proto == IPPROTO_UDP)
		return 6;
	return 2; /* ICMP */
}

struct l4_sum_walk {
	struct xdp_md *ctx;
	__u32 off;
	__u32 len;
	__u32 sum;
	__u32 err;
};

/* bpf_loop body: one chunk (the last one zero-padded). Verified once. */
static long l4_sum_chunk(__u32 i, struct l4_sum_walk *w)
{
	__u8 buf[CSUM_CHUNK] = {};
	__u64 n = w->len < CSUM_CHUNK ? w->len : CSUM_CHUNK;

	asm volatile("" : "+r"(n));
	if (n < 1 || n > CSUM_CHUNK) {
		w->err = 1;
		return 1;
	}
	if (bpf_xdp_load_bytes(w->ctx, w->off, buf, n)) {
		w->err = 1;
		return 1;
	}
	w->sum = bpf_csum_diff(0, 0, (__be32 *)buf, CSUM_CHUNK, w->sum);
	w->off += n;
	w->len -= n;
	return w->len == 0;
}

/* The one's-complement sum of len bytes at off (zero-padded), or -1. */
static __always_inline long l4_sum(struct xdp_md *ctx, __u32 off, __u32 len)
{
	struct l4_sum_walk w = { .ctx = ctx, .off = off, .len = len };

	if (len == 0)
		return 0;
	bpf_loop(CSUM_MAX_CHUNKS, l4_sum_chunk, &w, 0);
	return (w.err || w.len) ? -1 : (long)w.sum;
}

/* Does this TCP/UDP checksum field hold only the pseudo-header sum (an
 * unfinished checksum, see above)? ip is a first (or only) fragment. */
static __always_inline int csum_unfinished(const struct iphdr *ip, const __sum16 *check)
{
	__u16 l4len = bpf_ntohs(ip->tot_len) - ip->ihl * 4;

	if (ip->protocol == IPPROTO_UDP && *check == 0)
		return 0; /* no checksum */
	return *check == csum_fold32(csum_pseudo(ip->saddr, ip->daddr, ip->protocol, l4len));
}

/* Complete the TCP/UDP checksum of the IPv4 packet at l3_off when the sender
 * left it to offload. A global function (verified once). 1 when completed,
 * 0 when there was nothing to do, -reason on a malformed packet. */
__attribute__((noinline)) int xdpnet_csum_finish(struct xdp_md *ctx, __u32 l3_off)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip;
	__sum16 *check;
	__u64 l4_off, coff;
	__u32 l4len;
	__u8 proto;
	long sum;

	if (l3_off > 64)
		return -XDPNET_DROP_BAD_L3;
	ip = data + l3_off;
	if ((void *)(ip + 1) > end)
		return -XDPNET_DROP_BAD_L3;
	proto = ip->protocol;
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	l4_off = l3_off + ip->ihl * 4;
	l4len = bpf_ntohs(ip->tot_len) - ip->ihl * 4;
	coff = l4_check_off(proto);
	asm volatile("" : "+r"(l4_off));
	if (l4_off > 128)
		return -XDPNET_DROP_BAD_L3;
	check = data + l4_off + coff;
	if ((void *)(check + 1) > end)
		return -XDPNET_DROP_BAD_L3;
	if (!csum_unfinished(ip, check))
		return 0;
	sum = l4_sum(ctx, l4_off, l4len);
	if (sum < 0)
		return -XDPNET_DROP_BAD_L3;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	check = data + l4_off + coff;
	if ((void *)(check + 1) > end)
		return -XDPNET_DROP_BAD_L3;
	*check = (__sum16)~csum_fold32((__u32)sum);
	if (proto == IPPROTO_UDP && *check == 0)
		*check = 0xffff;
	return 1;
}

/* Rewrite the IPv4 packet at l3_off to the connection half's tuple
 * (ct->to_*) and decrement its TTL (the caller has checked it is above 1),
 * checksums updated with the half's precomputed changes (ct->csum_l3,
 * csum_l4: the packet's tuple is the half's key) after completing an
 * unfinished one. A global function. 1 when it completed a checksum, 0, or
 * -reason. */
__attribute__((noinline)) int xdpnet_xlate(struct xdp_md *ctx, __u32 l3_off,
					   const struct xdpnet_ct *ct, __u32 l3_only)
{
	void *data, *end;
	struct iphdr *ip;
	__sum16 *check;
	__u64 l4_off;
	int done = 0;

	if (!ct)
		return -XDPNET_DROP_STALE_CONFIG;
	if (l3_off > 64)
		return -XDPNET_DROP_BAD_L3;
again:
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + l3_off;
	if ((void *)(ip + 1) > end)
		return -XDPNET_DROP_BAD_L3;
	/* A later fragment (l3_only) has no transport header here; the first
	 * fragment carried the transport checksum's update. */
	if (l3_only)
		goto l3;
	l4_off = l3_off + ip->ihl * 4;
	asm volatile("" : "+r"(l4_off)); /* bound the register that is used */
	if (l4_off > 128)
		return -XDPNET_DROP_BAD_L3;
	check = data + l4_off + l4_check_off(ip->protocol);
	if ((void *)(check + 1) > end)
		return -XDPNET_DROP_BAD_L3;

	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *ih = data + l4_off;

		if ((void *)(ih + 1) > end)
			return -XDPNET_DROP_BAD_L3;
		ih->checksum = csum_apply(ih->checksum, ct->csum_l4);
		ih->un.echo.id = ih->type == ICMP_ECHO ? ct->to_sport : ct->to_dport;
	} else {
		__be16 *ports = data + l4_off;

		if ((void *)(ports + 2) > end)
			return -XDPNET_DROP_BAD_L3;
		if (!done && !(ip->frag_off & bpf_htons(0x3fff)) && csum_unfinished(ip, check)) {
			done = xdpnet_csum_finish(ctx, l3_off);
			if (done < 0)
				return done;
			done = 1;
			goto again; /* the frame was read through a helper */
		}
		if (ip->protocol == IPPROTO_TCP || *check != 0) {
			__sum16 c = csum_apply(*check, ct->csum_l4);

			if (ip->protocol == IPPROTO_UDP && c == 0)
				c = 0xffff;
			*check = c;
		}
		ports[0] = ct->to_sport;
		ports[1] = ct->to_dport;
	}
l3:
	ip->check = csum_apply(ip->check, ct->csum_l3);
	ip->ttl--;
	ip->saddr = ct->to_saddr;
	ip->daddr = ct->to_daddr;
	return done;
}

/*
 * ICMP errors about a translated connection (RFC 5508 section 4.2): the
 * quoted packet is translated too, so the sender's stack matches it to its
 * socket (path-MTU discovery, traceroute, port unreachable).
 *
 *   inbound  (dir 0, on the uplink, quoting U:n -> r:q):  outer dst U -> a,
 *            quoted src U:n -> a:p
 *   outbound (dir 1, from a VM, quoting r:q -> a:p):      outer src a -> U,
 *            quoted dst a:p -> U:f
 *
 * `addr`/`port` are the new address and port. Every changed word of the
 * quote is folded into the outer ICMP checksum as well. 0 or -reason.
 */
__attribute__((noinline)) int xdpnet_icmp_err_xlate(struct xdp_md *ctx, __u32 l3_off, __u32 dir,
						    __be32 addr, __u32 port32)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__be16 port = (__be16)port32;
	struct icmphdr *icmp;
	struct iphdr *ip, *iip;
	__be32 *iaddr;
	__be16 *iport;
	__sum16 oc, c;
	void *il4;

	if (l3_off > 64)
		return -XDPNET_DROP_BAD_L3;
	ip = data + l3_off;
	icmp = (void *)(ip + 1);
	iip = (void *)(icmp + 1);
	il4 = (void *)(iip + 1);
	if (il4 + 8 > end || ip->ihl != 5 || iip->ihl != 5)
		return -XDPNET_DROP_NAT_PROTO;
	iaddr = dir ? &iip->daddr : &iip->saddr;
	iport = dir ? (__be16 *)il4 + 1 : (__be16 *)il4;
	oc = icmp->checksum;

	/* The quoted transport header: its port (ICMP echo: the identifier)
	 * and, when quoted, its checksum. */
	if (iip->protocol == IPPROTO_UDP) {
		__sum16 *uc = il4 + 6;

		if (*uc) {
			c = csum_replace2(csum_replace4(*uc, *iaddr, addr), *iport, port);
			c = c ? c : 0xffff;
			oc = csum_replace2(oc, *uc, c);
			*uc = c;
		}
	} else if (iip->protocol == IPPROTO_TCP) {
		__sum16 *tc = il4 + 16;

		if ((void *)(tc + 1) <= end) {
			c = csum_replace2(csum_replace4(*tc, *iaddr, addr), *iport, port);
			oc = csum_replace2(oc, *tc, c);
			*tc = c;
		}
	} else if (iip->protocol == IPPROTO_ICMP) {
		__sum16 *ic = il4 + 2;

		iport = il4 + 4; /* the echo identifier */
		c = csum_replace2(*ic, *iport, port);
		oc = csum_replace2(oc, *ic, c);
		*ic = c;
	} else {
		return -XDPNET_DROP_NAT_PROTO;
	}
	oc = csum_replace2(oc, *iport, port);
	*iport = port;
	/* The quoted IP header: one address and its checksum. */
	c = csum_replace4(iip->check, *iaddr, addr);
	oc = csum_replace2(oc, iip->check, c);
	iip->check = c;
	oc = csum_replace4(oc, *iaddr, addr);
	*iaddr = addr;
	icmp->checksum = oc;
	/* The outer header. */
	if (dir) {
		ip->check = csum_replace4(ip->check, ip->saddr, addr);
		ip->saddr = addr;
	} else {
		ip->check = csum_replace4(ip->check, ip->daddr, addr);
		ip->daddr = addr;
	}
	return 0;
}

/* Complete an unfinished TCP/UDP checksum of a packet leaving through a
 * redirect untranslated (routed). 0 or a drop reason. */
static __always_inline int ipv4_csum_finish(struct xdp_md *ctx, struct pkt *p,
					    struct xdpnet_port_stats *st)
{
	int r = xdpnet_csum_finish(ctx, l2_len(p));

	asm volatile("" : "+r"(r)); /* see drop_reason_clamp */
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	if (r < 0)
		return drop_reason_clamp(-r);
	if (r)
		ctr_add(st, XDPNET_CTR_CSUM_COMPLETED, 1);
	return 0;
}

/* Translate the packet (see xdpnet_xlate). 0 or a drop reason. */
static __always_inline int xlate_xdp(struct xdp_md *ctx, struct pkt *p, const struct tuple *t,
				     const struct xdpnet_ct *ct, struct xdpnet_port_stats *st)
{
	int r;

	flow_nat(p, ct->to_saddr, ct->to_daddr, ct->to_sport, ct->to_dport, ct->packets == 1);
	r = xdpnet_xlate(ctx, l2_len(p), ct, t->frag == FRAG_LATER);
	asm volatile("" : "+r"(r)); /* see drop_reason_clamp */
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	if (r < 0)
		return drop_reason_clamp(-r);
	if (r)
		ctr_add(st, XDPNET_CTR_CSUM_COMPLETED, 1);
	return 0;
}

#endif
