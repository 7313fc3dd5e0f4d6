/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Connection tracking and NAT (networks with an uplink).
 *
 * A connection is two xdpnet_ct entries created and removed together: the
 * originator's tuple and the reply tuple, each holding what its direction is
 * rewritten to. This file decides (lookup, create, track state); it does not
 * touch the packet, so the XDP fast path and the tc slow path share it. The
 * XDP rewrite is in xlate.h, the tc one in xdpnet.bpf.c (skb helpers).
 */
#ifndef XDPNET_BPF_NAT_H
#define XDPNET_BPF_NAT_H
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "common.h"
#include "csum.h"
#include "stats.h"
#include "../../maps/nat.h"

#define NS_PER_SEC 1000000000ULL

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* A packet's connection tuple and where its L4 header is. */
struct tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP echo request: the identifier; reply: 0 */
	__be16 dport; /* ICMP echo reply: the identifier; request: 0 */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 frag;    /* enum tuple_frag */
	__u32 l4_off; /* from the start of the frame */
	__be16 ip_id;
	__u16 pad;
};

enum tuple_frag {
	FRAG_NONE = 0,
	FRAG_FIRST = 1, /* more fragments follow; this one has the ports */
	FRAG_LATER = 2, /* offset > 0: no transport header, no ports */
};

static __always_inline const struct xdpnet_nat_config *natcfg_of(__u32 gen, __u16 vid)
{
	__u32 key = gen * XDPNET_VLAN_COUNT + (vid & VLAN_VID_MASK);
	const struct xdpnet_nat_config *c = bpf_map_lookup_elem(&xdpnet_natcfg, &key);

	return (c && c->uplink_ifindex) ? c : 0;
}

/* Parse TCP, UDP or ICMP echo behind ip (at l3_off in the frame). 0, or a
 * drop reason (nat_proto: another protocol, an ICMP error). A later fragment
 * (t->frag == FRAG_LATER) parses with its ports unknown. */
static __always_inline int tuple_parse(const struct iphdr *ip, void *end, __u32 l3_off,
				       struct tuple *t)
{
	void *l4 = (void *)ip + ip->ihl * 4;

	t->saddr = ip->saddr;
	t->daddr = ip->daddr;
	t->proto = ip->protocol;
	t->ip_id = ip->id;
	t->l4_off = l3_off + ip->ihl * 4;
	if (ip->frag_off & bpf_htons(0x1fff)) {
		t->frag = FRAG_LATER;
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP &&
		    ip->protocol != IPPROTO_ICMP)
			return XDPNET_DROP_NAT_PROTO;
		return 0;
	}
	t->frag = (ip->frag_off & bpf_htons(0x2000)) ? FRAG_FIRST : FRAG_NONE;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return XDPNET_DROP_BAD_L3;
		t->sport = th->source;
		t->dport = th->dest;
		t->tcp_flags = ((__u8 *)th)[13];
		return 0;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return XDPNET_DROP_BAD_L3;
		t->sport = uh->source;
		t->dport = uh->dest;
		return 0;
	}
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *ih = l4;

		if ((void *)(ih + 1) > end)
			return XDPNET_DROP_BAD_L3;
		t->icmp_type = ih->type;
		if (ih->type == ICMP_ECHO) {
			t->sport = ih->un.echo.id;
			t->dport = 0;
			return 0;
		}
		if (ih->type == ICMP_ECHOREPLY) {
			t->sport = 0;
			t->dport = ih->un.echo.id;
			return 0;
		}
	}
	return XDPNET_DROP_NAT_PROTO;
}

/* The key is written as 32-bit words, the way the map's hash reads it: a
 * word load over narrow stores (the ports, the protocol and side) cannot be
 * forwarded from the store buffer and waits for the stores to retire. */
static __always_inline void ct_key_of(struct xdpnet_ct_key *k, const struct tuple *t, __u8 side)
{
	__u32 *w = (__u32 *)k;

	w[0] = t->saddr;
	w[1] = t->daddr;
	w[2] = (__u32)t->sport | (__u32)t->dport << 16;
	w[3] = (__u32)t->proto | (__u32)side << 8;
}

static __always_inline int ct_fresh(const struct xdpnet_ct *ct, __u64 now)
{
	return now - ct->last_seen_ns <= (__u64)ct->timeout_s * NS_PER_SEC || now < ct->last_seen_ns;
}

/* A half is alive while it or its peer saw a packet within the timeout:
 * a one-way UDP stream keeps its reply half. */
