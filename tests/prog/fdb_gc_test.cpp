// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// FDB aging: xdpnet_fdb_gc run through BPF_PROG_TEST_RUN (one aging pass,
// arms the bpf_timer), and the lookups before and after it. No sleeping for
// aging itself: entries are written with last_seen_ns in the past.
#include "harness.h"

#include <thread>

using namespace xt;

namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint64_t kHour = 3600 * kSec;

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

// Runs one gc pass; frame and ctx are irrelevant to it.
void run_gc(Datapath &dp, uint32_t ifindex = 0)
{
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(99)), ifindex);
	ASSERT_EQ(r.err, 0) << strerror(-r.err);
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS)) << "XDP_ABORTED: the timer could not be armed";
}

struct GcFixture : ::testing::Test {
	Datapath dp;
	uint64_t t0 = 0;
	void SetUp() override
	{
		dp.install_std(0);
		dp.set_gc_interval(kHour); // armed, but never fires during the test
		t0 = coarse_now();
	}
	// The same mix every test starts from:
	//   (10,M1) A2 dynamic expired     (10,M2) A2 dynamic fresh
	//   (10,M3) A2 static, ancient      (20,M4) T1 dynamic expired
	//   (20,M5) T1 dynamic, 1 s from expiry
	void populate()
	{
		dp.fdb_put(10, M(1), A2, t0 - kAgingNs - 1);
		dp.fdb_put(10, M(2), A2, t0);
		dp.fdb_put(10, M(3), A2, 1, XDPNET_FDB_STATIC);
		dp.fdb_put(20, M(4), T1, t0 - 2 * kAgingNs);
		dp.fdb_put(20, M(5), T1, t0 - kAgingNs + kSec);
		dp.set_maccnt(kSlot[A2], 2);
		dp.set_maccnt(kSlot[T1], 2);
	}
};

TEST_F(GcFixture, ExpiredDestinationFloodsUntilGcRemovesIt)
{
	populate();
	Bytes to_m1 = frame(M(1), M(9));
	// Before the pass: the expired entry is still there but ignored (flood).
	Snapshot s0 = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, to_m1, ifx(A1));
	ASSERT_EQ(r.err, 0);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(frame(M(1), M(9), {Q(10)})));
	expect_effects(s0, dp.snapshot(),
		       {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(to_m1.size())),
			Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)});
	EXPECT_TRUE(dp.fdb_get(10, M(1)).has_value());

	// The fresh one is forwarded.
	Bytes to_m2 = frame(M(2), M(9));
	r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, to_m2, ifx(A1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_m2));

	// The pass.
	const uint64_t before = coarse_now();
	Snapshot s1 = dp.snapshot();
	run_gc(dp);
	const uint64_t after = coarse_now();
	expect_effects(s1, dp.snapshot(), {}); // gc counts in xdpnet_gc, not in stats

	EXPECT_FALSE(dp.fdb_get(10, M(1)).has_value()) << "expired dynamic entry removed";
	EXPECT_FALSE(dp.fdb_get(20, M(4)).has_value()) << "expired dynamic entry removed";
	ASSERT_TRUE(dp.fdb_get(10, M(2)).has_value()) << "fresh entry kept";
	EXPECT_EQ(dp.fdb_get(10, M(2))->last_seen_ns, t0);
	ASSERT_TRUE(dp.fdb_get(10, M(3)).has_value()) << "static entry kept";
	EXPECT_EQ(dp.fdb_get(10, M(3))->flags, XDPNET_FDB_STATIC);
	EXPECT_TRUE(dp.fdb_get(20, M(5)).has_value()) << "entry 1 s from expiry kept";
	EXPECT_TRUE(dp.fdb_get(10, M(9)).has_value()) << "the MAC learned above kept";
	EXPECT_EQ(dp.fdb_count(), 4u);
	EXPECT_EQ(dp.maccnt(kSlot[A2]), 1u);
	EXPECT_EQ(dp.maccnt(kSlot[T1]), 1u);
	EXPECT_EQ(dp.maccnt(kSlot[A1]), 1u);

	xdpnet_gc g = dp.gc();
	EXPECT_EQ(g.passes, 1u);
	EXPECT_EQ(g.removed, 2u);
	EXPECT_EQ(g.armed, 1u);
	EXPECT_EQ(g.interval_ns, kHour);
	EXPECT_GE(g.last_run_ns, before);
	EXPECT_LE(g.last_run_ns, after);

	// After it, the same frame still floods (now because the MAC is unknown).
	r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, to_m1, ifx(A1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(frame(M(1), M(9), {Q(10)})));
}

