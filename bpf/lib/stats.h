/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Per-CPU, per-slot counters. Every drop goes through drop(). */
#ifndef XDPNET_BPF_STATS_H
#define XDPNET_BPF_STATS_H
#include "common.h"
#include "../../maps/stats.h"
#include "../../maps/flows.h"

static __always_inline struct xdpnet_port_stats *stats_of(__u32 slot)
{
	return bpf_map_lookup_elem(&xdpnet_stats, &slot);
}

static __always_inline void ctr_add(struct xdpnet_port_stats *st, enum xdpnet_counter c, __u64 n)
{
	if (st && c < XDPNET_CTR_MAX)
		st->ctr[c] += n; /* per-CPU value: no atomics needed */
}

static __always_inline void ctr_inc_slot(__u32 slot, enum xdpnet_counter c)
{
	ctr_add(stats_of(slot), c, 1);
}

static __always_inline void drop_count(struct xdpnet_port_stats *st, int reason)
{
	asm volatile("" : "+r"(reason)); /* check and index with the same register */
	if (st && reason > 0 && reason < XDPNET_DROP_MAX)
		st->drops[reason]++;
}

__noinline int xdpnet_flow_settle(void); /* flow.h */

/* The CPU's current flow (flow.h made it so) records a drop of its packet
 * (a deferred packet's flow takes its slot first). */
static __always_inline void flow_note_drop(int reason)
{
	struct xdpnet_flow_cpu *fc;
	struct xdpnet_flow *f;
	__u32 zero = 0, idx;

	fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);
	if (!fc)
		return;
	fc->drop = reason;
	if (fc->pend)
		xdpnet_flow_settle();
	if (!fc->cur)
		return;
	idx = fc->cur - 1;
	f = bpf_map_lookup_elem(&xdpnet_flows, &idx);
	if (!f)
		return;
	f->flags |= XDPNET_FLOW_DROPPED;
	f->drop_reason = reason;
	f->drops++;
}

/* Count a drop of the packet being processed by xdpnet_ingress (on the port
 * and on its flow) and return the XDP verdict. */
static __always_inline int xdp_drop(struct xdpnet_port_stats *st, int reason)
{
	drop_count(st, reason);
	flow_note_drop(reason);
	return XDP_DROP;
}

/* The same for frames no flow is current for: dropped before accounting,
 * or a copy in the devmap's egress program. */
static __always_inline int xdp_drop_port(struct xdpnet_port_stats *st, int reason)
{
	__u32 zero = 0;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

	if (fc)
		fc->drop = reason; /* for a capture of drops */
	drop_count(st, reason);
	return XDP_DROP;
}

#endif
