// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// NAT between a network and its uplink (stage 4d and the uplink's ingress):
// SNAT with masquerade, replies translated back, TCP state, ICMP echo and
// ICMP errors, port forwards (DNAT) and hairpin, checksum completion, port
// allocation, connection expiry (lookups and the gc pass), what stays the
// host's, and a routed network without masquerade.
//
// The uplink's next hop comes from the kernel (bpf_fib_lookup), which in
// BPF_PROG_TEST_RUN uses the test process's own network namespace: the
// fixture gives the uplink veth (kFreeIface, in no other test's policy) an
// address, a route to the remote network, IPv4 forwarding and a permanent
// neighbour for the next hop. Every checksum is verified from scratch
// (l3frames.h), usually by comparing the whole frame with one built from
// scratch.
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint64_t kHour = 3600 * kSec;

// Ports of the NAT fixture (indexes into Nat::ports) and their slots.
enum NatPort { PV1, PV2, PTR, PUP, kNatPorts };
constexpr int kUpIface = kFreeIface;
constexpr uint16_t kV1 = 5, kV2 = 6, kTr = 7, kUp = 9;
constexpr uint16_t kNatSlot[kNatPorts] = {kV1, kV2, kTr, kUp};

// Network 30: 10.0.30.0/24, gateway 10.0.30.1, VMs .10 (M(10) behind V1),
// .11 (M(11) behind V2), .12 (M(12) behind the trunk, tagged 30).
constexpr uint32_t kGw30 = 0x0a001e01;
constexpr uint32_t kVmA = 0x0a001e0a, kVmB = 0x0a001e0b, kVmT = 0x0a001e0c;
const Mac kR30 = {0x02, 0x78, 0x64, 0x11, 0x00, 0x1e};

// The uplink: 203.0.113.1/24, next hop 203.0.113.2 for 198.51.100.0/24.
constexpr uint32_t kU = 0xcb007101;
constexpr uint32_t kNoNeigh = 0xcb007163;  // 203.0.113.99: on-link, never resolved
constexpr uint32_t kOtherLocal = 0xcb00714d; // 203.0.113.77: not U, in no network
constexpr uint32_t kRemote = 0xc6336407;   // 198.51.100.7
constexpr uint32_t kRemote2 = 0xc6336408;  // 198.51.100.8
constexpr uint32_t kRouter2 = 0xc63364fe;  // 198.51.100.254: a router on the path
const Mac kNhMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};

constexpr uint16_t kLo = 20000, kHi = 29999;
constexpr uint32_t kToSyn = 11, kToEst = 22, kToClosing = 33, kToUdp = 44, kToIcmp = 55;

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;

bool key_eq(const xdpnet_ct_key &a, const xdpnet_ct_key &b) { return memcmp(&a, &b, sizeof(a)) == 0; }

std::string ip_str(uint32_t be)
{
	char buf[INET_ADDRSTRLEN];
	in_addr a{be};
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return buf;
}

std::string key_str(const xdpnet_ct_key &k)
{
	return std::string(k.side == XDPNET_SIDE_VM ? "vm " : k.side == XDPNET_SIDE_UPLINK ? "up " : "?? ") +
	       std::to_string(k.proto) + " " + ip_str(k.saddr) + ":" + std::to_string(ntohs(k.sport)) + " -> " +
	       ip_str(k.daddr) + ":" + std::to_string(ntohs(k.dport)) + (k.pad ? " pad!" : "");
}

// Is the frame IPv4 TCP/UDP with a valid checksum that happens to equal the
// folded pseudo-header sum (what an unfinished one looks like)?
bool finished_like_unfinished(const Bytes &f)
{
	if (f.size() < 14 + 20)
		return false;
	size_t l3 = get16(f, 12) == 0x8100 ? 18 : 14;
	if (f.size() < l3 + 20 || get16(f, l3 - 2) != 0x0800 || (get16(f, l3 + 6) & 0x3fff))
		return false;
	Ip4View v = ip4_view(f, l3);
	if ((v.proto != 6 && v.proto != 17) || v.l4 + v.l4len > f.size() || v.l4len < 8)
		return false;
	return get16(f, v.l4 + l4_check_field(v.proto)) == pseudo_sum(f, l3) && l4_csum_ok(f, l3);
}


struct Nat : ::testing::Test {
	Datapath dp;
	std::vector<PortSpec> ports;
	Mac up_mac{};
	uint32_t up_if = 0;
	uint64_t t_setup = 0;

	void SetUp() override
	{
		uplink_netns();
		up_if = xt::iface(kUpIface).ifindex;
		up_mac = if_mac(xt::iface(kUpIface).name);
		using V = std::vector<uint16_t>;
		ports = {
			{0, kV1, XDPNET_MODE_ACCESS, 30, V{30}},
			{1, kV2, XDPNET_MODE_ACCESS, 30, V{30}},
			{2, kTr, XDPNET_MODE_TRUNK, 0, V{30}},
			{kUpIface, kUp, XDPNET_MODE_UPLINK, 0, V{}},
		};
		for (auto &p : ports)
			p.mac = port_mac(p.slot);
		ports[PUP].mac = up_mac;
		dp.install(0, ports);
		// What the loader writes for the uplink: its address.
		xdpnet_port up = dp.get_port(0, kUp);
		up.ipv4 = htonl(kU);
		dp.write_port(0, up);

		network(30, kGw30, 24, kR30);
		set_nat(nat_config());
		t_setup = coarse_now();
		neigh_put(30, kVmA, M(10));
		neigh_put(30, kVmB, M(11));
		neigh_put(30, kVmT, M(12));
		// Known stations: no learning counters, unicast delivery.
		dp.fdb_put(30, M(10), kV1, ifx(PV1), t_setup);
		dp.fdb_put(30, M(11), kV2, ifx(PV2), t_setup);
		dp.fdb_put(30, M(12), kTr, ifx(PTR), t_setup);
		dp.set_gc_interval(kHour); // the timer never fires during a test
	}

	uint32_t ifx(NatPort p) { return xt::iface(ports[p].iface).ifindex; }