TEST_F(GcFixture, SecondPassRemovesNothingMoreAndCountsPasses)
{
	populate();
	run_gc(dp);
	run_gc(dp, ifx(A1)); // with an ingress ctx too
	xdpnet_gc g = dp.gc();
	EXPECT_EQ(g.passes, 2u);
	EXPECT_EQ(g.removed, 2u);
	EXPECT_EQ(dp.fdb_count(), 3u);
	EXPECT_EQ(dp.maccnt(kSlot[A2]), 1u);
	EXPECT_EQ(dp.maccnt(kSlot[T1]), 1u);
}

TEST_F(GcFixture, AgingZeroRemovesNothing)
{
	dp.set_config(0, 0);
	populate();
	run_gc(dp);
	xdpnet_gc g = dp.gc();
	EXPECT_EQ(g.passes, 1u);
	EXPECT_EQ(g.removed, 0u);
	EXPECT_EQ(dp.fdb_count(), 5u);
	EXPECT_EQ(dp.maccnt(kSlot[A2]), 2u);
}

TEST_F(GcFixture, UsesTheLiveGenerationsAgingTime)
{
	dp.install_std(1);
	dp.set_config(0, 0);            // live: no aging
	dp.set_config(1, kAgingNs);     // inactive: aging
	populate();
	run_gc(dp);
	EXPECT_EQ(dp.gc().removed, 0u);
	EXPECT_EQ(dp.fdb_count(), 5u);
	dp.set_active_gen(1);
	run_gc(dp);
	EXPECT_EQ(dp.gc().removed, 2u);
	EXPECT_EQ(dp.fdb_count(), 3u);
}

TEST_F(GcFixture, EmptyTable)
{
	run_gc(dp);
	xdpnet_gc g = dp.gc();
	EXPECT_EQ(g.passes, 1u);
	EXPECT_EQ(g.removed, 0u);
}

// The timer itself: with a short interval the passes continue on their own.
// (Polls for at most two seconds; normally done in ~100 ms.)
bool wait_for_passes(Datapath &dp, uint64_t n)
{
	for (int i = 0; i < 200; i++) {
		if (dp.gc().passes >= n)
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return false;
}

TEST(FdbGcTimer, KeepsRunningPasses)
{
	Datapath dp;
	dp.install_std(0);
	dp.set_gc_interval(20 * 1000000ULL); // 20 ms
	const uint64_t t0 = coarse_now();
	dp.fdb_put(10, M(1), A2, t0);
	run_gc(dp);
	EXPECT_TRUE(wait_for_passes(dp, 3)) << "timer passes: " << dp.gc().passes;
	// An entry that expires while only the timer runs is removed by it.
	dp.fdb_put(10, M(2), A2, coarse_now() - kAgingNs - 1);
	dp.set_maccnt(kSlot[A2], 2);
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) {
		gone = !dp.fdb_get(10, M(2)).has_value();
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	EXPECT_TRUE(gone) << "expired entry not removed by the timer";
	EXPECT_TRUE(dp.fdb_get(10, M(1)).has_value());
}

// A loader that changes interval_ns writes xdpnet_gc[0] from userspace. The
// kernel frees the bpf_timer inside a map value on every userspace update of
// that value; the next xdpnet_fdb_gc run must arm it again (regression test:
// it once trusted g->armed, which a read-modify-write from userspace keeps at 1).
TEST(FdbGcTimer, SurvivesUserspaceUpdateOfTheGcRecord)
{
	Datapath dp;
	dp.install_std(0);
	dp.set_gc_interval(kHour);
	run_gc(dp);                           // armed, 1 h
	dp.set_gc_interval(20 * 1000000ULL); // loader: new interval (read-modify-write)
	run_gc(dp);                           // re-arm with the new interval
	const uint64_t passes = dp.gc().passes;
	EXPECT_TRUE(wait_for_passes(dp, passes + 2))
		<< "the timer stopped: passes stuck at " << dp.gc().passes
		<< " (userspace update freed the timer; armed=" << dp.gc().armed << ")";
}

} // namespace
