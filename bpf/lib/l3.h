/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The IPv4 header behind the frame's L2 header (and its tag, if any). */
#ifndef XDPNET_BPF_L3_H
#define XDPNET_BPF_L3_H
#include <linux/ip.h>

#include "common.h"
#include "parse.h"

struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

#define ARP_REQUEST 1
#define ARP_REPLY 2

/* Bytes of L2 header in front of L3: Ethernet, plus the tag when tagged. */
static __always_inline __u32 l2_len(const struct pkt *p)
{
	return sizeof(struct ethhdr) + (p->tag == TAG_8021Q ? VLAN_HLEN : 0);
}

/* The EtherType after the tag (if any); 0 when the tag is cut short. */
static __always_inline __be16 l3_proto(const struct pkt *p)
{
	if (p->tag == TAG_8021Q) {
		struct vlan_hdr *vh = (void *)(p->eth + 1);

		if ((void *)(vh + 1) > p->end)
			return 0;
		return vh->encap_proto;
	}
	return p->eth->h_proto;
}

/* A whole IPv4 header with a sane length, or NULL. */
static __always_inline struct iphdr *ipv4_hdr(const struct pkt *p)
{
	struct iphdr *ip = p->data + l2_len(p);

	if ((void *)(ip + 1) > p->end || ip->version != 4 || ip->ihl < 5)
		return 0;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot < ip->ihl * 4u || (void *)ip + tot > p->end)
		return 0;
	return ip;
}

static __always_inline __be32 ipv4_host_mask(__u8 prefix_len)
{
	return ~xdpnet_prefix_mask(prefix_len);
}

#endif
