/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Policing: token buckets shared by all CPUs (abi.h: xdpnet_bucket),
 * lock-free. One clock reading per packet (the pipeline's), refills in exact
 * integers, one compare-and-exchange per bucket and frame. A spin lock cost
 * 43 ns a frame here (the IRQ save/restore around it); this costs one
 * atomic. */
#ifndef XDPNET_BPF_POLICE_H
#define XDPNET_BPF_POLICE_H
#include "common.h"
#include "dscp.h"
#include "ipinfo.h"
#include "stats.h"
#include "../../maps/qos.h"

#define BUCKET_TRIES 4 /* compare-and-exchange attempts before giving up */

static __always_inline __u64 read_once(const __u64 *p)
{
	return *(const volatile __u64 *)p;
}

/* Credits elapsed_ns worth of tokens, up to the depth (which also clamps a
 * bucket above a depth a new policy lowered). Losing every attempt to other
 * CPUs drops the credit: never more than the rate, at worst a little less. */
static __always_inline void bucket_credit(__u64 *tokens, const struct xdpnet_rate *r, __u64 elapsed)
{
	__u64 add, t, next;

	if (!r->rate)
		return;
	/* elapsed < fill_ns keeps elapsed x rate below depth + rate: no overflow. */
	add = elapsed >= r->fill_ns ? r->depth : elapsed * r->rate;
#pragma unroll
	for (int i = 0; i < BUCKET_TRIES; i++) {
		t = read_once(tokens);
		next = (t >= r->depth || add >= r->depth - t) ? r->depth : t + add;
		if (__sync_val_compare_and_swap(tokens, t, next) == t)
			return;
	}
}

/* Takes cost tokens if the bucket holds them: 1, else 0. */
static __always_inline int bucket_debit(__u64 *tokens, __u64 cost)
{
	__u64 t;

#pragma unroll
	for (int i = 0; i < BUCKET_TRIES; i++) {
		t = read_once(tokens);
		if (t < cost)
			return 0;
		if (__sync_val_compare_and_swap(tokens, t, t - cost) == t)
			return 1;
	}
	return 0;
}

/* Takes a frame of `len` bytes from the buckets: 1 if every limited bucket
 * had enough, else 0. The CPU whose clock moves last_ns forward credits the
 * interval; a clock behind last_ns (another CPU got there at a later tick)
 * credits nothing, and last_ns never moves back. */
static __always_inline int bucket_take(struct xdpnet_bucket *b, const struct xdpnet_policer *pol,
				       __u32 len, __u64 now)
{
	const __u64 cost = (__u64)len * XDPNET_BIT_COST;
	__u64 last = read_once(&b->last_ns);

	if (now > last && __sync_val_compare_and_swap(&b->last_ns, last, now) == last) {
		/* A bucket's first frame: it starts full. */
		__u64 elapsed = last ? now - last : ~0ULL;

		bucket_credit(&b->bits, &pol->bits, elapsed);
		bucket_credit(&b->packets, &pol->packets, elapsed);
		if (b->full_s != pol->full_s)
			b->full_s = pol->full_s;
	}
	if (pol->bits.rate && !bucket_debit(&b->bits, cost))
		return 0;
	if (pol->packets.rate && !bucket_debit(&b->packets, XDPNET_TOKEN_SCALE)) {
		if (pol->bits.rate)
			__sync_fetch_and_add(&b->bits, cost); /* give the bits back */
		return 0;
	}
	return 1;
}

/* Over the rate with exceed: remark: the frame's DSCP becomes `dscp`. A
 * global function (the rare path, verified once): it reads the frame again. */
__noinline int xdpnet_remark(struct xdp_md *ctx, __u32 dscp)
{
	struct ipinfo ii;
	struct pkt p = {};

	if (!ctx)
		return 0;
	pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	if (parse_l2(&p) == STAGE_CONTINUE && ip_parse(&p, &ii) == STAGE_CONTINUE && ii.family)
		dscp_set(&ii, dscp & 63);
	return 0;
}

/* A frame the policer refused: STAGE_CONTINUE after a remark, or `reason`. */
static __always_inline int police_exceeded(struct xdp_md *ctx, const struct xdpnet_policer *pol,
					   struct xdpnet_port_stats *st, int reason)
{
	if (pol->exceed != XDPNET_EXCEED_REMARK)
		return reason;
	xdpnet_remark(ctx, pol->remark_dscp);
	ctr_add(st, XDPNET_CTR_REMARKED, 1);
	return STAGE_CONTINUE;
}

/* A port's policer in one direction (its flags say it has one): the frame
 * (len bytes) is admitted, remarked, or refused with the reason returned. */
static __always_inline int police_port(struct xdp_md *ctx, __u32 gen, __u16 slot, __u32 dir,
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
	return police_exceeded(ctx, pol, st, dir == XDPNET_DIR_IN ? XDPNET_DROP_POLICE_IN
								  : XDPNET_DROP_POLICE_OUT);
}

/* police_source's keys: per CPU, off the callers' crowded stacks. */
struct limit_scratch {
	struct xdpnet_limit_key lk;
	struct xdpnet_limit_src sk;
	struct xdpnet_bucket fresh; /* zeros: a new bucket */
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
static __always_inline int police_source(struct xdp_md *ctx, struct pkt *p,
					 const struct ipinfo *ii, __u32 gen, __u64 now,
					 struct xdpnet_port_stats *st)
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
		__builtin_memset(&x->fresh, 0, sizeof(x->fresh));
		if (bpf_map_update_elem(&xdpnet_limit_state, &x->sk, &x->fresh, BPF_NOEXIST)) {
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
	return police_exceeded(ctx, &lim->pol, st, XDPNET_DROP_LIMIT);
}

#endif
