/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Neighbours of the router on each routed VLAN: learned from ARP, asked for
 * with an ARP request (the routed packet that missed becomes the request). */
#ifndef XDPNET_BPF_NEIGH_H
#define XDPNET_BPF_NEIGH_H
#include "common.h"
#include "fdb.h"
#include "l3.h"
#include "stats.h"
#include "../../maps/route.h"

static __always_inline struct xdpnet_neigh *neigh_lookup(__u16 vid, __be32 ip)
{
	struct xdpnet_neigh_key k = { .vid = vid, .ip = ip };

	return bpf_map_lookup_elem(&xdpnet_neigh, &k);
}

/* Record ip -> mac on vid. Writes only when something changed (or once a
 * second to keep it fresh), so ARP chatter does not bounce cache lines. */
static __always_inline void neigh_learn(__u16 vid, __be32 ip, const __u8 *mac, __u64 now,
					struct xdpnet_port_stats *st)
{
	struct xdpnet_neigh_key k = { .vid = vid, .ip = ip };
	struct xdpnet_neigh *n = bpf_map_lookup_elem(&xdpnet_neigh, &k);
	struct xdpnet_neigh v = { .updated_ns = now, .state = XDPNET_NEIGH_REACHABLE };

	if (n && n->state == XDPNET_NEIGH_REACHABLE && mac_equal(n->mac, mac)) {
		if (now - n->updated_ns > FDB_REFRESH_NS)
			n->updated_ns = now;
		return;
	}
	__builtin_memcpy(v.mac, mac, ETH_ALEN);
	if (bpf_map_update_elem(&xdpnet_neigh, &k, &v, BPF_ANY)) {
		ctr_add(st, XDPNET_CTR_NEIGH_FAILED, 1);
		return;
	}
	ctr_add(st, XDPNET_CTR_NEIGH_LEARNED, 1);
	/* Connections cache their neighbour's MAC under the FDB version. */
	fdb_version_bump();
}

/* May the router send a request for this neighbour now? Marks it INCOMPLETE
 * with the time, so a burst of packets for it sends one request a second. */
static __always_inline int neigh_may_ask(struct xdpnet_neigh *n, __u16 vid, __be32 ip, __u64 now)
{
	if (n) {
		if (now - n->updated_ns < XDPNET_NEIGH_RETRY_NS)
			return 0;
		n->updated_ns = now;
		return 1;
	}
	struct xdpnet_neigh_key k = { .vid = vid, .ip = ip };
	struct xdpnet_neigh v = { .updated_ns = now, .state = XDPNET_NEIGH_INCOMPLETE };

	/* NOEXIST: never overwrite an answer that arrived meanwhile. */
	return bpf_map_update_elem(&xdpnet_neigh, &k, &v, BPF_NOEXIST) == 0;
}

/* Turn the frame (an IPv4 packet behind l2 bytes of L2 header, tagged when
 * 18) into a broadcast ARP request "who has `target`, tell `sender`" from
 * router_mac (low 48 bits). The frame keeps its tag; the caller sets the VLAN
 * and floods it. A global function. 0 or a drop reason. */
__attribute__((noinline)) int xdpnet_arp_request(struct xdp_md *ctx, __u32 l2, __u64 router_mac,
						 __be32 sender, __be32 target)
{
	int delta = (int)(l2 + sizeof(struct arp_ipv4)) - (int)frame_len(ctx);
	void *data, *end;
	struct ethhdr *eth;
	struct arp_ipv4 *a;

	if (l2 != sizeof(struct ethhdr) && l2 != sizeof(struct ethhdr) + VLAN_HLEN)
		return XDPNET_DROP_BAD_L3;
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDPNET_DROP_HEADROOM;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	a = data + l2;
	if ((void *)(a + 1) > end || (void *)(eth + 1) > end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memset(eth->h_dest, 0xff, ETH_ALEN);
	__builtin_memcpy(eth->h_source, &router_mac, ETH_ALEN);
	if (l2 > sizeof(struct ethhdr)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > end)
			return XDPNET_DROP_HEADROOM;
		vh->encap_proto = bpf_htons(ETH_P_ARP);
	} else {
		eth->h_proto = bpf_htons(ETH_P_ARP);
	}
	a->htype = bpf_htons(1);
	a->ptype = bpf_htons(ETH_P_IP);
	a->hlen = ETH_ALEN;
	a->plen = 4;
	a->op = bpf_htons(ARP_REQUEST);
	__builtin_memcpy(a->sha, &router_mac, ETH_ALEN);
	__builtin_memcpy(a->spa, &sender, 4);
	__builtin_memset(a->tha, 0, ETH_ALEN);
	__builtin_memcpy(a->tpa, &target, 4);
	return STAGE_CONTINUE;
}

static __always_inline int arp_request_in_place(struct xdp_md *ctx, struct pkt *p,
						const __u8 *router_mac, __be32 sender,
						__be32 target)
{
	__u64 mac = 0;
	int r;

	__builtin_memcpy(&mac, router_mac, ETH_ALEN);
	r = xdpnet_arp_request(ctx, l2_len(p), mac, sender, target);
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return drop_reason_clamp(r);
}

#endif
