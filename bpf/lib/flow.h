/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Stage 2c: per-flow accounting (abi.h: struct xdpnet_flow). After the frame's
 * VLAN is known, its flow is found in this CPU's region of xdpnet_flows or
 * takes a slot there; the later stages record on it (through p->flow) where
 * the packet went, what NAT made of it, or why it was dropped (stats.h).
 *
 * The key is built as five 64-bit words (IPv4 as IPv4-mapped IPv6), hashed
 * with multiplies, and compared word by word: no helper call, no lock. IPv6
 * extension headers are not walked: such a flow's protocol is the first
 * next header and its ports are 0.
 */
#ifndef XDPNET_BPF_FLOW_H
#define XDPNET_BPF_FLOW_H
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "common.h"
#include "l3.h"
#include "stats.h"
#include "../../maps/flows.h"

#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

union flow_words {
	struct xdpnet_flow_key k;
	__u64 w[5];
};

/* The key's last word (abi.h: sport, dport, proto, in_slot, vid, read as a
 * little-endian word) from its parts. */
static __always_inline __u64 flow_w4(__u32 ports, __u8 proto, __u32 in_slot, __u16 vid)
{
	return ports | (__u64)proto << 32 | (__u64)(in_slot & 0xff) << 40 | (__u64)vid << 48;
}

/* The transport fields of a flow at l4 (not a later fragment) as the key's
 * sport and dport read together: ports, or ICMP's type and code as the
 * destination port; and TCP's flags. Each of these headers has at least 4
 * bytes: a shorter one is keyed without them. */
static __always_inline __u32 flow_ports(__u8 proto, void *l4, void *end, __u8 *tcp_flags)
{
	__u8 *b = l4;
	__u32 w;

	if ((void *)(b + 4) > end)
		return 0;
	w = *(__u32 *)b;
	if (proto == IPPROTO_TCP) {
		if ((void *)(b + 14) <= end)
			*tcp_flags = b[13];
		return w;
	}
	if (proto == IPPROTO_UDP)
		return w;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return w << 16; /* type, code */
	return 0;
}

/* Fills the key of an IPv4 or IPv6 frame and its hash, and returns its IP
 * length (what IPFIX's octet counts count: IP header and payload); 0 when it
 * is not IP (or its header is cut short: a later stage drops it,
 * unaccounted). The key is formed in registers and stored as whole words:
 * the hash does not wait for it, and the compare's word loads are served by
 * word stores (narrow stores under a word load stall the load). */
static __always_inline __u32 flow_key_of(const struct pkt *p, __u32 in_slot, union flow_words *fw,
					 __u64 *hash, __u8 *tcp_flags, __u8 *v6)
{
	__u32 off = p->tag == TAG_8021Q ? sizeof(struct ethhdr) + VLAN_HLEN : sizeof(struct ethhdr);
	__be16 eproto;
	__u32 len;
	void *l3;

	/* A variable offset gives the headers' pointers an identity of their
	 * own: the bounds proved on them here do not spread to the frame's
	 * pointers in p, which would split the verifier's states (and double
	 * its work) for the whole rest of the pipeline. */
	asm volatile("" : "+r"(off));
	if (off < sizeof(struct ethhdr) || off > sizeof(struct ethhdr) + VLAN_HLEN)
		return 0;
	l3 = p->data + off;
	if (l3 + sizeof(struct iphdr) > p->end)
		return 0;
	/* The EtherType right before the IP header, tag or not (parse_l2
	 * classified the frame: an 802.1Q tag is whole). */
	eproto = *(__be16 *)((__u8 *)l3 - 2);

	if (eproto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 ports = 0;

		if (ip->ihl < 5)
			return 0;
		if (!(ip->frag_off & bpf_htons(0x1fff)))
			ports = flow_ports(ip->protocol, l3 + ip->ihl * 4, p->end, tcp_flags);
		fw->w[0] = 0;
		fw->w[1] = 0xffff0000ULL | ((__u64)ip->saddr << 32);
		fw->w[2] = 0;
		fw->w[3] = 0xffff0000ULL | ((__u64)ip->daddr << 32);
		fw->w[4] = flow_w4(ports, ip->protocol, in_slot, p->vid);
		*hash = xdpnet_flow_hash(fw->w); /* the zero words fold away */
		*v6 = 0;
		len = bpf_ntohs(ip->tot_len);
	} else if (eproto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		__u64 *a;

		if ((void *)(ip6 + 1) > p->end)
			return 0;
		a = (__u64 *)&ip6->saddr;
		fw->w[0] = a[0];
		fw->w[1] = a[1];
		fw->w[2] = a[2];
		fw->w[3] = a[3];
		fw->w[4] = flow_w4(flow_ports(ip6->nexthdr, ip6 + 1, p->end, tcp_flags),
				   ip6->nexthdr, in_slot, p->vid);
		*hash = xdpnet_flow_hash(fw->w);
		*v6 = XDPNET_FLOW_IPV6;
		len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	} else {
		return 0;
	}
	/* The header's length, but never more than the frame carries: a VM
	 * must not inflate its own counts. */
	if (len > p->len - off)
		len = p->len - off;
	return len ? len : 1;
}

