// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xdpnet datapath: the bridged-mode L2 switch and the router between its
 * networks.
 *
 *   xdpnet_ingress       XDP on every port: parse -> VLAN -> security, policing,
 *                        marking -> learn -> gateway -> route (-> NAT out of the
 *                        uplink) -> ACL -> deliver (egress policing); on uplinks: NAT in
 *   xdpnet_nat_slow      tc on ports: NAT packets whose uplink neighbour is unresolved
 *   xdpnet_flood_egress  XDP in each VLAN flood devmap entry: per-port tag pop
 *   xdpnet_host_flood    tc ingress on host ports: flood with the host's copy
 *   xdpnet_fdb_gc        run by the loader: one aging pass, arms the gc timer
 *
 * docs/architecture.md walks through these stage by stage.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/port.h"
#include "lib/stats.h"
#include "lib/vlan.h"
#include "lib/fdb.h"
#include "lib/flood.h"
#include "lib/gateway.h"
#include "lib/route.h"
#include "lib/uplink.h"
#include "lib/portsec.h"
#include "lib/police.h"
#include "lib/acl.h"
#include "lib/flow.h"
#include "lib/capture.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Frames on an interface the live policy does not know: not ours, pass. */
static __always_inline int not_a_port(void)
{
	ctr_inc_slot(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT);
	return XDP_PASS;
}

static __always_inline int to_host(const struct pkt *p, struct xdpnet_port_stats *st)
{
	flow_flag(p, XDPNET_FLOW_TO_HOST);
	ctr_add(st, XDPNET_CTR_TO_HOST, 1);
	return XDP_PASS;
}

/* Stage 2b: what a port may send (security), its marking and how fast
 * (policing, per-address limits), before it is learned or forwarded. The
 * DSCP mark comes first so a policer's remark wins over it. A global
 * function (verified once, with its own stack): it reads the frame and the
 * port again. Returns STAGE_CONTINUE or a drop reason (callers clamp it). */
__noinline int xdpnet_port_controls(struct xdp_md *ctx, __u32 gen, __u32 slot, __u64 now,
				    __u32 limits)
{
	const struct xdpnet_port *in;
	struct xdpnet_port_stats *st = stats_of(slot);
	struct ipinfo ii;
	struct pkt p = {};
	int r;

	if (!ctx)
		return STAGE_CONTINUE;
	gen &= 1;
	in = port_of_slot(gen, slot);
	if (!in)
		return XDPNET_DROP_STALE_CONFIG;
	pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	r = parse_l2(&p);
	if (r)
		return r;
	p.len = frame_len(ctx);
	r = ip_parse(&p, &ii);
	if (r)
		return r;
	if (in->flags & (XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP | XDPNET_PORT_SEC_GUARD)) {
		r = port_secure(&p, &ii, gen, in);
		if (r)
			return r;
	}
	if ((in->flags & XDPNET_PORT_DSCP) && ii.family) {
		dscp_set(&ii, in->dscp);
		ctr_add(st, XDPNET_CTR_DSCP_MARKED, 1);
	}
	if (in->flags & XDPNET_PORT_POLICE_IN) {
		r = police_port(ctx, gen, slot, XDPNET_DIR_IN, p.len, now, st);
		if (r)
			return r;
	}
	if (limits && ii.family)
		return police_source(ctx, &p, &ii, gen, now, st);
	return STAGE_CONTINUE;
}

#define PORT_CONTROL_FLAGS                                                                  \
	(XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP | XDPNET_PORT_SEC_GUARD | XDPNET_PORT_DSCP | \
	 XDPNET_PORT_POLICE_IN)

/* Stage 5a: known unicast leaves through the transmit devmap, tagged for the
 * egress port, through its egress policer. A routed frame may leave through
 * its ingress port (a trunk carrying both VLANs); a switched one never does. */
static __always_inline int forward_unicast(struct xdp_md *ctx, struct pkt *p, __u32 gen,
					   const struct xdpnet_port *in,
					   const struct xdpnet_port *out,
					   struct xdpnet_port_stats *st, int routed, __u64 now)
{
	int r;

