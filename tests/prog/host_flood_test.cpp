// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// xdpnet_host_flood (tc ingress on host ports) through BPF_PROG_TEST_RUN with
// an skb: bpf_clone_redirect really transmits, so the capture program on the
// far ends shows each copy. VLAN offload is off on the test veths so a pushed
// tag is in the frame on the wire rather than in skb metadata.
//
// Each test loads xdpnet_host_flood, which takes over a second to verify:
// the cases are grouped into few tests on purpose.
#include "harness.h"

#include <map>

#include <linux/pkt_cls.h>

using namespace xt;

namespace {

int ifc(P p) { return std_ports()[p].iface; }
uint32_t ifx(P p) { return iface(ifc(p)).ifindex; }

Datapath::Options with_host_flood()
{
	Datapath::Options o;
	o.host_flood = true;
	return o;
}

struct HostFlood : ::testing::Test {
	Datapath dp{with_host_flood()};
	Capture *cap = nullptr;
	void SetUp() override
	{
		net_env().vlan_offload_off();
		cap = &Capture::get();
		dp.install_std(0);
	}
	std::vector<Captured> run(const Bytes &f, uint32_t ifindex, size_t want)
	{
		cap->drain();
		RunResult r = dp.run_tc(dp.skel->progs.xdpnet_host_flood, f, ifindex);
		EXPECT_EQ(r.err, 0) << strerror(-r.err);
		EXPECT_EQ(r.retval, uint32_t(TC_ACT_OK));
		EXPECT_EQ(hex(r.out), hex(f)) << "the host's own copy is left as it was";
		return cap->collect(want, want ? 1000 : 100);
	}
};

std::map<int, Bytes> by_iface(const std::vector<Captured> &got)
{
	std::map<int, Bytes> m;
	for (auto &c : got) {
		EXPECT_FALSE(m.count(c.iface)) << "two copies on iface " << c.iface;
		m[c.iface] = c.data;
	}
	return m;
}

TEST_F(HostFlood, BroadcastFromHostPortReachesEveryOtherMemberOfItsVlan)
{
	Bytes f = frame(kBcast, kHostMac, {}, 0x0806, 28);
	Bytes tagged = frame(kBcast, kHostMac, {Q(10)}, 0x0806, 28);
	Snapshot s = dp.snapshot();
	auto got = by_iface(run(f, ifx(H2), 5));
	std::map<int, Bytes> want = {
		{ifc(A1), f}, {ifc(A2), f}, {ifc(T1), tagged}, {ifc(T2), tagged}, {ifc(T3), tagged}};
	for (auto &[i, b] : want) {
		ASSERT_TRUE(got.count(i)) << "no copy on iface " << i;
		EXPECT_EQ(hex(got[i]), hex(b)) << "copy on iface " << i;
	}
	EXPECT_EQ(got.size(), want.size()) << "copies only to the VLAN's other members";
	expect_effects(s, dp.snapshot(),
		       {Ctr(H2, XDPNET_CTR_FLOODED), Ctr(A1, XDPNET_CTR_TX_FLOOD), Ctr(A2, XDPNET_CTR_TX_FLOOD),
			Ctr(T1, XDPNET_CTR_TX_FLOOD), Ctr(T2, XDPNET_CTR_TX_FLOOD), Ctr(T3, XDPNET_CTR_TX_FLOOD)});

	// Multicast too.
	Bytes mc = frame({0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, kHostMac);
	got = by_iface(run(mc, ifx(H2), 5));
	EXPECT_EQ(got.size(), 5u);
}

TEST_F(HostFlood, LeavesEverythingElseAlone)
{
	struct Case {
		const char *what;
		Bytes f;
		uint32_t ifindex;
	};
	const Case cases[] = {
		{"unicast from the host", frame(M(1), kHostMac), ifx(H2)},
		{"tagged broadcast", frame(kBcast, kHostMac, {Q(10)}), ifx(H2)},
		{"802.1ad broadcast", frame(kBcast, kHostMac, {AD(10)}), ifx(H2)},
		{"broadcast on a port without the host flag", frame(kBcast, M(1)), ifx(A1)},
		{"broadcast on a host port without native VLAN", frame(kBcast, M(1)), ifx(H1)},
		{"broadcast on an interface outside the policy", frame(kBcast, M(1)), iface(kFreeIface).ifindex},
	};
	for (auto &c : cases) {
		SCOPED_TRACE(c.what);
		Snapshot s = dp.snapshot();
		auto got = run(c.f, c.ifindex, 0);
		for (auto &g : got)
			ADD_FAILURE() << "unexpected copy on iface " << g.iface << ": " << hex(g.data);
		expect_effects(s, dp.snapshot(), {});
	}
}

TEST_F(HostFlood, UnreachableMemberIsCountedAndTheOthersStillServed)
{
	// Slot 100: a port of VLAN 10 on an interface that does not exist.
	xdpnet_port ghost{};
	ghost.ifindex = 60000;
	ghost.slot = 100;
	ghost.pvid = 10;
	ghost.mode = XDPNET_MODE_ACCESS;
	ghost.vlans[0] = 1ULL << 10;
	dp.write_port(0, ghost);
	xdpnet_vlan v{};
	for (P p : {A1, H2, A2})
		v.members[v.count++] = uint8_t(kSlot[p]);
	v.members[v.count++] = 100;
	uint32_t k = 10;
	ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_vlans), &k, &v, BPF_ANY), 0);

	Bytes f = frame(kBcast, kHostMac);
	Snapshot s = dp.snapshot();
	auto got = by_iface(run(f, ifx(H2), 2));
	EXPECT_EQ(got.size(), 2u);
	EXPECT_TRUE(got.count(ifc(A1)));
	EXPECT_TRUE(got.count(ifc(A2)));
	expect_effects(s, dp.snapshot(),
		       {Ctr(H2, XDPNET_CTR_FLOODED), Ctr(A1, XDPNET_CTR_TX_FLOOD), Ctr(A2, XDPNET_CTR_TX_FLOOD),
			Drop(100, XDPNET_DROP_NO_TX_PORT)});

	// Alone in its VLAN: no copies, nothing counted as flooded.
	xdpnet_vlan alone{};
	alone.members[alone.count++] = uint8_t(kSlot[H2]);
	ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_vlans), &k, &alone, BPF_ANY), 0);
	s = dp.snapshot();
	auto none = run(f, ifx(H2), 0);
	EXPECT_TRUE(none.empty());
	expect_effects(s, dp.snapshot(), {});
}

} // namespace
