// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include "harness.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>

#include <linux/if_link.h>

#include "prog_capture.skel.h"

namespace xt {

// ---------------------------------------------------------------------------
// Environment.
namespace {
std::vector<Iface> g_ifaces;
NetEnv *g_env = nullptr;
bool g_offload_off = false;

// ip and ethtool live in sbin, which a test runner's PATH may lack.
constexpr const char *kSbinPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; ";

[[noreturn]] void die(const std::string &what)
{
	fprintf(stderr, "prog_tests: environment: %s (errno %d: %s)\n", what.c_str(), errno,
		strerror(errno));
	fflush(stderr);
	std::exit(2);
}

void write_file(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs(v, f);
	fclose(f);
}

// Registered at static init; SetUp only runs when tests run, not when they are
// listed (gtest_discover_tests), so listing needs no privileges.
[[maybe_unused]] ::testing::Environment *const g_registered =
	::testing::AddGlobalTestEnvironment(new NetEnv);
} // namespace

void NetEnv::SetUp()
{
	g_env = this;
	if (unshare(CLONE_NEWNET) != 0)
		die("unshare(CLONE_NEWNET) (run as root)");
	// No IPv6 autoconfiguration chatter on the test links.
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");

	char path[] = "/tmp/xdpnet-prog-ip-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	std::string batch = "link set lo up\n";
	for (int i = 0; i < kIfaces; i++) {
		batch += "link add xn" + std::to_string(i) + " type veth peer name xn" + std::to_string(i) + "p\n";
		batch += "link set xn" + std::to_string(i) + " up\n";
		batch += "link set xn" + std::to_string(i) + "p up\n";
	}
	if (write(fd, batch.data(), batch.size()) != (ssize_t)batch.size())
		die("write ip batch");
	close(fd);
	std::string cmd = std::string(kSbinPath) + "ip -batch " + path;
	int rc = system(cmd.c_str());
	unlink(path);
	if (rc != 0)
		die("ip -batch (creating veths) failed");
	for (int i = 0; i < kIfaces; i++) {
		Iface f;
		f.name = "xn" + std::to_string(i);
		f.peer = f.name + "p";
		f.ifindex = if_nametoindex(f.name.c_str());
		f.peer_ifindex = if_nametoindex(f.peer.c_str());
		if (!f.ifindex || !f.peer_ifindex)
			die("if_nametoindex " + f.name);
		g_ifaces.push_back(f);
	}
}

void NetEnv::vlan_offload_off()
{
	if (g_offload_off)
		return;
	std::string cmd = kSbinPath;
	for (auto &f : g_ifaces)
		for (auto *n : {&f.name, &f.peer})
			cmd += "ethtool -K " + *n + " rxvlan off txvlan off >/dev/null 2>&1 && ";
	cmd += "true";
	if (system(cmd.c_str()) != 0)
		die("ethtool -K rxvlan off txvlan off");
	g_offload_off = true;
}

const Iface &iface(int i)
{
	if (g_ifaces.empty())
		die("iface() before the environment was set up");
	return g_ifaces.at(i);
}

NetEnv &net_env()
{
	if (!g_env)
		die("net_env() before the environment was set up");
	return *g_env;
}

// ---------------------------------------------------------------------------
// Topology.
const Mac kHostMac = {0x02, 0x48, 0x4f, 0x53, 0x54, 0x01};
const Mac kBcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

Mac M(uint8_t n) { return Mac{0x02, 0xaa, 0x00, 0x00, 0x00, n}; }
Mac port_mac(uint16_t slot) { return Mac{0x02, 0x00, 0x00, 0x00, uint8_t(slot >> 8), uint8_t(slot)}; }

std::vector<PortSpec> std_ports()
{
	using V = std::vector<uint16_t>;
	std::vector<PortSpec> v = {
		{0, kSlot[A1], XDPNET_MODE_ACCESS, 10, V{10}},
		{1, kSlot[A2], XDPNET_MODE_ACCESS, 10, V{10}},
		{2, kSlot[T1], XDPNET_MODE_TRUNK, 1, V{1, 10, 20}},
		{3, kSlot[T2], XDPNET_MODE_TRUNK, 1, V{1, 10, 20, 30}},
		{4, kSlot[T3], XDPNET_MODE_TRUNK, 0, V{1, 10, 20}},
		{5, kSlot[A3], XDPNET_MODE_ACCESS, 20, V{20}},
		{6, kSlot[H1], XDPNET_MODE_TRUNK, 0, V{30}, XDPNET_PORT_HOST},
		{7, kSlot[H2], XDPNET_MODE_ACCESS, 10, V{10}, XDPNET_PORT_HOST},
		{8, kSlot[A4], XDPNET_MODE_ACCESS, 40, V{40}},
	};
	for (auto &p : v)
		p.mac = (p.flags & XDPNET_PORT_HOST) && p.mode == XDPNET_MODE_ACCESS ? kHostMac : port_mac(p.slot);
	return v;
}

// ---------------------------------------------------------------------------
// Frames.
Bytes frame(const Mac &dst, const Mac &src, std::vector<Tag> tags, uint16_t type, size_t payload)
{
	Bytes b(dst.begin(), dst.end());
	b.insert(b.end(), src.begin(), src.end());
	auto be16 = [&](uint16_t v) {
		b.push_back(uint8_t(v >> 8));
		b.push_back(uint8_t(v));
	};
	for (auto &t : tags) {
		be16(t.tpid);
		be16(t.tci);
	}
	be16(type);
	for (size_t i = 0; i < payload; i++)
		b.push_back(uint8_t(0x30 + i * 7));
	return b;
}

Bytes head(const Bytes &b, size_t n) { return Bytes(b.begin(), b.begin() + std::min(n, b.size())); }

std::string hex(const Bytes &b)
{
	std::string s;
	char buf[4];
	for (size_t i = 0; i < b.size(); i++) {
		snprintf(buf, sizeof(buf), "%02x", b[i]);
		s += buf;
		if (i == 5 || i == 11 || (i >= 13 && i < 21 && i % 2 == 1))
			s += ' ';
	}
	return s;
}

// ---------------------------------------------------------------------------
// Counters.
namespace {
#define XT_NAME(e, n, h) n,
const char *const kCtrNames[] = {XDPNET_COUNTERS(XT_NAME)};
const char *const kDropNames[] = {"none", XDPNET_DROP_REASONS(XT_NAME)};
#undef XT_NAME
} // namespace

const char *ctr_name(uint32_t c) { return c < XDPNET_CTR_MAX ? kCtrNames[c] : "?"; }
const char *drop_name(uint32_t r) { return r < XDPNET_DROP_MAX ? kDropNames[r] : "?"; }

void expect_effects(const Snapshot &before, const Snapshot &after, const std::vector<Effect> &want)
{
	std::map<std::tuple<uint16_t, bool, uint32_t>, int64_t> expect;
	for (auto &e : want)
		expect[{e.slot, e.drop, e.idx}] += e.delta;
	for (uint32_t s = 0; s < XDPNET_STATS_SLOTS; s++) {
		const auto &b = before.slots.at(s), &a = after.slots.at(s);
		for (int kind = 0; kind < 2; kind++) {
			uint32_t n = kind ? uint32_t(XDPNET_DROP_MAX) : uint32_t(XDPNET_CTR_MAX);
			for (uint32_t i = 0; i < n; i++) {
				int64_t d = kind ? int64_t(a.drops[i] - b.drops[i]) : int64_t(a.ctr[i] - b.ctr[i]);
				auto it = expect.find({uint16_t(s), kind == 1, i});
				int64_t w = it == expect.end() ? 0 : it->second;
				if (d != w)
					ADD_FAILURE() << "slot " << s << (kind ? " drop " : " counter ")
						      << (kind ? drop_name(i) : ctr_name(i)) << " changed by " << d
						      << ", expected " << w;
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Datapath.
uint64_t coarse_now()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

#define XT_CHECK(expr)                                                                              \
	do {                                                                                        \
		int _e = (expr);                                                                    \
		if (_e < 0) {                                                                       \
			ADD_FAILURE() << #expr << " failed: " << strerror(-_e) << " (" << _e << ")"; \
		}                                                                                   \
	} while (0)

Datapath::Datapath(Options o)
{
	skel = xdpnet_bpf__open();
	if (!skel) {
		ADD_FAILURE() << "xdpnet_bpf__open failed: " << strerror(errno);
		throw std::runtime_error("open");
	}
	bpf_program__set_autoload(skel->progs.xdpnet_host_flood, o.host_flood);
	if (o.fdb_max)
		bpf_map__set_max_entries(skel->maps.xdpnet_fdb, o.fdb_max);
	if (o.limit_state_max)
		bpf_map__set_max_entries(skel->maps.xdpnet_limit_state, o.limit_state_max);
	if (o.aclconn_max)
		bpf_map__set_max_entries(skel->maps.xdpnet_aclconn, o.aclconn_max);
	if (o.ct_max)
		bpf_map__set_max_entries(skel->maps.xdpnet_ct, o.ct_max);
	// The flow table as the loader sizes it: 2^flow_bits slots per CPU
	// (accounting stays off until a test sets config.flow_bits).
	for (bpf_map *m : {skel->maps.xdpnet_flows, skel->maps.xdpnet_flow_exp})
		bpf_map__set_max_entries(m, uint32_t(libbpf_num_possible_cpus()) << o.flow_bits);
	int err = xdpnet_bpf__load(skel);
	if (err) {
		ADD_FAILURE() << "xdpnet_bpf__load failed: " << strerror(-err);
		xdpnet_bpf__destroy(skel);
		skel = nullptr;
		throw std::runtime_error("load");
	}
	xdpnet_state st{0, XDPNET_ABI_VERSION};
	uint32_t zero = 0;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_state), &zero, &st, BPF_ANY));
}

Datapath::~Datapath()
{
	if (skel)
		xdpnet_bpf__destroy(skel);
	for (int fd : inner_fds_)
		close(fd);
}

void Datapath::set_active_gen(uint32_t gen)
{
	xdpnet_state st{gen, XDPNET_ABI_VERSION};
	uint32_t zero = 0;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_state), &zero, &st, BPF_ANY));
}

