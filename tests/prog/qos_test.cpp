// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Policing, DSCP marking and per-address limits (stage 2b, unicast delivery
// and xdpnet_flood_egress): token-bucket arithmetic at its edges, exact to
// the token; egress policing after the VLAN egress rewrite; remarking instead
// of dropping; DSCP marks with checksums verified from scratch; per-source
// buckets under the longest limit prefix, the overflow bucket of a full table
// and the gc pass that frees idle buckets; and the shared bucket's bound
// across two CPUs.
//
// Time is never slept through. A bucket is "frozen" by giving it a last_ns
// in the future (a clock behind last_ns refills nothing and leaves last_ns
// alone), and exact refills use at_one_instant (harness.h): the bucket is
// written relative to the datapath clock and the body is repeated until the
// clock did not move across it.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint64_t kHour = 3600 * kSec;
constexpr uint64_t kByte = XDPNET_BIT_COST;  // one byte in a bits bucket
constexpr uint64_t kPkt = XDPNET_TOKEN_SCALE; // one packet in a packets bucket
constexpr uint32_t IN = XDPNET_DIR_IN, OUT = XDPNET_DIR_OUT;

constexpr uint32_t kIp1 = 0x0a000a01, kIp2 = 0x0a000a02, kIp3 = 0x0a000a03; // M(1) M(2) M(3)
const In6 kV6a = ip6("2001:db8:10::1"), kV6b = ip6("2001:db8:10::2");

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

std::vector<Effect> operator+(std::vector<Effect> a, const std::vector<Effect> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

std::vector<Effect> rx(P p, const Bytes &f, int n = 1)
{
	return {Ctr(p, XDPNET_CTR_RX, n), Ctr(p, XDPNET_CTR_RX_BYTES, int64_t(f.size()) * n)};
}

// An IPv4 UDP frame of exactly `len` bytes (tags included), TOS `tos`.
Bytes udp4(const Mac &dst, const Mac &src, uint32_t saddr, uint32_t daddr, size_t len, std::vector<Tag> tags = {},
	   uint8_t tos = 0, uint16_t id = 0x1234)
{
	size_t l2 = 14 + 4 * tags.size();
	Bytes pkt = ipv4_packet(saddr, daddr, 17, udp_l4(4000, 5000, len - l2 - 28), 64, id);
	pkt[1] = tos;
	ip_csum_fill(pkt, 0);
	return eth_ipv4(dst, src, pkt, tags);
}

// An IPv6 UDP frame of exactly `len` bytes.
Bytes udp6(const Mac &dst, const Mac &src, const In6 &s, const In6 &d, size_t len, uint8_t tclass = 0,
	   uint32_t flow = 0, std::vector<Tag> tags = {})
{
	size_t l2 = 14 + 4 * tags.size();
	Ip6Opts o;
	o.tclass = tclass;
	o.flow = flow;
	return eth_ipv6(dst, src, ipv6_packet(s, d, 17, udp_l4(4000, 5000, len - l2 - 48), o), tags);
}

// The frame with the IPv4 TOS at l3 set and the header checksum rewritten
// from scratch.
Bytes with_tos(Bytes f, size_t l3, uint8_t tos)
{
	f[l3 + 1] = tos;
	ip_csum_fill(f, l3);
	return f;
}

// The frame with the IPv6 traffic class at l3 set (flow label untouched).
Bytes with_tclass(Bytes f, size_t l3, uint8_t tc)
{
	f[l3] = uint8_t(0x60 | tc >> 4);
	f[l3 + 1] = uint8_t(tc << 4 | (f[l3 + 1] & 0x0f));
	return f;
}

// The frame with an 802.1Q tag inserted after the MACs.
Bytes tagged(const Bytes &f, uint16_t vid)
{
	Bytes b(f.begin(), f.begin() + 12);
	put16(b, 0x8100);
	put16(b, vid);
	b.insert(b.end(), f.begin() + 12, f.end());
	return b;
}

xdpnet_bucket B(uint64_t last_ns, uint64_t bits, uint64_t packets = 0, uint32_t full_s = 0)
{
	xdpnet_bucket b{};
	b.last_ns = last_ns;
	b.bits = bits;
	b.packets = packets;
	b.full_s = full_s;
	return b;
}

// 16-byte address fields.
using A16 = std::array<uint8_t, 16>;
A16 a4(uint32_t v)
{
	A16 a{};
	a[0] = uint8_t(v >> 24);
	a[1] = uint8_t(v >> 16);
	a[2] = uint8_t(v >> 8);
	a[3] = uint8_t(v);
	return a;
}
A16 a6(const In6 &v) { return A16(v); }

struct Qos : ::testing::Test {
	Datapath dp;
	explicit Qos(Datapath::Options o = {}) : dp(o) {}
	void SetUp() override
	{
		dp.install_std(0);
		dp.set_gc_interval(kHour); // armed by a gc run, never fires during a test
		const uint64_t t = coarse_now();
		// Known stations, static: no learning counters move.
		dp.fdb_put(10, M(1), A1, t, XDPNET_FDB_STATIC);
		dp.fdb_put(10, M(2), A2, t, XDPNET_FDB_STATIC);
		dp.fdb_put(10, M(3), T1, t, XDPNET_FDB_STATIC);
	}
	RunResult send(P p, const Bytes &f) { return dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(p)); }
	void add_flags(P p, uint8_t flags, uint8_t dscp = 0)
	{
		xdpnet_port port = dp.get_port(0, kSlot[p]);
		dp.set_port_flags(0, kSlot[p], uint8_t(port.flags | flags), flags & XDPNET_PORT_DSCP ? dscp : port.dscp);
	}
	// A port policer in direction dir with its bucket in a given state.
	void police(P p, uint32_t dir, const xdpnet_policer &pol, const xdpnet_bucket &b)
	{
		add_flags(p, dir == IN ? XDPNET_PORT_POLICE_IN : XDPNET_PORT_POLICE_OUT);
		dp.put_policer(0, kSlot[p], dir, pol);
		dp.set_bucket(kSlot[p], dir, b);
	}
	// A last_ns far ahead of the clock: the bucket refills nothing.
	uint64_t frozen() { return dp.clock_now() + kHour; }

	// Per-address limits.
	void limits_on(bool on = true)
	{
		xdpnet_config c = dp.get_config(0);
		c.limits = on;
		dp.put_config(0, c);
	}
	void put_limit(uint32_t gen, uint8_t family, const A16 &addr, int len, uint32_t id, const xdpnet_policer &pol)
	{
		xdpnet_limit_key k{};
		k.prefixlen = uint32_t(32 + len);
		k.gen = uint8_t(gen);
		k.family = family;
		memcpy(k.addr, addr.data(), 16);
		xdpnet_limit v{};
		v.id = id;
		v.pol = pol;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_limits), &k, &v, BPF_ANY), 0);
	}
	static xdpnet_limit_src src_key(uint32_t id, uint8_t family, const A16 &addr)
	{
		xdpnet_limit_src k{};
		k.id = id;
		k.family = family;
		memcpy(k.addr, addr.data(), 16);
		return k;
	}
	std::optional<xdpnet_bucket> lstate(uint32_t id, uint8_t family, const A16 &addr)
	{
		xdpnet_limit_src k = src_key(id, family, addr);
		xdpnet_bucket b{};
		if (bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_limit_state), &k, &b))
			return std::nullopt;
		return b;
	}
	int put_lstate(uint32_t id, uint8_t family, const A16 &addr, const xdpnet_bucket &b)
	{
		xdpnet_limit_src k = src_key(id, family, addr);
		return bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_limit_state), &k, &b, BPF_NOEXIST);
	}
	size_t lstate_count()
	{
		size_t n = 0;
		xdpnet_limit_src k{}, next{};
		const void *prev = nullptr;
		while (bpf_map_get_next_key(dp.mfd(dp.skel->maps.xdpnet_limit_state), prev, &next) == 0) {
			n++;
			k = next;
			prev = &k;
		}
		return n;
	}
	void run_gc()
	{
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(99)), 0);
		ASSERT_EQ(r.err, 0);
		EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	}
};

