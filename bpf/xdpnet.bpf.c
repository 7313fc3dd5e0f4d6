// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xdpnet datapath: the bridged-mode L2 switch and the router between its
 * networks.
 *
 *   xdpnet_ingress       XDP on every port: parse -> VLAN -> learn -> gateway -> route -> deliver
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Frames on an interface the live policy does not know: not ours, pass. */
static __always_inline int not_a_port(void)
{
	ctr_inc_slot(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT);
	return XDP_PASS;
}

static __always_inline int to_host(struct xdpnet_port_stats *st)
{
	ctr_add(st, XDPNET_CTR_TO_HOST, 1);
	return XDP_PASS;
}

/* Stage 5a: known unicast leaves through the transmit devmap, tagged for the
 * egress port. A routed frame may leave through its ingress port (a trunk
 * carrying both VLANs); a switched one never does. */
static __always_inline int forward_unicast(struct xdp_md *ctx, struct pkt *p, __u32 gen,
					   const struct xdpnet_port *in,
					   const struct xdpnet_port *out,
					   struct xdpnet_port_stats *st, int routed)
{
	int r;

	if (out->slot == in->slot && !routed)
		return xdp_drop(st, XDPNET_DROP_SAME_PORT);
	if (!port_has_vlan(out, p->vid))
		return xdp_drop(st, XDPNET_DROP_EGRESS_NOT_MEMBER);
	r = xdp_vlan_egress(ctx, p, out);
	if (r)
		return xdp_drop(st, r);
	r = bpf_redirect_map(&xdpnet_tx, gen * XDPNET_MAX_PORTS + out->slot, XDP_ABORTED);
	if (r != XDP_REDIRECT)
		return xdp_drop(st, XDPNET_DROP_NO_TX_PORT);
	ctr_inc_slot(out->slot, XDPNET_CTR_TX_UNICAST);
	return XDP_REDIRECT;
}

/* A reply the router built in place goes back out of the ingress port,
 * through the transmit devmap rather than XDP_TX: veth kicks its peer's NAPI
 * for XDP_TX only when the peer runs an XDP program, so a reply could sit in
 * the ring indefinitely. */
static __always_inline int send_back(__u32 gen, const struct xdpnet_port *in,
				     struct xdpnet_port_stats *st)
{
	int r = bpf_redirect_map(&xdpnet_tx, gen * XDPNET_MAX_PORTS + in->slot, XDP_ABORTED);

	return r == XDP_REDIRECT ? r : xdp_drop(st, XDPNET_DROP_NO_TX_PORT);
}

SEC("xdp")
int xdpnet_ingress(struct xdp_md *ctx)
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
		return xdp_drop(st, r);

	/* Stage 2: VLAN membership. */
	r = vlan_classify(&p, in);
	if (r == STAGE_TO_HOST)
		return to_host(st);
	if (r)
		return xdp_drop(st, r);

	/* Stage 3: learn the source. */
	if (mac_is_multicast(p.eth->h_source) || mac_is_zero(p.eth->h_source))
		return xdp_drop(st, XDPNET_DROP_BAD_SRC_MAC);
	now = clock_ns(cfg);
	/* Cached FDB answers are valid for one FDB version and one generation. */
	version = (fdb_version() << 1) | gen;
	fdb_learn(&p, in, st, now, version);

	/* Stage 4a: the VLAN's gateway answers ARP and ping itself and learns
	 * its neighbours from ARP. */
	gw = gateway_of(gen, p.vid);
	r = gateway_local(&p, gw, now, st);
	if (r == STAGE_TX)
		return send_back(gen, in, st);
	if (r == STAGE_CONSUMED)
		return XDP_DROP;
	if (r == STAGE_ROUTE && gw) {
		/* Stage 4b: route to another network. */
		r = route_ipv4(ctx, &p, gen, gw, now, st);
		if (r == ROUTE_TX)
			return send_back(gen, in, st);
		if (r == ROUTE_FLOOD)
			return xdp_flood(ctx, &p, gen, st, 0);
		if (r != ROUTE_DELIVER)
			return r ? xdp_drop(st, -r) : XDP_DROP;
		out = fdb_lookup(&p, gen, now, cfg->aging_ns, version);
		if (out)
			return forward_unicast(ctx, &p, gen, in, out, st, 1);
		return xdp_flood(ctx, &p, gen, st, 0);
	}
	if (r)
		return xdp_drop(st, r);

	/* Stage 4c: the host's own frames on its native VLAN go up the stack;
	 * its broadcasts go up too and tc (xdpnet_host_flood) floods them. */
	if ((in->flags & XDPNET_PORT_HOST) && p.tag == TAG_NONE &&
	    (mac_is_multicast(p.eth->h_dest) || mac_equal(p.eth->h_dest, in->mac)))
		return to_host(st);

	/* Stage 5: deliver. */
	if (!mac_is_multicast(p.eth->h_dest)) {
		out = fdb_lookup(&p, gen, now, cfg->aging_ns, version);
		if (out)
			return forward_unicast(ctx, &p, gen, in, out, st, 0);
	}
	return xdp_flood(ctx, &p, gen, st, 1);
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
		return xdp_drop(st, r);
	if (p.tag != TAG_8021Q)
		return xdp_drop(st, XDPNET_DROP_STALE_CONFIG);
	p.vid = p.tci & VLAN_VID_MASK;
	if (!port_has_vlan(out, p.vid))
		return xdp_drop(st, XDPNET_DROP_EGRESS_NOT_MEMBER);
	r = xdp_vlan_egress(ctx, &p, out);
	if (r)
		return xdp_drop(st, r);
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
 * FDB aging. Lookups already ignore expired entries (fdb_expired), so aging
 * holds with no process running; this pass frees their slots. It runs from a
 * bpf_timer in the pinned xdpnet_gc map, and once on demand when the loader
 * runs this program with BPF_PROG_TEST_RUN (which also arms the timer).
 */
struct gc_ctx {
	__u64 now;
	__u64 aging_ns;
	__u64 removed;
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
