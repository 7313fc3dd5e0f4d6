// `xdpnet trace`: a private copy of the datapath, a copy of the live state,
// one BPF_PROG_TEST_RUN, and what it left behind.
//
// 1. Snapshot: read the live instance's pinned maps, opened read-only.
// 2. Load: a second instance of the embedded skeleton, tables sized to what
//    the snapshot holds, only the programs the run needs, nothing pinned or
//    attached.
// 3. Copy the snapshot into it; flood devmaps get the private program.
// 4. Run xdpnet_ingress on the frame with the port's ifindex as ingress (no
//    BPF_F_TEST_XDP_LIVE_FRAMES: nothing is transmitted).
// 5. Read back counters, the output frame, and the entries the run wrote.
//
// Every map of the object has one rule below (a map without one stops the
// trace, so a new map cannot be forgotten silently):
//
//   map                  rule       why
//   xdpnet_state         whole      the live generation (and ABI version)
//   xdpnet_config        live gen   policy, per generation
//   xdpnet_portidx       live gen   policy: ifindex -> slot
//   xdpnet_ports         live gen   policy
//   xdpnet_vlans         live gen   policy: VLAN members
//   xdpnet_tx            live gen   transmit devmap: same ifindexes
//   xdpnet_flood         live gen   map-in-map: a new devmap per VLAN with the same
//                                   ifindexes, each running the PRIVATE copy of the
//                                   program the live entry runs
//   xdpnet_gateway       live gen   policy
//   xdpnet_routes        live gen   policy (LPM trie, gen in the key)
//   xdpnet_natcfg        live gen   policy
//   xdpnet_fwd           live gen   policy (gen in the key)
//   xdpnet_policers      live gen   policy
//   xdpnet_limits        live gen   policy (LPM trie, gen in the key)
//   xdpnet_psec_mac      live gen   policy (gen in the key)
//   xdpnet_psec_ip       live gen   policy (LPM trie, gen in the key)
//   xdpnet_aclcfg        live gen   policy
//   xdpnet_aclshape      live gen   policy
//   xdpnet_acl           live gen   policy (shape id / 32 = gen), however large
//   xdpnet_fdbver        whole      validates cache entries
//   xdpnet_maccnt        whole      mac_limit accounting (255 counts)
//   xdpnet_ctcount       whole      max_connections accounting (4096 counts)
//   xdpnet_buckets       whole      policer state: a trace takes tokens from the copy
//   xdpnet_fdb           state      learned/static MACs
//   xdpnet_ct            state      connections (both halves)
//   xdpnet_aclconn       state      connections stateful ACL rules let replies in for
//   xdpnet_neigh         whole      neighbours (capacity fixed at 65536 by the object)
//   xdpnet_frag          whole      first fragments seen (capacity fixed at 65536)
//   xdpnet_limit_state   whole      per-address buckets (capacity fixed at 65536)
//   xdpnet_stats         empty      written by the programs: read back after the run
//   xdpnet_aclhits       empty      written by the programs: read back (the rule that matched)
//   xdpnet_fdbcache      empty      per-CPU cache: a miss reads the (copied) FDB
//   xdpnet_nhcache       empty      per-CPU cache: a miss asks the kernel's FIB (read only)
//   xdpnet_ctscratch     empty      per-CPU scratch
//   xdpnet_aclscratch    empty      per-CPU scratch
//   xdpnet_limscratch    empty      per-CPU scratch
//   xdpnet_gc            never      holds a bpf_timer (cannot be copied); only the gc
//                                   program, which the trace does not run, reads it
//   xdpnet_ifsave        never      loader-only (offloads to restore at detach)
//   xdpnet_netname       never      loader-only; the explanation reads the live names
//
// "state" tables are copied whole when their capacity is at most
// TraceOptions::whole_copy_limit, else only the entries the frame can touch:
// FDB (source and destination MAC in the frame's VLAN, and the neighbours a
// routed or translated packet is delivered to), connections (the frame's
// tuple, an ICMP error's quoted tuple, a later fragment's connection, the
// peers of all of those, and the reply tuple a new connection would take
// first), ACL connections (the frame's tuple in both directions, as sent
// and as translated, for each VLAN pair it may travel between). A copy of
// the connection table has room for one more connection only when the live
// one has (ct_full is traced right); a targeted FDB copy always has room, so
// fdb_full is not reproduced for FDBs above the limit.
#include "datapath/trace.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "datapath/error.h"
#include "telemetry/trace_report.h"
#include "xdpnet_bpf.skel.h"

