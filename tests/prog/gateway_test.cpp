// The gateway stage (policy `networks`): ARP for the gateway and echo requests to
// it are answered back out of the ingress port, everything else for the router
// MAC is dropped and counted, other ARP is switched as before.
#include <arpa/inet.h>

#include "harness.h"
#include "l3frames.h"

using namespace xt;

namespace {

uint32_t ifx(P p) { return iface(std_ports()[p].iface).ifindex; }

constexpr uint32_t kGw = 0x0a000afe;   // 10.0.10.254, VLAN 10's gateway
constexpr uint32_t kVm = 0x0a000a01;   // 10.0.10.1, the station M(1)
constexpr uint32_t kOther = 0x0a000a02; // 10.0.10.2
const Mac kRouter = {0x02, 0x78, 0x64, 0x5a, 0x00, 0x0a};

struct Gateway : ::testing::Test {
	Datapath dp;
	void SetUp() override
	{
		dp.install_std(0);
		set_gateway(0, 10, kGw, 24);
	}
	void set_gateway(uint32_t gen, uint16_t vid, uint32_t ip, uint8_t len)
	{
		xdpnet_gateway gw{};
		gw.gw_ip = htonl(ip);
		gw.prefix_len = len;
		memcpy(gw.router_mac, kRouter.data(), 6);
		uint32_t k = gen * XDPNET_VLAN_COUNT + vid;
		ASSERT_EQ(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_gateway), &k, &gw, BPF_ANY), 0);
	}
	RunResult send(P port, const Bytes &f, const std::vector<Effect> &effects)
	{
		Snapshot s0 = dp.snapshot();
		RunResult r = dp.run_xdp(dp.skel->progs.xdpnet_ingress, f, ifx(port));
		EXPECT_EQ(r.err, 0);
		expect_effects(s0, dp.snapshot(), effects);
		return r;
	}
	std::vector<Effect> rx(P port, const Bytes &f, std::vector<Effect> more)
	{
		more.push_back(Ctr(port, XDPNET_CTR_RX));
		more.push_back(Ctr(port, XDPNET_CTR_RX_BYTES, int64_t(f.size())));
		more.push_back(Ctr(port, XDPNET_CTR_LEARNED));
		return more;
	}
};

} // namespace

