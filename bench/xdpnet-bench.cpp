// xdpnet-bench: the measuring half of bench/run.sh.
//
//   xdpnet-bench macs SET [N]     print the MACs of a template set (for the policy
//                                 and the bridge's static FDB)
//   xdpnet-bench run [options]    live-frames throughput and program cost, one JSON
//                                 object per measured run on --out
//   xdpnet-bench flow-fill ...    N synthetic active flows in the instance's flow
//                                 table, news for each every second (run.sh's flow
//                                 export part: the daemon's throughput and CPU)
//   xdpnet-bench flow-bits ...    read (or set) the live generation's flow_bits
//
// run.sh builds the topology (veths xbp0..4 + xbb0/1 in the root namespace, their
// peers xbvN in namespaces xbnsN, a Linux bridge xbbr0 over xbb0/xbb1) and starts
// xdpnet (instance "bench") on xbp0..4. This program loads the generator, the
// baselines and one counting sink per namespace end (attached by bpf_link from
// inside each namespace, so they go away with this process), then runs every
// scenario round-robin, --runs times, pinned to one CPU.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "bench.h"
#include "xdpnet/abi.h"
#include "xb_gen.skel.h"
#include "xb_sink.skel.h"
#include "xb_trivial.skel.h"

namespace {

[[noreturn]] void die(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xdpnet-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void note(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xdpnet-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

// This thread's CPU time and involuntary context switches: a live run's
// injection loop never sleeps, so CPU time / wall time below 1 is time other
// tasks took from the generator's core (machine load), and shows in the rate.
struct ThreadUse {
    double cpu_s = 0;
    long nivcsw = 0;
    static ThreadUse now()
    {
        ThreadUse u;
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        u.cpu_s = ts.tv_sec + ts.tv_nsec * 1e-9;
        rusage ru{};
        getrusage(RUSAGE_THREAD, &ru);
        u.nivcsw = ru.ru_nivcsw;
        return u;
    }
};

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ncpus()
{
    int n = libbpf_num_possible_cpus();
    if (n <= 0)
        die("cannot count CPUs");
    return n;
}

// Entry 0 of a per-CPU array of all-u64 structs, summed over CPUs word by word.
template <class T>
T percpu_sum(int map_fd, const char* what)
{
    static_assert(sizeof(T) % sizeof(uint64_t) == 0, "summed as u64 words");
    std::vector<T> v(ncpus());
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(map_fd, &zero, v.data()))
        die("%s: %s", what, strerror(errno));
    T sum{};
    auto* s = reinterpret_cast<uint64_t*>(&sum);
    for (const T& c : v)
        for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); i++)
            s[i] += reinterpret_cast<const uint64_t*>(&c)[i];
    return sum;
}

// ---------------------------------------------------------------------------
// MAC sets and template frames

using Mac = std::array<uint8_t, 6>;

// Template MAC sets: 02:<tag>:00:00:<i>. Each scenario uses its own sources so
// no MAC moves between ports; destinations d1 sit behind xbp1 (and xbb1 on the
// bridge), d2 behind the trunk xbp2, uu is never learned (unknown unicast).
const std::map<std::string, uint8_t> kMacSets = {
    {"s_aa", 0xa1}, {"s_at", 0xa2}, {"s_ta", 0xa3}, {"s_fl", 0xa4}, {"s_br", 0xa5},
    {"d1", 0xd1},   {"d2", 0xd2},   {"uu", 0xee},   {"vm", 0xb3},
};

Mac set_mac(const std::string& set, uint32_t i)
{
    auto it = kMacSets.find(set);
    if (it == kMacSets.end())
        die("unknown MAC set %s", set.c_str());
    return {0x02, it->second, 0x00, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
}

Mac fill_mac(uint32_t i)
{
    return {XB_FILL_MAC0, XB_FILL_MAC1, uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
}

std::string mac_str(const Mac& m)
{
    char b[18];
    snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return b;
}

uint16_t ip_csum(const uint8_t* p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (p[i] << 8) | p[i + 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
}

// A 64-byte Ethernet/IPv4/UDP frame (68 with an 802.1Q tag), flow i:
// 10.0.<i>/10.1.<i>, UDP ports 1024+i -> 9.
std::vector<uint8_t> make_frame(const Mac& src, const Mac& dst, uint16_t vid, uint32_t i)
{
    std::vector<uint8_t> f;
    f.insert(f.end(), dst.begin(), dst.end());
    f.insert(f.end(), src.begin(), src.end());
    if (vid) {
        f.push_back(0x81);
        f.push_back(0x00);
        f.push_back(vid >> 8);
        f.push_back(vid & 0xff);
    }
    f.push_back(0x08);
    f.push_back(0x00);
    size_t ip = f.size();
    const uint16_t ip_len = 64 - 14;
    uint8_t iph[20] = {0x45, 0, uint8_t(ip_len >> 8), uint8_t(ip_len), 0, 0, 0x40, 0, 64, 17, 0, 0,
                       10, 0, uint8_t(i >> 8), uint8_t(i), 10, 1, uint8_t(i >> 8), uint8_t(i)};
    uint16_t c = ip_csum(iph, 20);
    iph[10] = c >> 8;
    iph[11] = c & 0xff;
    f.insert(f.end(), iph, iph + 20);
    uint16_t sport = 1024 + (i & 0x7fff), udp_len = ip_len - 20;
    uint8_t udp[8] = {uint8_t(sport >> 8), uint8_t(sport), 0, 9, uint8_t(udp_len >> 8), uint8_t(udp_len), 0, 0};
    f.insert(f.end(), udp, udp + 8);
    while (f.size() < ip + ip_len)
        f.push_back(uint8_t(0xa0 + (f.size() & 0xf)));
    return f;
}

struct TmplSet {
    std::string src, dst;
    uint16_t vid = 0; // tag on the injected frames (trunk ingress)
    // Routed/NAT scenarios: frame i comes from here instead (64 bytes,
    // untagged), and there are `flows` of them (0: the run's --flows).
    std::function<std::vector<uint8_t>(uint32_t)> make = nullptr;
    uint32_t flows = 0;
    uint32_t frame_len() const { return vid ? 68 : 64; }
};

std::vector<std::vector<uint8_t>> make_templates(const TmplSet& ts, uint32_t n)
{
    std::vector<std::vector<uint8_t>> v;
    if (ts.make) {
        for (uint32_t i = 0; i < n; i++)
            v.push_back(ts.make(i));
        return v;
    }
    for (uint32_t i = 0; i < n; i++) {
        // distinct (src, dst) pairs: dst index is an odd-multiplier permutation of i
        uint32_t d = (i * 389u) % n;
        v.push_back(make_frame(set_mac(ts.src, i), set_mac(ts.dst, d), ts.vid, i));
    }
    return v;
}

// ---------------------------------------------------------------------------
// Routed / NAT frames: a VM segment 10.0.30.0/24 behind a router, an uplink
// link 198.18.0.0/24 (the router's address .1, the next hop .2) and remote
// servers in 198.19.0.0/16 behind the next hop (RFC 2544's benchmark range,
// unused on this host). run.sh builds the same addressing three times: in
// namespace xbnsfw (Linux forwarding), in xbnsnt (Linux + nftables masquerade)
// and in the root namespace for xdpnet (VM port xbp5, uplink xbu0).

constexpr uint32_t kNatVmNet = 0x0a001e00;    // 10.0.30.0/24, the VMs
constexpr uint32_t kNatGw = 0x0a001e01;       // 10.0.30.1, their gateway
constexpr uint32_t kNatVmFirst = 10;          // VM addresses 10.0.30.10 ..
constexpr uint32_t kNatVms = 200;             // .. 10.0.30.209, one MAC each
constexpr uint32_t kNatUplinkIp = 0xc6120001; // 198.18.0.1: the masquerade address
constexpr uint32_t kNatRemoteNet = 0xc6130000; // 198.19.0.0/16, the remote servers
constexpr uint32_t kNatRemotes = 64;           // 198.19.0.1 .. 198.19.0.64
constexpr uint16_t kNatSportBase = 20000;      // flow i's source port: 20000 + i
constexpr uint16_t kNatDport = 443;
constexpr uint32_t kNatMaxFlows = 40000; // source ports stay inside 20000-59999

uint32_t nat_vm_ip(uint32_t i) { return kNatVmNet + kNatVmFirst + i % kNatVms; }
Mac nat_vm_mac(uint32_t i) { return set_mac("vm", i % kNatVms); }
uint32_t nat_remote_ip(uint32_t i) { return kNatRemoteNet + 1 + i % kNatRemotes; }
uint16_t nat_sport(uint32_t i) { return uint16_t(kNatSportBase + i); }

uint32_t csum_add(uint32_t s, const uint8_t* p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (p[i] << 8) | p[i + 1];
    if (n & 1)
        s += p[n - 1] << 8;
    return s;
}

uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
}

// A 64-byte Ethernet/IPv4/UDP frame with valid IPv4 and UDP checksums
// (conntrack checks the UDP checksum of frames that arrive without checksum
// offload, and a NAT must keep it right): saddr:sport -> daddr:dport, host order.
std::vector<uint8_t> make_udp_frame(const Mac& src, const Mac& dst, uint32_t saddr, uint32_t daddr,
                                    uint16_t sport, uint16_t dport)
{
    std::vector<uint8_t> f(64, 0);
    std::copy(dst.begin(), dst.end(), f.begin());
    std::copy(src.begin(), src.end(), f.begin() + 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f.data() + 14;
    const uint16_t ip_len = 64 - 14, udp_len = ip_len - 20;
    auto put32 = [](uint8_t* p, uint32_t v) {
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
    };
    uint8_t iph[20] = {0x45, 0, uint8_t(ip_len >> 8), uint8_t(ip_len), 0, 0, 0x40, 0, 64, 17, 0, 0};
    put32(iph + 12, saddr);
    put32(iph + 16, daddr);
    uint16_t c = csum_fold(csum_add(0, iph, 20));
    iph[10] = c >> 8;
    iph[11] = c & 0xff;
    std::copy(iph, iph + 20, ip);
    uint8_t* udp = ip + 20;
    udp[0] = sport >> 8;
    udp[1] = sport;
    udp[2] = dport >> 8;
    udp[3] = dport;
    udp[4] = udp_len >> 8;
    udp[5] = udp_len;
    for (uint32_t k = 8; k < udp_len; k++)
        udp[k] = uint8_t(0xa0 + (k & 0xf));
    // pseudo header: saddr, daddr, 0, proto, UDP length
    uint8_t ph[12];
    put32(ph, saddr);
    put32(ph + 4, daddr);
    ph[8] = 0;
    ph[9] = 17;
    ph[10] = udp_len >> 8;
    ph[11] = udp_len;
    uint16_t uc = csum_fold(csum_add(csum_add(0, ph, 12), udp, udp_len));
    if (uc == 0)
        uc = 0xffff; // 0 would mean "no checksum"
    udp[6] = uc >> 8;
    udp[7] = uc & 0xff;
    return f;
}

// Flow i leaving a VM: VM address/port -> remote server, to the router's MAC
// on the VM side.
std::vector<uint8_t> nat_out_frame(const Mac& router, uint32_t i)
{
    return make_udp_frame(nat_vm_mac(i), router, nat_vm_ip(i), nat_remote_ip(i), nat_sport(i), kNatDport);
}

// The reply to flow i arriving on the uplink: remote server -> the masquerade
// address, to the same port (a masquerade keeps a free source port, and the
// flows' source ports are all distinct), from the next hop's MAC.
std::vector<uint8_t> nat_in_frame(const Mac& nexthop, const Mac& router_up, uint32_t i)
{
    return make_udp_frame(nexthop, router_up, nat_remote_ip(i), kNatUplinkIp, kNatDport, nat_sport(i));
}

// VM i's ARP reply to the gateway (padded to 64 bytes): teaches a router that
// learns neighbours from ARP where VM i lives, before the reply-in runs.
std::vector<uint8_t> nat_arp_frame(const Mac& router, uint32_t i)
{
    std::vector<uint8_t> f(64, 0);
    Mac vm = nat_vm_mac(i);
    uint32_t ip = nat_vm_ip(i);
    std::copy(router.begin(), router.end(), f.begin());
    std::copy(vm.begin(), vm.end(), f.begin() + 6);
    f[12] = 0x08;
    f[13] = 0x06;
    const uint8_t hdr[8] = {0, 1, 8, 0, 6, 4, 0, 2}; // Ethernet, IPv4, reply
    std::copy(hdr, hdr + 8, f.begin() + 14);
    std::copy(vm.begin(), vm.end(), f.begin() + 22);
    for (int k = 0; k < 4; k++)
        f[28 + k] = uint8_t(ip >> (24 - 8 * k));
    std::copy(router.begin(), router.end(), f.begin() + 32);
    for (int k = 0; k < 4; k++)
        f[38 + k] = uint8_t(kNatGw >> (24 - 8 * k));
    return f;
}

// New connections (generator mode XB_GEN_NEW_TUPLE, see bench.h): tuple c,
// as the generator makes it from template 0 = nat_new_frame(router, 0).
constexpr uint32_t kNatNewRemoteNet = kNatRemoteNet + XB_NT_DADDR_LO; // 198.19.1.0

std::vector<uint8_t> nat_new_frame(const Mac& router, uint64_t c)
{
    uint32_t k = uint32_t(c / XB_NT_PORTS), vm = k % XB_NT_VMS;
    return make_udp_frame(set_mac("vm", vm), router, kNatVmNet + XB_NT_VM_FIRST + vm, kNatNewRemoteNet + k,
                          uint16_t(XB_NT_PORT_LO + c % XB_NT_PORTS), kNatDport);
}

// The partial sums the generator completes (xb_gen_cfg.nt_ip_sum/nt_udp_sum):
// the template's IPv4 header and UDP pseudo header + datagram with the
// checksum fields and the changing words (source and destination address low
// words, UDP source port) zeroed.
std::pair<uint32_t, uint32_t> nat_new_sums(std::vector<uint8_t> f)
{
    for (size_t off : {24, 28, 32, 34, 40}) // ip csum, saddr lo, daddr lo, sport, udp csum
        f[off] = f[off + 1] = 0;
    const uint8_t* ip = f.data() + 14;
    uint32_t ip_sum = csum_add(0, ip, 20);
    const uint16_t udp_len = uint16_t((ip[24] << 8) | ip[25]);
    uint8_t ph[12] = {ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19], 0, 17,
                      uint8_t(udp_len >> 8), uint8_t(udp_len)};
    uint32_t udp_sum = csum_add(csum_add(0, ph, 12), ip + 20, udp_len);
    return {ip_sum, udp_sum};
}

Mac parse_mac(const std::string& s)
{
    Mac m{};
    unsigned b[6];
    if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        die("bad MAC %s", s.c_str());
    for (int k = 0; k < 6; k++)
        m[k] = uint8_t(b[k]);
    return m;
}

// ---------------------------------------------------------------------------
// Namespaces

class NetnsGuard {
  public:
    explicit NetnsGuard(const std::string& ns)
    {
        self_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        std::string path = "/run/netns/" + ns;
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (self_ < 0 || fd < 0)
            die("cannot open %s: %s", path.c_str(), strerror(errno));
        if (setns(fd, CLONE_NEWNET))
            die("setns %s: %s", ns.c_str(), strerror(errno));
        close(fd);
    }
    ~NetnsGuard()
    {
        if (setns(self_, CLONE_NEWNET))
            die("setns back: %s", strerror(errno));
        close(self_);
    }

  private:
    int self_ = -1;
};

uint32_t ifindex_of(const std::string& name)
{
    unsigned idx = if_nametoindex(name.c_str());
    if (!idx)
        die("no interface %s", name.c_str());
    return idx;
}

bool netns_exists(const std::string& ns) { return access(("/run/netns/" + ns).c_str(), F_OK) == 0; }

// The MAC of interface `ifname` in namespace `ns` ("" = this one).
Mac mac_of(const std::string& ns, const std::string& ifname)
{
    std::optional<NetnsGuard> in;
    if (!ns.empty())
        in.emplace(ns);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq r{};
    snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname.c_str());
    if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &r) != 0)
        die("MAC of %s/%s: %s", ns.c_str(), ifname.c_str(), strerror(errno));
    close(fd);
    Mac m;
    memcpy(m.data(), r.ifr_hwaddr.sa_data, 6);
    return m;
}

