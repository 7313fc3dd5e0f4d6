/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 4a: a VLAN's gateway address (policy `networks`). xdpnet answers ARP
 * for it with the VLAN's router MAC and echo requests sent to it, straight
 * back out of the ingress port (the reply keeps the frame's tagging).
 * Other ARP is switched as usual. Frames to the router MAC that are not for
 * the gateway itself would be routed: that stage comes with routing and NAT,
 * until then they are dropped and counted (no_route). */
#ifndef XDPNET_BPF_GATEWAY_H
#define XDPNET_BPF_GATEWAY_H
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>

#include "common.h"
#include "csum.h"
#include "parse.h"
#include "stats.h"
#include "../../maps/ports.h"

#define STAGE_TX (-2) /* send the (rewritten) frame back out of its port */

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

static __always_inline const struct xdpnet_gateway *gateway_of(__u32 gen, __u16 vid)
{
	__u32 key = gen * XDPNET_VLAN_COUNT + (vid & VLAN_VID_MASK);
	const struct xdpnet_gateway *gw = bpf_map_lookup_elem(&xdpnet_gateway, &key);
	return (gw && gw->gw_ip) ? gw : 0;
}

/* Reply source: the gateway; destination: whoever asked. */
static __always_inline void eth_reply(struct pkt *p, const struct xdpnet_gateway *gw)
{
	__builtin_memcpy(p->eth->h_dest, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, gw->router_mac, ETH_ALEN);
}

static __always_inline int gateway_arp(struct pkt *p, struct arp_ipv4 *a,
				       const struct xdpnet_gateway *gw,
				       struct xdpnet_port_stats *st)
{
	__u8 asker_ip[4];

	if ((void *)(a + 1) > p->end)
		return STAGE_CONTINUE; /* not a whole ARP packet: switch it as it is */
	if (a->htype != bpf_htons(1) || a->ptype != bpf_htons(ETH_P_IP) || a->hlen != ETH_ALEN ||
	    a->plen != 4 || a->op != bpf_htons(1 /* request */))
		return STAGE_CONTINUE;
	if (__builtin_memcmp(a->tpa, &gw->gw_ip, 4) != 0)
		return STAGE_CONTINUE;
	__builtin_memcpy(asker_ip, a->spa, 4);
	__builtin_memcpy(a->tha, a->sha, ETH_ALEN);
	__builtin_memcpy(a->tpa, asker_ip, 4);
	__builtin_memcpy(a->sha, gw->router_mac, ETH_ALEN);
	__builtin_memcpy(a->spa, &gw->gw_ip, 4);
	a->op = bpf_htons(2 /* reply */);
	eth_reply(p, gw);
	ctr_add(st, XDPNET_CTR_GW_ARP_REPLY, 1);
	return STAGE_TX;
}

static __always_inline int gateway_ipv4(struct pkt *p, struct iphdr *ip,
					const struct xdpnet_gateway *gw,
					struct xdpnet_port_stats *st)
{
	struct icmphdr *icmp;
	__be32 peer;

	if ((void *)(ip + 1) > p->end || ip->version != 4 || ip->ihl < 5)
		return XDPNET_DROP_BAD_L3;
	if (ip->daddr != gw->gw_ip || ip->protocol != IPPROTO_ICMP || ip->ihl != 5 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return XDPNET_DROP_NO_ROUTE;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) > p->end)
		return XDPNET_DROP_BAD_L3;
	if (icmp->type != ICMP_ECHO || icmp->code != 0)
		return XDPNET_DROP_NO_ROUTE;
	/* Echo reply: swap the addresses (the IP checksum does not change),
	 * type 8 -> 0 with the ICMP checksum updated for that one word. */
	peer = ip->saddr;
	ip->saddr = gw->gw_ip;
	ip->daddr = peer;
	icmp->checksum = csum_replace2(icmp->checksum, bpf_htons(ICMP_ECHO << 8),
				       bpf_htons(ICMP_ECHOREPLY << 8));
	icmp->type = ICMP_ECHOREPLY;
	eth_reply(p, gw);
	ctr_add(st, XDPNET_CTR_GW_ECHO_REPLY, 1);
	return STAGE_TX;
}

/* STAGE_CONTINUE (not for the gateway), STAGE_TX, or a drop reason. */
static __always_inline int gateway_local(struct pkt *p, __u32 gen, struct xdpnet_port_stats *st)
{
	const struct xdpnet_gateway *gw = gateway_of(gen, p->vid);
	void *l3 = p->eth + 1;
	__be16 proto = p->eth->h_proto;

	if (!gw)
		return STAGE_CONTINUE;
	if (p->tag == TAG_8021Q) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > p->end)
			return STAGE_CONTINUE;
		proto = vh->encap_proto;
		l3 = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_ARP))
		return gateway_arp(p, l3, gw, st);
	if (!mac_equal(p->eth->h_dest, gw->router_mac))
		return STAGE_CONTINUE;
	if (proto == bpf_htons(ETH_P_IP))
		return gateway_ipv4(p, l3, gw, st);
	return XDPNET_DROP_NO_ROUTE;
}

#endif
