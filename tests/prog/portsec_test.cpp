// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Port security (stage 2b, before learning): a secured port may send only
// from its listed MACs and addresses, claim only those in ARP and IPv6
// neighbour discovery, and act as no DHCP server or IPv6 router. Each drop
// reason with its legitimate counterpart; spoofed frames are never learned
// (nor move a learned MAC); tagged frames on a secured trunk; generations;
// security before policing.
#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

constexpr uint8_t kUdp = 17, kTcp = 6;
constexpr uint8_t SEC_ALL = XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP | XDPNET_PORT_SEC_GUARD;

constexpr uint32_t kIp1 = 0x0a000a01, kIp2 = 0x0a000a02, kIp3 = 0x0a000a03;
constexpr uint32_t kNet64 = 0x0a000a40; // 10.0.10.64/26, also A1's
const In6 kV6a = ip6("2001:db8:10::1"), kV6b = ip6("2001:db8:10::2");
const In6 kLl1 = ip6("fe80::1"), kUnspec = ip6("::"), kAllNodes = ip6("ff02::1");
const Mac kAllNodesMac = {0x33, 0x33, 0, 0, 0, 1};

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

std::vector<Effect> operator+(std::vector<Effect> a, const std::vector<Effect> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

Mac src_of(const Bytes &f) { return Mac{f[6], f[7], f[8], f[9], f[10], f[11]}; }

// The frame with an 802.1Q tag inserted after the MACs.
Bytes tagged(const Bytes &f, uint16_t vid)
{
	Bytes b(f.begin(), f.begin() + 12);
	put16(b, 0x8100);
	put16(b, vid);
	b.insert(b.end(), f.begin() + 12, f.end());
	return b;
}

// The frame without its 802.1Q tag.
Bytes untagged(const Bytes &f)
{
	Bytes b(f.begin(), f.begin() + 12);
	b.insert(b.end(), f.begin() + 16, f.end());
	return b;
}

Bytes udp4(const Mac &dst, const Mac &src, uint32_t s, uint32_t d, uint16_t sp = 4000, uint16_t dp = 5000,
	   std::vector<Tag> tags = {})
{
	return eth_ipv4(dst, src, ipv4_packet(s, d, kUdp, udp_l4(sp, dp)), tags);
}
Bytes tcp4(const Mac &dst, const Mac &src, uint32_t s, uint32_t d)
{
	return eth_ipv4(dst, src, ipv4_packet(s, d, kTcp, tcp_l4(4000, 80, kTcpSyn)));
}
Bytes udp6(const Mac &dst, const Mac &src, const In6 &s, const In6 &d, uint16_t sp = 4000, uint16_t dp = 5000,
	   std::vector<Tag> tags = {})
{
	return eth_ipv6(dst, src, ipv6_packet(s, d, kUdp, udp_l4(sp, dp)), tags);
}
// ICMPv6 (neighbour discovery: hop limit 255).
Bytes icmp6(const Mac &dst, const Mac &src, const In6 &s, const In6 &d, const Bytes &l4, std::vector<Tag> tags = {},
	    bool frag = false)
{
	Ip6Opts o;
	o.hop = 255;
	o.frag = frag;
	return eth_ipv6(dst, src, ipv6_packet(s, d, kIcmp6, l4, o), tags);
}

struct PortSec : ::testing::Test {
	Datapath dp;
	void SetUp() override
	{
		dp.install_std(0);
		const uint64_t t = coarse_now();
		dp.fdb_put(10, M(2), A2, t); // dynamic: could move, must not
		dp.fdb_put(20, M(5), A3, t, XDPNET_FDB_STATIC);
		// A1: everything on; M(1) with 10.0.10.1, 10.0.10.64/26,
		// 2001:db8:10::1 and fe80::1.
		secure(0, A1, SEC_ALL);
		allow_mac(0, A1, M(1));
		allow4(0, A1, kIp1, 32);
		allow4(0, A1, kNet64, 26);
		allow6(0, A1, kV6a, 128);
		allow6(0, A1, kLl1, 128);
	}
	void secure(uint32_t gen, P p, uint8_t flags)
	{
		xdpnet_port port = dp.get_port(gen, kSlot[p]);
		dp.set_port_flags(gen, kSlot[p], uint8_t(port.flags | flags), port.dscp);
	}
	void allow_mac(uint32_t gen, P p, const Mac &m)
	{
		xdpnet_psec_mac_key k{};
		k.gen = uint8_t(gen);
		k.slot = kSlot[p];
		memcpy(k.mac, m.data(), 6);
		uint8_t one = 1;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_psec_mac), &k, &one, BPF_ANY), 0);
	}
	void allow(uint32_t gen, P p, uint8_t family, const uint8_t *addr, int len)
	{
		xdpnet_psec_ip_key k{};
		k.prefixlen = uint32_t(32 + len);
		k.gen = uint8_t(gen);
		k.family = family;
		k.slot = kSlot[p];
		memcpy(k.addr, addr, family == 4 ? 4 : 16);
		uint8_t one = 1;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_psec_ip), &k, &one, BPF_ANY), 0);
	}
	void allow4(uint32_t gen, P p, uint32_t a, int len)
	{
		uint8_t b[4] = {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)};
		allow(gen, p, 4, b, len);
	}
	void allow6(uint32_t gen, P p, const In6 &a, int len) { allow(gen, p, 6, a.data(), len); }

	RunResult send(P p, const Bytes &f) { return dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(p)); }
	std::vector<Effect> rx(P p, const Bytes &f)
	{
		return {Ctr(p, XDPNET_CTR_RX), Ctr(p, XDPNET_CTR_RX_BYTES, int64_t(f.size()))};
	}
	// LEARNED when the source is new in vid.
	std::vector<Effect> learn(P p, uint16_t vid, const Bytes &f)
	{
		if (dp.fdb_get(vid, src_of(f)))
			return {};
		return {Ctr(p, XDPNET_CTR_LEARNED)};
	}
	// Let through to a known station behind `out`, as `want` (default unchanged).
	void pass(P in, uint16_t vid, const Bytes &f, P out, std::optional<Bytes> want = std::nullopt)
	{
		std::vector<Effect> e = rx(in, f) + learn(in, vid, f) + std::vector<Effect>{Ctr(out, XDPNET_CTR_TX_UNICAST)};
		Snapshot s0 = dp.snapshot();
		RunResult r = send(in, f);
		EXPECT_EQ(r.err, 0);
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "let through";
		EXPECT_EQ(hex(r.out), hex(want ? *want : f));
		expect_effects(s0, dp.snapshot(), e);
		auto fe = dp.fdb_get(vid, src_of(f));
		EXPECT_TRUE(fe && fe->slot == kSlot[in]) << "the source is learned on the port";
	}
	// Let through and flooded in its VLAN (it leaves tagged from XDP).
	void pass_flood(P in, uint16_t vid, const Bytes &f, const Bytes &want)
	{
		std::vector<Effect> e = rx(in, f) + learn(in, vid, f) + std::vector<Effect>{Ctr(in, XDPNET_CTR_FLOODED)};
		Snapshot s0 = dp.snapshot();
		RunResult r = send(in, f);
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "let through";
		EXPECT_EQ(hex(r.out), hex(want));
		expect_effects(s0, dp.snapshot(), e);
	}
	// Dropped for `reason`; its source neither learned nor moved.
	void drop(P in, uint16_t vid, const Bytes &f, xdpnet_drop_reason reason)
	{
		auto before = dp.fdb_get(vid, src_of(f));
		const size_t n = dp.fdb_count();
		const uint32_t macs = dp.maccnt(kSlot[in]);
		Snapshot s0 = dp.snapshot();
		RunResult r = send(in, f);
		EXPECT_EQ(r.err, 0);
		EXPECT_EQ(r.retval, uint32_t(XDP_DROP)) << "dropped as " << drop_name(reason);
		expect_effects(s0, dp.snapshot(), rx(in, f) + std::vector<Effect>{Drop(in, reason)});
		auto after = dp.fdb_get(vid, src_of(f));
		EXPECT_EQ(before.has_value(), after.has_value()) << "not learned";
		if (before && after) {
			EXPECT_EQ(after->slot, before->slot) << "not moved";
			EXPECT_EQ(after->last_seen_ns, before->last_seen_ns) << "not refreshed";
		}
		EXPECT_EQ(dp.fdb_count(), n);
		EXPECT_EQ(dp.maccnt(kSlot[in]), macs);
	}
};

} // namespace

