/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* IPv4 and IPv6 alike, for the controls that look at both (port security,
 * per-address limits, DSCP marking, the ACL): where the network and transport
 * headers are and what they say. Routing and NAT, which are IPv4 only, keep
 * their own stricter parser (l3.h, xlate.h). */
#ifndef XDPNET_BPF_IPINFO_H
#define XDPNET_BPF_IPINFO_H
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "common.h"
#include "l3.h"

#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#define IP_MF_OFFSET 0x3fff   /* more-fragments flag and offset */
#define IP_OFFSET_MASK 0x1fff
#define IP6_FRAG_OFFSET 0xfff8 /* fragment header: offset bits */
#define IP6_EXT_MAX 3          /* extension headers skipped before giving up */

enum ip_frag_kind { IPF_NONE = 0, IPF_FIRST = 1, IPF_LATER = 2 };

struct ipinfo {
	void *l3;      /* the IPv4 or IPv6 header */
	void *l4;      /* the transport header; NULL in a later fragment */
	__u8 family;   /* 0: not IP; 4; 6 */
	__u8 proto;    /* transport protocol (after IPv6 extension headers) */
	__u8 frag;     /* enum ip_frag_kind */
	__u8 pad;
	__be16 sport;  /* TCP/UDP ports; 0 for other protocols and later fragments */
	__be16 dport;
};

struct ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-byte units, not counting the first 8 */
};

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/* Fills ii. Returns STAGE_CONTINUE (also for frames that are not IP:
 * family 0) or XDPNET_DROP_BAD_L3 for an IP header cut short or malformed,
 * or more IPv6 extension headers than IP6_EXT_MAX before the transport. */
static __always_inline int ip_parse(const struct pkt *p, struct ipinfo *ii)
{
	__be16 eproto = l3_proto(p);
	void *l3 = p->data + l2_len(p);
	void *l4;

	ii->family = 0;
	ii->l4 = 0;
	ii->frag = IPF_NONE;
	ii->sport = 0;
	ii->dport = 0;
	if (eproto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > p->end || ip->version != 4 || ip->ihl < 5)
			return XDPNET_DROP_BAD_L3;
		ii->family = 4;
		ii->l3 = ip;
		ii->proto = ip->protocol;
		if (ip->frag_off & bpf_htons(IP_OFFSET_MASK)) {
			ii->frag = IPF_LATER;
			return STAGE_CONTINUE;
		}
		if (ip->frag_off & bpf_htons(IP_MF_OFFSET))
			ii->frag = IPF_FIRST;
		l4 = l3 + ip->ihl * 4;
	} else if (eproto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		__u8 next;

		if ((void *)(ip6 + 1) > p->end || ip6->version != 6)
			return XDPNET_DROP_BAD_L3;
		ii->family = 6;
		ii->l3 = ip6;
		next = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < IP6_EXT_MAX; i++) {
			if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
			    next == IPPROTO_DSTOPTS) {
				struct ip6_ext *h = l4;

				if ((void *)(h + 1) > p->end)
					return XDPNET_DROP_BAD_L3;
				next = h->nexthdr;
				l4 += (h->hdrlen + 1) * 8;
			} else if (next == IPPROTO_FRAGMENT) {
				struct ip6_frag *f = l4;

				if ((void *)(f + 1) > p->end)
					return XDPNET_DROP_BAD_L3;
				next = f->nexthdr;
				if (f->frag_off & bpf_htons(IP6_FRAG_OFFSET)) {
					ii->proto = next;
					ii->frag = IPF_LATER;
					return STAGE_CONTINUE;
				}
				ii->frag = IPF_FIRST;
				l4 = f + 1;
			}
		}
		if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
		    next == IPPROTO_FRAGMENT)
			return XDPNET_DROP_BAD_L3;
		ii->proto = next;
	} else {
		return STAGE_CONTINUE;
	}
	ii->l4 = l4;
	if (ii->proto == IPPROTO_TCP || ii->proto == IPPROTO_UDP) {
		__be16 *ports = l4;

		if ((void *)(ports + 2) > p->end)
			return XDPNET_DROP_BAD_L3;
		ii->sport = ports[0];
		ii->dport = ports[1];
	}
	return STAGE_CONTINUE;
}

/* The source and destination address bytes (4 or 16). */
static __always_inline const __u8 *ip_src(const struct ipinfo *ii)
{
	return ii->family == 4 ? (const __u8 *)&((struct iphdr *)ii->l3)->saddr
			       : (const __u8 *)&((struct ipv6hdr *)ii->l3)->saddr;
}

static __always_inline const __u8 *ip_dst(const struct ipinfo *ii)
{
	return ii->family == 4 ? (const __u8 *)&((struct iphdr *)ii->l3)->daddr
			       : (const __u8 *)&((struct ipv6hdr *)ii->l3)->daddr;
}

/* Copies an address into a 16-byte field (IPv4: first 4 bytes, rest zero). */
static __always_inline void ip_addr_copy(__u8 *to, const struct ipinfo *ii, int dst)
{
	const __u8 *from = dst ? ip_dst(ii) : ip_src(ii);

	if (ii->family == 4) {
		__builtin_memcpy(to, from, 4);
		__builtin_memset(to + 4, 0, 12);
	} else {
		__builtin_memcpy(to, from, 16);
	}
}

#endif