constexpr size_t L = 100; // the usual frame length
const Bytes kF = udp4(M(2), M(1), kIp1, kIp2, L); // A1 -> A2, 100 bytes

} // namespace

// ---------------------------------------------------------------------------
// Bucket arithmetic (the ingress policer of A1).

TEST_F(Qos, EmptyBucketDropsAndTakesNothing)
{
	const uint64_t fut = frozen();
	police(A1, IN, make_policer(8000, 1000), B(fut, 0));
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, kF);
	ASSERT_EQ(r.err, 0);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	expect_effects(s0, dp.snapshot(), rx(A1, kF) + std::vector<Effect>{Drop(A1, XDPNET_DROP_POLICE_IN)});
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, 0u);
	EXPECT_EQ(b.last_ns, fut);

	// One token short of the frame: still refused, nothing taken.
	dp.set_bucket(kSlot[A1], IN, B(fut, L * kByte - 1));
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).bits, L * kByte - 1);

	// Exactly the frame: admitted, the bucket empty.
	dp.set_bucket(kSlot[A1], IN, B(fut, L * kByte));
	Snapshot s1 = dp.snapshot();
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(kF));
	expect_effects(s1, dp.snapshot(), rx(A1, kF) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).bits, 0u);
	EXPECT_EQ(dp.bucket(kSlot[A1], OUT).last_ns, 0u) << "the other direction's bucket untouched";
}

TEST_F(Qos, FullBucketAdmitsExactlyTheBurstThenDrops)
{
	for (uint64_t burst : {3 * L, 3 * L - 1}) {
		SCOPED_TRACE("burst " + std::to_string(burst) + " bytes");
		const xdpnet_policer pol = make_policer(8000, burst);
		police(A1, IN, pol, B(frozen(), pol.bits.depth));
		const uint64_t admitted = burst / L;
		Snapshot s0 = dp.snapshot();
		for (uint64_t i = 0; i < 4; i++) {
			RunResult r = send(A1, kF);
			EXPECT_EQ(r.retval, uint32_t(i < admitted ? XDP_REDIRECT : XDP_DROP)) << "frame " << i;
		}
		expect_effects(s0, dp.snapshot(),
			       rx(A1, kF, 4) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST, int64_t(admitted)),
								   {kSlot[A1], true, XDPNET_DROP_POLICE_IN,
								    int64_t(4 - admitted)}});
		EXPECT_EQ(dp.bucket(kSlot[A1], IN).bits, (burst - admitted * L) * kByte);
	}
}

TEST_F(Qos, NewBucketStartsFullAndTakesTheClock)
{
	// last_ns 0: never used. 1 byte/s and 1 packet/s: refills are tiny but
	// not zero, so the frames are sent at one instant to be exact.
	const xdpnet_policer pol = make_policer(8, 250, 1, 5);
	police(A1, IN, pol, B(0, 0, 0));
	std::vector<uint32_t> verdicts;
	xdpnet_bucket after[3];
	uint64_t now = at_one_instant(dp, [&](uint64_t) {
		dp.set_bucket(kSlot[A1], IN, B(0, 0, 0));
		verdicts.clear();
		for (int i = 0; i < 3; i++) {
			verdicts.push_back(send(A1, kF).retval);
			after[i] = dp.bucket(kSlot[A1], IN);
		}
	});
	ASSERT_NE(now, 0u);
	EXPECT_EQ(verdicts, (std::vector<uint32_t>{XDP_REDIRECT, XDP_REDIRECT, XDP_DROP}));
	EXPECT_EQ(after[0].last_ns, now);
	EXPECT_EQ(after[0].bits, (250 - L) * kByte);
	EXPECT_EQ(after[0].packets, 4 * kPkt);
	EXPECT_EQ(after[0].full_s, pol.full_s);
	EXPECT_EQ(after[1].bits, (250 - 2 * L) * kByte);
	EXPECT_EQ(after[1].packets, 3 * kPkt);
	EXPECT_EQ(after[2].bits, (250 - 2 * L) * kByte) << "refused: nothing taken";
	EXPECT_EQ(after[2].packets, 3 * kPkt) << "refused: nothing taken from the packets bucket either";
	EXPECT_EQ(pol.full_s, 250u) << "250 bytes at 1 byte/s (the slower bucket)";
}

TEST_F(Qos, RefillAfterALongIdleCapsAtTheDepth)
{
	// Idle since boot: elapsed x rate would overflow 64 bits, the refill
	// stops at the depth instead.
	const xdpnet_policer pol = make_policer(1000000000, 1000);
	police(A1, IN, pol, B(1, 0));
	const uint64_t t0 = dp.clock_now();
	RunResult r = send(A1, kF);
	const uint64_t t1 = dp.clock_now();
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, (1000 - L) * kByte);
	EXPECT_GE(b.last_ns, t0);
	EXPECT_LE(b.last_ns, t1);

	// More tokens than the depth (a policy lowered the burst): clamped at
	// the next refill, however short (here a microsecond's worth).
	dp.set_bucket(kSlot[A1], IN, B(dp.clock_now() - 1000, 10 * pol.bits.depth));
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).bits, (1000 - L) * kByte);
}

