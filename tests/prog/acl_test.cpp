// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// The ACL (stage 4e): tuple-space search over masked packet fields, first
// match wins. Every match field (family, protocol, ingress port, arrival and
// delivery VLAN, source and destination prefixes, ports exact and as
// prefixes) for IPv4 and IPv6; the search order across shapes and where it
// stops; default allow and deny; per-rule hits; stateful rules whose replies
// come back in (and expire); routed traffic keyed by (ingress VLAN, target
// VLAN); frames that are not IP; policy generations.
//
// The prog tier does not link the loader: the shapes and entries are built
// here (AclSet) the way abi.h describes them, shapes sorted by their best
// (lowest) rule.
#include <map>

#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint32_t kDefault = XDPNET_ACL_MAX_RULES; // the hits slot of the default
constexpr uint8_t ALLOW = XDPNET_ACL_ALLOW, DENY = XDPNET_ACL_DENY;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

// Networks as in route_test.cpp: VLAN 10 10.0.10.0/24, VLAN 20 10.0.20.0/24.
constexpr uint32_t kGw10 = 0x0a000afe, kGw20 = 0x0a0014fe;
constexpr uint32_t kIp1 = 0x0a000a01, kIp2 = 0x0a000a02, kIp3 = 0x0a000a03; // M(1) A1, M(2) A2, M(3) T1
constexpr uint32_t kIp5 = 0x0a001405, kIp6 = 0x0a001406;                     // M(5) A3, M(6) T2 (VLAN 20)
const Mac kR10 = {0x02, 0x78, 0x64, 0x11, 0x00, 0x0a};
const Mac kR20 = {0x02, 0x78, 0x64, 0x11, 0x00, 0x14};
const In6 kV6a = ip6("2001:db8:10::1"), kV6b = ip6("2001:db8:10::2");

// Timeouts of tracked connections (seconds), by enum xdpnet_ct_timeout.
constexpr uint32_t kToSyn = 11, kToEst = 3600, kToClosing = 30, kToUdp = 60, kToIcmp = 20;

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

std::vector<Effect> operator+(std::vector<Effect> a, const std::vector<Effect> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

void be16_to(uint16_t v, __be16 &f)
{
	uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
	memcpy(&f, b, 2);
}

uint16_t prefix16(int len) { return len == 0 ? 0 : uint16_t(0xffffu << (16 - len)); }

// One ACL entry: match values and mask, built field by field (unset fields
// match anything).
struct E {
	xdpnet_acl_key k{}, m{};
	E &fam(uint8_t f)
	{
		k.family = f;
		m.family = 0xff;
		return *this;
	}
	E &proto(uint8_t p)
	{
		k.proto = p;
		m.proto = 0xff;
		return *this;
	}
	E &in(P p)
	{
		k.in_slot = kSlot[p];
		m.in_slot = 0xffff;
		return *this;
	}
	E &from_vlan(uint16_t v)
	{
		k.from_vlan = v;
		m.from_vlan = 0xffff;
		return *this;
	}
	E &to_vlan(uint16_t v)
	{
		k.to_vlan = v;
		m.to_vlan = 0xffff;
		return *this;
	}
	E &sport(uint16_t p, int len = 16)
	{
		be16_to(p, k.sport);
		be16_to(prefix16(len), m.sport);
		return *this;
	}
	E &dport(uint16_t p, int len = 16)
	{
		be16_to(p, k.dport);
		be16_to(prefix16(len), m.dport);
		return *this;
	}
	static void prefix(uint8_t *key, uint8_t *mask, const uint8_t *addr, int n, int len)
	{
		for (int i = 0; i < n; i++) {
			int bits = std::clamp(len - 8 * i, 0, 8);
			mask[i] = uint8_t(0xff00u >> bits);
			key[i] = addr[i];
		}
	}
	E &src4(uint32_t a, int len = 32)
	{
		uint8_t b[4] = {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)};
		prefix(k.src, m.src, b, 4, len);
		return fam(4);
	}
	E &dst4(uint32_t a, int len = 32)
	{
		uint8_t b[4] = {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)};
		prefix(k.dst, m.dst, b, 4, len);
		return fam(4);
	}
	E &src6(const In6 &a, int len = 128)
	{
		prefix(k.src, m.src, a.data(), 16, len);
		return fam(6);
	}
	E &dst6(const In6 &a, int len = 128)
	{
		prefix(k.dst, m.dst, a.data(), 16, len);
		return fam(6);
	}
};

xdpnet_acl_key masked(const xdpnet_acl_key &k, const xdpnet_acl_key &m)
{
	xdpnet_acl_key r{};
	auto *rb = reinterpret_cast<uint8_t *>(&r);
	auto *kb = reinterpret_cast<const uint8_t *>(&k);
	auto *mb = reinterpret_cast<const uint8_t *>(&m);
	for (size_t i = 0; i < sizeof(r); i++)
		rb[i] = kb[i] & mb[i];
	return r;
}

using KeyBytes = std::array<uint8_t, sizeof(xdpnet_acl_key)>;
KeyBytes bytes_of(const xdpnet_acl_key &k)
{
	KeyBytes b;
	memcpy(b.data(), &k, sizeof(k));
	return b;
}

