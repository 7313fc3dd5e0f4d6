// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Routing between networks (stage 4b): a packet to the router MAC for another
// network's subnet leaves with TTL - 1, the target VLAN's router MAC as source,
// the neighbour's MAC as destination, tagged for its egress port. Unknown
// neighbours become ARP requests; TTL 1 becomes an ICMP time-exceeded.
#include <arpa/inet.h>

#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

constexpr uint32_t kGw10 = 0x0a000afe; // 10.0.10.254/24 on VLAN 10
constexpr uint32_t kGw20 = 0x0a0014fe; // 10.0.20.254/24 on VLAN 20
constexpr uint32_t kVm1 = 0x0a000a01;  // 10.0.10.1 = M(1) behind A1
constexpr uint32_t kVm5 = 0x0a001405;  // 10.0.20.5 = M(5)
const Mac kR10 = {0x02, 0x78, 0x64, 0x11, 0x00, 0x0a};
const Mac kR20 = {0x02, 0x78, 0x64, 0x11, 0x00, 0x14};

struct Route : ::testing::Test {
	Datapath dp;
	void SetUp() override
	{
		dp.install_std(0);
		network(0, 10, kGw10, 24, kR10);
		network(0, 20, kGw20, 24, kR20);
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
	// Takes a network's subnet out of the route trie (gw_ip in host order).
	void drop_route(uint32_t gen, uint32_t gw_ip, uint8_t len)
	{
		xdpnet_route_key rk{};
		rk.prefixlen = 32 + len;
		rk.gen = gen;
		rk.addr = htonl(gw_ip) & xdpnet_prefix_mask(len);
		ASSERT_EQ(bpf_map_delete_elem(dp.mfd(dp.skel->maps.xdpnet_routes), &rk), 0);
	}
	std::optional<xdpnet_neigh> neigh_get(uint16_t vid, uint32_t ip)
	{
		xdpnet_neigh_key k{};
		k.vid = vid;
		k.ip = htonl(ip);
		xdpnet_neigh n{};
		if (bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_neigh), &k, &n))
			return std::nullopt;
		return n;
	}
	RunResult send(P port, const Bytes &f, std::vector<Effect> effects, bool learns = true)
	{
		effects.push_back(Ctr(port, XDPNET_CTR_RX));
		effects.push_back(Ctr(port, XDPNET_CTR_RX_BYTES, int64_t(f.size())));
		if (learns)
			effects.push_back(Ctr(port, XDPNET_CTR_LEARNED));
		Snapshot s0 = dp.snapshot();
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(port));
		EXPECT_EQ(r.err, 0);
		expect_effects(s0, dp.snapshot(), effects);
		return r;
	}
};


// The frame `in` as routed: new MACs, the given tags, TTL - 1 with the IP
// checksum recomputed from scratch, everything after the IP header untouched.
Bytes routed(const Bytes &in, size_t in_l2, const Mac &dst, const Mac &src, std::vector<Tag> tags)
{
	Bytes out = frame(dst, src, tags, 0x0800, 0);
	size_t ip = out.size();
	out.insert(out.end(), in.begin() + in_l2, in.end());
	out[ip + 8]--;
	out[ip + 10] = out[ip + 11] = 0;
	uint16_t c = inet_csum(out, ip, 20);
	out[ip + 10] = uint8_t(c >> 8);
	out[ip + 11] = uint8_t(c);
	return out;
}

} // namespace

TEST_F(Route, AccessToAccessAcrossVlans)
{
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), A3, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = routed(in, 14, M(5), kR20, {});
	EXPECT_EQ(hex(r.out), hex(want));
	EXPECT_EQ(r.out[14 + 8], 63) << "TTL decremented";
	EXPECT_EQ(inet_csum(r.out, 14, 20), 0) << "IPv4 header checksum";
	EXPECT_EQ(inet_csum(r.out, 34, r.out.size() - 34), 0) << "ICMP checksum untouched and valid";
}

TEST_F(Route, IntoATrunkTheFrameIsTaggedForTheTargetVlan)
{
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), T2, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(T2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(routed(in, 14, M(5), kR20, {Q(20)})));
}