void Datapath::set_config(uint32_t gen, uint64_t aging_ns)
{
	xdpnet_config c{};
	c.aging_ns = aging_ns;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_config), &gen, &c, BPF_ANY));
}

void Datapath::write_port(uint32_t gen, const xdpnet_port &p)
{
	uint32_t k = gen * XDPNET_MAX_PORTS + p.slot;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_ports), &k, &p, BPF_ANY));
}

void Datapath::put_port(uint32_t gen, const PortSpec &s)
{
	xdpnet_port p{};
	p.ifindex = iface(s.iface).ifindex;
	p.slot = s.slot;
	p.pvid = s.pvid;
	p.mode = s.mode;
	p.flags = s.flags;
	memcpy(p.mac, s.mac.data(), 6);
	p.mac_limit = s.mac_limit;
	for (uint16_t v : s.vlans)
		p.vlans[v / 64] |= 1ULL << (v % 64);
	if (s.pvid)
		p.vlans[s.pvid / 64] |= 1ULL << (s.pvid % 64);
	write_port(gen, p);
	uint32_t k = gen * XDPNET_MAX_IFINDEX + p.ifindex, slot1 = s.slot + 1u;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_portidx), &k, &slot1, BPF_ANY));
	uint32_t tk = gen * XDPNET_MAX_PORTS + p.slot;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_tx), &tk, &p.ifindex, BPF_ANY));
}