// A generation's ACL as the loader would write it.
struct AclSet {
	struct Rule {
		uint32_t idx;
		uint8_t action, flags;
		E e;
	};
	std::vector<Rule> rules;
	uint8_t default_action = ALLOW;
	AclSet &rule(uint32_t idx, uint8_t action, E e, uint8_t flags = 0)
	{
		rules.push_back({idx, action, flags, e});
		return *this;
	}
	AclSet &deflt(uint8_t a)
	{
		default_action = a;
		return *this;
	}
	// Shapes (one per distinct mask) sorted by their best rule, entries
	// keyed by the masked fields and the shape id, the config.
	void write(Datapath &dp, uint32_t gen) const
	{
		std::map<KeyBytes, uint32_t> best;
		for (auto &r : rules) {
			auto [it, fresh] = best.emplace(bytes_of(r.e.m), r.idx);
			if (!fresh)
				it->second = std::min(it->second, r.idx);
		}
		std::vector<std::pair<uint32_t, KeyBytes>> order;
		for (auto &[mask, b] : best)
			order.push_back({b, mask});
		std::stable_sort(order.begin(), order.end(),
				 [](auto &a, auto &b) { return a.first < b.first; });
		std::map<KeyBytes, uint32_t> index;
		for (uint32_t i = 0; i < order.size(); i++) {
			xdpnet_acl_shape sh{};
			memcpy(&sh.mask, order[i].second.data(), sizeof(sh.mask));
			sh.best = order[i].first;
			put_shape(dp, gen, i, sh);
			index[order[i].second] = i;
		}
		bool stateful = false;
		for (auto &r : rules) {
			xdpnet_acl_verdict v{};
			v.rule = r.idx;
			v.action = r.action;
			v.flags = r.flags;
			stateful |= (r.flags & XDPNET_ACL_STATEFUL) != 0;
			put_entry(dp, gen, index[bytes_of(r.e.m)], r.e.k, r.e.m, v);
		}
		put_cfg(dp, gen, uint32_t(order.size()), default_action, stateful);
	}
	static void put_shape(Datapath &dp, uint32_t gen, uint32_t i, const xdpnet_acl_shape &sh)
	{
		uint32_t k = gen * XDPNET_ACL_MAX_SHAPES + i;
		EXPECT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_aclshape), &k, &sh, BPF_ANY), 0);
	}
	static void put_entry(Datapath &dp, uint32_t gen, uint32_t shape, const xdpnet_acl_key &k,
			      const xdpnet_acl_key &m, const xdpnet_acl_verdict &v)
	{
		xdpnet_acl_key key = masked(k, m);
		key.shape = uint8_t(gen * XDPNET_ACL_MAX_SHAPES + shape);
		EXPECT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_acl), &key, &v, BPF_NOEXIST), 0)
			<< "an entry per (shape, masked key)";
	}
	static void put_cfg(Datapath &dp, uint32_t gen, uint32_t shapes, uint8_t def, bool stateful)
	{
		xdpnet_acl_config c{};
		c.shapes = shapes;
		c.default_action = def;
		c.stateful = stateful;
		c.timeout_s[XDPNET_TO_TCP_SYN] = kToSyn;
		c.timeout_s[XDPNET_TO_TCP_EST] = kToEst;
		c.timeout_s[XDPNET_TO_TCP_CLOSING] = kToClosing;
		c.timeout_s[XDPNET_TO_UDP] = kToUdp;
		c.timeout_s[XDPNET_TO_ICMP] = kToIcmp;
		EXPECT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_aclcfg), &gen, &c, BPF_ANY), 0);
	}
};

// Frames.
Bytes udp4(const Mac &dst, const Mac &src, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, std::vector<Tag> tags = {})
{
	return eth_ipv4(dst, src, ipv4_packet(s, d, kUdp, udp_l4(sp, dp)), tags);
}
Bytes tcp4(const Mac &dst, const Mac &src, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t flags = kTcpSyn,
	   std::vector<Tag> tags = {})
{
	return eth_ipv4(dst, src, ipv4_packet(s, d, kTcp, tcp_l4(sp, dp, flags)), tags);
}
Bytes icmp4(const Mac &dst, const Mac &src, uint32_t s, uint32_t d, uint8_t type = 8)
{
	return eth_ipv4(dst, src, ipv4_packet(s, d, kIcmp, icmp_echo_l4(type, 0x77)));
}
Bytes udp6(const Mac &dst, const Mac &src, const In6 &s, const In6 &d, uint16_t sp, uint16_t dp)
{
	return eth_ipv6(dst, src, ipv6_packet(s, d, kUdp, udp_l4(sp, dp)));
}
Bytes tcp6(const Mac &dst, const Mac &src, const In6 &s, const In6 &d, uint16_t sp, uint16_t dp)
{
	return eth_ipv6(dst, src, ipv6_packet(s, d, kTcp, tcp_l4(sp, dp, kTcpSyn)));
}

// The frame `in` routed: new MACs, TTL - 1 with the checksum from scratch.
Bytes routed(const Bytes &in, const Mac &dst, const Mac &src)
{
	Bytes out = frame(dst, src, {}, 0x0800, 0);
	out.insert(out.end(), in.begin() + 14, in.end());
	out[14 + 8]--;
	ip_csum_fill(out, 14);
	return out;
}

struct Acl : ::testing::Test {
	Datapath dp;
	void SetUp() override
	{
		dp.install_std(0);
		network(0, 10, kGw10, 24, kR10);
		network(0, 20, kGw20, 24, kR20);
		acl_on(0);
		const uint64_t t = coarse_now();
		// Known stations, static: no learning counters move.
		dp.fdb_put(10, M(1), A1, t, XDPNET_FDB_STATIC);
		dp.fdb_put(10, M(2), A2, t, XDPNET_FDB_STATIC);
		dp.fdb_put(10, M(3), T1, t, XDPNET_FDB_STATIC);
		dp.fdb_put(20, M(5), A3, t, XDPNET_FDB_STATIC);
		dp.fdb_put(20, M(6), T2, t, XDPNET_FDB_STATIC);
		neigh_put(10, kIp1, M(1));
		neigh_put(10, kIp2, M(2));
		neigh_put(20, kIp5, M(5));
	}
	void acl_on(uint32_t gen, bool on = true)
	{
		xdpnet_config c = dp.get_config(gen);
		c.acl = on;
		dp.put_config(gen, c);
	}
	void network(uint32_t gen, uint16_t vid, uint32_t gw_ip, uint8_t len, const Mac &rmac)
	{
		dp.put_network(gen, vid, gw_ip, len, rmac);
	}
	void neigh_put(uint16_t vid, uint32_t ip, const Mac &mac, uint8_t state = XDPNET_NEIGH_REACHABLE,
		       uint64_t updated = coarse_now())
	{
		dp.put_neigh(vid, ip, mac, state, updated);
	}