TEST_F(Gateway, ArpRequestForTheGatewayIsAnswered)
{
	Bytes req = arp(1, kBcast, M(1), M(1), kVm, Mac{}, kGw);
	RunResult r = send(A1, req, rx(A1, req, {Ctr(A1, XDPNET_CTR_GW_ARP_REPLY), Ctr(A1, XDPNET_CTR_TX_UNICAST),
						  Ctr(A1, XDPNET_CTR_NEIGH_LEARNED)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT)) << "sent back out of A1";
	Bytes want = arp(2, M(1), kRouter, kRouter, kGw, M(1), kVm);
	EXPECT_EQ(hex(r.out), hex(want));
}

TEST_F(Gateway, TaggedArpOnATrunkIsAnsweredTagged)
{
	Bytes req = arp(1, kBcast, M(3), M(3), 0x0a000a03, Mac{}, kGw, {Q(10, 5)});
	RunResult r = send(T1, req, rx(T1, req, {Ctr(T1, XDPNET_CTR_GW_ARP_REPLY), Ctr(T1, XDPNET_CTR_TX_UNICAST),
						  Ctr(T1, XDPNET_CTR_NEIGH_LEARNED)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(r.out), hex(arp(2, M(3), kRouter, kRouter, kGw, M(3), 0x0a000a03, {Q(10, 5)})));
}

TEST_F(Gateway, ArpForAnotherAddressIsSwitched)
{
	Bytes req = arp(1, kBcast, M(1), M(1), kVm, Mac{}, kOther);
	RunResult r = send(A1, req, rx(A1, req, {Ctr(A1, XDPNET_CTR_FLOODED),
						  Ctr(A1, XDPNET_CTR_NEIGH_LEARNED)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(r.out[12], 0x81) << "flooded: tagged for the VLAN's devmap";
}

TEST_F(Gateway, NoGatewayOnThisVlan)
{
	// VLAN 20 has no gateway: an ARP for VLAN 10's gateway address is just switched.
	Bytes req = arp(1, kBcast, M(1), M(1), kVm, Mac{}, kGw);
	RunResult r = send(A3, req, rx(A3, req, {Ctr(A3, XDPNET_CTR_FLOODED)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
}

TEST_F(Gateway, OnlyTheLiveGenerationCounts)
{
	set_gateway(0, 10, 0, 0);  // none in the live generation
	set_gateway(1, 10, kGw, 24);
	Bytes req = arp(1, kBcast, M(1), M(1), kVm, Mac{}, kGw);
	send(A1, req, rx(A1, req, {Ctr(A1, XDPNET_CTR_FLOODED)}));
}

TEST_F(Gateway, EchoRequestToTheGatewayIsAnswered)
{
	Bytes req = icmp_echo(8, kRouter, M(1), kVm, kGw);
	RunResult r = send(A1, req, rx(A1, req, {Ctr(A1, XDPNET_CTR_GW_ECHO_REPLY), Ctr(A1, XDPNET_CTR_TX_UNICAST)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	Bytes want = icmp_echo(0, M(1), kRouter, kGw, kVm);
	want[14 + 4] = req[14 + 4]; // the IP id is kept
	EXPECT_EQ(hex(r.out), hex(want));
	// Checksums verified from scratch, independently of the expected frame.
	EXPECT_EQ(inet_csum(r.out, 14, 20), 0) << "IPv4 header checksum";
	EXPECT_EQ(inet_csum(r.out, 34, r.out.size() - 34), 0) << "ICMP checksum";
}

TEST_F(Gateway, TaggedEchoRequestIsAnsweredTagged)
{
	Bytes req = icmp_echo(8, kRouter, M(3), 0x0a000a03, kGw, {Q(10)});
	RunResult r = send(T1, req, rx(T1, req, {Ctr(T1, XDPNET_CTR_GW_ECHO_REPLY), Ctr(T1, XDPNET_CTR_TX_UNICAST)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_REDIRECT));
	EXPECT_EQ(hex(head(r.out, 18)), hex(head(frame(M(3), kRouter, {Q(10)}, 0x0800, 0), 18)));
	EXPECT_EQ(inet_csum(r.out, 38, r.out.size() - 38), 0) << "ICMP checksum";
}

TEST_F(Gateway, OtherTrafficToTheRouterMacIsDroppedAndCounted)
{
	Bytes routed = icmp_echo(8, kRouter, M(1), kVm, 0x08080808); // no network holds it
	RunResult r = send(A1, routed, rx(A1, routed, {Drop(A1, XDPNET_DROP_NO_ROUTE)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
	Bytes reply = icmp_echo(0, kRouter, M(1), kVm, kGw); // not an echo request
	send(A1, reply, {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(reply.size())),
			 Drop(A1, XDPNET_DROP_GW_UNSERVED)});
	Bytes v6 = frame(kRouter, M(1), {}, 0x86dd, 60);
	send(A1, v6, {Ctr(A1, XDPNET_CTR_RX), Ctr(A1, XDPNET_CTR_RX_BYTES, int64_t(v6.size())),
		      Drop(A1, XDPNET_DROP_NO_ROUTE)});
}

TEST_F(Gateway, TruncatedIpv4ToTheRouterMacIsBadL3)
{
	Bytes t = head(icmp_echo(8, kRouter, M(1), kVm, kGw), 14 + 12);
	RunResult r = send(A1, t, rx(A1, t, {Drop(A1, XDPNET_DROP_BAD_L3)}));
	EXPECT_EQ(r.retval, uint32_t(XDP_DROP));
}