// ---------------------------------------------------------------------------
// Source MAC and address.

TEST_F(PortSec, ListedSourcesAreLetThroughAndLearned)
{
	pass(A1, 10, udp4(M(2), M(1), kIp1, kIp2), A2);
	pass(A1, 10, udp4(M(2), M(1), 0x0a000a7f, kIp2), A2); // 10.0.10.127: inside the /26
	pass(A1, 10, tcp4(M(2), M(1), kNet64, kIp2), A2);
	pass(A1, 10, udp6(M(2), M(1), kV6a, kV6b), A2);
	pass(A1, 10, icmp6(M(2), M(1), kLl1, ip6("fe80::2"), icmp6_echo_l4(128, 9)), A2);
	pass(A1, 10, frame(M(2), M(1), {}, 0x88b5), A2); // not IP: the MAC is all that counts
	EXPECT_EQ(dp.maccnt(kSlot[A1]), 1u);
}

TEST_F(PortSec, SourceMacNotListedIsDroppedAndNeverLearned)
{
	drop(A1, 10, udp4(M(2), M(9), kIp1, kIp2), XDPNET_DROP_SPOOF_MAC);
	drop(A1, 10, frame(M(2), M(9), {}, 0x88b5), XDPNET_DROP_SPOOF_MAC);
	drop(A1, 10, frame(kBcast, M(9), {}, 0x88b5), XDPNET_DROP_SPOOF_MAC);
	EXPECT_FALSE(dp.fdb_get(10, M(9)));
	// Another station's MAC (learned on A2): not moved to A1.
	drop(A1, 10, udp4(M(3), M(2), kIp1, kIp3), XDPNET_DROP_SPOOF_MAC);
	ASSERT_TRUE(dp.fdb_get(10, M(2)));
	EXPECT_EQ(dp.fdb_get(10, M(2))->slot, kSlot[A2]);
}