	RunResult send(P p, const Bytes &f) { return dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(p)); }
	// Delivered by unicast out of `out`, as `want` (default: unchanged).
	void pass(P in, const Bytes &f, P out, std::vector<Effect> extra = {},
		  std::optional<Bytes> want = std::nullopt)
	{
		Snapshot s0 = dp.snapshot();
		RunResult r = send(in, f);
		EXPECT_EQ(r.err, 0);
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "allowed";
		EXPECT_EQ(hex(r.out), hex(want ? *want : f));
		expect_effects(s0, dp.snapshot(),
			       std::vector<Effect>{Ctr(in, XDPNET_CTR_RX),
						   Ctr(in, XDPNET_CTR_RX_BYTES, int64_t(f.size())),
						   Ctr(out, XDPNET_CTR_TX_UNICAST)} +
				       extra);
	}
	void deny(P in, const Bytes &f, std::vector<Effect> extra = {})
	{
		Snapshot s0 = dp.snapshot();
		RunResult r = send(in, f);
		EXPECT_EQ(r.err, 0);
		EXPECT_EQ(r.retval, uint32_t(XDP_DROP)) << "denied";
		expect_effects(s0, dp.snapshot(),
			       std::vector<Effect>{Ctr(in, XDPNET_CTR_RX),
						   Ctr(in, XDPNET_CTR_RX_BYTES, int64_t(f.size())),
						   Drop(in, XDPNET_DROP_ACL_DENY)} +
				       extra);
	}

	xdpnet_acl_hits hits(uint32_t rule)
	{
		static const int ncpu = libbpf_num_possible_cpus();
		std::vector<xdpnet_acl_hits> pc(ncpu);
		xdpnet_acl_hits sum{};
		EXPECT_EQ(bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_aclhits), &rule, pc.data()), 0);
		for (auto &h : pc) {
			sum.packets += h.packets;
			sum.bytes += h.bytes;
		}
		return sum;
	}
	void expect_hits(uint32_t rule, uint64_t packets, uint64_t bytes)
	{
		xdpnet_acl_hits h = hits(rule);
		EXPECT_EQ(h.packets, packets) << "hits of rule " << rule;
		EXPECT_EQ(h.bytes, bytes) << "bytes of rule " << rule;
	}

	std::vector<std::pair<xdpnet_acl_key, xdpnet_acl_conn>> conns()
	{
		std::vector<std::pair<xdpnet_acl_key, xdpnet_acl_conn>> v;
		xdpnet_acl_key k{}, next{};
		const void *prev = nullptr;
		while (bpf_map_get_next_key(dp.mfd(dp.skel->maps.xdpnet_aclconn), prev, &next) == 0) {
			xdpnet_acl_conn c{};
			if (bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_aclconn), &next, &c) == 0)
				v.push_back({next, c});
			k = next;
			prev = &k;
		}
		return v;
	}
	void set_conn(const xdpnet_acl_key &k, const xdpnet_acl_conn &c)
	{
		EXPECT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_aclconn), &k, &c, BPF_ANY), 0);
	}
};

// The key a connection's replies carry (shape 0xff, in_slot 0): IPv4.
xdpnet_acl_key conn_key4(uint8_t proto, uint16_t from_vlan, uint16_t to_vlan, uint32_t src, uint32_t dst,
			 uint16_t sport, uint16_t dport)
{
	xdpnet_acl_key k{};
	k.shape = 0xff;
	k.family = 4;
	k.proto = proto;
	k.from_vlan = from_vlan;
	k.to_vlan = to_vlan;
	be16_to(sport, k.sport);
	be16_to(dport, k.dport);
	uint8_t s[4] = {uint8_t(src >> 24), uint8_t(src >> 16), uint8_t(src >> 8), uint8_t(src)};
	uint8_t d[4] = {uint8_t(dst >> 24), uint8_t(dst >> 16), uint8_t(dst >> 8), uint8_t(dst)};
	memcpy(k.src, s, 4);
	memcpy(k.dst, d, 4);
	return k;
}

std::string key_hex(const xdpnet_acl_key &k)
{
	const auto *b = reinterpret_cast<const uint8_t *>(&k);
	return hex(Bytes(b, b + sizeof(k)));
}

} // namespace

// ---------------------------------------------------------------------------
// Match fields.

TEST_F(Acl, MatchOnProtocolAndHitsCounters)
{
	AclSet().rule(0, DENY, E().fam(4).proto(kUdp)).write(dp, 0);
	const Bytes u = udp4(M(2), M(1), kIp1, kIp2, 1000, 53);
	const Bytes t = tcp4(M(2), M(1), kIp1, kIp2, 1000, 53);
	const Bytes i = icmp4(M(2), M(1), kIp1, kIp2);
	deny(A1, u);
	pass(A1, t, A2);
	pass(A1, i, A2);
	expect_hits(0, 1, u.size());
	expect_hits(kDefault, 2, t.size() + i.size());
	expect_hits(1, 0, 0);
}

