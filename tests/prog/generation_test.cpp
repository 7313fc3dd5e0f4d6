// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Policy generations: state written into the inactive generation has no
// effect until xdpnet_state[0].active_gen flips to it, and then takes effect
// all at once. The FDB is not generational and carries over.
#include "harness.h"

using namespace xt;

namespace {

uint32_t ifx(int i) { return iface(i).ifindex; }

struct Gen : ::testing::Test {
	Datapath dp;
	RunResult run(const Bytes &f, int ifc)
	{
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(ifc));
		EXPECT_EQ(r.err, 0);
		return r;
	}
};

// The next policy: the standard one plus an access port on the free interface
// (slot 100, VLAN 10), and A1 moved from VLAN 10 to VLAN 20.
std::vector<PortSpec> next_policy()
{
	auto v = std_ports();
	v[A1].pvid = 20;
	v[A1].vlans = {20};
	v.push_back(PortSpec{kFreeIface, 100, XDPNET_MODE_ACCESS, 10, {10}, 0, 0, port_mac(100)});
	return v;
}

TEST_F(Gen, PortOnlyInInactiveGenerationIsNotAPortUntilTheSwitch)
{
	for (uint32_t live : {0u, 1u}) {
		SCOPED_TRACE("live generation " + std::to_string(live));
		Datapath fresh;
		fresh.install_std(live);
		fresh.install(live ^ 1, next_policy());
		fresh.set_active_gen(live);
		Bytes f = frame(kBcast, M(1));

		Snapshot s0 = fresh.snapshot();
		RunResult r = fresh.run_xdp(fresh.skel->progs.xdpnet_ingress, f, ifx(kFreeIface));
		EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
		expect_effects(s0, fresh.snapshot(), {Ctr(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT)});
		EXPECT_EQ(fresh.fdb_count(), 0u);

		fresh.set_active_gen(live ^ 1);
		Snapshot s1 = fresh.snapshot();
		r = fresh.run_xdp(fresh.skel->progs.xdpnet_ingress, f, ifx(kFreeIface));
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		EXPECT_EQ(hex(r.out), hex(frame(kBcast, M(1), {Q(10)})));
		expect_effects(s1, fresh.snapshot(),
			       {Ctr(100, XDPNET_CTR_RX), Ctr(100, XDPNET_CTR_RX_BYTES, int64_t(f.size())),
				Ctr(100, XDPNET_CTR_LEARNED), Ctr(100, XDPNET_CTR_FLOODED)});
		auto e = fresh.fdb_get(10, M(1));
		ASSERT_TRUE(e.has_value());
		EXPECT_EQ(e->slot, 100);
		EXPECT_EQ(e->ifindex, ifx(kFreeIface));
	}
}

TEST_F(Gen, VlanChangeTakesEffectOnlyAtTheSwitchAndSwitchesBack)
{
	dp.install_std(0);
	dp.install(1, next_policy());
	Bytes f = frame(kBcast, M(1));

	RunResult r = run(f, std_ports()[A1].iface);
	EXPECT_EQ(hex(r.out), hex(frame(kBcast, M(1), {Q(10)}))) << "gen 0: A1 in VLAN 10";
	dp.set_active_gen(1);
	r = run(f, std_ports()[A1].iface);
	EXPECT_EQ(hex(r.out), hex(frame(kBcast, M(1), {Q(20)}))) << "gen 1: A1 in VLAN 20";
	EXPECT_TRUE(dp.fdb_get(10, M(1)).has_value());
	EXPECT_TRUE(dp.fdb_get(20, M(1)).has_value());
	dp.set_active_gen(0);
	r = run(f, std_ports()[A1].iface);
	EXPECT_EQ(hex(r.out), hex(frame(kBcast, M(1), {Q(10)}))) << "back to gen 0";
}

TEST_F(Gen, FdbEntryForAPortOnlyInInactiveGenerationFloodsUntilTheSwitch)
{
	dp.install_std(0);
	dp.install(1, next_policy());
	// M(2) sits behind slot 100 (the free interface), known to gen 1 only.
	dp.fdb_put(10, M(2), 100, ifx(kFreeIface), coarse_now());
	Bytes f = frame(M(2), M(1));
	RunResult r = run(f, std_ports()[A2].iface);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(frame(M(2), M(1), {Q(10)}))) << "flooded (tag pushed), not forwarded";

	dp.set_active_gen(1);
	Snapshot s = dp.snapshot();
	r = run(f, std_ports()[A2].iface);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(f)) << "forwarded untagged to the new access port";
	expect_effects(s, dp.snapshot(),
		       {Ctr(A2, XDPNET_CTR_RX), Ctr(A2, XDPNET_CTR_RX_BYTES, int64_t(f.size())),
			Ctr(100, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Gen, LearnedEntriesCarryOverTheSwitch)
{
	dp.install_std(0);
	dp.install_std(1);
	Bytes from_m1 = frame(kBcast, M(1));
	run(from_m1, std_ports()[A1].iface); // learned in gen 0
	dp.set_active_gen(1);
	Snapshot s = dp.snapshot();
	Bytes to_m1 = frame(M(1), M(2));
	RunResult r = run(to_m1, std_ports()[A2].iface);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_m1));
	expect_effects(s, dp.snapshot(),
		       {Ctr(A2, XDPNET_CTR_RX), Ctr(A2, XDPNET_CTR_RX_BYTES, int64_t(to_m1.size())),
			Ctr(A2, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Gen, AgingTimeComesFromTheLiveGeneration)
{
	dp.install_std(0);
	dp.install_std(1);
	dp.set_config(1, 1000000000ULL); // gen 1: 1 s aging
	dp.fdb_put(10, M(2), A2, coarse_now() - 10 * 1000000000ULL); // 10 s old
	Bytes f = frame(M(2), M(1));
	RunResult r = run(f, std_ports()[A1].iface);
	EXPECT_EQ(hex(r.out), hex(f)) << "gen 0 (300 s aging): forwarded";
	dp.set_active_gen(1);
	r = run(f, std_ports()[A1].iface);
	EXPECT_EQ(hex(r.out), hex(frame(M(2), M(1), {Q(10)}))) << "gen 1 (1 s aging): flooded";
}

} // namespace
