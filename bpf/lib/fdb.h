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
static __always_inline void fdb_learn(const struct pkt *p, const struct xdpnet_port *in,
				      struct xdpnet_port_stats *st, __u64 now)
{
	struct xdpnet_fdb_key key = { .vlan = p->vid };
	struct xdpnet_fdb_entry *e;

	__builtin_memcpy(key.mac, p->eth->h_source, ETH_ALEN);
	e = bpf_map_lookup_elem(&xdpnet_fdb, &key);
	if (e) {
		if (e->slot == in->slot && e->ifindex == in->ifindex) {
			if (!(e->flags & XDPNET_FDB_STATIC) && now - e->last_seen_ns > FDB_REFRESH_NS)
				e->last_seen_ns = now;
			return;
		}
		if (e->flags & XDPNET_FDB_STATIC) {
			ctr_add(st, XDPNET_CTR_STATIC_CONFLICT, 1);
			return;
		}
		__u32 *n = bpf_map_lookup_elem(&xdpnet_maccnt, &(__u32){ in->slot });
		if (in->mac_limit && n && *n >= in->mac_limit) {
			/* The MAC left its old port but may not be learned here:
			 * forget it, so frames to it flood instead of going astray. */
			__u32 old = e->slot;
			if (bpf_map_delete_elem(&xdpnet_fdb, &key) == 0)
				maccnt_add(old, -1);
			ctr_add(st, XDPNET_CTR_LEARN_LIMITED, 1);
			return;
		}
		maccnt_add(e->slot, -1);
		e->ifindex = in->ifindex;
		e->slot = in->slot;
		e->last_seen_ns = now;
		if (n)
			__sync_fetch_and_add(n, 1);
		ctr_add(st, XDPNET_CTR_MOVED, 1);
		return;
	}

	__u32 *n = bpf_map_lookup_elem(&xdpnet_maccnt, &(__u32){ in->slot });
	if (in->mac_limit && n && *n >= in->mac_limit) {
		ctr_add(st, XDPNET_CTR_LEARN_LIMITED, 1);
		return;
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
	} else if (err != -17 /* EEXIST: another CPU learned it first */) {
		ctr_add(st, XDPNET_CTR_FDB_FULL, 1);
	}
}

/* The live port a known, unexpired destination sits behind, or NULL (flood). */
static __always_inline const struct xdpnet_port *fdb_lookup(const struct pkt *p, __u32 gen,
							    __u64 now, __u64 aging_ns)
{
	struct xdpnet_fdb_key key = { .vlan = p->vid };
	const struct xdpnet_fdb_entry *e;
	const struct xdpnet_port *out;

	__builtin_memcpy(key.mac, p->eth->h_dest, ETH_ALEN);
	e = bpf_map_lookup_elem(&xdpnet_fdb, &key);
	if (!e || fdb_expired(e, now, aging_ns))
		return 0;
	out = port_of_slot(gen, e->slot);
	/* An entry whose slot was reassigned, or torn mid-move: treat as unknown. */
	if (!out || out->ifindex != e->ifindex)
		return 0;
	return out;
}

#endif
