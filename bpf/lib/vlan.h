/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 2: ingress VLAN classification, and the tag push/pop the egress port
 * needs. Tags are handled in the frame itself; the loader turns rxvlan/txvlan
 * offload off on every port so XDP sees them. */
#ifndef XDPNET_BPF_VLAN_H
#define XDPNET_BPF_VLAN_H
#include "common.h"
#include "parse.h"
#include "port.h"

/*
 * access: untagged frames join the port's VLAN; any tag is dropped (this is
 *         what stops double-tag VLAN hopping).
 * trunk:  802.1Q frames of allowed VLANs keep their VLAN (a priority tag, VID
 *         0, means the native VLAN); untagged frames join the native VLAN.
 *         802.1ad and stacked tags are not supported and dropped.
 * host ports without a native VLAN hand untagged frames to the host stack.
 */
static __always_inline int vlan_classify(struct pkt *p, const struct xdpnet_port *in)
{
	if (in->mode == XDPNET_MODE_ACCESS) {
		if (p->tag != TAG_NONE)
			return XDPNET_DROP_TAGGED_ON_ACCESS;
		p->vid = in->pvid;
		return STAGE_CONTINUE;
	}
	if (p->tag == TAG_OTHER)
		return XDPNET_DROP_QINQ;
	if (p->tag == TAG_8021Q) {
		__u16 vid = p->tci & VLAN_VID_MASK;

		if (vid == 0)
			vid = in->pvid;
		if (vid == 0)
			return XDPNET_DROP_NO_NATIVE_VLAN;
		if (!port_has_vlan(in, vid))
			return XDPNET_DROP_VLAN_NOT_ALLOWED;
		p->vid = vid;
		return STAGE_CONTINUE;
	}
	if (in->pvid == 0)
		return (in->flags & XDPNET_PORT_HOST) ? STAGE_TO_HOST : XDPNET_DROP_NO_NATIVE_VLAN;
	p->vid = in->pvid;
	return STAGE_CONTINUE;
}

/* Insert an 802.1Q tag after the MACs. Returns 0 or a drop reason. */
static __always_inline int xdp_vlan_push(struct xdp_md *ctx, struct pkt *p, __u16 tci)
{
	__u8 macs[MAC_PAIR_LEN];

	if (bpf_xdp_adjust_head(ctx, -VLAN_HLEN))
		return XDPNET_DROP_HEADROOM;
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	if (p->data + sizeof(struct ethhdr) + VLAN_HLEN > p->end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(macs, p->data + VLAN_HLEN, MAC_PAIR_LEN);
	__builtin_memcpy(p->data, macs, MAC_PAIR_LEN);
	struct ethhdr *eth = p->data;
	struct vlan_hdr *vh = (void *)(eth + 1);
	eth->h_proto = bpf_htons(ETH_P_8021Q);
	vh->tci = bpf_htons(tci);
	/* vh->encap_proto is the original EtherType, already in place. */
	p->tag = TAG_8021Q;
	p->tci = tci;
	return STAGE_CONTINUE;
}

/* Remove the frame's 802.1Q tag. Returns 0 or a drop reason. */
static __always_inline int xdp_vlan_pop(struct xdp_md *ctx, struct pkt *p)
{
	__u8 macs[MAC_PAIR_LEN];

	if (p->data + sizeof(struct ethhdr) + VLAN_HLEN > p->end)
		return XDPNET_DROP_HEADROOM;
	__builtin_memcpy(macs, p->data, MAC_PAIR_LEN);
	__builtin_memcpy(p->data + VLAN_HLEN, macs, MAC_PAIR_LEN);
	if (bpf_xdp_adjust_head(ctx, VLAN_HLEN))
		return XDPNET_DROP_HEADROOM;
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	p->tag = TAG_NONE;
	p->tci = 0;
	return STAGE_CONTINUE;
}

/* Make the frame's tagging suit the egress port: push, pop or leave alone.
 * A trunk-to-trunk frame keeps its tag untouched, priority bits included. */
static __always_inline int xdp_vlan_egress(struct xdp_md *ctx, struct pkt *p,
					   const struct xdpnet_port *out)
{
	int want = port_wants_tag(out, p->vid);

	if (p->tag == TAG_8021Q && !want)
		return xdp_vlan_pop(ctx, p);
	if (p->tag == TAG_NONE && want)
		return xdp_vlan_push(ctx, p, p->vid);
	if (p->tag == TAG_8021Q && (p->tci & VLAN_VID_MASK) != p->vid) {
		/* A priority tag (VID 0) leaving as the VLAN's tag: name the VLAN. */
		struct vlan_hdr *vh = (void *)(p->eth + 1);

		if ((void *)(vh + 1) > p->end)
			return XDPNET_DROP_HEADROOM;
		p->tci = (p->tci & ~VLAN_VID_MASK) | p->vid;
		vh->tci = bpf_htons(p->tci);
	}
	return STAGE_CONTINUE;
}

#endif
