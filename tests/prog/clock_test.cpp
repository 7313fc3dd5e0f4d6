// The datapath clock: jiffies x ns_per_jiffy when the loader has set it (the
// production path), and what learning and aging make of it.
#include "harness.h"

using namespace xt;

namespace {

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

constexpr uint32_t kNsPerJiffy = 4000000; // HZ 250

struct Clock {
	uint64_t now, jiffies, coarse;
};

Clock read_clock(Datapath &dp)
{
	Bytes in(64, 0);
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_clock, in, 0);
	EXPECT_EQ(r.err, 0);
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	Clock c{};
	if (r.out.size() >= 24)
		memcpy(&c, r.out.data(), 24);
	return c;
}

struct JiffyClock : ::testing::Test {
	Datapath dp;
	void SetUp() override
	{
		dp.install_std(0);
		xdpnet_config cfg{};
		cfg.aging_ns = kAgingNs;
		cfg.ns_per_jiffy = kNsPerJiffy;
		uint32_t gen = 0;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_config), &gen, &cfg, BPF_ANY), 0);
	}
};

} // namespace

TEST_F(JiffyClock, ProbeReportsJiffiesTimesNsPerJiffy)
{
	Clock c = read_clock(dp);
	EXPECT_GT(c.jiffies, 0u);
	EXPECT_EQ(c.now, c.jiffies * kNsPerJiffy);
	EXPECT_GT(c.coarse, 0u);
}

TEST_F(JiffyClock, CoarseClockWhenNsPerJiffyUnset)
{
	dp.set_config(0, kAgingNs); // ns_per_jiffy 0
	Clock c = read_clock(dp);
	EXPECT_GE(c.now, c.coarse - 1000000000ULL);
	EXPECT_LE(c.now, c.coarse + 1000000000ULL);
}

TEST_F(JiffyClock, LearningStampsTheJiffyClock)
{
	Clock before = read_clock(dp);
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, frame(M(2), M(1)), ifx(A1));
	ASSERT_EQ(r.err, 0);
	Clock after = read_clock(dp);
	auto e = dp.fdb_get(10, M(1));
	ASSERT_TRUE(e.has_value());
	EXPECT_GE(e->last_seen_ns, before.now);
	EXPECT_LE(e->last_seen_ns, after.now);
	EXPECT_EQ(e->last_seen_ns % kNsPerJiffy, 0u);
}

TEST_F(JiffyClock, AgingUsesTheJiffyClock)
{
	Clock c = read_clock(dp);
	dp.fdb_put(10, M(2), A2, c.now - kAgingNs - 1000000000ULL); // expired by 1 s
	dp.fdb_put(10, M(3), A2, c.now - kAgingNs + 10000000000ULL); // 10 s left
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, frame(M(2), M(1)), ifx(A1));
	ASSERT_EQ(r.err, 0);
	EXPECT_EQ(hex(r.out), hex(frame(M(2), M(1), {Q(10)}))) << "expired: flooded (tag pushed)";
	r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, frame(M(3), M(1)), ifx(A1));
	ASSERT_EQ(r.err, 0);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(frame(M(3), M(1)))) << "fresh: forwarded untagged to A2";
}