static __always_inline int flow_key_eq(const struct xdpnet_flow *f, const union flow_words *fw)
{
	const __u64 *w = (const __u64 *)&f->key;

	return w[0] == fw->w[0] && w[1] == fw->w[1] && w[2] == fw->w[2] && w[3] == fw->w[3] &&
	       w[4] == fw->w[4];
}

/* A flow leaves its slot: its record goes to the daemon's ring buffer (no
 * wakeup: the daemon polls), or is counted as lost when the ring is full. */
static __always_inline void flow_evict(const struct xdpnet_flow *f, __u32 index, __u32 cpu,
				       struct xdpnet_port_stats *st)
{
	struct xdpnet_flow_event *e = bpf_ringbuf_reserve(&xdpnet_flow_events, sizeof(*e), 0);

	if (!e) {
		ctr_add(st, XDPNET_CTR_FLOW_LOST, 1);
		return;
	}
	__builtin_memcpy(&e->flow, f, sizeof(*f));
	e->index = index;
	e->cpu = cpu;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	ctr_add(st, XDPNET_CTR_FLOW_EVICTED, 1);
}

/* Of two slots holding other flows: is a seen no later than b? */
static __always_inline int flow_older(const struct xdpnet_flow *a, const struct xdpnet_flow *b)
{
	return (__s32)(a->last - b->last) <= 0;
}

#define FLOW_META(bits, v6, in_slot, tcp_flags, len)                                               \
	((__u64)(bits) | (__u64)(v6) << 8 | (__u64)((in_slot) & 0xff) << 16 |                       \
	 (__u64)(tcp_flags) << 24 | (__u64)(len) << 32)

/* A packet on a flow's slot. */
static __always_inline void flow_count(struct xdpnet_flow *f, __u32 len, __u64 now, __u8 tcp_flags)
{
	f->packets++;
	f->bytes += len;
	f->last = now >> XDPNET_FLOW_TIME_SHIFT;
	f->tcp_flags |= tcp_flags;
}

/* A key not in its first pair (index `first`, even, in this CPU's region):
 * its slot in the second pair if it is there, else a slot for it: the first
 * free one of the first pair then the second, else the one seen longest ago
 * (ties: in that order), whose flow goes to the ring buffer. The key is the
 * CPU's scratch key (flow_account built it). Counts the packet there and
 * returns the slot + 1, or 0. A function of its own: new flows are the rare
 * path, the verifier checks it once (not at each of flow_account's inlined
 * copies), and nothing of the inline path has to outlive a call. meta:
 * FLOW_META(flow_bits, IPv6 flag, ingress slot, TCP flags, IP length). */