xdpnet_port Datapath::get_port(uint32_t gen, uint16_t slot)
{
	xdpnet_port p{};
	uint32_t k = gen * XDPNET_MAX_PORTS + slot;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_ports), &k, &p));
	return p;
}

void Datapath::put_vlan(uint32_t gen, uint16_t vid, const std::vector<const PortSpec *> &members,
			std::optional<std::vector<uint32_t>> flood_ifindexes)
{
	xdpnet_vlan v{};
	for (auto *m : members)
		v.members[v.count++] = uint8_t(m->slot);
	uint32_t k = gen * XDPNET_VLAN_COUNT + vid;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_vlans), &k, &v, BPF_ANY));

	std::vector<uint32_t> ifs;
	if (flood_ifindexes)
		ifs = *flood_ifindexes;
	else
		for (auto *m : members)
			ifs.push_back(iface(m->iface).ifindex);
	int inner = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "xt_flood", sizeof(uint32_t),
				   sizeof(bpf_devmap_val), XDPNET_MAX_PORTS, nullptr);
	if (inner < 0) {
		ADD_FAILURE() << "flood devmap create: " << strerror(errno);
		return;
	}
	inner_fds_.push_back(inner);
	for (uint32_t ifi : ifs) {
		bpf_devmap_val dv{};
		dv.ifindex = ifi;
		dv.bpf_prog.fd = pfd(skel->progs.xdpnet_flood_egress);
		XT_CHECK(bpf_map_update_elem(inner, &ifi, &dv, BPF_ANY));
	}
	pending_keys_.push_back(k);
	pending_fds_.push_back(inner);
}