// The XDP program attached to ifname in this namespace (whichever mode), as
// an fd; -1 if none. xdpnet attaches its programs by bpf_link, no dispatcher,
// so this is the program itself; the generator tail-calls it directly.
int attached_xdp_prog(const std::string& ifname)
{
    uint32_t id = 0;
    if (bpf_xdp_query_id(int(ifindex_of(ifname)), 0, &id) || !id)
        return -1;
    return bpf_prog_get_fd_by_id(id);
}

// ---------------------------------------------------------------------------
// Loaded programs

struct Sink {
    std::string ns, ifname;
    xb_sink* skel = nullptr;
    bpf_link* link = nullptr;
    xb_sink_ctr base{};

    void attach()
    {
        skel = xb_sink__open_and_load();
        if (!skel)
            die("load sink: %s", strerror(errno));
        NetnsGuard in(ns);
        link = bpf_program__attach_xdp(skel->progs.xb_sink, ifindex_of(ifname));
        if (!link)
            die("attach sink on %s/%s: %s", ns.c_str(), ifname.c_str(), strerror(errno));
    }
    void expect(uint32_t len, uint32_t vid, uint32_t ip_off = 0, uint32_t ip_val = 0, uint32_t ip_mask = 0)
    {
        uint32_t zero = 0;
        xb_sink_cfg c{len, vid, ip_off, htonl(ip_val), htonl(ip_mask), 0};
        if (bpf_map_update_elem(bpf_map__fd(skel->maps.xb_sink_cfg), &zero, &c, 0))
            die("sink cfg: %s", strerror(errno));
    }
    xb_sink_ctr read() const
    {
        return percpu_sum<xb_sink_ctr>(bpf_map__fd(skel->maps.xb_sink_ctr), "sink read");
    }
    void mark() { base = read(); }
    xb_sink_ctr delta() const
    {
        auto c = read();
        return {c.pkts - base.pkts, c.bytes - base.bytes, c.tagged - base.tagged,
                c.bad_len - base.bad_len, c.bad_vlan - base.bad_vlan, c.bad_ip - base.bad_ip};
    }
    ~Sink()
    {
        if (link)
            bpf_link__destroy(link);
        if (skel)
            xb_sink__destroy(skel);
    }
};

struct Gen {
    xb_gen* skel = nullptr;
    int prog_fd() const { return bpf_program__fd(skel->progs.xb_gen); }

    void load(bool store_bytes)
    {
        skel = xb_gen__open();
        if (!skel)
            die("open generator: %s", strerror(errno));
        skel->rodata->xb_use_store_bytes = store_bytes;
        if (xb_gen__load(skel))
            die("load generator: %s", strerror(errno));
    }
    void set_target(int fd)
    {
        uint32_t zero = 0;
        if (bpf_map_update_elem(bpf_map__fd(skel->maps.xb_target), &zero, &fd, 0))
            die("generator target (tail call into prog fd %d refused): %s", fd, strerror(errno));
    }
    void set_templates(const std::vector<std::vector<uint8_t>>& t, uint32_t frame_len, uint32_t mode = XB_GEN_TEMPLATES,
                       uint32_t fill = 0)
    {
        if (t.empty() || t.size() > XB_MAX_TMPL)
            die("bad template count %zu", t.size());
        std::vector<uint32_t> keys(t.size());
        std::vector<xb_tmpl> vals(t.size());
        for (size_t i = 0; i < t.size(); i++) {
            keys[i] = i;
            memset(&vals[i], 0, sizeof vals[i]);
            if (t[i].size() != frame_len)
                die("template %zu is %zu bytes, not %u", i, t[i].size(), frame_len);
            memcpy(vals[i].data, t[i].data(), t[i].size());
        }
        uint32_t count = t.size();
        if (bpf_map_update_batch(bpf_map__fd(skel->maps.xb_tmpl), keys.data(), vals.data(), &count, nullptr))
            die("templates: %s", strerror(errno));
        xb_gen_cfg c{uint32_t(t.size()), frame_len, mode, fill, 0, 0};
        if (mode == XB_GEN_NEW_TUPLE) {
            if (t.size() != 1 || frame_len != 64)
                die("new-tuple mode takes one 64-byte template");
            std::tie(c.nt_ip_sum, c.nt_udp_sum) = nat_new_sums(t[0]);
        }
        uint32_t zero = 0;
        if (bpf_map_update_elem(bpf_map__fd(skel->maps.xb_gen_cfg), &zero, &c, 0))
            die("generator cfg: %s", strerror(errno));
    }
    // A new UDP tuple on every frame (XB_GEN_NEW_TUPLE), to the router's MAC.
    void set_new_tuples(const Mac& router) { set_templates({nat_new_frame(router, 0)}, 64, XB_GEN_NEW_TUPLE); }
    // Tuples made so far (the generator's seq, summed over CPUs).
    uint64_t seq() const { return read().seq; }
    xb_gen_state read() const
    {
        // Only the counters mean anything summed (not next/rng).
        return percpu_sum<xb_gen_state>(bpf_map__fd(skel->maps.xb_gen_state), "generator read");
    }
    ~Gen()
    {
        if (skel)
            xb_gen__destroy(skel);
    }
};

// The xdpnet instance run.sh started: its ingress program and FDB maps, found
// under the instance's pin directory.
struct Xdpnet {
    int prog = -1, fdb = -1, state = -1, portidx = -1, clock = -1, fdbver = -1;
    int config = -1; // xdpnet_config (per generation): flow_bits says whether flows are accounted
    std::string dir;

    static std::optional<std::string> find_pin(const std::string& dir, const std::vector<std::string>& names)
    {
        namespace fs = std::filesystem;
        std::error_code ec;
        for (auto& n : names)
            if (fs::exists(dir + "/" + n, ec))
                return dir + "/" + n;
        for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
             it.increment(ec)) {
            if (ec)
                break;
            for (auto& n : names)
                if (it->path().filename() == n)
                    return it->path().string();
        }
        return std::nullopt;
    }

    bool open(const std::string& dir)
    {
        auto p = find_pin(dir, {"prog_ingress", "xdpnet_ingress"});
        auto f = find_pin(dir, {"xdpnet_fdb"});
        auto s = find_pin(dir, {"xdpnet_state"});
        auto x = find_pin(dir, {"xdpnet_portidx"});
        auto c = find_pin(dir, {"prog_clock"});
        auto v = find_pin(dir, {"xdpnet_fdbver"});
        if (!p || !f || !s || !x || !c || !v) {
            note("xdpnet pins not found under %s (prog %s, fdb %s, state %s, portidx %s)", dir.c_str(),
                 p ? "ok" : "missing", f ? "ok" : "missing", s ? "ok" : "missing", x ? "ok" : "missing");
            return false;
        }
        prog = bpf_obj_get(p->c_str());
        fdb = bpf_obj_get(f->c_str());
        state = bpf_obj_get(s->c_str());
        portidx = bpf_obj_get(x->c_str());
        clock = bpf_obj_get(c->c_str());
        fdbver = bpf_obj_get(v->c_str());
        if (prog < 0 || fdb < 0 || state < 0 || portidx < 0 || clock < 0 || fdbver < 0) {
            note("cannot open xdpnet pins under %s: %s", dir.c_str(), strerror(errno));
            return false;
        }
        if (auto g = find_pin(dir, {"xdpnet_config"}))
            config = bpf_obj_get(g->c_str());
        this->dir = dir;
        return true;
    }

    // The live generation's configuration (flow_bits 0: flows not accounted).
    uint32_t active_gen() const
    {
        uint32_t zero = 0;
        xdpnet_state st{};
        if (bpf_map_lookup_elem(state, &zero, &st))
            die("xdpnet_state: %s", strerror(errno));
        return st.active_gen & 1;
    }
    std::optional<xdpnet_config> live_config() const
    {
        xdpnet_config c{};
        uint32_t gen = active_gen();
        if (config < 0 || bpf_map_lookup_elem(config, &gen, &c))
            return std::nullopt;
        return c;
    }

    // The datapath clock (the unit of FDB timestamps), from xdpnet's probe.
    uint64_t now_ns() const
    {
        uint64_t in[8] = {}, out[8] = {};
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out, .data_size_in = sizeof(in),
                    .data_size_out = sizeof(out), .repeat = 1);
        if (bpf_prog_test_run_opts(clock, &o) || o.retval != XDP_PASS)
            die("xdpnet clock probe: %s", strerror(errno));
        return out[0];
    }

    // After writing the FDB behind xdpnet's back: invalidate its per-CPU cache.
    void bump_fdb_version() const
    {
        uint32_t zero = 0, v = 0;
        bpf_map_lookup_elem(fdbver, &zero, &v);
        v++;
        bpf_map_update_elem(fdbver, &zero, &v, BPF_ANY);
    }

    // The slot xdpnet gave the port on ifindex in the live generation.
    uint16_t slot_of(uint32_t ifindex) const
    {
        uint32_t zero = 0;
        xdpnet_state st{};
        if (bpf_map_lookup_elem(state, &zero, &st))
            die("xdpnet_state: %s", strerror(errno));
        uint32_t key = (st.active_gen & 1) * XDPNET_MAX_IFINDEX + ifindex, slot1 = 0;
        if (bpf_map_lookup_elem(portidx, &key, &slot1) || !slot1)
            die("ifindex %u is not an xdpnet port", ifindex);
        return uint16_t(slot1 - 1);
    }

    // Fill the FDB with entries 0..n-1 of fill_mac() in VLAN vid: even ones
    // behind `even_if`, odd ones behind `odd_if` (dynamic, just seen).
    void fill(uint32_t n, uint16_t vid, uint32_t even_if, uint32_t odd_if) const
    {
        uint16_t se = slot_of(even_if), so = slot_of(odd_if);
        const uint32_t chunk = 65536;
        std::vector<xdpnet_fdb_key> keys;
        std::vector<xdpnet_fdb_entry> vals;
        uint64_t now = now_ns();
        for (uint32_t base = 0; base < n; base += chunk) {
            keys.clear();
            vals.clear();
            for (uint32_t i = base; i < n && i < base + chunk; i++) {
                xdpnet_fdb_key k{};
                k.vlan = vid;
                auto m = fill_mac(i);
                memcpy(k.mac, m.data(), 6);
                xdpnet_fdb_entry e{};
                e.last_seen_ns = now;
                e.ifindex = (i & 1) ? odd_if : even_if;
                e.slot = (i & 1) ? so : se;
                keys.push_back(k);
                vals.push_back(e);
            }
            uint32_t count = keys.size();
            if (bpf_map_update_batch(fdb, keys.data(), vals.data(), &count, nullptr))
                die("FDB fill at %u (%u entries in): %s (is fdb_size big enough?)", base, count, strerror(errno));
        }
        bump_fdb_version();
    }

    void unfill(uint32_t n, uint16_t vid) const
    {
        for (uint32_t i = 0; i < n; i++) {
            xdpnet_fdb_key k{};
            k.vlan = vid;
            auto m = fill_mac(i);
            memcpy(k.mac, m.data(), 6);
            bpf_map_delete_elem(fdb, &k);
        }
        bump_fdb_version();
    }
};