TEST_F(Qos, RefillIsExactJustBelowAndAtTheFillTime)
{
	// 7 Mbit/s, 1000 bytes: fill_ns = ceil(8e12 / 7e6) = 1142858, and one ns
	// less refills 1142857 x 7e6 = 7999999e6 tokens, short of the depth.
	const xdpnet_policer pol = make_policer(7000000, 1000);
	ASSERT_EQ(pol.bits.fill_ns, 1142858u);
	police(A1, IN, pol, B(0, 0));
	for (uint64_t elapsed : {pol.bits.fill_ns - 1, pol.bits.fill_ns, pol.bits.fill_ns + 12345}) {
		SCOPED_TRACE("elapsed " + std::to_string(elapsed));
		RunResult r;
		xdpnet_bucket b{};
		uint64_t now = at_one_instant(dp, [&](uint64_t t) {
			dp.set_bucket(kSlot[A1], IN, B(t - elapsed, 0));
			r = send(A1, kF);
			b = dp.bucket(kSlot[A1], IN);
		});
		const uint64_t refill = std::min(elapsed * pol.bits.rate, pol.bits.depth);
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		EXPECT_EQ(b.bits, refill - L * kByte);
		EXPECT_EQ(b.last_ns, now);
	}
}

TEST_F(Qos, PartialRefillIsExactToTheToken)
{
	// 1 Mbit/s: a 100-byte frame costs 800e9 tokens, 800 us of refill. From
	// 300e9 it takes exactly 500000 ns; one ns less refuses the frame but
	// keeps the refill (the remainder is carried, not lost). Under both
	// clocks: coarse ktime and jiffies x ns_per_jiffy.
	const xdpnet_policer pol = make_policer(1000000, 1000);
	for (uint32_t npj : {0u, 4000000u}) {
		SCOPED_TRACE("ns_per_jiffy " + std::to_string(npj));
		xdpnet_config c = dp.get_config(0);
		c.ns_per_jiffy = npj;
		dp.put_config(0, c);
		police(A1, IN, pol, B(0, 0));
		for (uint64_t elapsed : {500000ULL, 499999ULL, 123457ULL}) {
			SCOPED_TRACE("elapsed " + std::to_string(elapsed));
			RunResult r;
			xdpnet_bucket b{};
			Snapshot s0, s1;
			uint64_t now = at_one_instant(dp, [&](uint64_t t) {
				dp.set_bucket(kSlot[A1], IN, B(t - elapsed, 300000000000ULL));
				s0 = dp.snapshot();
				r = send(A1, kF);
				s1 = dp.snapshot();
				b = dp.bucket(kSlot[A1], IN);
			});
			const uint64_t have = 300000000000ULL + elapsed * 1000000;
			const bool ok = have >= L * kByte;
			EXPECT_EQ(r.retval, uint32_t(ok ? XDP_REDIRECT : XDP_DROP));
			EXPECT_EQ(b.bits, ok ? have - L * kByte : have);
			EXPECT_EQ(b.last_ns, now);
			expect_effects(s0, s1,
				       rx(A1, kF) + (ok ? std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)}
							: std::vector<Effect>{Drop(A1, XDPNET_DROP_POLICE_IN)}));
		}
	}
}

TEST_F(Qos, ClockBehindTheBucketRefillsNothingAndKeepsLastNs)
{
	// Another CPU refilled at a later tick: this one's clock is behind.
	const uint64_t later = dp.clock_now() + 5 * kSec;
	police(A1, IN, make_policer(1000000, 1000), B(later, 500 * kSec));
	RunResult r = send(A1, kF); // 500e9 < 800e9: refused
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, 500 * kSec) << "no refill from a clock behind last_ns";
	EXPECT_EQ(b.last_ns, later) << "last_ns never moves back";

	dp.set_bucket(kSlot[A1], IN, B(later, 900 * kSec));
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, 100 * kSec);
	EXPECT_EQ(b.last_ns, later);
}

TEST_F(Qos, PacketsBucketCountsFramesNotBytes)
{
	const xdpnet_policer pol = make_policer(0, 0, 1000, 3); // 1000 pps, burst 3
	police(A1, IN, pol, B(frozen(), 0, pol.packets.depth));
	const Bytes big = udp4(M(2), M(1), kIp1, kIp2, 1500);
	for (int i = 0; i < 4; i++) {
		RunResult r = send(A1, i % 2 ? big : kF);
		EXPECT_EQ(r.retval, uint32_t(i < 3 ? XDP_REDIRECT : XDP_DROP)) << "frame " << i;
	}
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.packets, 0u);
	EXPECT_EQ(b.bits, 0u) << "the unlimited bits bucket holds nothing";

	// 1000 pps: one packet every 1e6 ns, exactly.
	for (uint64_t elapsed : {1000000ULL, 999999ULL}) {
		SCOPED_TRACE("elapsed " + std::to_string(elapsed));
		RunResult r;
		xdpnet_bucket a{};
		at_one_instant(dp, [&](uint64_t t) {
			dp.set_bucket(kSlot[A1], IN, B(t - elapsed, 0, 0));
			r = send(A1, kF);
			a = dp.bucket(kSlot[A1], IN);
		});
		const bool ok = elapsed == 1000000;
		EXPECT_EQ(r.retval, uint32_t(ok ? XDP_REDIRECT : XDP_DROP));
		EXPECT_EQ(a.packets, ok ? 0u : elapsed * 1000);
	}
}

TEST_F(Qos, BothBucketsMustAdmitAndARefusalTakesFromNeither)
{
	const xdpnet_policer pol = make_policer(1000000, 1000, 1000, 2);
	const uint64_t fut = frozen();
	police(A1, IN, pol, B(fut, pol.bits.depth, 0));

	// Bytes enough, no packet token.
	RunResult r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, pol.bits.depth) << "bits untouched by a refused frame";
	EXPECT_EQ(b.packets, 0u);

	// Packet tokens enough, one bit-token short.
	dp.set_bucket(kSlot[A1], IN, B(fut, L * kByte - 1, 2 * kPkt));
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.packets, 2 * kPkt) << "packets untouched by a refused frame";
	EXPECT_EQ(b.bits, L * kByte - 1);

	// Both exactly enough: both emptied.
	dp.set_bucket(kSlot[A1], IN, B(fut, L * kByte, kPkt));
	Snapshot s0 = dp.snapshot();
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, 0u);
	EXPECT_EQ(b.packets, 0u);
	expect_effects(s0, dp.snapshot(), rx(A1, kF) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Qos, PolicerAlongsideOtherControlsTakesTheSameTokens)
{
	// With DSCP marking (or security, or limits) on the port the policer
	// runs inside the port-controls function rather than inline: the same
	// bucket, the same frame length, after the mark.
	add_flags(A1, XDPNET_PORT_DSCP, 10);
	const uint64_t fut = frozen();
	police(A1, IN, make_policer(1000000, 1000), B(fut, L * kByte));
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(with_tos(kF, 14, 10 << 2)));
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, kF, 2) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_DSCP_MARKED, 2), Ctr(A2, XDPNET_CTR_TX_UNICAST),
							   Drop(A1, XDPNET_DROP_POLICE_IN)});
	xdpnet_bucket b = dp.bucket(kSlot[A1], IN);
	EXPECT_EQ(b.bits, 0u);
	EXPECT_EQ(b.last_ns, fut);
}

