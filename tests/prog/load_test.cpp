// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Loading is the verifier check: every program of the object, as built.
#include "harness.h"

#include <cerrno>
#include <cstring>

using namespace xt;

namespace {

bpf_prog_info info_of(int fd)
{
	bpf_prog_info info{};
	uint32_t len = sizeof(info);
	EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0) << strerror(errno);
	return info;
}

TEST(Load, EveryProgramPassesTheVerifier)
{
	Datapath::Options o;
	o.host_flood = true;
	Datapath dp(o);
	struct Want {
		bpf_program *prog;
		bpf_prog_type type;
		bpf_attach_type attach;
	};
	const Want want[] = {
		{dp.skel->progs.xdpnet_ingress, BPF_PROG_TYPE_XDP, BPF_XDP},
		{dp.skel->progs.xdpnet_flood_egress, BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP},
		{dp.skel->progs.xdpnet_host_flood, BPF_PROG_TYPE_SCHED_CLS, bpf_attach_type(0)},
		{dp.skel->progs.xdpnet_fdb_gc, BPF_PROG_TYPE_XDP, BPF_XDP},
	};
	for (auto &w : want) {
		const char *name = bpf_program__name(w.prog);
		SCOPED_TRACE(name);
		int fd = bpf_program__fd(w.prog);
		ASSERT_GE(fd, 0);
		bpf_prog_info info = info_of(fd);
		EXPECT_EQ(info.type, uint32_t(w.type));
		if (w.type == BPF_PROG_TYPE_XDP) {
			EXPECT_EQ(bpf_program__expected_attach_type(w.prog), w.attach);
		}
		// The verifier's work, for the record (limit: 1,000,000).
		printf("  %-22s verified_insns %u, xlated %u bytes, jited %u bytes\n", name, info.verified_insns,
		       info.xlated_prog_len, info.jited_prog_len);
		::testing::Test::RecordProperty(std::string(name) + "_verified_insns", int(info.verified_insns));
	}
}

TEST(Load, FdbSizeIsTheLoadersChoice)
{
	Datapath::Options o;
	o.fdb_max = 4;
	Datapath dp(o);
	bpf_map_info info{};
	uint32_t len = sizeof(info);
	ASSERT_EQ(bpf_obj_get_info_by_fd(dp.mfd(dp.skel->maps.xdpnet_fdb), &info, &len), 0);
	EXPECT_EQ(info.max_entries, 4u);
	EXPECT_EQ(info.type, uint32_t(BPF_MAP_TYPE_HASH)) << "not LRU: static entries must never be evicted";
	EXPECT_EQ(info.map_flags & BPF_F_NO_PREALLOC, 0u);
}

// The flood devmap entries carry xdpnet_flood_egress: the kernel only takes an
// XDP program built for devmap egress there.
TEST(Load, FloodEgressIsAcceptedAsADevmapEntryProgram)
{
	Datapath dp;
	int inner = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "xt_probe", sizeof(uint32_t), sizeof(bpf_devmap_val),
				   XDPNET_MAX_PORTS, nullptr);
	ASSERT_GE(inner, 0) << strerror(errno);
	uint32_t key = iface(0).ifindex;
	bpf_devmap_val v{};
	v.ifindex = key;
	v.bpf_prog.fd = dp.pfd(dp.skel->progs.xdpnet_flood_egress);
	EXPECT_EQ(bpf_map_update_elem(inner, &key, &v, BPF_ANY), 0) << strerror(errno);
	v.bpf_prog.fd = dp.pfd(dp.skel->progs.xdpnet_ingress);
	EXPECT_NE(bpf_map_update_elem(inner, &key, &v, BPF_ANY), 0) << "a plain XDP program must be refused";
	// And the inner map matches the outer map's template.
	uint32_t outer_key = 10;
	EXPECT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_flood), &outer_key, &inner, BPF_ANY), 0)
		<< strerror(errno);
	close(inner);
}

} // namespace