// The NAT instance run.sh started (benchnat): its connection table, its
// counters and its housekeeping program, from the instance's pins; and the
// xdpnet binary, for `nat flush`.
const char* const kDropNames[] = {
    "none",
#define XB_DROP_NAME(e, n, h) n,
    XDPNET_DROP_REASONS(XB_DROP_NAME)
#undef XB_DROP_NAME
};
static_assert(sizeof(kDropNames) / sizeof(kDropNames[0]) == XDPNET_DROP_MAX, "one name per drop reason");

struct NatXdpnet {
    int ct = -1, stats = -1, gc = -1, gcmap = -1;
    uint32_t ct_capacity = 0; // entries (two per connection)
    std::string instance, xdpnet_bin;

    bool open(const std::string& dir)
    {
        auto get = [&](const char* n) { return bpf_obj_get((dir + "/" + n).c_str()); };
        ct = get("xdpnet_ct");
        stats = get("xdpnet_stats");
        gc = get("prog_fdb_gc");
        gcmap = get("xdpnet_gc");
        if (ct < 0 || stats < 0 || gc < 0 || gcmap < 0) {
            note("NAT instance pins not found under %s (xdpnet_ct, xdpnet_stats, xdpnet_gc, prog_fdb_gc): %s",
                 dir.c_str(),
                 strerror(errno));
            return false;
        }
        bpf_map_info info{}, sinfo{};
        uint32_t len = sizeof info, slen = sizeof sinfo;
        if (bpf_obj_get_info_by_fd(ct, &info, &len) || bpf_obj_get_info_by_fd(stats, &sinfo, &slen))
            die("xdpnet_ct/xdpnet_stats info: %s", strerror(errno));
        // This program reads both with include/xdpnet/abi.h: it must be the
        // one the running xdpnet was built with.
        if (info.key_size != sizeof(xdpnet_ct_key) || info.value_size != sizeof(xdpnet_ct) ||
            sinfo.value_size != sizeof(xdpnet_port_stats)) {
            note("xdpnet_ct (%u/%u bytes) or xdpnet_stats (%u bytes) is not what this xdpnet-bench was built "
                 "with (%zu/%zu, %zu): xdpnet-bench and xdpnet come from different sources; rebuild both",
                 info.key_size, info.value_size, sinfo.value_size, sizeof(xdpnet_ct_key), sizeof(xdpnet_ct),
                 sizeof(xdpnet_port_stats));
            return false;
        }
        ct_capacity = info.max_entries;
        instance = std::filesystem::path(dir).filename();
        return true;
    }

    // The instance's counters, summed over every slot; per CPU for nat_new.
    struct Counters {
        uint64_t nat_new = 0, nat_out = 0, drops = 0;
        uint64_t flow_new = 0, flow_evicted = 0, flow_lost = 0; // the flow table's churn
        std::vector<uint64_t> nat_new_cpu;
        std::map<std::string, uint64_t> drop; // nonzero reasons only
    };
    Counters counters() const
    {
        Counters c;
        int n = ncpus();
        c.nat_new_cpu.assign(n, 0);
        std::vector<xdpnet_port_stats> v(n);
        for (uint32_t slot = 0; slot < XDPNET_STATS_SLOTS; slot++) {
            if (bpf_map_lookup_elem(stats, &slot, v.data()))
                die("xdpnet_stats: %s", strerror(errno));
            for (int cpu = 0; cpu < n; cpu++) {
                const auto& s = v[cpu];
                c.nat_new += s.ctr[XDPNET_CTR_NAT_NEW];
                c.nat_new_cpu[cpu] += s.ctr[XDPNET_CTR_NAT_NEW];
                c.nat_out += s.ctr[XDPNET_CTR_NAT_OUT];
                c.flow_new += s.ctr[XDPNET_CTR_FLOW_NEW];
                c.flow_evicted += s.ctr[XDPNET_CTR_FLOW_EVICTED];
                c.flow_lost += s.ctr[XDPNET_CTR_FLOW_LOST];
                for (int d = 1; d < XDPNET_DROP_MAX; d++)
                    if (s.drops[d]) {
                        c.drops += s.drops[d];
                        c.drop[kDropNames[d]] += s.drops[d];
                    }
            }
        }
        return c;
    }

    // Walks the connection table in batches; with del, empties it. Entries seen.
    uint64_t walk(bool del) const
    {
        const uint32_t chunk = 16384;
        std::vector<xdpnet_ct_key> keys(chunk);
        std::vector<xdpnet_ct> vals(chunk);
        uint64_t total = 0;
        alignas(8) uint8_t in[16] = {}, out[16] = {};
        bool first = true;
        for (;;) {
            uint32_t count = chunk;
            int err = del ? bpf_map_lookup_and_delete_batch(ct, first ? nullptr : in, out, keys.data(), vals.data(),
                                                            &count, nullptr)
                          : bpf_map_lookup_batch(ct, first ? nullptr : in, out, keys.data(), vals.data(), &count,
                                                 nullptr);
            int e = errno;
            if (err && e != ENOENT)
                die("xdpnet_ct %s: %s", del ? "lookup_and_delete_batch" : "lookup_batch", strerror(e));
            total += count;
            if (err)
                break;
            memcpy(in, out, sizeof in);
            first = false;
        }
        return total;
    }
    uint64_t entries() const { return walk(false); }

    // Empty the table: the bench deletes the entries in batches (fast), then
    // `xdpnet nat flush` recounts the networks' connection counts (it is the
    // one place userspace removes connections; the datapath keeps them
    // otherwise). Entries removed by the bench.
    uint64_t flush() const
    {
        uint64_t n = walk(true);
        if (!xdpnet_bin.empty()) {
            std::string cmd = "'" + xdpnet_bin + "' -i '" + instance + "' nat flush >/dev/null 2>&1";
            static bool warned = false;
            if (system(cmd.c_str()) != 0 && !warned) {
                // the networks' counts may be stale: max_connections
                // refusals would show as drops (nat_limit) and loss
                note("%s failed; continuing", cmd.c_str());
                warned = true;
            }
        }
        if (uint64_t left = entries())
            die("connection table still holds %llu entries after the flush", (unsigned long long)left);
        return n;
    }

    // How often the gc timer runs the pass.
    double gc_interval_s() const
    {
        uint32_t zero = 0;
        xdpnet_gc g{};
        if (bpf_map_lookup_elem(gcmap, &zero, &g))
            die("xdpnet_gc: %s", strerror(errno));
        return g.interval_ns / 1e9;
    }

    // One housekeeping pass (xdpnet_fdb_gc: FDB aging and the connection
    // table walk the gc timer runs every second), ns by test_run. The pass
    // also re-arms the gc timer on the CPU it runs on, so it runs on the
    // other CPUs (run.sh starts xdpnet there): the timer must not move to
    // the generator's CPU, or its passes land in the measurements.
    uint32_t gc_pass_ns(int gen_cpu) const
    {
        cpu_set_t mine, others;
        CPU_ZERO(&others);
        for (int c = 0; c < ncpus(); c++)
            if (c != gen_cpu)
                CPU_SET(c, &others);
        bool moved = sched_getaffinity(0, sizeof mine, &mine) == 0 && CPU_COUNT(&others) > 0 &&
                     sched_setaffinity(0, sizeof others, &others) == 0;
        uint8_t buf[64] = {};
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = sizeof buf, .repeat = 1);
        int err = bpf_prog_test_run_opts(gc, &o);
        int e = errno;
        if (moved)
            sched_setaffinity(0, sizeof mine, &mine);
        if (err || o.retval != XDP_PASS)
            die("gc pass: %s (retval %u)", strerror(e), o.retval);
        return o.duration;
    }
};

// ---------------------------------------------------------------------------
// Options and output

struct Options {
    int runs = 5;
    double duration = 2.0;
    int cpu = -1;
    int repeat = 5000000;
    uint32_t flows = 1024;
    uint32_t fdb_small = 1024, fdb_large = 1048576;
    uint16_t vlan = 10;
    std::string pin_dir;
    std::string out = "-";
    uint32_t fdb_hot = 4096;
    bool live = true, cost = true, fdb = true, store_bytes = false;
    std::vector<std::string> only;
    // NAT baselines and the xdpnet NAT leg (run.sh builds their topology).
    bool nat = false;
    uint32_t nat_flows = 16384;
    bool nat_xdpnet = false;  // the NAT instance is up on xbp5/xbu0
    std::string nat_router_mac; // its router MAC on VLAN 30
    std::string nat_note;     // why the xdpnet NAT leg is not measured, for the report
    // New-connection rate and connection-table scaling (the NAT instance's
    // pins; the xdpnet binary for `nat flush`).
    bool nat_scale = true;
    std::string nat_pin_dir, xdpnet_bin;
    uint32_t nat_fill = 1048576; // connections the "1M" table holds
    uint32_t nat_active = 1024;  // the active flows measured against it
    uint32_t nat_new_repeat = 1000000; // connections per new-connection cost run
};

FILE* g_out = stdout;
std::string g_variant; // --variant: the policy variant every record is tagged with
int g_block = 0;       // --block: which of the interleaved blocks of a variant (0: none)

struct Json {
    std::ostringstream s;
    bool first = true;
    Json& kv(const std::string& k, const std::string& v)
    {
        s << (first ? "{" : ", ") << '"' << k << "\": \"";
        for (unsigned char c : v) { // values may carry messages (--nat-note)
            if (c == '"' || c == '\\')
                s << '\\' << c;
            else if (c < 0x20)
                s << ' ';
            else
                s << c;
        }
        s << '"';
        first = false;
        return *this;
    }
    Json& kv(const std::string& k, double v)
    {
        char b[64];
        if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
            snprintf(b, sizeof b, "%.0f", v);
        else
            snprintf(b, sizeof b, "%.6g", v);
        s << (first ? "{" : ", ") << '"' << k << "\": " << b;
        first = false;
        return *this;
    }
    void emit()
    {
        if (!g_variant.empty())
            kv("variant", g_variant);
        if (g_block)
            kv("block", g_block);
        s << "}";
        fprintf(g_out, "%s\n", s.str().c_str());
        fflush(g_out);
    }
};

// ---------------------------------------------------------------------------
// The world: topology names, loaded programs

struct SinkExpect {
    std::string sink; // key into World::sinks
    uint32_t len;
    uint32_t vid; // 0 untagged
    // IPv4 address check (see xb_sink_cfg): 12 = source, 16 = destination,
    // 0 = none; value and mask in host order.
    uint32_t ip_off = 0, ip_val = 0, ip_mask = 0;
};

// Xdpnet: the L2 instance's ingress program; NatOut / NatIn: the programs the
// NAT instance attached to its VM port (xbp5) and to its uplink (xbu0).
enum class Target { Redirect, RedirectIf, Pass, Count, Xdpnet, NatOut, NatIn };

struct World {
    Options opt;
    Gen gen;
    xb_trivial* triv = nullptr;
    Xdpnet xn;
    bool have_xdpnet = false;
    int nat_out = -1, nat_in = -1; // xdpnet NAT instance (see Target)
    NatXdpnet nx;                  // its pins, for the new-connection and scaling parts
    bool have_nx = false;
    std::string nat_scale_note; // why not, for the report
    int cpu = -1; // the generator's
    std::map<std::string, std::unique_ptr<Sink>> sinks; // "xbv1" -> sink in xbns1