TEST_F(Qos, PolicerOfTheInactiveGenerationDoesNotApply)
{
	// Generation 1 polices A1 with an empty bucket; generation 0 is live.
	dp.install_std(1);
	xdpnet_port p1 = dp.get_port(1, kSlot[A1]);
	p1.flags |= XDPNET_PORT_POLICE_IN;
	dp.write_port(1, p1);
	dp.put_policer(1, kSlot[A1], IN, make_policer(8000, 1000));
	dp.set_bucket(kSlot[A1], IN, B(frozen(), 0));
	EXPECT_EQ(send(A1, kF).retval, uint32_t(XDP_REDIRECT));
	dp.set_active_gen(1);
	EXPECT_EQ(send(A1, kF).retval, uint32_t(XDP_DROP));
}

// ---------------------------------------------------------------------------
// Egress policing.

TEST_F(Qos, EgressPolicerDropsUnicastAndCountsOnTheOutPort)
{
	const uint64_t fut = frozen();
	police(A2, OUT, make_policer(1000000, 1000), B(fut, 0));
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	expect_effects(s0, dp.snapshot(), rx(A1, kF) + std::vector<Effect>{Drop(A2, XDPNET_DROP_POLICE_OUT)});
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).last_ns, 0u) << "the ingress port's buckets untouched";
	EXPECT_EQ(dp.bucket(kSlot[A2], IN).last_ns, 0u);

	dp.set_bucket(kSlot[A2], OUT, B(fut, L * kByte));
	Snapshot s1 = dp.snapshot();
	r = send(A1, kF);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(kF));
	expect_effects(s1, dp.snapshot(), rx(A1, kF) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(dp.bucket(kSlot[A2], OUT).bits, 0u);
}

TEST_F(Qos, EgressPolicerChargesTheFrameAsItLeaves)
{
	const uint64_t fut = frozen();
	// Trunk -> access: the tag is popped first, 104 bytes in, 100 out.
	const Bytes from_trunk = udp4(M(2), M(3), kIp3, kIp2, L + 4, {Q(10)});
	police(A2, OUT, make_policer(1000000, 1000), B(fut, L * kByte));
	RunResult r = send(T1, from_trunk);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "charged 100 bytes, not 104";
	EXPECT_EQ(hex(r.out), hex(udp4(M(2), M(3), kIp3, kIp2, L)));
	EXPECT_EQ(dp.bucket(kSlot[A2], OUT).bits, 0u);

	// Access -> trunk: the tag is pushed first, 100 bytes in, 104 out.
	const Bytes to_trunk = udp4(M(3), M(2), kIp2, kIp3, L);
	police(T1, OUT, make_policer(1000000, 1000), B(fut, (L + 3) * kByte));
	Snapshot s0 = dp.snapshot();
	r = send(A2, to_trunk);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP)) << "103 bytes of tokens for a 104-byte frame";
	expect_effects(s0, dp.snapshot(), rx(A2, to_trunk) + std::vector<Effect>{Drop(T1, XDPNET_DROP_POLICE_OUT)});
	dp.set_bucket(kSlot[T1], OUT, B(fut, (L + 4) * kByte));
	r = send(A2, to_trunk);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(tagged(to_trunk, 10)));
	EXPECT_EQ(dp.bucket(kSlot[T1], OUT).bits, 0u);
}

TEST_F(Qos, EgressPolicerAppliesToEachFloodedCopy)
{
	// Live frames: the copies leave through the VLAN's devmap and
	// xdpnet_flood_egress polices each for its port, after popping the tag.
	Capture &cap = Capture::get();
	const uint64_t fut = frozen();
	police(A2, OUT, make_policer(1000000, 1000), B(fut, L * kByte));       // exactly the untagged copy
	police(T1, OUT, make_policer(1000000, 1000), B(fut, (L + 3) * kByte)); // short of the tagged copy
	const Bytes f = udp4(kBcast, M(1), kIp1, 0x0a000aff, L);
	Snapshot s0 = dp.snapshot();
	cap.drain();
	ASSERT_EQ(dp.run_xdp_live(dp.skel->progs.xdpnet_ingress, f, ifx(A1)), 0);
	auto got = cap.collect(4);
	std::map<int, std::vector<Bytes>> by_iface;
	for (auto &c : got)
		by_iface[c.iface].push_back(c.data);
	auto ifc = [](P p) { return std_ports()[p].iface; };
	std::map<int, std::vector<Bytes>> want = {{ifc(A2), {f}},
						  {ifc(T2), {tagged(f, 10)}},
						  {ifc(T3), {tagged(f, 10)}},
						  {ifc(H2), {f}}};
	EXPECT_EQ(by_iface.size(), want.size());
	for (auto &[i, frames] : want) {
		ASSERT_EQ(by_iface[i].size(), 1u) << "copies on iface " << i;
		EXPECT_EQ(hex(by_iface[i][0]), hex(frames[0])) << "iface " << i;
	}
	EXPECT_FALSE(by_iface.count(ifc(T1))) << "T1's copy was over its rate";
	expect_effects(s0, dp.snapshot(),
		       rx(A1, f) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_FLOODED), Ctr(A2, XDPNET_CTR_TX_FLOOD),
						       Ctr(T2, XDPNET_CTR_TX_FLOOD), Ctr(T3, XDPNET_CTR_TX_FLOOD),
						       Ctr(H2, XDPNET_CTR_TX_FLOOD),
						       Drop(T1, XDPNET_DROP_POLICE_OUT)});
	EXPECT_EQ(dp.bucket(kSlot[A2], OUT).bits, 0u) << "charged the 100-byte untagged copy";
	EXPECT_EQ(dp.bucket(kSlot[T1], OUT).bits, (L + 3) * kByte) << "refused: nothing taken";
}

// ---------------------------------------------------------------------------
// Remarking.

