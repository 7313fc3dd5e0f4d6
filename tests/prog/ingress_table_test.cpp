// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// xdpnet_ingress, table-driven (in the style of katran's lib/testing): each
// case is a name, extra map state on top of the standard topology
// (harness.h), an input frame and its ingress port, the expected verdict, the
// expected output bytes, the exact change of every counter of every slot, and
// optional checks of FDB / MAC-count state afterwards.
//
// Every case runs twice: with the policy in generation 0 and in generation 1
// (active_gen = 1), the other generation holding a decoy policy, so any
// lookup that ignores the live generation shows up as a wrong verdict.
//
// Counters: RX and RX_BYTES of the ingress port are implied; everything else
// that moves must be listed, so a drop case asserts its reason and, by the
// same comparison, that no other counter (drop or not, any slot) moved.
#include "harness.h"

#include <cstring>

using namespace xt;

namespace {

constexpr int kNotPort = kPorts; // ingress on kFreeIface, outside the policy
constexpr uint64_t kSec = 1000000000ULL;

struct Ctx {
	Datapath &dp;
	uint32_t gen;
	uint64_t t0;               // coarse clock when the case's setup ran
	uint64_t run0 = 0, run1 = 0; // coarse clock just before / after the run
};
using Hook = std::function<void(Ctx &)>;

struct Case {
	std::string name;
	int port; // enum P, or kNotPort
	Bytes in;
	uint32_t verdict;
	std::optional<Bytes> out; // nullopt: the frame leaves unchanged
	std::vector<Effect> effects;
	Hook setup = nullptr;   // extra map state, after the topology is installed
	Hook check = nullptr;   // map state afterwards (FDB, MAC counts)
	uint32_t fdb_max = 0;   // xdpnet_fdb max_entries; 0 = the object's default
};

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

const char *verdict_name(uint32_t v)
{
	switch (v) {
	case XDP_ABORTED: return "XDP_ABORTED";
	case XDP_DROP: return "XDP_DROP";
	case XDP_PASS: return "XDP_PASS";
	case XDP_TX: return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	default: return "?";
	}
}

// --- setup / check building blocks -----------------------------------------
void set_limit(Ctx &c, P p, uint32_t limit)
{
	xdpnet_port port = c.dp.get_port(c.gen, kSlot[p]);
	port.mac_limit = limit;
	c.dp.write_port(c.gen, port);
}

// An FDB entry must exist and point at port, with these flags; last_seen is
// checked exactly when given, else it must be the run's timestamp.
void expect_fdb(Ctx &c, uint16_t vlan, const Mac &mac, P port, uint8_t flags,
		std::optional<uint64_t> last_seen = std::nullopt)
{
	auto e = c.dp.fdb_get(vlan, mac);
	ASSERT_TRUE(e.has_value()) << "no FDB entry for vlan " << vlan << " mac ..:" << int(mac[5]);
	EXPECT_EQ(e->slot, kSlot[port]) << "vlan " << vlan << " mac ..:" << int(mac[5]);
	EXPECT_EQ(e->ifindex, ifx(port));
	EXPECT_EQ(e->flags, flags);
	if (last_seen) {
		EXPECT_EQ(e->last_seen_ns, *last_seen);
	} else {
		EXPECT_GE(e->last_seen_ns, c.run0);
		EXPECT_LE(e->last_seen_ns, c.run1);
	}
}

void expect_no_fdb(Ctx &c, uint16_t vlan, const Mac &mac)
{
	EXPECT_FALSE(c.dp.fdb_get(vlan, mac).has_value()) << "unexpected FDB entry vlan " << vlan << " mac ..:"
							 << int(mac[5]);
}

Bytes F(const Mac &dst, const Mac &src, std::vector<Tag> tags = {}, uint16_t type = 0x0800, size_t payload = 46)
{
	return frame(dst, src, std::move(tags), type, payload);
}

const Mac kMcast = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
const Mac kZero = {0, 0, 0, 0, 0, 0};

// --- the table ---------------------------------------------------------------
std::vector<Case> build_cases()
{
	std::vector<Case> v;
	auto add = [&](Case c) { v.push_back(std::move(c)); };
	const Mac m1 = M(1), m2 = M(2);

	// ---- Stage 1: parsing -------------------------------------------------
	// test_run refuses frames shorter than ETH_HLEN (runts: see runt_test.cpp);
	// the shortest frame it accepts is a bare 14-byte header.
	add({"min_frame_14_bytes_is_not_a_runt", A1, F(kBcast, m1, {}, 0x0800, 0), XDP_REDIRECT,
	     F(kBcast, m1, {Q(10)}, 0x0800, 0), {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)}});
	for (size_t n = 14; n <= 17; n++)
		add({"truncated_vlan_" + std::to_string(n) + "_bytes", T1, F(kBcast, m1, {}, 0x8100, n - 14), XDP_DROP,
		     std::nullopt, {Drop(T1, XDPNET_DROP_TRUNCATED_VLAN)}});
	add({"truncated_vlan_on_access_port", A1, F(kBcast, m1, {}, 0x8100, 2), XDP_DROP, std::nullopt,
	     {Drop(A1, XDPNET_DROP_TRUNCATED_VLAN)}});
	add({"vlan_tag_18_bytes_is_complete", T1, F(kBcast, m1, {Q(10)}, 0x0800, 0), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED)}});
	add({"bad_src_multicast", A1, F(kBcast, kMcast), XDP_DROP, std::nullopt, {Drop(A1, XDPNET_DROP_BAD_SRC_MAC)},
	     nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"bad_src_broadcast", A1, F(m2, kBcast), XDP_DROP, std::nullopt, {Drop(A1, XDPNET_DROP_BAD_SRC_MAC)}});
	add({"bad_src_zero", A1, F(m2, kZero), XDP_DROP, std::nullopt, {Drop(A1, XDPNET_DROP_BAD_SRC_MAC)},
	     nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"bad_src_on_trunk", T1, F(kBcast, kMcast, {Q(10)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_BAD_SRC_MAC)}});

	// ---- Stage 2: VLAN classification ---------------------------------------
	add({"tagged_on_access", A1, F(m2, m1, {Q(10)}), XDP_DROP, std::nullopt,
	     {Drop(A1, XDPNET_DROP_TAGGED_ON_ACCESS)}, nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"priority_tag_on_access", A1, F(m2, m1, {Q(0, 5)}), XDP_DROP, std::nullopt,
	     {Drop(A1, XDPNET_DROP_TAGGED_ON_ACCESS)}});
	add({"double_tag_on_access", A1, F(kBcast, m1, {Q(10), Q(20)}), XDP_DROP, std::nullopt,
	     {Drop(A1, XDPNET_DROP_TAGGED_ON_ACCESS)}});
	add({"qinq_8021ad_on_access", A1, F(kBcast, m1, {AD(100), Q(20)}), XDP_DROP, std::nullopt,
	     {Drop(A1, XDPNET_DROP_TAGGED_ON_ACCESS)}});
	add({"double_tag_on_trunk", T1, F(kBcast, m1, {Q(10), Q(20)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_QINQ)}});
	add({"double_tag_inner_8021ad_on_trunk", T1, F(kBcast, m1, {Q(10), AD(20)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_QINQ)}});
	add({"qinq_8021ad_on_trunk", T1, F(kBcast, m1, {AD(100), Q(10)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_QINQ)}});
	add({"single_8021ad_tag_on_trunk", T1, F(kBcast, m1, {AD(10)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_QINQ)}});
	add({"vlan_not_allowed_on_trunk", T1, F(kBcast, m1, {Q(30)}), XDP_DROP, std::nullopt,
	     {Drop(T1, XDPNET_DROP_VLAN_NOT_ALLOWED)}, nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"vlan_not_allowed_on_trunk_without_native", T3, F(m2, m1, {Q(30, 3)}), XDP_DROP, std::nullopt,
	     {Drop(T3, XDPNET_DROP_VLAN_NOT_ALLOWED)}});
	add({"vlan_4095_not_allowed", T2, F(m2, m1, {Q(4095)}), XDP_DROP, std::nullopt,
	     {Drop(T2, XDPNET_DROP_VLAN_NOT_ALLOWED)}});
	add({"untagged_on_trunk_without_native", T3, F(kBcast, m1), XDP_DROP, std::nullopt,
	     {Drop(T3, XDPNET_DROP_NO_NATIVE_VLAN)}, nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"priority_tag_on_trunk_without_native", T3, F(kBcast, m1, {Q(0, 4)}), XDP_DROP, std::nullopt,
	     {Drop(T3, XDPNET_DROP_NO_NATIVE_VLAN)}});
	add({"untagged_on_host_port_without_native_passes", H1, F(m2, m1), XDP_PASS, std::nullopt,
	     {Ctr(H1, XDPNET_CTR_TO_HOST)}, nullptr, [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"untagged_broadcast_on_host_port_without_native_passes", H1, F(kBcast, m1), XDP_PASS, std::nullopt,
	     {Ctr(H1, XDPNET_CTR_TO_HOST)}});
	// Documents the current rule: a priority tag on a host port without a
	// native VLAN is not treated like an untagged frame (no host copy).
	add({"priority_tag_on_host_port_without_native", H1, F(m2, m1, {Q(0)}), XDP_DROP, std::nullopt,
	     {Drop(H1, XDPNET_DROP_NO_NATIVE_VLAN)}});
	add({"tagged_broadcast_on_host_trunk_is_flooded_not_passed", H1, F(kBcast, m1, {Q(30)}), XDP_REDIRECT,
	     std::nullopt, {Ctr(H1, XDPNET_CTR_LEARNED), Ctr(H1, XDPNET_CTR_FLOODED)}});
	add({"interface_outside_policy_passes", kNotPort, F(m2, m1), XDP_PASS, std::nullopt,
	     {Ctr(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT)}, nullptr,
	     [](Ctx &c) { EXPECT_EQ(c.dp.fdb_count(), 0u); }});
	add({"tagged_frame_outside_policy_passes", kNotPort, F(kBcast, m1, {Q(10), Q(20)}), XDP_PASS, std::nullopt,
	     {Ctr(XDPNET_SLOT_NONE, XDPNET_CTR_NOT_PORT)}});

	// ---- Stage 3: learning ----------------------------------------------------
	add({"learn_new_mac", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)}, nullptr, [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.fdb_count(), 1u);
	     }});
	add({"learn_on_trunk_under_tag_vlan", T1, F(kBcast, m1, {Q(20, 3)}), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED)}, nullptr, [=](Ctx &c) {
		     expect_fdb(c, 20, m1, T1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[T1]), 1u);
		     EXPECT_EQ(c.dp.fdb_count(), 1u);
	     }});
	add({"learn_untagged_on_trunk_under_native", T2, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(1)}),
	     {Ctr(T2, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_FLOODED)}, nullptr,
	     [=](Ctx &c) { expect_fdb(c, 1, m1, T2, 0); }});
	add({"learn_priority_tag_under_native", T1, F(kBcast, m1, {Q(0, 2)}), XDP_REDIRECT, F(kBcast, m1, {Q(1, 2)}),
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED)}, nullptr, [=](Ctx &c) {
		     expect_fdb(c, 1, m1, T1, 0);
		     expect_no_fdb(c, 0, m1);
	     }});
	add({"learning_is_keyed_by_vlan", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(20, m1, T1, c.t0);
		     c.dp.set_maccnt(kSlot[T1], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     expect_fdb(c, 20, m1, T1, 0, c.t0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[T1]), 1u);
	     }});
	add({"refresh_known_mac", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, A1, c.t0 - 5 * kSec);
		     c.dp.set_maccnt(kSlot[A1], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0); // timestamp refreshed
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.fdb_count(), 1u);
	     }});
	add({"refresh_is_rate_limited_to_once_a_second", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, A1, c.t0 - kSec / 10);
		     c.dp.set_maccnt(kSlot[A1], 1);
	     },
	     [=](Ctx &c) { expect_fdb(c, 10, m1, A1, 0, c.t0 - kSec / 10); }});
	add({"refresh_expired_mac_on_same_port", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, A1, c.t0 - kAgingNs - kSec);
		     c.dp.set_maccnt(kSlot[A1], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
	     }});
	add({"move_to_other_port", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_MOVED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, A2, c.t0 - 5 * kSec);
		     c.dp.set_maccnt(kSlot[A2], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A2]), 0u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.fdb_count(), 1u);
	     }});
	add({"move_from_trunk_to_access", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_MOVED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, T1, c.t0);
		     c.dp.fdb_put(10, m2, A2, c.t0);
		     c.dp.set_maccnt(kSlot[T1], 1);
		     c.dp.set_maccnt(kSlot[A2], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[T1]), 0u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A2]), 1u);
	     }});
	add({"static_never_moved", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_STATIC_CONFLICT), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m1, A2, 12345, XDPNET_FDB_STATIC); },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A2, XDPNET_FDB_STATIC, 12345);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 0u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A2]), 0u);
		     EXPECT_EQ(c.dp.fdb_count(), 1u);
	     }});
	add({"static_conflict_frame_still_forwarded", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_STATIC_CONFLICT), Ctr(T1, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m1, A2, 12345, XDPNET_FDB_STATIC);
		     c.dp.fdb_put(10, m2, T1, c.t0);
	     },
	     [=](Ctx &c) { expect_fdb(c, 10, m1, A2, XDPNET_FDB_STATIC, 12345); }});
	add({"policy_static_never_moved", T1, F(kBcast, m1, {Q(20)}), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_STATIC_CONFLICT), Ctr(T1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(20, m1, T3, 777, XDPNET_FDB_STATIC | XDPNET_FDB_POLICY); },
	     [=](Ctx &c) { expect_fdb(c, 20, m1, T3, XDPNET_FDB_STATIC | XDPNET_FDB_POLICY, 777); }});
	add({"static_on_own_port_not_refreshed", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FLOODED)}, [=](Ctx &c) { c.dp.fdb_put(10, m1, A1, 12345, XDPNET_FDB_STATIC); },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, XDPNET_FDB_STATIC, 12345);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 0u);
	     }});
	add({"mac_limit_reached_not_learned_still_flooded", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARN_LIMITED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 2);
		     c.dp.set_maccnt(kSlot[A1], 2);
	     },
	     [=](Ctx &c) {
		     expect_no_fdb(c, 10, m1);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 2u);
	     }});
	add({"mac_limit_reached_unknown_unicast_flooded", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARN_LIMITED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 1);
		     c.dp.set_maccnt(kSlot[A1], 1);
	     },
	     [=](Ctx &c) { expect_no_fdb(c, 10, m1); }});
	add({"mac_limit_reached_known_unicast_forwarded", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARN_LIMITED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 1);
		     c.dp.set_maccnt(kSlot[A1], 1);
		     c.dp.fdb_put(10, m2, A2, c.t0);
	     },
	     [=](Ctx &c) {
		     expect_no_fdb(c, 10, m1);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
	     }});
	add({"mac_limit_below_limit_learns", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 2);
		     c.dp.set_maccnt(kSlot[A1], 1);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 2u);
	     }});
	add({"mac_limit_move_forgets_the_mac", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARN_LIMITED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 1);
		     c.dp.set_maccnt(kSlot[A1], 1);
		     c.dp.fdb_put(10, m1, A2, c.t0);
		     c.dp.set_maccnt(kSlot[A2], 1);
	     },
	     [=](Ctx &c) {
		     expect_no_fdb(c, 10, m1);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A2]), 0u);
	     }});
	add({"mac_limit_does_not_block_refresh", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) {
		     set_limit(c, A1, 1);
		     c.dp.set_maccnt(kSlot[A1], 1);
		     c.dp.fdb_put(10, m1, A1, c.t0 - 5 * kSec);
	     },
	     [=](Ctx &c) {
		     expect_fdb(c, 10, m1, A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
	     }});
	auto fill_fdb = [](Ctx &c) {
		for (uint8_t i = 0; i < 4; i++)
			c.dp.fdb_put(10, M(100 + i), T1, c.t0);
		c.dp.set_maccnt(kSlot[T1], 4);
	};
	add({"fdb_full_not_learned_still_flooded", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FDB_FULL), Ctr(A1, XDPNET_CTR_FLOODED)}, fill_fdb,
	     [=](Ctx &c) {
		     expect_no_fdb(c, 10, m1);
		     EXPECT_EQ(c.dp.fdb_count(), 4u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 0u);
	     },
	     4});
	add({"fdb_full_known_unicast_forwarded", A1, F(M(101), m1), XDP_REDIRECT, F(M(101), m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_FDB_FULL), Ctr(T1, XDPNET_CTR_TX_UNICAST)}, fill_fdb,
	     [=](Ctx &c) { EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 0u); }, 4});
	add({"fdb_full_move_still_works", A1, F(kBcast, M(100)), XDP_REDIRECT, F(kBcast, M(100), {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_MOVED), Ctr(A1, XDPNET_CTR_FLOODED)}, fill_fdb,
	     [=](Ctx &c) {
		     expect_fdb(c, 10, M(100), A1, 0);
		     EXPECT_EQ(c.dp.maccnt(kSlot[T1]), 3u);
		     EXPECT_EQ(c.dp.maccnt(kSlot[A1]), 1u);
	     },
	     4});

	// ---- Stage 4: the host's frames --------------------------------------------
	add({"host_port_frame_to_own_mac_passes", H2, F(kHostMac, m1), XDP_PASS, std::nullopt,
	     {Ctr(H2, XDPNET_CTR_LEARNED), Ctr(H2, XDPNET_CTR_TO_HOST)}, nullptr,
	     [=](Ctx &c) { expect_fdb(c, 10, m1, H2, 0); }});
	add({"host_port_broadcast_passes", H2, F(kBcast, m1), XDP_PASS, std::nullopt,
	     {Ctr(H2, XDPNET_CTR_LEARNED), Ctr(H2, XDPNET_CTR_TO_HOST)}});
	add({"host_port_multicast_passes", H2, F(kMcast, m1), XDP_PASS, std::nullopt,
	     {Ctr(H2, XDPNET_CTR_LEARNED), Ctr(H2, XDPNET_CTR_TO_HOST)}});
	add({"host_port_unicast_to_other_mac_is_switched", H2, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(H2, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A1, c.t0); }});
	add({"host_port_unknown_unicast_flooded", H2, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(H2, XDPNET_CTR_LEARNED), Ctr(H2, XDPNET_CTR_FLOODED)}});
	add({"host_mac_on_non_host_port_is_not_passed", A1, F(kHostMac, m1), XDP_REDIRECT, F(kHostMac, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)}});

	// ---- Stage 5a: known unicast ---------------------------------------------
	add({"unicast_access_to_access", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A2, c.t0); }});
	add({"unicast_access_to_trunk_pushes_tag", A1, F(m2, m1, {}, 0x0806, 28), XDP_REDIRECT,
	     F(m2, m1, {Q(10)}, 0x0806, 28), {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, T1, c.t0); }});
	add({"unicast_access_to_trunk_without_native_pushes_tag", A3, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(20)}),
	     {Ctr(A3, XDPNET_CTR_LEARNED), Ctr(T3, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(20, m2, T3, c.t0); }});
	add({"unicast_trunk_to_access_pops_tag", T1, F(m2, m1, {Q(10, 5)}), XDP_REDIRECT, F(m2, m1),
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A1, c.t0); }});
	add({"unicast_trunk_to_trunk_keeps_tag_and_pcp", T1, F(m2, m1, {Q(20, 5, true)}), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(20, m2, T2, c.t0); }});
	add({"unicast_trunk_to_trunk_without_native", T2, F(m2, m1, {Q(10, 7)}), XDP_REDIRECT, std::nullopt,
	     {Ctr(T2, XDPNET_CTR_LEARNED), Ctr(T3, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, T3, c.t0); }});
	add({"unicast_native_untagged_in_and_out", T1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(1, m2, T2, c.t0); }, [=](Ctx &c) { expect_fdb(c, 1, m1, T1, 0); }});
	add({"unicast_native_to_trunk_carrying_it_tagged", T1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(1)}),
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T3, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(1, m2, T3, c.t0); }});
	add({"unicast_native_vid_tagged_in_pops_on_native_out", T1, F(m2, m1, {Q(1, 3)}), XDP_REDIRECT, F(m2, m1),
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(1, m2, T2, c.t0); }});
	add({"unicast_priority_tag_to_native_pops", T1, F(m2, m1, {Q(0, 6)}), XDP_REDIRECT, F(m2, m1),
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(1, m2, T2, c.t0); }, [=](Ctx &c) { expect_fdb(c, 1, m1, T1, 0); }});
	add({"unicast_priority_tag_to_tagging_trunk_names_vlan", T1, F(m2, m1, {Q(0, 6, true)}), XDP_REDIRECT,
	     F(m2, m1, {Q(1, 6, true)}), {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T3, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(1, m2, T3, c.t0); }});
	add({"unicast_same_port_dropped", A1, F(m2, m1), XDP_DROP, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Drop(A1, XDPNET_DROP_SAME_PORT)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A1, c.t0); }});
	add({"unicast_same_port_on_trunk_dropped", T1, F(m2, m1, {Q(20)}), XDP_DROP, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Drop(T1, XDPNET_DROP_SAME_PORT)},
	     [=](Ctx &c) { c.dp.fdb_put(20, m2, T1, c.t0); }});
	add({"unicast_to_port_outside_vlan_dropped", A1, F(m2, m1), XDP_DROP, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Drop(A1, XDPNET_DROP_EGRESS_NOT_MEMBER)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A3, 0, XDPNET_FDB_STATIC); }});
	add({"unicast_egress_missing_from_tx_map_dropped", A1, F(m2, m1), XDP_DROP, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Drop(A1, XDPNET_DROP_NO_TX_PORT)},
	     [=](Ctx &c) {
		     c.dp.fdb_put(10, m2, A2, c.t0);
		     c.dp.del_tx(c.gen, kSlot[A2]);
	     }});
	add({"fdb_entry_with_stale_ifindex_floods", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, kSlot[A2], ifx(A1), c.t0); }});
	add({"fdb_entry_with_unused_slot_floods", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, 100, ifx(A2), c.t0); }});
	add({"fdb_entry_with_out_of_range_slot_floods", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, 0xffff, ifx(A2), c.t0); }});
	add({"multicast_dst_floods_even_with_fdb_entry", A1, F(kMcast, m1), XDP_REDIRECT, F(kMcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, kMcast, A2, 0, XDPNET_FDB_STATIC); }});

	// ---- Aging, as seen by lookups (the gc pass: fdb_gc_test.cpp) --------------
	add({"expired_dst_floods", A1, F(m2, m1), XDP_REDIRECT, F(m2, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A2, c.t0 - kAgingNs - 1); },
	     [=](Ctx &c) { EXPECT_TRUE(c.dp.fdb_get(10, m2).has_value()) << "lookups ignore, gc deletes"; }});
	add({"nearly_expired_dst_forwarded", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A2, c.t0 - kAgingNs + 10 * kSec); }});
	add({"static_dst_never_expires", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) { c.dp.fdb_put(10, m2, A2, c.t0 - 10 * kAgingNs, XDPNET_FDB_STATIC); }});
	add({"aging_zero_disables_expiry", A1, F(m2, m1), XDP_REDIRECT, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A2, XDPNET_CTR_TX_UNICAST)},
	     [=](Ctx &c) {
		     c.dp.set_config(c.gen, 0);
		     c.dp.fdb_put(10, m2, A2, c.t0 - 10 * kAgingNs);
	     }});

	// ---- Stage 5b: flooding ----------------------------------------------------
	add({"flood_broadcast_from_access_gets_tagged", A1, F(kBcast, m1), XDP_REDIRECT, F(kBcast, m1, {Q(10)}),
	     {Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_FLOODED)}});
	add({"flood_unknown_unicast_from_access", A2, F(m2, m1, {}, 0x86dd, 60), XDP_REDIRECT,
	     F(m2, m1, {Q(10)}, 0x86dd, 60), {Ctr(A2, XDPNET_CTR_LEARNED), Ctr(A2, XDPNET_CTR_FLOODED)}});
	add({"flood_multicast_from_access", A3, F(kMcast, m1), XDP_REDIRECT, F(kMcast, m1, {Q(20)}),
	     {Ctr(A3, XDPNET_CTR_LEARNED), Ctr(A3, XDPNET_CTR_FLOODED)}});
	add({"flood_tagged_from_trunk_unchanged", T1, F(m2, m1, {Q(20, 2)}), XDP_REDIRECT, std::nullopt,
	     {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED)}});
	add({"flood_native_untagged_from_trunk_gets_native_tag", T1, F(kBcast, m1), XDP_REDIRECT,
	     F(kBcast, m1, {Q(1)}), {Ctr(T1, XDPNET_CTR_LEARNED), Ctr(T1, XDPNET_CTR_FLOODED)}});
	add({"flood_priority_tag_names_native_vlan", T2, F(kBcast, m1, {Q(0, 6)}), XDP_REDIRECT,
	     F(kBcast, m1, {Q(1, 6)}), {Ctr(T2, XDPNET_CTR_LEARNED), Ctr(T2, XDPNET_CTR_FLOODED)}});
	add({"flood_without_peers_dropped", A4, F(kBcast, m1), XDP_DROP, std::nullopt,
	     {Ctr(A4, XDPNET_CTR_LEARNED), Drop(A4, XDPNET_DROP_NO_FLOOD_PEERS)}, nullptr,
	     [=](Ctx &c) { expect_fdb(c, 40, m1, A4, 0); }});
	add({"flood_in_vlan_without_record_dropped", T2, F(kBcast, m1, {Q(20)}), XDP_DROP, std::nullopt,
	     {Ctr(T2, XDPNET_CTR_LEARNED), Drop(T2, XDPNET_DROP_NO_FLOOD_PEERS)}, [](Ctx &c) {
		     xdpnet_vlan empty{};
		     uint32_t k = c.gen * XDPNET_VLAN_COUNT + 20;
		     ASSERT_EQ(bpf_map_update_elem(c.dp.mfd(c.dp.skel->maps.xdpnet_vlans), &k, &empty, BPF_ANY), 0);
	     }});
	add({"flood_with_missing_flood_map_dropped", A1, F(kBcast, m1), XDP_DROP, std::nullopt,
	     {Ctr(A1, XDPNET_CTR_LEARNED), Drop(A1, XDPNET_DROP_STALE_CONFIG)},
	     [](Ctx &c) { c.dp.del_flood(c.gen, 10); }});
	return v;
}