    int target_fd(Target t) const
    {
        switch (t) {
        case Target::Redirect: return bpf_program__fd(triv->progs.xb_redirect);
        case Target::RedirectIf: return bpf_program__fd(triv->progs.xb_redirect_if);
        case Target::Pass: return bpf_program__fd(triv->progs.xb_pass);
        case Target::Count: return bpf_program__fd(triv->progs.xb_count);
        case Target::Xdpnet: return xn.prog;
        case Target::NatOut: return nat_out;
        case Target::NatIn: return nat_in;
        }
        return -1;
    }
};

// ---------------------------------------------------------------------------
// Live frames

struct LiveScenario {
    std::string name;  // short id
    std::string label; // for the table
    std::string in_if;
    Target target;
    TmplSet tmpl;
    std::vector<SinkExpect> expect;
    uint32_t gen_mode = XB_GEN_TEMPLATES;
    uint32_t fill = 0;
    std::string ns = ""; // namespace of in_if ("" = this one)
    int br_nf = -1; // bridge-nf-call-{ip,ip6,arp}tables in ns: 0/1, -1 = leave
    std::string group = "l2"; // "l2" or "nat" (the report's NAT table)
    // Injected before the warm-up, not measured: e.g. the outgoing flows, so
    // that the replies of a reply-in run find their connections.
    struct Prime {
        std::string ns, in_if;
        Target target;
        TmplSet tmpl;
        uint32_t passes = 2; // frames = passes x templates
    };
    std::vector<Prime> prime = {};
};

// Writes a sysctl of the current network namespace; false when absent.
bool write_sysctl(const std::string& path, const std::string& value)
{
    std::ofstream f("/proc/sys/" + path);
    if (!f)
        return false;
    f << value << "\n";
    return bool(f);
}

// Inject `frames` frames through the generator in live mode, in chunks.
int live_inject(const World& w, uint32_t ifindex, const std::vector<uint8_t>& frame, uint64_t frames)
{
    xdp_md ctx{};
    ctx.data_end = frame.size();
    ctx.ingress_ifindex = ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = int(frames),
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
    return bpf_prog_test_run_opts(w.gen.prog_fd(), &o);
}

uint32_t flows_of(const World& w, const TmplSet& t) { return t.flows ? t.flows : w.opt.flows; }

void setup_live(World& w, const LiveScenario& s)
{
    auto t = make_templates(s.tmpl, flows_of(w, s.tmpl));
    w.gen.set_templates(t, s.tmpl.frame_len(), s.gen_mode, s.fill);
    w.gen.set_target(w.target_fd(s.target));
    for (auto& [name, sink] : w.sinks) {
        sink->expect(0, 0xffff);
        for (auto& e : s.expect)
            if (e.sink == name)
                sink->expect(e.len, e.vid, e.ip_off, e.ip_val, e.ip_mask);
    }
}

void run_prime(World& w, const LiveScenario& s)
{
    for (auto& p : s.prime) {
        uint32_t n = flows_of(w, p.tmpl);
        w.gen.set_templates(make_templates(p.tmpl, n), p.tmpl.frame_len());
        w.gen.set_target(w.target_fd(p.target));
        std::optional<NetnsGuard> in_ns;
        if (!p.ns.empty())
            in_ns.emplace(p.ns);
        auto frame = make_templates(p.tmpl, 1)[0];
        if (live_inject(w, ifindex_of(p.in_if), frame, uint64_t(n) * p.passes))
            die("prime %s: %s", s.name.c_str(), strerror(errno));
    }
    if (!s.prime.empty())
        usleep(20000);
}

void run_live(World& w, const LiveScenario& s, int run)
{
    run_prime(w, s);
    setup_live(w, s);
    // The injecting port may live in another namespace (the Linux bridge):
    // test runs resolve ingress_ifindex in the caller's namespace.
    std::optional<NetnsGuard> in_ns;
    if (!s.ns.empty())
        in_ns.emplace(s.ns);
    if (s.br_nf >= 0)
        for (const char* t : {"iptables", "ip6tables", "arptables"})
            if (!write_sysctl(std::string("net/bridge/bridge-nf-call-") + t, std::to_string(s.br_nf)))
                die("cannot set net.bridge.bridge-nf-call-%s in %s", t, s.ns.c_str());
    uint32_t ifindex = ifindex_of(s.in_if);
    auto frame = make_templates(s.tmpl, 1)[0];

    // Warm-up: learning, page pools, caches.
    if (live_inject(w, ifindex, frame, 131072))
        die("live run %s: %s", s.name.c_str(), strerror(errno));
    usleep(20000);

    for (auto& [_, sink] : w.sinks)
        sink->mark();
    auto g0 = w.gen.read();
    const uint64_t chunk = 262144;
    uint64_t injected = 0;
    auto u0 = ThreadUse::now();
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < w.opt.duration) {
        if (live_inject(w, ifindex, frame, chunk))
            die("live run %s: %s", s.name.c_str(), strerror(errno));
        injected += chunk;
        t1 = now_s();
    }
    auto u1 = ThreadUse::now();
    usleep(50000); // anything still in a veth ring lands
    auto g1 = w.gen.read();
    double el = t1 - t0;

    uint64_t delivered = 0, bad = 0, stray = 0;
    Json j;
    j.kv("kind", "live").kv("group", s.group).kv("scenario", s.name).kv("label", s.label).kv("run", run);
    for (auto& [name, sink] : w.sinks) {
        auto d = sink->delta();
        bool expected = std::any_of(s.expect.begin(), s.expect.end(), [&](auto& e) { return e.sink == name; });
        if (expected) {
            delivered += d.pkts;
            bad += d.bad_len + d.bad_vlan + d.bad_ip;
            if (d.bad_ip)
                j.kv("bad_ip_" + name, d.bad_ip);
            j.kv("out_" + name, d.pkts / el / 1e6);
            j.kv("tagged_" + name, d.tagged);
        } else {
            stray += d.pkts;
            if (d.pkts) {
                j.kv("stray_" + name, d.pkts);
                xb_sink_stray st{};
                uint32_t zero = 0;
                if (bpf_map_lookup_elem(bpf_map__fd(sink->skel->maps.xb_sink_stray), &zero, &st) == 0) {
                    std::string hex;
                    char b[4];
                    for (uint8_t c : st.head) {
                        snprintf(b, sizeof b, "%02x", c);
                        hex += b;
                    }
                    j.kv("stray_frame_" + name, hex + " len " + std::to_string(st.len));
                }
            }
        }
    }
    uint64_t gen_frames = g1.frames - g0.frames;
    double copies = s.expect.size();
    j.kv("seconds", el)
        .kv("injected", injected)
        .kv("gen_frames", gen_frames)
        .kv("tail_fail", g1.tail_fail - g0.tail_fail)
        .kv("restore_fail", g1.restore_fail - g0.restore_fail)
        .kv("delivered", delivered)
        .kv("copies", copies)
        .kv("bad", bad)
        .kv("stray", stray)
        .kv("in_mpps", injected / el / 1e6)
        .kv("out_mpps", delivered / el / 1e6)
        .kv("fwd_mpps", delivered / copies / el / 1e6)
        .kv("loss", injected ? 1.0 - double(delivered) / (double(injected) * copies) : 0.0)
        .kv("cpu_share", el > 0 ? (u1.cpu_s - u0.cpu_s) / el : 0.0)
        .kv("nivcsw", u1.nivcsw - u0.nivcsw);
    j.emit();
    note("live %-12s run %d: in %.3f Mpps, out %.3f Mpps (%llu/%llu delivered, bad %llu, stray %llu, tail_fail %llu)",
         s.name.c_str(), run, injected / el / 1e6, delivered / el / 1e6, (unsigned long long)delivered,
         (unsigned long long)(injected * s.expect.size()), (unsigned long long)bad, (unsigned long long)stray,
         (unsigned long long)(g1.tail_fail - g0.tail_fail));
}

// ---------------------------------------------------------------------------
// Program cost (BPF_PROG_TEST_RUN, not live: nothing is transmitted)

struct CostCase {
    std::string name, label;
    bool wrapped; // through the generator (restores the frame), else the program alone
    Target target;
    std::string in_if;
    TmplSet tmpl;
    uint32_t expect_ret;
    uint32_t gen_mode = XB_GEN_TEMPLATES;
    uint32_t fill = 0;
    std::string group = "path"; // "path", "fdb", "nat", "natsetup" or "natct"
    std::string base = "";      // the generator + trivial case it is compared with ("": gen_trivial)
    const LiveScenario* prime = nullptr; // run this scenario's prime steps first
    int repeat = 0;        // 0: --repeat
    int warmup = 100000;
    bool flush = false;    // empty the NAT connection table first
    bool count_conns = false; // record the NAT instance's nat_new and drops over the run
};

void run_cost(World& w, const CostCase& c, int run)
{
    int fd;
    if (c.flush && w.have_nx)
        w.nx.flush();
    if (c.prime)
        run_prime(w, *c.prime);
    const int repeat = c.repeat ? c.repeat : w.opt.repeat;
    auto frame = make_templates(c.tmpl, 1)[0];
    if (c.wrapped) {
        w.gen.set_templates(make_templates(c.tmpl, flows_of(w, c.tmpl)), c.tmpl.frame_len(), c.gen_mode, c.fill);
        w.gen.set_target(w.target_fd(c.target));
        fd = w.gen.prog_fd();
    } else {
        fd = w.target_fd(c.target);
    }
    xdp_md ctx{};
    ctx.data_end = frame.size();
    ctx.ingress_ifindex = ifindex_of(c.in_if);
    std::vector<uint8_t> out(256);
    // warm-up
    {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
                    .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = c.warmup);
        if (c.warmup && bpf_prog_test_run_opts(fd, &o))
            die("cost %s: %s", c.name.c_str(), strerror(errno));
    }
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_out = out.data(),
                .data_size_in = uint32_t(frame.size()), .data_size_out = uint32_t(out.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof ctx, .repeat = repeat);
    // The NAT instance's counters around the run: connections made, and how
    // the flow table fared (a flow that finds no slot takes one from another).
    std::optional<NatXdpnet::Counters> k0;
    if ((c.count_conns || c.group == "nat") && w.have_nx)
        k0 = w.nx.counters();
    double t0 = now_s();
    if (bpf_prog_test_run_opts(fd, &o))
        die("cost %s: %s", c.name.c_str(), strerror(errno));
    double el = now_s() - t0;
    // A program that changes the frame (tag push/pop) without the generator
    // would measure a different path from the second repetition on.
    bool frame_kept = o.data_size_out == frame.size() && memcmp(out.data(), frame.data(), frame.size()) == 0;
    Json j;
    j.kv("kind", "cost")
        .kv("group", c.group)
        .kv("base", c.base)
        .kv("scenario", c.name)
        .kv("label", c.label)
        .kv("run", run)
        .kv("wrapped", c.wrapped ? 1 : 0)
        .kv("ns", o.duration)
        .kv("wall_ns", el * 1e9 / repeat)
        .kv("repeat", repeat)
        .kv("retval", o.retval)
        .kv("ret_ok", o.retval == c.expect_ret ? 1 : 0)
        .kv("out_len", o.data_size_out)
        .kv("frame_kept", frame_kept ? 1 : 0);
    std::string conns;
    std::optional<NatXdpnet::Counters> k1;
    if (k0) {
        k1 = w.nx.counters();
        j.kv("flow_new", k1->flow_new - k0->flow_new)
            .kv("flow_evicted", k1->flow_evicted - k0->flow_evicted)
            .kv("flow_lost", k1->flow_lost - k0->flow_lost);
    }
    if (k1 && c.count_conns) {
        // Every repetition must have made one connection (and dropped nothing).
        uint64_t made = k1->nat_new - k0->nat_new, drops = k1->drops - k0->drops;
        j.kv("conns", made).kv("drops", drops).kv("conns_ok", made == uint64_t(repeat) && !drops ? 1 : 0);
        for (auto& [name, n] : k1->drop)
            if (n - (k0->drop.count(name) ? k0->drop.at(name) : 0))
                j.kv("drop_" + name, n - (k0->drop.count(name) ? k0->drop.at(name) : 0));
        conns = ", " + std::to_string(made) + " connections made, " + std::to_string(drops) + " drops";
    }
    j.emit();
    note("cost %-16s run %d: %u ns/pkt (wall %.2f), retval %u%s%s", c.name.c_str(), run, o.duration,
         el * 1e9 / repeat, o.retval, o.retval == c.expect_ret ? "" : " (UNEXPECTED)", conns.c_str());
}