TEST_F(Qos, OverTheRateIsRemarkedInsteadOfDropped)
{
	const uint64_t fut = frozen();
	police(A1, IN, make_policer(1000000, 1000, 0, 0, XDPNET_EXCEED_REMARK, 46), B(fut, 0));
	for (uint8_t ecn = 0; ecn < 4; ecn++) {
		const Bytes in = udp4(M(2), M(1), kIp1, kIp2, L, {}, uint8_t(10 << 2 | ecn));
		Snapshot s0 = dp.snapshot();
		RunResult r = send(A1, in);
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		EXPECT_EQ(hex(r.out), hex(with_tos(in, 14, uint8_t(46 << 2 | ecn)))) << "DSCP 46, ECN " << int(ecn) << " kept";
		EXPECT_TRUE(ip_csum_ok(r.out, 14));
		EXPECT_TRUE(l4_csum_ok(r.out, 14));
		expect_effects(s0, dp.snapshot(),
			       rx(A1, in) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_REMARKED), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	}
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).bits, 0u);

	// IPv6: the traffic class, flow label untouched.
	const Bytes in6 = udp6(M(2), M(1), kV6a, kV6b, L, uint8_t(8 << 2 | 2), 0xabcde);
	RunResult r = send(A1, in6);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(with_tclass(in6, 14, uint8_t(46 << 2 | 2))));

	// Within the rate: untouched, nothing counted.
	dp.set_bucket(kSlot[A1], IN, B(fut, L * kByte));
	const Bytes in = udp4(M(2), M(1), kIp1, kIp2, L, {}, uint8_t(10 << 2));
	Snapshot s1 = dp.snapshot();
	r = send(A1, in);
	EXPECT_EQ(hex(r.out), hex(in));
	expect_effects(s1, dp.snapshot(), rx(A1, in) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)});

	// Not IP: nothing to remark; forwarded unchanged (and counted as let
	// through over the rate).
	const Bytes uni = frame(M(2), M(1), {}, 0x88b5);
	Snapshot s2 = dp.snapshot();
	r = send(A1, uni);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(uni));
	expect_effects(s2, dp.snapshot(),
		       rx(A1, uni) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_REMARKED), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Qos, EgressRemarkIsCountedOnTheOutPort)
{
	police(A2, OUT, make_policer(1000000, 1000, 0, 0, XDPNET_EXCEED_REMARK, 8), B(frozen(), 0));
	const Bytes from_trunk = udp4(M(2), M(3), kIp3, kIp2, L + 4, {Q(10)}, 0x03);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(T1, from_trunk);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(udp4(M(2), M(3), kIp3, kIp2, L, {}, uint8_t(8 << 2 | 3))))
		<< "tag popped, then remarked";
	expect_effects(s0, dp.snapshot(),
		       rx(T1, from_trunk) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_REMARKED), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Qos, RemarkWinsOverThePortsDscpMark)
{
	add_flags(A1, XDPNET_PORT_DSCP, 10);
	police(A1, IN, make_policer(1000000, 1000, 0, 0, XDPNET_EXCEED_REMARK, 46), B(frozen(), 0));
	const Bytes in = udp4(M(2), M(1), kIp1, kIp2, L, {}, 0x01);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, in);
	EXPECT_EQ(hex(r.out), hex(with_tos(in, 14, uint8_t(46 << 2 | 1))));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, in) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_DSCP_MARKED), Ctr(A1, XDPNET_CTR_REMARKED),
							Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

// ---------------------------------------------------------------------------
// DSCP marking.

TEST_F(Qos, DscpMarkIpv4KeepsEcnAndTheChecksumIsRight)
{
	int n = 0;
	Snapshot s0 = dp.snapshot();
	for (uint8_t dscp : {0, 1, 10, 34, 46, 63}) {
		add_flags(A1, XDPNET_PORT_DSCP, dscp);
		for (uint8_t tos : {0x00, 0x01, 0x02, 0x03, 0xb8, 0xff, 0x29})
			for (uint16_t id : {0x0000, 0x1234, 0xfffe, 0x8000}) {
				const Bytes in = udp4(M(2), M(1), kIp1, kIp2, L, {}, tos, id);
				RunResult r = send(A1, in);
				n++;
				ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
				const Bytes want = with_tos(in, 14, uint8_t(dscp << 2 | (tos & 3)));
				EXPECT_EQ(hex(r.out), hex(want)) << "dscp " << int(dscp) << " tos " << int(tos) << " id " << id;
				EXPECT_TRUE(ip_csum_ok(r.out, 14));
			}
	}
	expect_effects(s0, dp.snapshot(),
		       std::vector<Effect>{Ctr(A1, XDPNET_CTR_RX, n), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(n * L)),
					   Ctr(A1, XDPNET_CTR_DSCP_MARKED, n), Ctr(A2, XDPNET_CTR_TX_UNICAST, n)});
}

TEST_F(Qos, DscpMarkWithIpOptionsAndOnATaggedFrame)
{
	// A 24-byte header (one NOP word of options): the checksum covers it all.
	add_flags(A1, XDPNET_PORT_DSCP, 26);
	Bytes pkt = ipv4_packet(kIp1, kIp2, 17, udp_l4(4000, 5000, 30));
	pkt.insert(pkt.begin() + 20, {1, 1, 1, 0});
	pkt[0] = 0x46;
	set16(pkt, 2, uint16_t(pkt.size()));
	ip_csum_fill(pkt, 0);
	const Bytes in = eth_ipv4(M(2), M(1), pkt);
	RunResult r = send(A1, in);
	EXPECT_EQ(hex(r.out), hex(with_tos(in, 14, 26 << 2)));
	EXPECT_TRUE(ip_csum_ok(r.out, 14));

	// From a trunk: the IP header sits behind the tag.
	add_flags(T1, XDPNET_PORT_DSCP, 18);
	const Bytes t = udp4(M(2), M(3), kIp3, kIp2, L + 4, {Q(10, 5)}, 0x02);
	Snapshot s0 = dp.snapshot();
	r = send(T1, t);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(udp4(M(2), M(3), kIp3, kIp2, L, {}, uint8_t(18 << 2 | 2))));
	expect_effects(s0, dp.snapshot(),
		       rx(T1, t) + std::vector<Effect>{Ctr(T1, XDPNET_CTR_DSCP_MARKED), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Qos, DscpMarkIpv6KeepsEcnAndTheFlowLabel)
{
	int n = 0;
	Snapshot s0 = dp.snapshot();
	for (uint8_t dscp : {0, 10, 46, 63}) {
		add_flags(A1, XDPNET_PORT_DSCP, dscp);
		for (uint8_t tc : {0x00, 0x03, 0xab, 0xfe})
			for (uint32_t flow : {0u, 0x12345u, 0xfffffu}) {
				const Bytes in = udp6(M(2), M(1), kV6a, kV6b, L, tc, flow);
				RunResult r = send(A1, in);
				n++;
				const Bytes want = with_tclass(in, 14, uint8_t(dscp << 2 | (tc & 3)));
				EXPECT_EQ(hex(r.out), hex(want)) << "dscp " << int(dscp) << " tc " << int(tc) << " flow " << flow;
				EXPECT_EQ(get32(r.out, 14) & 0xfffff, flow);
				EXPECT_TRUE(l4_csum6_ok(r.out, 14)) << "no transport checksum covers the class";
			}
	}
	expect_effects(s0, dp.snapshot(),
		       std::vector<Effect>{Ctr(A1, XDPNET_CTR_RX, n), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(n * L)),
					   Ctr(A1, XDPNET_CTR_DSCP_MARKED, n), Ctr(A2, XDPNET_CTR_TX_UNICAST, n)});
}

