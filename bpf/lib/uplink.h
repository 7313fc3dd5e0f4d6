/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Stage 4d and the uplink's ingress: NAT between the networks and the
 * uplink (policy networks[].uplink).
 *
 * Out (nat_out, from a network's port, destination outside every network):
 * the connection is looked up or created (SNAT with masquerade, hairpin for
 * the uplink's own forwarded ports), the next hop comes from the kernel's FIB
 * and neighbour table (bpf_fib_lookup on the uplink), the packet is
 * rewritten, untagged and redirected out of the uplink. When the kernel has
 * no neighbour entry yet the packet goes up, marked in XDP metadata, to the
 * tc program xdpnet_nat_slow, which translates it and hands it to
 * bpf_redirect_neigh: the kernel resolves the neighbour, later packets take
 * the fast path.
 *
 * In (nat_in, on the uplink): packets for the uplink's address that belong
 * to a connection or hit a port forward are translated back and delivered
 * into their network like routed packets; packets for a routed (not
 * masquerading) network behind this uplink are routed in; everything else
 * is the host's and passes.
 */
#ifndef XDPNET_BPF_UPLINK_H
#define XDPNET_BPF_UPLINK_H
#include <linux/if_ether.h>

#include "common.h"
#include "l3.h"
#include "nat.h"
#include "route.h"
#include "vlan.h"
#include "xlate.h"

#ifndef AF_INET
#define AF_INET 2
#endif

static __always_inline struct xdpnet_nh_cache *nh_cache_slot(__be32 dst)
{
	__u32 key = (bpf_ntohl(dst) * 2654435761u) >> 24; /* XDPNET_NH_CACHE_SIZE = 256 */

	return bpf_map_lookup_elem(&xdpnet_nhcache, &key);
}

/* An uplink_fib answer: the FIB's return code, and the path MTU with
 * BPF_FIB_LKUP_RET_FRAG_NEEDED. */
#define FIB_ANSWER(rc, mtu) (((rc) & 0xff) | (__u32)(mtu) << 16)
#define FIB_RC(r) ((r) & 0xff)
#define FIB_MTU(r) ((__u16)((__u32)(r) >> 16))

/* Does the cache slot hold a recent next hop for (uplink, src, dst)? */
static __always_inline int nh_cache_fresh(const struct xdpnet_nh_cache *e, __be32 src, __be32 dst,
					  __u32 ifindex, __u64 now)
{
	return e->dst == dst && e->src == src && e->ifindex == ifindex &&
	       now - e->stamp_ns < XDPNET_NH_CACHE_TTL_NS;
}

/* The FIB lookup of uplink_fib for a next hop the cache does not have: a
 * global function (verified once), so that the lookup's 64-byte argument
 * is on its own stack rather than the pipeline's. addrs: src | dst << 32;
 * how: ifindex | length << 32 | tos << 48 | protocol << 56. A success
 * refreshes the cache slot, whose MACs the caller then uses. Returns as
 * uplink_fib. */
__noinline int xdpnet_uplink_fib(struct xdp_md *ctx, __u64 addrs, __u64 how, __u64 now)
{
	__be32 src = (__u32)addrs, dst = addrs >> 32;
	__u32 ifindex = (__u32)how;
	__u16 len = (__u16)(how >> 32);
	struct bpf_fib_lookup fib = {};
	struct xdpnet_nh_cache *e;
	int rc;

	if (!ctx)
		return -1;
	fib.family = AF_INET;
	fib.tos = (__u8)(how >> 48);
	fib.l4_protocol = (__u8)(how >> 56);
	fib.tot_len = len;
	fib.ipv4_src = src;
	fib.ipv4_dst = dst;
	fib.ifindex = ifindex;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	if (fib.ifindex != ifindex || rc < 0)
		return -1;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return FIB_ANSWER(rc, rc == BPF_FIB_LKUP_RET_FRAG_NEEDED ? fib.mtu_result : 0);
	e = nh_cache_slot(dst);
	if (!e)
		return -1;
	/* The longest packet the FIB accepted, for as long as the hop holds. */
	if (!nh_cache_fresh(e, src, dst, ifindex, now) || e->ok_len < len)
		e->ok_len = len;
	e->dst = dst;
	e->src = src;
	e->ifindex = ifindex;
	__builtin_memcpy(e->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(e->smac, fib.smac, ETH_ALEN);
	e->stamp_ns = now;
	return rc;
}

/* The kernel's route for src -> dst through the uplink (bpf_fib_lookup,
 * output direction, with the packet's length for the MTU check): an answer
 * (FIB_RC, FIB_MTU), or -1 when the route leaves by another interface. On
 * BPF_FIB_LKUP_RET_SUCCESS *nh is the next hop (its MACs). A recent answer
 * for the same (uplink, src, dst) and a packet no longer than one the FIB
 * accepted comes from the per-CPU next-hop cache instead: the FIB lookup was
 * the largest single cost of the NAT path. */
static __always_inline int uplink_fib(struct xdp_md *ctx, const struct iphdr *ip,
				      const struct xdpnet_nat_config *c, __be32 src, __be32 dst,
				      __u64 now, const struct xdpnet_nh_cache **nh)
{
	struct xdpnet_nh_cache *e = nh_cache_slot(dst);
	__u16 len = bpf_ntohs(ip->tot_len);

	*nh = e;
	if (!e)
		return -1;
	if (nh_cache_fresh(e, src, dst, c->uplink_ifindex, now) && len <= e->ok_len)
		return BPF_FIB_LKUP_RET_SUCCESS;
	return xdpnet_uplink_fib(ctx, (__u64)src | (__u64)dst << 32,
				 (__u64)c->uplink_ifindex | (__u64)len << 32 | (__u64)ip->tos << 48 |
					 (__u64)ip->protocol << 56,
				 now);
}

/* A FIB answer that is neither a next hop nor "resolve it": too big for the
 * path MTU gets "fragmentation needed" back when it has DF (path-MTU
 * discovery), everything else has no route. A route_verdict. */
static __always_inline int uplink_refused(struct xdp_md *ctx, struct pkt *p, struct iphdr *ip,
					  int rc, __u16 mtu, const struct xdpnet_gateway *in_gw,
					  struct xdpnet_port_stats *st)
{
	if (rc != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return -XDPNET_DROP_UPLINK_ROUTE;
	drop_count(st, XDPNET_DROP_FRAG_NEEDED);
	flow_note_drop(XDPNET_DROP_FRAG_NEEDED);
	if (!in_gw || !(ip->frag_off & bpf_htons(0x4000)))
		return ROUTE_DROPPED;
	if (icmp_error_in_place(ctx, p, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, in_gw->gw_ip,
				in_gw->router_mac))
		return ROUTE_DROPPED;
	ctr_add(st, XDPNET_CTR_ICMP_FRAG_NEEDED, 1);
	return ROUTE_TX;
}

/* Out of the uplink with the FIB's MACs. ct NULL: routed untranslated. */
static __always_inline int uplink_send(struct xdp_md *ctx, struct pkt *p, __u32 gen,
				       const struct xdpnet_nat_config *c, const struct tuple *t,
				       const struct xdpnet_ct *ct, const struct xdpnet_gateway *in_gw,
				       __u64 now, struct xdpnet_port_stats *st)
{
	const struct xdpnet_nh_cache *nh;
	struct xdpnet_meta *meta;
	struct iphdr *ip = ipv4_hdr(p);
	int rc, r;

	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	rc = uplink_fib(ctx, ip, c, ct ? ct->to_saddr : ip->saddr, ct ? ct->to_daddr : ip->daddr,
			now, &nh);
	if (rc < 0)
		return -XDPNET_DROP_UPLINK_ROUTE;
	if (FIB_RC(rc) == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* The slow path: tc translates and lets the kernel resolve. */
		if (p->tag == TAG_8021Q && (r = xdp_vlan_pop(ctx, p)))
			return -r;
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
			return -XDPNET_DROP_HEADROOM;
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) > (void *)(long)ctx->data)
			return -XDPNET_DROP_HEADROOM;
		meta->magic = XDPNET_META_MAGIC;
		meta->ifindex = c->uplink_ifindex;
		ctr_add(st, XDPNET_CTR_NAT_SLOW, 1);
		flow_out(p, c->uplink_slot); /* tc translates and sends it on */
		if (ct)
			flow_nat(p, ct->to_saddr, ct->to_daddr, ct->to_sport, ct->to_dport,
				 ct->packets == 1);
		return ROUTE_PASS;
	}
	if (FIB_RC(rc) != BPF_FIB_LKUP_RET_SUCCESS)
		return uplink_refused(ctx, p, ip, FIB_RC(rc), FIB_MTU(rc), in_gw, st);
	if (!nh) /* not after an answer (uplink_fib gave -1); the verifier's check */
		return -XDPNET_DROP_UPLINK_ROUTE;
	if (ct) {
		r = xlate_xdp(ctx, p, t, ct, st); /* TTL decremented too */
		if (r)
			return -r;
	} else {
		r = ipv4_csum_finish(ctx, p, st);
		if (r)
			return -r;
		ip = ipv4_hdr(p);
		if (!ip)
			return -XDPNET_DROP_BAD_L3;
		ipv4_ttl_dec(ip);
	}
	if (p->tag == TAG_8021Q && (r = xdp_vlan_pop(ctx, p)))
		return -r;
	if ((void *)(p->eth + 1) > p->end)
		return -XDPNET_DROP_HEADROOM;
	__builtin_memcpy(p->eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, nh->smac, ETH_ALEN);
	if (bpf_redirect_map(&xdpnet_tx, gen * XDPNET_MAX_PORTS + c->uplink_slot, XDP_ABORTED) !=
	    XDP_REDIRECT)
		return -XDPNET_DROP_NO_TX_PORT;
	ctr_add(st, XDPNET_CTR_NAT_OUT, 1);
	flow_out(p, c->uplink_slot);
	ctr_inc_slot(c->uplink_slot, XDPNET_CTR_TX_UNICAST);
	return ROUTE_REDIRECT;
}

/* Is this an ICMP error (which quotes the packet it is about)? Fills the
 * key a packet of the connection it is about would have, travelling the
 * other way: the quoted tuple reversed, on `side`. */
static __always_inline int icmp_error_key(const struct iphdr *ip, void *end, __u8 side,
					  struct xdpnet_ct_key *k)
{
	const struct icmphdr *icmp = (void *)(ip + 1);
	const struct iphdr *iip = (void *)(icmp + 1);
	const __be16 *il4 = (void *)(iip + 1);

	if (ip->protocol != IPPROTO_ICMP || ip->ihl != 5 || (void *)(il4 + 4) > end)
		return 0;
	if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED &&
	    icmp->type != ICMP_PARAMETERPROB)
		return 0;
	k->saddr = iip->daddr;
	k->daddr = iip->saddr;
	k->proto = iip->protocol;
	k->side = side;
	k->pad = 0;
	if (iip->protocol == IPPROTO_ICMP) {
		/* A quoted echo request (id = its "sport") answers as a reply. */
		const struct icmphdr *ie = (const void *)il4;

		if (ie->type != ICMP_ECHO)
			return 0;
		k->sport = 0;
		k->dport = ie->un.echo.id;
	} else {
		k->sport = il4[1];
		k->dport = il4[0];
	}
	return 1;
}

static __always_inline int icmp_err_xlate(struct xdp_md *ctx, struct pkt *p, int dir, __be32 addr,
					  __be16 port)
{
	int r = xdpnet_icmp_err_xlate(ctx, l2_len(p), dir, addr, port);

	asm volatile("" : "+r"(r)); /* see drop_reason_clamp */
	pkt_reload(p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return r < 0 ? drop_reason_clamp(-r) : 0;
}

static __always_inline int tcp_without_syn(const struct tuple *t)
{
	return t->proto == IPPROTO_TCP && !(t->tcp_flags & TCPF_SYN);
}

/* A packet from a network's port for an address outside every network. */
static __always_inline int nat_out(struct xdp_md *ctx, struct pkt *p, __u32 gen,
				   const struct xdpnet_gateway *in_gw, __u64 now, __u32 version,
				   struct xdpnet_port_stats *st, __u32 in_slot)
{
	const struct xdpnet_nat_config *c = natcfg_of(gen, p->vid);
	const struct xdpnet_gateway *out_gw;
	__u16 vid;
	struct iphdr *ip = ipv4_hdr(p);
	struct xdpnet_ct_key k;
	struct xdpnet_ct *ct;
	struct tuple t = {};
	int r;

	if (!c)
		return -XDPNET_DROP_NO_ROUTE;
	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	if (ip->ttl <= 1)
		return route_ttl_exceeded(ctx, p, ip, in_gw, st);
	if (icmp_error_key(ip, p->end, XDPNET_SIDE_VM, &k)) {
		/* A VM's error about a connection that came in (a forward). */
		ct = ct_lookup(&k, now);
		if (ct) {
			r = icmp_err_xlate(ctx, p, 1, ct->to_saddr, ct->to_sport);
			if (r)
				return -r;
		} else if (c->flags & XDPNET_NAT_MASQ) {
			return -XDPNET_DROP_NAT_UNTRACKED; /* would leak the VM's address */
		}
		goto untranslated;
	}
	r = tuple_parse(ip, p->end, l2_len(p), &t);
	if (r) {
		if (r == XDPNET_DROP_NAT_PROTO && !(c->flags & XDPNET_NAT_MASQ))
			goto untranslated;
		return -r;
	}
	if (t.frag == FRAG_LATER) {
		/* Follows its first fragment's connection, or is dropped. */
		const struct xdpnet_ct_key *fk = frag_lookup(&t, XDPNET_SIDE_VM, now);

		if (!fk && !(c->flags & XDPNET_NAT_MASQ))
			goto untranslated;
		if (!fk)
			return -XDPNET_DROP_FRAG_UNKNOWN;
		k = *fk;
		ct = ct_lookup(&k, now);
		if (!ct)
			return -XDPNET_DROP_FRAG_UNKNOWN;
		goto tracked;
	}
	ct_key_of(&k, &t, XDPNET_SIDE_VM);
	ct = ct_lookup(&k, now);
	if (!ct) {
		struct ct_pair *cp = ct_scratch();

		if (!cp)
			return -XDPNET_DROP_CT_FULL;
		if (t.daddr == c->uplink_ip) {
			/* Hairpin: a VM using the uplink's address and a forward. */
			struct xdpnet_fwd_key fk = { .ifindex = c->uplink_ifindex, .port = t.dport,
						     .proto = t.proto, .gen = gen };
			const struct xdpnet_fwd *f = bpf_map_lookup_elem(&xdpnet_fwd, &fk);

			if (!f || t.proto == IPPROTO_ICMP)
				return -XDPNET_DROP_NO_ROUTE;
			if (tcp_without_syn(&t))
				return -XDPNET_DROP_NAT_NOT_SYN;
			r = ct_new_hairpin(cp, &t, f, c, p->vid, now, gen, bpf_ntohs(ip->tot_len), in_slot);
		} else if (c->flags & XDPNET_NAT_MASQ) {
			const struct xdpnet_nh_cache *nh;
			int rc;

			if (tcp_without_syn(&t))
				return -XDPNET_DROP_NAT_NOT_SYN;
			/* No connection for a packet that cannot leave. */
			rc = uplink_fib(ctx, ip, c, c->uplink_ip, t.daddr, now, &nh);
			if (rc < 0)
				return -XDPNET_DROP_UPLINK_ROUTE;
			if (FIB_RC(rc) != BPF_FIB_LKUP_RET_SUCCESS &&
			    FIB_RC(rc) != BPF_FIB_LKUP_RET_NO_NEIGH)
				return uplink_refused(ctx, p, ip, FIB_RC(rc), FIB_MTU(rc), in_gw, st);
			r = ct_new_snat(cp, &t, c, p->vid, now, gen, bpf_ntohs(ip->tot_len), in_slot);
		} else {
			goto untranslated; /* routed, not translated */
		}
		if (r)
			return -r;
		ctr_add(st, XDPNET_CTR_NAT_NEW, 1);
		frag_remember(&t, XDPNET_SIDE_VM, &k, now);
		ct = &cp->oval; /* as inserted, this packet counted */
		goto translate;
	}
	frag_remember(&t, XDPNET_SIDE_VM, &k, now);
tracked:
	ct_seen(&k, ct, &t, bpf_ntohs(ip->tot_len), now, gen);
translate:
	flow_counted_by_conn(ct, t.tcp_flags, in_slot);
	/* Routing found no network for the original destination; only a
	 * hairpin (a new destination) can lead back into one. */
	vid = ct->to_daddr == t.daddr ? 0 : route_vid(gen, ct->to_daddr);
	if (!vid)
		goto send;
	/* Hairpinned into a network. */
	out_gw = gateway_of(gen, vid);
	if (!out_gw)
		return -XDPNET_DROP_STALE_CONFIG;
	r = xlate_xdp(ctx, p, &t, ct, st);
	if (r)
		return -r;
	ip = ipv4_hdr(p);
	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	return route_deliver(ctx, p, ip, vid, out_gw, in_gw, 1, now, st, ct, version);

	/* Out of the uplink: one copy of uplink_send for every way here (ct NULL:
	 * as it is), which keeps this function's code small. */
untranslated:
	ct = 0;
send:
	return uplink_send(ctx, p, gen, c, &t, ct, in_gw, now, st);
}

/* A packet arriving on the uplink (port `in`, mode UPLINK). */
static __always_inline int nat_in(struct xdp_md *ctx, struct pkt *p, __u32 gen,
				  const struct xdpnet_port *in, __u64 now, __u32 version,
				  struct xdpnet_port_stats *st)
{
	const struct xdpnet_nat_config *c;
	const struct xdpnet_gateway *out_gw;
	struct xdpnet_ct_key k;
	struct xdpnet_ct *ct;
	struct tuple t = {};
	struct iphdr *ip;
	__u16 vid;
	int r;

	if (p->tag != TAG_NONE || p->eth->h_proto != bpf_htons(ETH_P_IP))
		return ROUTE_PASS;
	ip = ipv4_hdr(p);
	if (!ip)
		return ROUTE_PASS;
	if (ip->daddr != in->ipv4) {
		/* Routed in to a network behind this uplink that does not masquerade. */
		vid = route_vid(gen, ip->daddr);
		if (!vid)
			return ROUTE_PASS;
		c = natcfg_of(gen, vid);
		out_gw = gateway_of(gen, vid);
		if (!c || !out_gw || c->uplink_ifindex != in->ifindex || (c->flags & XDPNET_NAT_MASQ))
			return ROUTE_PASS;
		ctr_add(st, XDPNET_CTR_NAT_IN, 1);
		return route_deliver(ctx, p, ip, vid, out_gw, 0, 0, now, st, 0, 0);
	}
	if (icmp_error_key(ip, p->end, XDPNET_SIDE_UPLINK, &k)) {
		/* An error about one of our outbound connections. */
		ct = ct_lookup(&k, now);
		if (!ct)
			return ROUTE_PASS;
		if (ip->ttl <= 1)
			return -XDPNET_DROP_TTL_EXCEEDED;
		vid = ct->vid;
		out_gw = gateway_of(gen, vid);
		if (!out_gw)
			return -XDPNET_DROP_STALE_CONFIG;
		r = icmp_err_xlate(ctx, p, 0, ct->to_daddr, ct->to_dport);
		if (r)
			return -r;
		ip = ipv4_hdr(p);
		if (!ip)
			return -XDPNET_DROP_BAD_L3;
		ctr_add(st, XDPNET_CTR_NAT_IN, 1);
		return route_deliver(ctx, p, ip, vid, out_gw, 0, 0, now, st, 0, 0);
	}
	if (tuple_parse(ip, p->end, sizeof(struct ethhdr), &t))
		return ROUTE_PASS;
	if (t.frag == FRAG_LATER) {
		/* A later fragment whose first fragment was not seen cannot be
		 * told from the host's own: it goes up. */
		const struct xdpnet_ct_key *fk = frag_lookup(&t, XDPNET_SIDE_UPLINK, now);

		if (!fk)
			return ROUTE_PASS;
		k = *fk;
		ct = ct_lookup(&k, now);
		if (!ct)
			return ROUTE_PASS;
		goto tracked;
	}
	ct_key_of(&k, &t, XDPNET_SIDE_UPLINK);
	ct = ct_lookup(&k, now);
	if (!ct) {
		struct xdpnet_fwd_key fk = { .ifindex = in->ifindex, .port = t.dport, .proto = t.proto,
					     .gen = gen };
		const struct xdpnet_fwd *f;
		struct ct_pair *cp;

		if (t.proto == IPPROTO_ICMP)
			return ROUTE_PASS;
		f = bpf_map_lookup_elem(&xdpnet_fwd, &fk);
		if (!f)
			return ROUTE_PASS; /* the host's own traffic */
		c = natcfg_of(gen, f->vid);
		cp = ct_scratch();
		if (!c || !cp)
			return -XDPNET_DROP_STALE_CONFIG;
		if (tcp_without_syn(&t))
			return -XDPNET_DROP_NAT_NOT_SYN;
		if (ip->ttl <= 1)
			return -XDPNET_DROP_TTL_EXCEEDED;
		r = ct_new_dnat(cp, &t, f, c, now, gen, bpf_ntohs(ip->tot_len));
		if (r)
			return -r;
		ctr_add(st, XDPNET_CTR_NAT_NEW, 1);
		frag_remember(&t, XDPNET_SIDE_UPLINK, &k, now);
		ct = &cp->oval; /* as inserted, this packet counted */
		goto translate;
	}
	frag_remember(&t, XDPNET_SIDE_UPLINK, &k, now);
tracked:
	if (ip->ttl <= 1)
		return -XDPNET_DROP_TTL_EXCEEDED; /* before it is counted or rewritten */
	ct_seen(&k, ct, &t, bpf_ntohs(ip->tot_len), now, gen);
translate:
	flow_counted_by_conn(ct, t.tcp_flags, XDPNET_SLOT_NONE);
	/* Inbound, a connection's new destination is always a VM of its own
	 * network (forwards point inside their network's subnet): no route lookup. */
	vid = ct->vid;
	out_gw = gateway_of(gen, vid);
	if (!out_gw)
		return -XDPNET_DROP_STALE_CONFIG;
	r = xlate_xdp(ctx, p, &t, ct, st);
	if (r)
		return -r;
	ip = ipv4_hdr(p);
	if (!ip)
		return -XDPNET_DROP_BAD_L3;
	ctr_add(st, XDPNET_CTR_NAT_IN, 1);
	return route_deliver(ctx, p, ip, vid, out_gw, 0, 1, now, st, ct, version);
}

#endif
