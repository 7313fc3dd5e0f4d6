/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 1: the Ethernet header and at most one 802.1Q tag. */
#ifndef XDPNET_BPF_PARSE_H
#define XDPNET_BPF_PARSE_H
#include "common.h"

enum tag_kind { TAG_NONE = 0, TAG_8021Q = 1, TAG_OTHER = 2 /* 802.1ad or stacked */ };

/* The frame as the pipeline sees it. vid is the classified VLAN (set by the
 * vlan stage), tci the frame's own tag when it has one. */
struct pkt {
	void *data;
	void *end;
	struct ethhdr *eth;
	__u32 len;
	__u16 vid;
	__u16 tci;
	__u8 tag; /* enum tag_kind */
	/* Its flow's slot in xdpnet_flows + 1 (flow.h); 0: not accounted. An
	 * index, not a pointer: a pointer that may be NULL, kept across the
	 * pipeline, would double the states the verifier explores. */
	__u32 flow;
};

static __always_inline void pkt_reload(struct pkt *p, void *data, void *end)
{
	p->data = data;
	p->end = end;
	p->eth = data;
}

/* The frame's length now. end - data is computed on its own (the barrier
 * stops the compiler from folding it into `x - end`, which the verifier
 * refuses as arithmetic on pkt_end). */
static __always_inline long frame_len(struct xdp_md *ctx)
{
	long len = (long)ctx->data_end - (long)ctx->data;

	asm volatile("" : "+r"(len));
	return len;
}

/* Returns STAGE_CONTINUE or a drop reason. */
static __always_inline int parse_l2(struct pkt *p)
{
	struct ethhdr *eth = p->data;

	if ((void *)(eth + 1) > p->end)
		return XDPNET_DROP_RUNT;
	p->eth = eth;
	p->tag = TAG_NONE;
	p->tci = 0;

	if (eth->h_proto == bpf_htons(ETH_P_8021AD)) {
		p->tag = TAG_OTHER;
		return STAGE_CONTINUE;
	}
	if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > p->end)
			return XDPNET_DROP_TRUNCATED_VLAN;
		p->tci = bpf_ntohs(vh->tci);
		p->tag = (vh->encap_proto == bpf_htons(ETH_P_8021Q) ||
			  vh->encap_proto == bpf_htons(ETH_P_8021AD)) ? TAG_OTHER : TAG_8021Q;
	}
	return STAGE_CONTINUE;
}

#endif