void Datapath::flush_floods()
{
	if (pending_keys_.empty())
		return;
	uint32_t n = uint32_t(pending_keys_.size());
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	XT_CHECK(bpf_map_update_batch(mfd(skel->maps.xdpnet_flood), pending_keys_.data(), pending_fds_.data(), &n, &bo));
	pending_keys_.clear();
	pending_fds_.clear();
}

void Datapath::del_flood(uint32_t gen, uint16_t vid)
{
	uint32_t k = gen * XDPNET_VLAN_COUNT + vid;
	XT_CHECK(bpf_map_delete_elem(mfd(skel->maps.xdpnet_flood), &k));
}

void Datapath::del_tx(uint32_t gen, uint16_t slot)
{
	uint32_t k = gen * XDPNET_MAX_PORTS + slot;
	XT_CHECK(bpf_map_delete_elem(mfd(skel->maps.xdpnet_tx), &k));
}

void Datapath::install(uint32_t gen, const std::vector<PortSpec> &ports, uint64_t aging_ns, bool flush)
{
	set_config(gen, aging_ns);
	std::map<uint16_t, std::vector<const PortSpec *>> vlans;
	for (auto &p : ports) {
		put_port(gen, p);
		std::set<uint16_t> vs(p.vlans.begin(), p.vlans.end());
		if (p.pvid)
			vs.insert(p.pvid);
		for (uint16_t v : vs)
			vlans[v].push_back(&p);
	}
	for (auto &[vid, members] : vlans)
		put_vlan(gen, vid, members);
	if (flush)
		flush_floods();
}

void Datapath::fdb_put(uint16_t vlan, const Mac &mac, uint16_t slot, uint32_t ifindex, uint64_t last_seen,
		       uint8_t flags)
{
	xdpnet_fdb_key k{};
	k.vlan = vlan;
	memcpy(k.mac, mac.data(), 6);
	xdpnet_fdb_entry e{};
	e.last_seen_ns = last_seen;
	e.ifindex = ifindex;
	e.slot = slot;
	e.flags = flags;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_fdb), &k, &e, BPF_ANY));
	bump_fdb_version();
}

void Datapath::bump_fdb_version()
{
	// As the loader does after every FDB change: invalidates the per-CPU cache.
	uint32_t zero = 0, v = 0;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_fdbver), &zero, &v));
	v++;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_fdbver), &zero, &v, BPF_ANY));
}

uint32_t Datapath::fdb_version()
{
	uint32_t zero = 0, v = 0;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_fdbver), &zero, &v));
	return v;
}

void Datapath::fdb_put(uint16_t vlan, const Mac &mac, P port, uint64_t last_seen, uint8_t flags)
{
	fdb_put(vlan, mac, kSlot[port], iface(std_ports()[port].iface).ifindex, last_seen, flags);
}

std::optional<xdpnet_fdb_entry> Datapath::fdb_get(uint16_t vlan, const Mac &mac)
{
	xdpnet_fdb_key k{};
	k.vlan = vlan;
	memcpy(k.mac, mac.data(), 6);
	xdpnet_fdb_entry e{};
	if (bpf_map_lookup_elem(mfd(skel->maps.xdpnet_fdb), &k, &e) != 0)
		return std::nullopt;
	return e;
}

size_t Datapath::fdb_count()
{
	size_t n = 0;
	xdpnet_fdb_key k{}, next{};
	const void *prev = nullptr;
	while (bpf_map_get_next_key(mfd(skel->maps.xdpnet_fdb), prev, &next) == 0) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

uint32_t Datapath::maccnt(uint16_t slot)
{
	uint32_t k = slot, v = 0;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_maccnt), &k, &v));
	return v;
}

void Datapath::set_maccnt(uint16_t slot, uint32_t n)
{
	uint32_t k = slot;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_maccnt), &k, &n, BPF_ANY));
}

xdpnet_gc Datapath::gc()
{
	xdpnet_gc g{};
	uint32_t zero = 0;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_gc), &zero, &g));
	return g;
}

void Datapath::set_gc_interval(uint64_t ns)
{
	xdpnet_gc g = gc();
	g.interval_ns = ns;
	uint32_t zero = 0;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_gc), &zero, &g, BPF_ANY));
}

Snapshot Datapath::snapshot()
{
	static const int ncpu = libbpf_num_possible_cpus();
	Snapshot s;
	s.slots.resize(XDPNET_STATS_SLOTS);
	std::vector<xdpnet_port_stats> percpu(ncpu);
	for (uint32_t slot = 0; slot < XDPNET_STATS_SLOTS; slot++) {
		XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_stats), &slot, percpu.data()));
		auto &sum = s.slots[slot];
		memset(&sum, 0, sizeof(sum));
		for (auto &c : percpu) {
			for (int i = 0; i < XDPNET_CTR_MAX; i++)
				sum.ctr[i] += c.ctr[i];
			for (int i = 0; i < XDPNET_DROP_MAX; i++)
				sum.drops[i] += c.drops[i];
		}
	}
	return s;
}