	void network(uint16_t vid, uint32_t gw_ip, uint8_t len, const Mac &rmac)
	{
		dp.put_network(0, vid, gw_ip, len, rmac);
	}
	void neigh_put(uint16_t vid, uint32_t ip, const Mac &mac, uint8_t state = XDPNET_NEIGH_REACHABLE,
		       uint64_t updated = coarse_now())
	{
		dp.put_neigh(vid, ip, mac, state, updated);
	}
	xdpnet_nat_config nat_config(uint8_t flags = XDPNET_NAT_MASQ, uint16_t lo = kLo, uint16_t hi = kHi)
	{
		xdpnet_nat_config c{};
		c.uplink_ifindex = up_if;
		c.uplink_slot = kUp;
		c.flags = flags;
		c.uplink_ip = htonl(kU);
		c.port_lo = lo;
		c.port_hi = hi;
		c.timeout_s[XDPNET_TO_TCP_SYN] = kToSyn;
		c.timeout_s[XDPNET_TO_TCP_EST] = kToEst;
		c.timeout_s[XDPNET_TO_TCP_CLOSING] = kToClosing;
		c.timeout_s[XDPNET_TO_UDP] = kToUdp;
		c.timeout_s[XDPNET_TO_ICMP] = kToIcmp;
		return c;
	}
	void set_nat(const xdpnet_nat_config &c, uint16_t vid = 30)
	{
		uint32_t k = vid;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_natcfg), &k, &c, BPF_ANY), 0);
	}
	void forward(uint8_t proto, uint16_t port, uint32_t to, uint16_t to_port, uint16_t vid = 30)
	{
		xdpnet_fwd_key k{};
		k.ifindex = up_if;
		k.port = htons(port);
		k.proto = proto;
		k.gen = 0;
		xdpnet_fwd v{};
		v.addr = htonl(to);
		v.port = htons(to_port);
		v.vid = vid;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_fwd), &k, &v, BPF_ANY), 0);
		// As the loader does: the uplink's networks know it has forwards.
		uint32_t ck = vid;
		xdpnet_nat_config c{};
		ASSERT_EQ(bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_natcfg), &ck, &c), 0);
		c.flags |= XDPNET_NAT_FORWARDS;
		set_nat(c, vid);
	}

	// Connection table.
	std::vector<std::pair<xdpnet_ct_key, xdpnet_ct>> ct_all()
	{
		std::vector<std::pair<xdpnet_ct_key, xdpnet_ct>> v;
		xdpnet_ct_key k{}, next{};
		const void *prev = nullptr;
		int fd = dp.mfd(dp.skel->maps.xdpnet_ct);
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			xdpnet_ct c{};
			if (bpf_map_lookup_elem(fd, &next, &c) == 0)
				v.emplace_back(next, c);
			k = next;
			prev = &k;
		}
		return v;
	}
	size_t ct_count() { return ct_all().size(); }
	// Halves name each other only through xdpnet_ct_peer: after every test,
	// each half's peer is in the table and names it back.
	void TearDown() override
	{
		for (auto &[k, v] : ct_all()) {
			const xdpnet_ct_key pk = xdpnet_ct_peer_of(k, v);
			auto p = ct_get(pk);
			EXPECT_TRUE(p) << key_str(k) << " names " << key_str(pk) << ", not in the table\n" << ct_dump();
			if (p)
				EXPECT_TRUE(key_eq(xdpnet_ct_peer_of(pk, *p), k)) << key_str(pk) << " does not name " << key_str(k);
		}
	}
	std::string ct_dump()
	{
		std::string s;
		for (auto &[k, v] : ct_all())
			s += "  " + key_str(k) + " => " + ip_str(v.to_saddr) + ":" + std::to_string(ntohs(v.to_sport)) +
			     " -> " + ip_str(v.to_daddr) + ":" + std::to_string(ntohs(v.to_dport)) + "\n";
		return s;
	}
	std::optional<xdpnet_ct> ct_get(const xdpnet_ct_key &k)
	{
		xdpnet_ct c{};
		if (bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_ct), &k, &c))
			return std::nullopt;
		return c;
	}
	void ct_put(const xdpnet_ct_key &k, const xdpnet_ct &c)
	{
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_ct), &k, &c, BPF_EXIST), 0)
			<< key_str(k);
	}
	// Move a half's last packet `age` ns into the past.
	void age(const xdpnet_ct_key &k, uint64_t age_ns)
	{
		auto c = ct_get(k);
		ASSERT_TRUE(c) << key_str(k);
		c->last_seen_ns = coarse_now() - age_ns;
		ct_put(k, *c);
	}

	// Frames. From the VMs to the router MAC; from the next hop to the uplink.
	Bytes from_a(const Bytes &pkt) { return eth_ipv4(kR30, M(10), pkt); }
	Bytes from_b(const Bytes &pkt) { return eth_ipv4(kR30, M(11), pkt); }
	Bytes from_t(const Bytes &pkt) { return eth_ipv4(kR30, M(12), pkt, {Q(30)}); }
	Bytes from_up(const Bytes &pkt) { return eth_ipv4(up_mac, kNhMac, pkt); }
	// What leaves: out of the uplink to the next hop, or into network 30.
	Bytes to_up(const Bytes &pkt) { return eth_ipv4(kNhMac, up_mac, pkt); }
	Bytes to_a(const Bytes &pkt) { return eth_ipv4(M(10), kR30, pkt); }
	Bytes to_b(const Bytes &pkt) { return eth_ipv4(M(11), kR30, pkt); }
	Bytes to_t(const Bytes &pkt) { return eth_ipv4(M(12), kR30, pkt, {Q(30)}); }

	// One frame through xdpnet_ingress on port `in`; RX and RX_BYTES of the
	// ingress port are implied, every other counter must move as listed.
	RunResult send(NatPort in, const Bytes &f, std::vector<Effect> effects)
	{
		if (finished_like_unfinished(f)) {
			// A finished checksum that equals the pseudo-header sum (1 in
			// 65536, e.g. with a randomly allocated port) is completed
			// again, by design, wherever the packet is rewritten.
			bool rewritten = false, counted = false;
			for (auto &e : effects) {
				rewritten |= !e.drop && (e.idx == XDPNET_CTR_NAT_OUT || e.idx == XDPNET_CTR_NAT_IN ||
							 e.idx == XDPNET_CTR_ROUTED);
				counted |= !e.drop && e.idx == XDPNET_CTR_CSUM_COMPLETED;
			}
			if (rewritten && !counted)
				effects.push_back(Ctr(kNatSlot[in], XDPNET_CTR_CSUM_COMPLETED));
		}
		effects.push_back(Ctr(kNatSlot[in], XDPNET_CTR_RX));
		effects.push_back(Ctr(kNatSlot[in], XDPNET_CTR_RX_BYTES, int64_t(f.size())));
		Snapshot s0 = dp.snapshot();
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(in));
		EXPECT_EQ(r.err, 0) << strerror(-r.err);
		expect_effects(s0, dp.snapshot(), effects);
		return r;
	}
	// Out of the uplink, a new connection / an existing one.
	std::vector<Effect> out_new(NatPort in) const
	{
		return {Ctr(kNatSlot[in], XDPNET_CTR_NAT_NEW), Ctr(kNatSlot[in], XDPNET_CTR_NAT_OUT),
			Ctr(kUp, XDPNET_CTR_TX_UNICAST)};
	}
	std::vector<Effect> out_old(NatPort in) const
	{
		return {Ctr(kNatSlot[in], XDPNET_CTR_NAT_OUT), Ctr(kUp, XDPNET_CTR_TX_UNICAST)};
	}
	// From the uplink into the network, delivered to port `to`.
	std::vector<Effect> in_to(NatPort to, bool created = false) const
	{
		std::vector<Effect> e = {Ctr(kUp, XDPNET_CTR_NAT_IN), Ctr(kUp, XDPNET_CTR_ROUTED),
					 Ctr(kNatSlot[to], XDPNET_CTR_TX_UNICAST)};
		if (created)
			e.push_back(Ctr(kUp, XDPNET_CTR_NAT_NEW));
		return e;
	}
	std::vector<Effect> up_to_host() const { return {Ctr(kUp, XDPNET_CTR_TO_HOST)}; }
};

// The L4 source port (ICMP: the echo identifier) of the IPv4 packet at l3.
uint16_t sport_of(const Bytes &f, size_t l3 = 14)
{
	Ip4View v = ip4_view(f, l3);
	return get16(f, v.l4 + (v.proto == kIcmp ? 4 : 0));
}

// The IPv4 packet of a frame (from its L3 header on).
Bytes l3_of(const Bytes &f, size_t l3 = 14) { return Bytes(f.begin() + l3, f.end()); }

// Both checksums of the frame's IPv4 packet, from scratch.
void expect_csums(const Bytes &f, size_t l3 = 14)
{
	ASSERT_GE(f.size(), l3 + 20);
	EXPECT_TRUE(ip_csum_ok(f, l3)) << "IPv4 header checksum";
	EXPECT_TRUE(l4_csum_ok(f, l3)) << "L4 checksum (with pseudo-header), from scratch";
}

Bytes udp(uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t ttl = 64, size_t payload = 12)
{
	return ipv4_packet(s, d, kUdp, udp_l4(sp, dp, payload), ttl);
}
Bytes tcp(uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t flags, uint8_t ttl = 64, size_t payload = 0)
{
	return ipv4_packet(s, d, kTcp, tcp_l4(sp, dp, flags, payload), ttl);
}
Bytes echo(uint8_t type, uint32_t s, uint32_t d, uint16_t id, uint8_t ttl = 64)
{
	return ipv4_packet(s, d, kIcmp, icmp_echo_l4(type, id), ttl);
}

} // namespace

// ---------------------------------------------------------------------------
// 1. SNAT out.

TEST_F(Nat, UdpOutIsMasqueradedAndKeepsAnInRangeSourcePort)
{
	const uint64_t t0 = coarse_now();
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	const uint64_t t1 = coarse_now();
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, 20001, 53, 63))))
		<< "untagged, next hop's MAC from the uplink's MAC, source U, TTL - 1, port kept";
	expect_csums(r.out);

	auto all = ct_all();
	ASSERT_EQ(all.size(), 2u) << ct_dump();
	const xdpnet_ct_key ok = K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001);
	auto o = ct_get(ok), rep = ct_get(rk);
	ASSERT_TRUE(o) << ct_dump();
	ASSERT_TRUE(rep) << ct_dump();
	EXPECT_EQ(o->to_saddr, htonl(kU));
	EXPECT_EQ(o->to_daddr, htonl(kRemote));
	EXPECT_EQ(o->to_sport, htons(20001));
	EXPECT_EQ(o->to_dport, htons(53));
	EXPECT_EQ(o->flags, XDPNET_CT_ORIGINAL | XDPNET_CT_SNAT | XDPNET_CT_PEER_UPLINK);
	EXPECT_EQ(o->state, XDPNET_CT_UDP);
	EXPECT_EQ(o->timeout_s, kToUdp);
	EXPECT_EQ(o->vid, 30);
	EXPECT_EQ(o->packets, 1u);
	EXPECT_EQ(o->bytes, 40u) << "IP total length";
	EXPECT_TRUE(key_eq(xdpnet_ct_peer_of(ok, *o), rk)) << key_str(xdpnet_ct_peer_of(ok, *o));
	EXPECT_GE(o->last_seen_ns, t0);
	EXPECT_LE(o->last_seen_ns, t1);
	EXPECT_EQ(o->created_s, o->last_seen_ns / kSec);

	EXPECT_EQ(rep->to_saddr, htonl(kRemote));
	EXPECT_EQ(rep->to_daddr, htonl(kVmA));
	EXPECT_EQ(rep->to_sport, htons(53));
	EXPECT_EQ(rep->to_dport, htons(20001));
	EXPECT_EQ(rep->flags, XDPNET_CT_SNAT);
	EXPECT_EQ(rep->state, XDPNET_CT_UDP);
	EXPECT_EQ(rep->timeout_s, kToUdp);
	EXPECT_EQ(rep->vid, 30);
	EXPECT_EQ(rep->packets, 0u);
	EXPECT_TRUE(key_eq(xdpnet_ct_peer_of(rk, *rep), ok)) << key_str(xdpnet_ct_peer_of(rk, *rep));

	// The next packet of the flow uses the connection.
	r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53, 64, 30)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, 20001, 53, 63, 30))));
	EXPECT_EQ(ct_get(ok)->packets, 2u);
	EXPECT_EQ(ct_get(ok)->bytes, 40u + 58u);
	EXPECT_EQ(ct_count(), 2u);
}

TEST_F(Nat, OutOfRangeSourcePortIsReplacedByOneInRange)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_new(PV1));
	ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	const uint16_t n = sport_of(r.out);
	EXPECT_GE(n, kLo);
	EXPECT_LE(n, kHi);
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, n, 53, 63))));
	expect_csums(r.out);
	auto o = ct_get(K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 5353, 53));
	ASSERT_TRUE(o) << ct_dump();
	EXPECT_EQ(o->to_sport, htons(n));
	auto rep = ct_get(K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, n));
	ASSERT_TRUE(rep) << ct_dump();
	EXPECT_EQ(rep->to_dport, htons(5353));
	EXPECT_EQ(ct_count(), 2u);
}