TEST_F(Route, RouterOnAStickGoesBackOutOfTheIngressTrunk)
{
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), T1, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5, {Q(10, 3)});
	RunResult r = send(T1, in, {Ctr(T1, XDPNET_CTR_ROUTED), Ctr(T1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "not same_port: the VLAN changed";
	EXPECT_EQ(hex(r.out), hex(routed(in, 18, M(5), kR20, {Q(20, 3)}))) << "VID rewritten, PCP kept";
}

TEST_F(Route, TrunkToAccessPopsTheTag)
{
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), A3, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5, {Q(10)});
	RunResult r = send(T1, in, {Ctr(T1, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(hex(r.out), hex(routed(in, 18, M(5), kR20, {})));
}

TEST_F(Route, NeighbourNotInTheFdbIsFloodedInTheTargetVlan)
{
	neigh_put(20, kVm5, M(5));
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A1, XDPNET_CTR_FLOODED)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(routed(in, 14, M(5), kR20, {Q(20)}))) << "flooded tagged with VLAN 20";
}

TEST_F(Route, UnknownNeighbourBecomesOneArpRequestASecond)
{
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Drop(A1, XDPNET_DROP_NEIGH_UNRESOLVED), Ctr(A1, XDPNET_CTR_ARP_REQUEST),
				    Ctr(A1, XDPNET_CTR_FLOODED)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "the request is flooded";
	Bytes want = arp(1, kBcast, kR20, kR20, kGw20, Mac{}, kVm5, {Q(20)});
	want.resize(18 + 28);
	EXPECT_EQ(hex(r.out), hex(want)) << "who-has 10.0.20.5 tell 10.0.20.254, in VLAN 20";
	auto n = neigh_get(20, kVm5);
	ASSERT_TRUE(n);
	EXPECT_EQ(n->state, XDPNET_NEIGH_INCOMPLETE);

	// Within the second: dropped and counted, no second request.
	r = send(A1, in, {Drop(A1, XDPNET_DROP_NEIGH_UNRESOLVED)}, false);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));

	// A second later the router asks again.
	neigh_put(20, kVm5, Mac{}, XDPNET_NEIGH_INCOMPLETE, coarse_now() - 2000000000ULL);
	r = send(A1, in, {Drop(A1, XDPNET_DROP_NEIGH_UNRESOLVED), Ctr(A1, XDPNET_CTR_ARP_REQUEST),
			  Ctr(A1, XDPNET_CTR_FLOODED)}, false);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
}

TEST_F(Route, ArpRequestFromATaggedFrameGrowsToAWholeArp)
{
	// A minimal IPv4 packet (header only) from a trunk: the ARP request is longer.
	Bytes in = frame(kR10, M(1), {Q(10)}, 0x0800, 0);
	const uint8_t hdr[] = {0x45, 0, 0, 20, 0, 1, 0, 0, 64, 253, 0, 0};
	in.insert(in.end(), hdr, hdr + sizeof(hdr));
	put32(in, kVm1);
	put32(in, kVm5);
	RunResult r = send(T1, in, {Drop(T1, XDPNET_DROP_NEIGH_UNRESOLVED), Ctr(T1, XDPNET_CTR_ARP_REQUEST),
				    Ctr(T1, XDPNET_CTR_FLOODED)});
	Bytes want = arp(1, kBcast, kR20, kR20, kGw20, Mac{}, kVm5, {Q(20)});
	want.resize(18 + 28);
	EXPECT_EQ(hex(r.out), hex(want));
}

TEST_F(Route, ArpReplyToTheRouterIsLearnedAndConsumed)
{
	Bytes rep = arp(2, kR20, M(5), M(5), kVm5, kR20, kGw20);
	RunResult r = send(A3, rep, {Ctr(A3, XDPNET_CTR_NEIGH_LEARNED), Ctr(A3, XDPNET_CTR_ARP_TO_ROUTER)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP)) << "consumed, not a drop";
	auto n = neigh_get(20, kVm5);
	ASSERT_TRUE(n);
	EXPECT_EQ(n->state, XDPNET_NEIGH_REACHABLE);
	EXPECT_EQ(hex(Bytes(n->mac, n->mac + 6)), hex(mac_bytes(M(5))));

	// Now the packet that asked goes through (M(5) was learned on A3 too).
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(hex(r.out), hex(routed(in, 14, M(5), kR20, {})));
}