// The host's memory now (trivial.bpf.c: xb_memprobe): time per dependent
// read with working sets of 1, 4, 16 and 64 MB. Paths whose tables outgrow
// the private caches (NAT with many flows: about 5 MB) follow the 4 and 16 MB
// figures, which on a shared host move with the neighbours' use of the
// last-level cache; the report shows them next to those results.
void mem_probe(World& w, int run)
{
    const int fd = bpf_program__fd(w.triv->progs.xb_memprobe);
    std::vector<uint8_t> frame(64, 0);
    for (uint32_t mb : {1u, 4u, 16u, 64u}) {
        const uint32_t lines = mb << 14; // 64-byte lines
        if (lines > XB_MEM_LINES_MAX)
            die("memory probe: %u MB is more than the probe's map", mb);
        w.triv->data->xb_mem_lines = lines;
        // one pass to touch the set, then the measured runs
        LIBBPF_OPTS(bpf_test_run_opts, warm, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
                    .repeat = int(lines / XB_MEM_READS + 1));
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
                    .repeat = 20000);
        if (bpf_prog_test_run_opts(fd, &warm) || bpf_prog_test_run_opts(fd, &o))
            die("memory probe: %s", strerror(errno));
        if (o.retval != XDP_DROP)
            die("memory probe: the program returned %u", o.retval);
        const double ns = double(o.duration) / XB_MEM_READS;
        Json j;
        j.kv("kind", "mem").kv("mb", mb).kv("run", run).kv("ns", ns).emit();
        note("memory %2u MB      run %d: %.1f ns per dependent read", mb, run, ns);
    }
}

// ---------------------------------------------------------------------------
// NAT: new connections and a big connection table

// One live run of new connections: every frame a UDP tuple never sent before
// (generator mode XB_GEN_NEW_TUPLE), into the VM port xbp5, through the NAT
// program, out of the uplink to the sink on xbvu0 (which checks the
// masquerade source). The table is emptied first. Connections made = the
// instance's nat_new delta; the table must then hold two entries for each.
void run_nat_setup(World& w, const Mac& router, int run)
{
    double tf = now_s();
    uint64_t flushed = w.nx.flush();
    double flush_s = now_s() - tf;
    auto c_start = w.nx.counters();
    w.gen.set_new_tuples(router);
    w.gen.set_target(w.target_fd(Target::NatOut));
    const std::string out_sink = "xbvu0";
    for (auto& [name, sink] : w.sinks) {
        if (name == out_sink)
            sink->expect(64, 0, 12, kNatUplinkIp, 0xffffffff);
        else
            sink->expect(0, 0xffff);
    }
    uint32_t ifindex = ifindex_of("xbp5");
    auto frame = nat_new_frame(router, 0);
    // At most 3/4 of the table's connections in one run: a full table
    // refuses connections (ct_full), which is not a setup rate.
    const uint64_t chunk = 262144, warm = 65536;
    const uint64_t cap = uint64_t(w.nx.ct_capacity) / 2 * 3 / 4;
    if (live_inject(w, ifindex, frame, warm))
        die("live run nat_setup: %s", strerror(errno));
    usleep(20000);

    for (auto& [_, sink] : w.sinks)
        sink->mark();
    auto g0 = w.gen.read();
    auto c0 = w.nx.counters();
    uint64_t injected = 0;
    bool capped = false;
    auto u0 = ThreadUse::now();
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < w.opt.duration) {
        if (warm + injected + chunk > cap) {
            capped = true;
            break;
        }
        if (live_inject(w, ifindex, frame, chunk))
            die("live run nat_setup: %s", strerror(errno));
        injected += chunk;
        t1 = now_s();
    }
    auto u1 = ThreadUse::now();
    usleep(50000);
    auto g1 = w.gen.read();
    auto c1 = w.nx.counters();
    double el = t1 - t0;
    uint64_t entries = w.nx.entries();

    uint64_t delivered = 0, bad = 0, stray = 0;
    for (auto& [name, sink] : w.sinks) {
        auto d = sink->delta();
        if (name == out_sink) {
            delivered += d.pkts;
            bad += d.bad_len + d.bad_vlan + d.bad_ip;
        } else {
            stray += d.pkts;
        }
    }
    uint64_t conns = c1.nat_new - c0.nat_new, made = c1.nat_new - c_start.nat_new, drops = c1.drops - c0.drops;
    // Where the connections were made: the CPU the generator is pinned to
    // runs the program (live frames run it in the injecting syscall).
    uint64_t top = 0;
    int top_cpu = 0;
    for (size_t i = 0; i < c1.nat_new_cpu.size(); i++) {
        uint64_t d = c1.nat_new_cpu[i] - c0.nat_new_cpu[i];
        if (d > top) {
            top = d;
            top_cpu = int(i);
        }
    }
    Json j;
    j.kv("kind", "live")
        .kv("group", "natsetup")
        .kv("scenario", "nat_setup")
        .kv("label", "xdpnet NAT, a new UDP connection in every frame (SNAT-out)")
        .kv("run", run)
        .kv("seconds", el)
        .kv("injected", injected)
        .kv("gen_frames", g1.frames - g0.frames)
        .kv("tail_fail", g1.tail_fail - g0.tail_fail)
        .kv("restore_fail", g1.restore_fail - g0.restore_fail)
        .kv("delivered", delivered)
        .kv("copies", 1)
        .kv("bad", bad)
        .kv("stray", stray)
        .kv("in_mpps", injected / el / 1e6)
        .kv("out_mpps", delivered / el / 1e6)
        .kv("fwd_mpps", delivered / el / 1e6)
        .kv("loss", injected ? 1.0 - double(delivered) / double(injected) : 0.0)
        .kv("cpu_share", el > 0 ? (u1.cpu_s - u0.cpu_s) / el : 0.0)
        .kv("nivcsw", u1.nivcsw - u0.nivcsw)
        .kv("conns", conns)
        .kv("conn_mps", conns / el / 1e6)
        .kv("conns_per_frame", injected ? double(conns) / double(injected) : 0.0)
        .kv("conn_cpu", top_cpu)
        .kv("conn_cpu_share", conns ? double(top) / double(conns) : 0.0)
        .kv("drops", drops)
        .kv("entries", entries)
        .kv("entries_ok", entries == 2 * made ? 1 : 0)
        .kv("capped", capped ? 1 : 0)
        .kv("flushed_entries", flushed)
        .kv("flush_s", flush_s);
    for (auto& [name, n] : c1.drop) {
        uint64_t before = c0.drop.count(name) ? c0.drop.at(name) : 0;
        if (n > before)
            j.kv("drop_" + name, n - before);
    }
    j.emit();
    note("live nat_setup    run %d: %.3f M new connections/s, out %.3f Mpps (%llu connections from %llu frames, "
         "%llu drops, bad %llu, stray %llu; table %llu entries%s; flush %.2f s)",
         run, conns / el / 1e6, delivered / el / 1e6, (unsigned long long)conns, (unsigned long long)injected,
         (unsigned long long)drops, (unsigned long long)bad, (unsigned long long)stray, (unsigned long long)entries,
         entries == 2 * made ? "" : " (NOT 2 per connection)", flush_s);
}

// Fill the connection table with `n` more connections (one packet each,
// new tuples, BPF_PROG_TEST_RUN without live frames: nothing is sent).
void nat_fill(World& w, const Mac& router, uint64_t n, const std::string& tag)
{
    w.gen.set_new_tuples(router);
    w.gen.set_target(w.target_fd(Target::NatOut));
    auto frame = nat_new_frame(router, 0);
    xdp_md ctx{};
    ctx.data_end = frame.size();
    ctx.ingress_ifindex = ifindex_of("xbp5");
    auto k0 = w.nx.counters();
    double t0 = now_s();
    for (uint64_t done = 0; done < n;) {
        int rep = int(std::min<uint64_t>(n - done, 1u << 20));
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = uint32_t(frame.size()),
                    .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = rep);
        if (bpf_prog_test_run_opts(w.gen.prog_fd(), &o))
            die("NAT fill: %s", strerror(errno));
        done += rep;
    }
    double el = now_s() - t0;
    auto k1 = w.nx.counters();
    uint64_t made = k1.nat_new - k0.nat_new, drops = k1.drops - k0.drops;
    if (made != n || drops)
        die("NAT fill: %llu connections made of %llu, %llu drops", (unsigned long long)made, (unsigned long long)n,
            (unsigned long long)drops);
    note("NAT table: %llu connections added in %.2f s (%s)", (unsigned long long)n, el, tag.c_str());
}

// The table's state for the report: entries, and the cost of one
// housekeeping pass over it (median of 3).
void nat_table_note(World& w, const std::string& tag, uint64_t conns)
{
    uint64_t entries = w.nx.entries();
    std::vector<uint32_t> gc;
    for (int i = 0; i < 3; i++)
        gc.push_back(w.nx.gc_pass_ns(w.cpu));
    std::sort(gc.begin(), gc.end());
    Json j;
    j.kv("kind", "nattable")
        .kv("tag", tag)
        .kv("conns", conns)
        .kv("entries", entries)
        .kv("capacity", w.nx.ct_capacity)
        .kv("gc_pass_ns", gc[1])
        .kv("gc_interval_s", w.nx.gc_interval_s());
    j.emit();
    note("NAT table %s: %llu entries (%llu connections intended), housekeeping pass %.2f ms", tag.c_str(),
         (unsigned long long)entries, (unsigned long long)conns, gc[1] / 1e6);
}

// ---------------------------------------------------------------------------
// Generator self-test (runs before every measurement): frame i must leave the
// generator as template i, also when the buffer it gets is longer (a tag was
// pushed in the previous run of that buffer) or shorter (a tag was popped).

bool gen_selftest(World& w)
{
    const uint32_t n = 4;
    bool ok = true;
    for (uint16_t vid : {uint16_t(0), w.opt.vlan}) {
        TmplSet ts{"s_aa", "d1", vid};
        auto t = make_templates(ts, n);
        const uint32_t flen = ts.frame_len();
        w.gen.set_templates(t, flen);
        w.gen.set_target(w.target_fd(Target::Count));
        // reset the template counter on every CPU
        std::vector<xb_gen_state> zero_st(ncpus());
        uint32_t zero = 0;
        bpf_map_update_elem(bpf_map__fd(w.gen.skel->maps.xb_gen_state), &zero, zero_st.data(), 0);
        for (uint32_t i = 0; i < 3 * n; i++) {
            // buffers of the template's length, 4 longer (pushed), 4 shorter (popped)
            int d = int(i % 3) * 4 - 4;
            std::vector<uint8_t> in(flen + d, 0x5a), out(256);
            xdp_md ctx{};
            ctx.data_end = in.size();
            ctx.ingress_ifindex = ifindex_of("xbp0");
            LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.data(), .data_out = out.data(),
                        .data_size_in = uint32_t(in.size()), .data_size_out = uint32_t(out.size()),
                        .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = 1);
            if (bpf_prog_test_run_opts(w.gen.prog_fd(), &o))
                die("selftest: %s", strerror(errno));
            const auto& want = t[i % n];
            if (o.retval != XDP_DROP || o.data_size_out != want.size() ||
                memcmp(out.data(), want.data(), want.size()) != 0) {
                note("selftest: frame %u (vid %u, buffer %+d bytes) came out wrong: %u bytes, verdict %u", i, vid, d,
                     o.data_size_out, o.retval);
                ok = false;
            }
        }
    }
    // New-tuple mode: frame c must be nat_new_frame(c), checksums included,
    // also where the source port wraps and the next address starts.
    if (w.opt.nat) {
        const Mac router = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};
        w.gen.set_new_tuples(router);
        w.gen.set_target(w.target_fd(Target::Count));
        const uint64_t first = 3ull * XB_NT_PORTS - 2;
        std::vector<xb_gen_state> st(ncpus());
        for (auto& s : st)
            s.seq = first;
        uint32_t zero = 0;
        bpf_map_update_elem(bpf_map__fd(w.gen.skel->maps.xb_gen_state), &zero, st.data(), 0);
        for (uint64_t c = first; c < first + 4; c++) {
            std::vector<uint8_t> in(64, 0x5a), out(256);
            xdp_md ctx{};
            ctx.data_end = in.size();
            ctx.ingress_ifindex = ifindex_of("xbp0");
            LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.data(), .data_out = out.data(),
                        .data_size_in = uint32_t(in.size()), .data_size_out = uint32_t(out.size()),
                        .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = 1);
            if (bpf_prog_test_run_opts(w.gen.prog_fd(), &o))
                die("selftest: %s", strerror(errno));
            auto want = nat_new_frame(router, c);
            if (o.retval != XDP_DROP || o.data_size_out != want.size() ||
                memcmp(out.data(), want.data(), want.size()) != 0) {
                note("selftest: new tuple %llu came out wrong: %u bytes, verdict %u", (unsigned long long)c,
                     o.data_size_out, o.retval);
                ok = false;
            }
        }
        for (auto& s : st)
            s = xb_gen_state{}; // tuples start at 0 for the measurement
        bpf_map_update_elem(bpf_map__fd(w.gen.skel->maps.xb_gen_state), &zero, st.data(), 0);
    }
    Json j;
    j.kv("kind", "selftest").kv("ok", ok ? 1 : 0);
    j.emit();
    note("generator self-test %s", ok ? "passed" : "FAILED");
    return ok;
}

// ---------------------------------------------------------------------------