const std::vector<Case> &cases()
{
	static const std::vector<Case> c = build_cases();
	return c;
}

// The policy in the generation that is not live: every port an access port of
// VLAN 99 with its own flood map, so a lookup in the wrong generation changes
// the outcome instead of merely missing.
std::vector<PortSpec> decoy_ports()
{
	auto v = std_ports();
	for (auto &p : v) {
		p.mode = XDPNET_MODE_ACCESS;
		p.pvid = 99;
		p.vlans = {99};
		p.flags = 0;
	}
	PortSpec free_port{kFreeIface, 100, XDPNET_MODE_ACCESS, 99, {99}};
	v.push_back(free_port);
	return v;
}

class Ingress : public ::testing::TestWithParam<std::tuple<size_t, uint32_t>> {};

TEST_P(Ingress, Case)
{
	const auto [idx, gen] = GetParam();
	const Case &c = cases().at(idx);

	// Sanity of the table itself: a drop names exactly one reason.
	if (c.verdict == XDP_DROP) {
		int drops = 0;
		for (auto &e : c.effects)
			drops += e.drop;
		ASSERT_EQ(drops, 1) << "table error: a drop case lists exactly one drop reason";
	}

	Datapath::Options o;
	o.fdb_max = c.fdb_max;
	Datapath dp(o);
	dp.install(gen ^ 1, decoy_ports(), 7 * kSec, /*flush=*/false);
	dp.install_std(gen);
	dp.set_active_gen(gen);
	Ctx ctx{dp, gen, coarse_now()};
	if (c.setup)
		c.setup(ctx);
	ASSERT_FALSE(HasFatalFailure());

	uint32_t ifindex = c.port == kNotPort ? iface(kFreeIface).ifindex : ifx(P(c.port));
	Snapshot before = dp.snapshot();
	ctx.run0 = coarse_now();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, c.in, ifindex);
	ctx.run1 = coarse_now();
	Snapshot after = dp.snapshot();

	ASSERT_EQ(r.err, 0) << "bpf_prog_test_run: " << strerror(-r.err);
	EXPECT_STREQ(verdict_name(r.retval), verdict_name(c.verdict));
	const Bytes &want = c.out ? *c.out : c.in;
	EXPECT_EQ(hex(r.out), hex(want)) << "output frame";

	std::vector<Effect> effects = c.effects;
	if (c.port != kNotPort) {
		effects.push_back(Ctr(P(c.port), XDPNET_CTR_RX));
		effects.push_back(Ctr(P(c.port), XDPNET_CTR_RX_BYTES, int64_t(c.in.size())));
	}
	expect_effects(before, after, effects);
	if (c.check)
		c.check(ctx);
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<size_t, uint32_t>> &info)
{
	return cases().at(std::get<0>(info.param)).name + "_gen" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Table, Ingress,
			 ::testing::Combine(::testing::Range<size_t>(0, cases().size()), ::testing::Values(0u, 1u)),
			 case_name);

} // namespace
