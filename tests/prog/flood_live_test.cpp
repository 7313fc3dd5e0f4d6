// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Floods and unicast with real transmission (BPF_F_TEST_XDP_LIVE_FRAMES).
//
// xdpnet_flood_egress (SEC "xdp/devmap") cannot be run with BPF_PROG_TEST_RUN
// directly: the kernel refuses test_run for programs whose expected attach
// type is BPF_XDP_DEVMAP (EINVAL, with or without a ctx, and egress_ifindex is
// not settable). It is exercised here the way it runs in production: the
// ingress program floods through the VLAN's devmap in live-frames mode, the
// kernel runs the egress program once per member, and the capture program on
// the far end of each veth records exactly what left each port.
#include "harness.h"

#include <algorithm>
#include <map>

using namespace xt;

namespace {

int ifc(P p) { return std_ports()[p].iface; }
uint32_t ifx(P p) { return iface(ifc(p)).ifindex; }

// Exactly one frame per listed interface, with these bytes, and nothing else.
void expect_captured(const std::vector<Captured> &got, const std::map<int, Bytes> &want)
{
	std::map<int, std::vector<Bytes>> by_iface;
	for (auto &c : got)
		by_iface[c.iface].push_back(c.data);
	for (auto &[i, frames] : by_iface) {
		auto w = want.find(i);
		if (w == want.end()) {
			for (auto &f : frames)
				ADD_FAILURE() << "unexpected frame on iface " << i << ": " << hex(f);
			continue;
		}
		EXPECT_EQ(frames.size(), 1u) << "copies on iface " << i;
		EXPECT_EQ(hex(frames.front()), hex(w->second)) << "frame on iface " << i;
	}
	for (auto &[i, f] : want)
		if (!by_iface.count(i))
			ADD_FAILURE() << "nothing arrived on iface " << i << ", expected " << hex(f);
}

struct Live : ::testing::Test {
	Datapath dp;
	Capture *cap = nullptr;
	void SetUp() override
	{
		cap = &Capture::get();
		dp.install_std(0);
	}
	// Runs the frame for real and returns what arrived; want = frames expected.
	std::vector<Captured> run(const Bytes &f, P in, size_t want)
	{
		cap->drain();
		int err = dp.run_xdp_live(dp.skel->progs.xdpnet_ingress, f, ifx(in));
		EXPECT_EQ(err, 0) << "live test_run: " << strerror(-err);
		return cap->collect(want);
	}
	std::vector<Effect> rx(P in, const Bytes &f)
	{
		return {Ctr(in, XDPNET_CTR_RX), Ctr(in, XDPNET_CTR_RX_BYTES, int64_t(f.size()))};
	}
};

std::vector<Effect> operator+(std::vector<Effect> a, const std::vector<Effect> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

TEST_F(Live, FloodFromAccessReachesEachMemberTaggedAsItWants)
{
	Bytes f = frame(kBcast, M(1));
	Snapshot s = dp.snapshot();
	auto got = run(f, A1, 5);
	expect_captured(got, {{ifc(A2), f},
			      {ifc(T1), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T2), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T3), frame(kBcast, M(1), {Q(10)})},
			      {ifc(H2), f}});
	expect_effects(s, dp.snapshot(),
		       rx(A1, f) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED),
						       Ctr(A2, XDPNET_CTR_TX_FLOOD), Ctr(T1, XDPNET_CTR_TX_FLOOD),
						       Ctr(T2, XDPNET_CTR_TX_FLOOD), Ctr(T3, XDPNET_CTR_TX_FLOOD),
						       Ctr(H2, XDPNET_CTR_TX_FLOOD)});
}

TEST_F(Live, FloodFromTrunkPopsForAccessKeepsPcpForTrunks)
{
	Bytes f = frame(M(2), M(1), {Q(20, 5, true)});
	Snapshot s = dp.snapshot();
	auto got = run(f, T1, 3);
	expect_captured(got, {{ifc(A3), frame(M(2), M(1))}, {ifc(T2), f}, {ifc(T3), f}});
	expect_effects(s, dp.snapshot(),
		       rx(T1, f) + std::vector<Effect>{Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED),
						       Ctr(A3, XDPNET_CTR_TX_FLOOD), Ctr(T2, XDPNET_CTR_TX_FLOOD),
						       Ctr(T3, XDPNET_CTR_TX_FLOOD)});
}

TEST_F(Live, FloodOnNativeVlanUntaggedOnNativeTrunksTaggedElsewhere)
{
	Bytes f = frame(kBcast, M(1));
	Snapshot s = dp.snapshot();
	auto got = run(f, T1, 2);
	expect_captured(got, {{ifc(T2), f}, {ifc(T3), frame(kBcast, M(1), {Q(1)})}});
	expect_effects(s, dp.snapshot(),
		       rx(T1, f) + std::vector<Effect>{Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED),
						       Ctr(T2, XDPNET_CTR_TX_FLOOD), Ctr(T3, XDPNET_CTR_TX_FLOOD)});
}