namespace xdpnet {
namespace {

using Table = std::map<std::string, std::string>; // key bytes -> value bytes

// What BPF_PROG_TEST_RUN keeps around an XDP frame in its page: the
// headroom (XDP_PACKET_HEADROOM) and the skb_shared_info at the end
// (SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on 64-bit).
constexpr size_t kXdpHeadroom = 256, kXdpSharedInfo = 320;

template <class T>
std::string bytes_of(const T& v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <class T>
T from_bytes(const std::string& s) {
    T v{};
    std::memcpy(&v, s.data(), std::min(sizeof(v), s.size()));
    return v;
}

bool all_zero(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// ------------------------------------------------------------ map rules

enum class Rule {
    Whole,   // every entry
    LiveGen, // policy: the live generation's entries
    State,   // datapath state: whole up to the limit, else what the frame touches
    Empty,   // written by the datapath only: starts empty
    Never,   // not copied (loader-only, or a timer)
};

/// Where a policy map keeps its generation: arrays by index (gen * stride
/// + i), hashes and tries in the key (in_gen reads it).
struct MapRule {
    const char* name;
    Rule rule;
    uint32_t stride = 0;
    bool (*in_gen)(const std::string& key, uint32_t gen) = nullptr;
};

template <class K, auto Field>
bool gen_field(const std::string& key, uint32_t gen) {
    return uint32_t(from_bytes<K>(key).*Field) == gen;
}

bool acl_in_gen(const std::string& key, uint32_t gen) {
    return from_bytes<struct xdpnet_acl_key>(key).shape / XDPNET_ACL_MAX_SHAPES == gen;
}

const MapRule kRules[] = {
    {"xdpnet_state", Rule::Whole},
    {"xdpnet_config", Rule::LiveGen, 1},
    {"xdpnet_portidx", Rule::LiveGen, XDPNET_MAX_IFINDEX},
    {"xdpnet_ports", Rule::LiveGen, XDPNET_MAX_PORTS},
    {"xdpnet_vlans", Rule::LiveGen, XDPNET_VLAN_COUNT},
    {"xdpnet_tx", Rule::LiveGen, XDPNET_MAX_PORTS},
    {"xdpnet_flood", Rule::LiveGen, XDPNET_VLAN_COUNT},
    {"xdpnet_gateway", Rule::LiveGen, XDPNET_VLAN_COUNT},
    {"xdpnet_routes", Rule::LiveGen, 0, gen_field<struct xdpnet_route_key, &xdpnet_route_key::gen>},
    {"xdpnet_natcfg", Rule::LiveGen, XDPNET_VLAN_COUNT},
    {"xdpnet_fwd", Rule::LiveGen, 0, gen_field<struct xdpnet_fwd_key, &xdpnet_fwd_key::gen>},
    {"xdpnet_policers", Rule::LiveGen, XDPNET_MAX_PORTS * 2},
    {"xdpnet_limits", Rule::LiveGen, 0, gen_field<struct xdpnet_limit_key, &xdpnet_limit_key::gen>},
    {"xdpnet_psec_mac", Rule::LiveGen, 0, gen_field<struct xdpnet_psec_mac_key, &xdpnet_psec_mac_key::gen>},
    {"xdpnet_psec_ip", Rule::LiveGen, 0, gen_field<struct xdpnet_psec_ip_key, &xdpnet_psec_ip_key::gen>},
    {"xdpnet_aclcfg", Rule::LiveGen, 1},
    {"xdpnet_aclshape", Rule::LiveGen, XDPNET_ACL_MAX_SHAPES},
    {"xdpnet_acl", Rule::LiveGen, 0, acl_in_gen},
    {"xdpnet_fdbver", Rule::Whole},
    {"xdpnet_maccnt", Rule::Whole},
    {"xdpnet_ctcount", Rule::Whole},
    {"xdpnet_buckets", Rule::Whole},
    {"xdpnet_fdb", Rule::State},
    {"xdpnet_ct", Rule::State},
    {"xdpnet_aclconn", Rule::State},
    {"xdpnet_neigh", Rule::Whole},
    {"xdpnet_frag", Rule::Whole},
    {"xdpnet_limit_state", Rule::Whole},
    {"xdpnet_stats", Rule::Empty},
    {"xdpnet_aclhits", Rule::Empty},
    {"xdpnet_fdbcache", Rule::Empty},
    {"xdpnet_nhcache", Rule::Empty},
    {"xdpnet_ctscratch", Rule::Empty},
    {"xdpnet_aclscratch", Rule::Empty},
    {"xdpnet_limscratch", Rule::Empty},
    // Flow accounting and capture: the copy's flow table keeps the object's
    // one slot (the live flow_bits index past it: nothing is accounted) and
    // no capture is armed in it.
    {"xdpnet_flows", Rule::Empty},
    {"xdpnet_flow_exp", Rule::Never},
    {"xdpnet_flow_events", Rule::Never},
    {"xdpnet_flow_cpu", Rule::Empty},
    {"xdpnet_capture", Rule::Never},
    {"xdpnet_capture_ring", Rule::Never},
    {"xdpnet_capture_rate", Rule::Empty},
    {"xdpnet_gc", Rule::Never},
    {"xdpnet_ifsave", Rule::Never},
    {"xdpnet_netname", Rule::Never},
};

const MapRule* rule_of(const std::string& name) {
    for (const auto& r : kRules)
        if (name == r.name)
            return &r;
    return nullptr;
}

// ------------------------------------------------------------ live maps

struct MapInfo {
    uint32_t type = 0, key_size = 0, value_size = 0, max_entries = 0;
};

MapInfo info_of(int fd, const std::string& what) {
    struct bpf_map_info info = {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        throw_sys("inspect", what, errno);
    return {info.type, info.key_size, info.value_size, info.max_entries};
}

std::optional<std::string> lookup_bytes(int fd, const MapInfo& mi, const std::string& key) {
    std::string v(mi.value_size, '\0');
    if (bpf_map_lookup_elem(fd, key.data(), v.data()) != 0)
        return std::nullopt;
    return v;
}

/// Every entry of a hash map or trie.
Table dump_entries(int fd, const MapInfo& mi) {
    Table out;
    std::string cur(mi.key_size, '\0'), next(mi.key_size, '\0');
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        if (auto v = lookup_bytes(fd, mi, next))
            out[next] = *v;
        cur = next;
        prev = cur.data();
    }
    return out;
}

/// Array entries lo..hi-1 whose value is not all zeros (one batch lookup
/// where the kernel has it, else one lookup per index).
Table dump_range(int fd, const MapInfo& mi, uint32_t lo, uint32_t hi) {
    Table out;
    hi = std::min(hi, mi.max_entries);
    if (lo >= hi)
        return out;
    const uint32_t n = hi - lo;
    std::vector<__u32> keys(n);
    std::string values(size_t(n) * mi.value_size, '\0');
    __u32 count = n, prev = lo - 1, last = 0;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, lo ? &prev : nullptr, &last, keys.data(), values.data(), &count, &opts);
    if (err && errno != ENOENT) {
        count = 0;
        for (__u32 i = lo; i < hi; i++) {
            std::string v(mi.value_size, '\0');
            if (bpf_map_lookup_elem(fd, &i, v.data()) == 0 && !all_zero(v))
                out[bytes_of(i)] = v;
        }
        return out;
    }
    for (__u32 i = 0; i < count && i < n; i++) {
        std::string v = values.substr(size_t(i) * mi.value_size, mi.value_size);
        if (!all_zero(v))
            out[bytes_of(keys[i])] = v;
    }
    return out;
}

/// The live instance's pinned maps, opened on first use, read-only
/// (BPF_F_RDONLY): the kernel itself refuses any write through them.
class Live {
  public:
    explicit Live(std::string dir) : dir_(std::move(dir)) {}

    int fd(const std::string& name) {
        auto it = fds_.find(name);
        if (it == fds_.end()) {
            const std::string path = dir_ + "/" + name;
            LIBBPF_OPTS(bpf_obj_get_opts, ro, .file_flags = BPF_F_RDONLY);
            Fd f(bpf_obj_get_opts(path.c_str(), &ro));
            if (!f)
                throw_sys("open pinned", path, errno);
            infos_[name] = info_of(f.get(), path);
            it = fds_.emplace(name, std::move(f)).first;
        }
        return it->second.get();
    }
    const MapInfo& info(const std::string& name) {
        fd(name);
        return infos_.at(name);
    }
    std::optional<std::string> lookup(const std::string& name, const std::string& key) {
        return lookup_bytes(fd(name), info(name), key);
    }
    template <class V, class K>
    std::optional<V> get(const std::string& name, const K& key) {
        auto v = lookup(name, bytes_of(key));
        if (!v)
            return std::nullopt;
        return from_bytes<V>(*v);
    }

  private:
    std::string dir_;
    std::map<std::string, Fd> fds_;
    std::map<std::string, MapInfo> infos_;
};

// ------------------------------------------------------------ the frame

/// What the datapath keys its state lookups on, parsed from the frame the
/// way bpf/lib/parse.h, nat.h (tuple_parse) and ipinfo.h do.
struct FrameKeys {
    std::array<uint8_t, 6> src{}, dst{};
    uint16_t tci = 0;
    bool tagged = false; // one 802.1Q tag
    uint32_t arp_spa = 0; // ARP sender (network order), 0 when not ARP
    // IPv4 / IPv6, as the ACL keys them.
    uint8_t family = 0, proto = 0;
    std::array<uint8_t, 16> saddr{}, daddr{};
    __be16 sport = 0, dport = 0; // TCP/UDP ports (0 otherwise and in later fragments)
    // IPv4 connection tuple (nat.h tuple_parse).
    bool tuple = false;
    bool later_fragment = false;
    __be16 ip_id = 0;
    __be16 t_sport = 0, t_dport = 0; // ICMP echo: the identifier as sport (request) / dport (reply)
    std::optional<struct xdpnet_ct_key> icmp_error; // the quoted tuple, reversed (side unset)

    __be32 v4_src() const { return first4(saddr); }
    __be32 v4_dst() const { return first4(daddr); }

  private:
    static __be32 first4(const std::array<uint8_t, 16>& a) {
        __be32 v;
        std::memcpy(&v, a.data(), 4);
        return v;
    }
};

uint16_t rd16(std::span<const uint8_t> f, size_t at) { return uint16_t(f[at] << 8 | f[at + 1]); }

void parse_icmp_error(std::span<const uint8_t> f, size_t icmp, FrameKeys& k) {
    const uint8_t type = f[icmp];
    const size_t inner = icmp + 8;
    if ((type != 3 && type != 11 && type != 12) || f.size() < inner + 28)
        return;
    struct xdpnet_ct_key e = {};
    std::memcpy(&e.saddr, &f[inner + 16], 4); // the quoted destination
    std::memcpy(&e.daddr, &f[inner + 12], 4);
    e.proto = f[inner + 9];
    const size_t il4 = inner + 20;
    if (e.proto == IPPROTO_ICMP) {
        if (f[il4] != 8)
            return;
        std::memcpy(&e.dport, &f[il4 + 4], 2);
    } else {
        std::memcpy(&e.sport, &f[il4 + 2], 2);
        std::memcpy(&e.dport, &f[il4], 2);
    }
    k.icmp_error = e;
}

void parse_ipv4(std::span<const uint8_t> f, size_t at, FrameKeys& k) {
    if (f.size() < at + 20 || (f[at] >> 4) != 4 || (f[at] & 0xf) < 5)
        return;
    const size_t ihl = size_t(f[at] & 0xf) * 4;
    k.family = 4;
    k.proto = f[at + 9];
    std::memcpy(k.saddr.data(), &f[at + 12], 4);
    std::memcpy(k.daddr.data(), &f[at + 16], 4);
    std::memcpy(&k.ip_id, &f[at + 4], 2);
    const uint16_t frag = rd16(f, at + 6);
    const size_t l4 = at + ihl;
    if (frag & 0x1fff) {
        k.later_fragment = true;
        k.tuple = k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP || k.proto == IPPROTO_ICMP;
        return;
    }
    if ((k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP) && f.size() >= l4 + 4) {
        std::memcpy(&k.sport, &f[l4], 2);
        std::memcpy(&k.dport, &f[l4 + 2], 2);
        k.t_sport = k.sport;
        k.t_dport = k.dport;
        k.tuple = true;
    } else if (k.proto == IPPROTO_ICMP && f.size() >= l4 + 8) {
        const uint8_t type = f[l4];
        if (type == 8)
            std::memcpy(&k.t_sport, &f[l4 + 4], 2);
        else if (type == 0)
            std::memcpy(&k.t_dport, &f[l4 + 4], 2);
        k.tuple = type == 0 || type == 8;
        parse_icmp_error(f, l4, k);
    }
}

void parse_ipv6(std::span<const uint8_t> f, size_t at, FrameKeys& k) {
    if (f.size() < at + 40 || (f[at] >> 4) != 6)
        return;
    k.family = 6;
    k.proto = f[at + 6];
    std::memcpy(k.saddr.data(), &f[at + 8], 16);
    std::memcpy(k.daddr.data(), &f[at + 24], 16);
    if ((k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP) && f.size() >= at + 44) {
        std::memcpy(&k.sport, &f[at + 40], 2);
        std::memcpy(&k.dport, &f[at + 42], 2);
    }
}

FrameKeys parse_frame(std::span<const uint8_t> f) {
    FrameKeys k;
    if (f.size() < ETH_HLEN)
        return k;
    std::copy(f.begin(), f.begin() + 6, k.dst.begin());
    std::copy(f.begin() + 6, f.begin() + 12, k.src.begin());
    size_t at = 12;
    uint16_t type = rd16(f, at);
    if (type == ETH_P_8021Q && f.size() >= 18) {
        k.tagged = true;
        k.tci = rd16(f, 14);
        at += 4;
        type = rd16(f, at);
    }
    at += 2;
    if (type == ETH_P_ARP && f.size() >= at + 28)
        std::memcpy(&k.arp_spa, &f[at + 14], 4);
    else if (type == ETH_P_IP)
        parse_ipv4(f, at, k);
    else if (type == ETH_P_IPV6)
        parse_ipv6(f, at, k);
    return k;
}

// ------------------------------------------------------------ the copy

using Skeleton = std::unique_ptr<struct xdpnet_bpf, decltype(&xdpnet_bpf__destroy)>;

/// The whole trace: snapshot, private copy, run, read back.
class Tracer {
  public:
    Tracer(const Instance& inst, const LivePort& port, std::span<const uint8_t> frame,
           const TraceOptions& opts)
        : inst_(inst), port_(port), frame_(frame.begin(), frame.end()), opts_(opts),
          live_(instance_dir(inst.name())), keys_(parse_frame(frame)), skel_(nullptr, xdpnet_bpf__destroy) {}

    telemetry::TraceFacts run() {
        open_object();
        snapshot();
        load();
        copy();
        execute();
        return facts_;
    }

  private:
    // ---- 1. snapshot of the live state
    void open_object();
    std::vector<const MapRule*> object_rules() const;
    void snapshot();
    void take(const MapRule& r);
    Table take_state(const std::string& name, const std::vector<std::string>& touched);
    void take_flood();
    std::vector<std::string> touched_fdb();
    std::vector<std::string> touched_ct();
    std::vector<std::string> touched_aclconn();
    std::vector<std::pair<uint16_t, __be32>> delivery_targets();
    std::optional<uint16_t> route_vlan(__be32 daddr);
    std::optional<struct xdpnet_fwd> forward_for(uint32_t uplink, __be16 port);
    std::optional<struct xdpnet_nat_config> natcfg(uint16_t vid);
    /// A snapshot entry, or "" (all zeros once decoded) when absent.
    std::string snapped(const std::string& map, const std::string& key) const;

    // ---- 2./3. the private copy
    void load();
    uint32_t private_size(const std::string& name, uint32_t object_default);
    void copy();
    void copy_flood();
    int private_prog_fd(uint32_t live_prog_id);
    int priv_fd(const std::string& name);

    // ---- 4./5. the run and what it left
    void execute();
    void read_back();
    template <class K, class V>
    std::vector<telemetry::RowChange<K, V>> changes(const std::string& map);
    void read_acl_hit();

    const Instance& inst_;
    const LivePort& port_;
    std::vector<uint8_t> frame_;
    TraceOptions opts_;
    Live live_;
    FrameKeys keys_;
    uint32_t gen_ = 0;
    std::optional<uint16_t> vid_; // the frame's VLAN on a switch port
    std::map<std::string, Table> snap_;
    std::map<uint16_t, std::vector<std::pair<uint32_t, uint32_t>>> flood_; // vid -> (ifindex, prog id)
    std::set<std::string> flood_progs_; // names of the programs live flood entries run
    uint32_t ct_room_ = 0;              // entries the live connection table has room for (0..2)
    std::vector<struct xdpnet_ct> ct_halves_; // live halves of the frame's connection(s)
    Skeleton skel_;
    std::vector<Fd> inner_; // private flood devmaps, kept open for the run
    telemetry::TraceFacts facts_;
};

/// The embedded object, opened (not loaded): its maps say what to copy.
void Tracer::open_object() {
    skel_.reset(xdpnet_bpf__open());
    if (!skel_)
        throw_sys("open", "embedded BPF object", errno);
}

/// The rule of every map of the object; a map without one stops the trace.
std::vector<const MapRule*> Tracer::object_rules() const {
    std::vector<const MapRule*> out;
    struct bpf_map* map;
    bpf_object__for_each_map(map, skel_->obj) {
        const std::string name = bpf_map__name(map);
        if (name.find('.') != std::string::npos)
            continue; // .rodata and the like: set from the object, as the live one was
        const MapRule* r = rule_of(name);
        if (!r)
            throw Error(ExitCode::Failure, "trace: the datapath has a map '" + name +
                                               "' that loader/datapath/trace.cpp has no copy rule for");
        out.push_back(r);
    }
    return out;
}

void Tracer::snapshot() {
    gen_ = inst_.state().active_gen & 1;
    if (port_.port.mode != XDPNET_MODE_UPLINK)
        vid_ = telemetry::classify_vlan(port_.port, frame_);
    // Policy and small tables first: the state tables' touched keys look
    // some of them up.
    for (const MapRule* r : object_rules())
        if (r->rule == Rule::Whole || r->rule == Rule::LiveGen)
            take(*r);
    take_flood();
    const std::vector<std::string> ct_keys = touched_ct(); // also finds the frame's live halves
    snap_["xdpnet_ct"] = take_state("xdpnet_ct", ct_keys);
    snap_["xdpnet_fdb"] = take_state("xdpnet_fdb", touched_fdb());
    snap_["xdpnet_aclconn"] = take_state("xdpnet_aclconn", touched_aclconn());
    // Room for a new connection when the live table has it (2 entries each).
    uint64_t pairs = 0;
    for (const auto& [k, v] : snap_.at("xdpnet_ctcount"))
        pairs += from_bytes<__u64>(v);
    const uint64_t cap = live_.info("xdpnet_ct").max_entries;
    ct_room_ = cap > 2 * pairs ? uint32_t(std::min<uint64_t>(cap - 2 * pairs, 2)) : 0;
}

void Tracer::take(const MapRule& r) {
    if (std::string(r.name) == "xdpnet_flood")
        return; // take_flood: map-in-map
    const MapInfo& mi = live_.info(r.name);
    const int fd = live_.fd(r.name);
    Table t;
    if (r.rule == Rule::Whole) {
        t = mi.type == BPF_MAP_TYPE_ARRAY ? dump_range(fd, mi, 0, mi.max_entries) : dump_entries(fd, mi);
    } else if (r.stride) {
        t = dump_range(fd, mi, gen_ * r.stride, (gen_ + 1) * r.stride);
    } else {
        for (auto& [k, v] : dump_entries(fd, mi))
            if (r.in_gen(k, gen_))
                t.emplace(k, std::move(v));
    }
    snap_[r.name] = std::move(t);
}

/// A VLAN's flood devmap is an inner map: record its entries (ifindex and
/// the id of the program each runs), to rebuild it around the private program.
void Tracer::take_flood() {
    const MapInfo& mi = live_.info("xdpnet_flood");
    const Table outer = dump_range(live_.fd("xdpnet_flood"), mi, gen_ * XDPNET_VLAN_COUNT,
                                   (gen_ + 1) * XDPNET_VLAN_COUNT);
    for (const auto& [k, v] : outer) {
        const uint16_t vid = uint16_t(from_bytes<__u32>(k) - gen_ * XDPNET_VLAN_COUNT);
        LIBBPF_OPTS(bpf_get_fd_by_id_opts, ro, .open_flags = BPF_F_RDONLY);
        Fd inner(bpf_map_get_fd_by_id_opts(from_bytes<__u32>(v), &ro));
        if (!inner)
            throw_sys("open", "flood map of VLAN " + std::to_string(vid), errno);
        const MapInfo ii = info_of(inner.get(), "flood map of VLAN " + std::to_string(vid));
        auto& entries = flood_[vid];
        for (const auto& [ik, iv] : dump_entries(inner.get(), ii)) {
            const auto dv = from_bytes<struct bpf_devmap_val>(iv);
            entries.emplace_back(dv.ifindex, ii.value_size >= sizeof(dv) ? dv.bpf_prog.id : 0u);
            if (ii.value_size >= sizeof(dv) && dv.bpf_prog.id) {
                Fd prog(bpf_prog_get_fd_by_id(dv.bpf_prog.id));
                struct bpf_prog_info pi = {};
                __u32 len = sizeof(pi);
                if (!prog || bpf_obj_get_info_by_fd(prog.get(), &pi, &len) != 0)
                    throw_sys("inspect", "program of VLAN " + std::to_string(vid) + "'s flood map", errno);
                flood_progs_.insert(pi.name);
            }
        }
    }
}

/// A state table: whole up to the limit, else the entries at `touched`.
Table Tracer::take_state(const std::string& name, const std::vector<std::string>& touched) {
    const MapInfo& mi = live_.info(name);
    if (mi.max_entries <= opts_.whole_copy_limit)
        return dump_entries(live_.fd(name), mi);
    Table t;
    for (const auto& k : touched)
        if (auto v = live_.lookup(name, k))
            t[k] = *v;
    spdlog::debug("trace: {} ({} entries max): copied the {} entries the frame can touch", name,
                  mi.max_entries, t.size());
    return t;
}

std::string Tracer::snapped(const std::string& map, const std::string& key) const {
    auto t = snap_.find(map);
    if (t == snap_.end())
        return "";
    auto it = t->second.find(key);
    return it == t->second.end() ? "" : it->second;
}

std::optional<uint16_t> Tracer::route_vlan(__be32 daddr) {
    struct xdpnet_route_key k = {};
    k.prefixlen = 64;
    k.gen = gen_;
    k.addr = daddr;
    auto r = live_.get<struct xdpnet_route>("xdpnet_routes", k);
    return r ? std::optional<uint16_t>(r->vid) : std::nullopt;
}

std::optional<struct xdpnet_fwd> Tracer::forward_for(uint32_t uplink, __be16 port) {
    struct xdpnet_fwd_key k = {};
    k.ifindex = uplink;
    k.port = port;
    k.proto = keys_.proto;
    k.gen = uint8_t(gen_);
    return live_.get<struct xdpnet_fwd>("xdpnet_fwd", k);
}

std::optional<struct xdpnet_nat_config> Tracer::natcfg(uint16_t vid) {
    auto c = live_.get<struct xdpnet_nat_config>("xdpnet_natcfg", __u32(gen_ * XDPNET_VLAN_COUNT + vid));
    return c && c->uplink_ifindex ? c : std::nullopt;
}

/// The connection-table keys the datapath may look up or insert for this
/// frame (see the header comment), whether or not they exist live.
std::vector<std::string> Tracer::touched_ct() {
    std::vector<std::string> out;
    if (keys_.family != 4)
        return out;
    const bool uplink = port_.port.mode == XDPNET_MODE_UPLINK;
    const uint8_t side = uplink ? XDPNET_SIDE_UPLINK : XDPNET_SIDE_VM;
    std::vector<struct xdpnet_ct_key> ks;
    struct xdpnet_ct_key t = {};
    t.saddr = keys_.v4_src();
    t.daddr = keys_.v4_dst();
    t.sport = keys_.t_sport;
    t.dport = keys_.t_dport;
    t.proto = keys_.proto;
    t.side = side;
    if (keys_.tuple && !keys_.later_fragment)
        ks.push_back(t);
    if (keys_.icmp_error) {
        auto e = *keys_.icmp_error;
        e.side = side;
        ks.push_back(e);
    }
    if (keys_.later_fragment) {
        struct xdpnet_frag_key fk = {};
        fk.saddr = t.saddr;
        fk.daddr = t.daddr;
        fk.id = keys_.ip_id;
        fk.proto = t.proto;
        fk.side = side;
        if (auto f = live_.get<struct xdpnet_frag>("xdpnet_frag", fk))
            ks.push_back(f->ct);
    }
    // The reply half a new connection would insert first (SNAT and hairpin
    // try the original source port first; DNAT's reply tuple is fixed).
    if (keys_.tuple && !keys_.later_fragment) {
        if (uplink) {
            if (auto f = forward_for(port_.port.ifindex, t.dport))
                ks.push_back({f->addr, t.saddr, f->port, t.sport, t.proto, XDPNET_SIDE_VM, 0});
        } else if (auto c = vid_ ? natcfg(*vid_) : std::nullopt) {
            if (t.daddr == c->uplink_ip) {
                if (auto f = forward_for(c->uplink_ifindex, t.dport))
                    ks.push_back({f->addr, c->uplink_ip, f->port, t.sport, t.proto, XDPNET_SIDE_VM, 0});
            } else if (c->flags & XDPNET_NAT_MASQ) {
                ks.push_back({t.daddr, c->uplink_ip, t.dport, t.sport, t.proto, XDPNET_SIDE_UPLINK, 0});
            }
        }
    }
    for (const auto& k : ks) {
        out.push_back(bytes_of(k));
        if (auto v = live_.get<struct xdpnet_ct>("xdpnet_ct", k)) {
            const struct xdpnet_ct_key pk = xdpnet_ct_peer_of(k, *v);
            out.push_back(bytes_of(pk));
            ct_halves_.push_back(*v);
            if (auto peer = live_.get<struct xdpnet_ct>("xdpnet_ct", pk))
                ct_halves_.push_back(*peer);
        }
    }
    return out;
}

/// (VLAN, address) pairs a routed or translated packet may be delivered to.
std::vector<std::pair<uint16_t, __be32>> Tracer::delivery_targets() {
    std::vector<std::pair<uint16_t, __be32>> out;
    if (keys_.family != 4)
        return out;
    if (auto r = route_vlan(keys_.v4_dst()))
        out.emplace_back(*r, keys_.v4_dst());
    for (const auto& ct : ct_halves_)
        out.emplace_back(ct.vid, ct.to_daddr);
    const uint32_t uplink = port_.port.mode == XDPNET_MODE_UPLINK ? port_.port.ifindex
                            : vid_ && natcfg(*vid_)              ? natcfg(*vid_)->uplink_ifindex
                                                                 : 0;
    if (uplink)
        if (auto f = forward_for(uplink, keys_.t_dport))
            out.emplace_back(f->vid, f->addr);
    return out;
}

std::vector<std::string> Tracer::touched_fdb() {
    std::vector<std::string> out;
    auto add = [&](uint16_t vid, const uint8_t* mac) {
        struct xdpnet_fdb_key k = {};
        k.vlan = vid;
        std::memcpy(k.mac, mac, 6);
        out.push_back(bytes_of(k));
    };
    if (vid_) {
        add(*vid_, keys_.src.data());
        add(*vid_, keys_.dst.data());
    }
    for (const auto& [vid, ip] : delivery_targets()) {
        struct xdpnet_neigh_key nk = {};
        nk.vid = vid;
        nk.ip = ip;
        if (auto n = live_.get<struct xdpnet_neigh>("xdpnet_neigh", nk))
            add(vid, n->mac);
    }
    for (const auto& ct : ct_halves_)
        if (ct.nh_tag)
            add(ct.vid, ct.nh_mac);
    return out;
}

/// The stateful-ACL keys (shape 0xff, in_slot 0) a frame's search may look
/// up or record: its tuple as sent and as each connection half translates
/// it, between its VLAN (0 on an uplink) and every VLAN it may be delivered
/// in (0: out of an uplink), in both directions.
std::vector<std::string> Tracer::touched_aclconn() {
    std::vector<std::string> out;
    if (!keys_.family)
        return out;
    struct xdpnet_acl_key base = {};
    base.shape = 0xff;
    base.family = keys_.family;
    base.proto = keys_.proto;
    base.sport = keys_.sport;
    base.dport = keys_.dport;
    std::memcpy(base.src, keys_.saddr.data(), 16);
    std::memcpy(base.dst, keys_.daddr.data(), 16);
    std::vector<struct xdpnet_acl_key> tuples{base};
    for (const auto& ct : ct_halves_) {
        struct xdpnet_acl_key x = base;
        std::memcpy(x.src, &ct.to_saddr, 4);
        std::memcpy(x.dst, &ct.to_daddr, 4);
        if (keys_.proto == IPPROTO_TCP || keys_.proto == IPPROTO_UDP) {
            x.sport = ct.to_sport;
            x.dport = ct.to_dport;
        }
        tuples.push_back(x);
    }
    std::set<uint16_t> vlans{0};
    if (vid_)
        vlans.insert(*vid_);
    for (const auto& [vid, ip] : delivery_targets())
        vlans.insert(vid);
    for (auto t : tuples)
        for (uint16_t from : vlans)
            for (uint16_t to : vlans) {
                t.from_vlan = from;
                t.to_vlan = to;
                out.push_back(bytes_of(t));
                struct xdpnet_acl_key r = t;
                r.from_vlan = to;
                r.to_vlan = from;
                std::swap(r.sport, r.dport);
                std::memcpy(r.src, t.dst, 16);
                std::memcpy(r.dst, t.src, 16);
                out.push_back(bytes_of(r));
            }
    return out;
}

// ---- 2. load

uint32_t Tracer::private_size(const std::string& name, uint32_t object_default) {
    const uint32_t lru_slack = 256u * uint32_t(std::max(1, libbpf_num_possible_cpus()));
    const size_t rows = snap_.count(name) ? snap_.at(name).size() : 0;
    const MapInfo& mi = live_.info(name);
    const bool whole = mi.max_entries <= opts_.whole_copy_limit;
    if (name == "xdpnet_fdb")
        return whole ? mi.max_entries : uint32_t(rows + 64);
    if (name == "xdpnet_ct")
        return whole ? mi.max_entries : uint32_t(std::max<size_t>(rows + ct_room_, 1));
    if (name == "xdpnet_aclconn") // LRU: room enough that copying never evicts
        return (whole ? mi.max_entries : uint32_t(rows)) + lru_slack;
    if (name == "xdpnet_neigh" || name == "xdpnet_frag")
        return mi.max_entries + lru_slack;
    if (name == "xdpnet_acl") // policy, only read: exactly what is copied
        return uint32_t(std::max<size_t>(rows, 1));
    return object_default;
}

void Tracer::load() {
    for (const MapRule* r : object_rules()) {
        struct bpf_map* map = bpf_object__find_map_by_name(skel_->obj, r->name);
        const std::string name = r->name;
        const uint32_t size = private_size(name, bpf_map__max_entries(map));
        if (size != bpf_map__max_entries(map))
            if (int err = bpf_map__set_max_entries(map, size))
                throw_sys("size", "trace copy of " + name, err);
    }
    // Only the programs the run needs: the ingress program and whatever the
    // flood maps run (the others take long to verify and are never run here).
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        const std::string name = bpf_program__name(prog);
        bool need = name == "xdpnet_ingress";
        for (const auto& live_name : flood_progs_)
            need |= name.compare(0, live_name.size(), live_name) == 0;
        bpf_program__set_autoload(prog, need);
    }
    if (int err = xdpnet_bpf__load(skel_.get()))
        throw_sys("load", "the trace's copy of the BPF programs (run with -v for the verifier log)", err);
}

// ---- 3. copy

int Tracer::priv_fd(const std::string& name) {
    struct bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name.c_str());
    if (!m)
        throw Error(ExitCode::Failure, "trace: no map " + name + " in the trace's copy");
    return bpf_map__fd(m);
}

/// Writes rows into a private map: one batch where the map type has it.
void put_rows(int fd, const MapInfo& mi, const Table& rows, const std::string& what) {
    if (rows.empty())
        return;
    std::string keys, values;
    for (const auto& [k, v] : rows) {
        keys += k;
        values += v;
    }
    __u32 count = __u32(rows.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (mi.type != BPF_MAP_TYPE_LPM_TRIE && mi.type != BPF_MAP_TYPE_DEVMAP &&
        bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) == 0)
        return;
    for (const auto& [k, v] : rows)
        if (bpf_map_update_elem(fd, k.data(), v.data(), BPF_ANY) != 0)
            throw_sys("write", what, errno);
}

void Tracer::copy() {
    for (const auto& [name, rows] : snap_) {
        const int fd = priv_fd(name);
        put_rows(fd, info_of(fd, name), rows, "the trace's copy of " + name);
    }
    copy_flood();
}

int Tracer::private_prog_fd(uint32_t live_prog_id) {
    Fd live(bpf_prog_get_fd_by_id(live_prog_id));
    struct bpf_prog_info pi = {};
    __u32 len = sizeof(pi);
    if (!live || bpf_obj_get_info_by_fd(live.get(), &pi, &len) != 0)
        throw_sys("inspect", "program " + std::to_string(live_prog_id), errno);
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        const std::string name = bpf_program__name(prog);
        if (name.compare(0, std::strlen(pi.name), pi.name) == 0 && bpf_program__fd(prog) >= 0)
            return bpf_program__fd(prog);
    }
    throw Error(ExitCode::Failure, std::string("trace: a flood map runs program '") + pi.name +
                                       "', which the trace's copy does not have");
}

