/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Policing, per-address limits and port security. The configuration is per
 * policy generation (loader-written); the buckets are state shared by all
 * CPUs (datapath-written under their spin locks) and survive apply. */
#ifndef XDPNET_MAPS_QOS_H
#define XDPNET_MAPS_QOS_H
#include "xdpnet/abi.h"

/* [(gen * MAX_PORTS + slot) * 2 + dir]: a port's policer, used when the
 * port's flags carry XDPNET_PORT_POLICE_IN / _OUT. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_MAX_PORTS * 2);
	__type(key, __u32);
	__type(value, struct xdpnet_policer);
} xdpnet_policers SEC(".maps");

/* [slot * 2 + dir]: the port policers' buckets, one per port and direction
 * for all CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_MAX_PORTS * 2);
	__type(key, __u32);
	__type(value, struct xdpnet_bucket);
} xdpnet_buckets SEC(".maps");

/* (gen, source prefix) -> the limit whose buckets apply. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPNET_GENS * 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpnet_limit_key);
	__type(value, struct xdpnet_limit);
} xdpnet_limits SEC(".maps");

/* (limit, source) -> its bucket. A plain hash, not LRU: eviction would hand
 * an active source a fresh, full bucket. Full means the limit's shared
 * overflow bucket (family 0), which the loader creates, applies; the gc pass
 * frees buckets idle long enough to be full again. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpnet_limit_src);
	__type(value, struct xdpnet_bucket);
} xdpnet_limit_state SEC(".maps");

/* (gen, slot, MAC): MACs a secured port may use. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPNET_GENS * 16384);
	__type(key, struct xdpnet_psec_mac_key);
	__type(value, __u8);
} xdpnet_psec_mac SEC(".maps");

/* (gen, family, slot, prefix): addresses a secured port may use. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPNET_GENS * 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpnet_psec_ip_key);
	__type(value, __u8);
} xdpnet_psec_ip SEC(".maps");

#endif