TEST_F(PortSec, SourceAddressNotListedIsDroppedAndNeverLearned)
{
	drop(A1, 10, udp4(M(2), M(1), kIp2, kIp3), XDPNET_DROP_SPOOF_IP);
	drop(A1, 10, udp4(M(2), M(1), 0x0a000a80, kIp2), XDPNET_DROP_SPOOF_IP); // .128: past the /26
	drop(A1, 10, udp4(M(2), M(1), 0x0a000a3f, kIp2), XDPNET_DROP_SPOOF_IP); // .63: before it
	drop(A1, 10, udp6(M(2), M(1), kV6b, kV6a), XDPNET_DROP_SPOOF_IP);
	drop(A1, 10, udp6(M(2), M(1), ip6("fe80::2"), kV6a), XDPNET_DROP_SPOOF_IP);
	EXPECT_FALSE(dp.fdb_get(10, M(1))) << "a listed MAC with a spoofed address is not learned either";
	// A later IPv4 fragment carries its source too.
	Bytes frag = ipv4_packet(kIp2, kIp3, kUdp, udp_l4(1, 2));
	set16(frag, 6, 0x0010); // offset 128 bytes
	ip_csum_fill(frag, 0);
	drop(A1, 10, eth_ipv4(M(2), M(1), frag), XDPNET_DROP_SPOOF_IP);
}