TEST_F(Route, NeighboursAreLearnedOnlyInsideTheSubnet)
{
	Bytes req = arp(1, kBcast, M(1), M(1), 0xc0a80105 /* 192.168.1.5 */, Mac{}, kGw10);
	send(A1, req, {Ctr(A1, XDPNET_CTR_GW_ARP_REPLY), Ctr(A1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_FALSE(neigh_get(10, 0xc0a80105));
	Bytes probe = arp(1, kBcast, M(2), M(2), 0, Mac{}, kGw10); // an ARP probe: sender 0.0.0.0
	send(A2, probe, {Ctr(A2, XDPNET_CTR_GW_ARP_REPLY), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_FALSE(neigh_get(10, 0));
}

TEST_F(Route, MacChangeOfANeighbourIsLearned)
{
	neigh_put(20, kVm5, M(5));
	Bytes garp = arp(1, kBcast, M(6), M(6), kVm5, Mac{}, kVm5); // gratuitous, new MAC
	send(A3, garp, {Ctr(A3, XDPNET_CTR_NEIGH_LEARNED), Ctr(A3, XDPNET_CTR_FLOODED)});
	auto n = neigh_get(20, kVm5);
	ASSERT_TRUE(n);
	EXPECT_EQ(hex(Bytes(n->mac, n->mac + 6)), hex(mac_bytes(M(6))));
}

TEST_F(Route, TtlOneGetsTimeExceededFromTheGateway)
{
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), A3, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5, {}, 1);
	RunResult r = send(A1, in, {Drop(A1, XDPNET_DROP_TTL_EXCEEDED), Ctr(A1, XDPNET_CTR_ICMP_TIME_EXCEEDED), Ctr(A1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "sent back out of A1";
	ASSERT_EQ(r.out.size(), 14u + 20 + 8 + 20 + 8);
	EXPECT_EQ(hex(head(r.out, 14)), hex(head(frame(M(1), kR10, {}, 0x0800, 0), 14)));
	const size_t ip = 14, icmp = 34;
	EXPECT_EQ(r.out[ip], 0x45);
	EXPECT_EQ(r.out[ip + 9], 1) << "ICMP";
	EXPECT_EQ((r.out[ip + 2] << 8) | r.out[ip + 3], 56) << "total length";
	EXPECT_EQ(hex(Bytes(r.out.begin() + ip + 12, r.out.begin() + ip + 20)),
		  hex(Bytes{0x0a, 0x00, 0x0a, 0xfe, 0x0a, 0x00, 0x0a, 0x01}))
		<< "from the ingress gateway to the sender";
	EXPECT_EQ(inet_csum(r.out, ip, 20), 0) << "IPv4 header checksum";
	EXPECT_EQ(r.out[icmp], 11) << "time exceeded";
	EXPECT_EQ(r.out[icmp + 1], 0) << "TTL exceeded in transit";
	EXPECT_EQ(inet_csum(r.out, icmp, r.out.size() - icmp), 0) << "ICMP checksum over header and quote";
	EXPECT_EQ(hex(Bytes(r.out.begin() + icmp + 8, r.out.end())), hex(Bytes(in.begin() + 14, in.begin() + 14 + 28)))
		<< "quotes the original IP header and 8 bytes, unchanged";
}

TEST_F(Route, TaggedTtlExceededKeepsTheTag)
{
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5, {Q(10)}, 0);
	RunResult r = send(T1, in, {Drop(T1, XDPNET_DROP_TTL_EXCEEDED), Ctr(T1, XDPNET_CTR_ICMP_TIME_EXCEEDED), Ctr(T1, XDPNET_CTR_TX_UNICAST)});
	ASSERT_EQ(r.out.size(), 18u + 20 + 8 + 20 + 8);
	EXPECT_EQ(hex(head(r.out, 18)), hex(head(frame(M(1), kR10, {Q(10)}, 0x0800, 0), 18)));
	EXPECT_EQ(inet_csum(r.out, 18, 20), 0);
	EXPECT_EQ(inet_csum(r.out, 38, r.out.size() - 38), 0);
}

TEST_F(Route, NoTimeExceededAboutAnIcmpError)
{
	Bytes in = icmp_echo(3 /* unreachable */, kR10, M(1), kVm1, kVm5, {}, 1);
	RunResult r = send(A1, in, {Drop(A1, XDPNET_DROP_TTL_EXCEEDED)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
}

TEST_F(Route, PingToAnotherNetworksGatewayIsAnsweredByTheRouter)
{
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kGw20);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_GW_ECHO_REPLY), Ctr(A1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = icmp_echo(0, M(1), kR10, kGw20, kVm1);
	want[14 + 4] = in[14 + 4];
	EXPECT_EQ(hex(r.out), hex(want));
}

TEST_F(Route, NothingRoutesWithoutANetworkOrToBroadcasts)
{
	Bytes out_there = icmp_echo(8, kR10, M(1), kVm1, 0x08080808);
	send(A1, out_there, {Drop(A1, XDPNET_DROP_NO_ROUTE)});
	Bytes bcast = icmp_echo(8, kR10, M(1), kVm1, 0x0a0014ff); // 10.0.20.255
	send(A1, bcast, {Drop(A1, XDPNET_DROP_NO_ROUTE)}, false);
	Bytes net = icmp_echo(8, kR10, M(1), kVm1, 0x0a001400); // 10.0.20.0
	send(A1, net, {Drop(A1, XDPNET_DROP_NO_ROUTE)}, false);
	// From VLAN 40, which has no network: the router MAC of VLAN 10 is just a MAC.
	Bytes foreign = icmp_echo(8, kR10, M(9), 0x0a002809, kVm5);
	send(A4, foreign, {Drop(A4, XDPNET_DROP_NO_FLOOD_PEERS)});
}

TEST_F(Route, TruncatedOrBogusIpv4IsBadL3)
{
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	Bytes cut = head(in, 30);
	send(A1, cut, {Drop(A1, XDPNET_DROP_BAD_L3)});
	Bytes lying = in;
	lying[14 + 2] = 0x05; // total length 1280 > the frame
	send(A1, lying, {Drop(A1, XDPNET_DROP_BAD_L3)}, false);
	Bytes v6hdr = in;
	v6hdr[14] = 0x65;
	send(A1, v6hdr, {Drop(A1, XDPNET_DROP_BAD_L3)}, false);
}

TEST_F(Route, RoutesFollowTheLiveGeneration)
{
	// Generation 1 knows VLAN 20's network; the live generation 0 does not.
	drop_route(0, kGw20, 24);
	xdpnet_config c = dp.get_config(0);
	c.subnets = 0;
	xdpnet_config_add_subnet(&c, htonl(kGw10), 24, 10);
	dp.put_config(0, c);
	dp.install_std(1);
	network(1, 10, kGw10, 24, kR10);
	network(1, 20, kGw20, 24, kR20);
	neigh_put(20, kVm5, M(5));
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	send(A1, in, {Drop(A1, XDPNET_DROP_NO_ROUTE)});
	dp.set_active_gen(1);
	send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A1, XDPNET_CTR_FLOODED)}, false);
}

// A policy's few networks are scanned in its configuration record: routing
// finds them with the trie emptied.
TEST_F(Route, FewNetworksAreScannedInTheConfiguration)
{
	xdpnet_config c = dp.get_config(0);
	ASSERT_EQ(c.subnets, 2);
	EXPECT_EQ(c.subnet[1].net, htonl(0x0a001400));
	EXPECT_EQ(c.subnet[1].mask, htonl(0xffffff00));
	EXPECT_EQ(c.subnet[1].vid, 20);
	drop_route(0, kGw10, 24);
	drop_route(0, kGw20, 24);
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), A3, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(hex(r.out), hex(routed(in, 14, M(5), kR20, {})));
	// Outside both subnets: not routed (no uplink here).
	send(A1, icmp_echo(8, kR10, M(1), kVm1, 0x0a001e05), {Drop(A1, XDPNET_DROP_NO_ROUTE)}, false);
}

// More networks than the record holds: routing looks in the trie (and only
// there: without VLAN 20's entry its subnet is not routed).
TEST_F(Route, ManyNetworksAreLookedUpInTheTrie)
{
	for (uint16_t i = 0; i < XDPNET_SUBNETS_INLINE - 1; i++)
		network(0, uint16_t(100 + i), 0x0a640001 + (uint32_t(i) << 8), 24, kR10);
	ASSERT_EQ(dp.get_config(0).subnets, XDPNET_SUBNETS_TRIE);
	neigh_put(20, kVm5, M(5));
	dp.fdb_put(20, M(5), A3, coarse_now());
	Bytes in = icmp_echo(8, kR10, M(1), kVm1, kVm5);
	RunResult r = send(A1, in, {Ctr(A1, XDPNET_CTR_ROUTED), Ctr(A3, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(hex(r.out), hex(routed(in, 14, M(5), kR20, {})));
	drop_route(0, kGw20, 24);
	send(A1, in, {Drop(A1, XDPNET_DROP_NO_ROUTE)}, false);
}