void Datapath::put_config(uint32_t gen, const xdpnet_config &c)
{
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_config), &gen, &c, BPF_ANY));
}

xdpnet_config Datapath::get_config(uint32_t gen)
{
	xdpnet_config c{};
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_config), &gen, &c));
	return c;
}

void Datapath::set_port_flags(uint32_t gen, uint16_t slot, uint8_t flags, uint8_t dscp)
{
	xdpnet_port p = get_port(gen, slot);
	p.flags = flags;
	p.dscp = dscp;
	write_port(gen, p);
}

void Datapath::put_policer(uint32_t gen, uint16_t slot, uint32_t dir, const xdpnet_policer &p)
{
	uint32_t k = (gen * XDPNET_MAX_PORTS + slot) * 2 + dir;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_policers), &k, &p, BPF_ANY));
}

void Datapath::put_network(uint32_t gen, uint16_t vid, uint32_t gw_ip, uint8_t len, const Mac &router_mac)
{
	xdpnet_gateway gw{};
	gw.gw_ip = htonl(gw_ip);
	gw.prefix_len = len;
	memcpy(gw.router_mac, router_mac.data(), 6);
	uint32_t k = gen * XDPNET_VLAN_COUNT + vid;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_gateway), &k, &gw, BPF_ANY));
	xdpnet_route_key rk{};
	rk.prefixlen = 32 + len;
	rk.gen = gen;
	rk.addr = gw.gw_ip & xdpnet_prefix_mask(len);
	xdpnet_route rv{};
	rv.vid = vid;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_routes), &rk, &rv, BPF_ANY));
	// Like the loader: the trie, and the configuration's inline subnets.
	xdpnet_config c = get_config(gen);
	xdpnet_config_add_subnet(&c, gw.gw_ip, len, vid);
	put_config(gen, c);
}

void Datapath::put_neigh(uint16_t vid, uint32_t ip, const Mac &mac, uint8_t state, uint64_t updated)
{
	xdpnet_neigh_key k{};
	k.vid = vid;
	k.ip = htonl(ip);
	xdpnet_neigh n{};
	n.updated_ns = updated;
	n.state = state;
	memcpy(n.mac, mac.data(), 6);
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_neigh), &k, &n, BPF_ANY));
}

xdpnet_bucket Datapath::bucket(uint16_t slot, uint32_t dir)
{
	xdpnet_bucket b{};
	uint32_t k = slot * 2u + dir;
	XT_CHECK(bpf_map_lookup_elem(mfd(skel->maps.xdpnet_buckets), &k, &b));
	return b;
}

void Datapath::set_bucket(uint16_t slot, uint32_t dir, const xdpnet_bucket &b)
{
	uint32_t k = slot * 2u + dir;
	XT_CHECK(bpf_map_update_elem(mfd(skel->maps.xdpnet_buckets), &k, &b, BPF_ANY));
}

uint64_t Datapath::clock_now()
{
	Bytes in(64, 0);
	RunResult r = run_xdp(skel->progs.xdpnet_clock, in, 0);
	EXPECT_EQ(r.err, 0);
	uint64_t now = 0;
	if (r.out.size() >= 8)
		memcpy(&now, r.out.data(), 8);
	return now;
}

xdpnet_policer make_policer(uint64_t bps, uint64_t burst_bytes, uint64_t pps, uint64_t burst_pkts, uint8_t exceed,
			    uint8_t remark_dscp)
{
	auto ceil_div = [](uint64_t a, uint64_t b) { return a / b + (a % b != 0); };
	xdpnet_policer p{};
	p.bits.rate = bps;
	p.bits.depth = burst_bytes * XDPNET_BIT_COST;
	p.bits.fill_ns = bps ? ceil_div(p.bits.depth, bps) : 0;
	p.packets.rate = pps;
	p.packets.depth = burst_pkts * XDPNET_TOKEN_SCALE;
	p.packets.fill_ns = pps ? ceil_div(p.packets.depth, pps) : 0;
	p.exceed = exceed;
	p.remark_dscp = remark_dscp;
	p.full_s = uint32_t(ceil_div(std::max(p.bits.fill_ns, p.packets.fill_ns), 1000000000ULL));
	return p;
}