TEST_F(Acl, MatchOnIngressPort)
{
	AclSet().rule(0, DENY, E().fam(4).in(A1)).write(dp, 0);
	deny(A1, udp4(M(2), M(1), kIp1, kIp2, 1000, 53));
	pass(A2, udp4(M(1), M(2), kIp2, kIp1, 1000, 53), A1);
	// Same VLAN, from a trunk: another port.
	const Bytes t = udp4(M(2), M(3), kIp3, kIp2, 1000, 53, {Q(10)});
	pass(T1, t, A2, {}, udp4(M(2), M(3), kIp3, kIp2, 1000, 53));
}

TEST_F(Acl, MatchOnArrivalAndDeliveryVlanWhenSwitched)
{
	// Switched: the frame arrives and is delivered in its own VLAN.
	AclSet()
		.rule(0, DENY, E().fam(4).from_vlan(20).proto(kUdp))
		.rule(1, DENY, E().fam(4).to_vlan(10).proto(kTcp))
		.write(dp, 0);
	deny(A3, udp4(M(6), M(5), kIp5, kIp6, 1, 2));
	pass(A1, udp4(M(2), M(1), kIp1, kIp2, 1, 2), A2);
	deny(A1, tcp4(M(2), M(1), kIp1, kIp2, 1, 2));
	pass(A3, tcp4(M(6), M(5), kIp5, kIp6, 1, 2), T2, {}, tcp4(M(6), M(5), kIp5, kIp6, 1, 2, kTcpSyn, {Q(20)}));
	expect_hits(0, 1, udp4(M(6), M(5), kIp5, kIp6, 1, 2).size());
	expect_hits(1, 1, tcp4(M(2), M(1), kIp1, kIp2, 1, 2).size());
}

TEST_F(Acl, MatchOnIpv4SourceAndDestinationPrefixes)
{
	AclSet()
		.rule(0, DENY, E().src4(0x0a000a00, 28).dst4(kIp2)) // 10.0.10.0/28 -> 10.0.10.2
		.rule(1, DENY, E().dst4(0x0a000a80, 25))            // -> 10.0.10.128/25
		.write(dp, 0);
	deny(A1, udp4(M(2), M(1), kIp1, kIp2, 1, 2));
	deny(A1, udp4(M(2), M(1), 0x0a000a0f, kIp2, 1, 2));         // .15: last of the /28
	pass(A1, udp4(M(2), M(1), 0x0a000a10, kIp2, 1, 2), A2);     // .16: outside
	pass(A1, udp4(M(2), M(1), kIp1, kIp3, 1, 2), A2);           // another destination
	deny(A1, udp4(M(2), M(1), 0x0a000a10, 0x0a000a80, 1, 2));   // .128
	deny(A1, udp4(M(2), M(1), 0x0a000a10, 0x0a000aff, 1, 2));   // .255
	pass(A1, udp4(M(2), M(1), 0x0a000a10, 0x0a000a7f, 1, 2), A2); // .127
	expect_hits(0, 2, 2 * udp4(M(2), M(1), kIp1, kIp2, 1, 2).size());
	expect_hits(1, 2, 2 * udp4(M(2), M(1), kIp1, kIp2, 1, 2).size());
}

TEST_F(Acl, MatchOnPortsExactAndAsPrefixes)
{
	// dport 80 exactly; sport 1024-2047 (one prefix, /6); dport 1000-1023
	// (1000/13 and 1008/12: two shapes, one rule).
	AclSet()
		.rule(0, DENY, E().fam(4).proto(kTcp).dport(80))
		.rule(1, DENY, E().fam(4).proto(kUdp).sport(1024, 6))
		.rule(2, DENY, E().fam(4).proto(kUdp).dport(1000, 13))
		.rule(2, DENY, E().fam(4).proto(kUdp).dport(1008, 12))
		.write(dp, 0);
	deny(A1, tcp4(M(2), M(1), kIp1, kIp2, 40000, 80));
	pass(A1, tcp4(M(2), M(1), kIp1, kIp2, 40000, 81), A2);
	pass(A1, tcp4(M(2), M(1), kIp1, kIp2, 80, 40000), A2); // the source port is another field
	pass(A1, udp4(M(2), M(1), kIp1, kIp2, 40000, 80), A2); // UDP
	for (uint16_t sp : {1024, 1500, 2047})
		deny(A1, udp4(M(2), M(1), kIp1, kIp2, sp, 5));
	for (uint16_t sp : {1023, 2048})
		pass(A1, udp4(M(2), M(1), kIp1, kIp2, sp, 5), A2);
	for (uint16_t dport : {1000, 1007, 1008, 1023})
		deny(A1, udp4(M(2), M(1), kIp1, kIp2, 5, dport));
	for (uint16_t dport : {999, 1024})
		pass(A1, udp4(M(2), M(1), kIp1, kIp2, 5, dport), A2);
	const size_t n = udp4(M(2), M(1), kIp1, kIp2, 5, 5).size();
	expect_hits(1, 3, 3 * n);
	expect_hits(2, 4, 4 * n);
}

TEST_F(Acl, MatchOnFamily)
{
	AclSet()
		.rule(0, DENY, E().fam(6).proto(kUdp))
		.rule(1, DENY, E().proto(kTcp).dport(23)) // either family
		.write(dp, 0);
	deny(A1, udp6(M(2), M(1), kV6a, kV6b, 1, 2));
	pass(A1, udp4(M(2), M(1), kIp1, kIp2, 1, 2), A2);
	deny(A1, tcp4(M(2), M(1), kIp1, kIp2, 1, 23));
	deny(A1, tcp6(M(2), M(1), kV6a, kV6b, 1, 23));
	pass(A1, tcp6(M(2), M(1), kV6a, kV6b, 1, 24), A2);
}