	if (out->slot == in->slot && !routed)
		return xdp_drop(st, XDPNET_DROP_SAME_PORT);
	if (!port_has_vlan(out, p->vid))
		return xdp_drop(st, XDPNET_DROP_EGRESS_NOT_MEMBER);
	r = xdp_vlan_egress(ctx, p, out);
	if (r)
		return xdp_drop(st, r);
	if (out->flags & XDPNET_PORT_POLICE_OUT) {
		struct xdpnet_port_stats *ost = stats_of(out->slot);

		r = police_port(ctx, gen, out->slot, XDPNET_DIR_OUT, frame_len(ctx), now, ost);
		if (r) {
			drop_count(ost, r);
			flow_note_drop(r);
			return XDP_DROP;
		}
	}
	r = bpf_redirect_map(&xdpnet_tx, gen * XDPNET_MAX_PORTS + out->slot, XDP_ABORTED);
	if (r != XDP_REDIRECT)
		return xdp_drop(st, XDPNET_DROP_NO_TX_PORT);
	flow_out(p, out->slot);
	ctr_inc_slot(out->slot, XDPNET_CTR_TX_UNICAST);
	return XDP_REDIRECT;
}

/* A reply the router built in place goes back out of the ingress port,
 * through the transmit devmap rather than XDP_TX: veth kicks its peer's NAPI
 * for XDP_TX only when the peer runs an XDP program, so a reply could sit in
 * the ring indefinitely. It is a unicast frame that port sends (st is its
 * stats). */
static __always_inline int send_back(const struct pkt *p, __u32 gen,
				     const struct xdpnet_port *in, struct xdpnet_port_stats *st)
{
	int r = bpf_redirect_map(&xdpnet_tx, gen * XDPNET_MAX_PORTS + in->slot, XDP_ABORTED);

	if (r != XDP_REDIRECT)
		return xdp_drop(st, XDPNET_DROP_NO_TX_PORT);
	flow_out(p, in->slot);
	ctr_add(st, XDPNET_CTR_TX_UNICAST, 1);
	return r;
}

/* The end of routing (stages 4b/4d, and the uplink's ingress): act on a
 * route_verdict. A routed frame is delivered in its new VLAN like any frame
 * (5a/5b), except that it may leave through the port it came in on. */
static __always_inline int route_finish(struct xdp_md *ctx, struct pkt *p, __u32 gen,
					const struct xdpnet_port *in,
					const struct xdpnet_config *cfg, __u64 now,
					__u32 version, struct xdpnet_port_stats *st, int r,
					__u16 from_vid)
{
	const struct xdpnet_port *out;

	/* Routing may have rebuilt the frame (by global functions, whose
	 * results the verifier cannot tie to the verdict): bound it again. */
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + sizeof(struct ethhdr) > end)
		return r == ROUTE_REDIRECT ? XDP_REDIRECT : xdp_drop(st, XDPNET_DROP_BAD_L3);
	pkt_reload(p, data, end);
	switch (r) {
	case ROUTE_DELIVER:
		/* Stage 4e: the ACL, now that the target network is known. */
		if (cfg->acl) {
			int a = acl_check(ctx, gen, in->slot, from_vid, p->vid, now);

			if (a)
				return xdp_drop(st, a);
		}
		out = fdb_lookup(p, gen, now, cfg->aging_ns, version);
		if (out)
			return forward_unicast(ctx, p, gen, in, out, st, 1, now);
		return xdp_flood(ctx, p, gen, st, 0);
	case ROUTE_TX:
		return send_back(p, gen, in, st);
	case ROUTE_FLOOD:
		return xdp_flood(ctx, p, gen, st, 0);
	case ROUTE_REDIRECT:
		return XDP_REDIRECT;
	case ROUTE_PASS: /* to tc's slow path (uplink_send) */
		return XDP_PASS;
	case ROUTE_DROPPED:
		return XDP_DROP;
	default:
		return r < 0 ? xdp_drop(st, -r) : xdp_drop(st, XDPNET_DROP_NO_ROUTE);
	}
}