RunResult Datapath::run_xdp(bpf_program *prog, const Bytes &data, uint32_t ifindex, uint32_t meta)
{
	RunResult r;
	r.out.resize(data.size() + 256);
	xdp_md ctx{};
	ctx.data = meta;
	ctx.data_end = uint32_t(data.size());
	ctx.ingress_ifindex = ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, o);
	o.data_in = data.data();
	o.data_size_in = uint32_t(data.size());
	o.data_out = r.out.data();
	o.data_size_out = uint32_t(r.out.size());
	if (ifindex || meta) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	o.repeat = 1;
	r.err = bpf_prog_test_run_opts(pfd(prog), &o);
	r.retval = o.retval;
	r.out.resize(r.err ? 0 : o.data_size_out);
	return r;
}

// One frame at ifindex, `repeat` times in one test run (no output buffer).
static int run_frame(int prog_fd, const Bytes &frame, uint32_t ifindex, uint32_t repeat, uint32_t flags,
		     uint32_t *retval)
{
	xdp_md ctx{};
	ctx.data_end = uint32_t(frame.size());
	ctx.ingress_ifindex = ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, o);
	o.data_in = frame.data();
	o.data_size_in = uint32_t(frame.size());
	o.ctx_in = &ctx;
	o.ctx_size_in = sizeof(ctx);
	o.repeat = repeat;
	o.flags = flags;
	const int err = bpf_prog_test_run_opts(prog_fd, &o);
	if (retval)
		*retval = o.retval;
	return err;
}

int Datapath::run_xdp_repeat(bpf_program *prog, const Bytes &frame, uint32_t ifindex, uint32_t repeat,
			     uint32_t *retval)
{
	return run_frame(pfd(prog), frame, ifindex, repeat, 0, retval);
}

int Datapath::run_xdp_live(bpf_program *prog, const Bytes &frame, uint32_t ifindex)
{
	return run_frame(pfd(prog), frame, ifindex, 1, BPF_F_TEST_XDP_LIVE_FRAMES, nullptr);
}

RunResult Datapath::run_tc(bpf_program *prog, const Bytes &frame, uint32_t ifindex)
{
	RunResult r;
	r.out.resize(frame.size() + 256);
	__sk_buff ctx{};
	ctx.ifindex = ifindex;
	ctx.ingress_ifindex = ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, o);
	o.data_in = frame.data();
	o.data_size_in = uint32_t(frame.size());
	o.data_out = r.out.data();
	o.data_size_out = uint32_t(r.out.size());
	o.ctx_in = &ctx;
	o.ctx_size_in = sizeof(ctx);
	o.repeat = 1;
	r.err = bpf_prog_test_run_opts(pfd(prog), &o);
	r.retval = o.retval;
	r.out.resize(r.err ? 0 : o.data_size_out);
	return r;
}

// ---------------------------------------------------------------------------
// Capture.
namespace {
struct cap_rec {
	uint32_t ifindex;
	uint32_t len;
	uint8_t data[256];
};
} // namespace

Capture &Capture::get()
{
	static Capture *c = new Capture(); // lives as long as the process (and the netns)
	return *c;
}

Capture::Capture()
{
	skel_ = prog_capture__open_and_load();
	if (!skel_)
		die("loading the capture program");
	for (int i = 0; i < kIfaces; i++) {
		int err = bpf_xdp_attach(iface(i).peer_ifindex, bpf_program__fd(skel_->progs.capture),
					 XDP_FLAGS_DRV_MODE, nullptr);
		if (err) {
			errno = -err;
			die("attaching the capture program to " + iface(i).peer);
		}
	}
	rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.cap_ring), on_sample, this, nullptr);
	if (!rb_)
		die("ring_buffer__new");
}

int Capture::on_sample(void *ctx, void *data, size_t len)
{
	auto *self = static_cast<Capture *>(ctx);
	if (len < sizeof(cap_rec))
		return 0;
	auto *r = static_cast<cap_rec *>(data);
	Captured c;
	c.iface = -1;
	for (int i = 0; i < kIfaces; i++)
		if (iface(i).peer_ifindex == r->ifindex)
			c.iface = i;
	c.data.assign(r->data, r->data + std::min<uint32_t>(r->len, sizeof(r->data)));
	self->got_.push_back(std::move(c));
	return 0;
}

void Capture::drain()
{
	ring_buffer__consume(rb_);
	got_.clear();
}

