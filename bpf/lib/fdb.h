/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Stages 3 and 4: learn the source, look up the destination. */
#ifndef XDPNET_BPF_FDB_H
#define XDPNET_BPF_FDB_H
#include "common.h"
#include "parse.h"
#include "port.h"
#include "stats.h"
#include "../../maps/fdb.h"

static __always_inline void maccnt_add(__u32 slot, int delta)
{
	__u32 *n = bpf_map_lookup_elem(&xdpnet_maccnt, &slot);

	if (n)
		__sync_fetch_and_add(n, delta);
}

/* The FDB version the cache must match; bumped on every move or removal. */
static __always_inline __u32 fdb_version(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&xdpnet_fdbver, &zero);
	return v ? *v : 0;
}

static __always_inline void fdb_version_bump(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&xdpnet_fdbver, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u64 fdb_key_word(const struct xdpnet_fdb_key *k)
{
	__u64 w;
	__builtin_memcpy(&w, k, sizeof(w));
	return w;
}

/* The key (vid, the MAC at mac, in the frame) as fdb_key_word reads it, a
 * little-endian word: built in registers from a 2- and a 4-byte load. A
 * key assembled on the stack by narrow stores and read back as one word
 * stalls that load (the store buffer cannot forward it), and every frame
 * does this twice. */
static __always_inline __u64 fdb_key_of(__u16 vid, const __u8 *mac)
{
	return (__u64)vid | (__u64)*(const __u16 *)mac << 16 |
	       (__u64)*(const __u32 *)(mac + 2) << 32;
}

/* The cache slot of a key word: multiplicative (Fibonacci) hashing. */
static __always_inline struct xdpnet_fdb_cache *fdb_cache_slot(__u64 kw)
{
	__u32 idx = (__u32)((kw * 0x9E3779B97F4A7C15ULL) >> 52) & (XDPNET_FDB_CACHE_SIZE - 1);
	return bpf_map_lookup_elem(&xdpnet_fdbcache, &idx);
}

/* A valid cached "key is behind (slot, ifindex)", or NULL. */
static __always_inline const struct xdpnet_fdb_cache *
fdb_cache_get(const struct xdpnet_fdb_cache *c, __u64 kw, __u64 now, __u32 version)
{
	if (c && c->valid && c->version == version && fdb_key_word(&c->key) == kw &&
	    now - c->stamp_ns < XDPNET_FDB_CACHE_TTL_NS)
		return c;
	return 0;
}

static __always_inline void fdb_cache_put(struct xdpnet_fdb_cache *c, __u64 kw, __u32 slot,
					  __u32 ifindex, __u64 now, __u32 version)
{
	if (!c)
		return;
	__builtin_memcpy(&c->key, &kw, sizeof(kw));
	c->stamp_ns = now;
	c->version = version;
	c->ifindex = ifindex;
	c->slot = slot;
	c->valid = 1;
}

static __always_inline int fdb_expired(const struct xdpnet_fdb_entry *e, __u64 now, __u64 aging_ns)
{
	return !(e->flags & XDPNET_FDB_STATIC) && aging_ns && now - e->last_seen_ns > aging_ns;
}

/*
 * Learn (vid, source MAC) on the ingress port. Static entries are never
 * moved; a dynamic entry seen on another port moves there (counted); a new
 * MAC beyond the port's mac_limit, or into a full table, is not learned
 * (counted) but its frame is still forwarded.
 */
static __always_inline int fdb_learn_slow(__u64 kw, const struct xdpnet_port *in,
					  struct xdpnet_port_stats *st, __u64 now);

/* Stage 3. The per-CPU cache answers most frames ("this MAC was behind this
 * port less than a second ago and nothing moved since"); the rest take the
 * FDB path, and refill the cache when the FDB now maps the MAC here. */
static __always_inline void fdb_learn(const struct pkt *p, const struct xdpnet_port *in,
				      struct xdpnet_port_stats *st, __u64 now, __u32 version)
{
	__u64 kw = fdb_key_of(p->vid, p->eth->h_source);
	struct xdpnet_fdb_cache *c = fdb_cache_slot(kw);
	const struct xdpnet_fdb_cache *hit = fdb_cache_get(c, kw, now, version);

	if (hit && hit->slot == in->slot && hit->ifindex == in->ifindex)
		return;
	if (fdb_learn_slow(kw, in, st, now))
		fdb_cache_put(c, kw, in->slot, in->ifindex, now, version);
}

/* The FDB itself. Returns 1 when it now maps the key to the ingress port. */
static __always_inline int fdb_learn_slow(__u64 kw, const struct xdpnet_port *in,
					  struct xdpnet_port_stats *st, __u64 now)
{
	struct xdpnet_fdb_key key;
	struct xdpnet_fdb_entry *e;

	__builtin_memcpy(&key, &kw, sizeof(kw));
	e = bpf_map_lookup_elem(&xdpnet_fdb, &key);
	if (e) {
		if (e->slot == in->slot && e->ifindex == in->ifindex) {
			if (!(e->flags & XDPNET_FDB_STATIC) && now - e->last_seen_ns > FDB_REFRESH_NS)
				e->last_seen_ns = now;
			return 1;
		}
		if (e->flags & XDPNET_FDB_STATIC) {
			ctr_add(st, XDPNET_CTR_STATIC_CONFLICT, 1);
			return 0;
		}
		__u32 *n = bpf_map_lookup_elem(&xdpnet_maccnt, &(__u32){ in->slot });
		if (in->mac_limit && n && *n >= in->mac_limit) {
			/* The MAC left its old port but may not be learned here:
			 * forget it, so frames to it flood instead of going astray. */
			__u32 old = e->slot;
			if (bpf_map_delete_elem(&xdpnet_fdb, &key) == 0)
				maccnt_add(old, -1);
			fdb_version_bump();
			ctr_add(st, XDPNET_CTR_LEARN_LIMITED, 1);
			return 0;
		}
		maccnt_add(e->slot, -1);
		e->ifindex = in->ifindex;
		e->slot = in->slot;
		e->last_seen_ns = now;
		if (n)
			__sync_fetch_and_add(n, 1);
		fdb_version_bump();
		ctr_add(st, XDPNET_CTR_MOVED, 1);
		return 1;
	}

	__u32 *n = bpf_map_lookup_elem(&xdpnet_maccnt, &(__u32){ in->slot });
	if (in->mac_limit && n && *n >= in->mac_limit) {
		ctr_add(st, XDPNET_CTR_LEARN_LIMITED, 1);
		return 0;
	}
	struct xdpnet_fdb_entry fresh = {
		.last_seen_ns = now,
		.ifindex = in->ifindex,
		.slot = in->slot,
	};
	long err = bpf_map_update_elem(&xdpnet_fdb, &key, &fresh, BPF_NOEXIST);
	if (err == 0) {
		if (n)
			__sync_fetch_and_add(n, 1);
		ctr_add(st, XDPNET_CTR_LEARNED, 1);
		return 1;
	}
	if (err != -17 /* EEXIST: another CPU learned it first */)
		ctr_add(st, XDPNET_CTR_FDB_FULL, 1);
	return 0;
}

/* The live port a known, unexpired destination sits behind, or NULL (flood). */
static __always_inline const struct xdpnet_port *fdb_lookup(const struct pkt *p, __u32 gen,
							    __u64 now, __u64 aging_ns,
							    __u32 version)
{
	__u64 kw = fdb_key_of(p->vid, p->eth->h_dest);
	struct xdpnet_fdb_cache *c = fdb_cache_slot(kw);
	const struct xdpnet_fdb_cache *hit = fdb_cache_get(c, kw, now, version);
	const struct xdpnet_fdb_entry *e;
	const struct xdpnet_port *out;
	struct xdpnet_fdb_key key;
	__u32 slot, ifindex;

	if (hit) {
		slot = hit->slot;
		ifindex = hit->ifindex;
	} else {
		__builtin_memcpy(&key, &kw, sizeof(kw));
		e = bpf_map_lookup_elem(&xdpnet_fdb, &key);
		if (!e || fdb_expired(e, now, aging_ns))
			return 0;
		slot = e->slot;
		ifindex = e->ifindex;
		fdb_cache_put(c, kw, slot, ifindex, now, version);
	}
	out = port_of_slot(gen, slot);
	/* An entry whose slot was reassigned, or torn mid-move: treat as unknown. */
	if (!out || out->ifindex != ifindex)
		return 0;
	return out;
}

#endif