static __always_inline int ct_alive(const struct xdpnet_ct_key *k, const struct xdpnet_ct *ct,
				    __u64 now)
{
	const struct xdpnet_ct *peer;
	struct xdpnet_ct_key pk;

	if (ct_fresh(ct, now))
		return 1;
	xdpnet_ct_peer(&pk, k, ct);
	peer = bpf_map_lookup_elem(&xdpnet_ct, &pk);
	return peer && ct_fresh(peer, now);
}

static __always_inline __u64 *ct_count_of(__u16 vid)
{
	__u32 key = vid & VLAN_VID_MASK;

	return bpf_map_lookup_elem(&xdpnet_ctcount, &key);
}

/* Remove both halves; the one that removes the original half also takes the
 * connection off its network's count (so a race counts it once). */
static __always_inline int ct_delete_pair(const struct xdpnet_ct_key *k, const struct xdpnet_ct *ct)
{
	struct xdpnet_ct_key peer;
	int original = ct->flags & XDPNET_CT_ORIGINAL;
	__u16 vid = ct->vid;
	int gone_peer, gone_self;

	xdpnet_ct_peer(&peer, k, ct);
	gone_peer = bpf_map_delete_elem(&xdpnet_ct, &peer) == 0;
	gone_self = bpf_map_delete_elem(&xdpnet_ct, k) == 0;

	if (original ? gone_self : gone_peer) {
		__u64 *n = ct_count_of(vid);

		if (n && *n)
			__sync_fetch_and_add(n, -1);
		return 1;
	}
	return 0;
}

static __always_inline __u8 ct_initial_state(__u8 proto)
{
	if (proto == IPPROTO_TCP)
		return XDPNET_CT_TCP_SYN_SENT;
	return proto == IPPROTO_UDP ? XDPNET_CT_UDP : XDPNET_CT_ICMP;
}

static __always_inline __u32 ct_timeout_of(const struct xdpnet_nat_config *c, __u8 state)
{
	switch (state) {
	case XDPNET_CT_TCP_SYN_SENT:
	case XDPNET_CT_TCP_SYN_RECV:
		return c->timeout_s[XDPNET_TO_TCP_SYN];
	case XDPNET_CT_TCP_ESTABLISHED:
		return c->timeout_s[XDPNET_TO_TCP_EST];
	case XDPNET_CT_TCP_CLOSING:
		return c->timeout_s[XDPNET_TO_TCP_CLOSING];
	case XDPNET_CT_UDP:
		return c->timeout_s[XDPNET_TO_UDP];
	default:
		return c->timeout_s[XDPNET_TO_ICMP];
	}
}

/* TCP: SYN_SENT -(reply SYN+ACK)-> SYN_RECV -(original ACK)-> ESTABLISHED;
 * FIN or RST in any state -> CLOSING. Both halves carry the state. */
static __always_inline __u8 tcp_next_state(__u8 state, __u8 flags, int original)
{
	if (flags & (TCPF_FIN | TCPF_RST))
		return XDPNET_CT_TCP_CLOSING;
	if (state == XDPNET_CT_TCP_SYN_SENT && !original &&
	    (flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK))
		return XDPNET_CT_TCP_SYN_RECV;
	if (state == XDPNET_CT_TCP_SYN_RECV && original && (flags & (TCPF_SYN | TCPF_ACK)) == TCPF_ACK)
		return XDPNET_CT_TCP_ESTABLISHED;
	return state;
}

/* Account a packet on a live half (key k) and move the TCP state machine. */
static __always_inline void ct_seen(const struct xdpnet_ct_key *k, struct xdpnet_ct *ct,
				    const struct tuple *t, __u32 len, __u64 now, __u32 gen)
{
	ct->last_seen_ns = now;
	ct->packets++;
	ct->bytes += len;
	if (t->proto != IPPROTO_TCP)
		return;
	__u8 next = tcp_next_state(ct->state, t->tcp_flags, ct->flags & XDPNET_CT_ORIGINAL);
	if (next == ct->state)
		return;
	const struct xdpnet_nat_config *c = natcfg_of(gen, ct->vid);
	__u32 timeout = c ? ct_timeout_of(c, next) : ct->timeout_s;
	struct xdpnet_ct_key pk;
	struct xdpnet_ct *peer;

	xdpnet_ct_peer(&pk, k, ct);
	peer = bpf_map_lookup_elem(&xdpnet_ct, &pk);
	ct->state = next;
	ct->timeout_s = timeout;
	if (peer) {
		peer->state = next;
		peer->timeout_s = timeout;
		peer->last_seen_ns = now;
	}
}