TEST_F(PortSec, UnspecifiedSourceOnlyForDhcpClientsAndIcmpv6)
{
	// DHCP discover: 0.0.0.0:68 -> 255.255.255.255:67.
	const Bytes discover = udp4(kBcast, M(1), 0, 0xffffffff, 68, 67);
	pass_flood(A1, 10, discover, tagged(discover, 10));
	drop(A1, 10, udp4(kBcast, M(1), 0, 0xffffffff, 68, 68), XDPNET_DROP_SPOOF_IP);
	drop(A1, 10, udp4(kBcast, M(1), 0, 0xffffffff, 1068, 67), XDPNET_DROP_SPOOF_IP);
	drop(A1, 10, tcp4(M(2), M(1), 0, kIp2), XDPNET_DROP_SPOOF_IP);

	// Duplicate address detection: NS from :: to the solicited-node group.
	const Bytes dad = icmp6(solicited_mac(kV6a), M(1), kUnspec, solicited_node(kV6a), nd_ns_l4(kV6a));
	pass_flood(A1, 10, dad, tagged(dad, 10));
	// MLD v2 report from ::.
	const Bytes mld = icmp6(Mac{0x33, 0x33, 0, 0, 0, 0x16}, M(1), kUnspec, ip6("ff02::16"),
				icmp6_l4(143, 0, Bytes{0, 0, 0, 0}));
	pass_flood(A1, 10, mld, tagged(mld, 10));
	drop(A1, 10, udp6(M(2), M(1), kUnspec, kV6b), XDPNET_DROP_SPOOF_IP);
}

// ---------------------------------------------------------------------------
// ARP.

TEST_F(PortSec, ArpMayClaimOnlyListedMacsAndAddresses)
{
	const Bytes req = arp(1, kBcast, M(1), M(1), kIp1, Mac{}, kIp2);
	pass_flood(A1, 10, req, tagged(req, 10));
	pass(A1, 10, arp(2, M(2), M(1), M(1), 0x0a000a41, M(2), kIp2), A2); // inside the /26
	// An address probe (RFC 5227) claims nothing.
	const Bytes probe = arp(1, kBcast, M(1), M(1), 0, Mac{}, kIp3);
	pass_flood(A1, 10, probe, tagged(probe, 10));

	drop(A1, 10, arp(1, kBcast, M(1), M(9), kIp1, Mac{}, kIp2), XDPNET_DROP_SPOOF_ARP); // sender MAC
	drop(A1, 10, arp(2, M(2), M(1), M(1), kIp2, M(2), kIp2), XDPNET_DROP_SPOOF_ARP);  // sender address
	drop(A1, 10, arp(1, kBcast, M(1), M(1), kIp3, Mac{}, kIp3), XDPNET_DROP_SPOOF_ARP); // gratuitous, not ours
	drop(A1, 10, frame(kBcast, M(1), {}, 0x0806, 10), XDPNET_DROP_BAD_L3);            // cut short
	drop(A1, 10, arp(1, kBcast, M(9), M(9), kIp1, Mac{}, kIp2), XDPNET_DROP_SPOOF_MAC); // the frame's own source first
}

// ---------------------------------------------------------------------------
// IPv6 neighbour discovery.

