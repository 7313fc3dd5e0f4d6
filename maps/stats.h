/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Counters: written by the programs, read (summed over CPUs) by `xdpnet stats`. */
#ifndef XDPNET_MAPS_STATS_H
#define XDPNET_MAPS_STATS_H
#include "xdpnet/abi.h"

/* [slot] (XDPNET_SLOT_NONE: frames on interfaces outside the live policy). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPNET_STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct xdpnet_port_stats);
} xdpnet_stats SEC(".maps");

#endif