TEST_F(Qos, DscpLeavesFramesThatAreNotIpAlone)
{
	add_flags(A1, XDPNET_PORT_DSCP, 46);
	const Bytes other = frame(M(2), M(1), {}, 0x88b5);
	const Bytes a = arp(2, M(2), M(1), M(1), kIp1, M(2), kIp2);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, other);
	EXPECT_EQ(hex(r.out), hex(other));
	r = send(A1, a);
	EXPECT_EQ(hex(r.out), hex(a));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, other) + rx(A1, a) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST, 2)});
}

// ---------------------------------------------------------------------------
// Per-address limits. 1 bit/s: a refill of one byte takes 8 s, so within a
// test the buckets only empty.

namespace {
constexpr uint32_t kNet10 = 0x0a000a00;
}

TEST_F(Qos, LimitGivesEachSourceItsOwnBucket)
{
	limits_on();
	const xdpnet_policer pol = make_policer(1, 2 * L);
	put_limit(0, 4, a4(kNet10), 24, 7, pol);
	const Bytes s1 = udp4(M(2), M(1), kIp1, kIp2, L);
	const Bytes s5 = udp4(M(2), M(1), 0x0a000a05, kIp2, L);
	Snapshot s0 = dp.snapshot();
	const uint64_t t0 = dp.clock_now();
	EXPECT_EQ(send(A1, s1).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, s1).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, s1).retval, uint32_t(XDP_DROP)) << "the source's burst is spent";
	EXPECT_EQ(send(A1, s5).retval, uint32_t(XDP_REDIRECT)) << "another source: its own bucket";
	const uint64_t t1 = dp.clock_now();
	expect_effects(s0, dp.snapshot(),
		       rx(A1, s1, 4) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST, 3), Drop(A1, XDPNET_DROP_LIMIT)});
	EXPECT_EQ(lstate_count(), 2u);
	auto b1 = lstate(7, 4, a4(kIp1)), b5 = lstate(7, 4, a4(0x0a000a05));
	ASSERT_TRUE(b1 && b5);
	EXPECT_LT(b1->bits, kByte) << "emptied (less than a byte refilled)";
	EXPECT_GE(b5->bits, L * kByte);
	EXPECT_LT(b5->bits, L * kByte + kByte);
	for (auto &b : {*b1, *b5}) {
		EXPECT_GE(b.last_ns, t0);
		EXPECT_LE(b.last_ns, t1);
		EXPECT_EQ(b.full_s, pol.full_s);
	}
	EXPECT_EQ(dp.bucket(kSlot[A1], IN).last_ns, 0u) << "no port policer involved";
}

TEST_F(Qos, SourceOutsideEveryLimitIsNotLimited)
{
	limits_on();
	put_limit(0, 4, a4(kNet10), 24, 7, make_policer(1, L));
	const Bytes f = udp4(M(2), M(1), 0x0a000b01, kIp2, L); // 10.0.11.1
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(send(A1, f).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(lstate_count(), 0u);
	// Not IP: not limited either.
	const Bytes other = frame(M(2), M(1), {}, 0x88b5);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(send(A1, other).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(lstate_count(), 0u);
}

TEST_F(Qos, LongestLimitPrefixWins)
{
	limits_on();
	put_limit(0, 4, a4(0x0a000000), 16, 1, make_policer(1, 100 * L)); // 10.0/16: generous
	put_limit(0, 4, a4(kNet10), 24, 2, make_policer(1, L));           // 10.0.10/24: one frame
	const Bytes in24 = udp4(M(2), M(1), kIp1, kIp2, L);
	const Bytes in16 = udp4(M(2), M(1), 0x0a001401, kIp2, L); // 10.0.20.1
	EXPECT_EQ(send(A1, in24).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, in24).retval, uint32_t(XDP_DROP));
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(send(A1, in16).retval, uint32_t(XDP_REDIRECT));
	EXPECT_TRUE(lstate(2, 4, a4(kIp1)));
	EXPECT_FALSE(lstate(1, 4, a4(kIp1)));
	EXPECT_TRUE(lstate(1, 4, a4(0x0a001401)));
	EXPECT_EQ(lstate_count(), 2u);
}

TEST_F(Qos, LimitOnIpv6Sources)
{
	limits_on();
	put_limit(0, 6, a6(ip6("2001:db8:10::")), 64, 3, make_policer(1, L));
	const Bytes a = udp6(M(2), M(1), kV6a, kV6b, L);
	const Bytes b = udp6(M(2), M(1), ip6("2001:db8:10::99"), kV6b, L);
	const Bytes out = udp6(M(2), M(1), ip6("2001:db8:11::1"), kV6b, L);
	Snapshot s0 = dp.snapshot();
	EXPECT_EQ(send(A1, a).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, a).retval, uint32_t(XDP_DROP));
	EXPECT_EQ(send(A1, b).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, out).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, out).retval, uint32_t(XDP_REDIRECT));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, a, 5) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST, 4), Drop(A1, XDPNET_DROP_LIMIT)});
	EXPECT_TRUE(lstate(3, 6, a6(kV6a)));
	EXPECT_TRUE(lstate(3, 6, a6(ip6("2001:db8:10::99"))));
	EXPECT_EQ(lstate_count(), 2u);
	// An IPv4 source of the same leading bytes is another family.
	put_limit(0, 4, a4(0x20010db8), 32, 9, make_policer(1, L));
	const Bytes v4 = udp4(M(2), M(1), 0x20010db8, kIp2, L);
	EXPECT_EQ(send(A1, v4).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(A1, v4).retval, uint32_t(XDP_DROP));
	EXPECT_TRUE(lstate(9, 4, a4(0x20010db8)));
}

TEST_F(Qos, LimitChargesTheWholeFrameTagIncluded)
{
	limits_on();
	put_limit(0, 4, a4(kNet10), 24, 4, make_policer(1, 2 * (L + 4) - 1));
	const Bytes t = udp4(M(2), M(3), kIp3, kIp2, L + 4, {Q(10)});
	EXPECT_EQ(send(T1, t).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(send(T1, t).retval, uint32_t(XDP_DROP)) << "207 bytes of burst, 2 x 104-byte frames";
}

TEST_F(Qos, LimitOverTheRateRemarks)
{
	limits_on();
	put_limit(0, 4, a4(kNet10), 24, 5, make_policer(1, L, 0, 0, XDPNET_EXCEED_REMARK, 8));
	const Bytes f = udp4(M(2), M(1), kIp1, kIp2, L);
	EXPECT_EQ(hex(send(A1, f).out), hex(f));
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, f);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(with_tos(f, 14, 8 << 2)));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, f) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_REMARKED), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
}