void Tracer::copy_flood() {
    std::vector<__u32> keys, fds;
    for (const auto& [vid, entries] : flood_) {
        const std::string what = "the trace's flood map of VLAN " + std::to_string(vid);
        Fd inner(bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "xdpnet_trfl", sizeof(__u32),
                                sizeof(struct bpf_devmap_val), XDPNET_MAX_PORTS, nullptr));
        if (!inner)
            throw_sys("create", what, errno);
        for (const auto& [ifindex, prog_id] : entries) {
            struct bpf_devmap_val dv = {};
            dv.ifindex = ifindex;
            dv.bpf_prog.fd = prog_id ? private_prog_fd(prog_id) : -1;
            if (bpf_map_update_elem(inner.get(), &ifindex, &dv, BPF_ANY) != 0)
                throw_sys("write", what, errno);
        }
        keys.push_back(gen_ * XDPNET_VLAN_COUNT + vid);
        fds.push_back(__u32(inner.get()));
        inner_.push_back(std::move(inner));
    }
    if (keys.empty())
        return;
    __u32 count = __u32(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    // One batch: each single write to a map-in-map waits for an RCU grace period.
    if (bpf_map_update_batch(priv_fd("xdpnet_flood"), keys.data(), fds.data(), &count, &opts) != 0)
        throw_sys("write", "the trace's copy of xdpnet_flood", errno);
}

