/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Forwarding state: learned by the ingress program, aged by the gc timer,
 * static entries written by the loader. Not generational: it survives apply. */
#ifndef XDPNET_MAPS_FDB_H
#define XDPNET_MAPS_FDB_H
#include "xdpnet/abi.h"

/* (vlan, mac) -> port. max_entries is set by the loader from bridge.fdb_size.
 * A plain (preallocated) hash, not LRU: static entries must never be evicted;
 * a full table is counted (fdb_full) and the frame still forwarded. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xdpnet_fdb_key);
	__type(value, struct xdpnet_fdb_entry);
} xdpnet_fdb SEC(".maps");

/* [0]: FDB version, bumped (atomically in BPF) by every move or removal of an
 * entry, by the datapath, the gc pass or the loader. Validates the cache. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xdpnet_fdbver SEC(".maps");

/* [hash(vlan, mac)], per CPU: the exact-match cache (abi.h: xdpnet_fdb_cache). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPNET_FDB_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xdpnet_fdb_cache);
} xdpnet_fdbcache SEC(".maps");

/* [slot]: dynamic MACs learned on the port, for mac_limit. Incremented on learn,
 * decremented on move-away and gc removal. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} xdpnet_maccnt SEC(".maps");

/* [0]: the aging pass and its timer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_gc);
} xdpnet_gc SEC(".maps");

#endif