TEST_F(Acl, MatchOnIpv6PrefixesAndPorts)
{
	AclSet()
		.rule(0, DENY, E().src6(ip6("2001:db8:10::"), 64).dst6(kV6b).proto(kTcp).dport(443))
		.rule(1, DENY, E().src6(ip6("2001:db8:20::"), 48))
		.write(dp, 0);
	deny(A1, tcp6(M(2), M(1), kV6a, kV6b, 4000, 443));
	deny(A1, tcp6(M(2), M(1), ip6("2001:db8:10::ffff:1"), kV6b, 4000, 443));
	pass(A1, tcp6(M(2), M(1), ip6("2001:db8:10:1::1"), kV6b, 4000, 443), A2); // outside the /64
	pass(A1, tcp6(M(2), M(1), kV6a, ip6("2001:db8:10::3"), 4000, 443), A2);
	pass(A1, tcp6(M(2), M(1), kV6a, kV6b, 4000, 444), A2);
	deny(A1, udp6(M(2), M(1), ip6("2001:db8:20:ffff::9"), kV6b, 1, 2));
	pass(A1, udp6(M(2), M(1), ip6("2001:db8:21::9"), kV6b, 1, 2), A2);
	// An IPv4 packet with the same leading bytes is not matched.
	pass(A1, udp4(M(2), M(1), 0x20010db8, kIp2, 1, 2), A2);
}

// ---------------------------------------------------------------------------
// Search order.

TEST_F(Acl, AnEarlierRuleInALaterShapeBeatsALaterMatchInAnEarlierShape)
{
	// Shape {proto} (best 0) holds rules 0 and 5; shape {proto, dport}
	// (best 2) holds rule 2. UDP to 53 matches rule 5 first, yet rule 2 wins:
	// the search must go on while a shape's best is below the match.
	AclSet()
		.rule(0, DENY, E().fam(4).proto(kTcp))
		.rule(2, DENY, E().fam(4).proto(kUdp).dport(53))
		.rule(5, ALLOW, E().fam(4).proto(kUdp))
		.deflt(DENY)
		.write(dp, 0);
	const Bytes dns = udp4(M(2), M(1), kIp1, kIp2, 4000, 53);
	const Bytes other = udp4(M(2), M(1), kIp1, kIp2, 4000, 54);
	deny(A1, dns);
	pass(A1, other, A2);
	deny(A1, tcp4(M(2), M(1), kIp1, kIp2, 4000, 53));
	expect_hits(2, 1, dns.size());
	expect_hits(5, 1, other.size());
	expect_hits(0, 1, tcp4(M(2), M(1), kIp1, kIp2, 4000, 53).size());
	expect_hits(kDefault, 0, 0);
}

TEST_F(Acl, SameRuleFirstMatchAcrossManyShapes)
{
	// Five shapes; the packet matches rules 9, 7, 4 and 6 in four of them:
	// rule 4 wins wherever it sits in the search order.
	AclSet()
		.rule(1, DENY, E().fam(4).proto(kTcp))                    // no match (UDP)
		.rule(4, ALLOW, E().fam(4).src4(kIp1).dst4(kIp2))         // match
		.rule(6, DENY, E().fam(4).proto(kUdp).in(A1))             // match
		.rule(7, DENY, E().fam(4).proto(kUdp).dport(53))          // match
		.rule(9, DENY, E().fam(4).from_vlan(10))                  // match
		.deflt(DENY)
		.write(dp, 0);
	pass(A1, udp4(M(2), M(1), kIp1, kIp2, 4000, 53), A2);
	expect_hits(4, 1, udp4(M(2), M(1), kIp1, kIp2, 4000, 53).size());
	deny(A1, udp4(M(2), M(1), kIp1, kIp3, 4000, 53)); // not rule 4: rule 6
	expect_hits(6, 1, udp4(M(2), M(1), kIp1, kIp3, 4000, 53).size());
	deny(A2, udp4(M(1), M(2), kIp2, kIp1, 4000, 53)); // rule 7
	expect_hits(7, 1, udp4(M(2), M(1), kIp1, kIp3, 4000, 53).size());
}

TEST_F(Acl, SearchStopsAtAShapeWhoseBestCannotWin)
{
	// The datapath trusts each shape's `best`: it probes no shape whose
	// best is not below the match so far, and no shape after it. Shown
	// with shapes the loader would never write: shape 1 claims best 1 but
	// holds rule 0; shape 2 (best 0) comes after it.
	xdpnet_acl_shape s0{}, s1{}, s2{};
	E proto = E().fam(4).proto(kUdp), pd = E().fam(4).proto(kUdp).dport(53), dport = E().dport(53);
	s0.mask = proto.m;
	s0.best = 1;
	s1.mask = pd.m;
	s1.best = 1; // == the match in shape 0: cannot beat it
	s2.mask = dport.m;
	s2.best = 0;
	AclSet::put_shape(dp, 0, 0, s0);
	AclSet::put_shape(dp, 0, 1, s1);
	AclSet::put_shape(dp, 0, 2, s2);
	xdpnet_acl_verdict allow1{1, ALLOW, 0, 0}, deny0{0, DENY, 0, 0};
	AclSet::put_entry(dp, 0, 0, proto.k, proto.m, allow1);
	AclSet::put_entry(dp, 0, 1, pd.k, pd.m, deny0);
	AclSet::put_entry(dp, 0, 2, dport.k, dport.m, deny0);
	AclSet::put_cfg(dp, 0, 3, DENY, false);
	const Bytes dns = udp4(M(2), M(1), kIp1, kIp2, 4000, 53);
	pass(A1, dns, A2);
	expect_hits(1, 1, dns.size());

	// Shape 1 with best 0 is probed, and its rule 0 wins.
	s1.best = 0;
	AclSet::put_shape(dp, 0, 1, s1);
	deny(A1, dns);
	expect_hits(0, 1, dns.size());

	// Shapes beyond the config's count are never probed.
	AclSet::put_cfg(dp, 0, 1, DENY, false);
	pass(A1, dns, A2);
	expect_hits(1, 2, 2 * dns.size());
}

