// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// `xdpnet trace` (loader/datapath/trace.cpp) against a real instance: the
// loader's own up (Instance::create from a compiled policy) on the harness's
// veths, state built by running frames through the instance's pinned
// ingress program, then the same frames traced twice: with the state tables
// copied whole, and with only the entries the frame can touch
// (whole_copy_limit 0). Both must tell the same story, the expected one, and
// neither may change a byte of the live maps.
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "harness.h"

#include "datapath/error.h"
#include "datapath/instance.h"
#include "datapath/netdev.h"
#include "datapath/trace.h"
#include "policy/policy.h"
#include "telemetry/packet_spec.h"
#include "telemetry/trace_report.h"

namespace xt {
namespace {

using xdpnet::Instance;
using xdpnet::LivePort;
using xdpnet::telemetry::build_packet;

// Port MACs of the traced stations (the far ends' MACs do not matter: the
// frames are handed to the program, not sent).
const std::string kMac0 = "02:00:00:00:10:01", kMac1 = "02:00:00:00:10:02", kMac2 = "02:00:00:00:20:03",
		  kMac5 = "02:00:00:00:30:05", kNextHop = "02:00:00:00:00:60";

std::string policy_text(const std::string &instance)
{
	return "instance: " + instance + R"(
bridge: { mac_aging: 300s, fdb_size: 1024 }
ports:
  - { name: xn0, mode: access, vlan: 10 }
  - { name: xn1, mode: access, vlan: 10 }
  - { name: xn2, mode: access, vlan: 20 }
  - { name: xn3, mode: trunk, vlans: [10, 20], native_vlan: 1 }
  - { name: xn5, mode: access, vlan: 30 }
networks:
  - { name: n10, vlan: 10, gateway: 10.0.10.254/24 }
  - { name: n20, vlan: 20, gateway: 10.0.20.254/24 }
  - name: natnet
    vlan: 30
    gateway: 10.0.30.1/24
    uplink: xn4
    masquerade: true
    port_range: 20000-29999
    max_connections: 1000
    port_forwards:
      - { proto: tcp, port: 8080, to: "10.0.30.5:80" }
acl:
  default: allow
  max_connections: 1000
  rules:
    - { action: allow, proto: udp, from_vlan: 10, to_vlan: 20, stateful: true }
    - { action: deny, from_vlan: 20, to_vlan: 10 }
)";
}

void sh(const std::string &cmd)
{
	const std::string full = "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; " + cmd;
	ASSERT_EQ(system(full.c_str()), 0) << cmd;
}

class TraceTest : public ::testing::Test {
protected:
	static void SetUpTestSuite()
	{
		// Pins of a private instance name under a private root (the
		// host's bpffs), so parallel test processes never meet.
		instance_ = "progtrace" + std::to_string(getpid());
		root_ = "/sys/fs/bpf/xdpnet-progtrace-" + std::to_string(getpid());
		setenv("XDPNET_PIN_ROOT", root_.c_str(), 1);
		// The NAT uplink: an address, a route to the far network and its
		// next hop (a permanent neighbour: nothing answers ARP here).
		sh("ip addr replace 203.0.113.1/24 dev xn4 && ip route replace 198.51.100.0/24 via 203.0.113.2 dev xn4 && "
		   "ip neigh replace 203.0.113.2 lladdr " + kNextHop + " dev xn4 nud permanent");
		auto pol = xdpnet::policy::parse_policy(policy_text(instance_), "trace_test.yaml");
		auto image = xdpnet::policy::compile(pol, xdpnet::netdev::host_resolver());
		inst_ = std::make_unique<Instance>(Instance::create(image));
	}

	static void TearDownTestSuite()
	{
		if (inst_) {
			const std::string notes = inst_->acl_notes_path();
			inst_->destroy();
			unlink(notes.c_str());
			inst_.reset();
		}
		rmdir(root_.c_str());
	}