// ---------------------------------------------------------------------------
// 2. Replies in.

TEST_F(Nat, UdpReplyIsTranslatedBackAndDelivered)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_new(PV1));
	const uint16_t n = sport_of(r.out);

	r = send(PUP, from_up(udp(kRemote, kU, 53, n, 64, 20)), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 5353, 63, 20))))
		<< "to 10.0.30.10:5353, router MAC -> VM MAC, TTL - 1";
	expect_csums(r.out);
	auto rep = ct_get(K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, n));
	ASSERT_TRUE(rep);
	EXPECT_EQ(rep->packets, 1u);
	EXPECT_EQ(rep->bytes, 48u);

	// Another remote port (or address) is another tuple: not translated, the host's.
	r = send(PUP, from_up(udp(kRemote, kU, 54, n)), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	r = send(PUP, from_up(udp(kRemote2, kU, 53, n)), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	EXPECT_EQ(ct_count(), 2u);
}

// Replies of an established flow take the VM's MAC from their connection
// half (no neighbour-table lookup); a neighbour that changes its MAC bumps
// the FDB version, so the very next reply goes to the new MAC.
TEST_F(Nat, RepliesUseTheCachedNeighbourUntilItChanges)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_new(PV1));
	const uint16_t n = sport_of(r.out);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, n);

	r = send(PUP, from_up(udp(kRemote, kU, 53, n)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 5353, 63))));
	auto rep = ct_get(rk);
	ASSERT_TRUE(rep);
	EXPECT_EQ(rep->nh_tag & 0x8000, 0x8000) << "a neighbour cached";
	EXPECT_EQ(hex(Bytes(rep->nh_mac, rep->nh_mac + 6)), hex(mac_bytes(M(10))));

	// The cache answers even with the neighbour gone from the table.
	const xdpnet_neigh_key nk{.vid = 30, .pad = 0, .ip = htonl(kVmA)};
	ASSERT_EQ(bpf_map_delete_elem(dp.mfd(dp.skel->maps.xdpnet_neigh), &nk), 0);
	r = send(PUP, from_up(udp(kRemote, kU, 53, n)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 5353, 63))));

	// VM A announces a new MAC: learned, and the next reply follows it.
	dp.fdb_put(30, M(13), kV1, ifx(PV1), coarse_now());
	Bytes garp = arp(1, kBcast, M(13), M(13), kVmA, Mac{}, kVmA, {});
	send(PV1, garp, {Ctr(kV1, XDPNET_CTR_NEIGH_LEARNED), Ctr(kV1, XDPNET_CTR_FLOODED)});
	r = send(PUP, from_up(udp(kRemote, kU, 53, n)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(eth_ipv4(M(13), kR30, udp(kRemote, kVmA, 53, 5353, 63))));
	rep = ct_get(rk);
	ASSERT_TRUE(rep);
	EXPECT_EQ(hex(Bytes(rep->nh_mac, rep->nh_mac + 6)), hex(mac_bytes(M(13))));
	expect_csums(r.out);
}

TEST_F(Nat, FromATrunkOutUntaggedAndTheReplyBackTagged)
{
	RunResult r = send(PTR, from_t(udp(kVmT, kRemote, 20002, 53)), out_new(PTR));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, 20002, 53, 63)))) << "the VLAN tag popped";
	expect_csums(r.out);

	r = send(PUP, from_up(udp(kRemote, kU, 53, 20002)), in_to(PTR));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_t(udp(kRemote, kVmT, 53, 20002, 63)))) << "tagged 30 for the trunk";
	expect_csums(r.out, 18);
}

// ---------------------------------------------------------------------------
// 3. TCP.

TEST_F(Nat, TcpNeedsASynAndTracksItsStateOnBothHalves)
{
	// Without a connection, only a SYN starts one.
	RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, 40001, 443, kTcpAck)),
			   {Drop(kV1, XDPNET_DROP_NAT_NOT_SYN)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(ct_count(), 0u);

	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn)), out_new(PV1));
	ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	const uint16_t n = sport_of(r.out);
	EXPECT_GE(n, kLo);
	EXPECT_LE(n, kHi);
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpSyn, 63))));
	expect_csums(r.out);
	ASSERT_EQ(ct_count(), 2u) << ct_dump();

	const xdpnet_ct_key ok = K(XDPNET_SIDE_VM, kTcp, kVmA, kRemote, 40000, 443);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_UPLINK, kTcp, kRemote, kU, 443, n);
	auto expect_state = [&](uint8_t state, uint32_t timeout, const char *what) {
		auto o = ct_get(ok), rep = ct_get(rk);
		ASSERT_TRUE(o && rep) << what << "\n" << ct_dump();
		EXPECT_EQ(o->state, state) << what << " (original half)";
		EXPECT_EQ(rep->state, state) << what << " (reply half)";
		EXPECT_EQ(o->timeout_s, timeout) << what << " (original half)";
		EXPECT_EQ(rep->timeout_s, timeout) << what << " (reply half)";
	};
	expect_state(XDPNET_CT_TCP_SYN_SENT, kToSyn, "after the SYN");

	// A retransmitted SYN changes nothing.
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpSyn, 63))));
	expect_state(XDPNET_CT_TCP_SYN_SENT, kToSyn, "after a retransmitted SYN");

	r = send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpSyn | kTcpAck)), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_a(tcp(kRemote, kVmA, 443, 40000, kTcpSyn | kTcpAck, 63))));
	expect_csums(r.out);
	expect_state(XDPNET_CT_TCP_SYN_RECV, kToSyn, "after the SYN|ACK");

	// An ACK from the reply side does not establish; the originator's does.
	r = send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpAck)), in_to(PV1));
	expect_state(XDPNET_CT_TCP_SYN_RECV, kToSyn, "after an ACK from the reply side");
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpAck, 63))));
	expect_state(XDPNET_CT_TCP_ESTABLISHED, kToEst, "after the ACK");

	// Data both ways.
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck, 64, 100)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpAck, 63, 100))));
	r = send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpAck, 64, 77)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(tcp(kRemote, kVmA, 443, 40000, kTcpAck, 63, 77))));
	expect_state(XDPNET_CT_TCP_ESTABLISHED, kToEst, "after data");

	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpFin | kTcpAck)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpFin | kTcpAck, 63))));
	expect_csums(r.out);
	expect_state(XDPNET_CT_TCP_CLOSING, kToClosing, "after the FIN");
	r = send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpFin | kTcpAck)), in_to(PV1));
	expect_state(XDPNET_CT_TCP_CLOSING, kToClosing, "after the peer's FIN");
	EXPECT_EQ(ct_count(), 2u);
}

TEST_F(Nat, TcpRstClosesFromEitherSide)
{
	RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn)), out_new(PV1));
	const uint16_t n = sport_of(r.out);
	r = send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpRst | kTcpAck)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(tcp(kRemote, kVmA, 443, 40000, kTcpRst | kTcpAck, 63))));
	auto o = ct_get(K(XDPNET_SIDE_VM, kTcp, kVmA, kRemote, 40000, 443));
	ASSERT_TRUE(o);
	EXPECT_EQ(o->state, XDPNET_CT_TCP_CLOSING);
	EXPECT_EQ(o->timeout_s, kToClosing);
}

// ---------------------------------------------------------------------------
// 4. ICMP echo.

TEST_F(Nat, IcmpEchoIdentifierIsTranslatedBothWays)
{
	RunResult r = send(PV1, from_a(echo(8, kVmA, kRemote, 0x4242)), out_new(PV1));
	ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	const uint16_t n = sport_of(r.out);
	EXPECT_GE(n, kLo) << "0x4242 is outside the range";
	EXPECT_LE(n, kHi);
	EXPECT_EQ(hex(r.out), hex(to_up(echo(8, kU, kRemote, n, 63))));
	expect_csums(r.out);

	ASSERT_EQ(ct_count(), 2u) << ct_dump();
	auto o = ct_get(K(XDPNET_SIDE_VM, kIcmp, kVmA, kRemote, 0x4242, 0));
	auto rep = ct_get(K(XDPNET_SIDE_UPLINK, kIcmp, kRemote, kU, 0, n));
	ASSERT_TRUE(o && rep) << ct_dump();
	EXPECT_EQ(o->state, XDPNET_CT_ICMP);
	EXPECT_EQ(o->timeout_s, kToIcmp);
	EXPECT_EQ(rep->timeout_s, kToIcmp);

	r = send(PUP, from_up(echo(0, kRemote, kU, n)), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_a(echo(0, kRemote, kVmA, 0x4242, 63))));
	expect_csums(r.out);

	// A second request of the same ping keeps its identifier.
	r = send(PV1, from_a(echo(8, kVmA, kRemote, 0x4242)), out_old(PV1));
	EXPECT_EQ(sport_of(r.out), n);
	expect_csums(r.out);
}

TEST_F(Nat, IcmpEchoIdentifierInRangeIsKept)
{
	RunResult r = send(PV1, from_a(echo(8, kVmA, kRemote, 21000)), out_new(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(echo(8, kU, kRemote, 21000, 63))));
}

// ---------------------------------------------------------------------------
// 5. Port forwards.

