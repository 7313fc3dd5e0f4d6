// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// The "program" test tier: xdpnet's BPF programs run on crafted frames with
// BPF_PROG_TEST_RUN. This header is the harness every test file shares:
//
//   NetEnv     a private network namespace with veth pairs, made once per
//              process when the tests start (never when they are only listed)
//   Datapath   a freshly loaded skeleton plus helpers to write policy, FDB and
//              GC state and to read counters
//   frames     a tiny Ethernet/802.1Q frame builder
//   counters   snapshot the whole stats map and compare exact deltas
//   Capture    an XDP program on the far end of every veth that records what
//              arrives (for live-frames and tc tests, where frames really leave)
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "xdpnet/abi.h"
#include "xdpnet_bpf.skel.h"

struct prog_capture; // gen/prog_capture.skel.h

namespace xt {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline Bytes mac_bytes(const Mac &m) { return Bytes(m.begin(), m.end()); }

// ---------------------------------------------------------------------------
// Interfaces: veth pair i is "xn<i>" (the switch port end, given to the
// datapath) and "xn<i>p" (the far end, where Capture listens).
constexpr int kIfaces = 10;

struct Iface {
	std::string name, peer;
	uint32_t ifindex = 0, peer_ifindex = 0;
};

class NetEnv : public ::testing::Environment {
public:
	void SetUp() override;
	// Turns rxvlan/txvlan offload off on both ends of every pair (once), so
	// tagged skbs carry their tag in the frame on the wire (tc tests).
	void vlan_offload_off();
};

const Iface &iface(int i);
NetEnv &net_env();

// ---------------------------------------------------------------------------
// The standard topology every table case runs on. Slots are deliberately
// unrelated to interface numbers and ifindexes.
//
//   port iface slot mode   pvid vlans        flags
//   A1   0     3    access 10   10
//   A2   1     7    access 10   10
//   T1   2     12   trunk  1    1,10,20
//   T2   3     20   trunk  1    1,10,20,30
//   T3   4     33   trunk  -    1,10,20      (no native VLAN)
//   A3   5     41   access 20   20
//   H1   6     50   trunk  -    30           host (no native VLAN)
//   H2   7     61   access 10   10           host, MAC kHostMac
//   A4   8     254  access 40   40           (alone in VLAN 40)
//   iface 9 (kFreeIface) is in no policy.
enum P : int { A1, A2, T1, T2, T3, A3, H1, H2, A4, kPorts };
constexpr int kFreeIface = 9;
constexpr uint16_t kSlot[kPorts] = {3, 7, 12, 20, 33, 41, 50, 61, 254};
constexpr uint64_t kAgingNs = 300ULL * 1000000000ULL;

struct PortSpec {
	int iface;
	uint16_t slot;
	uint8_t mode;
	uint16_t pvid;
	std::vector<uint16_t> vlans;
	uint8_t flags = 0;
	uint32_t mac_limit = 0;
	Mac mac{};
};

std::vector<PortSpec> std_ports();
extern const Mac kHostMac;

// Station MACs: locally administered unicast 02:aa:00:00:00:<n>.
Mac M(uint8_t n);
Mac port_mac(uint16_t slot);
extern const Mac kBcast;

// ---------------------------------------------------------------------------
// Frames.
struct Tag {
	uint16_t tpid;
	uint16_t tci;
};
inline Tag Q(uint16_t vid, uint8_t pcp = 0, bool dei = false)
{
	return Tag{0x8100, uint16_t((pcp << 13) | (dei ? 0x1000 : 0) | (vid & 0xfff))};
}
inline Tag AD(uint16_t vid) { return Tag{0x88a8, uint16_t(vid & 0xfff)}; }

// dst, src, tags (outermost first), ethertype, payload (a fixed pattern).
Bytes frame(const Mac &dst, const Mac &src, std::vector<Tag> tags = {}, uint16_t type = 0x0800,
	    size_t payload = 46);
// The first n bytes of a frame.
Bytes head(const Bytes &b, size_t n);
std::string hex(const Bytes &b);

// ---------------------------------------------------------------------------
// Counters.
struct Effect {
	uint16_t slot;
	bool drop;
	uint32_t idx;
	int64_t delta;
};
inline Effect Ctr(uint16_t slot, xdpnet_counter c, int64_t d = 1) { return {slot, false, uint32_t(c), d}; }
inline Effect Drop(uint16_t slot, xdpnet_drop_reason r) { return {slot, true, uint32_t(r), 1}; }
inline Effect Ctr(P p, xdpnet_counter c, int64_t d = 1) { return Ctr(kSlot[p], c, d); }
inline Effect Drop(P p, xdpnet_drop_reason r) { return Drop(kSlot[p], r); }

struct Snapshot {
	std::vector<xdpnet_port_stats> slots; // summed over CPUs, XDPNET_STATS_SLOTS of them
};

const char *ctr_name(uint32_t c);
const char *drop_name(uint32_t r);

// Adds a gtest failure for every (slot, counter) whose change from before to
// after differs from the listed effects (unlisted ones must not move).
void expect_effects(const Snapshot &before, const Snapshot &after, const std::vector<Effect> &want);

// ---------------------------------------------------------------------------
// The datapath under test.
uint64_t coarse_now(); // CLOCK_MONOTONIC_COARSE == bpf_ktime_get_coarse_ns()

struct RunResult {
	int err = 0;
	uint32_t retval = 0;
	Bytes out;
};

class Datapath {
public:
	struct Options {
		uint32_t fdb_max = 0; // 0: the object's default
		// xdpnet_host_flood takes over a second to verify (818k
		// verifier instructions on 6.18): only the tests that run it
		// load it.
		bool host_flood = false;
		// max_entries of xdpnet_limit_state, xdpnet_aclconn and xdpnet_ct
		// (0: the object's default), as the loader sets them. Small tables
		// make the gc pass (which walks them) fast.
		uint32_t limit_state_max = 0;
		uint32_t aclconn_max = 0;
		uint32_t ct_max = 0;
		// log2 of the flow table's slots per CPU (XDPNET_FLOW_BITS_MIN..MAX).
		uint32_t flow_bits = XDPNET_FLOW_BITS_MIN;
	};
	Datapath() : Datapath(Options{}) {}
	explicit Datapath(Options o);
	~Datapath();
	Datapath(const Datapath &) = delete;
	Datapath &operator=(const Datapath &) = delete;

