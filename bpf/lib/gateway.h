/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 4a: a VLAN's gateway (policy `networks`). xdpnet answers ARP for the
 * gateway address with the VLAN's router MAC, learns its neighbours from the
 * ARP it sees, and answers echo requests sent to a gateway address. Replies
 * go straight back out of the ingress port with the frame's tagging. IPv4
 * for the router MAC and another address goes on to routing (stage 4b). */
#ifndef XDPNET_BPF_GATEWAY_H
#define XDPNET_BPF_GATEWAY_H
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>

#include "common.h"
#include "csum.h"
#include "l3.h"
#include "neigh.h"
#include "parse.h"
#include "stats.h"
#include "../../maps/ports.h"

#define STAGE_TX (-2)       /* send the (rewritten) frame back out of its port */
#define STAGE_CONSUMED (-3) /* the router took the frame (not a drop) */
#define STAGE_ROUTE (-4)    /* IPv4 for the router MAC: route it */

static __always_inline const struct xdpnet_gateway *gateway_of(__u32 gen, __u16 vid)
{
	__u32 key = gen * XDPNET_VLAN_COUNT + (vid & VLAN_VID_MASK);
	const struct xdpnet_gateway *gw = bpf_map_lookup_elem(&xdpnet_gateway, &key);
	return (gw && gw->gw_ip) ? gw : 0;
}

/* Reply source: the router; destination: whoever asked. */
static __always_inline void eth_reply(struct pkt *p, const __u8 *router_mac)
{
	__builtin_memcpy(p->eth->h_dest, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, router_mac, ETH_ALEN);
}

static __always_inline int in_subnet(__be32 addr, const struct xdpnet_gateway *gw)
{
	return ((addr ^ gw->gw_ip) & ~ipv4_host_mask(gw->prefix_len)) == 0;
}

static __always_inline int gateway_arp(struct pkt *p, struct arp_ipv4 *a,
				       const struct xdpnet_gateway *gw, __u64 now,
				       struct xdpnet_port_stats *st)
{
	__u8 asker_ip[4];
	__be32 spa;

	if ((void *)(a + 1) > p->end)
		return STAGE_CONTINUE; /* not a whole ARP packet: switch it as it is */
	if (a->htype != bpf_htons(1) || a->ptype != bpf_htons(ETH_P_IP) || a->hlen != ETH_ALEN ||
	    a->plen != 4)
		return STAGE_CONTINUE;
	/* Learn the sender: a station of this subnet (not a probe, not us). */
	__builtin_memcpy(&spa, a->spa, 4);
	if (spa && spa != gw->gw_ip && in_subnet(spa, gw) && !mac_is_multicast(a->sha))
		neigh_learn(p->vid, spa, a->sha, now, st);
	if (__builtin_memcmp(a->tpa, &gw->gw_ip, 4) != 0)
		return STAGE_CONTINUE;
	if (a->op == bpf_htons(ARP_REPLY)) {
		/* The answer to one of the router's requests: learned above. */
		ctr_add(st, XDPNET_CTR_ARP_TO_ROUTER, 1);
		return STAGE_CONSUMED;
	}
	if (a->op != bpf_htons(ARP_REQUEST))
		return STAGE_CONTINUE;
	__builtin_memcpy(asker_ip, a->spa, 4);
	__builtin_memcpy(a->tha, a->sha, ETH_ALEN);
	__builtin_memcpy(a->tpa, asker_ip, 4);
	__builtin_memcpy(a->sha, gw->router_mac, ETH_ALEN);
	__builtin_memcpy(a->spa, &gw->gw_ip, 4);
	a->op = bpf_htons(ARP_REPLY);
	eth_reply(p, gw->router_mac);
	ctr_add(st, XDPNET_CTR_GW_ARP_REPLY, 1);
	return STAGE_TX;
}

/* An echo request to one of the router's addresses (`addr`): answer it from
 * that address, through the ingress VLAN's router MAC. STAGE_TX or a drop. */
static __always_inline int gateway_echo(struct pkt *p, struct iphdr *ip, __be32 addr,
					const __u8 *router_mac, struct xdpnet_port_stats *st)
{
	struct icmphdr *icmp;
	__be32 peer;

	if (ip->protocol != IPPROTO_ICMP || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return XDPNET_DROP_GW_UNSERVED;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) > p->end)
		return XDPNET_DROP_BAD_L3;
	if (icmp->type != ICMP_ECHO || icmp->code != 0)
		return XDPNET_DROP_GW_UNSERVED;
	/* Echo reply: swap the addresses (the IP checksum does not change),
	 * type 8 -> 0 with the ICMP checksum updated for that one word. */
	peer = ip->saddr;
	ip->saddr = addr;
	ip->daddr = peer;
	icmp->checksum = csum_replace2(icmp->checksum, bpf_htons(ICMP_ECHO << 8),
				       bpf_htons(ICMP_ECHOREPLY << 8));
	icmp->type = ICMP_ECHOREPLY;
	eth_reply(p, router_mac);
	ctr_add(st, XDPNET_CTR_GW_ECHO_REPLY, 1);
	return STAGE_TX;
}

/* STAGE_CONTINUE (switch it), STAGE_TX, STAGE_CONSUMED, STAGE_ROUTE, or a
 * drop reason. */
static __always_inline int gateway_local(struct pkt *p, const struct xdpnet_gateway *gw, __u64 now,
					 struct xdpnet_port_stats *st)
{
	__be16 proto;
	struct iphdr *ip;

	if (!gw)
		return STAGE_CONTINUE;
	proto = l3_proto(p);
	if (proto == bpf_htons(ETH_P_ARP))
		return gateway_arp(p, p->data + l2_len(p), gw, now, st);
	if (!mac_equal(p->eth->h_dest, gw->router_mac))
		return STAGE_CONTINUE;
	if (proto != bpf_htons(ETH_P_IP))
		return XDPNET_DROP_NO_ROUTE;
	ip = ipv4_hdr(p);
	if (!ip)
		return XDPNET_DROP_BAD_L3;
	if (ip->daddr == gw->gw_ip)
		return gateway_echo(p, ip, gw->gw_ip, gw->router_mac, st);
	return STAGE_ROUTE;
}

#endif