static __always_inline int ingress(struct xdp_md *ctx)
{
	struct pkt p = {};
	const struct xdpnet_port *in, *out;
	const struct xdpnet_gateway *gw;
	const struct xdpnet_config *cfg;
	struct xdpnet_port_stats *st;
	__u32 gen = live_gen();
	__u32 version;
	__u64 now;
	int r;

	/* Stage 0: which port, which policy. */
	in = port_of_ifindex(gen, ctx->ingress_ifindex);
	cfg = config_of(gen);
	if (!in || !cfg)
		return not_a_port();
	st = stats_of(in->slot);
	pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	p.len = p.end - p.data;
	ctr_add(st, XDPNET_CTR_RX, 1);
	ctr_add(st, XDPNET_CTR_RX_BYTES, p.len);

	/* Stage 1: Ethernet and tag. */
	r = parse_l2(&p);
	if (r)
		return xdp_drop_port(st, r);

	/* The uplink of NAT networks: routed, not switched. */
	if (in->mode == XDPNET_MODE_UPLINK) {
		now = clock_ns(cfg);
		flow_defer(&p, cfg, in->slot, now);
		version = (fdb_version() << 1) | gen;
		r = nat_in(ctx, &p, gen, in, now, version, st);
		if (r == ROUTE_PASS)
			return to_host(&p, st);
		return route_finish(ctx, &p, gen, in, cfg, now, version, st, r, 0);
	}

	/* Stage 2: VLAN membership. */
	r = vlan_classify(&p, in);
	if (r == STAGE_TO_HOST)
		return to_host(&p, st);
	if (r)
		return xdp_drop_port(st, r);

	if (mac_is_multicast(p.eth->h_source) || mac_is_zero(p.eth->h_source))
		return xdp_drop_port(st, XDPNET_DROP_BAD_SRC_MAC);
	now = clock_ns(cfg);

	/* Stage 2a: the frame's flow; for one to a gateway, routed and maybe
	 * translated, later (flow_defer). */
	gw = gateway_of(gen, p.vid);
	if (gw && mac_equal(p.eth->h_dest, gw->router_mac))
		flow_defer(&p, cfg, in->slot, now);
	else
		flow_account(&p, cfg, in->slot, now);

	/* Stage 2b: port security, marking, policing. A port that is only
	 * policed takes the short way, inline. */
	if ((in->flags & PORT_CONTROL_FLAGS) == XDPNET_PORT_POLICE_IN && !cfg->limits) {
		r = police_port(ctx, gen, in->slot, XDPNET_DIR_IN, p.len, now, st);
		if (r)
			return xdp_drop(st, r);
	} else if ((in->flags & PORT_CONTROL_FLAGS) || cfg->limits) {
		r = drop_reason_clamp(xdpnet_port_controls(ctx, gen, in->slot, now, cfg->limits));
		if (r)
			return xdp_drop(st, r);
		pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
		r = parse_l2(&p);
		if (r)
			return xdp_drop(st, r);
	}

	/* Stage 3: learn the source. */
	/* Cached FDB answers are valid for one FDB version and one generation. */
	version = (fdb_version() << 1) | gen;
	fdb_learn(&p, in, st, now, version);

	/* Stage 4a: the VLAN's gateway answers ARP and ping itself and learns
	 * its neighbours from ARP. */
	r = gateway_local(&p, gw, now, st);
	if (r == STAGE_TX)
		return send_back(&p, gen, in, st);
	if (r == STAGE_CONSUMED)
		return XDP_DROP;
	if (r == STAGE_ROUTE && gw) {
		__u16 in_vid = p.vid;

		/* Stage 4b: route to another network; 4d: or out of the uplink
		 * (4e: through the ACL first). */
		r = route_ipv4(ctx, &p, gen, gw, now, st);
		if (r == ROUTE_UPLINK && cfg->acl) {
			r = acl_check(ctx, gen, in->slot, in_vid, 0, now);
			if (r)
				return xdp_drop(st, r);
			r = ROUTE_UPLINK;
		}
		if (r == ROUTE_UPLINK)
			r = nat_out(ctx, &p, gen, gw, now, version, st, in->slot);
		return route_finish(ctx, &p, gen, in, cfg, now, version, st, r, in_vid);
	}
	if (r)
		return xdp_drop(st, r);

	/* Stage 4c: the host's own frames on its native VLAN go up the stack;
	 * its broadcasts go up too and tc (xdpnet_host_flood) floods them. */
	if ((in->flags & XDPNET_PORT_HOST) && p.tag == TAG_NONE &&
	    (mac_is_multicast(p.eth->h_dest) || mac_equal(p.eth->h_dest, in->mac)))
		return to_host(&p, st);

	/* Stage 4e: the ACL (switched within the VLAN). */
	if (cfg->acl) {
		r = acl_check(ctx, gen, in->slot, p.vid, p.vid, now);
		if (r)
			return xdp_drop(st, r);
	}

	/* Stage 5: deliver. */
	if (!mac_is_multicast(p.eth->h_dest)) {
		out = fdb_lookup(&p, gen, now, cfg->aging_ns, version);
		if (out)
			return forward_unicast(ctx, &p, gen, in, out, st, 0, now);
	}
	return xdp_flood(ctx, &p, gen, st, 1);
}