TEST_F(PortSec, NeighbourAdvertsMayClaimOnlyListedTargetsAndMacs)
{
	const Bytes na = icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6a, 0x60, nd_ll_opt(2, M(1))));
	pass(A1, 10, na, A2);
	const Bytes na_ll = icmp6(kAllNodesMac, M(1), kLl1, kAllNodes, nd_na_l4(kLl1, 0x20, nd_ll_opt(2, M(1))));
	pass_flood(A1, 10, na_ll, tagged(na_ll, 10));
	pass(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6a, 0x40)), A2); // no option

	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6b, 0x60, nd_ll_opt(2, M(1)))),
	     XDPNET_DROP_SPOOF_ND); // another's target
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6a, 0x60, nd_ll_opt(2, M(9)))),
	     XDPNET_DROP_SPOOF_ND); // another MAC
	Bytes two = nd_nonce_opt();
	Bytes tll9 = nd_ll_opt(2, M(9));
	two.insert(two.end(), tll9.begin(), tll9.end());
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6a, 0x60, two)), XDPNET_DROP_SPOOF_ND); // second option
	// Cut short before the target.
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, icmp6_l4(136, 0, Bytes{0x60, 0, 0, 0, 0x20, 0x01})),
	     XDPNET_DROP_BAD_L3);
}

TEST_F(PortSec, NeighbourSolicitationsMayCarryOnlyListedMacs)
{
	// The target of a solicitation is whoever is asked: anything.
	pass(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_ns_l4(kV6b, nd_ll_opt(1, M(1)))), A2);
	const Bytes ns = icmp6(solicited_mac(kV6b), M(1), kV6a, solicited_node(kV6b), nd_ns_l4(kV6b, nd_ll_opt(1, M(1))));
	pass_flood(A1, 10, ns, tagged(ns, 10));
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_ns_l4(kV6b, nd_ll_opt(1, M(9)))), XDPNET_DROP_SPOOF_ND);
	Bytes opts = nd_nonce_opt();
	Bytes sll9 = nd_ll_opt(1, M(9));
	opts.insert(opts.end(), sll9.begin(), sll9.end());
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_ns_l4(kV6b, opts)), XDPNET_DROP_SPOOF_ND);
}

TEST_F(PortSec, NeighbourSolicitationWithTheForeignMacInItsThirdOption)
{
	// Two harmless options (nonces), then a source link-layer option with
	// another station's MAC: a host takes that option (the first of its
	// type) and points the solicited address at M(9).
	Bytes opts = nd_nonce_opt();
	Bytes n2 = nd_nonce_opt();
	Bytes sll9 = nd_ll_opt(1, M(9));
	opts.insert(opts.end(), n2.begin(), n2.end());
	opts.insert(opts.end(), sll9.begin(), sll9.end());
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_ns_l4(kV6b, opts)), XDPNET_DROP_SPOOF_ND);
}

TEST_F(PortSec, FragmentedNeighbourDiscoveryIsDropped)
{
	// RFC 6980: never fragmented.
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_ns_l4(kV6b, nd_ll_opt(1, M(1))), {}, true),
	     XDPNET_DROP_SPOOF_ND);
	drop(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, nd_na_l4(kV6a, 0x60, nd_ll_opt(2, M(1))), {}, true),
	     XDPNET_DROP_SPOOF_ND);
	// Other fragmented ICMPv6 is fine.
	pass(A1, 10, icmp6(M(2), M(1), kV6a, kV6b, icmp6_echo_l4(128, 1), {}, true), A2);
}

// ---------------------------------------------------------------------------
// DHCP server and router advertisement guard.

TEST_F(PortSec, DhcpServerMessagesAreDropped)
{
	drop(A1, 10, udp4(kBcast, M(1), kIp1, 0xffffffff, 67, 68), XDPNET_DROP_DHCP_SERVER);
	drop(A1, 10, udp4(M(2), M(1), kIp1, kIp2, 67, 68), XDPNET_DROP_DHCP_SERVER);
	drop(A1, 10, udp6(M(2), M(1), kLl1, ip6("fe80::2"), 547, 546), XDPNET_DROP_DHCP_SERVER);
	// Clients are fine.
	pass(A1, 10, udp4(M(2), M(1), kIp1, kIp2, 68, 67), A2);
	pass(A1, 10, udp6(M(2), M(1), kLl1, ip6("fe80::2"), 546, 547), A2);
	// A relay's port 67 in the destination only: fine too.
	pass(A1, 10, udp4(M(2), M(1), kIp1, kIp2, 4000, 67), A2);
}