TEST_F(Nat, PortForwardDeliversToTheVmAndItsReplyLeavesAsTheUplink)
{
	forward(kTcp, 8080, kVmB, 80);
	// A forward needs the connection's start too.
	RunResult r = send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpAck)), {Drop(kUp, XDPNET_DROP_NAT_NOT_SYN)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(ct_count(), 0u);

	r = send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpSyn)), in_to(PV2, true));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_b(tcp(kRemote, kVmB, 33333, 80, kTcpSyn, 63))))
		<< "to 10.0.30.11:80, the source untouched";
	expect_csums(r.out);

	ASSERT_EQ(ct_count(), 2u) << ct_dump();
	const xdpnet_ct_key ok = K(XDPNET_SIDE_UPLINK, kTcp, kRemote, kU, 33333, 8080);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_VM, kTcp, kVmB, kRemote, 80, 33333);
	auto o = ct_get(ok), rep = ct_get(rk);
	ASSERT_TRUE(o && rep) << ct_dump();
	EXPECT_EQ(o->flags, XDPNET_CT_ORIGINAL | XDPNET_CT_DNAT);
	EXPECT_EQ(rep->flags, XDPNET_CT_DNAT | XDPNET_CT_PEER_UPLINK);
	EXPECT_EQ(o->vid, 30);
	EXPECT_EQ(o->state, XDPNET_CT_TCP_SYN_SENT);
	EXPECT_TRUE(key_eq(xdpnet_ct_peer_of(ok, *o), rk));
	EXPECT_TRUE(key_eq(xdpnet_ct_peer_of(rk, *rep), ok));

	r = send(PV2, from_b(tcp(kVmB, kRemote, 80, 33333, kTcpSyn | kTcpAck)), out_old(PV2));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, 8080, 33333, kTcpSyn | kTcpAck, 63))))
		<< "from U:8080";
	expect_csums(r.out);
	EXPECT_EQ(ct_get(ok)->state, XDPNET_CT_TCP_SYN_RECV);

	// The outside originator's ACK establishes.
	r = send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpAck)), in_to(PV2));
	EXPECT_EQ(hex(r.out), hex(to_b(tcp(kRemote, kVmB, 33333, 80, kTcpAck, 63))));
	EXPECT_EQ(ct_get(ok)->state, XDPNET_CT_TCP_ESTABLISHED);
	EXPECT_EQ(ct_get(rk)->state, XDPNET_CT_TCP_ESTABLISHED);
	EXPECT_EQ(ct_get(rk)->timeout_s, kToEst);

	// UDP to the same port is not forwarded (the forward is TCP): the host's.
	r = send(PUP, from_up(udp(kRemote, kU, 33333, 8080)), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	EXPECT_EQ(ct_count(), 2u);
}

// ---------------------------------------------------------------------------
// 6. Hairpin.

TEST_F(Nat, HairpinToAForwardedPortStaysInTheNetwork)
{
	forward(kTcp, 8080, kVmB, 80);
	RunResult r = send(PV1, from_a(tcp(kVmA, kU, 40000, 8080, kTcpSyn)),
			   {Ctr(kV1, XDPNET_CTR_NAT_NEW), Ctr(kV1, XDPNET_CTR_ROUTED), Ctr(kV2, XDPNET_CTR_TX_UNICAST)});
	ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	const uint16_t n = sport_of(r.out);
	EXPECT_GE(n, kLo);
	EXPECT_LE(n, kHi);
	EXPECT_EQ(hex(r.out), hex(to_b(tcp(kU, kVmB, n, 80, kTcpSyn, 63))))
		<< "to 10.0.30.11:80 from U:n, delivered in VLAN 30";
	expect_csums(r.out);
	ASSERT_EQ(ct_count(), 2u) << ct_dump();
	auto o = ct_get(K(XDPNET_SIDE_VM, kTcp, kVmA, kU, 40000, 8080));
	auto rep = ct_get(K(XDPNET_SIDE_VM, kTcp, kVmB, kU, 80, n));
	ASSERT_TRUE(o && rep) << ct_dump();
	EXPECT_EQ(o->flags, XDPNET_CT_ORIGINAL | XDPNET_CT_SNAT | XDPNET_CT_DNAT);

	// The target's answer comes back as from U:8080.
	r = send(PV2, from_b(tcp(kVmB, kU, 80, n, kTcpSyn | kTcpAck)),
		 {Ctr(kV2, XDPNET_CTR_ROUTED), Ctr(kV1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_a(tcp(kU, kVmA, 8080, 40000, kTcpSyn | kTcpAck, 63))));
	expect_csums(r.out);
	EXPECT_EQ(ct_get(K(XDPNET_SIDE_VM, kTcp, kVmA, kU, 40000, 8080))->state, XDPNET_CT_TCP_SYN_RECV);

	// The uplink's address without a forward is nothing a VM can reach.
	r = send(PV1, from_a(udp(kVmA, kU, 40000, 9999)), {Drop(kV1, XDPNET_DROP_NO_ROUTE)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	r = send(PV1, from_a(echo(8, kVmA, kU, 0x4242)), {Drop(kV1, XDPNET_DROP_NO_ROUTE)});
	EXPECT_EQ(ct_count(), 2u);
}

// ---------------------------------------------------------------------------
// 7. ICMP errors.

TEST_F(Nat, PortUnreachableAboutAnUdpFlowReachesTheVmTranslated)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_new(PV1));
	const Bytes quote = l3_of(r.out); // the whole datagram as it reached the remote

	Bytes err = ipv4_packet(kRemote, kU, kIcmp, icmp_error_l4(3, 3, quote));
	r = send(PUP, from_up(err), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	// Everything from scratch: outer to the VM, the quote as the VM sent it
	// (TTL as quoted), every checksum valid.
	Bytes want = to_a(ipv4_packet(kRemote, kVmA, kIcmp,
				      icmp_error_l4(3, 3, udp(kVmA, kRemote, 5353, 53, 63)), 63));
	EXPECT_EQ(hex(r.out), hex(want));
	ASSERT_EQ(r.out.size(), want.size());
	expect_csums(r.out);                         // outer IP, ICMP over header and quote
	EXPECT_TRUE(ip_csum_ok(r.out, 14 + 28)) << "quoted IPv4 header checksum";
	EXPECT_TRUE(l4_csum_ok(r.out, 14 + 28)) << "quoted UDP checksum";
	EXPECT_EQ(get32(r.out, 14 + 28 + 12), kVmA) << "quoted source";
	EXPECT_EQ(get16(r.out, 14 + 48), 5353) << "quoted source port";
}

TEST_F(Nat, TimeExceededAboutAPingReachesTheVmWithItsIdentifier)
{
	RunResult r = send(PV1, from_a(echo(8, kVmA, kRemote, 0x4242)), out_new(PV1));
	Bytes quote = l3_of(r.out);
	quote[8] = 1; // as it expired
	ip_csum_fill(quote, 0);

	Bytes err = ipv4_packet(kRouter2, kU, kIcmp, icmp_error_l4(11, 0, quote));
	r = send(PUP, from_up(err), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = to_a(ipv4_packet(kRouter2, kVmA, kIcmp,
				      icmp_error_l4(11, 0, echo(8, kVmA, kRemote, 0x4242, 1)), 63));
	EXPECT_EQ(hex(r.out), hex(want));
	expect_csums(r.out);
	EXPECT_TRUE(ip_csum_ok(r.out, 14 + 28)) << "quoted IPv4 header checksum";
	EXPECT_TRUE(l4_csum_ok(r.out, 14 + 28)) << "quoted ICMP checksum";
}

TEST_F(Nat, TimeExceededQuotingOnlyEightBytesOfTcp)
{
	// Routers quote the IP header and 8 bytes: the TCP checksum is not there.
	RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn)), out_new(PV1));
	Bytes quote = head(l3_of(r.out), 28);
	quote[8] = 1;
	ip_csum_fill(quote, 0);
	Bytes err = ipv4_packet(kRouter2, kU, kIcmp, icmp_error_l4(11, 0, quote));
	r = send(PUP, from_up(err), in_to(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want_quote = head(tcp(kVmA, kRemote, 40000, 443, kTcpSyn, 1), 28);
	ip_csum_fill(want_quote, 0);
	EXPECT_EQ(hex(r.out), hex(to_a(ipv4_packet(kRouter2, kVmA, kIcmp, icmp_error_l4(11, 0, want_quote), 63))));
	expect_csums(r.out);
}

TEST_F(Nat, IcmpErrorAboutAForwardedConnectionFromOutside)
{
	forward(kTcp, 8080, kVmB, 80);
	send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpSyn)), in_to(PV2, true));
	RunResult r = send(PV2, from_b(tcp(kVmB, kRemote, 80, 33333, kTcpSyn | kTcpAck)), out_old(PV2));
	Bytes quote = l3_of(r.out); // U:8080 -> r:33333
	r = send(PUP, from_up(ipv4_packet(kRemote, kU, kIcmp, icmp_error_l4(3, 3, quote))), in_to(PV2));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = to_b(ipv4_packet(kRemote, kVmB, kIcmp,
				      icmp_error_l4(3, 3, tcp(kVmB, kRemote, 80, 33333, kTcpSyn | kTcpAck, 63)), 63));
	EXPECT_EQ(hex(r.out), hex(want));
	expect_csums(r.out);
	EXPECT_TRUE(l4_csum_ok(r.out, 14 + 28)) << "quoted TCP checksum";
}