// ---- 4. run

void Tracer::execute() {
    std::vector<uint8_t> out(frame_.size() + 4096);
    struct xdp_md ctx_in = {}, ctx_out = {};
    ctx_in.data_end = __u32(frame_.size());
    ctx_in.ingress_ifindex = port_.port.ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, o);
    o.data_in = frame_.data();
    o.data_size_in = __u32(frame_.size());
    o.data_out = out.data();
    o.data_size_out = __u32(out.size());
    o.ctx_in = &ctx_in;
    o.ctx_size_in = sizeof(ctx_in);
    o.ctx_out = &ctx_out;
    o.ctx_size_out = sizeof(ctx_out);
    o.repeat = 1;
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xdpnet_ingress), &o) != 0)
        throw_sys("run", "the trace (BPF_PROG_TEST_RUN on " + port_.name + ")", errno);
    out.resize(o.data_size_out);
    const size_t meta = std::min<size_t>(ctx_out.data, out.size());
    if (meta >= sizeof(struct xdpnet_meta)) {
        struct xdpnet_meta m;
        std::memcpy(&m, out.data(), sizeof(m));
        facts_.meta = m;
    }
    facts_.frame_in = frame_;
    facts_.frame_out.assign(out.begin() + long(meta), out.end());
    facts_.verdict = o.retval;
    read_back();
}