	xdpnet_bpf *skel = nullptr;
	int mfd(bpf_map *m) const { return bpf_map__fd(m); }
	int pfd(bpf_program *p) const { return bpf_program__fd(p); }

	// Policy.
	void set_active_gen(uint32_t gen);
	void set_config(uint32_t gen, uint64_t aging_ns);
	void put_port(uint32_t gen, const PortSpec &s);
	xdpnet_port get_port(uint32_t gen, uint16_t slot);
	void write_port(uint32_t gen, const xdpnet_port &p); // raw record, ports map only
	// Members (slots) and flood devmap of a VLAN; flood_ifindexes defaults
	// to the members' ifindexes.
	void put_vlan(uint32_t gen, uint16_t vid, const std::vector<const PortSpec *> &members,
		      std::optional<std::vector<uint32_t>> flood_ifindexes = std::nullopt);
	// Writes the flood entries put_vlan queued, in one batch: each single
	// update of an ARRAY_OF_MAPS waits for an RCU grace period (~16 ms).
	void flush_floods();
	void del_flood(uint32_t gen, uint16_t vid);
	// Ports, their VLANs and the config of a whole policy into one generation.
	// flush = false leaves the flood entries queued for a later flush_floods().
	void install(uint32_t gen, const std::vector<PortSpec> &ports, uint64_t aging_ns = kAgingNs,
		     bool flush = true);
	void install_std(uint32_t gen) { install(gen, std_ports()); }
	void del_tx(uint32_t gen, uint16_t slot);

	// FDB and MAC counts.
	void fdb_put(uint16_t vlan, const Mac &mac, uint16_t slot, uint32_t ifindex, uint64_t last_seen,
		     uint8_t flags = 0);
	void fdb_put(uint16_t vlan, const Mac &mac, P port, uint64_t last_seen, uint8_t flags = 0);
	std::optional<xdpnet_fdb_entry> fdb_get(uint16_t vlan, const Mac &mac);
	void bump_fdb_version();
	uint32_t fdb_version();
	size_t fdb_count();
	uint32_t maccnt(uint16_t slot);
	void set_maccnt(uint16_t slot, uint32_t n);

	// GC record.
	xdpnet_gc gc();
	void set_gc_interval(uint64_t ns);