/* Is `port` reserved by a port forward of this network's uplink? */
static __always_inline int port_forwarded(const struct xdpnet_nat_config *c, __u8 proto,
					  __u16 port, __u32 gen)
{
	struct xdpnet_fwd_key k = { .ifindex = c->uplink_ifindex, .port = bpf_htons(port),
				    .proto = proto, .gen = gen };

	if (!(c->flags & XDPNET_NAT_FORWARDS))
		return 0;
	return bpf_map_lookup_elem(&xdpnet_fwd, &k) != 0;
}

struct ct_pair {
	struct xdpnet_ct_key okey; /* originator's tuple */
	struct xdpnet_ct oval;
	struct xdpnet_ct_key rkey; /* reply tuple; rkey.dport is the allocated port */
	struct xdpnet_ct rval;
};

/* Per-CPU scratch for building a pair: 160 bytes the stack cannot spare. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_pair);
} xdpnet_ctscratch SEC(".maps");

static __always_inline struct ct_pair *ct_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xdpnet_ctscratch, &zero);
}

/* The IPv4 header checksum change of a TTL decrement: the (ttl, protocol)
 * word goes down by 0x0100 whatever its value (the TTL is at least 2 when a
 * translated packet is forwarded), i.e. ~htons(0x0100) is added. */
#define CSUM_TTL_DEC ((__u16)~bpf_htons(0x0100))

/* A half's checksum changes (xdpnet_ct.csum_l3/csum_l4): from its key's
 * tuple to the one it rewrites to; the header's also covers the TTL
 * decrement every translated packet gets (xdpnet_xlate does both). ICMP has
 * no pseudo-header: only the echo identifier (the key's sport or dport)
 * counts. */
static __always_inline void ct_csum_prep(const struct xdpnet_ct_key *k, struct xdpnet_ct *v)
{
	__u32 l3 = csum_change4(k->saddr, v->to_saddr) + csum_change4(k->daddr, v->to_daddr);
	__u32 ports = csum_change2(k->sport, v->to_sport) + csum_change2(k->dport, v->to_dport);

	v->csum_l3 = csum_fold32(l3 + CSUM_TTL_DEC);
	v->csum_l4 = csum_fold32(k->proto == IPPROTO_ICMP ? ports : l3 + ports);
}

/* Insert both halves (a global function: verified once). With alloc, the reply half's dport (and the original
 * half's to_sport) is a source port picked from the network's range: the
 * originator's own when it is in range, free and not forwarded, otherwise
 * random probes. 0, or a drop reason. The pair's values are complete apart
 * from the port and the peers, which this fills in. */
__attribute__((noinline)) int xdpnet_ct_insert(struct ct_pair *cp, const struct xdpnet_nat_config *c,
						__u32 gen, __u32 alloc, __u32 want)
{
	__u32 size, start = 0, started = 0;
	__u64 *count;
	int err = -17;

	if (!cp || !c || c->port_hi < c->port_lo)
		return XDPNET_DROP_STALE_CONFIG;
	count = ct_count_of(cp->oval.vid);
	if (!count)
		return XDPNET_DROP_STALE_CONFIG;
	if (c->max_conns && *count >= c->max_conns)
		return XDPNET_DROP_NAT_LIMIT;
	size = (__u32)c->port_hi - c->port_lo + 1;

	for (int i = 0; i < XDPNET_NAT_PROBES; i++) {
		if (alloc) {
			__u16 port = want;

			/* Half the probes random (allocated ports cluster, so a
			 * random probe escapes a run), then a sequential sweep
			 * from a random point (small ranges are covered whole). */
			if (i > 0 && i < XDPNET_NAT_PROBES / 2) {
				port = c->port_lo + bpf_get_prandom_u32() % size;
			} else if (i > 0 || port < c->port_lo || port > c->port_hi) {
				if (!started) {
					start = bpf_get_prandom_u32();
					started = 1;
				}
				port = c->port_lo + (start + i) % size;
			}
			if (port_forwarded(c, cp->okey.proto, port, gen))
				continue;
			cp->rkey.dport = bpf_htons(port);
			cp->oval.to_sport = bpf_htons(port);
		}
		ct_csum_prep(&cp->rkey, &cp->rval);
		err = bpf_map_update_elem(&xdpnet_ct, &cp->rkey, &cp->rval, BPF_NOEXIST);
		if (err != -17 /* EEXIST */ || !alloc)
			break;
	}
	if (err == -17)
		return alloc ? XDPNET_DROP_NAT_NO_PORT : XDPNET_DROP_CT_FULL;
	if (err)
		return XDPNET_DROP_CT_FULL;
	ct_csum_prep(&cp->okey, &cp->oval);
	err = bpf_map_update_elem(&xdpnet_ct, &cp->okey, &cp->oval, BPF_NOEXIST);
	if (err) {
		bpf_map_delete_elem(&xdpnet_ct, &cp->rkey);
		return XDPNET_DROP_CT_FULL;
	}
	__sync_fetch_and_add(count, 1);
	return 0;
}