TEST_F(Qos, LimitsNeedTheConfigSwitchAndTheirGeneration)
{
	const Bytes f = udp4(M(2), M(1), kIp1, kIp2, L);
	// An entry, but limits off in the config: nothing applies.
	put_limit(0, 4, a4(kNet10), 24, 7, make_policer(1, L));
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(send(A1, f).retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(lstate_count(), 0u);

	// Limits on, the entry only in generation 1: nothing applies in 0.
	Datapath::Options o;
	Datapath d2(o);
	d2.install_std(0);
	d2.fdb_put(10, M(2), A2, coarse_now(), XDPNET_FDB_STATIC);
	for (uint32_t g : {0u, 1u}) {
		xdpnet_config c{};
		c.aging_ns = kAgingNs;
		c.limits = 1;
		d2.put_config(g, c);
	}
	xdpnet_limit_key k{};
	k.prefixlen = 32 + 24;
	k.gen = 1;
	k.family = 4;
	memcpy(k.addr, a4(kNet10).data(), 16);
	xdpnet_limit v{};
	v.id = 7;
	v.pol = make_policer(1, L);
	ASSERT_EQ(bpf_map_update_elem(d2.mfd(d2.skel->maps.xdpnet_limits), &k, &v, BPF_ANY), 0);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(d2.run_xdp(d2.skel->progs.xdpnet_ingress, f, ifx(A1)).retval, uint32_t(XDP_REDIRECT));
}

namespace {
struct QosSmallTable : Qos {
	QosSmallTable() : Qos(opts()) {}
	static Datapath::Options opts()
	{
		Datapath::Options o;
		o.limit_state_max = 4;
		return o;
	}
};
} // namespace

TEST_F(QosSmallTable, FullStateTableUsesTheLimitsOverflowBucket)
{
	limits_on();
	const xdpnet_policer pol = make_policer(1, 10 * L);
	put_limit(0, 4, a4(kNet10), 24, 7, pol);
	const uint64_t fut = frozen();
	// What the loader creates: the limit's overflow bucket (one frame left).
	ASSERT_EQ(put_lstate(7, 0, A16{}, B(fut, L * kByte, 0, pol.full_s)), 0);
	// Sources seen before, filling the table.
	ASSERT_EQ(put_lstate(7, 4, a4(kIp1), B(fut, 5 * L * kByte, 0, pol.full_s)), 0);
	ASSERT_EQ(put_lstate(7, 4, a4(0x0a000a21), B(fut, 0, 0, pol.full_s)), 0);
	ASSERT_EQ(put_lstate(7, 4, a4(0x0a000a22), B(fut, 0, 0, pol.full_s)), 0);
	ASSERT_EQ(lstate_count(), 4u);
	xdpnet_bucket extra = B(fut, 0);
	ASSERT_NE(put_lstate(7, 4, a4(0x0a000a23), extra), 0) << "the table is full";

	// A new source: counted limit_full, charged to the overflow bucket.
	const Bytes n1 = udp4(M(2), M(1), 0x0a000a31, kIp2, L);
	Snapshot s0 = dp.snapshot();
	EXPECT_EQ(send(A1, n1).retval, uint32_t(XDP_REDIRECT));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, n1) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LIMIT_FULL), Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(lstate(7, 0, A16{})->bits, 0u);
	EXPECT_FALSE(lstate(7, 4, a4(0x0a000a31))) << "no bucket of its own";

	// Another new source: the overflow bucket is spent.
	const Bytes n2 = udp4(M(2), M(1), 0x0a000a32, kIp2, L);
	Snapshot s1 = dp.snapshot();
	EXPECT_EQ(send(A1, n2).retval, uint32_t(XDP_DROP));
	expect_effects(s1, dp.snapshot(),
		       rx(A1, n2) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LIMIT_FULL), Drop(A1, XDPNET_DROP_LIMIT)});

	// A known source still has its own bucket.
	const Bytes k1 = udp4(M(2), M(1), kIp1, kIp2, L);
	Snapshot s2 = dp.snapshot();
	EXPECT_EQ(send(A1, k1).retval, uint32_t(XDP_REDIRECT));
	expect_effects(s2, dp.snapshot(), rx(A1, k1) + std::vector<Effect>{Ctr(A2, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(lstate(7, 4, a4(kIp1))->bits, 4 * L * kByte);
	EXPECT_EQ(lstate_count(), 4u);
}

// ---------------------------------------------------------------------------
// The gc pass and per-address buckets.

TEST_F(Qos, GcFreesIdleSourceBucketsKeepsFreshOnesAndTheOverflow)
{
	limits_on();
	const uint64_t now = dp.clock_now();
	ASSERT_EQ(put_lstate(1, 4, a4(kIp1), B(now - 3 * kSec - kSec / 2, 0, 0, 3)), 0); // idle 3.5 s > 3 s
	ASSERT_EQ(put_lstate(1, 4, a4(kIp2), B(now - 2 * kSec, 0, 0, 3)), 0);           // idle 2 s
	ASSERT_EQ(put_lstate(2, 4, a4(kIp3), B(now - 50 * kSec, 0, 0, 100)), 0);        // its full_s is 100
	ASSERT_EQ(put_lstate(1, 6, a6(kV6a), B(now - 20 * kSec, 0, 0, 3)), 0);          // IPv6, idle
	ASSERT_EQ(put_lstate(1, 4, a4(0x0a000a04), B(now + 10 * kSec, 0, 0, 3)), 0);    // clock behind it
	ASSERT_EQ(put_lstate(1, 0, A16{}, B(1, 0, 0, 3)), 0);                           // overflow, ancient
	ASSERT_EQ(put_lstate(2, 0, A16{}, B(0, 0, 0, 0)), 0);                           // overflow, unused
	run_gc();
	EXPECT_FALSE(lstate(1, 4, a4(kIp1))) << "idle past full_s: freed";
	EXPECT_FALSE(lstate(1, 6, a6(kV6a))) << "idle past full_s: freed";
	EXPECT_TRUE(lstate(1, 4, a4(kIp2))) << "fresh: kept";
	EXPECT_TRUE(lstate(2, 4, a4(kIp3))) << "within its own full_s: kept";
	EXPECT_TRUE(lstate(1, 4, a4(0x0a000a04))) << "last_ns ahead of the clock: kept";
	EXPECT_TRUE(lstate(1, 0, A16{})) << "overflow buckets stay";
	EXPECT_TRUE(lstate(2, 0, A16{})) << "overflow buckets stay";
	EXPECT_EQ(lstate_count(), 5u);
	EXPECT_EQ(dp.gc().removed, 0u) << "the FDB count is not the limits'";
}

TEST_F(Qos, GcLeavesLimitBucketsAloneWhenLimitsAreOffOrNotThisPass)
{
	const uint64_t now = dp.clock_now();
	ASSERT_EQ(put_lstate(1, 4, a4(kIp1), B(now - 100 * kSec, 0, 0, 1)), 0);
	run_gc();
	EXPECT_TRUE(lstate(1, 4, a4(kIp1))) << "limits off in the live config: not walked";

	// The walk runs every ct_every passes (with the connection walk).
	limits_on();
	xdpnet_gc g = dp.gc();
	g.ct_every = 2;
	g.passes = 1;
	uint32_t zero = 0;
	ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_gc), &zero, &g, BPF_ANY), 0);
	run_gc(); // pass 1: 1 % 2 != 0
	EXPECT_TRUE(lstate(1, 4, a4(kIp1)));
	run_gc(); // pass 2
	EXPECT_FALSE(lstate(1, 4, a4(kIp1)));
}