std::vector<Captured> Capture::collect(size_t want, int timeout_ms)
{
	timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ring_buffer__poll(rb_, 20);
		if (got_.size() >= want)
			break;
		timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			break;
	}
	ring_buffer__poll(rb_, 50); // anything extra that was on its way
	std::vector<Captured> out;
	out.swap(got_);
	return out;
}

} // namespace xt

// ---------------------------------------------------------------------------
// Per-flow accounting.
#include <sys/mman.h>

namespace xt {

PinCpu::PinCpu(int cpu)
{
	saved_ = sched_getaffinity(0, sizeof(old_), &old_) == 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ok_ = sched_setaffinity(0, sizeof(set), &set) == 0 && sched_getcpu() == cpu;
}

PinCpu::~PinCpu()
{
	if (saved_)
		sched_setaffinity(0, sizeof(old_), &old_);
}

void set_flow_bits(Datapath &dp, uint32_t gen, uint8_t bits)
{
	xdpnet_config c = dp.get_config(gen);
	c.flow_bits = bits;
	dp.put_config(gen, c);
}

namespace {
// The flow table's mmap (the whole table, page-rounded), or nullptr.
struct FlowMap {
	void *p = nullptr;
	size_t len = 0, n = 0;
	FlowMap(Datapath &dp, int prot)
	{
		bpf_map *m = dp.skel->maps.xdpnet_flows;
		n = bpf_map__max_entries(m);
		const size_t pg = size_t(sysconf(_SC_PAGESIZE));
		len = (n * sizeof(xdpnet_flow) + pg - 1) / pg * pg;
		p = mmap(nullptr, len, prot, MAP_SHARED, dp.mfd(m), 0);
		if (p == MAP_FAILED) {
			ADD_FAILURE() << "mmap of xdpnet_flows: " << strerror(errno);
			p = nullptr;
		}
	}
	~FlowMap()
	{
		if (p)
			munmap(p, len);
	}
};
} // namespace

std::vector<xdpnet_flow> flow_table(Datapath &dp)
{
	FlowMap m(dp, PROT_READ);
	std::vector<xdpnet_flow> v(m.n);
	if (m.p)
		memcpy(v.data(), m.p, m.n * sizeof(xdpnet_flow));
	return v;
}

void flow_put(Datapath &dp, uint32_t index, const xdpnet_flow &f)
{
	XT_CHECK(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_flows), &index, &f, BPF_ANY));
}

void flow_reset(Datapath &dp)
{
	{
		FlowMap m(dp, PROT_READ | PROT_WRITE);
		if (m.p)
			memset(m.p, 0, m.n * sizeof(xdpnet_flow));
	}
	std::vector<xdpnet_flow_cpu> zero(static_cast<size_t>(libbpf_num_possible_cpus()));
	uint32_t k = 0;
	XT_CHECK(bpf_map_update_elem(dp.mfd(dp.skel->maps.xdpnet_flow_cpu), &k, zero.data(), BPF_ANY));
}

std::vector<xdpnet_flow_cpu> flow_cpu(Datapath &dp)
{
	std::vector<xdpnet_flow_cpu> v(static_cast<size_t>(libbpf_num_possible_cpus()));
	uint32_t k = 0;
	XT_CHECK(bpf_map_lookup_elem(dp.mfd(dp.skel->maps.xdpnet_flow_cpu), &k, v.data()));
	return v;
}

std::vector<xdpnet_flow_event> flow_events(Datapath &dp)
{
	std::vector<xdpnet_flow_event> out;
	auto cb = [](void *ctx, void *data, size_t len) -> int {
		auto *v = static_cast<std::vector<xdpnet_flow_event> *>(ctx);
		if (len != sizeof(xdpnet_flow_event)) {
			ADD_FAILURE() << "flow event of " << len << " bytes, expected " << sizeof(xdpnet_flow_event);
			return 0;
		}
		v->push_back(*static_cast<const xdpnet_flow_event *>(data));
		return 0;
	};
	ring_buffer *rb = ring_buffer__new(dp.mfd(dp.skel->maps.xdpnet_flow_events), cb, &out, nullptr);
	if (!rb) {
		ADD_FAILURE() << "ring_buffer__new(xdpnet_flow_events): " << strerror(errno);
		return out;
	}
	int n = ring_buffer__consume(rb);
	if (n < 0)
		ADD_FAILURE() << "ring_buffer__consume: " << strerror(-n);
	ring_buffer__free(rb);
	return out;
}

