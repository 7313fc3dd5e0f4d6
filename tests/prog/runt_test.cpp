// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Runts: frames shorter than an Ethernet header (0, 1 and 13 bytes).
//
// BPF_PROG_TEST_RUN on Linux 6.18 refuses XDP input whose frame part (after
// any metadata given with ctx.data) is shorter than ETH_HLEN, with EINVAL,
// and the XDP helpers refuse to shrink a frame below it: through test_run the
// program cannot be handed a runt, so its RUNT check is unreachable here.
// Each case therefore asserts one of two outcomes: the kernel refuses the
// frame (EINVAL, no counter moves), or it accepts it and the program drops it
// as a runt (and nothing else moves).
#include "harness.h"

#include <cerrno>
#include <cstring>

using namespace xt;

namespace {

class Runt : public ::testing::TestWithParam<std::tuple<uint32_t, uint32_t>> {};

TEST_P(Runt, IsRefusedByTheKernelOrDroppedAsRunt)
{
	const auto [len, meta] = GetParam();
	Datapath dp;
	dp.install_std(0);
	const uint32_t ifindex = iface(std_ports()[A1].iface).ifindex;
	Bytes data(meta, 0xee);
	Bytes f = frame(kBcast, M(1));
	data.insert(data.end(), f.begin(), f.begin() + len);

	Snapshot before = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, data, ifindex, meta);
	Snapshot after = dp.snapshot();
	if (r.err == 0) {
		EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
		expect_effects(before, after,
			       {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, len),
				Drop(A1, XDPNET_DROP_RUNT)});
	} else {
		EXPECT_EQ(r.err, -EINVAL) << strerror(-r.err);
		expect_effects(before, after, {});
	}
}

INSTANTIATE_TEST_SUITE_P(Lengths, Runt,
			 ::testing::Combine(::testing::Values(0u, 1u, 13u), ::testing::Values(0u, 4u, 16u)),
			 [](const ::testing::TestParamInfo<std::tuple<uint32_t, uint32_t>> &i) {
				 return "len" + std::to_string(std::get<0>(i.param)) + "_meta" +
					std::to_string(std::get<1>(i.param));
			 });

} // namespace