void usage()
{
    fprintf(stderr,
            "usage: xdpnet-bench macs SET [N]\n"
            "       xdpnet-bench run [--runs N] [--duration S] [--cpu C] [--repeat R] [--flows N]\n"
            "                        [--pin-dir DIR] [--fdb-large N] [--fdb-hot N] [--no-live] [--no-cost]\n"
            "                        [--no-fdb] [--store-bytes]\n"
            "                        [--nat [--nat-flows N] [--nat-xdpnet --nat-router-mac MAC] [--nat-note TEXT]\n"
            "                               [--nat-pin-dir DIR --xdpnet PATH] [--no-nat-scale] [--nat-fill N]\n"
            "                               [--nat-active N] [--nat-new-repeat N]]\n"
            "                        [--only a,b,...] [--out FILE] [--variant NAME [--block N]]\n"
            "       xdpnet-bench flow-fill --pin-dir DIR [--flows N] [--seconds S] [--packets P] [--cpu C]\n"
            "                        [--in-port IF] [--out-port IF] [--vlan V] [--out FILE]\n"
            "                              N synthetic flows in the instance's flow table, each with news\n"
            "                              every second (--flows 0: empty the table and its export marks)\n"
            "       xdpnet-bench flow-bits --pin-dir DIR [--set N]\n"
            "                              the live generation's flow_bits (0: flows not accounted)\n"
            "MAC sets: s_aa s_at s_ta s_fl s_br d1 d2 uu vm\n");
    exit(2);
}

bool wanted(const Options& o, const std::string& name)
{
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
}

int cmd_run(Options opt)
{
    World w;
    w.opt = opt;
    if (opt.out != "-") {
        g_out = fopen(opt.out.c_str(), "a");
        if (!g_out)
            die("cannot open %s: %s", opt.out.c_str(), strerror(errno));
    }
    libbpf_set_strict_mode(LIBBPF_STRICT_ALL);

    // One CPU for the generator; the receive side (veth NAPI) runs in the
    // softirq the generator's batches raise, on the same CPU.
    int cpu = opt.cpu >= 0 ? opt.cpu : ncpus() - 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set))
        die("pin to CPU %d: %s", cpu, strerror(errno));
    w.cpu = cpu;

    w.gen.load(opt.store_bytes);
    w.triv = xb_trivial__open_and_load();
    if (!w.triv)
        die("load baselines: %s", strerror(errno));
    {
        uint32_t zero = 0, to = ifindex_of("xbp1");
        if (bpf_map_update_elem(bpf_map__fd(w.triv->maps.xb_tx), &zero, &to, 0))
            die("devmap: %s", strerror(errno));
        w.triv->bss->xb_tx_ifindex = to;
    }
    if (!opt.pin_dir.empty())
        w.have_xdpnet = w.xn.open(opt.pin_dir);
    if (w.have_xdpnet) {
        // The prog array must accept xdpnet's program (same type, JIT, frags).
        w.gen.set_target(w.xn.prog);
    }

    const std::vector<std::pair<std::string, std::string>> ends = {
        {"xbns0", "xbv0"}, {"xbns1", "xbv1"}, {"xbns2", "xbv2"},   {"xbns3", "xbv3"},
        {"xbns4", "xbv4"}, {"xbnsb0", "xbvb0"}, {"xbnsb1", "xbvb1"},
    };
    std::vector<std::pair<std::string, std::string>> all_ends = ends;
    if (opt.nat) {
        // Linux forwarding (xbnsfw), Linux + masquerade (xbnsnt), xdpnet NAT
        // (VM port xbp5, uplink xbu0): the namespace end of each side.
        for (auto& e : std::vector<std::pair<std::string, std::string>>{{"xbnsf0", "xbvf0"},
                                                                        {"xbnsf1", "xbvf1"},
                                                                        {"xbnsn0", "xbvn0"},
                                                                        {"xbnsn1", "xbvn1"},
                                                                        {"xbns5", "xbv5"},
                                                                        {"xbnsu0", "xbvu0"}}) {
            if (!netns_exists(e.first))
                die("--nat: namespace %s missing (run.sh builds the NAT topology)", e.first.c_str());
            all_ends.push_back(e);
        }
        if (opt.nat_xdpnet) {
            w.nat_out = attached_xdp_prog("xbp5");
            w.nat_in = attached_xdp_prog("xbu0");
            if (w.nat_out < 0) {
                note("xdpnet NAT: no XDP program on xbp5; not measuring the xdpnet NAT leg");
                if (opt.nat_note.empty())
                    w.opt.nat_note = "xdpnet up succeeded but attached no XDP program to the VM port";
            } else if (w.nat_in < 0) {
                note("xdpnet NAT: no XDP program on the uplink xbu0; reply-in not measured for xdpnet");
            }
            if (opt.nat_router_mac.empty())
                die("--nat-xdpnet needs --nat-router-mac");
            if (!opt.nat_scale)
                w.nat_scale_note = "left out (--no-nat-scale)";
            else if (opt.nat_pin_dir.empty())
                w.nat_scale_note = "no --nat-pin-dir: the NAT instance's table and counters are not reachable";
            if (w.nat_out >= 0 && opt.nat_scale && !opt.nat_pin_dir.empty()) {
                w.have_nx = w.nx.open(opt.nat_pin_dir);
                w.nx.xdpnet_bin = opt.xdpnet_bin;
                uint64_t need = 2ull * opt.nat_fill + 4ull * opt.nat_active;
                if (!w.have_nx) {
                    w.nat_scale_note = "the NAT instance's pins are missing or do not match this xdpnet-bench "
                                       "(see the run's log)";
                } else if (w.nx.ct_capacity < need) {
                    char b[200];
                    snprintf(b, sizeof b, "the connection table holds %u entries, this part needs %llu "
                             "(run.sh --nat-max-conns)", w.nx.ct_capacity, (unsigned long long)need);
                    w.nat_scale_note = b;
                    note("xdpnet NAT: %s: not measuring new connections and table scaling", b);
                    w.have_nx = false;
                }
            }
        }
    }
    for (auto& [ns, ifn] : all_ends) {
        auto s = std::make_unique<Sink>();
        s->ns = ns;
        s->ifname = ifn;
        s->attach();
        w.sinks[ifn] = std::move(s);
    }

    if (!gen_selftest(w))
        die("the generator does not restore frames correctly; not measuring");

    struct utsname u;
    uname(&u);
    Json m;
    m.kv("kind", "meta")
        .kv("kernel", u.release)
        .kv("cpu", cpu)
        .kv("runs", opt.runs)
        .kv("duration", opt.duration)
        .kv("repeat", opt.repeat)
        .kv("flows", opt.flows)
        .kv("xdpnet", w.have_xdpnet ? 1 : 0)
        .kv("fdb_small", opt.fdb_small)
        .kv("fdb_large", opt.fdb_large)
        .kv("fdb_hot", opt.fdb_hot)
        .kv("restore", opt.store_bytes ? "bpf_xdp_store_bytes" : "8-byte stores")
        .kv("nat", opt.nat ? 1 : 0)
        .kv("nat_flows", opt.nat_flows)
        .kv("nat_xdpnet", w.nat_out >= 0 ? 1 : 0)
        .kv("nat_xdpnet_in", w.nat_in >= 0 ? 1 : 0)
        .kv("nat_note", w.opt.nat_note)
        .kv("nat_scale", w.have_nx ? 1 : 0)
        .kv("nat_scale_note", w.nat_scale_note)
        .kv("nat_fill", opt.nat_fill)
        .kv("nat_active", opt.nat_active)
        .kv("nat_ct_capacity", w.have_nx ? w.nx.ct_capacity : 0);
    // Per-flow accounting of the L2 instance as this run found it (the
    // policy's telemetry.flows; 0: off), so the report can check that a
    // "flows_on" / "flows_off" variant measured what it says.
    if (w.have_xdpnet)
        if (auto c = w.xn.live_config())
            m.kv("flow_bits", c->flow_bits);
    m.emit();

    const uint16_t V = opt.vlan;
    std::vector<LiveScenario> live = {
        {"floor", "trivial XDP redirect (floor)", "xbp0", Target::Redirect, {"s_aa", "d1"}, {{"xbv1", 64, 0}}},
        {"floor_if", "trivial XDP redirect, bpf_redirect (no devmap)", "xbp0", Target::RedirectIf,
         {"s_aa", "d1"}, {{"xbv1", 64, 0}}},
        {"uc_aa", "xdpnet known unicast access->access", "xbp0", Target::Xdpnet, {"s_aa", "d1"}, {{"xbv1", 64, 0}}},
        {"uc_at", "xdpnet access->trunk (tag push)", "xbp0", Target::Xdpnet, {"s_at", "d2"}, {{"xbv2", 68, V}}},
        {"uc_ta", "xdpnet trunk->access (tag pop)", "xbp2", Target::Xdpnet, {"s_ta", "d1", V}, {{"xbv1", 64, 0}}},
        {"flood", "xdpnet flood to 4 ports", "xbp0", Target::Xdpnet, {"s_fl", "uu"},
         {{"xbv1", 64, 0}, {"xbv2", 68, V}, {"xbv3", 64, 0}, {"xbv4", 64, 0}}},
        {"bridge", "Linux bridge (XDP_PASS; br_netfilter off)", "xbb0", Target::Pass, {"s_br", "d1"},
         {{"xbvb1", 64, 0}}, XB_GEN_TEMPLATES, 0, "xbnsbr", 0},
        {"bridge_nf", "Linux bridge, bridge-nf-call-iptables=1 (no rules)", "xbb0", Target::Pass,
         {"s_br", "d1"}, {{"xbvb1", 64, 0}}, XB_GEN_TEMPLATES, 0, "xbnsbr", 1},
    };
    {
        // bridge_nf only where br_netfilter is there to switch on
        NetnsGuard g("xbnsbr");
        if (access("/proc/sys/net/bridge/bridge-nf-call-iptables", W_OK) != 0) {
            note("no br_netfilter: skipping the bridge_nf scenario");
            live.pop_back();
        }
    }
    std::vector<CostCase> cost = {
        {"trivial", "trivial program (1 per-CPU counter)", false, Target::Count, "xbp0", {"s_aa", "d1"}, XDP_DROP},
        {"gen_trivial", "generator + trivial (restore overhead)", true, Target::Count, "xbp0", {"s_aa", "d1"},
         XDP_DROP},
        {"uc_aa_direct", "xdpnet access->access, program alone", false, Target::Xdpnet, "xbp0", {"s_aa", "d1"},
         XDP_REDIRECT},
        {"uc_aa", "xdpnet access->access (1024 flows)", true, Target::Xdpnet, "xbp0", {"s_aa", "d1"}, XDP_REDIRECT},
        {"uc_at", "xdpnet access->trunk (tag push)", true, Target::Xdpnet, "xbp0", {"s_at", "d2"}, XDP_REDIRECT},
        {"uc_ta", "xdpnet trunk->access (tag pop)", true, Target::Xdpnet, "xbp2", {"s_ta", "d1", V}, XDP_REDIRECT},
        {"flood", "xdpnet flood (program only)", true, Target::Xdpnet, "xbp0", {"s_fl", "uu"}, XDP_REDIRECT},
    };

    // NAT: the same many-flow UDP traffic (VM -> remote; nat_flows distinct
    // source address/port tuples) through Linux forwarding, Linux + nftables
    // masquerade and xdpnet; replies (remote -> masquerade address) through
    // the masquerade and xdpnet. Built in place so the scenarios' prime steps
    // can point into the list.
    live.reserve(live.size() + 5);
    cost.reserve(cost.size() + 3);
    if (opt.nat) {
        const uint32_t nf = opt.nat_flows;
        const uint32_t mask24 = 0xffffff00, all = 0xffffffff;
        auto out_set = [nf](Mac router) {
            TmplSet t;
            t.make = [router](uint32_t i) { return nat_out_frame(router, i); };
            t.flows = nf;
            return t;
        };
        auto in_set = [nf](Mac nexthop, Mac router_up) {
            TmplSet t;
            t.make = [nexthop, router_up](uint32_t i) { return nat_in_frame(nexthop, router_up, i); };
            t.flows = nf;
            return t;
        };
        TmplSet fw_out = out_set(mac_of("xbnsfw", "xbf0")), nt_out = out_set(mac_of("xbnsnt", "xbn0"));
        TmplSet nt_in = in_set(mac_of("xbnsn1", "xbvn1"), mac_of("xbnsnt", "xbn1"));
        auto nat_live = [&](std::string name, std::string label, std::string ns, std::string in_if, Target t,
                            TmplSet ts, SinkExpect e) {
            LiveScenario ls{name, label, in_if, t, ts, {e}};
            ls.ns = ns;
            ls.group = "nat";
            live.push_back(ls);
            return &live.back();
        };
        nat_live("nat_fwd", "Linux IPv4 forwarding, no conntrack (SNAT-out traffic)", "xbnsfw", "xbf0", Target::Pass,
                 fw_out, {"xbvf1", 64, 0, 12, kNatVmNet, mask24});
        nat_live("nat_nft", "Linux forwarding + nftables masquerade, SNAT-out", "xbnsnt", "xbn0", Target::Pass, nt_out,
                 {"xbvn1", 64, 0, 12, kNatUplinkIp, all});
        auto* ni = nat_live("nat_nft_in", "Linux forwarding + nftables masquerade, reply-in", "xbnsnt", "xbn1",
                            Target::Pass, nt_in, {"xbvn0", 64, 0, 16, kNatVmNet, mask24});
        ni->prime.push_back({"xbnsnt", "xbn0", Target::Pass, nt_out});
        if (w.nat_out >= 0) {
            Mac router = parse_mac(opt.nat_router_mac);
            TmplSet x_out = out_set(router);
            nat_live("nat_xdp", "xdpnet SNAT-out (masquerade)", "", "xbp5", Target::NatOut, x_out,
                     {"xbvu0", 64, 0, 12, kNatUplinkIp, all});
            CostCase gen{"gen_nat", "generator + trivial, NAT templates", true, Target::Count, "xbp5", x_out,
                         XDP_DROP};
            gen.group = "nat";
            CostCase out{"nat_out", "xdpnet SNAT-out", true, Target::NatOut, "xbp5", x_out, XDP_REDIRECT};
            out.group = "nat";
            out.base = "gen_nat";
            cost.push_back(gen);
            cost.push_back(out);
            if (w.nat_in >= 0) {
                TmplSet arp;
                arp.make = [router](uint32_t i) { return nat_arp_frame(router, i); };
                arp.flows = kNatVms;
                TmplSet x_in = in_set(mac_of("xbnsu0", "xbvu0"), mac_of("", "xbu0"));
                auto* xi = nat_live("nat_xdp_in", "xdpnet reply-in (masquerade)", "", "xbu0", Target::NatIn, x_in,
                                    {"xbv5", 64, 0, 16, kNatVmNet, mask24});
                // the VMs' ARP (xdpnet learns its neighbours from ARP), then
                // the outgoing flows, so the replies find their connections
                xi->prime.push_back({"", "xbp5", Target::NatOut, arp});
                xi->prime.push_back({"", "xbp5", Target::NatOut, x_out});
                CostCase in{"nat_in", "xdpnet reply-in", true, Target::NatIn, "xbu0", x_in, XDP_REDIRECT};
                in.group = "nat";
                in.base = "gen_nat";
                in.prime = xi;
                cost.push_back(in);
            }
        }
    }

    // The live scenarios round-robin, so drift hits them all alike.
    // Wall time per group (l2, nat), for the report.
    std::map<std::string, double> spent;
    if (opt.live) {
        for (int r = 1; r <= opt.runs; r++)
            for (auto& s : live) {
                if (!wanted(opt, s.name))
                    continue;
                if (s.target == Target::Xdpnet && !w.have_xdpnet)
                    continue;
                double t0 = now_s();
                run_live(w, s, r);
                spent[s.group] += now_s() - t0;
            }
    }
    if (opt.cost) {
        for (int r = 1; r <= opt.runs; r++) {
            // the memory next to the program costs it bounds
            if (wanted(opt, "mem"))
                mem_probe(w, r);
            for (auto& c : cost) {
                if (!wanted(opt, "cost_" + c.name))
                    continue;
                if (c.target == Target::Xdpnet && !w.have_xdpnet)
                    continue;
                double t0 = now_s();
                run_cost(w, c, r);
                spent[c.group == "nat" ? "nat" : "l2"] += now_s() - t0;
            }
        }
    }
    // NAT: the new-connection rate, then the connection table at 1k and 1M
    // connections (a block, like FDB scaling: filling takes a second, and
    // both need the table emptied first). Needs the NAT instance's pins.
    if (w.have_nx && opt.nat) {
        const double t_scale = now_s();
        const Mac router = parse_mac(opt.nat_router_mac);
        TmplSet nt;
        nt.make = [router](uint32_t) { return nat_new_frame(router, 0); };
        nt.flows = 1;
        // 1. New connections: live rate, then the program cost per new
        // connection (each repetition makes one; the table grows from empty
        // to --nat-new-repeat connections during the run).
        if (opt.live && wanted(opt, "nat_setup"))
            for (int r = 1; r <= opt.runs; r++)
                run_nat_setup(w, router, r);
        if (opt.cost && wanted(opt, "cost_nat_new")) {
            const int rep = int(std::min<uint64_t>(uint64_t(opt.repeat), opt.nat_new_repeat));
            CostCase base{"gen_nat_new", "generator (new tuple per frame) + trivial", true, Target::Count, "xbp5",
                          nt, XDP_DROP, XB_GEN_NEW_TUPLE};
            base.group = "natsetup";
            base.repeat = rep;
            base.warmup = 10000;
            CostCase nc{"nat_new", "xdpnet SNAT-out, a new connection per packet", true, Target::NatOut, "xbp5",
                        nt, XDP_REDIRECT, XB_GEN_NEW_TUPLE};
            nc.group = "natsetup";
            nc.base = "gen_nat_new";
            nc.repeat = rep;
            nc.warmup = 10000;
            nc.flush = true;
            nc.count_conns = true;
            for (int r = 1; r <= opt.runs; r++) {
                run_cost(w, base, r);
                run_cost(w, nc, r);
            }
        }
        // 2. The table at 1k and at 1M connections: the same 1k active
        // flows (SNAT-out, established), the rest idle (one packet each).
        if (wanted(opt, "nat_ct")) {
            TmplSet act;
            act.make = [router](uint32_t i) { return nat_out_frame(router, i); };
            act.flows = opt.nat_active;
            auto tag_of = [](uint32_t n) {
                return n >= 1048576 && n % 1048576 == 0 ? std::to_string(n / 1048576) + "M"
                       : n >= 1024 && n % 1024 == 0     ? std::to_string(n / 1024) + "k"
                                                        : std::to_string(n);
            };
            w.nx.flush();
            // the active flows' connections (and the VMs in the FDB)
            LiveScenario::Prime pr{"", "xbp5", Target::NatOut, act};
            LiveScenario primer{"nat_ct_prime", "", "xbp5", Target::NatOut, act, {}};
            primer.prime.push_back(pr);
            run_prime(w, primer);
            for (uint32_t conns : {opt.nat_active, opt.nat_fill}) {
                std::string tag = tag_of(conns);
                if (conns > opt.nat_active)
                    nat_fill(w, router, conns - opt.nat_active, tag);
                nat_table_note(w, tag, conns);
                std::string what = tag_of(opt.nat_active) + " active flows, table " + tag + " connections";
                CostCase base{"nat_ct_" + tag + "_gen", "generator + trivial, NAT templates (" +
                              tag_of(opt.nat_active) + " flows), table " + tag + " connections", true,
                              Target::Count, "xbp5", act, XDP_DROP};
                base.group = "natct";
                CostCase cc{"nat_ct_" + tag, "xdpnet SNAT-out, " + what, true, Target::NatOut, "xbp5", act,
                            XDP_REDIRECT};
                cc.group = "natct";
                cc.base = base.name;
                LiveScenario ls{"nat_ct_" + tag, "xdpnet SNAT-out, " + what, "xbp5", Target::NatOut, act,
                                {{"xbvu0", 64, 0, 12, kNatUplinkIp, 0xffffffff}}};
                ls.group = "natct";
                for (int r = 1; r <= opt.runs; r++) {
                    if (opt.cost) {
                        run_cost(w, base, r);
                        run_cost(w, cc, r);
                    }
                    if (opt.live)
                        run_live(w, ls, r);
                }
            }
            w.nx.flush();
        }
        spent["nat"] += now_s() - t_scale;
        Json j;
        j.kv("kind", "timing").kv("group", "nat_scale").kv("seconds", now_s() - t_scale);
        j.emit();
    }

    for (auto& [g, t] : spent) {
        Json j;
        j.kv("kind", "timing").kv("group", g).kv("seconds", t);
        j.emit();
        note("%s scenarios took %.1f s", g.c_str(), t);
    }

    // FDB scaling: the same table (fdb_size from the policy) filled with
    // fdb_small vs fdb_large entries; the generator draws random dst/src among
    // them for every frame, so lookups walk the whole fill. Then, with the
    // large fill still in place, lookups confined to its first fdb_hot entries:
    // a big table with a small active set.
    if (opt.fdb && w.have_xdpnet && wanted(opt, "fdb")) {
        uint32_t to = ifindex_of("xbp1"), from = ifindex_of("xbp0");
        auto tag_of = [](uint32_t n) {
            return n >= 1048576 && n % 1048576 == 0 ? std::to_string(n / 1048576) + "M"
                   : n >= 1024 && n % 1024 == 0     ? std::to_string(n / 1024) + "k"
                                                    : std::to_string(n);
        };
        auto measure = [&](const std::string& tag, const std::string& what, uint32_t draw) {
            CostCase base{"fdb_" + tag + "_gen", "generator (random MACs) + trivial, " + what, true,
                          Target::Count, "xbp0", {"s_aa", "d1"}, XDP_DROP, XB_GEN_RANDOM_FDB, draw, "fdb"};
            CostCase uc{"fdb_" + tag, "xdpnet access->access, " + what, true, Target::Xdpnet, "xbp0",
                        {"s_aa", "d1"}, XDP_REDIRECT, XB_GEN_RANDOM_FDB, draw, "fdb"};
            LiveScenario ls{"fdb_" + tag, "xdpnet access->access, " + what, "xbp0", Target::Xdpnet,
                            {"s_aa", "d1"}, {{"xbv1", 64, 0}}, XB_GEN_RANDOM_FDB, draw};
            for (int r = 1; r <= opt.runs; r++) {
                run_cost(w, base, r);
                run_cost(w, uc, r);
                if (opt.live)
                    run_live(w, ls, r);
            }
        };
        for (uint32_t n : {opt.fdb_small, opt.fdb_large}) {
            std::string tag = tag_of(n);
            double t0 = now_s();
            w.xn.fill(n, V, to, from);
            note("FDB filled with %u entries in %.2f s", n, now_s() - t0);
            measure(tag, "FDB " + tag + ", random entries", n);
            if (n == opt.fdb_large && opt.fdb_hot && opt.fdb_hot < n)
                measure(tag + "_hot" + tag_of(opt.fdb_hot),
                        "FDB " + tag + ", random among " + tag_of(opt.fdb_hot) + " active entries", opt.fdb_hot);
            w.xn.unfill(n, V);
        }
    }

    if (w.triv)
        xb_trivial__destroy(w.triv);
    if (g_out != stdout)
        fclose(g_out);
    return 0;
}