xdpnet_flow_key flow_key6(const std::array<uint8_t, 16> &saddr, const std::array<uint8_t, 16> &daddr,
			  uint8_t proto, uint16_t sport, uint16_t dport, uint8_t in_slot, uint16_t vid)
{
	xdpnet_flow_key k{};
	memcpy(k.saddr, saddr.data(), 16);
	memcpy(k.daddr, daddr.data(), 16);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	k.in_slot = in_slot;
	k.vid = vid;
	return k;
}

xdpnet_flow_key flow_key4(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t sport, uint16_t dport,
			  uint8_t in_slot, uint16_t vid)
{
	// IPv4-mapped IPv6 (::ffff:a.b.c.d), as the datapath keys IPv4.
	auto mapped = [](uint32_t a) {
		std::array<uint8_t, 16> m{};
		m[10] = m[11] = 0xff;
		const uint32_t n = htonl(a);
		memcpy(&m[12], &n, 4);
		return m;
	};
	return flow_key6(mapped(saddr), mapped(daddr), proto, sport, dport, in_slot, vid);
}

uint64_t flow_hash(const xdpnet_flow_key &k)
{
	static_assert(sizeof(k) == 5 * sizeof(uint64_t), "the key is five words");
	__u64 w[5];
	memcpy(w, &k, sizeof(w)); // little-endian words, as the datapath reads them
	return xdpnet_flow_hash(w);
}

uint32_t flow_pair(const xdpnet_flow_key &k, uint32_t cpu, uint32_t bits)
{
	return (cpu << bits) | xdpnet_flow_pair(flow_hash(k), bits);
}

uint32_t flow_pair2(const xdpnet_flow_key &k, uint32_t cpu, uint32_t bits)
{
	return (cpu << bits) | xdpnet_flow_pair2(flow_hash(k), bits);
}

bool flow_key_eq(const xdpnet_flow_key &a, const xdpnet_flow_key &b) { return memcmp(&a, &b, sizeof(a)) == 0; }

std::string flow_key_str(const xdpnet_flow_key &k)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, k.saddr, s, sizeof(s));
	inet_ntop(AF_INET6, k.daddr, d, sizeof(d));
	return "proto " + std::to_string(k.proto) + " [" + s + "]:" + std::to_string(ntohs(k.sport)) + " -> [" + d +
	       "]:" + std::to_string(ntohs(k.dport)) + " in_slot " + std::to_string(k.in_slot) + " vid " +
	       std::to_string(k.vid);
}

bool flow_slot_zero(const xdpnet_flow &f)
{
	static const xdpnet_flow zero{};
	return memcmp(&f, &zero, sizeof(f)) == 0;
}

Mac if_mac(const std::string &name)
{
	Mac m{};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ifreq r{};
	strncpy(r.ifr_name, name.c_str(), IFNAMSIZ - 1);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &r) != 0)
		ADD_FAILURE() << "SIOCGIFHWADDR " << name << ": " << strerror(errno);
	else
		memcpy(m.data(), r.ifr_hwaddr.sa_data, 6);
	if (fd >= 0)
		close(fd);
	return m;
}

void uplink_netns()
{
	static bool done = false;
	if (done)
		return;
	const std::string n = iface(kFreeIface).name;
	const std::string cmd = "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; set -e; "
				"ip addr replace 203.0.113.1/24 dev " + n + "; "
				"ip link set " + n + " up; "
				"ip route replace 198.51.100.0/24 via 203.0.113.2 dev " + n + "; "
				"ip neigh replace 203.0.113.2 lladdr 02:00:00:00:00:fe dev " + n +
				" nud permanent; "
				"echo 1 > /proc/sys/net/ipv4/conf/" + n + "/forwarding";
	ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
	done = true;
}

static std::string uplink_route_cmd()
{
	return "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH; ip route replace 198.51.100.0/24 via "
	       "203.0.113.2 dev " + iface(kFreeIface).name;
}

UplinkPathMtu::UplinkPathMtu(int mtu)
{
	ok_ = system((uplink_route_cmd() + " mtu lock " + std::to_string(mtu)).c_str()) == 0;
}

UplinkPathMtu::~UplinkPathMtu()
{
	(void)system(uplink_route_cmd().c_str());
}

xdpnet_ct_key K(uint8_t side, uint8_t proto, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp)
{
	xdpnet_ct_key k{};
	k.saddr = htonl(s);
	k.daddr = htonl(d);
	k.sport = htons(sp);
	k.dport = htons(dp);
	k.proto = proto;
	k.side = side;
	return k;
}

} // namespace xt
