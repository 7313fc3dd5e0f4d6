/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 4b: IPv4 routing between networks (the layer-3 switch). A packet for
 * the router MAC and another address is looked up in the networks' subnets;
 * the router answers for its own addresses, sends time-exceeded when the TTL
 * runs out, and otherwise decrements the TTL, rewrites the MACs to (target
 * VLAN's router MAC -> neighbour) and hands the frame back to L2 delivery in
 * the target VLAN. An unknown neighbour turns the packet into an ARP request
 * flooded in the target VLAN (at most one a second per neighbour); the packet
 * itself is dropped and counted, as a router without a queue must. */
#ifndef XDPNET_BPF_ROUTE_H
#define XDPNET_BPF_ROUTE_H
#include <linux/icmp.h>

#include "common.h"
#include "csum.h"
#include "gateway.h"
#include "icmp.h"
#include "l3.h"
#include "neigh.h"
#include "xlate.h"
#include "../../maps/route.h"

/* The network (VLAN) whose subnet holds daddr, 0: none. A policy's few
 * networks are scanned in its configuration record; more are in the trie.
 * The record is looked up here (an inlined array lookup on a line already
 * read) rather than passed down: a pointer kept live across the pipeline
 * costs the main function stack it does not have. */
static __always_inline __u16 route_vid(__u32 gen, __be32 daddr)
{
	const struct xdpnet_config *cfg = config_of(gen);
	const struct xdpnet_route *rt;
	__u32 n;

	if (!cfg)
		return 0;
	n = cfg->subnets;
	if (n && n <= XDPNET_SUBNETS_INLINE) {
#pragma unroll
		for (__u32 i = 0; i < XDPNET_SUBNETS_INLINE; i++) {
			if (i >= n)
				return 0;
			if ((daddr & cfg->subnet[i].mask) == cfg->subnet[i].net)
				return cfg->subnet[i].vid;
		}
		return 0;
	}
	{
		struct xdpnet_route_key k = { .prefixlen = 64, .gen = gen, .addr = daddr };

		rt = bpf_map_lookup_elem(&xdpnet_routes, &k);
	}
	return rt ? rt->vid : 0;
}

/* TTL - 1, with the header checksum updated for the (ttl, protocol) word. */
static __always_inline void ipv4_ttl_dec(struct iphdr *ip)
{
	__be16 *w = (__be16 *)&ip->ttl;
	__be16 old = *w;

	ip->ttl--;
	ip->check = csum_replace2(ip->check, old, *w);
}

/* What routing decided. */
enum route_verdict {
	ROUTE_DROPPED = 0, /* dropped, and counted already */
	ROUTE_DELIVER = 1, /* MACs rewritten, p->vid is the target VLAN: L2 delivery */
	ROUTE_TX,          /* answer built in place: back out of the ingress port */
	ROUTE_FLOOD,       /* an ARP request built in place, p->vid set: flood it */
	ROUTE_UPLINK,      /* no network holds the destination: the uplink's business */
	ROUTE_REDIRECT,    /* redirected already (bpf_redirect_map): XDP_REDIRECT */
	ROUTE_PASS,        /* up the stack: XDP_PASS */
};

/* Send a packet whose TTL ran out back as ICMP time-exceeded from gw (the
 * gateway it arrived through). */
static __always_inline int route_ttl_exceeded(struct xdp_md *ctx, struct pkt *p, struct iphdr *ip,
					      const struct xdpnet_gateway *gw,
					      struct xdpnet_port_stats *st)
{
	int r;

	drop_count(st, XDPNET_DROP_TTL_EXCEEDED);
	flow_note_drop(XDPNET_DROP_TTL_EXCEEDED);
	r = icmp_error_in_place(ctx, p, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, gw->gw_ip,
				gw->router_mac);
	if (r)
		return r == XDPNET_DROP_TTL_EXCEEDED ? ROUTE_DROPPED : -r;
	ctr_add(st, XDPNET_CTR_ICMP_TIME_EXCEEDED, 1);
	return ROUTE_TX;
}

/* The neighbour's MAC for a connection half that delivers into a network:
 * cached in the half (xdpnet_ct.nh_*) while the FDB version and generation
 * stay and for about a second, so an established flow skips the neighbour
 * table. 0 when the half has nothing valid cached. */
static __always_inline int ct_nh_get(const struct xdpnet_ct *ct, __u32 version, __u64 now,
				     __u8 *mac)
{
	if (!ct || ct->nh_tag != xdpnet_ct_nh_tag(version) ||
	    (__u16)((__u16)(now >> XDPNET_CT_NH_SHIFT) - ct->nh_stamp) >= XDPNET_CT_NH_TTL)
		return 0;
	__builtin_memcpy(mac, ct->nh_mac, ETH_ALEN);
	return 1;
}

static __always_inline void ct_nh_put(struct xdpnet_ct *ct, __u32 version, __u64 now,
				      const __u8 *mac)
{
	if (!ct)
		return;
	__builtin_memcpy(ct->nh_mac, mac, ETH_ALEN);
	ct->nh_stamp = (__u16)(now >> XDPNET_CT_NH_SHIFT);
	ct->nh_tag = xdpnet_ct_nh_tag(version);
}

/* Deliver an IPv4 packet into network `vid` (whose gateway is out_gw): TTL,
 * neighbour, MACs. in_gw is the gateway it came through, for time-exceeded
 * (NULL: it came from the uplink; an expiring TTL is just dropped).
 * translated: NAT rewrote it (xdpnet_xlate), which completed an unfinished
 * checksum and decremented the TTL.
 * ct: the connection half that translated it (NULL: none), whose neighbour
 * cache is used and kept (version: FDB version << 1 | generation). */
static __always_inline int route_deliver(struct xdp_md *ctx, struct pkt *p, struct iphdr *ip,
					 __u16 vid, const struct xdpnet_gateway *out_gw,
					 const struct xdpnet_gateway *in_gw, int translated, __u64 now,
					 struct xdpnet_port_stats *st, struct xdpnet_ct *ct,
					 __u32 version)
{
	__be32 daddr = ip->daddr;
	__be32 hmask = ipv4_host_mask(out_gw->prefix_len);
	struct xdpnet_neigh *n;
	__u8 dmac[ETH_ALEN];
	int r;

	if ((daddr & hmask) == 0 || (daddr & hmask) == hmask)
		return -XDPNET_DROP_NO_ROUTE; /* network or directed broadcast */
	if (!translated && ip->ttl <= 1) { /* translated: checked before */
		if (in_gw)
			return route_ttl_exceeded(ctx, p, ip, in_gw, st);
		return -XDPNET_DROP_TTL_EXCEEDED;
	}
	if (!ct_nh_get(ct, version, now, dmac)) {
		n = neigh_lookup(vid, daddr);
		if (!n || n->state != XDPNET_NEIGH_REACHABLE) {
			drop_count(st, XDPNET_DROP_NEIGH_UNRESOLVED);
			flow_note_drop(XDPNET_DROP_NEIGH_UNRESOLVED);
			if (!neigh_may_ask(n, vid, daddr, now))
				return ROUTE_DROPPED;
			r = arp_request_in_place(ctx, p, out_gw->router_mac, out_gw->gw_ip, daddr);
			if (r)
				return -r;
			p->vid = vid;
			ctr_add(st, XDPNET_CTR_ARP_REQUEST, 1);
			return ROUTE_FLOOD;
		}
		__builtin_memcpy(dmac, n->mac, ETH_ALEN);
		ct_nh_put(ct, version, now, dmac);
	}
	r = translated ? 0 : ipv4_csum_finish(ctx, p, st);
	if (r)
		return -r;
	if (!translated) {
		ip = ipv4_hdr(p);
		if (!ip)
			return -XDPNET_DROP_BAD_L3;
		ipv4_ttl_dec(ip);
	}
	if ((void *)(p->eth + 1) > p->end)
		return -XDPNET_DROP_BAD_L3;
	__builtin_memcpy(p->eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, out_gw->router_mac, ETH_ALEN);
	p->vid = vid;
	ctr_add(st, XDPNET_CTR_ROUTED, 1);
	return ROUTE_DELIVER;
}

/* Into network `vid` (which holds the destination) from the network of
 * p->vid: a subprogram of its own, out of line, so that the path out of
 * the uplink (no network holds the destination) stays compact. gen_vid:
 * gen | vid << 1; the ingress gateway is looked up again (a subprogram
 * takes five arguments). */
static __noinline int route_into(struct xdp_md *ctx, struct pkt *p, __u32 gen_vid, __u64 now,
				 struct xdpnet_port_stats *st)
{
	__u32 gen = gen_vid & 1;
	__u16 vid = gen_vid >> 1;
	const struct xdpnet_gateway *in_gw = gateway_of(gen, p->vid);
	const struct xdpnet_gateway *out_gw = gateway_of(gen, vid);
	struct iphdr *ip = ipv4_hdr(p);
	int r;

	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	if (!in_gw || !out_gw)
		return -XDPNET_DROP_STALE_CONFIG;
	if (ip->daddr == out_gw->gw_ip) {
		/* Another network's gateway address: the router's own. */
		r = gateway_echo(p, ip, ip->daddr, in_gw->router_mac, st);
		return r == STAGE_TX ? ROUTE_TX : -r;
	}
	return route_deliver(ctx, p, ip, vid, out_gw, in_gw, 0, now, st, 0, 0);
}

/* A route_verdict, or -reason for a drop still to be counted. */
static __always_inline int route_ipv4(struct xdp_md *ctx, struct pkt *p, __u32 gen,
				      const struct xdpnet_gateway *in_gw, __u64 now,
				      struct xdpnet_port_stats *st)
{
	struct iphdr *ip = ipv4_hdr(p);
	__u16 vid;

	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	vid = route_vid(gen, ip->daddr);
	if (!vid)
		return ROUTE_UPLINK;
	return route_into(ctx, p, (gen & 1) | (__u32)vid << 1, now, st);
}

#endif
