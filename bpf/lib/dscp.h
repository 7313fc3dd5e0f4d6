/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* DSCP marking: the upper six bits of the IPv4 TOS / IPv6 traffic class,
 * ECN (the lower two) left alone. IPv4's header checksum is updated for the
 * changed word; IPv6 has none, and no transport checksum covers either. */
#ifndef XDPNET_BPF_DSCP_H
#define XDPNET_BPF_DSCP_H
#include "common.h"
#include "csum.h"
#include "ipinfo.h"

static __always_inline void dscp_set(const struct ipinfo *ii, __u8 dscp)
{
	if (ii->family == 4) {
		struct iphdr *ip = ii->l3;
		__be16 *w = (__be16 *)ip; /* version/ihl and TOS */
		__be16 old = *w;

		ip->tos = (dscp << 2) | (ip->tos & 3);
		ip->check = csum_replace2(ip->check, old, *w);
	} else if (ii->family == 6) {
		/* version(4) | traffic class(8) | flow label(20) */
		__u8 *b = ii->l3;
		__u8 ecn = (b[1] >> 4) & 3;
		__u8 tc = (dscp << 2) | ecn;

		b[0] = 0x60 | (tc >> 4);
		b[1] = (__u8)(tc << 4) | (b[1] & 0x0f);
	}
}

#endif
