/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* NAT: per-generation configuration (loader-written) and the connection
 * table (datapath-written, survives apply, aged by the gc pass). */
#ifndef XDPNET_MAPS_NAT_H
#define XDPNET_MAPS_NAT_H
#include "xdpnet/abi.h"

/* [gen * VLAN_COUNT + vid]: the network's uplink and NAT settings. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__type(value, struct xdpnet_nat_config);
} xdpnet_natcfg SEC(".maps");

/* Port forwards of both generations (gen is in the key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPNET_GENS * 4096);
	__type(key, struct xdpnet_fwd_key);
	__type(value, struct xdpnet_fwd);
} xdpnet_fwd SEC(".maps");

/* Both halves of every tracked connection. A plain (preallocated) hash, not
 * LRU: eviction would break live connections half-way; a full table refuses
 * new connections (ct_full). max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct xdpnet_ct_key);
	__type(value, struct xdpnet_ct);
} xdpnet_ct SEC(".maps");

/* [vid]: connections each network holds now (pairs), for max_connections.
 * The datapath adds and subtracts atomically as it creates and removes
 * pairs; the loader recounts after it removes some itself (nat flush). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} xdpnet_ctcount SEC(".maps");

/* [hash(dst)], per CPU: the uplink next-hop cache (abi.h: xdpnet_nh_cache). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPNET_NH_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xdpnet_nh_cache);
} xdpnet_nhcache SEC(".maps");

/* First fragments seen: (src, dst, proto, id, side) -> their connection. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xdpnet_frag_key);
	__type(value, struct xdpnet_frag);
} xdpnet_frag SEC(".maps");

#endif
