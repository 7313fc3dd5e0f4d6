/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Policing: token buckets shared by all CPUs (abi.h: xdpnet_bucket). One
 * clock reading per packet (the pipeline's), refills in exact integers, the
 * bucket's spin lock held for a few arithmetic instructions only. */
#ifndef XDPNET_BPF_POLICE_H
#define XDPNET_BPF_POLICE_H
#include "common.h"
#include "dscp.h"
#include "ipinfo.h"
#include "stats.h"
#include "../../maps/qos.h"

/* Adds elapsed_ns worth of tokens, up to the depth. elapsed < fill_ns keeps
 * elapsed x rate below depth + rate, so nothing overflows (abi.h bounds). */
static __always_inline __u64 bucket_refill(__u64 tokens, const struct xdpnet_rate *r,
					   __u64 elapsed)
{
	if (elapsed >= r->fill_ns)
		return r->depth;
	tokens += elapsed * r->rate;
	return tokens < r->depth ? tokens : r->depth;
}

/* Takes a frame of `len` bytes from the bucket: 1 if both limited buckets
 * had enough, else 0 (and nothing is taken). A clock behind the bucket's
 * (another CPU refilled at a later tick) refills nothing and keeps last_ns. */
static __always_inline int bucket_take(struct xdpnet_bucket *b, const struct xdpnet_policer *pol,
				       __u32 len, __u64 now)
{
	const __u64 cost = (__u64)len * XDPNET_BIT_COST;
	__u64 elapsed, bits, pkts;
	int ok;

	bpf_spin_lock(&b->lock);
	if (b->last_ns == 0) {
		/* A bucket's first frame: it starts full. */
		b->bits = pol->bits.depth;
		b->packets = pol->packets.depth;
		b->last_ns = now;
	}
	elapsed = now > b->last_ns ? now - b->last_ns : 0;
	if (now > b->last_ns)
		b->last_ns = now;
	bits = pol->bits.rate ? bucket_refill(b->bits, &pol->bits, elapsed) : 0;
	pkts = pol->packets.rate ? bucket_refill(b->packets, &pol->packets, elapsed) : 0;
	ok = (!pol->bits.rate || bits >= cost) &&
	     (!pol->packets.rate || pkts >= XDPNET_TOKEN_SCALE);
	if (ok) {
		bits -= pol->bits.rate ? cost : 0;
		pkts -= pol->packets.rate ? XDPNET_TOKEN_SCALE : 0;
	}
	b->bits = bits;
	b->packets = pkts;
	b->full_s = pol->full_s;
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* Over the rate: STAGE_CONTINUE after a remark, or the drop reason. */
static __always_inline int police_exceeded(struct pkt *p, const struct xdpnet_policer *pol,
					   struct xdpnet_port_stats *st, int reason)
{
	struct ipinfo ii;

	if (pol->exceed != XDPNET_EXCEED_REMARK)
		return reason;
	if (ip_parse(p, &ii) == STAGE_CONTINUE && ii.family)
		dscp_set(&ii, pol->remark_dscp);
	ctr_add(st, XDPNET_CTR_REMARKED, 1);
	return STAGE_CONTINUE;
}

/* A port's policer in one direction (its flags say it has one). */
static __always_inline int police_port(struct pkt *p, __u32 gen, __u16 slot, __u32 dir,
				       __u32 len, __u64 now, struct xdpnet_port_stats *st)
{
	__u32 ci = (gen * XDPNET_MAX_PORTS + slot) * 2 + dir;
	__u32 bi = slot * 2 + dir;
	const struct xdpnet_policer *pol = bpf_map_lookup_elem(&xdpnet_policers, &ci);
	struct xdpnet_bucket *b = bpf_map_lookup_elem(&xdpnet_buckets, &bi);

	if (!pol || !b)
		return XDPNET_DROP_STALE_CONFIG;
	if (bucket_take(b, pol, len, now))
		return STAGE_CONTINUE;
	return police_exceeded(p, pol, st, dir == XDPNET_DIR_IN ? XDPNET_DROP_POLICE_IN
								: XDPNET_DROP_POLICE_OUT);
}

/* police_source's keys: per CPU, off the callers' crowded stacks. */
struct limit_scratch {
	struct xdpnet_limit_key lk;
	struct xdpnet_limit_src sk;
	__u8 fresh[sizeof(struct xdpnet_bucket)]; /* zeros: a new bucket (raw bytes: a
						     per-CPU map may not hold a spin lock) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct limit_scratch);
} xdpnet_limscratch SEC(".maps");

/* Per-address limits: the source's own bucket under the longest limit
 * prefix holding it. A source without one gets a fresh (full) bucket; when
 * the table is full the limit's shared overflow bucket applies instead. */
static __always_inline int police_source(struct pkt *p, const struct ipinfo *ii, __u32 gen,
					 __u64 now, struct xdpnet_port_stats *st)
{
	const struct xdpnet_limit *lim;
	struct limit_scratch *x;
	struct xdpnet_bucket *b;
	__u32 zero = 0;

	x = bpf_map_lookup_elem(&xdpnet_limscratch, &zero);
	if (!x)
		return XDPNET_DROP_STALE_CONFIG;
	__builtin_memset(&x->lk, 0, sizeof(x->lk));
	x->lk.prefixlen = 32 + (ii->family == 4 ? 32 : 128);
	x->lk.gen = gen;
	x->lk.family = ii->family;
	ip_addr_copy(x->lk.addr, ii, 0);
	lim = bpf_map_lookup_elem(&xdpnet_limits, &x->lk);
	if (!lim)
		return STAGE_CONTINUE;
	__builtin_memset(&x->sk, 0, sizeof(x->sk));
	x->sk.id = lim->id;
	x->sk.family = ii->family;
	__builtin_memcpy(x->sk.addr, x->lk.addr, 16);
	b = bpf_map_lookup_elem(&xdpnet_limit_state, &x->sk);
	if (!b) {
		__builtin_memset(x->fresh, 0, sizeof(x->fresh));
		if (bpf_map_update_elem(&xdpnet_limit_state, &x->sk, x->fresh, BPF_NOEXIST)) {
			b = bpf_map_lookup_elem(&xdpnet_limit_state, &x->sk); /* lost a race? */
			if (!b) {
				ctr_add(st, XDPNET_CTR_LIMIT_FULL, 1);
				x->sk.family = 0;
				__builtin_memset(x->sk.addr, 0, 16);
			}
		}
		if (!b)
			b = bpf_map_lookup_elem(&xdpnet_limit_state, &x->sk);
		if (!b)
			return XDPNET_DROP_STALE_CONFIG;
	}
	if (bucket_take(b, &lim->pol, p->len, now))
		return STAGE_CONTINUE;
	return police_exceeded(p, &lim->pol, st, XDPNET_DROP_LIMIT);
}

#endif