// ---------------------------------------------------------------------------
// Flow export (issue 5): the daemon's side is measured with a flow table that
// holds N active flows, written here straight into the instance's mmapable
// xdpnet_flows (abi.h: struct xdpnet_flow, each CPU's region at
// cpu << flow_bits), since no generator here makes 100 000 live flows per
// second. Each flow takes the slot the datapath would give it (the same hash,
// a free slot of its pair), a serial of its CPU's counter (which the
// datapath continues from), and then every second more packets and bytes and
// a new `last`: so every flow has news at every export round.

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

struct FlowFillOptions {
    std::string pin_dir, out;
    uint32_t flows = 100000;
    double seconds = 0;   // 0: until SIGTERM/SIGINT
    uint32_t packets = 10; // added to every flow per second
    int cpu = -1;
    std::string in_port = "xbp0", out_port = "xbp1";
    uint16_t vlan = 10;
};

// The datapath's hash of the key as five 64-bit words (abi.h).
uint64_t flow_hash(const xdpnet_flow_key& k)
{
    __u64 w[5];
    static_assert(sizeof(w) == sizeof(k), "the key is five words");
    memcpy(w, &k, sizeof w);
    return xdpnet_flow_hash(w);
}

// A BPF_F_MMAPABLE array's values, read-write (each value rounded up to 8
// bytes, from offset 0).
struct MmapArray {
    void* addr = nullptr;
    size_t len = 0;
    uint32_t entries = 0, value_size = 0;
    void map(int fd, const char* what, size_t want_value)
    {
        bpf_map_info info{};
        uint32_t ilen = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
            die("%s info: %s", what, strerror(errno));
        if (info.value_size != want_value)
            die("%s values are %u bytes, this xdpnet-bench was built for %zu: xdpnet-bench and xdpnet come from "
                "different sources; rebuild both", what, info.value_size, want_value);
        if (!(info.map_flags & BPF_F_MMAPABLE))
            die("%s is not mmapable", what);
        entries = info.max_entries;
        value_size = info.value_size;
        const size_t page = size_t(sysconf(_SC_PAGESIZE));
        len = ((size_t(value_size) + 7) / 8 * 8 * entries + page - 1) / page * page;
        addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
            die("mmap %s: %s", what, strerror(errno));
    }
    ~MmapArray()
    {
        if (addr && addr != MAP_FAILED)
            munmap(addr, len);
    }
};