	Snapshot snapshot();

	// Controls (policing, limits, port security, DSCP, ACL).
	void put_config(uint32_t gen, const xdpnet_config &c); // the whole record
	xdpnet_config get_config(uint32_t gen);
	// Sets a port's flags (and DSCP code point) in one generation.
	void set_port_flags(uint32_t gen, uint16_t slot, uint8_t flags, uint8_t dscp = 0);
	void put_policer(uint32_t gen, uint16_t slot, uint32_t dir, const xdpnet_policer &p);
	// What the loader writes for a policy `networks` entry: the VLAN's
	// gateway and the route of its subnet (gw_ip in host order).
	void put_network(uint32_t gen, uint16_t vid, uint32_t gw_ip, uint8_t len, const Mac &router_mac);
	// A neighbour of the router (ip in host order).
	void put_neigh(uint16_t vid, uint32_t ip, const Mac &mac, uint8_t state = XDPNET_NEIGH_REACHABLE,
		       uint64_t updated = coarse_now());
	xdpnet_bucket bucket(uint16_t slot, uint32_t dir);
	void set_bucket(uint16_t slot, uint32_t dir, const xdpnet_bucket &b);
	// The datapath clock (xdpnet_clock), as clock_ns(live config) reads it.
	uint64_t clock_now();

	// BPF_PROG_TEST_RUN of an XDP program. meta: bytes of data_in that are
	// XDP metadata rather than frame (lets a test hand the program a frame
	// shorter than the 14 bytes test_run otherwise insists on); the output
	// includes them too. ifindex 0: no ctx at all.
	RunResult run_xdp(bpf_program *prog, const Bytes &data, uint32_t ifindex, uint32_t meta = 0);
	// The frame `repeat` times in one test run (the caller's CPU); returns
	// the syscall's result, the last verdict in *retval.
	int run_xdp_repeat(bpf_program *prog, const Bytes &frame, uint32_t ifindex, uint32_t repeat,
			   uint32_t *retval = nullptr);
	// Same, BPF_F_TEST_XDP_LIVE_FRAMES: the verdict is acted on for real.
	int run_xdp_live(bpf_program *prog, const Bytes &frame, uint32_t ifindex);
	// BPF_PROG_TEST_RUN of a tc program, the skb arriving on ifindex.
	RunResult run_tc(bpf_program *prog, const Bytes &frame, uint32_t ifindex);

private:
	std::vector<int> inner_fds_;
	std::vector<uint32_t> pending_keys_;
	std::vector<int> pending_fds_;
};

// Runs body(now) until the datapath clock reads the same just before and just
// after it, so every frame body sends sees exactly `now` (the clock moves a
// tick at a time). body must (re)set all the state its outcome depends on and
// must not assert: record results, check them after. Returns now (0 if the
// clock never held still, which fails the test).
template <class F> uint64_t at_one_instant(Datapath &dp, F &&body)
{
	for (int attempt = 0; attempt < 500; attempt++) {
		const uint64_t t0 = dp.clock_now();
		body(t0);
		if (dp.clock_now() == t0)
			return t0;
	}
	ADD_FAILURE() << "the datapath clock never held still across the body";
	return 0;
}

// A policer as the loader compiles one (loader/policy: compile_policer):
// bits/s with a burst in bytes, packets/s with a burst in packets; a rate of
// 0 leaves that bucket unlimited. full_s: the slower fill time, rounded up.
xdpnet_policer make_policer(uint64_t bps, uint64_t burst_bytes, uint64_t pps = 0, uint64_t burst_pkts = 0,
			    uint8_t exceed = XDPNET_EXCEED_DROP, uint8_t remark_dscp = 0);

// ---------------------------------------------------------------------------
// What arrives at the far ends of the veths.
struct Captured {
	int iface; // index into iface(), -1 if unknown
	Bytes data;
};

class Capture {
public:
	// Attaches (once per process) the capture program to every far end.
	static Capture &get();
	void drain();
	// Collects frames until `want` have arrived or timeout_ms passed, then
	// settles briefly so that unexpected extra frames are seen too.
	std::vector<Captured> collect(size_t want, int timeout_ms = 1000);

private:
	Capture();
	::prog_capture *skel_ = nullptr;
	struct ring_buffer *rb_ = nullptr;
	std::vector<Captured> got_;
	static int on_sample(void *ctx, void *data, size_t len);
};

} // namespace xt