/* A pair as it stands after its first packet (len bytes, in the original
 * direction): counted on the original half, the TCP state moved by its
 * flags, so the caller can translate that packet with cp->oval and skip
 * looking the inserted half up again. */
static __always_inline void ct_pair_init(struct ct_pair *cp, const struct tuple *t,
					 const struct xdpnet_nat_config *c, __u16 vid, __u64 now,
					 __u32 len, __u32 port)
{
	__u8 state = ct_initial_state(t->proto);
	__u32 timeout;

	if (t->proto == IPPROTO_TCP)
		state = tcp_next_state(state, t->tcp_flags, 1);
	timeout = ct_timeout_of(c, state);
	__builtin_memset(cp, 0, sizeof(*cp));
	cp->oval.state = cp->rval.state = state;
	cp->oval.timeout_s = cp->rval.timeout_s = timeout;
	cp->oval.last_seen_ns = cp->rval.last_seen_ns = now;
	cp->oval.created_s = cp->rval.created_s = now / NS_PER_SEC;
	cp->oval.vid = cp->rval.vid = vid;
	cp->oval.packets = 1;
	cp->oval.bytes = len;
	cp->oval.tcp_flags = t->proto == IPPROTO_TCP ? t->tcp_flags : 0;
	cp->oval.port = port;
	cp->rval.port = XDPNET_SLOT_NONE; /* a VM-side reply half learns it */
}

/*
 * New connections. The caller has checked there is no live entry for the
 * tuple. Each fills a ct_pair and inserts it; the original half's key is the
 * packet's own tuple, and cp->oval is what was inserted for it (with this
 * packet counted), which the caller translates the packet with.
 *
 *   SNAT     VM a:p -> r:q          becomes  U:n -> r:q      (n allocated)
 *   hairpin  VM a:p -> U:f          becomes  U:n -> t:g      (forward f -> t:g)
 *   DNAT     uplink r:q -> U:f      becomes  r:q -> t:g
 */
static __always_inline int ct_new_snat(struct ct_pair *cp, const struct tuple *t,
				       const struct xdpnet_nat_config *c, __u16 vid, __u64 now,
				       __u32 gen, __u32 len, __u32 port)
{
	ct_pair_init(cp, t, c, vid, now, len, port);
	ct_key_of(&cp->okey, t, XDPNET_SIDE_VM);
	cp->oval.flags = XDPNET_CT_ORIGINAL | XDPNET_CT_SNAT | XDPNET_CT_PEER_UPLINK;
	cp->oval.to_saddr = c->uplink_ip;
	cp->oval.to_daddr = t->daddr;
	cp->oval.to_dport = t->dport;
	/* Replies: r:q -> U:n on the uplink, back to a:p. */
	cp->rkey.saddr = t->daddr;
	cp->rkey.daddr = c->uplink_ip;
	cp->rkey.sport = t->dport;
	cp->rkey.proto = t->proto;
	cp->rkey.side = XDPNET_SIDE_UPLINK;
	cp->rval.flags = XDPNET_CT_SNAT;
	cp->rval.to_saddr = t->daddr;
	cp->rval.to_daddr = t->saddr;
	cp->rval.to_sport = t->dport;
	cp->rval.to_dport = t->sport;
	return drop_reason_clamp(xdpnet_ct_insert(cp, c, gen, 1, bpf_ntohs(t->sport)));
}