	static LivePort port(const std::string &name)
	{
		for (const auto &p : inst_->ports()) // the uplink (xn4) is among them
			if (p.name == name)
				return p;
		throw std::runtime_error("no port " + name);
	}

	/// Runs a frame through the live instance's pinned ingress program:
	/// how the tests build live state (as real traffic would).
	static uint32_t live_run(const std::string &port_name, const Bytes &frame)
	{
		const std::string pin = root_ + "/" + instance_ + "/prog_ingress";
		const int prog = bpf_obj_get(pin.c_str());
		EXPECT_GE(prog, 0) << pin;
		Bytes out(frame.size() + 512);
		xdp_md ctx{};
		ctx.data_end = uint32_t(frame.size());
		ctx.ingress_ifindex = port(port_name).port.ifindex;
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_out = out.data(),
			    .data_size_in = uint32_t(frame.size()), .data_size_out = uint32_t(out.size()),
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
		EXPECT_EQ(bpf_prog_test_run_opts(prog, &o), 0);
		close(prog);
		return o.retval;
	}

	/// Every entry of every live map the datapath writes, as bytes.
	static std::map<std::string, std::string> live_state()
	{
		std::map<std::string, std::string> out;
		for (const char *name : {"xdpnet_fdb", "xdpnet_ct", "xdpnet_neigh", "xdpnet_aclconn", "xdpnet_frag",
					 "xdpnet_buckets", "xdpnet_maccnt", "xdpnet_fdbver", "xdpnet_ctcount",
					 "xdpnet_stats", "xdpnet_aclhits", "xdpnet_limit_state"}) {
			const std::string pin = root_ + "/" + instance_ + "/" + name;
			const int fd = bpf_obj_get(pin.c_str());
			EXPECT_GE(fd, 0) << pin;
			bpf_map_info info{};
			uint32_t len = sizeof(info);
			bpf_obj_get_info_by_fd(fd, &info, &len);
			const bool percpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
			const size_t vsize = info.value_size * (percpu ? size_t(libbpf_num_possible_cpus()) : 1);
			std::string key(info.key_size, '\0'), next(info.key_size, '\0'), value(vsize, '\0');
			const void *prev = nullptr;
			while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
				if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0)
					out[std::string(name) + "/" + next] = value;
				key = next;
				prev = key.data();
			}
			close(fd);
		}
		return out;
	}

	/// The explanation of a trace, with the tables copied whole (limit
	/// above their capacity) or only what the frame touches (limit 0).
	static nlohmann::json traced(const std::string &port_name, const Bytes &frame, uint32_t limit)
	{
		xdpnet::TraceOptions opts;
		opts.whole_copy_limit = limit;
		return xdpnet::telemetry::explain(xdpnet::trace_frame(*inst_, port(port_name), frame, opts)).json;
	}

	/// Traces both ways; they must agree. Returns the trace.
	static nlohmann::json trace_both(const std::string &port_name, const std::string &spec)
	{
		const Bytes frame = build_packet(spec);
		const auto whole = traced(port_name, frame, 1u << 24);
		const auto touched = traced(port_name, frame, 0);
		EXPECT_EQ(whole.dump(1), touched.dump(1)) << "whole and targeted copies disagree for " << spec;
		return whole;
	}

	static std::string router_mac(uint16_t vid)
	{
		return xdpnet::policy::format_mac(xdpnet::policy::router_mac(instance_, vid));
	}

	static inline std::string instance_, root_;
	static inline std::unique_ptr<Instance> inst_;
};

std::string eth(const std::string &src, const std::string &dst) { return "eth(src=" + src + ",dst=" + dst + ")"; }

std::vector<std::string> ports_of(const nlohmann::json &j)
{
	std::vector<std::string> out;
	for (const auto &e : j["egress"])
		out.push_back(e["port"]);
	return out;
}