// ---------------------------------------------------------------------------
// Per-flow accounting (abi.h: struct xdpnet_flow, bpf/lib/flow.h).
#include <sched.h>

namespace xt {

// Pins the calling thread to one CPU while it lives, then gives it back its
// former affinity. BPF_PROG_TEST_RUN runs the program on the caller's CPU, so
// per-CPU state (the flow table's regions, the FLOW_* counters) lands in a
// known place. ok(): the pin took (the CPU is online and allowed).
class PinCpu {
public:
	explicit PinCpu(int cpu);
	~PinCpu();
	PinCpu(const PinCpu &) = delete;
	PinCpu &operator=(const PinCpu &) = delete;
	bool ok() const { return ok_; }

private:
	cpu_set_t old_{};
	bool saved_ = false, ok_ = false;
};

// Accounting on (bits: log2 of each CPU's slots, as Options.flow_bits sized
// the table) or off (0) in generation gen; the rest of the config is kept.
void set_flow_bits(Datapath &dp, uint32_t gen, uint8_t bits);
// The whole flow table (ncpus << Options.flow_bits slots), read through its
// mmap as the daemon reads it.
std::vector<xdpnet_flow> flow_table(Datapath &dp);
// One slot, written with a map update (e.g. to age a flow).
void flow_put(Datapath &dp, uint32_t index, const xdpnet_flow &f);
// Zeroes every slot of the table and each CPU's xdpnet_flow_cpu (current
// flow, serial counter).
void flow_reset(Datapath &dp);
// xdpnet_flow_cpu[0] of every possible CPU.
std::vector<xdpnet_flow_cpu> flow_cpu(Datapath &dp);
// Consumes every record waiting in the xdpnet_flow_events ring buffer.
std::vector<xdpnet_flow_event> flow_events(Datapath &dp);

// Keys as flow.h builds them (addresses in host order for IPv4, ports in host
// order: stored big-endian; ICMP: sport 0, dport type << 8 | code).
xdpnet_flow_key flow_key4(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t sport, uint16_t dport,
			  uint8_t in_slot, uint16_t vid);
xdpnet_flow_key flow_key6(const std::array<uint8_t, 16> &saddr, const std::array<uint8_t, 16> &daddr,
			  uint8_t proto, uint16_t sport, uint16_t dport, uint8_t in_slot, uint16_t vid);
// ---------------------------------------------------------------------------
// NAT tests: the uplink is veth kFreeIface.
// Its MAC (SIOCGIFHWADDR).
Mac if_mac(const std::string &name);
// The kernel side of the uplink, once per process (the harness's private
// netns): 203.0.113.1/24, a route to 198.51.100.0/24 via 203.0.113.2 with a
// permanent neighbour 02:00:00:00:00:fe, forwarding on (bpf_fib_lookup
// answers from it).
void uplink_netns();
// While alive: the uplink's route to 198.51.100.0/24 has this (locked) MTU,
// so bpf_fib_lookup answers "fragmentation needed" for bigger packets.
class UplinkPathMtu {
public:
	explicit UplinkPathMtu(int mtu);
	~UplinkPathMtu();
	bool ok() const { return ok_; }

private:
	bool ok_ = false;
};
// A connection-table key (addresses and ports in host order).
xdpnet_ct_key K(uint8_t side, uint8_t proto, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp);

// The datapath's hash of the key's five little-endian 64-bit words
// (abi.h: xdpnet_flow_hash).
uint64_t flow_hash(const xdpnet_flow_key &k);
// The even slot of the key's pair in cpu's region: (cpu << bits) |
// xdpnet_flow_pair(hash, bits) (the hash's top bits, even); its partner is
// that | 1.
uint32_t flow_pair(const xdpnet_flow_key &k, uint32_t cpu, uint32_t bits);
// The even slot of the key's second pair (xdpnet_flow_pair2), where a key
// lives when its first pair was full as it came.
uint32_t flow_pair2(const xdpnet_flow_key &k, uint32_t cpu, uint32_t bits);
bool flow_key_eq(const xdpnet_flow_key &a, const xdpnet_flow_key &b);
std::string flow_key_str(const xdpnet_flow_key &k);
// Is every byte of the slot zero (never written)?
bool flow_slot_zero(const xdpnet_flow &f);

} // namespace xt