__noinline int xdpnet_flow_place(__u32 first, __u64 hash, __u64 now, __u64 meta)
{
	__u32 zero = 0, bits = meta & 0xff, in_slot = (meta >> 16) & 0xff, cpu, i0, i1, i2, i3, idx;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);
	struct xdpnet_port_stats *st = stats_of(in_slot);
	struct xdpnet_flow *s0, *s1, *s2, *s3, *f;
	union flow_words *fw;

	if (!fc || !bits || bits > XDPNET_FLOW_BITS_MAX)
		return 0;
	fw = (union flow_words *)&fc->key;
	cpu = first >> bits;
	i0 = first & ~1u;
	i1 = i0 | 1;
	i2 = (cpu << bits) | xdpnet_flow_pair2(hash, bits);
	i3 = i2 | 1;
	s0 = bpf_map_lookup_elem(&xdpnet_flows, &i0);
	s1 = bpf_map_lookup_elem(&xdpnet_flows, &i1);
	s2 = bpf_map_lookup_elem(&xdpnet_flows, &i2);
	s3 = bpf_map_lookup_elem(&xdpnet_flows, &i3);
	if (!s0 || !s1 || !s2 || !s3)
		return 0;
	if (i2 != i0) {
		if (flow_key_eq(s2, fw)) {
			flow_count(s2, meta >> 32, now, meta >> 24);
			return i2 + 1;
		}
		if (flow_key_eq(s3, fw)) {
			flow_count(s3, meta >> 32, now, meta >> 24);
			return i3 + 1;
		}
	}
	/* A new flow. */
	if (!s0->packets) {
		f = s0, idx = i0;
	} else if (!s1->packets) {
		f = s1, idx = i1;
	} else if (!s2->packets) {
		f = s2, idx = i2;
	} else if (!s3->packets) {
		f = s3, idx = i3;
	} else {
		f = s0, idx = i0;
		if (!flow_older(f, s1))
			f = s1, idx = i1;
		if (!flow_older(f, s2))
			f = s2, idx = i2;
		if (!flow_older(f, s3))
			f = s3, idx = i3;
		flow_evict(f, idx, cpu, st);
	}
	__builtin_memcpy(&f->key, &fw->k, sizeof(fw->k));
	f->packets = 0;
	f->bytes = 0;
	f->tcp_flags = 0;
	f->out_slot = 0;
	f->flags = (meta >> 8) & XDPNET_FLOW_IPV6;
	f->drop_reason = 0;
	f->first_ns = now;
	f->serial = ++fc->serial;
	f->drops = 0;
	f->nat_saddr = 0;
	f->nat_daddr = 0;
	f->nat_sport = 0;
	f->nat_dport = 0;
	ctr_add(st, XDPNET_CTR_FLOW_NEW, 1);
	flow_count(f, meta >> 32, now, meta >> 24);
	return idx + 1;
}

/* The frame's key (into the CPU's scratch), its hash, its first pair's
 * index and FLOW_META; 0 when it is not accounted (accounting off, not IP). */
static __always_inline __u32 flow_begin(const struct pkt *p, const struct xdpnet_config *cfg,
					__u32 in_slot, struct xdpnet_flow_cpu **fcp, __u64 *hash,
					__u64 *meta)
{
	__u32 zero = 0, bits = cfg->flow_bits, len;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);
	__u8 tcp_flags = 0, v6;

	*fcp = fc;
	if (!fc)
		return 0;
	fc->cur = 0;
	fc->pend = 0;
	if (!bits || bits > XDPNET_FLOW_BITS_MAX)
		return 0;
	len = flow_key_of(p, in_slot, (union flow_words *)&fc->key, hash, &tcp_flags, &v6);
	if (!len)
		return 0;
	*meta = FLOW_META(bits, v6, in_slot, tcp_flags, len);
	return ((bpf_get_smp_processor_id() << bits) | xdpnet_flow_pair(*hash, bits)) + 1;
}

/* The slot of the CPU's scratch key, whose first pair starts at idx, found
 * (or placed, by xdpnet_flow_place) and the packet counted there: the slot
 * + 1, or 0 (no slot). A known flow in its first pair (nearly all, until the
 * table fills) is found inline. */
static __always_inline __u32 flow_slot_count(const struct xdpnet_flow_cpu *fc, __u32 idx, __u64 hash,
					     __u64 now, __u64 meta)
{
	struct xdpnet_flow *f = bpf_map_lookup_elem(&xdpnet_flows, &idx);
	int r;

	if (!f)
		return 0;
	if (!flow_key_eq(f, (const union flow_words *)&fc->key)) {
		idx |= 1;
		f = bpf_map_lookup_elem(&xdpnet_flows, &idx);
		if (!f)
			return 0;
		if (!flow_key_eq(f, (const union flow_words *)&fc->key)) {
			r = xdpnet_flow_place(idx, hash, now, meta);
			return r > 0 ? r : 0;
		}
	}
	flow_count(f, meta >> 32, now, meta >> 24);
	return idx + 1;
}

/* Accounts the frame to its flow and makes it the CPU's current flow. Sets
 * p->flow (0: not accounted: accounting off, not IP, or no slot). */
static __always_inline void flow_account(struct pkt *p, const struct xdpnet_config *cfg,
					 __u32 in_slot, __u64 now)
{
	struct xdpnet_flow_cpu *fc;
	__u64 hash, meta;
	__u32 first;

	p->flow = 0;
	first = flow_begin(p, cfg, in_slot, &fc, &hash, &meta);
	if (!first || !fc)
		return;
	fc->cur = flow_slot_count(fc, first - 1, hash, now, meta);
	/* Read back from the map: the verifier then knows the same of p->flow
	 * whichever way the slot was found, and prunes the rest of the
	 * pipeline as one state instead of exploring it once per way. */
	p->flow = *(volatile __u32 *)&fc->cur;
}