// ---------------------------------------------------------------------------
// Defaults.

TEST_F(Acl, DefaultAllowAndDefaultDeny)
{
	AclSet().rule(0, ALLOW, E().fam(4).proto(kTcp)).deflt(DENY).write(dp, 0);
	const Bytes u = udp4(M(2), M(1), kIp1, kIp2, 1, 2), t = tcp4(M(2), M(1), kIp1, kIp2, 1, 2);
	deny(A1, u);
	pass(A1, t, A2);
	expect_hits(kDefault, 1, u.size());
	expect_hits(0, 1, t.size());

	// The same rule as a deny, default allow (the same shape and entry key).
	E e = E().fam(4).proto(kTcp);
	xdpnet_acl_key key = masked(e.k, e.m);
	key.shape = 0;
	xdpnet_acl_verdict v{0, DENY, 0, 0};
	ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_acl), &key, &v, BPF_ANY), 0);
	AclSet::put_cfg(dp, 0, 1, ALLOW, false);
	pass(A1, u, A2);
	deny(A1, t);
	expect_hits(kDefault, 2, 2 * u.size());

	// No rules at all: the default for everything, IPv6 too.
	AclSet::put_cfg(dp, 0, 0, DENY, false);
	deny(A1, t);
	deny(A1, udp6(M(2), M(1), kV6a, kV6b, 1, 2));
	AclSet::put_cfg(dp, 0, 0, ALLOW, false);
	pass(A1, udp6(M(2), M(1), kV6a, kV6b, 1, 2), A2);
}

TEST_F(Acl, FloodedIpIsSubjectToo)
{
	AclSet().deflt(DENY).write(dp, 0);
	const Bytes b = udp4(kBcast, M(1), kIp1, 0x0a000aff, 68, 67);
	deny(A1, b);
	acl_on(0, false);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, b);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "without the config switch no ACL applies";
	expect_effects(s0, dp.snapshot(),
		       {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(b.size())), Ctr(A1, XDPNET_CTR_FLOODED)});
}

TEST_F(Acl, FramesThatAreNotIpAreNotSubject)
{
	AclSet().deflt(DENY).write(dp, 0);
	const Bytes a = arp(2, M(2), M(1), M(1), kIp1, M(2), kIp2); // unicast ARP reply
	pass(A1, a, A2);
	const Bytes other = frame(M(2), M(1), {}, 0x88b5);
	pass(A1, other, A2);
	expect_hits(kDefault, 0, 0);
}

// ---------------------------------------------------------------------------
// Stateful rules.

TEST_F(Acl, StatefulAllowLetsRepliesInAndNothingElse)
{
	AclSet().rule(3, ALLOW, E().fam(4).proto(kTcp).in(A1).dport(80), XDPNET_ACL_STATEFUL).deflt(DENY).write(dp, 0);
	const Bytes syn = tcp4(M(2), M(1), kIp1, kIp2, 40000, 80, kTcpSyn);
	const uint64_t t0 = dp.clock_now();
	pass(A1, syn, A2);
	const uint64_t t1 = dp.clock_now();
	auto cs = conns();
	ASSERT_EQ(cs.size(), 1u);
	EXPECT_EQ(key_hex(cs[0].first), key_hex(conn_key4(kTcp, 10, 10, kIp2, kIp1, 80, 40000)))
		<< "stored under the key of its replies";
	EXPECT_EQ(cs[0].second.rule, 3u);
	EXPECT_EQ(cs[0].second.closing, 0);
	EXPECT_GE(cs[0].second.last_seen_ns, t0);
	EXPECT_LE(cs[0].second.last_seen_ns, t1);

	// The reply, from the other side: allowed, counted as a reply.
	const Bytes synack = tcp4(M(1), M(2), kIp2, kIp1, 80, 40000, kTcpSyn | kTcpAck);
	pass(A2, synack, A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});
	expect_hits(kDefault, 1, synack.size()); // the reply meets the default (deny) first
	expect_hits(3, 1, syn.size());

	// Not replies: other ports, another protocol, reversed ports.
	deny(A2, tcp4(M(1), M(2), kIp2, kIp1, 80, 40001, kTcpAck));
	deny(A2, tcp4(M(1), M(2), kIp2, kIp1, 81, 40000, kTcpAck));
	deny(A2, udp4(M(1), M(2), kIp2, kIp1, 80, 40000));
	deny(A2, tcp4(M(1), M(2), kIp2, kIp1, 40000, 80, kTcpAck));
	deny(A2, tcp4(M(1), M(2), kIp2, kIp3, 80, 40000, kTcpAck)); // another destination
	// A new connection the other way is not allowed by the rule.
	deny(A2, tcp4(M(1), M(2), kIp2, kIp1, 40000, 80, kTcpSyn));
	EXPECT_EQ(conns().size(), 1u);
}