static __always_inline int ct_new_hairpin(struct ct_pair *cp, const struct tuple *t,
					  const struct xdpnet_fwd *f,
					  const struct xdpnet_nat_config *c, __u16 vid, __u64 now,
					  __u32 gen, __u32 len, __u32 port)
{
	ct_pair_init(cp, t, c, vid, now, len, port);
	ct_key_of(&cp->okey, t, XDPNET_SIDE_VM);
	cp->oval.flags = XDPNET_CT_ORIGINAL | XDPNET_CT_SNAT | XDPNET_CT_DNAT;
	cp->oval.to_saddr = c->uplink_ip;
	cp->oval.to_daddr = f->addr;
	cp->oval.to_dport = f->port;
	/* Replies: t:g -> U:n from the target VM, back to a:p as from U:f. */
	cp->rkey.saddr = f->addr;
	cp->rkey.daddr = c->uplink_ip;
	cp->rkey.sport = f->port;
	cp->rkey.proto = t->proto;
	cp->rkey.side = XDPNET_SIDE_VM;
	cp->rval.flags = XDPNET_CT_SNAT | XDPNET_CT_DNAT;
	cp->rval.to_saddr = c->uplink_ip;
	cp->rval.to_daddr = t->saddr;
	cp->rval.to_sport = t->dport;
	cp->rval.to_dport = t->sport;
	return drop_reason_clamp(xdpnet_ct_insert(cp, c, gen, 1, bpf_ntohs(t->sport)));
}

static __always_inline int ct_new_dnat(struct ct_pair *cp, const struct tuple *t,
				       const struct xdpnet_fwd *f,
				       const struct xdpnet_nat_config *c, __u64 now, __u32 gen,
				       __u32 len)
{
	ct_pair_init(cp, t, c, f->vid, now, len, XDPNET_SLOT_NONE);
	ct_key_of(&cp->okey, t, XDPNET_SIDE_UPLINK);
	cp->oval.flags = XDPNET_CT_ORIGINAL | XDPNET_CT_DNAT;
	cp->oval.to_saddr = t->saddr;
	cp->oval.to_sport = t->sport;
	cp->oval.to_daddr = f->addr;
	cp->oval.to_dport = f->port;
	/* Replies: t:g -> r:q from the VM, back as from U:f. */
	cp->rkey.saddr = f->addr;
	cp->rkey.daddr = t->saddr;
	cp->rkey.sport = f->port;
	cp->rkey.dport = t->sport;
	cp->rkey.proto = t->proto;
	cp->rkey.side = XDPNET_SIDE_VM;
	cp->rval.flags = XDPNET_CT_DNAT | XDPNET_CT_PEER_UPLINK;
	cp->rval.to_saddr = t->daddr;
	cp->rval.to_sport = t->dport;
	cp->rval.to_daddr = t->saddr;
	cp->rval.to_dport = t->sport;
	return drop_reason_clamp(xdpnet_ct_insert(cp, c, gen, 0, 0));
}

static __always_inline void frag_key_of(struct xdpnet_frag_key *fk, const struct tuple *t, __u8 side)
{
	fk->saddr = t->saddr;
	fk->daddr = t->daddr;
	fk->id = t->ip_id;
	fk->proto = t->proto;
	fk->side = side;
}

/* A first fragment: remember which connection half its datagram belongs to. */
static __always_inline void frag_remember(const struct tuple *t, __u8 side,
					  const struct xdpnet_ct_key *k, __u64 now)
{
	struct xdpnet_frag_key fk;
	struct xdpnet_frag f = { .ct = *k, .seen_ns = now };

	if (t->frag != FRAG_FIRST)
		return;
	frag_key_of(&fk, t, side);
	bpf_map_update_elem(&xdpnet_frag, &fk, &f, BPF_ANY);
}

/* A later fragment: the key of its first fragment's connection half, or
 * NULL when that was not seen (or is older than the reassembly timeout). */
static __always_inline const struct xdpnet_ct_key *frag_lookup(const struct tuple *t, __u8 side,
							       __u64 now)
{
	struct xdpnet_frag_key fk;
	struct xdpnet_frag *f;

	frag_key_of(&fk, t, side);
	f = bpf_map_lookup_elem(&xdpnet_frag, &fk);
	if (!f || now - f->seen_ns > XDPNET_FRAG_TIMEOUT_NS)
		return 0;
	return &f->ct;
}

/* The live half for a packet's tuple, or NULL. A half whose connection
 * expired (both halves idle past their timeout) is removed on the way. */
static __always_inline struct xdpnet_ct *ct_lookup(const struct xdpnet_ct_key *k, __u64 now)
{
	struct xdpnet_ct *ct = bpf_map_lookup_elem(&xdpnet_ct, k);

	if (!ct || ct_alive(k, ct, now))
		return ct;
	ct_delete_pair(k, ct);
	return 0;
}

#endif
