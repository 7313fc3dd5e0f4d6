/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The ACL: per-generation shapes and entries (loader-written, abi.h explains
 * the tuple-space search), per-rule hit counters, and the connections that
 * stateful rules let replies in for (datapath-written, survive apply). */
#ifndef XDPNET_MAPS_ACL_H
#define XDPNET_MAPS_ACL_H
#include "xdpnet/abi.h"

/* [gen]: search order length, default action, timeouts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS);
	__type(key, __u32);
	__type(value, struct xdpnet_acl_config);
} xdpnet_aclcfg SEC(".maps");

/* [gen * MAX_SHAPES + i]: the i-th shape to probe. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_ACL_MAX_SHAPES);
	__type(key, __u32);
	__type(value, struct xdpnet_acl_shape);
} xdpnet_aclshape SEC(".maps");

/* Masked fields (shape id in the key, so both generations live side by
 * side) -> the first rule with them. max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpnet_acl_key);
	__type(value, struct xdpnet_acl_verdict);
} xdpnet_acl SEC(".maps");

/* Hits per rule, per CPU: [rule]; [MAX_RULES] counts the default. The
 * loader zeroes them when it applies a new rule set. */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPNET_ACL_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpnet_acl_hits);
} xdpnet_aclhits SEC(".maps");

/* Connections stateful rules allowed, keyed by their replies. LRU: a
 * forgotten connection only means its replies meet the rules again.
 * max_entries is set by the loader (acl.max_connections). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xdpnet_acl_key);
	__type(value, struct xdpnet_acl_conn);
} xdpnet_aclconn SEC(".maps");

#endif