template <class K, class V>
std::vector<telemetry::RowChange<K, V>> Tracer::changes(const std::string& map) {
    const int fd = priv_fd(map);
    const Table after = dump_entries(fd, info_of(fd, map));
    const Table& before = snap_.at(map);
    std::vector<telemetry::RowChange<K, V>> out;
    for (const auto& [k, v] : after) {
        auto it = before.find(k);
        if (it != before.end() && it->second == v)
            continue;
        telemetry::RowChange<K, V> c;
        c.key = from_bytes<K>(k);
        c.after = from_bytes<V>(v);
        if (it != before.end())
            c.before = from_bytes<V>(it->second);
        out.push_back(c);
    }
    for (const auto& [k, v] : before)
        if (!after.count(k)) {
            telemetry::RowChange<K, V> c;
            c.key = from_bytes<K>(k);
            c.before = from_bytes<V>(v);
            out.push_back(c);
        }
    return out;
}

/// The ACL rule the search ended on: the one per-CPU hit counter the run moved.
void Tracer::read_acl_hit() {
    const int fd = priv_fd("xdpnet_aclhits");
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return;
    std::vector<struct xdpnet_acl_hits> per_cpu(static_cast<size_t>(ncpu));
    auto hit = [&](__u32 rule) {
        if (bpf_map_lookup_elem(fd, &rule, per_cpu.data()) != 0)
            return false;
        return std::any_of(per_cpu.begin(), per_cpu.end(), [](const auto& h) { return h.packets; });
    };
    const auto cfg = from_bytes<struct xdpnet_acl_config>(snapped("xdpnet_aclcfg", bytes_of(__u32(gen_))));
    std::set<__u32> rules{XDPNET_ACL_MAX_RULES};
    for (const auto& [k, v] : snap_.at("xdpnet_acl"))
        rules.insert(from_bytes<struct xdpnet_acl_verdict>(v).rule);
    for (__u32 rule : rules) {
        if (!hit(rule))
            continue;
        telemetry::AclHit h;
        h.rule = rule;
        h.action = cfg.default_action;
        for (const auto& [k, v] : snap_.at("xdpnet_acl"))
            if (const auto verdict = from_bytes<struct xdpnet_acl_verdict>(v); verdict.rule == rule)
                h.action = verdict.action;
        if (std::ifstream f{inst_.acl_notes_path()}) {
            try {
                const auto rules_json = nlohmann::json::parse(f).at("rules");
                if (rule < rules_json.size())
                    h.text = rules_json.at(rule).at("text").get<std::string>();
            } catch (const std::exception&) {
            }
        }
        facts_.acl = h;
        return;
    }
}