TEST_F(Nat, VmIcmpErrorsLeaveWithTheQuoteTranslated)
{
	// About a forwarded connection: quoted r:q -> 10.0.30.11:80 becomes r:q -> U:8080.
	forward(kTcp, 8080, kVmB, 80);
	RunResult r = send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpSyn)), in_to(PV2, true));
	Bytes quote = l3_of(r.out);
	r = send(PV2, from_b(ipv4_packet(kVmB, kRemote, kIcmp, icmp_error_l4(3, 3, quote))), out_old(PV2));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = to_up(ipv4_packet(kU, kRemote, kIcmp,
				       icmp_error_l4(3, 3, tcp(kRemote, kU, 33333, 8080, kTcpSyn, 63)), 63));
	EXPECT_EQ(hex(r.out), hex(want));
	expect_csums(r.out);
	EXPECT_TRUE(ip_csum_ok(r.out, 14 + 28));
	EXPECT_TRUE(l4_csum_ok(r.out, 14 + 28)) << "quoted TCP checksum";

	// About its own (SNAT) flow: the reply r:53 -> 10.0.30.10:5353 it refuses.
	r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_new(PV1));
	const uint16_t n = sport_of(r.out);
	r = send(PUP, from_up(udp(kRemote, kU, 53, n)), in_to(PV1));
	quote = l3_of(r.out);
	r = send(PV1, from_a(ipv4_packet(kVmA, kRemote, kIcmp, icmp_error_l4(3, 3, quote))), out_old(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	want = to_up(ipv4_packet(kU, kRemote, kIcmp, icmp_error_l4(3, 3, udp(kRemote, kU, 53, n, 63)), 63));
	EXPECT_EQ(hex(r.out), hex(want)) << "the remote sees its datagram to U:n refused by U";
	expect_csums(r.out);
	EXPECT_TRUE(l4_csum_ok(r.out, 14 + 28)) << "quoted UDP checksum";
}

TEST_F(Nat, IcmpErrorAboutNoConnectionOfOursIsTheHosts)
{
	Bytes quote = udp(kU, kRemote, 12345, 53);
	RunResult r = send(PUP, from_up(ipv4_packet(kRemote, kU, kIcmp, icmp_error_l4(3, 3, quote))), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	EXPECT_EQ(ct_count(), 0u);
}

// ---------------------------------------------------------------------------
// 8. Checksums left to offload.

TEST_F(Nat, UnfinishedTcpChecksumIsCompletedBeforeTheRewrite)
{
	auto partial = [](Bytes pkt) {
		set16(pkt, 20 + l4_check_field(pkt[9]), pseudo_sum(pkt, 0));
		return pkt;
	};
	auto with_csum = [&](NatPort in, std::vector<Effect> e) {
		e.push_back(Ctr(kNatSlot[in], XDPNET_CTR_CSUM_COMPLETED));
		return e;
	};
	RunResult r = send(PV1, from_a(partial(tcp(kVmA, kRemote, 40000, 443, kTcpSyn))), with_csum(PV1, out_new(PV1)));
	ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	const uint16_t n = sport_of(r.out);
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpSyn, 63))));
	expect_csums(r.out);

	// Large segments are summed in chunks: even and odd lengths.
	for (size_t len : {1400u, 1401u, 63u, 64u, 65u}) {
		SCOPED_TRACE("payload " + std::to_string(len));
		r = send(PV1, from_a(partial(tcp(kVmA, kRemote, 40000, 443, kTcpAck, 64, len))), with_csum(PV1, out_old(PV1)));
		EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpAck, 63, len))));
		expect_csums(r.out);
	}

	// UDP too.
	r = send(PV1, from_a(partial(udp(kVmA, kRemote, 5353, 53, 64, 1000))), with_csum(PV1, out_new(PV1)));
	const uint16_t m = sport_of(r.out);
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, m, 53, 63, 1000))));
	expect_csums(r.out);

	// A finished checksum is left to the incremental update (no completion).
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck, 64, 1400)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpAck, 63, 1400))));
}

TEST_F(Nat, AFinishedChecksumThatLooksUnfinishedIsRecomputedTheSame)
{
	// Choose a payload word so that the valid checksum equals the folded
	// pseudo-header sum.
	Bytes l4 = udp_l4(20001, 53, 12), pkt;
	bool found = false;
	for (uint32_t w = 0; w <= 0xffff && !found; w++) {
		set16(l4, 8, uint16_t(w));
		pkt = ipv4_packet(kVmA, kRemote, kUdp, l4);
		found = get16(pkt, 26) == pseudo_sum(pkt, 0);
	}
	ASSERT_TRUE(found);
	ASSERT_TRUE(l4_csum_ok(pkt, 0));
	Bytes f = from_a(pkt);
	ASSERT_TRUE(finished_like_unfinished(f));
	std::vector<Effect> e = out_new(PV1);
	e.push_back(Ctr(kV1, XDPNET_CTR_CSUM_COMPLETED));
	RunResult r = send(PV1, f, e);
	EXPECT_EQ(hex(r.out), hex(to_up(ipv4_packet(kU, kRemote, kUdp, l4, 63))));
	expect_csums(r.out);
}

TEST_F(Nat, UdpWithoutChecksumStaysWithout)
{
	Bytes pkt = udp(kVmA, kRemote, 20001, 53);
	set16(pkt, 26, 0);
	RunResult r = send(PV1, from_a(pkt), out_new(PV1));
	Bytes want = udp(kU, kRemote, 20001, 53, 63);
	set16(want, 26, 0);
	EXPECT_EQ(hex(r.out), hex(to_up(want)));
	EXPECT_TRUE(ip_csum_ok(r.out, 14));
}

// ---------------------------------------------------------------------------
// 9, 10. Port allocation.

TEST_F(Nat, PortRangeExhaustionRefusesOnlyNewConnections)
{
	set_nat(nat_config(XDPNET_NAT_MASQ, 20000, 20003));
	std::set<uint16_t> got;
	for (uint16_t sp = 1000; sp < 1004; sp++) {
		RunResult r = send(PV1, from_a(udp(kVmA, kRemote, sp, 53)), out_new(PV1));
		ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "flow " << sp;
		const uint16_t n = sport_of(r.out);
		EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, n, 53, 63))));
		got.insert(n);
	}
	EXPECT_EQ(got, (std::set<uint16_t>{20000, 20001, 20002, 20003})) << "four flows, four distinct ports";
	ASSERT_EQ(ct_count(), 8u);

	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 1004, 53)), {Drop(kV1, XDPNET_DROP_NAT_NO_PORT)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(ct_count(), 8u) << "nothing half-made left behind\n" << ct_dump();

	// Existing connections still work, both ways.
	auto o = ct_get(K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 1002, 53));
	ASSERT_TRUE(o);
	const uint16_t n2 = ntohs(o->to_sport);
	r = send(PUP, from_up(udp(kRemote, kU, 53, n2)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 1002, 63))));
	r = send(PV1, from_a(udp(kVmA, kRemote, 1002, 53)), out_old(PV1));
	EXPECT_EQ(sport_of(r.out), n2);

	// Ports are per destination: another remote port still has all four.
	r = send(PV1, from_a(udp(kVmA, kRemote, 1004, 54)), out_new(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
}

TEST_F(Nat, ForwardedPortsAreNeverHandedOut)
{
	set_nat(nat_config(XDPNET_NAT_MASQ, 8080, 8083));
	forward(kTcp, 8080, kVmB, 80);
	// A source port that is in range but forwarded is not kept either.
	std::set<uint16_t> got;
	for (uint16_t sp : {8080, 1000, 1001}) {
		RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, sp, 443, kTcpSyn)), out_new(PV1));
		ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		got.insert(sport_of(r.out));
		expect_csums(r.out);
	}
	EXPECT_EQ(got, (std::set<uint16_t>{8081, 8082, 8083}));
	RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, 1002, 443, kTcpSyn)), {Drop(kV1, XDPNET_DROP_NAT_NO_PORT)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));

	// A handful more, each to its own destination port: never 8080.
	for (uint16_t q = 1; q <= 12; q++) {
		r = send(PV1, from_a(tcp(kVmA, kRemote, q % 2 ? 8080 : 1000 + q, 500 + q, kTcpSyn)), out_new(PV1));
		ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		EXPECT_NE(sport_of(r.out), 8080) << "destination port " << 500 + q;
	}

	// The forward is TCP: UDP may use 8080 (all four ports in use).
	got.clear();
	for (uint16_t sp = 1000; sp < 1004; sp++) {
		r = send(PV1, from_a(udp(kVmA, kRemote, sp, 53)), out_new(PV1));
		ASSERT_EQ(r.retval, uint32_t(XDP_REDIRECT));
		got.insert(sport_of(r.out));
	}
	EXPECT_EQ(got, (std::set<uint16_t>{8080, 8081, 8082, 8083}));
}

// ---------------------------------------------------------------------------
// 11. Expiry.

TEST_F(Nat, ExpiredConnectionIsReplacedByAFreshOne)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	const xdpnet_ct_key ok = K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001);
	for (auto &k : {ok, rk}) {
		auto c = ct_get(k);
		ASSERT_TRUE(c);
		c->last_seen_ns = coarse_now() - (kToUdp + 5) * kSec;
		c->created_s = 1;
		c->packets = 1000;
		ct_put(k, *c);
	}
	const uint64_t t0 = coarse_now();
	r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, 20001, 53, 63))));
	ASSERT_EQ(ct_count(), 2u) << ct_dump();
	for (auto &k : {ok, rk}) {
		auto c = ct_get(k);
		ASSERT_TRUE(c) << key_str(k);
		EXPECT_GE(c->created_s, t0 / kSec) << "a new pair: " << key_str(k);
		EXPECT_LE(c->packets, 1u) << key_str(k);
	}
}

TEST_F(Nat, ReplyToAnExpiredConnectionIsNotTranslatedAndRemovesIt)
{
	send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	age(K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53), (kToUdp + 5) * kSec);
	age(K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001), (kToUdp + 5) * kSec);
	RunResult r = send(PUP, from_up(udp(kRemote, kU, 53, 20001)), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	EXPECT_EQ(ct_count(), 0u) << ct_dump();
}

TEST_F(Nat, AConnectionLivesWhileEitherHalfIsFresh)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	// One-way stream out: the reply half is old, the original fresh.
	age(K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001), (kToUdp + 100) * kSec);
	r = send(PUP, from_up(udp(kRemote, kU, 53, 20001)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 20001, 63))));
	// And the other way round.
	age(K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53), (kToUdp + 100) * kSec);
	r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_old(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kU, kRemote, 20001, 53, 63))));
	// Within the timeout, neither half fresh by the other: still alive.
	age(K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53), (kToUdp - 5) * kSec);
	age(K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001), (kToUdp - 5) * kSec);
	send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_old(PV1));
	EXPECT_EQ(ct_count(), 2u);
}