TEST_F(TraceTest, WholeAndTargetedCopiesAgreeAndLiveStateStays)
{
	// Live state, made the way traffic makes it: stations learned,
	// neighbours learned from ARP, a stateful ACL connection, a NAT
	// connection.
	live_run("xn1", build_packet(eth(kMac1, "ff:ff:ff:ff:ff:ff") + "/arp(spa=10.0.10.2,tpa=10.0.10.254)"));
	live_run("xn0", build_packet(eth(kMac0, "ff:ff:ff:ff:ff:ff") + "/arp(spa=10.0.10.1,tpa=10.0.10.254)"));
	live_run("xn2", build_packet(eth(kMac2, "ff:ff:ff:ff:ff:ff") + "/arp(spa=10.0.20.3,tpa=10.0.20.254)"));
	live_run("xn5", build_packet(eth(kMac5, "ff:ff:ff:ff:ff:ff") + "/arp(spa=10.0.30.5,tpa=10.0.30.1)"));
	EXPECT_EQ(live_run("xn0", build_packet(eth(kMac0, router_mac(10)) +
					       "/ipv4(src=10.0.10.1,dst=10.0.20.3)/udp(sport=5000,dport=53)")),
		  uint32_t(XDP_REDIRECT))
		<< "routed and recorded by the stateful rule";
	EXPECT_EQ(live_run("xn5", build_packet(eth(kMac5, router_mac(30)) +
					       "/ipv4(src=10.0.30.5,dst=198.51.100.1)/tcp(sport=21000,dport=80,flags=S)")),
		  uint32_t(XDP_REDIRECT))
		<< "masqueraded out of the uplink";

	const auto before = live_state();

	auto j = trace_both("xn0", eth(kMac0, kMac1) + "/ipv4(src=10.0.10.1,dst=10.0.10.2)/udp(sport=1,dport=2)");
	EXPECT_EQ(j["reason"], "known_unicast");
	EXPECT_EQ(ports_of(j), std::vector<std::string>{"xn1"});

	j = trace_both("xn1", eth("02:00:00:00:10:77", "ff:ff:ff:ff:ff:ff") + "/ipv4(src=10.0.10.7,dst=10.0.10.255)");
	EXPECT_EQ(j["reason"], "flood");
	EXPECT_EQ(ports_of(j), (std::vector<std::string>{"xn0", "xn3"}));
	ASSERT_EQ(j["state_changes"].size(), 1u) << j["state_changes"].dump(1);
	EXPECT_EQ(j["state_changes"][0]["op"], "add");

	j = trace_both("xn3", eth("02:00:00:00:33:33", kMac0) + "/vlan(10)/ipv4(src=10.0.10.9,dst=10.0.10.1)");
	EXPECT_EQ(j["reason"], "known_unicast");
	EXPECT_EQ(ports_of(j), std::vector<std::string>{"xn0"});
	EXPECT_EQ(j["rewritten"][0]["change"], "popped");

	// Routed: the FDB entry of the neighbour in the other VLAN is needed.
	j = trace_both("xn0", eth(kMac0, router_mac(10)) + "/ipv4(src=10.0.10.1,dst=10.0.20.3)/udp(sport=5001,dport=53)");
	EXPECT_EQ(j["reason"], "routed");
	EXPECT_EQ(ports_of(j), std::vector<std::string>{"xn2"});

	// The reply of the stateful connection: denied by rule 2, let in as a reply.
	j = trace_both("xn2", eth(kMac2, router_mac(20)) + "/ipv4(src=10.0.20.3,dst=10.0.10.1)/udp(sport=53,dport=5000)");
	EXPECT_EQ(j["reason"], "routed") << j["steps"].dump(1);
	EXPECT_EQ(j["counters"]["xn2"]["counters"]["acl_reply"], 1);
	EXPECT_EQ(j["acl"]["rule"], 2);
	// Not a reply: denied.
	j = trace_both("xn2", eth(kMac2, router_mac(20)) + "/ipv4(src=10.0.20.3,dst=10.0.10.1)/udp(sport=53,dport=5999)");
	EXPECT_EQ(j["reason"], "acl_deny");

	// The NAT connection's reply from the uplink: translated back to the VM.
	j = trace_both("xn4", eth(kNextHop, "02:00:00:00:00:00") +
				      "/ipv4(src=198.51.100.1,dst=203.0.113.1)/tcp(sport=80,dport=21000,flags=SA)");
	EXPECT_EQ(j["reason"], "nat_in") << j["steps"].dump(1);
	EXPECT_EQ(ports_of(j), std::vector<std::string>{"xn5"});
	ASSERT_EQ(j["state_changes"].size(), 1u) << j["state_changes"].dump(1);
	EXPECT_EQ(j["state_changes"][0]["op"], "update");
	EXPECT_EQ(j["state_changes"][0]["state_before"], "syn_sent");
	EXPECT_EQ(j["state_changes"][0]["state"], "syn_recv");

	// A new masqueraded connection (an in-range source port is kept) and a port forward.
	j = trace_both("xn5", eth(kMac5, router_mac(30)) +
				      "/ipv4(src=10.0.30.5,dst=198.51.100.1)/tcp(sport=21001,dport=80,flags=S)");
	EXPECT_EQ(j["reason"], "nat_out");
	EXPECT_EQ(ports_of(j), std::vector<std::string>{"xn4"});
	EXPECT_EQ(j["egress"][0]["frame"].get<std::string>().substr(0, 12), "020000000060") << "to the next hop";
	// The same source port again: taken live, so the copy must know it.
	j = trace_both("xn5", eth(kMac5, router_mac(30)) +
				      "/ipv4(src=10.0.30.5,dst=198.51.100.1)/tcp(sport=21000,dport=80,flags=A)");
	EXPECT_EQ(j["state_changes"][0]["op"], "update") << "the live connection, not a new one";
	j = trace_both("xn4", eth(kNextHop, "02:00:00:00:00:00") +
				      "/ipv4(src=198.51.100.7,dst=203.0.113.1)/tcp(sport=999,dport=8080,flags=S)");
	EXPECT_EQ(j["reason"], "nat_in");
	EXPECT_EQ(j["state_changes"][0]["kind"], "dnat");

	EXPECT_TRUE(live_state() == before) << "a trace changed live state";
}