TEST_F(Acl, FinMarksTheConnectionClosingAndTheClosingTimeoutApplies)
{
	AclSet().rule(0, ALLOW, E().fam(4).proto(kTcp).in(A1), XDPNET_ACL_STATEFUL).deflt(DENY).write(dp, 0);
	pass(A1, tcp4(M(2), M(1), kIp1, kIp2, 40000, 80, kTcpSyn), A2);
	const xdpnet_acl_key ck = conn_key4(kTcp, 10, 10, kIp2, kIp1, 80, 40000);
	const Bytes ack = tcp4(M(1), M(2), kIp2, kIp1, 80, 40000, kTcpAck);

	// Idle 2 x the closing timeout but well inside the established one.
	xdpnet_acl_conn c{};
	c.rule = 0;
	c.last_seen_ns = dp.clock_now() - 2 * kToClosing * kSec;
	set_conn(ck, c);
	pass(A2, ack, A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});

	pass(A1, tcp4(M(2), M(1), kIp1, kIp2, 40000, 80, kTcpFin | kTcpAck), A2);
	auto cs = conns();
	ASSERT_EQ(cs.size(), 1u);
	EXPECT_EQ(cs[0].second.closing, 1) << "FIN seen";

	c.closing = 1;
	c.last_seen_ns = dp.clock_now() - 2 * kToClosing * kSec;
	set_conn(ck, c);
	deny(A2, ack);

	// An RST from the reply side marks it closing too.
	c.closing = 0;
	c.last_seen_ns = dp.clock_now();
	set_conn(ck, c);
	pass(A2, tcp4(M(1), M(2), kIp2, kIp1, 80, 40000, kTcpRst), A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});
	cs = conns();
	ASSERT_EQ(cs.size(), 1u);
	EXPECT_EQ(cs[0].second.closing, 1) << "RST seen on the reply";
}

TEST_F(Acl, ExpiredConnectionsRepliesAreDenied)
{
	AclSet()
		.rule(0, ALLOW, E().fam(4).in(A1), XDPNET_ACL_STATEFUL) // any protocol from A1
		.deflt(DENY)
		.write(dp, 0);
	struct Case {
		const char *name;
		Bytes out, reply;
		xdpnet_acl_key key;
		uint32_t timeout;
	};
	const std::vector<Case> cases = {
		{"tcp", tcp4(M(2), M(1), kIp1, kIp2, 40000, 80), tcp4(M(1), M(2), kIp2, kIp1, 80, 40000, kTcpAck),
		 conn_key4(kTcp, 10, 10, kIp2, kIp1, 80, 40000), kToEst},
		{"udp", udp4(M(2), M(1), kIp1, kIp2, 5353, 53), udp4(M(1), M(2), kIp2, kIp1, 53, 5353),
		 conn_key4(kUdp, 10, 10, kIp2, kIp1, 53, 5353), kToUdp},
		{"icmp", icmp4(M(2), M(1), kIp1, kIp2, 8), icmp4(M(1), M(2), kIp2, kIp1, 0),
		 conn_key4(kIcmp, 10, 10, kIp2, kIp1, 0, 0), kToIcmp},
	};
	for (auto &c : cases) {
		SCOPED_TRACE(c.name);
		pass(A1, c.out, A2);
		auto cs = conns();
		bool found = false;
		for (auto &[k, v] : cs)
			found |= key_hex(k) == key_hex(c.key);
		EXPECT_TRUE(found) << "tracked under " << key_hex(c.key);
		pass(A2, c.reply, A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});

		// Exactly the timeout idle: still a reply; one ns more: expired.
		uint32_t at = 0, past = 0;
		at_one_instant(dp, [&](uint64_t t) {
			xdpnet_acl_conn v{};
			v.last_seen_ns = t - uint64_t(c.timeout) * kSec;
			set_conn(c.key, v);
			at = send(A2, c.reply).retval;
			v.last_seen_ns = t - uint64_t(c.timeout) * kSec - 1;
			set_conn(c.key, v);
			past = send(A2, c.reply).retval;
		});
		EXPECT_EQ(at, uint32_t(XDP_REDIRECT)) << "idle exactly the timeout";
		EXPECT_EQ(past, uint32_t(XDP_DROP)) << "idle past the timeout";
		deny(A2, c.reply);
	}
}

TEST_F(Acl, ReplyToAConnectionStampedAtALaterTickIsAllowed)
{
	// Another CPU allowed the connection's latest packet at a later clock
	// tick than this CPU's reading for the reply (the datapath clock is one
	// reading per packet; buckets and NAT connections treat a clock behind
	// the record as "no time passed"). The connection is fresh.
	AclSet().rule(0, ALLOW, E().fam(4).proto(kUdp).in(A1), XDPNET_ACL_STATEFUL).deflt(DENY).write(dp, 0);
	const xdpnet_acl_key ck = conn_key4(kUdp, 10, 10, kIp2, kIp1, 53, 5353);
	xdpnet_acl_conn c{};
	c.last_seen_ns = dp.clock_now() + 8000000; // two 4 ms ticks ahead
	set_conn(ck, c);
	pass(A2, udp4(M(1), M(2), kIp2, kIp1, 53, 5353), A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});
}

TEST_F(Acl, RepliesNeedAStatefulRuleSetInTheConfig)
{
	AclSet().rule(0, ALLOW, E().fam(4).proto(kUdp).in(A1)).deflt(DENY).write(dp, 0); // not stateful
	pass(A1, udp4(M(2), M(1), kIp1, kIp2, 5353, 53), A2);
	EXPECT_TRUE(conns().empty()) << "a plain allow tracks nothing";
	// A connection left over from an earlier policy is not consulted while
	// no rule of the live one is stateful.
	xdpnet_acl_conn c{};
	c.last_seen_ns = dp.clock_now();
	set_conn(conn_key4(kUdp, 10, 10, kIp2, kIp1, 53, 5353), c);
	deny(A2, udp4(M(1), M(2), kIp2, kIp1, 53, 5353));
}