namespace {
// Small tables: the gc pass walks them all, and must fit in one clock tick.
struct QosSmallGc : Qos {
	QosSmallGc() : Qos(opts()) {}
	static Datapath::Options opts()
	{
		Datapath::Options o;
		o.limit_state_max = 16;
		o.ct_max = 16;
		o.fdb_max = 16;
		return o;
	}
};
} // namespace

TEST_F(QosSmallGc, GcFreesABucketOnlyStrictlyPastFullS)
{
	limits_on();
	bool at = false, past = false;
	const xdpnet_limit_src k1 = src_key(1, 4, a4(kIp1)), k2 = src_key(1, 4, a4(kIp2));
	at_one_instant(dp, [&](uint64_t t) {
		bpf_map_delete_elem(dp.mfd(dp.skel->maps.xdpnet_limit_state), &k1);
		bpf_map_delete_elem(dp.mfd(dp.skel->maps.xdpnet_limit_state), &k2);
		put_lstate(1, 4, a4(kIp1), B(t - 2 * kSec, 0, 0, 2));     // idle exactly full_s
		put_lstate(1, 4, a4(kIp2), B(t - 2 * kSec - 1, 0, 0, 2)); // one ns more
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(99)), 0);
		(void)r;
		at = lstate(1, 4, a4(kIp1)).has_value();
		past = lstate(1, 4, a4(kIp2)).has_value();
	});
	EXPECT_TRUE(at) << "idle exactly full_s: kept";
	EXPECT_FALSE(past) << "idle full_s + 1 ns: freed";
}

// ---------------------------------------------------------------------------
// One bucket for all CPUs.

namespace {
void pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
} // namespace

TEST_F(Qos, OneBucketAdmitsTheBurstOnceAcrossTwoCpus)
{
	ASSERT_GE(libbpf_num_possible_cpus(), 2);
	// 1 byte/s and a burst of N frames: two CPUs hammering the same port
	// may share N frames (plus what 1 byte/s refills, nothing here). A
	// per-CPU bucket would admit about 2N.
	constexpr uint64_t N = 100000;
	constexpr uint32_t kRepeat = 300000;
	const Bytes f = udp4(M(2), M(1), kIp1, kIp2, 60);
	const xdpnet_policer pol = make_policer(8, N * 60);
	police(A1, IN, pol, B(0, 0)); // unused: starts full

	// The two workers meet at a barrier of their own (the main thread only
	// waits in join, so it takes neither CPU from them when they start).
	std::atomic<int> ready{0};
	int errs[2] = {0, 0};
	uint32_t cpus[2] = {99, 99};
	auto worker = [&](int cpu) {
		pin_to_cpu(cpu);
		cpus[cpu] = uint32_t(sched_getcpu());
		ready++;
		while (ready < 2)
			;
		errs[cpu] = dp.run_xdp_repeat(dp.skel->progs.xdpnet_ingress, f, ifx(A1), kRepeat);
	};
	Snapshot s0 = dp.snapshot();
	const auto t0 = std::chrono::steady_clock::now();
	std::thread a(worker, 0), b(worker, 1);
	a.join();
	b.join();
	const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	Snapshot s1 = dp.snapshot();
	ASSERT_EQ(errs[0], 0);
	ASSERT_EQ(errs[1], 0);
	EXPECT_EQ(cpus[0], 0u);
	EXPECT_EQ(cpus[1], 1u);

	// Per-CPU view of A1's counters: both CPUs ran all their frames.
	const int ncpu = libbpf_num_possible_cpus();
	std::vector<xdpnet_port_stats> pc1(ncpu);
	uint32_t slot = kSlot[A1];
	ASSERT_EQ(bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_stats), &slot, pc1.data()), 0);

	const uint64_t rx = s1.slots[kSlot[A1]].ctr[XDPNET_CTR_RX] - s0.slots[kSlot[A1]].ctr[XDPNET_CTR_RX];
	const uint64_t dropped = s1.slots[kSlot[A1]].drops[XDPNET_DROP_POLICE_IN] -
				 s0.slots[kSlot[A1]].drops[XDPNET_DROP_POLICE_IN];
	const uint64_t admitted = s1.slots[kSlot[A2]].ctr[XDPNET_CTR_TX_UNICAST] -
				  s0.slots[kSlot[A2]].ctr[XDPNET_CTR_TX_UNICAST];
	EXPECT_EQ(rx, 2ULL * kRepeat);
	EXPECT_EQ(admitted + dropped, rx);
	// The rate's share over the run: 1 byte/s x the run, in 60-byte
	// frames, plus one clock tick's worth (abi.h's bound), rounded up.
	const uint64_t by_rate = uint64_t((secs + 1.0) * 1.0 / 60.0) + 1;
	EXPECT_LE(admitted, N + by_rate) << "admitted " << admitted << " in " << secs << " s";
	EXPECT_GT(admitted, N / 2) << "admitted " << admitted;
	uint64_t admitted_on[2] = {0, 0};
	for (int c = 0; c < 2 && c < ncpu; c++) {
		admitted_on[c] = pc1[c].ctr[XDPNET_CTR_RX] - pc1[c].drops[XDPNET_DROP_POLICE_IN];
		EXPECT_EQ(pc1[c].ctr[XDPNET_CTR_RX], uint64_t(kRepeat)) << "cpu " << c;
	}
	EXPECT_GT(admitted_on[0], 0u) << "both CPUs took from the bucket";
	EXPECT_GT(admitted_on[1], 0u) << "both CPUs took from the bucket";
	RecordProperty("admitted_cpu0", std::to_string(admitted_on[0]));
	RecordProperty("admitted_cpu1", std::to_string(admitted_on[1]));
}
