/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stage 4e: the ACL, between the forwarding decision (which names the VLAN
 * the packet is delivered in) and delivery. Tuple-space search (abi.h): one
 * hash probe per rule shape, shapes in order of their first rule, stopping
 * when no later shape can hold an earlier rule than the best match so far.
 * A stateful allow records the connection under its replies' key; a packet
 * the rules deny is let in when it is such a reply. IPv4 and IPv6; frames
 * that are not IP are not subject to the ACL. */
#ifndef XDPNET_BPF_ACL_H
#define XDPNET_BPF_ACL_H
#include <linux/tcp.h>

#include "common.h"
#include "ipinfo.h"
#include "stats.h"
#include "../../maps/acl.h"

#define ACL_CONN_SHAPE 0xff    /* the shape byte of connection keys */
#define ACL_CONN_REFRESH_NS 1000000000ULL /* last_seen is rewritten at most this often */
#define ACL_KEY_WORDS (sizeof(struct xdpnet_acl_key) / 8)

static __always_inline const struct xdpnet_acl_config *acl_config_of(__u32 gen)
{
	return bpf_map_lookup_elem(&xdpnet_aclcfg, &gen);
}

static __always_inline void acl_key_of(struct xdpnet_acl_key *k, const struct ipinfo *ii,
				       __u16 in_slot, __u16 from_vlan, __u16 to_vlan)
{
	k->shape = 0;
	k->family = ii->family;
	k->proto = ii->proto;
	k->pad = 0;
	k->in_slot = in_slot;
	k->from_vlan = from_vlan;
	k->to_vlan = to_vlan;
	k->sport = ii->sport;
	k->dport = ii->dport;
	k->pad2 = 0;
	ip_addr_copy(k->src, ii, 0);
	ip_addr_copy(k->dst, ii, 1);
}

/* The key the connection's replies carry. */
static __always_inline void acl_reply_key(struct xdpnet_acl_key *r, const struct xdpnet_acl_key *k)
{
	*r = *k;
	r->shape = ACL_CONN_SHAPE;
	r->in_slot = 0;
	r->from_vlan = k->to_vlan;
	r->to_vlan = k->from_vlan;
	r->sport = k->dport;
	r->dport = k->sport;
	__builtin_memcpy(r->src, k->dst, 16);
	__builtin_memcpy(r->dst, k->src, 16);
}

static __always_inline int tcp_closing(const struct pkt *p, const struct ipinfo *ii)
{
	struct tcphdr *th = ii->l4;

	if (ii->proto != IPPROTO_TCP || !th || (void *)(th + 1) > p->end)
		return 0;
	return th->fin || th->rst;
}

static __always_inline __u64 acl_conn_timeout_ns(const struct xdpnet_acl_config *cfg, __u8 proto,
						 __u8 closing)
{
	__u32 s;

	if (proto == IPPROTO_TCP)
		s = cfg->timeout_s[closing ? XDPNET_TO_TCP_CLOSING : XDPNET_TO_TCP_EST];
	else if (proto == IPPROTO_UDP)
		s = cfg->timeout_s[XDPNET_TO_UDP];
	else
		s = cfg->timeout_s[XDPNET_TO_ICMP];
	return (__u64)s * 1000000000ULL;
}

/* A stateful allow: (re)record the connection under its replies' key. */
static __always_inline void acl_track(const struct pkt *p, const struct ipinfo *ii,
				      const struct xdpnet_acl_key *k, struct xdpnet_acl_key *rk,
				      __u32 rule, __u64 now, struct xdpnet_port_stats *st)
{
	struct xdpnet_acl_conn *c, fresh = { .last_seen_ns = now, .rule = rule };
	__u8 closing = tcp_closing(p, ii);

	acl_reply_key(rk, k);
	c = bpf_map_lookup_elem(&xdpnet_aclconn, rk);
	if (c) {
		if ((now > c->last_seen_ns && now - c->last_seen_ns >= ACL_CONN_REFRESH_NS) ||
		    closing > c->closing) {
			c->last_seen_ns = now;
			c->closing |= closing;
		}
		return;
	}
	fresh.closing = closing;
	if (bpf_map_update_elem(&xdpnet_aclconn, rk, &fresh, BPF_ANY))
		ctr_add(st, XDPNET_CTR_ACL_TRACK_FAILED, 1);
}

/* A packet the rules deny: is it a reply of a connection a stateful rule
 * allowed (and not idle past its timeout)? */
static __always_inline int acl_is_reply(const struct pkt *p, const struct ipinfo *ii,
					const struct xdpnet_acl_config *cfg,
					struct xdpnet_acl_key *k, __u64 now)
{
	struct xdpnet_acl_conn *c;
	__u64 age;

	k->shape = ACL_CONN_SHAPE;
	k->in_slot = 0;
	c = bpf_map_lookup_elem(&xdpnet_aclconn, k);
	if (!c)
		return 0;
	/* A record stamped at a later tick by another CPU is fresh. */
	age = now > c->last_seen_ns ? now - c->last_seen_ns : 0;
	if (age > acl_conn_timeout_ns(cfg, k->proto, c->closing))
		return 0;
	if (age >= ACL_CONN_REFRESH_NS)
		c->last_seen_ns = now;
	if (tcp_closing(p, ii))
		c->closing = 1;
	return 1;
}