TEST_F(Acl, StatefulIpv6)
{
	AclSet().rule(0, ALLOW, E().fam(6).proto(kUdp).in(A1), XDPNET_ACL_STATEFUL).deflt(DENY).write(dp, 0);
	pass(A1, udp6(M(2), M(1), kV6a, kV6b, 5353, 53), A2);
	pass(A2, udp6(M(1), M(2), kV6b, kV6a, 53, 5353), A1, {Ctr(A2, XDPNET_CTR_ACL_REPLY)});
	deny(A2, udp6(M(1), M(2), kV6b, ip6("2001:db8:10::9"), 53, 5353));
	auto cs = conns();
	ASSERT_EQ(cs.size(), 1u);
	EXPECT_EQ(cs[0].first.family, 6);
	EXPECT_EQ(Bytes(cs[0].first.src, cs[0].first.src + 16), Bytes(kV6b.begin(), kV6b.end()));
	EXPECT_EQ(Bytes(cs[0].first.dst, cs[0].first.dst + 16), Bytes(kV6a.begin(), kV6a.end()));
}

// ---------------------------------------------------------------------------
// Routed traffic.

TEST_F(Acl, RoutedTrafficIsKeyedByIngressAndTargetVlan)
{
	AclSet()
		.rule(0, DENY, E().fam(4).from_vlan(20).to_vlan(10))
		.rule(1, DENY, E().fam(4).from_vlan(10).to_vlan(10).proto(kTcp)) // switched only
		.rule(2, ALLOW, E().fam(4).from_vlan(10).to_vlan(20))
		.deflt(DENY)
		.write(dp, 0);
	const Bytes out = udp4(kR10, M(1), kIp1, kIp5, 4000, 53);
	pass(A1, out, A3, {Ctr(A1, XDPNET_CTR_ROUTED)}, routed(out, M(5), kR20));
	expect_hits(2, 1, out.size());
	const Bytes tcp_out = tcp4(kR10, M(1), kIp1, kIp5, 4000, 53);
	// Rule 1 is (10, 10): not a routed packet's pair.
	pass(A1, tcp_out, A3, {Ctr(A1, XDPNET_CTR_ROUTED)}, routed(tcp_out, M(5), kR20));
	// Back from 20 into 10: rule 0. Denied after routing (the routed
	// counter has moved already).
	const Bytes back = udp4(kR20, M(5), kIp5, kIp1, 53, 4000);
	deny(A3, back, {Ctr(A3, XDPNET_CTR_ROUTED)});
	expect_hits(0, 1, back.size());
	// Switched within 10 (TCP): rule 1.
	deny(A1, tcp4(M(2), M(1), kIp1, kIp2, 4000, 53));
	expect_hits(1, 1, tcp4(M(2), M(1), kIp1, kIp2, 4000, 53).size());
}

TEST_F(Acl, StatefulThroughTheRouter)
{
	AclSet()
		.rule(0, ALLOW, E().fam(4).proto(kUdp).from_vlan(10).to_vlan(20), XDPNET_ACL_STATEFUL)
		.deflt(DENY)
		.write(dp, 0);
	const Bytes out = udp4(kR10, M(1), kIp1, kIp5, 4000, 53);
	pass(A1, out, A3, {Ctr(A1, XDPNET_CTR_ROUTED)}, routed(out, M(5), kR20));
	auto cs = conns();
	ASSERT_EQ(cs.size(), 1u);
	EXPECT_EQ(key_hex(cs[0].first), key_hex(conn_key4(kUdp, 20, 10, kIp5, kIp1, 53, 4000)))
		<< "the reply arrives in 20 and is delivered in 10";
	const Bytes back = udp4(kR20, M(5), kIp5, kIp1, 53, 4000);
	pass(A3, back, A1, {Ctr(A3, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_ACL_REPLY)}, routed(back, M(1), kR10));
	// The same tuple switched inside VLAN 20 is another key: denied.
	deny(T2, udp4(M(5), M(6), kIp5, kIp1, 53, 4000, {Q(20)}));
}

TEST_F(Acl, TowardsTheUplinkTheDeliveryVlanIsZero)
{
	// 8.8.8.8 is in no network: bound for an uplink (none here: no_route
	// after the ACL lets it through).
	AclSet().rule(0, DENY, E().fam(4).from_vlan(10).to_vlan(0).proto(kTcp)).write(dp, 0);
	const Bytes t = tcp4(kR10, M(1), kIp1, 0x08080808, 4000, 443);
	deny(A1, t);
	expect_hits(0, 1, t.size());
	const Bytes u = udp4(kR10, M(1), kIp1, 0x08080808, 4000, 53);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, u);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	expect_effects(s0, dp.snapshot(),
		       {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(u.size())),
			Drop(A1, XDPNET_DROP_NO_ROUTE)});
	expect_hits(kDefault, 1, u.size());
}

// ---------------------------------------------------------------------------
// Generations.

TEST_F(Acl, TheInactiveGenerationsAclHasNoEffect)
{
	// Generation 0 (live): default allow, one shape with no entry.
	// Generation 1: the same mask as its shape 0, an entry denying UDP,
	// default deny.
	dp.install_std(1);
	acl_on(1);
	AclSet().rule(0, DENY, E().fam(4).proto(kUdp)).deflt(DENY).write(dp, 1);
	xdpnet_acl_shape sh{};
	sh.mask = E().fam(4).proto(kUdp).m;
	sh.best = 0;
	AclSet::put_shape(dp, 0, 0, sh);
	AclSet::put_cfg(dp, 0, 1, ALLOW, false);
	const Bytes u = udp4(M(2), M(1), kIp1, kIp2, 1, 2), t = tcp4(M(2), M(1), kIp1, kIp2, 1, 2);
	pass(A1, u, A2);
	pass(A1, t, A2);
	expect_hits(0, 0, 0);

	dp.set_active_gen(1);
	deny(A1, u);
	deny(A1, t);
	expect_hits(0, 1, u.size());

	// Generation 1 with the ACL switched off in its config.
	acl_on(1, false);
	pass(A1, u, A2);
}