TEST_F(Nat, TcpTimeoutFollowsTheState)
{
	// An established connection idle 15 s (timeout 22) lives on ...
	RunResult r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn)), out_new(PV1));
	const uint16_t n = sport_of(r.out);
	send(PUP, from_up(tcp(kRemote, kU, 443, n, kTcpSyn | kTcpAck)), in_to(PV1));
	send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck)), out_old(PV1));
	const xdpnet_ct_key ok = K(XDPNET_SIDE_VM, kTcp, kVmA, kRemote, 40000, 443);
	const xdpnet_ct_key rk = K(XDPNET_SIDE_UPLINK, kTcp, kRemote, kU, 443, n);
	ASSERT_EQ(ct_get(ok)->state, XDPNET_CT_TCP_ESTABLISHED);
	age(ok, 15 * kSec);
	age(rk, 15 * kSec);
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck)), out_old(PV1));
	EXPECT_EQ(sport_of(r.out), n);

	// ... a half-open one (timeout 11) does not: its SYN starts anew.
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40001, 443, kTcpSyn)), out_new(PV1));
	const uint16_t m = sport_of(r.out);
	const xdpnet_ct_key ok2 = K(XDPNET_SIDE_VM, kTcp, kVmA, kRemote, 40001, 443);
	age(ok2, 15 * kSec);
	age(K(XDPNET_SIDE_UPLINK, kTcp, kRemote, kU, 443, m), 15 * kSec);
	// A non-SYN of an expired connection is refused ...
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40001, 443, kTcpAck)), {Drop(kV1, XDPNET_DROP_NAT_NOT_SYN)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(ct_count(), 2u) << "the expired pair was removed on lookup\n" << ct_dump();
	// ... its SYN makes a new one.
	send(PV1, from_a(tcp(kVmA, kRemote, 40001, 443, kTcpSyn)), out_new(PV1));
	EXPECT_EQ(ct_count(), 4u);
}

TEST_F(Nat, GcPassRemovesExpiredPairsOnly)
{
	// A: both halves stale. B: original stale, reply fresh. C: fresh.
	send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	send(PV1, from_a(udp(kVmA, kRemote, 20002, 53)), out_new(PV1));
	send(PV1, from_a(udp(kVmA, kRemote, 20003, 53)), out_new(PV1));
	const xdpnet_ct_key a1 = K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20001, 53);
	const xdpnet_ct_key a2 = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20001);
	const xdpnet_ct_key b1 = K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20002, 53);
	const xdpnet_ct_key b2 = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20002);
	const xdpnet_ct_key c1 = K(XDPNET_SIDE_VM, kUdp, kVmA, kRemote, 20003, 53);
	const xdpnet_ct_key c2 = K(XDPNET_SIDE_UPLINK, kUdp, kRemote, kU, 53, 20003);
	age(a1, (kToUdp + 5) * kSec);
	age(a2, (kToUdp + 50) * kSec);
	age(b1, (kToUdp + 5) * kSec);
	age(b2, (kToUdp - 10) * kSec);
	ASSERT_EQ(ct_count(), 6u);

	const uint64_t removed0 = dp.gc().ct_removed;
	Snapshot s0 = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(99)), 0);
	ASSERT_EQ(r.err, 0) << strerror(-r.err);
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	expect_effects(s0, dp.snapshot(), {});
	EXPECT_EQ(dp.gc().ct_removed, removed0 + 1) << "one pair";
	EXPECT_FALSE(ct_get(a1));
	EXPECT_FALSE(ct_get(a2));
	EXPECT_TRUE(ct_get(b1)) << "kept: its peer is fresh";
	EXPECT_TRUE(ct_get(b2));
	EXPECT_TRUE(ct_get(c1));
	EXPECT_TRUE(ct_get(c2));
	EXPECT_EQ(ct_count(), 4u) << ct_dump();

	// A second pass has nothing to do.
	r = dp.run_xdp(dp.skel->progs.xdpnet_fdb_gc, frame(kBcast, M(99)), 0);
	EXPECT_EQ(dp.gc().ct_removed, removed0 + 1);
	EXPECT_EQ(ct_count(), 4u);
}

// ---------------------------------------------------------------------------
// 12. What is not NAT's.

TEST_F(Nat, UplinkTrafficThatIsNotOursGoesToTheHost)
{
	forward(kTcp, 8080, kVmB, 80);
	struct {
		const char *what;
		Bytes f;
	} cases[] = {
		{"to another address", from_up(udp(kRemote, kOtherLocal, 53, 20001))},
		{"to U, a port without connection or forward", from_up(udp(kRemote, kU, 53, 20001))},
		{"TCP SYN to U, unforwarded port", from_up(tcp(kRemote, kU, 33333, 22, kTcpSyn))},
		{"echo request to U", from_up(echo(8, kRemote, kU, 0x4242))},
		{"echo reply to U without a ping", from_up(echo(0, kRemote, kU, 20001))},
		{"to a masquerading network's address", from_up(udp(kRemote, kVmA, 53, 20001))},
		{"ARP", arp(1, kBcast, kNhMac, kNhMac, 0xcb007102, Mac{}, kU)},
		{"tagged", eth_ipv4(up_mac, kNhMac, tcp(kRemote, kU, 33333, 8080, kTcpSyn), {Q(30)})},
		{"GRE to U", from_up(ipv4_packet(kRemote, kU, 47, Bytes(24, 0)))},
	};
	for (auto &c : cases) {
		SCOPED_TRACE(c.what);
		RunResult r = send(PUP, c.f, up_to_host());
		EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
		EXPECT_EQ(hex(r.out), hex(c.f)) << "untouched";
	}
	EXPECT_EQ(ct_count(), 0u) << ct_dump();
}

TEST_F(Nat, OutboundThatCannotBeTranslated)
{
	// Not TCP, UDP or echo: refused by a masquerading network.
	RunResult r = send(PV1, from_a(ipv4_packet(kVmA, kRemote, 47, Bytes(24, 0))), {Drop(kV1, XDPNET_DROP_NAT_PROTO)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	// TTL 1: time-exceeded from the gateway, nothing tracked.
	r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53, 1)),
		 {Drop(kV1, XDPNET_DROP_TTL_EXCEEDED), Ctr(kV1, XDPNET_CTR_ICMP_TIME_EXCEEDED), Ctr(kV1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "sent back out of V1";
	ASSERT_GE(r.out.size(), 14u + 28);
	EXPECT_EQ(r.out[14 + 20], 11) << "time exceeded";
	EXPECT_EQ(get32(r.out, 14 + 12), kGw30) << "from the gateway";
	EXPECT_EQ(ct_count(), 0u);
}

TEST_F(Nat, UnresolvedNextHopGoesToTheSlowPathUntranslated)
{
	Bytes in = from_a(udp(kVmA, kNoNeigh, 20001, 53));
	RunResult r = send(PV1, in, {Ctr(kV1, XDPNET_CTR_NAT_NEW), Ctr(kV1, XDPNET_CTR_NAT_SLOW)});
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	ASSERT_EQ(r.out.size(), sizeof(xdpnet_meta) + in.size()) << "metadata in front of the frame";
	xdpnet_meta m{};
	memcpy(&m, r.out.data(), sizeof(m));
	EXPECT_EQ(m.magic, uint32_t(XDPNET_META_MAGIC));
	EXPECT_EQ(m.ifindex, up_if);
	EXPECT_EQ(hex(Bytes(r.out.begin() + sizeof(m), r.out.end())), hex(in)) << "tc translates it";
	EXPECT_EQ(ct_count(), 2u) << "the connection exists already";

	// From a trunk the tag is popped before going up.
	Bytes tagged = from_t(udp(kVmT, kNoNeigh, 20002, 53));
	r = send(PTR, tagged, {Ctr(kTr, XDPNET_CTR_NAT_NEW), Ctr(kTr, XDPNET_CTR_NAT_SLOW)});
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
	ASSERT_EQ(r.out.size(), sizeof(xdpnet_meta) + tagged.size() - 4);
	memcpy(&m, r.out.data(), sizeof(m));
	EXPECT_EQ(m.magic, uint32_t(XDPNET_META_MAGIC));
	EXPECT_EQ(hex(Bytes(r.out.begin() + sizeof(m), r.out.end())),
		  hex(eth_ipv4(kR30, M(12), udp(kVmT, kNoNeigh, 20002, 53))));
}

TEST_F(Nat, NoRouteThroughTheUplinkIsDropped)
{
	// 192.0.2.1: the kernel has no route for it (not even a default). The
	// route is asked before a connection is made: none is.
	Bytes f = from_a(udp(kVmA, 0xc0000201, 20001, 53));
	Snapshot s0 = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(PV1));
	Snapshot s1 = dp.snapshot();
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	expect_effects(s0, s1, {Ctr(kV1, XDPNET_CTR_RX), Ctr(kV1, XDPNET_CTR_RX_BYTES, int64_t(f.size())),
				Drop(kV1, XDPNET_DROP_UPLINK_ROUTE)});
	EXPECT_EQ(ct_count(), 0u) << ct_dump();
}

// ---------------------------------------------------------------------------
// 13. A routed network (no masquerade).

TEST_F(Nat, WithoutMasqueradeTrafficIsRoutedUntranslated)
{
	set_nat(nat_config(0));
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5353, 53)), out_old(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_up(udp(kVmA, kRemote, 5353, 53, 63)))) << "source stays 10.0.30.10";
	expect_csums(r.out);
	r = send(PV1, from_a(ipv4_packet(kVmA, kRemote, 47, Bytes(24, 0))), out_old(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "any protocol is routed";
	EXPECT_EQ(hex(r.out), hex(to_up(ipv4_packet(kVmA, kRemote, 47, Bytes(24, 0), 63))));
	r = send(PV1, from_a(tcp(kVmA, kRemote, 40000, 443, kTcpAck)), out_old(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "no SYN needed: nothing is tracked";

	// An unfinished checksum is completed on the way out.
	Bytes partial = tcp(kVmA, kRemote, 40000, 443, kTcpAck, 64, 1400);
	set16(partial, 36, pseudo_sum(partial, 0));
	std::vector<Effect> e = out_old(PV1);
	e.push_back(Ctr(kV1, XDPNET_CTR_CSUM_COMPLETED));
	r = send(PV1, from_a(partial), e);
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kVmA, kRemote, 40000, 443, kTcpAck, 63, 1400))));
	expect_csums(r.out);
	EXPECT_EQ(ct_count(), 0u) << ct_dump();

	// Inbound to the network's addresses is routed in.
	r = send(PUP, from_up(udp(kRemote, kVmA, 53, 5353)), {Ctr(kUp, XDPNET_CTR_NAT_IN), Ctr(kUp, XDPNET_CTR_ROUTED),
							      Ctr(kV1, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 5353, 63))));
	expect_csums(r.out);
	r = send(PUP, from_up(tcp(kRemote, kVmT, 33333, 22, kTcpSyn)),
		 {Ctr(kUp, XDPNET_CTR_NAT_IN), Ctr(kUp, XDPNET_CTR_ROUTED), Ctr(kTr, XDPNET_CTR_TX_UNICAST)});
	EXPECT_EQ(hex(r.out), hex(to_t(tcp(kRemote, kVmT, 33333, 22, kTcpSyn, 63))));
	EXPECT_EQ(ct_count(), 0u);

	// Not its network's: another uplink's routed network is not entered here.
	xdpnet_nat_config other = nat_config(0);
	other.uplink_ifindex = ifx(PV2);
	set_nat(other);
	r = send(PUP, from_up(udp(kRemote, kVmA, 53, 5353)), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
}