TEST_F(PortSec, RouterAdvertsAndRedirectsAreDropped)
{
	drop(A1, 10, icmp6(kAllNodesMac, M(1), kLl1, kAllNodes, nd_ra_l4(nd_ll_opt(1, M(1)))), XDPNET_DROP_RA_GUARD);
	drop(A1, 10, icmp6(M(2), M(1), kLl1, ip6("fe80::2"), nd_redirect_l4(kLl1, kV6b)), XDPNET_DROP_RA_GUARD);
	drop(A1, 10, icmp6(kAllNodesMac, M(1), kLl1, kAllNodes, nd_ra_l4(), {}, true), XDPNET_DROP_RA_GUARD);
	// A router solicitation (133) is a host's.
	pass(A1, 10, icmp6(M(2), M(1), kLl1, ip6("fe80::2"), icmp6_l4(133, 0, Bytes{0, 0, 0, 0})), A2);
}

TEST_F(PortSec, GuardOnlyPortRestrictsNoAddress)
{
	// security: {} -- no MACs or addresses listed, only the guard.
	secure(0, A2, XDPNET_PORT_SEC_GUARD);
	dp.fdb_put(10, M(1), A1, coarse_now(), XDPNET_FDB_STATIC);
	pass(A2, 10, udp4(M(1), M(7), 0x0b0b0b0b, kIp1), A1);
	pass(A2, 10, udp6(M(1), M(7), ip6("2001:db8:99::9"), kV6a), A1);
	pass(A2, 10, icmp6(M(1), M(7), kV6b, kV6a, nd_na_l4(kV6a, 0x20, nd_ll_opt(2, M(8)))), A1);
	pass(A2, 10, arp(2, M(1), M(7), M(8), 0x0b0b0b0b, M(1), kIp1), A1);
	drop(A2, 10, udp4(M(1), M(7), kIp2, kIp1, 67, 68), XDPNET_DROP_DHCP_SERVER);
	drop(A2, 10, udp6(M(1), M(7), kV6b, kV6a, 547, 546), XDPNET_DROP_DHCP_SERVER);
	drop(A2, 10, icmp6(kAllNodesMac, M(7), kLl1, kAllNodes, nd_ra_l4()), XDPNET_DROP_RA_GUARD);
}

TEST_F(PortSec, WithoutTheGuardServersAndRoutersPass)
{
	// An unsecured port: RA and DHCP offers pass.
	dp.fdb_put(10, M(1), A1, coarse_now(), XDPNET_FDB_STATIC);
	const Bytes ra = icmp6(kAllNodesMac, M(2), kLl1, kAllNodes, nd_ra_l4(nd_ll_opt(1, M(2))));
	pass_flood(A2, 10, ra, tagged(ra, 10));
	pass(A2, 10, udp4(M(1), M(2), kIp2, kIp1, 67, 68), A1);
	// MAC and address checks without the guard: a listed router may
	// advertise and serve DHCP.
	secure(0, A2, XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP);
	allow_mac(0, A2, M(2));
	allow4(0, A2, kIp2, 32);
	allow6(0, A2, kLl1, 128);
	pass_flood(A2, 10, ra, tagged(ra, 10));
	pass(A2, 10, udp4(M(1), M(2), kIp2, kIp1, 67, 68), A1);
	drop(A2, 10, udp4(M(1), M(2), kIp3, kIp1, 67, 68), XDPNET_DROP_SPOOF_IP);
}

// ---------------------------------------------------------------------------
// A secured trunk.