SEC("xdp")
int xdpnet_ingress(struct xdp_md *ctx)
{
	__u32 cap = capture_armed();
	int v;

	/* The capture's mode is read again after the pipeline rather than
	 * kept: a value live across it would not fit the stack. */
	if (cap) {
		capture_drop_reason(1);
		if (cap & XDPNET_CAPTURE_RX)
			xdpnet_capture_frame(ctx, XDPNET_CAPTURE_RX, 0);
	}
	v = ingress(ctx);
	flow_finish();
	if (v == XDP_DROP && (capture_armed() & XDPNET_CAPTURE_DROPS))
		xdpnet_capture_frame(ctx, XDPNET_CAPTURE_DROPS, capture_drop_reason(0));
	return v;
}

/* Runs on each flooded copy, for its egress port (devmap entry program). The
 * frame arrives tagged with its VLAN; ports that want it untagged get it so. */
SEC("xdp/devmap")
int xdpnet_flood_egress(struct xdp_md *ctx)
{
	struct pkt p = {};
	const struct xdpnet_port *out;
	struct xdpnet_port_stats *st;
	int r;

	out = port_of_ifindex(live_gen(), ctx->egress_ifindex);
	if (!out) {
		drop_count(stats_of(XDPNET_SLOT_NONE), XDPNET_DROP_STALE_CONFIG);
		return XDP_DROP;
	}
	st = stats_of(out->slot);
	pkt_reload(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	r = parse_l2(&p);
	if (r)
		return xdp_drop_port(st, r);
	if (p.tag != TAG_8021Q)
		return xdp_drop_port(st, XDPNET_DROP_STALE_CONFIG);
	p.vid = p.tci & VLAN_VID_MASK;
	if (!port_has_vlan(out, p.vid))
		return xdp_drop_port(st, XDPNET_DROP_EGRESS_NOT_MEMBER);
	r = xdp_vlan_egress(ctx, &p, out);
	if (r)
		return xdp_drop_port(st, r);
	if (out->flags & XDPNET_PORT_POLICE_OUT) {
		__u32 gen = live_gen();

		r = police_port(ctx, gen, out->slot, XDPNET_DIR_OUT, frame_len(ctx),
				clock_ns(config_of(gen)), st);
		if (r)
			return xdp_drop_port(st, r);
	}
	ctr_add(st, XDPNET_CTR_TX_FLOOD, 1);
	return XDP_PASS;
}

/*
 * tc ingress on host ports. XDP passed an untagged broadcast/multicast of the
 * native VLAN up so the host gets it; here the other ports of the VLAN get
 * their copies (bpf_clone_redirect), untagged ones first, then tagged ones.
 * Everything else the host receives is left alone (TC_ACT_OK).
 */
struct host_flood_ctx {
	struct __sk_buff *skb;
	const struct xdpnet_vlan *vlan;
	__u32 gen;
	__u16 vid;
	__u16 in_slot;
	__u32 tagged; /* this pass sends to ports that want a tag */
	__u32 tagged_pending; /* flags, not counts: a value that grows on each */
	__u32 sent;           /* bpf_loop iteration multiplies verifier states */
};

/* bpf_loop body: one member of the VLAN (bounded by the helper, so the
 * verifier checks it once rather than 255 times). */
static long host_flood_member(__u32 i, struct host_flood_ctx *c)
{
	const struct xdpnet_port *out;
	__u32 slot;

	if (i >= XDPNET_VLAN_MAX_MEMBERS)
		return 1;
	slot = c->vlan->members[i];
	if (slot == c->in_slot)
		return 0;
	out = port_of_slot(c->gen, slot);
	if (!out)
		return 0;
	if (port_wants_tag(out, c->vid) != (int)c->tagged) {
		if (!c->tagged)
			c->tagged_pending = 1;
		return 0;
	}
	if (bpf_clone_redirect(c->skb, out->ifindex, 0) == 0) {
		ctr_inc_slot(slot, XDPNET_CTR_TX_FLOOD);
		c->sent = 1;
	} else {
		drop_count(stats_of(slot), XDPNET_DROP_NO_TX_PORT);
	}
	return 0;
}

SEC("tc")
int xdpnet_host_flood(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct host_flood_ctx c = { .gen = live_gen() };
	const struct xdpnet_port *in;
	const struct xdpnet_vlan *v;

	if ((void *)(eth + 1) > end || !mac_is_multicast(eth->h_dest) || skb->vlan_present ||
	    eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		return TC_ACT_OK;
	in = port_of_ifindex(c.gen, skb->ingress_ifindex);
	if (!in || !(in->flags & XDPNET_PORT_HOST) || !in->pvid)
		return TC_ACT_OK;
	c.vid = in->pvid;
	c.in_slot = in->slot;
	v = vlan_of(c.gen, c.vid);
	if (!v)
		return TC_ACT_OK;
	c.skb = skb;
	c.vlan = v;
	bpf_loop(v->count, host_flood_member, &c, 0);
	if (c.tagged_pending && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), c.vid) == 0) {
		c.tagged = 1;
		bpf_loop(v->count, host_flood_member, &c, 0);
		bpf_skb_vlan_pop(skb);
	}
	if (c.sent)
		ctr_inc_slot(c.in_slot, XDPNET_CTR_FLOODED);
	return TC_ACT_OK;
}