TEST_F(TraceTest, RefusesFramesTheTestRunCannotTake)
{
	// The longest frame one XDP buffer holds (4 KiB pages) traces; one byte more does not.
	const std::string udp = eth(kMac0, kMac1) + "/ipv4(src=10.0.10.1,dst=10.0.10.2)/";
	const auto j = xdpnet::telemetry::explain(
		xdpnet::trace_frame(*inst_, port("xn0"), build_packet(udp + "payload(len=3486)"))).json;
	EXPECT_EQ(j["frame_in"].get<std::string>().size(), 2u * 3520);
	EXPECT_EQ(j["verdict"], "XDP_REDIRECT");
	EXPECT_THROW(xdpnet::trace_frame(*inst_, port("xn0"), build_packet(udp + "payload(len=3487)")), xdpnet::Error);

	try {
		xdpnet::trace_frame(*inst_, port("xn0"), Bytes(10, 0));
		ADD_FAILURE() << "a 10-byte frame was traced";
	} catch (const xdpnet::Error &e) {
		EXPECT_EQ(e.code(), xdpnet::ExitCode::Usage);
		EXPECT_STREQ(e.what(), "a 10-byte frame is shorter than an Ethernet header (14 bytes)");
	}
	try {
		xdpnet::trace_frame(*inst_, port("xn0"), build_packet(eth(kMac0, kMac1) + "/ipv4(src=10.0.10.1,dst=10.0.10.2)/"
											      "payload(len=8000)"));
		ADD_FAILURE() << "an 8 kB frame was traced";
	} catch (const xdpnet::Error &e) {
		EXPECT_EQ(e.code(), xdpnet::ExitCode::Usage);
		EXPECT_EQ(std::string(e.what()), "a 8034-byte frame is longer than XDP without multi-buffer takes "
						     "(3520 bytes)");
	}
}

} // namespace
} // namespace xt
