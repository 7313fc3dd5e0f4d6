/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Policy lookups in the live generation: which port is this interface, and
 * what that port allows. */
#ifndef XDPNET_BPF_PORT_H
#define XDPNET_BPF_PORT_H
#include "common.h"
#include "../../maps/ports.h"

/* The live policy generation (0 or 1). One array lookup, inlined by the JIT. */
static __always_inline __u32 live_gen(void)
{
	__u32 zero = 0;
	const struct xdpnet_state *s = bpf_map_lookup_elem(&xdpnet_state, &zero);
	return s ? (s->active_gen & 1) : 0;
}

static __always_inline const struct xdpnet_config *config_of(__u32 gen)
{
	return bpf_map_lookup_elem(&xdpnet_config, &gen);
}

/* The datapath clock in ns, at jiffy resolution: bpf_jiffies64() is a plain
 * load where bpf_ktime_get_coarse_ns() costs a seqcount read and a helper
 * call, about 18 ns a packet here. Userspace reads the same clock by running
 * xdpnet_clock. Aging is in seconds, so a jiffy (1-10 ms) is plenty. */
static __always_inline __u64 clock_ns(const struct xdpnet_config *cfg)
{
	if (cfg && cfg->ns_per_jiffy)
		return bpf_jiffies64() * cfg->ns_per_jiffy;
	return bpf_ktime_get_coarse_ns();
}

static __always_inline const struct xdpnet_port *port_of_slot(__u32 gen, __u32 slot)
{
	if (slot >= XDPNET_MAX_PORTS)
		return 0;
	__u32 key = gen * XDPNET_MAX_PORTS + slot;
	const struct xdpnet_port *p = bpf_map_lookup_elem(&xdpnet_ports, &key);
	return (p && p->mode) ? p : 0;
}

/* The port on interface ifindex in generation gen, or NULL. */
static __always_inline const struct xdpnet_port *port_of_ifindex(__u32 gen, __u32 ifindex)
{
	if (ifindex >= XDPNET_MAX_IFINDEX)
		return 0;
	__u32 key = gen * XDPNET_MAX_IFINDEX + ifindex;
	const __u32 *slot1 = bpf_map_lookup_elem(&xdpnet_portidx, &key);
	if (!slot1 || !*slot1)
		return 0;
	return port_of_slot(gen, *slot1 - 1);
}

static __always_inline int port_has_vlan(const struct xdpnet_port *p, __u16 vid)
{
	vid &= VLAN_VID_MASK;
	return (p->vlans[vid >> 6] >> (vid & 63)) & 1;
}

/* Does a frame of VLAN vid leave this port with a tag? */
static __always_inline int port_wants_tag(const struct xdpnet_port *p, __u16 vid)
{
	return p->mode == XDPNET_MODE_TRUNK && vid != p->pvid;
}

#endif