static __always_inline void acl_hit(__u32 rule, __u32 len)
{
	struct xdpnet_acl_hits *h = bpf_map_lookup_elem(&xdpnet_aclhits, &rule);

	if (h) {
		h->packets++;
		h->bytes += len;
	}
}

/* The search's state: per CPU rather than on the stack, which the callers'
 * frames have mostly used up (a program may not nest on one CPU). */
struct acl_search {
	struct xdpnet_acl_key k __attribute__((aligned(8)));
	struct xdpnet_acl_key m __attribute__((aligned(8)));
	struct xdpnet_acl_key rk __attribute__((aligned(8)));
	__u32 gen;
	__u32 best; /* rule index; XDPNET_ACL_MAX_RULES: none yet (the default) */
	__u8 action;
	__u8 flags;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct acl_search);
} xdpnet_aclscratch SEC(".maps");

struct acl_loop {
	struct acl_search *s; /* bpf_loop's context must live on the stack */
};

/* bpf_loop body: one shape. */
static long acl_probe(__u32 i, struct acl_loop *l)
{
	struct acl_search *s = l->s;
	__u32 idx = s->gen * XDPNET_ACL_MAX_SHAPES + i;
	const struct xdpnet_acl_shape *sh;
	const struct xdpnet_acl_verdict *v;
	const __u64 *kw = (const __u64 *)&s->k;
	__u64 *mw = (__u64 *)&s->m;
	const __u64 *sw;

	if (!s || i >= XDPNET_ACL_MAX_SHAPES)
		return 1;
	sh = bpf_map_lookup_elem(&xdpnet_aclshape, &idx);
	if (!sh || sh->best >= s->best)
		return 1; /* no later shape holds an earlier rule */
	sw = (const __u64 *)&sh->mask;
#pragma unroll
	for (int w = 0; w < (int)ACL_KEY_WORDS; w++)
		mw[w] = kw[w] & sw[w];
	s->m.shape = idx;
	v = bpf_map_lookup_elem(&xdpnet_acl, &s->m);
	if (v && v->rule < s->best) {
		s->best = v->rule;
		s->action = v->action;
		s->flags = v->flags;
	}
	return 0;
}

/* STAGE_CONTINUE (allowed) or a drop reason (callers clamp it). A global
 * function, verified once for its three call sites: it reads the frame
 * again from ctx. vlans: from_vlan << 16 | to_vlan, where the packet came
 * from and is delivered (0: an uplink); five arguments at most. */
__noinline int xdpnet_acl_check(struct xdp_md *ctx, __u32 gen, __u32 in_slot, __u32 vlans,
				__u64 now)
{
	const __u16 from_vlan = vlans >> 16, to_vlan = vlans & 0xffff;
	struct xdpnet_port_stats *st = stats_of(in_slot);
	const struct xdpnet_acl_config *cfg;
	struct acl_search *s;
	struct acl_loop l;
	struct ipinfo ii;
	struct pkt p = {};
	__u32 zero = 0;
	int r;

	if (!ctx)
		return 0;
	s = bpf_map_lookup_elem(&xdpnet_aclscratch, &zero);
	if (!s)
		return XDPNET_DROP_STALE_CONFIG;
	gen &= 1;
	cfg = acl_config_of(gen);
	if (!cfg)
		return XDPNET_DROP_STALE_CONFIG;
	pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	r = parse_l2(&p);
	if (r)
		return r;
	r = ip_parse(&p, &ii);
	if (r || !ii.family)
		return r;
	s->gen = gen;
	s->best = XDPNET_ACL_MAX_RULES;
	s->action = cfg->default_action;
	s->flags = 0;
	acl_key_of(&s->k, &ii, in_slot, from_vlan, to_vlan);
	l.s = s;
	bpf_loop(cfg->shapes, acl_probe, &l, 0);
	acl_hit(s->best, frame_len(ctx));
	if (s->action == XDPNET_ACL_ALLOW) {
		if (s->flags & XDPNET_ACL_STATEFUL)
			acl_track(&p, &ii, &s->k, &s->rk, s->best, now, st);
		return STAGE_CONTINUE;
	}
	if (cfg->stateful && acl_is_reply(&p, &ii, cfg, &s->k, now)) {
		ctr_add(st, XDPNET_CTR_ACL_REPLY, 1);
		return STAGE_CONTINUE;
	}
	return XDPNET_DROP_ACL_DENY;
}

static __always_inline int acl_check(struct xdp_md *ctx, __u32 gen, __u16 in_slot,
				     __u16 from_vlan, __u16 to_vlan, __u64 now)
{
	return drop_reason_clamp(
		xdpnet_acl_check(ctx, gen, in_slot, (__u32)from_vlan << 16 | to_vlan, now));
}

#endif
