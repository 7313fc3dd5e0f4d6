// The per-CPU exact-match cache in front of the FDB: it must never change
// what the switch does, only how fast. Moves, removals and generation
// switches take effect on the next frame.
#include "harness.h"

using namespace xt;

namespace {

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

// The cache entries (over all CPUs) holding (vlan, mac).
std::vector<xdpnet_fdb_cache> cached(Datapath &dp, uint16_t vlan, const Mac &mac)
{
	int ncpu = libbpf_num_possible_cpus();
	std::vector<xdpnet_fdb_cache> vals(ncpu), out;
	for (uint32_t idx = 0; idx < XDPNET_FDB_CACHE_SIZE; idx++) {
		if (bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_fdbcache), &idx, vals.data()) != 0)
			continue;
		for (auto &v : vals)
			if (v.valid && v.key.vlan == vlan && memcmp(v.key.mac, mac.data(), 6) == 0)
				out.push_back(v);
	}
	return out;
}

struct FdbCache : ::testing::Test {
	Datapath dp;
	void SetUp() override { dp.install_std(0); }
	RunResult send(P port, const Bytes &f) { return dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(port)); }
};

} // namespace

TEST_F(FdbCache, LearningAndForwardingFillIt)
{
	ASSERT_EQ(send(A1, frame(kBcast, M(1))).retval, uint32_t(XDP_REDIRECT));
	auto c = cached(dp, 10, M(1));
	ASSERT_FALSE(c.empty()) << "learning M1 on A1 filled the cache";
	EXPECT_EQ(c[0].slot, kSlot[A1]);
	EXPECT_EQ(c[0].ifindex, ifx(A1));
	// Forwarded the same way from the cache as from the FDB, many times.
	for (int i = 0; i < 20; i++) {
		RunResult r = send(A2, frame(M(1), M(2)));
		ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		ASSERT_EQ(hex(r.out), hex(frame(M(1), M(2))));
	}
}

TEST_F(FdbCache, RemovalByTheLoaderIsSeenAtOnce)
{
	send(A1, frame(kBcast, M(1)));
	ASSERT_EQ(hex(send(A2, frame(M(1), M(2))).out), hex(frame(M(1), M(2)))) << "known: forwarded";
	// What `xdpnet fdb del` does: delete, then bump the version.
	xdpnet_fdb_key k{};
	k.vlan = 10;
	memcpy(k.mac, M(1).data(), 6);
	ASSERT_EQ(bpf_map_delete_elem(dp.mfd(dp.skel->maps.xdpnet_fdb), &k), 0);
	dp.bump_fdb_version();
	EXPECT_EQ(hex(send(A2, frame(M(1), M(2))).out), hex(frame(M(1), M(2), {Q(10)})))
		<< "unknown again: flooded, not sent from a stale cache";
}

TEST_F(FdbCache, AMoveIsSeenAtOnce)
{
	send(A1, frame(kBcast, M(1)));
	send(A2, frame(M(1), M(2))); // caches M1 -> A1 as a destination too
	uint32_t v = dp.fdb_version();
	send(A2, frame(kBcast, M(1))); // M1 moves to A2
	EXPECT_EQ(dp.fdb_version(), v + 1) << "a move bumps the version";
	ASSERT_EQ(dp.fdb_get(10, M(1))->slot, kSlot[A2]);
	RunResult r = send(A1, frame(M(1), M(3)));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Snapshot s0 = dp.snapshot();
	r = send(A1, frame(M(1), M(3)));
	Snapshot s1 = dp.snapshot();
	EXPECT_EQ(s1.slots[kSlot[A2]].ctr[XDPNET_CTR_TX_UNICAST] - s0.slots[kSlot[A2]].ctr[XDPNET_CTR_TX_UNICAST], 1u)
		<< "sent to the new port";
}

TEST_F(FdbCache, GcRemovalBumpsTheVersion)
{
	dp.set_gc_interval(3600ULL * 1000000000ULL);
	dp.fdb_put(10, M(5), A2, coarse_now() - kAgingNs - 1000000000ULL);
	uint32_t v = dp.fdb_version();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(9)), ifx(A1));
	ASSERT_EQ(r.retval, uint32_t(XDP_PASS));
	EXPECT_FALSE(dp.fdb_get(10, M(5)).has_value());
	EXPECT_GT(dp.fdb_version(), v);
}
