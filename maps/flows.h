/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Per-flow accounting (abi.h: struct xdpnet_flow). The tables survive apply
 * and daemon restarts; they are sized by the loader when the instance comes
 * up (policy telemetry.flows.size). */
#ifndef XDPNET_MAPS_FLOWS_H
#define XDPNET_MAPS_FLOWS_H
#include "xdpnet/abi.h"

/* [cpu << flow_bits | slot]: each CPU's region of flow slots. Mmapable, so
 * the daemon and `xdpnet flows` read it without a syscall per slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_flow);
} xdpnet_flows SEC(".maps");

/* Same indices: what the daemon exported of each slot's flow (the datapath
 * never touches it; it is here to be created and pinned with the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_flow_exp);
} xdpnet_flow_exp SEC(".maps");

/* Flows pushed out of their slot, with their last counters, for the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} xdpnet_flow_events SEC(".maps");

/* [0], per CPU: the current packet's flow and the CPU's serial counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_flow_cpu);
} xdpnet_flow_cpu SEC(".maps");

#endif
