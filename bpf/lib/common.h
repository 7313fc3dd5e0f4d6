/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Includes, constants and tiny helpers every stage uses. */
#ifndef XDPNET_BPF_COMMON_H
#define XDPNET_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpnet/abi.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define VLAN_VID_MASK 0x0fff
#define VLAN_HLEN 4
#define MAC_PAIR_LEN 12 /* destination + source MAC */

/* A dynamic FDB entry's timestamp is rewritten at most this often, so a
 * stream of frames from one MAC does not bounce its cache line between CPUs. */
#define FDB_REFRESH_NS 1000000000ULL

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int mac_is_multicast(const __u8 *mac)
{
	return mac[0] & 1;
}

static __always_inline int mac_is_zero(const __u8 *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

/* A stage's outcome: go on, hand the frame to the host stack, or a drop reason
 * (enum xdpnet_drop_reason, > 0). */
#define STAGE_CONTINUE 0

/* A value returned by a global function is an unknown scalar to the
 * verifier: pin it to a valid reason (or 0) so callers' verdicts stay exact. */
static __always_inline int drop_reason_clamp(int r)
{
	/* clang sees the callee's constant returns and would drop the check. */
	asm volatile("" : "+r"(r));
	if (r < 0 || r >= XDPNET_DROP_MAX)
		return XDPNET_DROP_BAD_L3;
	return r;
}
#define STAGE_TO_HOST (-1)

#endif