/* Stage 2a for a frame that may belong to a translated connection (one sent
 * to a gateway's router MAC, or arriving on an uplink): its key is built,
 * its slot left for later. The connection's half counts a packet it
 * translates (flow_counted_by_conn), and the flow table then never sees it;
 * any other packet takes its slot when a stage first records on it
 * (flow_of, flow_note_drop) or when it leaves (flow_finish). */
static __always_inline void flow_defer(struct pkt *p, const struct xdpnet_config *cfg,
				       __u32 in_slot, __u64 now)
{
	struct xdpnet_flow_cpu *fc;
	__u64 hash, meta;
	__u32 first;

	p->flow = 0;
	first = flow_begin(p, cfg, in_slot, &fc, &hash, &meta);
	if (!first || !fc)
		return;
	fc->hash = hash;
	fc->meta = meta;
	fc->now = now;
	fc->pend = first;
}

/* The deferred packet's slot, found (or placed) and counted now: flow_account's
 * work for a packet flow_defer left pending. Returns the slot + 1, or 0 (none
 * pending, or no slot). A global function: called from several stages, it is
 * verified once. */
__noinline int xdpnet_flow_settle(void)
{
	__u32 zero = 0, first;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

	if (!fc || !fc->pend)
		return 0;
	first = fc->pend;
	fc->pend = 0;
	fc->cur = flow_slot_count(fc, first - 1, fc->hash, fc->now, fc->meta);
	return fc->cur;
}

/* A translated packet is counted by its connection's half (ct: its TCP flags
 * and, on the VM side, its port; nat.h counts packets and bytes): its flow
 * takes no slot. */
static __always_inline void flow_counted_by_conn(struct xdpnet_ct *ct, __u8 tcp_flags, __u32 vm_port)
{
	__u32 zero = 0;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

	if (fc)
		fc->pend = 0;
	if ((ct->tcp_flags | tcp_flags) != ct->tcp_flags)
		ct->tcp_flags |= tcp_flags;
	if (ct->port != (__u8)vm_port)
		ct->port = vm_port;
}

/* When the packet leaves xdpnet_ingress: a deferred packet that no stage
 * recorded on and no connection counted takes its slot now. */
static __always_inline void flow_finish(void)
{
	__u32 zero = 0;
	struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

	if (fc && fc->pend)
		xdpnet_flow_settle();
}

/* The current packet's flow slot, or NULL. A deferred packet's is found
 * now (or was, by an earlier stage: the CPU's cur says which). */
static __always_inline struct xdpnet_flow *flow_of(const struct pkt *p)
{
	__u32 idx = p->flow - 1;

	if (!p->flow) {
		__u32 zero = 0;
		struct xdpnet_flow_cpu *fc = bpf_map_lookup_elem(&xdpnet_flow_cpu, &zero);

		if (!fc)
			return 0;
		if (fc->pend)
			xdpnet_flow_settle();
		if (!fc->cur)
			return 0;
		idx = fc->cur - 1;
	}
	return bpf_map_lookup_elem(&xdpnet_flows, &idx);
}

/* Where the current packet went. */
static __always_inline void flow_out(const struct pkt *p, __u32 out_slot)
{
	struct xdpnet_flow *f = flow_of(p);

	if (f) {
		f->out_slot = out_slot;
		f->flags |= XDPNET_FLOW_FORWARDED;
	}
}

static __always_inline void flow_flag(const struct pkt *p, __u8 flag)
{
	struct xdpnet_flow *f = flow_of(p);

	if (f)
		f->flags |= flag;
}

/* What NAT made of the current packet (recorded once per flow, and again
 * whenever a connection is new: its port may differ from an earlier one). */
static __always_inline void flow_nat(const struct pkt *p, __be32 saddr, __be32 daddr,
				     __be16 sport, __be16 dport, int renew)
{
	struct xdpnet_flow *f = flow_of(p);

	if (!f || ((f->flags & XDPNET_FLOW_NAT) && !renew))
		return;
	f->nat_saddr = saddr;
	f->nat_daddr = daddr;
	f->nat_sport = sport;
	f->nat_dport = dport;
	f->flags |= XDPNET_FLOW_NAT;
}

#endif