/*
 * The NAT slow path (tc ingress, tcx, on every switch port of an instance
 * with NAT networks). XDP passed a packet up, marked in its metadata, because
 * the kernel has not resolved the uplink's next hop yet: translate it here
 * with the skb checksum helpers (which know the skb's checksum state) and
 * hand it to bpf_redirect_neigh, which resolves the neighbour and transmits.
 * XDP created the connection already and popped any VLAN tag. Anything
 * unmarked goes on to the next program (TCX_NEXT).
 */
#define TCX_NEXT_ (-1)

static __always_inline int skb_xlate(struct __sk_buff *skb, const struct iphdr *ip,
				     const struct tuple *t, const struct xdpnet_ct *ct)
{
	const __u32 l3 = sizeof(struct ethhdr);
	__u32 coff = t->l4_off + l4_check_off(t->proto);
	__u64 mangled = t->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__be32 osaddr = ip->saddr, odaddr = ip->daddr;
	__be16 osport = t->sport, odport = t->dport;

	if (t->frag == FRAG_LATER) {
		/* No transport header in a later fragment. */
	} else if (t->proto == IPPROTO_ICMP) {
		__be16 from = t->icmp_type == ICMP_ECHO ? t->sport : t->dport;
		__be16 to = t->icmp_type == ICMP_ECHO ? ct->to_sport : ct->to_dport;

		if (bpf_l4_csum_replace(skb, coff, from, to, 2) ||
		    bpf_skb_store_bytes(skb, t->l4_off + 4, &to, 2, 0))
			return -1;
	} else {
		if (bpf_l4_csum_replace(skb, coff, osaddr, ct->to_saddr, BPF_F_PSEUDO_HDR | mangled | 4) ||
		    bpf_l4_csum_replace(skb, coff, odaddr, ct->to_daddr, BPF_F_PSEUDO_HDR | mangled | 4) ||
		    bpf_l4_csum_replace(skb, coff, osport, ct->to_sport, mangled | 2) ||
		    bpf_l4_csum_replace(skb, coff, odport, ct->to_dport, mangled | 2) ||
		    bpf_skb_store_bytes(skb, t->l4_off, &ct->to_sport, 2, 0) ||
		    bpf_skb_store_bytes(skb, t->l4_off + 2, &ct->to_dport, 2, 0))
			return -1;
	}
	if (bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), osaddr, ct->to_saddr, 4) ||
	    bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), odaddr, ct->to_daddr, 4) ||
	    bpf_skb_store_bytes(skb, l3 + offsetof(struct iphdr, saddr), &ct->to_saddr, 4, 0) ||
	    bpf_skb_store_bytes(skb, l3 + offsetof(struct iphdr, daddr), &ct->to_daddr, 4, 0))
		return -1;
	return 0;
}

