/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Policy maps: written only by the loader (datapath/apply), read by the programs.
 * Everything here is indexed by policy generation, so the loader builds a new
 * policy aside and switches with one write to xdpnet_state. */
#ifndef XDPNET_MAPS_PORTS_H
#define XDPNET_MAPS_PORTS_H
#include "xdpnet/abi.h"

/* [0]: the live generation and the ABI version of the pinned state. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpnet_state);
} xdpnet_state SEC(".maps");

/* [gen]: bridge-wide settings of a generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS);
	__type(key, __u32);
	__type(value, struct xdpnet_config);
} xdpnet_config SEC(".maps");

/* [gen * MAX_IFINDEX + ifindex]: slot + 1 of the port on that interface, 0 = none. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
} xdpnet_portidx SEC(".maps");

/* [gen * MAX_PORTS + slot]: port configuration. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct xdpnet_port);
} xdpnet_ports SEC(".maps");

/* [gen * VLAN_COUNT + vid]: member slots, for the tc flood with a host copy. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__type(value, struct xdpnet_vlan);
} xdpnet_vlans SEC(".maps");

/* [gen * MAX_PORTS + slot] -> ifindex, no egress program. Known unicast
 * leaves through here, already tagged for the egress port. An array devmap:
 * the lookup is an index, not a hash. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, XDPNET_GENS * XDPNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} xdpnet_tx SEC(".maps");

/* [gen * VLAN_COUNT + vid] -> devmap of the VLAN's ports, each entry with the
 * xdpnet_flood_egress program, which pops the tag where the port wants none.
 * Floods are broadcast here with BPF_F_EXCLUDE_INGRESS. */
struct xdpnet_flood_inner {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XDPNET_MAX_PORTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct bpf_devmap_val)); /* ifindex + egress program */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__array(values, struct xdpnet_flood_inner);
} xdpnet_flood SEC(".maps");

/* [gen * VLAN_COUNT + vid]: the VLAN's gateway (policy `networks`). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPNET_GENS * XDPNET_VLAN_COUNT);
	__type(key, __u32);
	__type(value, struct xdpnet_gateway);
} xdpnet_gateway SEC(".maps");

/* ifindex -> the port's VLAN offloads before attach (loader-only: restored at
 * detach so `down` leaves the interface as it found it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPNET_GENS * XDPNET_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct xdpnet_ifsave);
} xdpnet_ifsave SEC(".maps");

#endif