void Tracer::read_back() {
    facts_.instance = inst_.name();
    facts_.in_slot = port_.port.slot;
    for (const auto& lp : inst_.ports())
        facts_.ports[lp.port.slot] = {lp.name.empty() ? "#" + std::to_string(lp.port.ifindex) : lp.name,
                                      lp.port};
    for (const auto& [vid, n] : inst_.networks())
        facts_.networks[vid] = {n.name, n.gateway, n.nat};
    for (const auto& [k, v] : snap_.at("xdpnet_vlans")) {
        const auto vl = from_bytes<struct xdpnet_vlan>(v);
        auto& members = facts_.vlans[uint16_t(from_bytes<__u32>(k) - gen_ * XDPNET_VLAN_COUNT)];
        members.assign(vl.members, vl.members + std::min<size_t>(vl.count, XDPNET_VLAN_MAX_MEMBERS));
    }
    const int stats = priv_fd("xdpnet_stats");
    const int ncpu = std::max(1, libbpf_num_possible_cpus());
    std::vector<struct xdpnet_port_stats> per_cpu(static_cast<size_t>(ncpu));
    for (__u32 slot = 0; slot < XDPNET_STATS_SLOTS; slot++) {
        if (bpf_map_lookup_elem(stats, &slot, per_cpu.data()) != 0)
            continue;
        struct xdpnet_port_stats sum = {};
        bool any = false;
        for (const auto& s : per_cpu) {
            for (int i = 0; i < XDPNET_CTR_MAX; i++)
                sum.ctr[i] += s.ctr[i];
            for (int i = 0; i < XDPNET_DROP_MAX; i++)
                sum.drops[i] += s.drops[i];
        }
        for (int i = 0; i < XDPNET_CTR_MAX; i++)
            any |= sum.ctr[i] != 0;
        for (int i = 0; i < XDPNET_DROP_MAX; i++)
            any |= sum.drops[i] != 0;
        if (any)
            facts_.stats[uint16_t(slot)] = sum;
    }
    if (vid_) {
        for (auto [mac, out] : {std::pair{keys_.src, &facts_.fdb_src}, std::pair{keys_.dst, &facts_.fdb_dst}}) {
            struct xdpnet_fdb_key k = {};
            k.vlan = *vid_;
            std::memcpy(k.mac, mac.data(), 6);
            if (const std::string v = snapped("xdpnet_fdb", bytes_of(k)); !v.empty())
                *out = from_bytes<struct xdpnet_fdb_entry>(v);
        }
    }
    facts_.fdb = changes<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>("xdpnet_fdb");
    facts_.ct = changes<struct xdpnet_ct_key, struct xdpnet_ct>("xdpnet_ct");
    facts_.neigh = changes<struct xdpnet_neigh_key, struct xdpnet_neigh>("xdpnet_neigh");
    facts_.acl_conns = changes<struct xdpnet_acl_key, struct xdpnet_acl_conn>("xdpnet_aclconn");
    const auto cfg = from_bytes<struct xdpnet_config>(snapped("xdpnet_config", bytes_of(__u32(gen_))));
    if (cfg.acl)
        read_acl_hit();
}

} // namespace

telemetry::TraceFacts trace_frame(const Instance& inst, const LivePort& port, std::span<const uint8_t> frame,
                                  const TraceOptions& opts) {
    if (frame.size() < ETH_HLEN)
        throw Error(ExitCode::Usage, "a " + std::to_string(frame.size()) +
                                         "-byte frame is shorter than an Ethernet header (14 bytes)");
    // A longer frame would reach the program as a multi-buffer frame, which
    // the datapath (not built for XDP fragments) never sees: it sees only
    // frames up to the driver's XDP MTU, all in one buffer.
    const size_t linear = size_t(::sysconf(_SC_PAGESIZE)) - kXdpHeadroom - kXdpSharedInfo;
    if (frame.size() > linear)
        throw Error(ExitCode::Usage, "a " + std::to_string(frame.size()) + "-byte frame is longer than XDP "
                                         "without multi-buffer takes (" + std::to_string(linear) + " bytes)");
    return Tracer(inst, port, frame, opts).run();
}

} // namespace xdpnet