TEST_F(Live, FloodOfPriorityTaggedFrameNamesTheNativeVlan)
{
	Bytes f = frame(kBcast, M(1), {Q(0, 6)});
	auto got = run(f, T2, 2);
	expect_captured(got, {{ifc(T1), frame(kBcast, M(1))}, {ifc(T3), frame(kBcast, M(1), {Q(1, 6)})}});
}

TEST_F(Live, FloodToHostTrunkWithoutNativeStaysTagged)
{
	Bytes f = frame(kBcast, M(1), {Q(30, 1)});
	auto got = run(f, T2, 1);
	expect_captured(got, {{ifc(H1), f}});
}

TEST_F(Live, FloodCopyToPortOutsideTheVlanIsDroppedAtEgress)
{
	// VLAN 10's devmap wrongly also holds A3 (VLAN 20 only).
	auto ports = std_ports();
	std::vector<const PortSpec *> members;
	std::vector<uint32_t> flood;
	for (P p : {A1, A2, T1, T2, T3, H2}) {
		members.push_back(&ports[p]);
		flood.push_back(ifx(p));
	}
	flood.push_back(ifx(A3));
	dp.put_vlan(0, 10, members, flood);
	dp.flush_floods();

	Bytes f = frame(kBcast, M(1));
	Snapshot s = dp.snapshot();
	auto got = run(f, A1, 5);
	expect_captured(got, {{ifc(A2), f},
			      {ifc(T1), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T2), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T3), frame(kBcast, M(1), {Q(10)})},
			      {ifc(H2), f}});
	expect_effects(s, dp.snapshot(),
		       rx(A1, f) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED),
						       Ctr(A2, XDPNET_CTR_TX_FLOOD), Ctr(T1, XDPNET_CTR_TX_FLOOD),
						       Ctr(T2, XDPNET_CTR_TX_FLOOD), Ctr(T3, XDPNET_CTR_TX_FLOOD),
						       Ctr(H2, XDPNET_CTR_TX_FLOOD),
						       Drop(A3, XDPNET_DROP_EGRESS_NOT_MEMBER)});
}

TEST_F(Live, FloodCopyToInterfaceOutsideThePolicyIsDroppedAtEgress)
{
	auto ports = std_ports();
	dp.put_vlan(0, 1, {&ports[T1], &ports[T2]}, std::vector<uint32_t>{ifx(T1), ifx(T2), iface(kFreeIface).ifindex});
	dp.flush_floods();
	Bytes f = frame(kBcast, M(1));
	Snapshot s = dp.snapshot();
	auto got = run(f, T1, 1);
	expect_captured(got, {{ifc(T2), f}});
	expect_effects(s, dp.snapshot(),
		       rx(T1, f) + std::vector<Effect>{Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED),
						       Ctr(T2, XDPNET_CTR_TX_FLOOD),
						       Drop(XDPNET_SLOT_NONE, XDPNET_DROP_STALE_CONFIG)});
}

TEST_F(Live, FloodEgressReadsTheLiveGeneration)
{
	// Gen 1: T3 gets VLAN 10 as its native VLAN, so it wants that VLAN untagged.
	auto next = std_ports();
	next[T3].pvid = 10;
	dp.install(1, next);
	Bytes f = frame(kBcast, M(1));
	auto got = run(f, A1, 5);
	expect_captured(got, {{ifc(A2), f},
			      {ifc(T1), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T2), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T3), frame(kBcast, M(1), {Q(10)})},
			      {ifc(H2), f}});
	dp.set_active_gen(1);
	got = run(f, A1, 5);
	expect_captured(got, {{ifc(A2), f},
			      {ifc(T1), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T2), frame(kBcast, M(1), {Q(10)})},
			      {ifc(T3), f},
			      {ifc(H2), f}});
}

TEST_F(Live, UnicastAccessToTrunkLeavesTaggedOnlyThere)
{
	dp.fdb_put(10, M(2), T1, coarse_now());
	Bytes f = frame(M(2), M(1));
	Snapshot s = dp.snapshot();
	auto got = run(f, A1, 1);
	expect_captured(got, {{ifc(T1), frame(M(2), M(1), {Q(10)})}});
	expect_effects(s, dp.snapshot(),
		       rx(A1, f) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Live, UnicastTrunkToAccessLeavesUntagged)
{
	dp.fdb_put(20, M(2), A3, coarse_now());
	Bytes f = frame(M(2), M(1), {Q(20, 3)});
	auto got = run(f, T2, 1);
	expect_captured(got, {{ifc(A3), frame(M(2), M(1))}});
}

} // namespace