TEST_F(Nat, NetworkWithoutUplinkDoesNotReachOut)
{
	xdpnet_nat_config none{};
	set_nat(none);
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), {Drop(kV1, XDPNET_DROP_NO_ROUTE)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
}

// ---------------------------------------------------------------------------
// More translation cases.

namespace {
// The packet with 4 bytes of IPv4 options (NOP NOP NOP EOL), checksums redone.
Bytes with_options(const Bytes &pkt)
{
	Bytes b(pkt.begin(), pkt.begin() + 20);
	const uint8_t opts[] = {1, 1, 1, 0};
	b.insert(b.end(), opts, opts + 4);
	b.insert(b.end(), pkt.begin() + 20, pkt.end());
	b[0] = 0x46;
	set16(b, 2, uint16_t(b.size()));
	ip_csum_fill(b, 0);
	if (b[9] == kTcp || b[9] == kUdp || b[9] == kIcmp)
		l4_csum_fill(b, 0);
	return b;
}

// A UDP l4 (12 bytes of payload) whose first payload word is chosen so that
// the datagram s:sp -> d:dp sums to zero: its checksum is 0, sent as 0xffff.
Bytes udp_l4_zero_sum(uint32_t s, uint32_t d, uint16_t sp, uint16_t dp)
{
	Bytes l4 = udp_l4(sp, dp, 12);
	for (uint32_t w = 0; w <= 0xffff; w++) {
		set16(l4, 8, uint16_t(w));
		Bytes p = ipv4_packet(s, d, kUdp, l4);
		set16(p, 26, 0);
		if (csum_fold_add(pseudo_sum(p, 0), p, 20, p.size() - 20) == 0xffff)
			return l4;
	}
	ADD_FAILURE() << "no payload word makes the sum zero";
	return l4;
}
} // namespace

TEST_F(Nat, TwoVmsWithTheSameSourcePortGetDistinctPorts)
{
	RunResult ra = send(PV1, from_a(udp(kVmA, kRemote, 21000, 53)), out_new(PV1));
	RunResult rt = send(PTR, from_t(udp(kVmT, kRemote, 21000, 53)), out_new(PTR));
	EXPECT_EQ(sport_of(ra.out), 21000) << "the first keeps its port";
	const uint16_t nt = sport_of(rt.out);
	EXPECT_NE(nt, 21000) << "the second cannot";
	EXPECT_GE(nt, kLo);
	EXPECT_LE(nt, kHi);
	RunResult r = send(PUP, from_up(udp(kRemote, kU, 53, 21000)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(udp(kRemote, kVmA, 53, 21000, 63))));
	r = send(PUP, from_up(udp(kRemote, kU, 53, nt)), in_to(PTR));
	EXPECT_EQ(hex(r.out), hex(to_t(udp(kRemote, kVmT, 53, 21000, 63))));

	// Pings with the same identifier.
	ra = send(PV1, from_a(echo(8, kVmA, kRemote, 21000)), out_new(PV1));
	rt = send(PTR, from_t(echo(8, kVmT, kRemote, 21000)), out_new(PTR));
	EXPECT_EQ(sport_of(ra.out), 21000);
	const uint16_t it = sport_of(rt.out);
	EXPECT_NE(it, 21000);
	r = send(PUP, from_up(echo(0, kRemote, kU, it)), in_to(PTR));
	EXPECT_EQ(hex(r.out), hex(to_t(echo(0, kRemote, kVmT, 21000, 63))));
	r = send(PUP, from_up(echo(0, kRemote, kU, 21000)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(echo(0, kRemote, kVmA, 21000, 63))));
	EXPECT_EQ(ct_count(), 8u);
}

TEST_F(Nat, PacketsWithIpOptionsAreTranslatedBehindThem)
{
	RunResult r = send(PV1, from_a(with_options(udp(kVmA, kRemote, 20001, 53))), out_new(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(with_options(udp(kU, kRemote, 20001, 53, 63)))));
	expect_csums(r.out);
	r = send(PUP, from_up(with_options(udp(kRemote, kU, 53, 20001))), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(with_options(udp(kRemote, kVmA, 53, 20001, 63)))));
	expect_csums(r.out);
	// And an unfinished TCP checksum behind options.
	Bytes syn = with_options(tcp(kVmA, kRemote, 40000, 443, kTcpSyn, 64, 200));
	set16(syn, 24 + 16, pseudo_sum(syn, 0));
	std::vector<Effect> e = out_new(PV1);
	e.push_back(Ctr(kV1, XDPNET_CTR_CSUM_COMPLETED));
	r = send(PV1, from_a(syn), e);
	const uint16_t n = sport_of(r.out);
	EXPECT_EQ(hex(r.out), hex(to_up(with_options(tcp(kU, kRemote, n, 443, kTcpSyn, 63, 200)))));
	expect_csums(r.out);
}

TEST_F(Nat, TaggedFramesAreTranslatedBehindTheTag)
{
	// An unfinished checksum from the trunk (the IPv4 header 18 bytes in).
	Bytes syn = tcp(kVmT, kRemote, 40000, 443, kTcpSyn, 64, 300);
	set16(syn, 36, pseudo_sum(syn, 0));
	std::vector<Effect> e = out_new(PTR);
	e.push_back(Ctr(kTr, XDPNET_CTR_CSUM_COMPLETED));
	RunResult r = send(PTR, from_t(syn), e);
	const uint16_t n = sport_of(r.out);
	EXPECT_EQ(hex(r.out), hex(to_up(tcp(kU, kRemote, n, 443, kTcpSyn, 63, 300))));
	expect_csums(r.out);

	// An ICMP error from the trunk VM about its own flow.
	r = send(PTR, from_t(udp(kVmT, kRemote, 5353, 53)), out_new(PTR));
	const uint16_t m = sport_of(r.out);
	r = send(PUP, from_up(udp(kRemote, kU, 53, m)), in_to(PTR));
	Bytes quote = l3_of(r.out, 18);
	r = send(PTR, from_t(ipv4_packet(kVmT, kRemote, kIcmp, icmp_error_l4(3, 3, quote))), out_old(PTR));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out),
		  hex(to_up(ipv4_packet(kU, kRemote, kIcmp, icmp_error_l4(3, 3, udp(kRemote, kU, 53, m, 63)), 63))));
	expect_csums(r.out);
}

TEST_F(Nat, AUdpChecksumThatComesOutZeroIsSentAsAllOnes)
{
	Bytes l4 = udp_l4_zero_sum(kU, kRemote, 20001, 53);
	Bytes want = ipv4_packet(kU, kRemote, kUdp, l4, 63);
	ASSERT_EQ(get16(want, 26), 0xffff);
	RunResult r = send(PV1, from_a(ipv4_packet(kVmA, kRemote, kUdp, l4)), out_new(PV1));
	EXPECT_EQ(hex(r.out), hex(to_up(want))) << "0 would mean: no checksum";
	EXPECT_EQ(get16(r.out, 14 + 26), 0xffff);

	// The reply direction.
	Bytes l4r = udp_l4_zero_sum(kRemote, kVmA, 53, 20001);
	Bytes want_r = ipv4_packet(kRemote, kVmA, kUdp, l4r, 63);
	ASSERT_EQ(get16(want_r, 26), 0xffff);
	r = send(PUP, from_up(ipv4_packet(kRemote, kU, kUdp, l4r)), in_to(PV1));
	EXPECT_EQ(hex(r.out), hex(to_a(want_r)));

	// A quoted datagram translated back to one whose checksum is zero.
	Bytes l4q = udp_l4_zero_sum(kVmA, kRemote, 20002, 53);
	r = send(PV1, from_a(ipv4_packet(kVmA, kRemote, kUdp, l4q)), out_new(PV1));
	ASSERT_EQ(sport_of(r.out), 20002);
	r = send(PUP, from_up(ipv4_packet(kRemote, kU, kIcmp, icmp_error_l4(3, 3, l3_of(r.out)))), in_to(PV1));
	Bytes want_q = ipv4_packet(kVmA, kRemote, kUdp, l4q, 63);
	ASSERT_EQ(get16(want_q, 26), 0xffff);
	EXPECT_EQ(hex(r.out), hex(to_a(ipv4_packet(kRemote, kVmA, kIcmp, icmp_error_l4(3, 3, want_q), 63))));
	EXPECT_EQ(get16(r.out, 14 + 28 + 26), 0xffff) << "the quoted UDP checksum";
}