int cmd_flow_fill(const FlowFillOptions& o)
{
    if (o.pin_dir.empty())
        die("flow-fill needs --pin-dir");
    Xdpnet xn;
    if (!xn.open(o.pin_dir))
        die("flow-fill: the instance's pins are not usable");
    auto pin = [&](const char* name) {
        auto p = Xdpnet::find_pin(o.pin_dir, {name});
        int fd = p ? bpf_obj_get(p->c_str()) : -1;
        if (fd < 0)
            die("flow-fill: no %s under %s (an xdpnet without per-flow accounting?)", name, o.pin_dir.c_str());
        return fd;
    };
    const int flows_fd = pin("xdpnet_flows"), exp_fd = pin("xdpnet_flow_exp"), fcpu_fd = pin("xdpnet_flow_cpu");
    MmapArray slots_m, marks_m;
    slots_m.map(flows_fd, "xdpnet_flows", sizeof(xdpnet_flow));
    marks_m.map(exp_fd, "xdpnet_flow_exp", sizeof(xdpnet_flow_exp));
    auto* slots = static_cast<xdpnet_flow*>(slots_m.addr);
    auto* marks = static_cast<xdpnet_flow_exp*>(marks_m.addr);
    const uint32_t n = slots_m.entries;
    if (marks_m.entries != n)
        die("xdpnet_flows has %u slots, xdpnet_flow_exp %u", n, marks_m.entries);
    const int nc = ncpus();
    const uint32_t per_cpu = n / uint32_t(nc);
    uint32_t bits = 0;
    while ((1u << (bits + 1)) <= per_cpu)
        bits++;
    if (per_cpu != (1u << bits) || per_cpu * uint32_t(nc) != n)
        die("xdpnet_flows has %u slots: not %d CPUs x a power of two", n, nc);

    // Start from an empty table and no export marks (run.sh starts the
    // daemon after this): what the datapath or an earlier run left goes.
    memset(slots, 0, size_t(n) * sizeof(xdpnet_flow));
    memset(marks, 0, size_t(n) * sizeof(xdpnet_flow_exp));
    if (o.flows == 0) {
        note("flow-fill: emptied xdpnet_flows and xdpnet_flow_exp (%u slots)", n);
        return 0;
    }
    // 2-way sets: keep well below full, or placing keys gets slow.
    if (uint64_t(o.flows) * 4 > uint64_t(n) * 3)
        die("flow-fill: %u flows in a table of %u slots: more than 3/4 full (telemetry.flows.size)", o.flows, n);
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set))
            die("pin to CPU %d: %s", o.cpu, strerror(errno));
    }
    const uint16_t in_slot = xn.slot_of(ifindex_of(o.in_port)), out_slot = xn.slot_of(ifindex_of(o.out_port));
    if (in_slot > 0xff || out_slot > 0xff)
        die("port slots %u/%u do not fit a flow key", in_slot, out_slot);

    // The CPUs' serial counters: our flows take the next serials, and the
    // datapath continues after them.
    std::vector<xdpnet_flow_cpu> fc(nc);
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(fcpu_fd, &zero, fc.data()))
        die("xdpnet_flow_cpu: %s", strerror(errno));

    // A 64-byte Ethernet/IPv4/UDP frame: 50 IP bytes.
    const uint64_t ip_len = 50;
    const uint64_t now = xn.now_ns();
    std::vector<uint32_t> placed;
    placed.reserve(o.flows);
    uint64_t skipped = 0;
    for (uint32_t k = 0; placed.size() < o.flows; k++) {
        if (k >= (1u << 22))
            die("flow-fill: could not place %u flows", o.flows);
        const uint32_t cpu = uint32_t(placed.size() % nc);
        // 10.128.0.0 + k -> 10.1.<k>:9, UDP from 1024 + k % 64512: distinct keys
        xdpnet_flow_key key{};
        const uint32_t sa = 0x0a800000u + k, da = 0x0a010000u + (k & 0xffff);
        key.saddr[10] = key.saddr[11] = key.daddr[10] = key.daddr[11] = 0xff;
        for (int b = 0; b < 4; b++) {
            key.saddr[12 + b] = uint8_t(sa >> (24 - 8 * b));
            key.daddr[12 + b] = uint8_t(da >> (24 - 8 * b));
        }
        key.sport = htons(uint16_t(1024 + k % 64512));
        key.dport = htons(9);
        key.proto = IPPROTO_UDP;
        key.in_slot = uint8_t(in_slot);
        key.vid = o.vlan;
        // The first free slot of its first pair, then of its second, as the
        // datapath places a new flow.
        const uint64_t h = flow_hash(key);
        const uint32_t p1 = (cpu << bits) | xdpnet_flow_pair(h, bits), p2 = (cpu << bits) | xdpnet_flow_pair2(h, bits);
        uint32_t idx = UINT32_MAX;
        for (uint32_t c : {p1, p1 | 1, p2, p2 | 1})
            if (!slots[c].packets) {
                idx = c;
                break;
            }
        if (idx == UINT32_MAX) {
            skipped++; // all four taken: the next key
            continue;
        }
        xdpnet_flow& f = slots[idx];
        f.key = key;
        f.packets = 1;
        f.bytes = ip_len;
        f.last = uint32_t(now >> XDPNET_FLOW_TIME_SHIFT);
        f.out_slot = uint8_t(out_slot);
        f.flags = XDPNET_FLOW_FORWARDED;
        f.first_ns = now;
        if (++fc[cpu].serial == 0)
            ++fc[cpu].serial;
        f.serial = fc[cpu].serial;
        placed.push_back(idx);
    }
    for (auto& c : fc)
        c.cur = 0;
    if (bpf_map_update_elem(fcpu_fd, &zero, fc.data(), BPF_ANY))
        die("xdpnet_flow_cpu: %s", strerror(errno));
    uint64_t packets = placed.size(), bytes = placed.size() * ip_len;
    note("flow-fill: %zu flows in %u slots (%u per CPU), in_slot %u (%s), %llu keys skipped (pair full)",
         placed.size(), n, per_cpu, in_slot, o.in_port.c_str(), (unsigned long long)skipped);
    printf("ready %zu\n", placed.size());
    fflush(stdout);

    struct sigaction sa{};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    // Every second (on a fixed schedule): news for every flow.
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    const double t0 = now_s();
    std::vector<double> tick_us;
    while (!g_stop && (o.seconds <= 0 || now_s() - t0 < o.seconds)) {
        next.tv_sec += 1;
        while (!g_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
        }
        if (g_stop || (o.seconds > 0 && now_s() - t0 > o.seconds + 0.5))
            break;
        const double ts = now_s();
        const uint32_t last = uint32_t(xn.now_ns() >> XDPNET_FLOW_TIME_SHIFT);
        for (uint32_t idx : placed) {
            xdpnet_flow& f = slots[idx];
            f.packets += o.packets;
            f.bytes += o.packets * ip_len;
            f.last = last;
        }
        tick_us.push_back((now_s() - ts) * 1e6);
        packets += uint64_t(placed.size()) * o.packets;
        bytes += uint64_t(placed.size()) * o.packets * ip_len;
    }
    std::sort(tick_us.begin(), tick_us.end());
    if (!o.out.empty()) {
        g_out = fopen(o.out.c_str(), "a");
        if (!g_out)
            die("cannot open %s: %s", o.out.c_str(), strerror(errno));
        Json j;
        j.kv("kind", "flowfill")
            .kv("flows", double(placed.size()))
            .kv("slots", n)
            .kv("skipped_keys", double(skipped))
            .kv("ticks", double(tick_us.size()))
            .kv("packets_per_tick", o.packets)
            .kv("packets_total", double(packets))
            .kv("bytes_total", double(bytes))
            .kv("tick_us_median", tick_us.empty() ? 0.0 : tick_us[tick_us.size() / 2])
            .kv("tick_us_max", tick_us.empty() ? 0.0 : tick_us.back());
        j.emit();
        fclose(g_out);
        g_out = stdout;
    }
    note("flow-fill: %zu ticks, %llu packets written in all; stopped (the flows stay in the table)",
         tick_us.size(), (unsigned long long)packets);
    return 0;
}

// The live generation's flow_bits; with `set`, written (behind xdpnet's back:
// the next `xdpnet apply` writes the policy's value again).
int cmd_flow_bits(const std::string& pin_dir, int set)
{
    Xdpnet xn;
    if (pin_dir.empty() || !xn.open(pin_dir) || xn.config < 0)
        die("flow-bits: the instance's pins (xdpnet_config) are not usable under %s", pin_dir.c_str());
    auto c = xn.live_config();
    if (!c)
        die("flow-bits: cannot read xdpnet_config: %s", strerror(errno));
    if (set >= 0) {
        if (set > XDPNET_FLOW_BITS_MAX || (set && set < XDPNET_FLOW_BITS_MIN))
            die("flow-bits: %d is not 0 or %d..%d", set, XDPNET_FLOW_BITS_MIN, XDPNET_FLOW_BITS_MAX);
        c->flow_bits = uint8_t(set);
        uint32_t gen = xn.active_gen();
        if (bpf_map_update_elem(xn.config, &gen, &*c, BPF_EXIST))
            die("flow-bits: cannot write xdpnet_config: %s", strerror(errno));
    }
    printf("%u\n", c->flow_bits);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        usage();
    std::string cmd = argv[1];
    if (cmd == "macs") {
        if (argc < 3)
            usage();
        uint32_t n = argc > 3 ? strtoul(argv[3], nullptr, 0) : 1024;
        for (uint32_t i = 0; i < n; i++)
            printf("%s\n", mac_str(set_mac(argv[2], i)).c_str());
        return 0;
    }
    if (cmd == "flow-fill" || cmd == "flow-bits") {
        FlowFillOptions f;
        int set = -1;
        for (int i = 2; i < argc; i++) {
            std::string a = argv[i];
            auto val = [&]() -> std::string {
                if (i + 1 >= argc)
                    usage();
                return argv[++i];
            };
            if (a == "--pin-dir") f.pin_dir = val();
            else if (a == "--set" && cmd == "flow-bits") set = std::stoi(val());
            else if (cmd == "flow-bits") usage();
            else if (a == "--flows") f.flows = std::stoul(val());
            else if (a == "--seconds") f.seconds = std::stod(val());
            else if (a == "--packets") f.packets = std::stoul(val());
            else if (a == "--cpu") f.cpu = std::stoi(val());
            else if (a == "--in-port") f.in_port = val();
            else if (a == "--out-port") f.out_port = val();
            else if (a == "--vlan") f.vlan = uint16_t(std::stoi(val()));
            else if (a == "--out") f.out = val();
            else usage();
        }
        libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
        return cmd == "flow-fill" ? cmd_flow_fill(f) : cmd_flow_bits(f.pin_dir, set);
    }
    if (cmd != "run")
        usage();
    Options o;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--runs") o.runs = std::stoi(val());
        else if (a == "--duration") o.duration = std::stod(val());
        else if (a == "--cpu") o.cpu = std::stoi(val());
        else if (a == "--repeat") o.repeat = std::stoi(val());
        else if (a == "--flows") o.flows = std::stoul(val());
        else if (a == "--pin-dir") o.pin_dir = val();
        else if (a == "--fdb-large") o.fdb_large = std::stoul(val());
        else if (a == "--fdb-small") o.fdb_small = std::stoul(val());
        else if (a == "--vlan") o.vlan = std::stoi(val());
        else if (a == "--out") o.out = val();
        else if (a == "--no-live") o.live = false;
        else if (a == "--no-cost") o.cost = false;
        else if (a == "--no-fdb") o.fdb = false;
        else if (a == "--fdb-hot") o.fdb_hot = std::stoul(val());
        else if (a == "--store-bytes") o.store_bytes = true;
        else if (a == "--nat") o.nat = true;
        else if (a == "--nat-flows") o.nat_flows = std::stoul(val());
        else if (a == "--nat-xdpnet") o.nat_xdpnet = true;
        else if (a == "--nat-router-mac") o.nat_router_mac = val();
        else if (a == "--nat-note") o.nat_note = val();
        else if (a == "--nat-pin-dir") o.nat_pin_dir = val();
        else if (a == "--xdpnet") o.xdpnet_bin = val();
        else if (a == "--no-nat-scale") o.nat_scale = false;
        else if (a == "--nat-fill") o.nat_fill = std::stoul(val());
        else if (a == "--nat-active") o.nat_active = std::stoul(val());
        else if (a == "--nat-new-repeat") o.nat_new_repeat = std::stoul(val());
        else if (a == "--variant") g_variant = val();
        else if (a == "--block") g_block = std::stoi(val());
        else if (a == "--only") {
            std::stringstream ss(val());
            std::string item;
            while (std::getline(ss, item, ','))
                o.only.push_back(item);
        } else
            usage();
    }
    if (o.runs < 1 || o.flows < 1 || o.flows > XB_MAX_TMPL || o.repeat < 1)
        usage();
    if (o.nat_active < 1 || o.nat_active > kNatMaxFlows || o.nat_fill <= o.nat_active || o.nat_new_repeat < 1) {
        fprintf(stderr, "xdpnet-bench: --nat-active must be 1..%u, below --nat-fill\n", kNatMaxFlows);
        usage();
    }
    if (o.nat_flows < kNatVms || o.nat_flows > kNatMaxFlows) {
        fprintf(stderr, "xdpnet-bench: --nat-flows must be %u..%u\n", kNatVms, kNatMaxFlows);
        usage();
    }
    return cmd_run(o);
}