SEC("tc")
int xdpnet_nat_slow(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct xdpnet_meta *m = (void *)(long)skb->data_meta;
	const struct xdpnet_port *in;
	struct xdpnet_port_stats *st;
	struct xdpnet_ct_key k;
	struct xdpnet_ct *ct;
	struct tuple t = {};
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 uplink, gen = live_gen();
	__u16 ttl_old, ttl_new;

	if ((void *)(m + 1) > data || m->magic != XDPNET_META_MAGIC)
		return TCX_NEXT_;
	uplink = m->ifindex;
	in = port_of_ifindex(gen, skb->ingress_ifindex);
	st = stats_of(in ? in->slot : XDPNET_SLOT_NONE);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ttl <= 1) {
		drop_count(st, XDPNET_DROP_BAD_L3);
		return TC_ACT_SHOT;
	}
	if (tuple_parse(ip, end, sizeof(*eth), &t) == 0) {
		const struct xdpnet_ct_key *fk = 0;

		if (t.frag == FRAG_LATER)
			fk = frag_lookup(&t, XDPNET_SIDE_VM, clock_ns(config_of(gen)));
		if (fk)
			k = *fk;
		else
			ct_key_of(&k, &t, XDPNET_SIDE_VM);
		ct = bpf_map_lookup_elem(&xdpnet_ct, &k);
		if (ct && skb_xlate(skb, ip, &t, ct)) {
			drop_count(st, XDPNET_DROP_HEADROOM);
			return TC_ACT_SHOT;
		}
	}
	/* TTL - 1 (the (ttl, protocol) word of the header checksum). */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	ttl_old = *(__u16 *)&ip->ttl;
	ip->ttl--;
	ttl_new = *(__u16 *)&ip->ttl;
	bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, check), ttl_old,
			    ttl_new, 2);
	ctr_add(st, XDPNET_CTR_NAT_OUT, 1);
	return bpf_redirect_neigh(uplink, 0, 0, 0);
}

/*
 * FDB aging. Lookups already ignore expired entries (fdb_expired), so aging
 * holds with no process running; this pass frees their slots. It runs from a
 * bpf_timer in the pinned xdpnet_gc map, and once on demand when the loader
 * runs this program with BPF_PROG_TEST_RUN (which also arms the timer).
 */
struct gc_ctx {
	__u64 now;
	__u64 aging_ns;
	__u64 removed;
	__u64 ct_removed;
};

static long gc_elem(void *map, struct xdpnet_fdb_key *key,
		    struct xdpnet_fdb_entry *e, struct gc_ctx *c)
{
	if (!fdb_expired(e, c->now, c->aging_ns))
		return 0;
	__u32 slot = e->slot;
	if (bpf_map_delete_elem(map, key) == 0) {
		maccnt_add(slot, -1);
		fdb_version_bump(); /* per removal: a flag tested after the walk would
				       make the verifier walk every iteration */
		c->removed++;
	}
	return 0;
}