// ---------------------------------------------------------------------------
// Edges: TTL on the way in, leaks, path MTU.

TEST_F(Nat, InboundTtlOneIsDroppedNotDelivered)
{
	send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	Snapshot s0 = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, from_up(udp(kRemote, kU, 53, 20001, 1)), up_if);
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	Snapshot s1 = dp.snapshot();
	EXPECT_EQ(s1.slots[kUp].drops[XDPNET_DROP_TTL_EXCEEDED] - s0.slots[kUp].drops[XDPNET_DROP_TTL_EXCEEDED], 1u);
	EXPECT_EQ(s1.slots[kV1].ctr[XDPNET_CTR_TX_UNICAST], s0.slots[kV1].ctr[XDPNET_CTR_TX_UNICAST]);
	EXPECT_EQ(s1.slots[kUp].ctr[XDPNET_CTR_ROUTED], s0.slots[kUp].ctr[XDPNET_CTR_ROUTED]);
}

// A packet that dies of its TTL on the way in is neither counted as nat_in
// nor creates a port-forward connection.
TEST_F(Nat, InboundTtlOneIsNeitherCountedAsNatInNorTracked)
{
	send(PV1, from_a(udp(kVmA, kRemote, 20001, 53)), out_new(PV1));
	send(PUP, from_up(udp(kRemote, kU, 53, 20001, 1)), {Drop(kUp, XDPNET_DROP_TTL_EXCEEDED)});
	forward(kTcp, 8080, kVmB, 80);
	send(PUP, from_up(tcp(kRemote, kU, 33333, 8080, kTcpSyn, 1)), {Drop(kUp, XDPNET_DROP_TTL_EXCEEDED)});
	EXPECT_EQ(ct_count(), 2u) << "no connection for a packet that never got in\n" << ct_dump();
}

// In a masquerading network, a VM's ICMP error that matches no connection
// is dropped (nat_untracked): it would leave with the VM's private address.
TEST_F(Nat, MasqueradingNetworkNeverLeaksItsPrivateSource)
{
	Bytes quote = udp(kRemote, kVmA, 53, 5353); // never came through NAT
	Snapshot s0 = dp.snapshot();
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress,
				 from_a(ipv4_packet(kVmA, kRemote, kIcmp, icmp_error_l4(3, 3, quote))), ifx(PV1));
	Snapshot s1 = dp.snapshot();
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(s1.slots[kUp].ctr[XDPNET_CTR_TX_UNICAST], s0.slots[kUp].ctr[XDPNET_CTR_TX_UNICAST])
		<< "sent out of the uplink: " << hex(head(r.out, 34));
}

// A packet larger than the uplink's path MTU (bpf_fib_lookup: FRAG_NEEDED)
// with DF gets "fragmentation needed" with the next-hop MTU back from the
// gateway (path-MTU discovery), and creates no connection.
TEST_F(Nat, TooBigForTheUplinkGetsFragNeededBack)
{
	UplinkPathMtu mtu(1280);
	ASSERT_TRUE(mtu.ok());
	RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress,
				 from_a(tcp(kVmA, kRemote, 40000, 443, kTcpSyn, 64, 1400)), ifx(PV1));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "an ICMP error back out of V1";
	ASSERT_GE(r.out.size(), 14u + 28);
	EXPECT_EQ(r.out[14 + 20], 3) << "destination unreachable";
	EXPECT_EQ(r.out[14 + 21], 4) << "fragmentation needed";
	EXPECT_EQ(get16(r.out, 14 + 26), 1280) << "next-hop MTU";
	EXPECT_EQ(ct_count(), 0u) << ct_dump();
}

// ---------------------------------------------------------------------------
// Fragments: later fragments follow the connection their first fragment
// matched; a later fragment before its first is dropped (from a VM) or left
// to the host (on the uplink).

namespace {

// Splits a bare IPv4 packet (20-byte header) into a first fragment carrying
// `first` bytes of its payload (a multiple of 8) and a later one with the
// rest; both with the packet's id and valid header checksums.
std::pair<Bytes, Bytes> fragments(const Bytes &pkt, size_t first)
{
	Bytes a(pkt.begin(), pkt.begin() + 20 + first), b(pkt.begin(), pkt.begin() + 20);
	b.insert(b.end(), pkt.begin() + 20 + first, pkt.end());
	set16(a, 2, uint16_t(a.size()));
	set16(a, 6, 0x2000); // MF, offset 0
	set16(b, 2, uint16_t(b.size()));
	set16(b, 6, uint16_t(first / 8)); // offset, last fragment
	ip_csum_fill(a, 0);
	ip_csum_fill(b, 0);
	return {a, b};
}

// The datagram reassembled from two fragments' IPv4 packets.
Bytes reassemble(const Bytes &a, const Bytes &b)
{
	Bytes r = a;
	r.insert(r.end(), b.begin() + 20, b.end());
	set16(r, 2, uint16_t(r.size()));
	set16(r, 6, 0);
	ip_csum_fill(r, 0);
	return r;
}

} // namespace

TEST_F(Nat, LaterFragmentsFollowTheirFirstFragmentOut)
{
	Bytes dgram = udp(kVmA, kRemote, 5353, 53, 64, 2000);
	auto [first, later] = fragments(dgram, 1480);
	RunResult r1 = send(PV1, from_a(first), out_new(PV1));
	ASSERT_EQ(r1.retval, uint32_t(XDP_REDIRECT));
	RunResult r2 = send(PV1, from_a(later), out_old(PV1));
	ASSERT_EQ(r2.retval, uint32_t(XDP_REDIRECT)) << "the later fragment follows its first";
	Bytes o1 = l3_of(r1.out), o2 = l3_of(r2.out);
	EXPECT_TRUE(ip_csum_ok(r1.out, 14) && ip_csum_ok(r2.out, 14));
	EXPECT_EQ(get32(o1, 12), kU) << "first fragment masqueraded";
	EXPECT_EQ(get32(o2, 12), kU) << "later fragment masqueraded too";
	EXPECT_EQ(get16(o2, 6), 1480 / 8) << "offset kept";
	EXPECT_EQ(Bytes(o2.begin() + 20, o2.end()), Bytes(later.begin() + 20, later.end()))
		<< "a later fragment's bytes are not touched";
	// The translated datagram, put back together, has a valid UDP checksum:
	// the first fragment's incremental update covers the whole datagram.
	Bytes whole = reassemble(o1, o2);
	Bytes framed = eth_ipv4(kNhMac, up_mac, whole);
	EXPECT_TRUE(l4_csum_ok(framed, 14)) << "UDP checksum of the reassembled, translated datagram";
	EXPECT_EQ(ct_count(), 2u) << ct_dump();
}

TEST_F(Nat, LaterFragmentBeforeItsFirstIsDroppedFromAVm)
{
	Bytes dgram = udp(kVmA, kRemote, 5354, 53, 64, 2000);
	auto frags = fragments(dgram, 1480);
	RunResult r = send(PV1, from_a(frags.second), {Drop(kV1, XDPNET_DROP_FRAG_UNKNOWN)});
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	EXPECT_EQ(ct_count(), 0u) << ct_dump();
}

TEST_F(Nat, ReplyFragmentsComeBackTranslated)
{
	RunResult r = send(PV1, from_a(udp(kVmA, kRemote, 5355, 53)), out_new(PV1));
	const uint16_t n = sport_of(r.out);
	Bytes reply = udp(kRemote, kU, 53, n, 64, 3000);
	auto [first, later] = fragments(reply, 1480);
	RunResult r1 = send(PUP, from_up(first), in_to(PV1));
	RunResult r2 = send(PUP, from_up(later), in_to(PV1));
	Bytes o1 = l3_of(r1.out), o2 = l3_of(r2.out);
	EXPECT_EQ(get32(o1, 16), kVmA);
	EXPECT_EQ(get32(o2, 16), kVmA) << "the later fragment is delivered to the VM too";
	EXPECT_EQ(o1[8], 63);
	EXPECT_EQ(o2[8], 63);
	EXPECT_TRUE(ip_csum_ok(r2.out, 14));
	Bytes framed = eth_ipv4(M(10), kR30, reassemble(o1, o2));
	EXPECT_TRUE(l4_csum_ok(framed, 14)) << "UDP checksum of the reassembled reply";
	EXPECT_EQ(get16(reassemble(o1, o2), 22), 5355) << "destination port translated back";

	// A later fragment of a datagram whose first never came: the host's.
	Bytes other = udp(kRemote, kU, 53, n, 64, 3000);
	set16(other, 4, 0x4321);
	ip_csum_fill(other, 0);
	auto orphan = fragments(other, 1480);
	r = send(PUP, from_up(orphan.second), up_to_host());
	EXPECT_EQ(r.retval, uint32_t(XDP_PASS));
}