TEST_F(PortSec, TaggedFramesOnASecuredTrunk)
{
	// T1 (native 1, tagged 10 and 20): M(3) with 10.0.10.3 and 10.0.20.3.
	secure(0, T1, SEC_ALL);
	allow_mac(0, T1, M(3));
	allow4(0, T1, kIp3, 32);
	allow4(0, T1, 0x0a001403, 32);
	allow6(0, T1, ip6("2001:db8:10::3"), 128);

	const Bytes v10 = udp4(M(2), M(3), kIp3, kIp2, 4000, 5000, {Q(10, 2)});
	pass(T1, 10, v10, A2, untagged(v10));
	const Bytes v20 = udp4(M(5), M(3), 0x0a001403, 0x0a001405, 4000, 5000, {Q(20)});
	pass(T1, 20, v20, A3, untagged(v20));
	const Bytes native = udp4(kBcast, M(3), kIp3, 0xffffffff);
	pass_flood(T1, 1, native, tagged(native, 1));
	const Bytes prio = udp4(M(2), M(3), kIp3, kIp2, 4000, 5000, {Q(0, 6)}); // priority tag: native VLAN 1
	pass_flood(T1, 1, prio, [&] {
		Bytes b = prio;
		b[15] = 1; // VID 1, PCP 6 kept
		return b;
	}());
	const Bytes arp_ok = arp(1, kBcast, M(3), M(3), kIp3, Mac{}, kIp2, {Q(10)});
	pass_flood(T1, 10, arp_ok, arp_ok);

	drop(T1, 10, udp4(M(2), M(9), kIp3, kIp2, 4000, 5000, {Q(10)}), XDPNET_DROP_SPOOF_MAC);
	drop(T1, 10, udp4(M(2), M(9), kIp3, kIp2, 4000, 5000, {Q(0)}), XDPNET_DROP_SPOOF_MAC);
	drop(T1, 20, udp4(M(5), M(3), kIp2, 0x0a001405, 4000, 5000, {Q(20)}), XDPNET_DROP_SPOOF_IP);
	drop(T1, 10, arp(1, kBcast, M(3), M(3), kIp2, Mac{}, kIp1, {Q(10)}), XDPNET_DROP_SPOOF_ARP);
	drop(T1, 10, arp(1, kBcast, M(3), M(9), kIp3, Mac{}, kIp1, {Q(10)}), XDPNET_DROP_SPOOF_ARP);
	drop(T1, 10, udp4(M(2), M(3), kIp3, kIp2, 67, 68, {Q(10)}), XDPNET_DROP_DHCP_SERVER);
	const In6 v6t = ip6("2001:db8:10::3");
	pass(T1, 10, icmp6(M(2), M(3), v6t, kV6b, nd_na_l4(v6t, 0x60, nd_ll_opt(2, M(3))), {Q(10)}), A2,
	     untagged(icmp6(M(2), M(3), v6t, kV6b, nd_na_l4(v6t, 0x60, nd_ll_opt(2, M(3))), {Q(10)})));
	drop(T1, 10, icmp6(M(2), M(3), v6t, kV6b, nd_na_l4(v6t, 0x60, nd_ll_opt(2, M(9))), {Q(10)}),
	     XDPNET_DROP_SPOOF_ND);
	drop(T1, 10, icmp6(M(2), M(3), v6t, kV6b, nd_na_l4(kV6b, 0x60, nd_ll_opt(2, M(3))), {Q(10)}),
	     XDPNET_DROP_SPOOF_ND);
	drop(T1, 20, icmp6(kAllNodesMac, M(3), v6t, kAllNodes, nd_ra_l4(), {Q(20)}), XDPNET_DROP_RA_GUARD);
	EXPECT_FALSE(dp.fdb_get(10, M(9)));
}

// ---------------------------------------------------------------------------
// Generations and stage order.

