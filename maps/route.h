/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Routing state. xdpnet_routes is policy (generational, written by the
 * loader); xdpnet_neigh is learned by the datapath and survives apply. */
#ifndef XDPNET_MAPS_ROUTE_H
#define XDPNET_MAPS_ROUTE_H
#include "xdpnet/abi.h"

/* (gen, subnet) -> the network (VLAN) that holds it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpnet_route_key);
	__type(value, struct xdpnet_route);
} xdpnet_routes SEC(".maps");

/* [gen * VLAN_COUNT + vid]: the network's name (loader-only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__type(value, struct xdpnet_netname);
} xdpnet_netname SEC(".maps");

/* (vid, IPv4) -> MAC. LRU: a neighbour that falls out is asked for again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xdpnet_neigh_key);
	__type(value, struct xdpnet_neigh);
} xdpnet_neigh SEC(".maps");

#endif
