/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 5b: broadcast, multicast and unknown unicast go to every other port
 * of the VLAN, in XDP, through the VLAN's devmap with BPF_F_BROADCAST. The
 * frame is normalised to carry its VLAN tag; each copy's egress program
 * (bpf/xdpnet.bpf.c: xdpnet_flood_egress) pops it where the port wants none. */
#ifndef XDPNET_BPF_FLOOD_H
#define XDPNET_BPF_FLOOD_H
#include "common.h"
#include "parse.h"
#include "port.h"
#include "stats.h"
#include "flow.h"
#include "vlan.h"

static __always_inline const struct xdpnet_vlan *vlan_of(__u32 gen, __u16 vid)
{
	__u32 key = gen * XDPNET_VLAN_COUNT + (vid & VLAN_VID_MASK);
	return bpf_map_lookup_elem(&xdpnet_vlans, &key);
}

/* Switched frames never go back out of their ingress port; routed ones may
 * (their VLAN changed), so the router floods with exclude_ingress = 0. */
static __always_inline int xdp_flood(struct xdp_md *ctx, struct pkt *p, __u32 gen,
				     struct xdpnet_port_stats *st, int exclude_ingress)
{
	__u32 key = gen * XDPNET_VLAN_COUNT + (p->vid & VLAN_VID_MASK);
	const struct xdpnet_vlan *v = vlan_of(gen, p->vid);
	void *ports;
	int r;

	if (!v || v->count < (exclude_ingress ? 2 : 1))
		return xdp_drop(st, XDPNET_DROP_NO_FLOOD_PEERS);
	ports = bpf_map_lookup_elem(&xdpnet_flood, &key);
	if (!ports)
		return xdp_drop(st, XDPNET_DROP_STALE_CONFIG);
	if (p->tag == TAG_NONE) {
		r = xdp_vlan_push(ctx, p, p->vid);
		if (r)
			return xdp_drop(st, r);
	} else if ((p->tci & VLAN_VID_MASK) != p->vid) {
		struct vlan_hdr *vh = (void *)(p->eth + 1);

		if ((void *)(vh + 1) > p->end)
			return xdp_drop(st, XDPNET_DROP_HEADROOM);
		p->tci = (p->tci & ~VLAN_VID_MASK) | p->vid;
		vh->tci = bpf_htons(p->tci);
	}
	ctr_add(st, XDPNET_CTR_FLOODED, 1);
	flow_flag(p, XDPNET_FLOW_FLOODED);
	return bpf_redirect_map(ports, 0, BPF_F_BROADCAST | (exclude_ingress ? BPF_F_EXCLUDE_INGRESS : 0));
}

#endif