TEST_F(PortSec, ListsOfTheInactiveGenerationDoNotApply)
{
	// A2 secured in generation 0 with its MAC listed only for generation 1.
	dp.install_std(1);
	secure(0, A2, XDPNET_PORT_SEC_MAC);
	secure(1, A2, XDPNET_PORT_SEC_MAC);
	allow_mac(1, A2, M(2));
	dp.fdb_put(10, M(1), A1, coarse_now(), XDPNET_FDB_STATIC);
	const Bytes f = udp4(M(1), M(2), kIp2, kIp1);
	drop(A2, 10, f, XDPNET_DROP_SPOOF_MAC);
	dp.set_active_gen(1);
	pass(A2, 10, f, A1);
	// A1 is not secured in generation 1.
	pass(A1, 10, udp4(M(2), M(9), kIp2, kIp3), A2);
}

TEST_F(PortSec, SpoofedFramesSpendNoPolicerTokens)
{
	// A1 also polices its ingress: one frame's worth of tokens, frozen.
	const Bytes ok = udp4(M(2), M(1), kIp1, kIp2);
	xdpnet_port p = dp.get_port(0, kSlot[A1]);
	dp.set_port_flags(0, kSlot[A1], uint8_t(p.flags | XDPNET_PORT_POLICE_IN));
	dp.put_policer(0, kSlot[A1], XDPNET_DIR_IN, make_policer(1000000, 1000));
	xdpnet_bucket b{};
	b.last_ns = dp.clock_now() + 3600 * 1000000000ULL;
	b.bits = ok.size() * XDPNET_BIT_COST;
	dp.set_bucket(kSlot[A1], XDPNET_DIR_IN, b);
	drop(A1, 10, udp4(M(2), M(9), kIp1, kIp2), XDPNET_DROP_SPOOF_MAC);
	drop(A1, 10, udp4(M(2), M(1), kIp3, kIp2), XDPNET_DROP_SPOOF_IP);
	EXPECT_EQ(dp.bucket(kSlot[A1], XDPNET_DIR_IN).bits, ok.size() * XDPNET_BIT_COST);
	pass(A1, 10, ok, A2);
	EXPECT_EQ(dp.bucket(kSlot[A1], XDPNET_DIR_IN).bits, 0u);
}

TEST_F(PortSec, SpoofedArpPoisonsNoRouterNeighbour)
{
	// VLAN 10 routed (gateway 10.0.10.254): the router learns neighbours
	// from the ARP it sees, after port security.
	xdpnet_gateway gw{};
	gw.gw_ip = htonl(0x0a000afe);
	gw.prefix_len = 24;
	const Mac rmac = {0x02, 0x78, 0x64, 0x11, 0x00, 0x0a};
	memcpy(gw.router_mac, rmac.data(), 6);
	uint32_t k = 10;
	ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_gateway), &k, &gw, BPF_ANY), 0);
	auto neigh = [&](uint32_t ip) {
		xdpnet_neigh_key nk{};
		nk.vid = 10;
		nk.ip = htonl(ip);
		xdpnet_neigh n{};
		return bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_neigh), &nk, &n) == 0;
	};
	drop(A1, 10, arp(1, kBcast, M(1), M(1), kIp2, Mac{}, 0x0a000afe), XDPNET_DROP_SPOOF_ARP);
	drop(A1, 10, arp(1, kBcast, M(1), M(9), kIp1, Mac{}, 0x0a000afe), XDPNET_DROP_SPOOF_ARP);
	EXPECT_FALSE(neigh(kIp2));
	EXPECT_FALSE(neigh(kIp1));
	// The real claim is learned and answered.
	const Bytes req = arp(1, kBcast, M(1), M(1), kIp1, Mac{}, 0x0a000afe);
	Snapshot s0 = dp.snapshot();
	RunResult r = send(A1, req);
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	expect_effects(s0, dp.snapshot(),
		       rx(A1, req) + std::vector<Effect>{Ctr(A1, XDPNET_CTR_LEARNED), Ctr(A1, XDPNET_CTR_NEIGH_LEARNED),
							 Ctr(A1, XDPNET_CTR_GW_ARP_REPLY), Ctr(A1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_TRUE(neigh(kIp1));
}
