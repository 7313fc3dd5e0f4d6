/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Packet capture (abi.h: struct xdpnet_capture_cfg): armed by `xdpnet capture`. */
#ifndef XDPNET_MAPS_CAPTURE_H
#define XDPNET_MAPS_CAPTURE_H
#include "xdpnet/abi.h"

/* [0]: what to capture now (mode 0: nothing). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_capture_cfg);
} xdpnet_capture SEC(".maps");

/* The captured frames (struct xdpnet_capture_rec, cut to caplen). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} xdpnet_capture_ring SEC(".maps");

/* [0], per CPU: the rate bound. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_capture_rate);
} xdpnet_capture_rate SEC(".maps");

#endif