/* Connections: a pair goes when both halves are idle past their state's
 * timeout. Lookups already ignore (and remove) such pairs; this frees the
 * ones nobody looks up again. */
static long ct_gc_elem(void *map, struct xdpnet_ct_key *key, struct xdpnet_ct *ct,
		       struct gc_ctx *c)
{
	struct xdpnet_ct_key peer_key;
	struct xdpnet_ct *peer;

	if (ct_fresh(ct, c->now))
		return 0;
	xdpnet_ct_peer(&peer_key, key, ct);
	peer = bpf_map_lookup_elem(&xdpnet_ct, &peer_key);
	if (peer && ct_fresh(peer, c->now))
		return 0;
	if (ct_delete_pair(key, ct))
		c->ct_removed++;
	return 0;
}

/* Per-address buckets idle long enough to be full again hold nothing a
 * fresh bucket would not: free them (the overflow buckets, family 0, stay). */
static long limit_gc_elem(void *map, struct xdpnet_limit_src *key, struct xdpnet_bucket *b,
			  struct gc_ctx *c)
{
	if (key->family && c->now > b->last_ns &&
	    c->now - b->last_ns > (__u64)b->full_s * 1000000000ULL)
		bpf_map_delete_elem(map, key);
	return 0;
}

static __noinline int gc_pass(struct xdpnet_gc *g)
{
	const struct xdpnet_config *cfg = config_of(live_gen());
	struct gc_ctx c = { .now = clock_ns(cfg) };

	if (!g)
		return 0;
	if (cfg && cfg->aging_ns) {
		c.aging_ns = cfg->aging_ns;
		bpf_for_each_map_elem(&xdpnet_fdb, gc_elem, &c, 0);
	}
	/* Lookups already ignore (and remove) expired connections; this walk
	 * only frees slots, and costs in proportion to the table's capacity. */
	if (g->ct_every <= 1 || g->passes % g->ct_every == 0) {
		bpf_for_each_map_elem(&xdpnet_ct, ct_gc_elem, &c, 0);
		if (cfg && cfg->limits)
			bpf_for_each_map_elem(&xdpnet_limit_state, limit_gc_elem, &c, 0);
	}
	g->ct_removed += c.ct_removed;
	g->passes++;
	g->removed += c.removed;
	g->last_run_ns = c.now;
	return 0;
}

static int gc_timer_fired(void *map, __u32 *key, struct xdpnet_gc *g)
{
	gc_pass(g);
	bpf_timer_start(&g->timer, g->interval_ns ?: 1000000000ULL, 0);
	return 0;
}

SEC("xdp")
int xdpnet_fdb_gc(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct xdpnet_gc *g = bpf_map_lookup_elem(&xdpnet_gc, &zero);

	if (!g)
		return XDP_ABORTED;
	gc_pass(g);
	/* A userspace update of this map value (the loader setting interval_ns)
	 * frees the timer inside it, whatever `armed` says: initialise it on
	 * every run; -EBUSY means it is initialised already. */
	long err = bpf_timer_init(&g->timer, &xdpnet_gc, 1 /* CLOCK_MONOTONIC */);
	if (err && err != -16 /* EBUSY */)
		return XDP_ABORTED;
	if (bpf_timer_set_callback(&g->timer, gc_timer_fired))
		return XDP_ABORTED;
	if (bpf_timer_start(&g->timer, g->interval_ns ?: 1000000000ULL, 0))
		return XDP_ABORTED;
	g->armed = 1;
	return XDP_PASS;
}

/* Userspace's view of the datapath clock (for FDB ages and static entries):
 * run with BPF_PROG_TEST_RUN on a frame of at least 24 bytes, it writes
 * { clock_ns, bpf_jiffies64(), bpf_ktime_get_coarse_ns() } at its start. */
SEC("xdp")
int xdpnet_clock(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u64 *out = data;

	if ((void *)(out + 3) > end)
		return XDP_ABORTED;
	out[0] = clock_ns(config_of(live_gen()));
	out[1] = bpf_jiffies64();
	out[2] = bpf_ktime_get_coarse_ns();
	return XDP_PASS;
}
