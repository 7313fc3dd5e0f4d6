#include "datapath/instance.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <zlib.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ctime>
#include <memory>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "datapath/error.h"
#include "datapath/maps.h"
#include "datapath/netdev.h"
#include "xdpnet_bpf.skel.h"

namespace xdpnet {
namespace {

// TCX attach types (Linux 6.6+); Debian 12's UAPI headers predate them.
constexpr int kBpfTcxIngress = 46;
constexpr unsigned kBpfFBefore = 1u << 3; // BPF_F_BEFORE: first in the tcx chain

constexpr const char* kMapNames[] = {"xdpnet_state", "xdpnet_config", "xdpnet_portidx",
                                     "xdpnet_ports", "xdpnet_vlans",  "xdpnet_tx",
                                     "xdpnet_flood", "xdpnet_fdb",    "xdpnet_maccnt",
                                     "xdpnet_gc",    "xdpnet_stats"};

std::string link_xdp_name(uint32_t ifindex) { return "link_xdp_" + std::to_string(ifindex); }
std::string link_tc_name(uint32_t ifindex) { return "link_tc_" + std::to_string(ifindex); }
std::string link_tcnat_name(uint32_t ifindex) { return "link_tcnat_" + std::to_string(ifindex); }

bool path_exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

// /sys/fs/bpf must be a bpffs; mount one if the host has none there.
void ensure_bpffs(const std::string& root) {
    std::string base = root.substr(0, root.rfind('/'));
    struct statfs fs;
    if (::statfs(base.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
        return;
    spdlog::info("mounting bpffs at {}", base);
    if (::mount("bpf", base.c_str(), "bpf", 0, nullptr) != 0)
        throw_sys("mount bpffs on", base, errno);
}

void mkdir_p(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        throw_sys("mkdir", path, errno);
}

std::vector<std::string> dir_entries(const std::string& dir) {
    std::vector<std::string> out;
    struct DirCloser {
        void operator()(DIR* d) const { ::closedir(d); }
    };
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d)
        return out;
    while (auto* e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n != "." && n != "..")
            out.push_back(n);
    }
    return out;
}

// Detaches a pinned link now and removes its pin. BPF_LINK_DETACH is
// synchronous; dropping the last reference would free the link later, from a
// workqueue, and the interface would still run the program at the next attach.
void unpin_link(const std::string& pin) {
    Fd link(bpf_obj_get(pin.c_str()));
    if (link && bpf_link_detach(link.get()) != 0)
        spdlog::debug("detach {}: {}", pin, std::strerror(errno));
    if (::unlink(pin.c_str()) != 0 && errno != ENOENT)
        spdlog::warn("unpin {}: {}", pin, std::strerror(errno));
}

// Unpins everything in an instance dir (links first, so ports detach before
// the maps go) and removes it.
void remove_pins(const std::string& dir) {
    auto entries = dir_entries(dir);
    for (const auto& n : entries)
        if (n.rfind("link_", 0) == 0)
            unpin_link(dir + "/" + n);
    for (const auto& n : entries)
        if (n.rfind("link_", 0) != 0 && ::unlink((dir + "/" + n).c_str()) != 0)
            spdlog::warn("unpin {}/{}: {}", dir, n, std::strerror(errno));
    ::rmdir(dir.c_str());
    ::rmdir(pin_root().c_str()); // only succeeds when no other instance is left
}

// CONFIG_HZ from the running kernel's config, when the kernel exposes it.
std::optional<unsigned> config_hz() {
    struct utsname u;
    ::uname(&u);
    for (std::string path : {std::string("/proc/config.gz"), "/boot/config-" + std::string(u.release)}) {
        gzFile f = gzopen(path.c_str(), "rb");
        if (!f)
            continue;
        char line[256];
        std::optional<unsigned> hz;
        while (gzgets(f, line, sizeof(line)))
            if (std::strncmp(line, "CONFIG_HZ=", 10) == 0)
                hz = static_cast<unsigned>(std::strtoul(line + 10, nullptr, 10));
        gzclose(f);
        if (hz && *hz > 0 && *hz <= 10000)
            return hz;
    }
    return std::nullopt;
}

std::string describe_port(const struct xdpnet_port& p) {
    if (p.mode == XDPNET_MODE_UPLINK) {
        struct in_addr a = {p.ipv4};
        return std::string("uplink ") + inet_ntoa(a);
    }
    std::string s = p.mode == XDPNET_MODE_ACCESS ? "access vlan " + std::to_string(p.pvid)
                                                 : "trunk";
    if (p.mode == XDPNET_MODE_TRUNK) {
        policy::VlanSet vs = policy::vlans_of(p);
        vs.reset(p.pvid);
        s += " vlans " + (vs.any() ? policy::format_vlans(vs) : std::string("-"));
        s += " native " + (p.pvid ? std::to_string(p.pvid) : std::string("-"));
    }
    if (p.flags & XDPNET_PORT_HOST)
        s += " host";
    if (p.mac_limit)
        s += " mac_limit " + std::to_string(p.mac_limit);
    if (p.flags & XDPNET_PORT_POLICE_IN)
        s += " police-ingress";
    if (p.flags & XDPNET_PORT_POLICE_OUT)
        s += " police-egress";
    if (p.flags & XDPNET_PORT_DSCP)
        s += " dscp " + std::to_string(p.dscp);
    if (p.flags & (XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP | XDPNET_PORT_SEC_GUARD))
        s += " security";
    return s;
}

/// A policer as the policy writes it: "50mbit burst 262144b" / "1000pps burst 10".
std::string describe_policer(const struct xdpnet_policer& p) {
    std::string s;
    if (p.bits.rate)
        s += std::to_string(p.bits.rate) + "bit/s burst " +
             std::to_string(p.bits.depth / XDPNET_BIT_COST) + "b";
    if (p.packets.rate)
        s += std::string(s.empty() ? "" : ", ") + std::to_string(p.packets.rate) + "pps burst " +
             std::to_string(p.packets.depth / XDPNET_TOKEN_SCALE);
    if (p.exceed == XDPNET_EXCEED_REMARK)
        s += ", remark to dscp " + std::to_string(p.remark_dscp);
    return s;
}

bool port_has_vlan(const struct xdpnet_port& p, uint16_t vid) {
    vid &= 0xfff;
    return (p.vlans[vid / 64] >> (vid % 64)) & 1;
}

std::string fdb_desc(const struct xdpnet_fdb_key& k) {
    return "vlan " + std::to_string(k.vlan) + " " + policy::format_mac(k.mac);
}

} // namespace

std::string pin_root() {
    const char* env = std::getenv("XDPNET_PIN_ROOT");
    return env && *env ? env : "/sys/fs/bpf/xdpnet";
}

std::string instance_dir(const std::string& instance) { return pin_root() + "/" + instance; }

std::vector<std::string> list_instances() {
    std::vector<std::string> out;
    for (const auto& n : dir_entries(pin_root()))
        if (path_exists(instance_dir(n) + "/xdpnet_state"))
            out.push_back(n);
    return out;
}

bool Instance::exists(const std::string& instance) {
    return path_exists(instance_dir(instance) + "/xdpnet_state");
}

namespace {
/// Entries the ACL map is created with: room for two generations of this
/// policy's rules, and no less than 256k (its buckets cost 16 bytes each).
uint32_t acl_capacity(const policy::MapImage& image) {
    uint64_t want = std::max<uint64_t>(262144, 2 * image.acl.entries.size() + 65536);
    uint32_t cap = 1;
    while (cap < want && cap < (1u << 24))
        cap <<= 1;
    return cap;
}
} // namespace

Instance Instance::create(const policy::MapImage& image) {
    std::string root = pin_root();
    ensure_bpffs(root);
    std::string dir = instance_dir(image.instance);
    if (path_exists(dir))
        throw Error(ExitCode::Failure, "instance '" + image.instance + "' already has pins at " +
                                           dir + " but no usable state; run `xdpnet down -i " +
                                           image.instance + "` first");
    // Another instance's `down` removes the shared root when it is empty:
    // make ours right away, and again if the root vanished in between.
    for (int attempt = 0;; attempt++) {
        mkdir_p(root);
        if (::mkdir(dir.c_str(), 0700) == 0)
            break;
        if (errno != ENOENT || attempt == 5)
            throw_sys("mkdir", dir, errno);
    }
    struct Cleanup {
        std::string dir;
        bool armed = true;
        ~Cleanup() {
            if (armed)
                remove_pins(dir);
        }
    } cleanup{dir};

    std::unique_ptr<xdpnet_bpf, decltype(&xdpnet_bpf__destroy)> skel(xdpnet_bpf__open(),
                                                                      xdpnet_bpf__destroy);
    if (!skel)
        throw_sys("open", "embedded BPF object", errno);
    if (int err = bpf_map__set_max_entries(skel->maps.xdpnet_fdb, image.fdb_size))
        throw_sys("size", "xdpnet_fdb", err);
    // The connection table is preallocated: small when no network NATs.
    if (int err = bpf_map__set_max_entries(skel->maps.xdpnet_ct, image.ct_size ? image.ct_size : 1024))
        throw_sys("size", "xdpnet_ct", err);
    // The ACL's entries (both generations side by side; no preallocation)
    // and the connections stateful rules track (LRU, preallocated).
    if (int err = bpf_map__set_max_entries(skel->maps.xdpnet_acl, acl_capacity(image)))
        throw_sys("size", "xdpnet_acl", err);
    if (int err = bpf_map__set_max_entries(skel->maps.xdpnet_aclconn,
                                           std::max<uint32_t>(65536, image.acl_conn_size)))
        throw_sys("size", "xdpnet_aclconn", err);
    // Flow accounting: each CPU's region of the table (sized even when the
    // policy turns accounting off, so a later apply can turn it on).
    const uint64_t flow_slots = uint64_t(libbpf_num_possible_cpus()) << flow_bits_for(image.flow_size);
    for (struct bpf_map* m : {skel->maps.xdpnet_flows, skel->maps.xdpnet_flow_exp})
        if (int err = bpf_map__set_max_entries(m, static_cast<__u32>(flow_slots)))
            throw_sys("size", bpf_map__name(m), err);
    if (int err = xdpnet_bpf__load(skel.get()))
        throw_sys("load", "BPF programs (run with -v for the verifier log)", err);

    struct bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) {
        std::string name = bpf_map__name(map);
        // .rodata and the like: not ours to keep (the programs hold them), and
        // bpffs refuses names with a dot (xdpnet_b.rodata, with bpf_printk).
        if (name.rfind("xdpnet_", 0) != 0 || name.find('.') != std::string::npos)
            continue;
        if (int err = bpf_map__pin(map, (dir + "/" + name).c_str()))
            throw_sys("pin", dir + "/" + name, err);
    }
    const std::pair<struct bpf_program*, const char*> progs[] = {
        {skel->progs.xdpnet_ingress, "prog_ingress"},
        {skel->progs.xdpnet_flood_egress, "prog_flood_egress"},
        {skel->progs.xdpnet_host_flood, "prog_host_flood"},
        {skel->progs.xdpnet_fdb_gc, "prog_fdb_gc"},
        {skel->progs.xdpnet_clock, "prog_clock"},
        {skel->progs.xdpnet_nat_slow, "prog_nat_slow"},
    };
    for (const auto& [prog, pin] : progs)
        if (int err = bpf_program__pin(prog, (dir + "/" + pin).c_str()))
            throw_sys("pin", dir + "/" + pin, err);
    skel.reset();

    Instance inst;
    inst.name_ = image.instance;
    inst.dir_ = dir;
    inst.open_pins();
    struct xdpnet_state st = {.active_gen = 0, .abi_version = XDPNET_ABI_VERSION};
    maps::update(inst.m_.state, __u32{0}, st, "xdpnet_state");
    inst.apply(image);
    cleanup.armed = false;
    spdlog::info("instance '{}' is up: {} ports, pinned at {}", image.instance, image.ports.size(),
                 dir);
    return inst;
}

Instance Instance::adopt(const std::string& instance) {
    if (!exists(instance)) {
        auto all = list_instances();
        std::string hint = all.empty() ? "no instance is running"
                                       : "running: " + [&] {
                                             std::string s;
                                             for (const auto& n : all)
                                                 s += (s.empty() ? "" : ", ") + n;
                                             return s;
                                         }();
        throw Error(ExitCode::NotRunning,
                    "instance '" + instance + "' is not running (" + hint + ")");
    }
    Instance inst;
    inst.name_ = instance;
    inst.dir_ = instance_dir(instance);
    inst.open_pins();
    auto st = inst.state();
    if (st.abi_version != XDPNET_ABI_VERSION)
        throw Error(ExitCode::Failure,
                    "instance '" + instance + "' was pinned by an xdpnet with ABI " +
                        std::to_string(st.abi_version) + ", this one speaks " +
                        std::to_string(XDPNET_ABI_VERSION) +
                        "; run `xdpnet down` with the old binary, or `xdpnet down` then `up`");
    return inst;
}

void Instance::open_pins() {
    auto open = [&](const char* n) { return maps::open_pinned(dir_ + "/" + n); };
    m_.state = open("xdpnet_state");
    m_.config = open("xdpnet_config");
    m_.portidx = open("xdpnet_portidx");
    m_.ports = open("xdpnet_ports");
    m_.vlans = open("xdpnet_vlans");
    m_.tx = open("xdpnet_tx");
    m_.flood = open("xdpnet_flood");
    m_.fdb = open("xdpnet_fdb");
    m_.fdbver = open("xdpnet_fdbver");
    m_.maccnt = open("xdpnet_maccnt");
    m_.gc = open("xdpnet_gc");
    m_.stats = open("xdpnet_stats");
    m_.ifsave = open("xdpnet_ifsave");
    m_.gateway = open("xdpnet_gateway");
    m_.routes = open("xdpnet_routes");
    m_.neigh = open("xdpnet_neigh");
    m_.natcfg = open("xdpnet_natcfg");
    m_.ctcount = open("xdpnet_ctcount");
    m_.netname = open("xdpnet_netname");
    m_.fwd = open("xdpnet_fwd");
    m_.ct = open("xdpnet_ct");
    m_.policers = open("xdpnet_policers");
    m_.buckets = open("xdpnet_buckets");
    m_.limits = open("xdpnet_limits");
    m_.limit_state = open("xdpnet_limit_state");
    m_.psec_mac = open("xdpnet_psec_mac");
    m_.psec_ip = open("xdpnet_psec_ip");
    m_.aclcfg = open("xdpnet_aclcfg");
    m_.aclshape = open("xdpnet_aclshape");
    m_.acl = open("xdpnet_acl");
    m_.aclhits = open("xdpnet_aclhits");
    m_.aclconn = open("xdpnet_aclconn");
    m_.flows = open("xdpnet_flows");
    m_.flow_exp = open("xdpnet_flow_exp");
    m_.flow_events = open("xdpnet_flow_events");
    p_.ingress = open("prog_ingress");
    p_.flood_egress = open("prog_flood_egress");
    p_.host_flood = open("prog_host_flood");
    p_.fdb_gc = open("prog_fdb_gc");
    p_.clock = open("prog_clock");
    p_.nat_slow = open("prog_nat_slow");
}

uint32_t Instance::flow_bits_for(uint32_t size) {
    const uint64_t cpus = std::max(1, libbpf_num_possible_cpus());
    const uint64_t per_cpu = (uint64_t(size) + cpus - 1) / cpus;
    uint32_t bits = XDPNET_FLOW_BITS_MIN;
    while (bits < XDPNET_FLOW_BITS_MAX && (uint64_t(1) << bits) < per_cpu)
        bits++;
    return bits;
}

uint32_t Instance::flow_bits() const {
    const uint64_t per_cpu = maps::capacity(m_.flows) / std::max(1, libbpf_num_possible_cpus());
    uint32_t bits = 0;
    while ((uint64_t(1) << (bits + 1)) <= per_cpu)
        bits++;
    return bits;
}

struct xdpnet_state Instance::state() const {
    auto s = maps::lookup<__u32, struct xdpnet_state>(m_.state, 0);
    if (!s)
        throw_sys("read", "xdpnet_state", errno);
    return *s;
}

struct xdpnet_config Instance::config() const {
    auto c = maps::lookup<__u32, struct xdpnet_config>(m_.config, state().active_gen & 1);
    return c ? *c : xdpnet_config{};
}

struct xdpnet_gc Instance::gc() const {
    auto g = maps::lookup<__u32, struct xdpnet_gc>(m_.gc, 0);
    return g ? *g : xdpnet_gc{};
}

uint32_t Instance::fdb_capacity() const { return maps::capacity(m_.fdb); }

std::vector<struct xdpnet_port> Instance::ports_of_gen(uint32_t gen) const {
    std::vector<struct xdpnet_port> out;
    for (__u32 slot = 0; slot < XDPNET_MAX_PORTS; slot++) {
        auto p = maps::lookup<__u32, struct xdpnet_port>(m_.ports, gen * XDPNET_MAX_PORTS + slot);
        if (p && p->mode)
            out.push_back(*p);
    }
    return out;
}

std::vector<LivePort> Instance::ports() const {
    std::vector<LivePort> out;
    for (const auto& p : ports_of_gen(state().active_gen & 1)) {
        LivePort lp;
        lp.port = p;
        lp.name = netdev::name_of(p.ifindex);
        lp.xdp_linked = path_exists(dir_ + "/" + link_xdp_name(p.ifindex));
        lp.tc_linked = path_exists(dir_ + "/" + link_tc_name(p.ifindex));
        LIBBPF_OPTS(bpf_xdp_query_opts, q);
        struct bpf_prog_info ours = {};
        __u32 len = sizeof(ours);
        if (!lp.name.empty() && bpf_xdp_query(static_cast<int>(p.ifindex), 0, &q) == 0 &&
            bpf_obj_get_info_by_fd(p_.ingress.get(), &ours, &len) == 0) {
            lp.xdp_attached = q.prog_id == ours.id;
            if (lp.xdp_attached)
                lp.xdp_mode = q.attach_mode == XDP_ATTACHED_SKB ? "generic"
                              : q.attach_mode == XDP_ATTACHED_HW ? "offload"
                                                                 : "native";
        }
        auto n = maps::lookup<__u32, __u32>(m_.maccnt, p.slot);
        lp.learned = n ? *n : 0;
        out.push_back(std::move(lp));
    }
    return out;
}

std::map<uint16_t, struct xdpnet_gateway> Instance::gateways() const {
    std::map<uint16_t, struct xdpnet_gateway> out;
    uint32_t gen = state().active_gen & 1;
    for (__u32 vid = 1; vid < XDPNET_VLAN_COUNT; vid++) {
        auto g = maps::lookup<__u32, struct xdpnet_gateway>(m_.gateway, gen * XDPNET_VLAN_COUNT + vid);
        if (g && g->gw_ip)
            out[static_cast<uint16_t>(vid)] = *g;
    }
    return out;
}

std::map<std::string, uint16_t> Instance::slots() const {
    std::map<std::string, uint16_t> out;
    for (const auto& lp : ports())
        if (!lp.name.empty())
            out[lp.name] = lp.port.slot;
    return out;
}

std::vector<Change> Instance::diff(const policy::MapImage& image) const {
    std::vector<Change> out;
    std::map<std::string, struct xdpnet_port> live;
    for (const auto& lp : ports())
        live[lp.name.empty() ? "#" + std::to_string(lp.port.ifindex) : lp.name] = lp.port;
    std::set<std::string> seen;
    for (const auto& pi : image.ports) {
        seen.insert(pi.name);
        auto it = live.find(pi.name);
        if (it == live.end()) {
            out.push_back({"add", "port", pi.name, describe_port(pi.port)});
            continue;
        }
        auto a = it->second, b = pi.port;
        if (std::memcmp(&a, &b, sizeof(a)) != 0) {
            std::string d = describe_port(a) + " -> " + describe_port(b);
            if (a.ifindex != b.ifindex)
                d += " (interface re-created)";
            out.push_back({"change", "port", pi.name, d});
        }
        // Policer values (the flags above only say whether there is one).
        const uint32_t gen = state().active_gen & 1;
        for (uint32_t dir = 0; dir < 2; dir++) {
            const uint8_t flag = dir == XDPNET_DIR_IN ? XDPNET_PORT_POLICE_IN : XDPNET_PORT_POLICE_OUT;
            if (!(a.flags & flag) || !(b.flags & flag))
                continue;
            auto lp = maps::lookup<__u32, struct xdpnet_policer>(
                m_.policers, __u32((gen * XDPNET_MAX_PORTS + a.slot) * 2 + dir));
            if (lp && std::memcmp(&*lp, &pi.police[dir], sizeof(*lp)) != 0)
                out.push_back({"change", "police", pi.name + (dir ? " egress" : " ingress"),
                               describe_policer(*lp) + " -> " + describe_policer(pi.police[dir])});
        }
    }
    for (const auto& [name, p] : live)
        if (!seen.count(name))
            out.push_back({"remove", "port", name, describe_port(p)});

    auto gw_text = [](const struct xdpnet_gateway& g) {
        return policy::format_ipv4(ntohl(g.gw_ip)) + "/" + std::to_string(g.prefix_len);
    };
    auto live_gw = gateways();
    for (const auto& [vid, g] : image.gateways) {
        auto it = live_gw.find(vid);
        std::string name = "vlan " + std::to_string(vid);
        if (it == live_gw.end())
            out.push_back({"add", "network", name, "gateway " + gw_text(g)});
        else if (std::memcmp(&it->second, &g, sizeof(g)) != 0)
            out.push_back({"change", "network", name, gw_text(it->second) + " -> " + gw_text(g)});
    }
    for (const auto& [vid, g] : live_gw)
        if (!image.gateways.count(vid))
            out.push_back({"remove", "network", "vlan " + std::to_string(vid), "gateway " + gw_text(g)});

    auto cfg = config();
    if (cfg.aging_ns != image.config.aging_ns)
        out.push_back({"change", "bridge", "mac_aging",
                       std::to_string(cfg.aging_ns / 1000000000ull) + "s -> " +
                           std::to_string(image.config.aging_ns / 1000000000ull) + "s"});
    if (bool(cfg.flow_bits) != image.flows)
        out.push_back({"change", "telemetry", "flows", image.flows ? "off -> on" : "on -> off"});
    const char* want_mode = image.xdp_mode == policy::XdpMode::Generic ? "generic" : "native";
    std::string moved;
    for (const auto& lp : ports())
        if (lp.xdp_attached && lp.xdp_mode != want_mode)
            moved += (moved.empty() ? "" : ", ") + lp.name;
    if (!moved.empty())
        out.push_back({"change", "bridge", "xdp_mode",
                       std::string("-> ") + want_mode + " (re-attaches " + moved +
                           ": a few milliseconds without forwarding on each)"});
    if (fdb_capacity() != image.fdb_size)
        out.push_back({"change", "bridge", "fdb_size",
                       std::to_string(fdb_capacity()) + " -> " + std::to_string(image.fdb_size) +
                           " (needs down/up: the FDB cannot be resized live)"});

    // Port security lists, limits and the ACL, compared with the live generation.
    {
        const uint32_t gen = state().active_gen & 1;
        std::set<std::string> live_sec, want_sec;
        auto mac_row = [](struct xdpnet_psec_mac_key k) {
            k.gen = 0;
            return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
        };
        for (const auto& k : maps::keys<struct xdpnet_psec_mac_key>(m_.psec_mac))
            if (k.gen == gen)
                live_sec.insert(mac_row(k));
        for (const auto& k : image.psec_macs)
            want_sec.insert(mac_row(k));
        auto ip_row = [](struct xdpnet_psec_ip_key k) {
            k.gen = 0;
            return "ip" + std::string(reinterpret_cast<const char*>(&k), sizeof(k));
        };
        for (const auto& k : maps::keys<struct xdpnet_psec_ip_key>(m_.psec_ip))
            if (k.gen == gen)
                live_sec.insert(ip_row(k));
        for (const auto& k : image.psec_ips)
            want_sec.insert(ip_row(k));
        if (live_sec != want_sec)
            out.push_back({"change", "security", "ports",
                           std::to_string(live_sec.size()) + " -> " + std::to_string(want_sec.size()) +
                               " allowed MACs and prefixes"});
        if (!same_limits(limits_of_gen(gen), image))
            out.push_back({"change", "limits", "limits",
                           std::to_string(limits().size()) + " -> " +
                               std::to_string(image.limits.size()) +
                               " (every source's bucket starts afresh)"});
        const auto acl = acl_config();
        std::vector<std::string> live_rules;
        if (std::ifstream f{acl_notes_path()}) {
            try {
                for (const auto& r : nlohmann::json::parse(f).at("rules"))
                    live_rules.push_back(r.at("text").get<std::string>());
            } catch (const std::exception&) {
            }
        }
        std::vector<std::string> want_rules;
        for (const auto& r : image.acl_rules)
            want_rules.push_back(r.text);
        auto acl_text = [](uint8_t dflt, size_t n) {
            return std::string("default ") + (dflt == XDPNET_ACL_DENY ? "deny" : "allow") + ", " +
                   std::to_string(n) + " rules";
        };
        if (!acl.default_action && image.config.acl)
            out.push_back({"add", "acl", "acl", acl_text(image.acl.config.default_action, want_rules.size())});
        else if (acl.default_action && !image.config.acl)
            out.push_back({"remove", "acl", "acl", acl_text(acl.default_action, live_rules.size())});
        else if (acl.default_action &&
                 (acl.default_action != image.acl.config.default_action || live_rules != want_rules ||
                  acl.shapes != image.acl.config.shapes))
            out.push_back({"change", "acl", "acl",
                           acl_text(acl.default_action, live_rules.size()) + " -> " +
                               acl_text(image.acl.config.default_action, want_rules.size())});
    }

    std::map<std::pair<uint16_t, std::string>, const policy::StaticFdbImage*> want;
    for (const auto& s : image.static_fdb)
        want[{s.key.vlan, policy::format_mac(s.key.mac)}] = &s;
    for (const auto& row : fdb()) {
        if (!(row.entry.flags & XDPNET_FDB_POLICY))
            continue;
        auto it = want.find({row.key.vlan, policy::format_mac(row.key.mac)});
        if (it == want.end())
            out.push_back({"remove", "static_fdb", fdb_desc(row.key), ""});
        else {
            if (it->second->entry.ifindex != row.entry.ifindex)
                out.push_back({"change", "static_fdb", fdb_desc(row.key),
                               "port " + netdev::name_of(row.entry.ifindex) + " -> " +
                                   netdev::name_of(it->second->entry.ifindex)});
            want.erase(it);
        }
    }
    for (const auto& [k, s] : want)
        out.push_back({"add", "static_fdb", fdb_desc(s->key),
                       "port " + netdev::name_of(s->entry.ifindex)});
    return out;
}

void Instance::clear_gen(uint32_t gen, const std::vector<struct xdpnet_port>& stale) {
    struct xdpnet_port empty_port = {};
    struct xdpnet_vlan empty_vlan = {};
    for (const auto& p : stale) {
        maps::update(m_.portidx, __u32(gen * XDPNET_MAX_IFINDEX + p.ifindex), __u32{0},
                     "xdpnet_portidx");
        maps::update(m_.ports, __u32(gen * XDPNET_MAX_PORTS + p.slot), empty_port, "xdpnet_ports");
        maps::remove(m_.tx, __u32(gen * XDPNET_MAX_PORTS + p.slot));
    }
    // Each map-in-map write waits for an RCU grace period: touch only the
    // VLANs the stale generation used, and delete their flood maps in one batch.
    std::vector<__u32> flood_keys;
    struct xdpnet_gateway no_gateway = {};
    struct xdpnet_nat_config no_nat = {};
    for (__u32 vid = 0; vid < XDPNET_VLAN_COUNT; vid++) {
        __u32 key = gen * XDPNET_VLAN_COUNT + vid;
        auto n = maps::lookup<__u32, struct xdpnet_nat_config>(m_.natcfg, key);
        if (n && n->uplink_ifindex)
            maps::update(m_.natcfg, key, no_nat, "xdpnet_natcfg");
        auto nn = maps::lookup<__u32, struct xdpnet_netname>(m_.netname, key);
        if (nn && nn->name[0])
            maps::update(m_.netname, key, xdpnet_netname{}, "xdpnet_netname");
        auto g = maps::lookup<__u32, struct xdpnet_gateway>(m_.gateway, key);
        if (g && g->gw_ip)
            maps::update(m_.gateway, key, no_gateway, "xdpnet_gateway");
        auto v = maps::lookup<__u32, struct xdpnet_vlan>(m_.vlans, key);
        if (v && v->count) {
            maps::update(m_.vlans, key, empty_vlan, "xdpnet_vlans");
            flood_keys.push_back(key);
        }
    }
    maps::remove_many(m_.flood, flood_keys);
    // The generation's routes (an LPM trie: walk its keys).
    std::vector<struct xdpnet_route_key> route_keys;
    struct xdpnet_route_key rk = {}, next = {};
    for (void* prev = nullptr; bpf_map_get_next_key(m_.routes.get(), prev, &next) == 0; prev = &rk) {
        if (next.gen == gen)
            route_keys.push_back(next);
        rk = next;
    }
    for (const auto& k : route_keys)
        maps::remove(m_.routes, k);
    for (const auto& k : maps::keys<struct xdpnet_fwd_key>(m_.fwd))
        if (k.gen == gen)
            maps::remove(m_.fwd, k);
    clear_controls(gen);
}

std::vector<LimitRow> Instance::limits_of_gen(uint32_t gen) const {
    std::vector<LimitRow> rows;
    for (auto k : maps::keys<struct xdpnet_limit_key>(m_.limits)) {
        if (k.gen != gen)
            continue;
        if (auto v = maps::lookup<struct xdpnet_limit_key, struct xdpnet_limit>(m_.limits, k)) {
            k.gen = 0;
            rows.push_back({k, *v});
        }
    }
    std::sort(rows.begin(), rows.end(),
              [](const LimitRow& a, const LimitRow& b) { return a.limit.id < b.limit.id; });
    return rows;
}

bool Instance::same_limits(const std::vector<LimitRow>& live, const policy::MapImage& image) {
    if (live.size() != image.limits.size())
        return false;
    for (size_t i = 0; i < live.size(); i++) {
        // image.limits is in policy order, that is by id, like live.
        const auto& [k, v] = image.limits[i];
        if (std::memcmp(&live[i].key, &k, sizeof(k)) != 0 ||
            std::memcmp(&live[i].limit, &v, sizeof(v)) != 0)
            return false;
    }
    return true;
}

void Instance::write_acl_notes(const policy::MapImage& image) {
    const std::string path = acl_notes_path();
    if (!image.config.acl) {
        ::unlink(path.c_str());
        return;
    }
    ::mkdir("/run/xdpnet", 0755);
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : image.acl_rules)
        rules.push_back({{"text", r.text}, {"line", r.line}});
    const std::string tmp = path + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << nlohmann::json{{"rules", rules}}.dump(1) << std::endl;
    f.close();
    if (!f || ::rename(tmp.c_str(), path.c_str()) != 0)
        spdlog::warn("could not record the ACL's rules at {} (`acl show` prints rule numbers only)",
                     path);
}

void Instance::zero_acl_hits() {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return;
    const __u32 n = XDPNET_ACL_MAX_RULES + 1;
    std::vector<__u32> keys(n);
    for (__u32 i = 0; i < n; i++)
        keys[i] = i;
    std::vector<struct xdpnet_acl_hits> zeros(size_t(n) * size_t(ncpu));
    __u32 count = n;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(m_.aclhits.get(), keys.data(), zeros.data(), &count, &opts) != 0)
        spdlog::warn("could not reset the ACL rule counters: {}", std::strerror(errno));
}

std::vector<PolicerRow> Instance::policers() const {
    const uint32_t gen = state().active_gen & 1;
    std::vector<PolicerRow> rows;
    for (const auto& lp : ports()) {
        for (uint32_t dir = 0; dir < 2; dir++) {
            const uint8_t flag = dir == XDPNET_DIR_IN ? XDPNET_PORT_POLICE_IN : XDPNET_PORT_POLICE_OUT;
            if (!(lp.port.flags & flag))
                continue;
            auto c = maps::lookup<__u32, struct xdpnet_policer>(
                m_.policers, __u32((gen * XDPNET_MAX_PORTS + lp.port.slot) * 2 + dir));
            auto b = maps::lookup<__u32, struct xdpnet_bucket>(m_.buckets,
                                                               __u32(lp.port.slot * 2 + dir));
            if (c && b)
                rows.push_back({lp, dir, *c, *b});
        }
    }
    return rows;
}

std::vector<LimitRow> Instance::limits() const { return limits_of_gen(state().active_gen & 1); }

std::vector<LimitSourceRow> Instance::limit_sources() const {
    std::vector<LimitSourceRow> rows;
    for (const auto& k : maps::keys<struct xdpnet_limit_src>(m_.limit_state))
        if (auto b = maps::lookup<struct xdpnet_limit_src, struct xdpnet_bucket>(m_.limit_state, k))
            rows.push_back({k, *b});
    return rows;
}

struct xdpnet_acl_config Instance::acl_config() const {
    const uint32_t gen = state().active_gen & 1;
    return maps::lookup<__u32, struct xdpnet_acl_config>(m_.aclcfg, gen).value_or(xdpnet_acl_config{});
}

std::vector<struct xdpnet_acl_hits> Instance::acl_hits(size_t n) const {
    std::vector<struct xdpnet_acl_hits> out;
    n = std::min<size_t>(n, XDPNET_ACL_MAX_RULES);
    for (size_t i = 0; i < n; i++)
        out.push_back(maps::lookup_percpu_sum<struct xdpnet_acl_hits>(m_.aclhits, __u32(i))
                          .value_or(xdpnet_acl_hits{}));
    out.push_back(maps::lookup_percpu_sum<struct xdpnet_acl_hits>(m_.aclhits, XDPNET_ACL_MAX_RULES)
                      .value_or(xdpnet_acl_hits{}));
    return out;
}

size_t Instance::acl_connections() const { return maps::keys<struct xdpnet_acl_key>(m_.aclconn).size(); }

uint32_t Instance::acl_conn_capacity() const { return maps::capacity(m_.aclconn); }

namespace {

std::string acl_notes_path_of(const std::string& instance) { return "/run/xdpnet/" + instance + ".acl.json"; }

// The ACL's rule texts (written by up/apply for `acl show`) go with the
// instance: a later instance of the same name must not show them.
void remove_acl_notes(const std::string& instance) {
    std::error_code ec;
    std::filesystem::remove(acl_notes_path_of(instance), ec);
}

} // namespace

std::string Instance::acl_notes_path() const { return acl_notes_path_of(name_); }

void Instance::clear_controls(uint32_t gen) {
    // LPM tries: get_next_key walks them too.
    for (const auto& k : maps::keys<struct xdpnet_limit_key>(m_.limits))
        if (k.gen == gen)
            maps::remove(m_.limits, k);
    for (const auto& k : maps::keys<struct xdpnet_psec_ip_key>(m_.psec_ip))
        if (k.gen == gen)
            maps::remove(m_.psec_ip, k);
    std::vector<struct xdpnet_psec_mac_key> macs;
    for (const auto& k : maps::keys<struct xdpnet_psec_mac_key>(m_.psec_mac))
        if (k.gen == gen)
            macs.push_back(k);
    maps::remove_many(m_.psec_mac, macs);
    std::vector<struct xdpnet_acl_key> acl;
    for (const auto& k : maps::keys<struct xdpnet_acl_key>(m_.acl))
        if (k.shape / XDPNET_ACL_MAX_SHAPES == gen)
            acl.push_back(k);
    maps::remove_many(m_.acl, acl);
    maps::update(m_.aclcfg, gen, xdpnet_acl_config{}, "xdpnet_aclcfg");
}

void Instance::write_controls(uint32_t gen, const policy::MapImage& image) {
    for (const auto& pi : image.ports)
        for (__u32 dir = 0; dir < 2; dir++)
            maps::update(m_.policers, __u32((gen * XDPNET_MAX_PORTS + pi.port.slot) * 2 + dir),
                         pi.police[dir], "xdpnet_policers");
    for (auto [k, v] : image.limits) {
        k.gen = static_cast<__u8>(gen);
        maps::update(m_.limits, k, v, "xdpnet_limits");
        // The limit's shared overflow bucket (used while the table is full).
        struct xdpnet_limit_src o = {};
        o.id = v.id;
        struct xdpnet_bucket fresh = {};
        bpf_map_update_elem(m_.limit_state.get(), &o, &fresh, BPF_NOEXIST);
    }
    for (auto k : image.psec_macs) {
        k.gen = static_cast<__u8>(gen);
        maps::update(m_.psec_mac, k, __u8{1}, "xdpnet_psec_mac");
    }
    for (auto k : image.psec_ips) {
        k.gen = static_cast<__u8>(gen);
        maps::update(m_.psec_ip, k, __u8{1}, "xdpnet_psec_ip");
    }
    if (image.acl.entries.empty() && image.acl.shapes.empty() && !image.config.acl)
        return;
    const __u8 base = static_cast<__u8>(gen * XDPNET_ACL_MAX_SHAPES);
    for (size_t i = 0; i < image.acl.shapes.size(); i++)
        maps::update(m_.aclshape, __u32(base + i), image.acl.shapes[i], "xdpnet_aclshape");
    std::vector<struct xdpnet_acl_key> keys;
    std::vector<struct xdpnet_acl_verdict> values;
    keys.reserve(image.acl.entries.size());
    values.reserve(image.acl.entries.size());
    for (auto [k, v] : image.acl.entries) {
        k.shape = static_cast<__u8>(base + k.shape);
        keys.push_back(k);
        values.push_back(v);
    }
    maps::update_many(m_.acl, keys, values, "xdpnet_acl");
    maps::update(m_.aclcfg, gen, image.acl.config, "xdpnet_aclcfg");
}

void Instance::write_gen(uint32_t gen, const policy::MapImage& image) {
    for (const auto& pi : image.ports) {
        maps::update(m_.ports, __u32(gen * XDPNET_MAX_PORTS + pi.port.slot), pi.port,
                     "xdpnet_ports");
        maps::update(m_.portidx, __u32(gen * XDPNET_MAX_IFINDEX + pi.port.ifindex),
                     __u32(pi.port.slot + 1u), "xdpnet_portidx");
        maps::update(m_.tx, __u32(gen * XDPNET_MAX_PORTS + pi.port.slot), pi.port.ifindex,
                     "xdpnet_tx");
    }
    std::map<uint16_t, const struct xdpnet_port*> by_slot;
    for (const auto& pi : image.ports)
        by_slot[pi.port.slot] = &pi.port;
    std::vector<Fd> inners; // kept open until the outer map holds them
    std::vector<__u32> flood_keys, flood_fds;
    for (const auto& [vid, members] : image.vlans) {
        struct xdpnet_vlan v = {};
        v.count = static_cast<__u8>(members.size());
        for (size_t i = 0; i < members.size() && i < XDPNET_VLAN_MAX_MEMBERS; i++)
            v.members[i] = static_cast<__u8>(members[i]);
        __u32 key = gen * XDPNET_VLAN_COUNT + vid;
        maps::update(m_.vlans, key, v, "xdpnet_vlans");

        // The VLAN's flood devmap: every member, each with the egress program.
        std::string mname = "xdpnet_fl" + std::to_string(vid);
        Fd inner(bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, mname.c_str(), sizeof(__u32),
                                sizeof(struct bpf_devmap_val), XDPNET_MAX_PORTS, nullptr));
        if (!inner)
            throw_sys("create", "flood map for VLAN " + std::to_string(vid), errno);
        for (uint16_t slot : members) {
            struct bpf_devmap_val dv = {};
            dv.ifindex = by_slot.at(slot)->ifindex;
            dv.bpf_prog.fd = p_.flood_egress.get();
            maps::update(inner, __u32(dv.ifindex), dv,
                         ("flood map of VLAN " + std::to_string(vid)).c_str());
        }
        flood_keys.push_back(key);
        flood_fds.push_back(static_cast<__u32>(inner.get()));
        inners.push_back(std::move(inner));
    }
    maps::update_many(m_.flood, flood_keys, flood_fds, "xdpnet_flood");
    for (const auto& [vid, gw] : image.gateways) {
        maps::update(m_.gateway, __u32(gen * XDPNET_VLAN_COUNT + vid), gw, "xdpnet_gateway");
        // The network's subnet routes to its VLAN.
        struct xdpnet_route_key k = {};
        k.prefixlen = 32u + gw.prefix_len;
        k.gen = gen;
        k.addr = gw.gw_ip & xdpnet_prefix_mask(gw.prefix_len);
        struct xdpnet_route r = {};
        r.vid = vid;
        maps::update(m_.routes, k, r, "xdpnet_routes");
    }
    for (const auto& [vid, c] : image.nat)
        maps::update(m_.natcfg, __u32(gen * XDPNET_VLAN_COUNT + vid), c, "xdpnet_natcfg");
    for (const auto& [vid, name] : image.network_names) {
        struct xdpnet_netname nn = {};
        std::strncpy(nn.name, name.c_str(), sizeof(nn.name) - 1);
        maps::update(m_.netname, __u32(gen * XDPNET_VLAN_COUNT + vid), nn, "xdpnet_netname");
    }
    for (auto [k, v] : image.forwards) {
        k.gen = static_cast<__u8>(gen);
        maps::update(m_.fwd, k, v, "xdpnet_fwd");
    }
    write_controls(gen, image);
    struct xdpnet_config cfg = image.config;
    cfg.ns_per_jiffy = 1000000000u / kernel_hz();
    cfg.flow_bits = image.flows ? static_cast<__u8>(flow_bits()) : 0;
    maps::update(m_.config, gen, cfg, "xdpnet_config");
}

bool Instance::attach_xdp(const struct xdpnet_port& port, policy::XdpMode mode) {
    std::string pin = dir_ + "/" + link_xdp_name(port.ifindex);
    if (path_exists(pin))
        return false;
    std::string ifname = netdev::name_of(port.ifindex);
    struct bpf_prog_info ours = {};
    __u32 len = sizeof(ours);
    bpf_obj_get_info_by_fd(p_.ingress.get(), &ours, &len);
    std::string other = netdev::foreign_xdp(port.ifindex, ours.id);
    if (!other.empty())
        throw Error(ExitCode::Failure, ifname + " already runs " + other +
                                           " from another tool; detach it (ip link set dev " +
                                           ifname + " xdp off) or leave the port out");
    // An uplink: bpf_fib_lookup answers only for interfaces that forward
    // IPv4 (net.ipv4.conf.<if>.forwarding); turn it on for this one only.
    if (port.mode == XDPNET_MODE_UPLINK && netdev::ipv4_forwarding(ifname) == 0) {
        if (!netdev::set_ipv4_forwarding(ifname, true))
            throw Error(ExitCode::Failure, ifname + ": could not turn on net.ipv4.conf." + ifname +
                                               ".forwarding, which NAT through it needs");
        struct xdpnet_ifsave save = {};
        save.forwarding = 1;
        maps::update(m_.ifsave, __u32(port.ifindex), save, "xdpnet_ifsave");
        spdlog::info("{}: turned net.ipv4.conf.{}.forwarding on (the uplink routes for the "
                     "NAT networks); down turns it off again", ifname, ifname);
    }
    // XDP must see VLAN tags in the frame: the offloads would hide them
    // (uplinks are not switched: their tags are the host's business).
    auto off = port.mode == XDPNET_MODE_UPLINK ? std::nullopt : netdev::get_vlan_offload(ifname);
    if (off && (off->rx || off->tx)) {
        struct xdpnet_ifsave save = {};
        save.rxvlan = off->rx;
        save.txvlan = off->tx;
        maps::update(m_.ifsave, __u32(port.ifindex), save, "xdpnet_ifsave");
        if (netdev::set_vlan_offload(ifname, {false, false}))
            spdlog::info("{}: turned VLAN offload off (rxvlan {}, txvlan {} -> off) so XDP sees "
                         "802.1Q tags",
                         ifname, off->rx ? "on" : "off", off->tx ? "on" : "off");
        else
            spdlog::warn("{}: VLAN offload could not be turned off; tagged frames may be "
                         "misclassified",
                         ifname);
    }
    LIBBPF_OPTS(bpf_link_create_opts, opts);
    opts.flags = mode == policy::XdpMode::Generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    Fd link(bpf_link_create(p_.ingress.get(), static_cast<int>(port.ifindex), BPF_XDP, &opts));
    if (!link) {
        int err = errno;
        throw_sys(std::string("attach XDP (") +
                      (mode == policy::XdpMode::Generic ? "generic" : "native") + ") to",
                  ifname + (mode == policy::XdpMode::Native && err == EOPNOTSUPP
                                ? " (driver lacks native XDP: set bridge.xdp_mode: generic)"
                                : ""),
                  err);
    }
    if (bpf_obj_pin(link.get(), pin.c_str()) != 0)
        throw_sys("pin", pin, errno);
    spdlog::debug("{}: XDP attached ({})", ifname,
                  mode == policy::XdpMode::Generic ? "generic" : "native");
    return true;
}

bool Instance::attach_tc(const struct xdpnet_port& port) {
    std::string pin = dir_ + "/" + link_tc_name(port.ifindex);
    if (path_exists(pin))
        return false;
    std::string ifname = netdev::name_of(port.ifindex);
    Fd link(bpf_link_create(p_.host_flood.get(), static_cast<int>(port.ifindex),
                            static_cast<enum bpf_attach_type>(kBpfTcxIngress), nullptr));
    if (!link)
        throw_sys("attach tcx ingress to", ifname, errno);
    if (bpf_obj_pin(link.get(), pin.c_str()) != 0)
        throw_sys("pin", pin, errno);
    spdlog::debug("{}: tc (tcx ingress) attached for host-copy floods", ifname);
    return true;
}

// The NAT slow path on a switch port, first in the tcx chain (it returns
// TCX_NEXT for anything not marked by XDP).
bool Instance::attach_tc_nat(const struct xdpnet_port& port) {
    std::string pin = dir_ + "/" + link_tcnat_name(port.ifindex);
    if (path_exists(pin))
        return false;
    std::string ifname = netdev::name_of(port.ifindex);
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = kBpfFBefore);
    Fd link(bpf_link_create(p_.nat_slow.get(), static_cast<int>(port.ifindex),
                            static_cast<enum bpf_attach_type>(kBpfTcxIngress), &opts));
    if (!link)
        throw_sys("attach tcx ingress (NAT slow path) to", ifname, errno);
    if (bpf_obj_pin(link.get(), pin.c_str()) != 0)
        throw_sys("pin", pin, errno);
    spdlog::debug("{}: tc (tcx ingress) attached for the NAT slow path", ifname);
    return true;
}

void Instance::detach(const std::string& link_name) {
    std::string pin = dir_ + "/" + link_name;
    if (path_exists(pin))
        unpin_link(pin);
}

void Instance::maccnt_release(uint16_t slot) {
    auto n = maps::lookup<__u32, __u32>(m_.maccnt, slot);
    if (n && *n)
        maps::update(m_.maccnt, __u32(slot), __u32(*n - 1), "xdpnet_maccnt");
}

void Instance::bump_fdb_version() {
    // Not atomic with the datapath's own bumps; a lost increment can only
    // leave a cached answer alive for its TTL (XDPNET_FDB_CACHE_TTL_NS).
    auto v = maps::lookup<__u32, __u32>(m_.fdbver, 0);
    maps::update(m_.fdbver, __u32{0}, __u32((v ? *v : 0) + 1), "xdpnet_fdbver");
}

void Instance::restore_offload(uint32_t ifindex) {
    auto save = maps::lookup<__u32, struct xdpnet_ifsave>(m_.ifsave, ifindex);
    if (!save)
        return;
    std::string ifname = netdev::name_of(ifindex);
    if (save->forwarding) {
        if (!ifname.empty() && netdev::set_ipv4_forwarding(ifname, false))
            spdlog::debug("{}: net.ipv4.conf.{}.forwarding off again", ifname, ifname);
        maps::remove(m_.ifsave, ifindex);
        return;
    }
    if (!ifname.empty() && netdev::set_vlan_offload(ifname, {save->rxvlan != 0, save->txvlan != 0}))
        spdlog::debug("{}: VLAN offload restored (rxvlan {}, txvlan {})", ifname,
                      save->rxvlan ? "on" : "off", save->txvlan ? "on" : "off");
    maps::remove(m_.ifsave, ifindex);
}

void Instance::prune_fdb(const std::vector<struct xdpnet_port>& removed,
                         const policy::MapImage& image) {
    std::map<uint16_t, const struct xdpnet_port*> live;
    for (const auto& pi : image.ports)
        live[pi.port.slot] = &pi.port;
    std::set<std::pair<uint16_t, std::string>> want;
    for (const auto& s : image.static_fdb)
        want.insert({s.key.vlan, policy::format_mac(s.key.mac)});
    size_t pruned = 0;
    for (const auto& row : fdb()) {
        auto it = live.find(row.entry.slot);
        bool stale = it == live.end() || it->second->ifindex != row.entry.ifindex ||
                     !port_has_vlan(*it->second, row.key.vlan);
        bool dropped_static = (row.entry.flags & XDPNET_FDB_POLICY) &&
                              !want.count({row.key.vlan, policy::format_mac(row.key.mac)});
        if ((stale || dropped_static) && maps::remove(m_.fdb, row.key)) {
            pruned++;
            if (!(row.entry.flags & XDPNET_FDB_STATIC)) {
                maccnt_release(row.entry.slot);
            }
        }
    }
    (void)removed;
    bump_fdb_version();
    if (pruned)
        spdlog::debug("removed {} FDB entries of removed ports/VLANs", pruned);
}

void Instance::apply(const policy::MapImage& image) {
    if (image.instance != name_)
        throw Error(ExitCode::Usage, "policy is for instance '" + image.instance +
                                         "', not '" + name_ + "'");
    if (fdb_capacity() != image.fdb_size)
        throw Error(ExitCode::Usage,
                    "bridge.fdb_size changed from " + std::to_string(fdb_capacity()) + " to " +
                        std::to_string(image.fdb_size) +
                        ": the FDB cannot be resized while running; `xdpnet down` then `up` "
                        "(the FDB is relearned)");
    if (2 * image.acl.entries.size() > maps::capacity(m_.acl))
        throw Error(ExitCode::Usage,
                    "the ACL compiles to " + std::to_string(image.acl.entries.size()) +
                        " entries; the running ACL table holds " +
                        std::to_string(maps::capacity(m_.acl)) +
                        " for two generations and cannot grow while running; `xdpnet down` "
                        "then `up`");
    if (image.acl_conn_size > maps::capacity(m_.aclconn))
        throw Error(ExitCode::Usage,
                    "acl.max_connections " + std::to_string(image.acl_conn_size) +
                        " is more than the running table's " +
                        std::to_string(maps::capacity(m_.aclconn)) +
                        "; it cannot grow while running; `xdpnet down` then `up`");
    if (image.ct_size > maps::capacity(m_.ct))
        throw Error(ExitCode::Usage,
                    "the networks' max_connections need " + std::to_string(image.ct_size) +
                        " connection-table entries, the running table has " +
                        std::to_string(maps::capacity(m_.ct)) +
                        ": it cannot grow while running; `xdpnet down` then `up` (tracked "
                        "connections are lost)");
    if (image.flows && flow_bits_for(image.flow_size) != flow_bits())
        throw Error(ExitCode::Usage,
                    "telemetry.flows.size changed (the running flow table has " +
                        std::to_string(maps::capacity(m_.flows)) + " slots, this policy asks for " +
                        std::to_string(uint64_t(libbpf_num_possible_cpus())
                                       << flow_bits_for(image.flow_size)) +
                        "): it cannot be resized while running; `xdpnet down` then `up` "
                        "(current flow counters are lost)");
    auto st = state();
    uint32_t cur = st.active_gen & 1, next = cur ^ 1;
    auto live = ports_of_gen(cur);
    const bool limits_changed = !same_limits(limits_of_gen(cur), image);

    // 1. Build the next generation aside. Nothing the datapath reads changes.
    clear_gen(next, ports_of_gen(next));
    write_gen(next, image);

    std::set<uint32_t> live_ifindex;
    for (const auto& p : live)
        live_ifindex.insert(p.ifindex);
    std::vector<std::string> attached; // undone if anything below fails
    try {
        for (const auto& pi : image.ports) {
            bool slot_reused = true;
            for (const auto& p : live)
                if (p.slot == pi.port.slot && p.ifindex == pi.port.ifindex)
                    slot_reused = false;
            if (slot_reused) {
                maps::update(m_.maccnt, __u32(pi.port.slot), __u32{0}, "xdpnet_maccnt");
                // A new port starts with full buckets, not its slot's last owner's.
                for (__u32 dir = 0; dir < 2; dir++)
                    maps::update(m_.buckets, __u32(pi.port.slot * 2 + dir), xdpnet_bucket{},
                                 "xdpnet_buckets");
            }
            // A newly attached port passes everything (not in the live
            // generation yet) until the switch below.
            if (attach_xdp(pi.port, image.xdp_mode))
                attached.push_back(link_xdp_name(pi.port.ifindex));
            if ((pi.port.flags & XDPNET_PORT_HOST) && attach_tc(pi.port))
                attached.push_back(link_tc_name(pi.port.ifindex));
            if (!image.nat.empty() && pi.port.mode != XDPNET_MODE_UPLINK && attach_tc_nat(pi.port))
                attached.push_back(link_tcnat_name(pi.port.ifindex));
        }
        for (const auto& s : image.static_fdb) {
            struct xdpnet_fdb_entry e = s.entry;
            e.flags |= XDPNET_FDB_STATIC | XDPNET_FDB_POLICY;
            auto old = maps::lookup<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>(m_.fdb, s.key);
            maps::update(m_.fdb, s.key, e, "xdpnet_fdb");
            if (old && !(old->flags & XDPNET_FDB_STATIC)) {
                maccnt_release(old->slot);
            }
        }
        bump_fdb_version();
        struct xdpnet_gc g = gc();
        g.interval_ns = image.gc_interval_ns;
        // The connection walk visits every slot of the table (~35 ns each):
        // one pass per second per 128k slots keeps it near 0.5 % of a CPU.
        g.ct_every = std::max<uint64_t>(1, maps::capacity(m_.ct) / 131072);
        maps::update(m_.gc, __u32{0}, g, "xdpnet_gc");
        std::string veths;
        for (const auto& pi : image.ports)
            if (!live_ifindex.count(pi.port.ifindex) && netdev::driver(pi.name) == "veth")
                veths += (veths.empty() ? "" : ", ") + pi.name;
        if (!veths.empty())
            spdlog::warn("veth ports ({}): TCP/UDP their peers send with checksum offload on "
                         "(the default) leaves with unfinished checksums in native XDP mode "
                         "(and as oversized TSO frames in generic mode); turn it off on each "
                         "peer: ethtool -K <peer> tx off",
                         veths);
    } catch (...) {
        for (const auto& l : attached)
            detach(l);
        for (const auto& pi : image.ports)
            if (!live_ifindex.count(pi.port.ifindex))
                restore_offload(pi.port.ifindex);
        throw;
    }

    // 2. The switch: one 8-byte map write. Packets see either policy whole.
    st.active_gen = next;
    maps::update(m_.state, __u32{0}, st, "xdpnet_state");

    // Per-address buckets belong to a limit by its position in the policy:
    // when the limits changed, every source starts afresh.
    if (limits_changed) {
        maps::remove_many(m_.limit_state, maps::keys<struct xdpnet_limit_src>(m_.limit_state));
        for (const auto& [k, v] : image.limits) {
            struct xdpnet_limit_src o = {};
            o.id = v.id;
            struct xdpnet_bucket fresh = {};
            bpf_map_update_elem(m_.limit_state.get(), &o, &fresh, BPF_NOEXIST);
        }
    }
    // Rule hits count for the rule set that is live; `acl show` reads the
    // rules' texts from the notes (the datapath holds only their entries).
    if (image.config.acl)
        zero_acl_hits();
    write_acl_notes(image);

    // 3. Ports whose XDP mode the policy changed: a link cannot change its
    // mode, so each is detached and attached again (a short gap per port).
    const char* want_mode = image.xdp_mode == policy::XdpMode::Generic ? "generic" : "native";
    for (const auto& lp : ports()) {
        if (!lp.xdp_attached || lp.xdp_mode == want_mode)
            continue;
        detach(link_xdp_name(lp.port.ifindex));
        attach_xdp(lp.port, image.xdp_mode);
        spdlog::info("{}: re-attached in {} XDP mode", lp.name, want_mode);
    }

    // 4. Retire what the new policy dropped.
    std::set<uint32_t> keep, keep_tc, keep_tcnat;
    for (const auto& pi : image.ports) {
        keep.insert(pi.port.ifindex);
        if (pi.port.flags & XDPNET_PORT_HOST)
            keep_tc.insert(pi.port.ifindex);
        if (!image.nat.empty() && pi.port.mode != XDPNET_MODE_UPLINK)
            keep_tcnat.insert(pi.port.ifindex);
    }
    std::vector<struct xdpnet_port> removed;
    for (const auto& p : live) {
        if (!keep.count(p.ifindex)) {
            detach(link_xdp_name(p.ifindex));
            restore_offload(p.ifindex);
            removed.push_back(p);
        }
        if (!keep_tc.count(p.ifindex))
            detach(link_tc_name(p.ifindex));
        if (!keep_tcnat.count(p.ifindex))
            detach(link_tcnat_name(p.ifindex));
    }
    prune_fdb(removed, image);
    run_gc();
}

void Instance::destroy() {
    // Links go first: each port stops running xdpnet before its maps vanish.
    for (const auto& n : dir_entries(dir_))
        if (n.rfind("link_", 0) == 0)
            detach(n);
    for (const auto& ifindex : maps::keys<__u32>(m_.ifsave))
        restore_offload(ifindex);
    m_ = {};
    p_ = {};
    remove_pins(dir_);
    remove_acl_notes(name_);
}

void Instance::force_remove(const std::string& instance) {
    std::string dir = instance_dir(instance);
    if (!path_exists(dir))
        throw Error(ExitCode::NotRunning, "instance '" + instance + "' has no pins at " + dir);
    remove_pins(dir);
    remove_acl_notes(instance);
}

std::vector<FdbRow> Instance::fdb() const {
    std::vector<FdbRow> out;
    for (const auto& k : maps::keys<struct xdpnet_fdb_key>(m_.fdb)) {
        auto e = maps::lookup<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>(m_.fdb, k);
        if (e)
            out.push_back({k, *e});
    }
    return out;
}

std::map<uint16_t, NetworkInfo> Instance::networks() const {
    std::map<uint16_t, NetworkInfo> out;
    const uint32_t gen = state().active_gen & 1;
    for (const auto& [vid, g] : gateways()) {
        NetworkInfo ni;
        ni.gateway = g;
        auto nn = maps::lookup<__u32, struct xdpnet_netname>(m_.netname, gen * XDPNET_VLAN_COUNT + vid);
        if (nn)
            ni.name = std::string(nn->name, strnlen(nn->name, sizeof(nn->name)));
        auto c = maps::lookup<__u32, struct xdpnet_nat_config>(m_.natcfg, gen * XDPNET_VLAN_COUNT + vid);
        if (c && c->uplink_ifindex)
            ni.nat = *c;
        out[vid] = ni;
    }
    return out;
}

std::vector<CtRow> Instance::connections() const {
    std::vector<CtRow> out;
    for (const auto& k : maps::keys<struct xdpnet_ct_key>(m_.ct)) {
        auto e = maps::lookup<struct xdpnet_ct_key, struct xdpnet_ct>(m_.ct, k);
        if (e)
            out.push_back({k, *e});
    }
    return out;
}

uint32_t Instance::ct_capacity() const { return maps::capacity(m_.ct); }

uint64_t Instance::ct_count(uint16_t vid) const {
    auto n = maps::lookup<__u32, __u64>(m_.ctcount, vid);
    return n ? *n : 0;
}

size_t Instance::nat_flush(const std::function<bool(const CtRow&)>& match) {
    size_t n = 0;
    for (const auto& row : connections()) {
        if (!(row.entry.flags & XDPNET_CT_ORIGINAL) || !match(row))
            continue;
        maps::remove(m_.ct, xdpnet_ct_peer_of(row.key, row.entry));
        if (maps::remove(m_.ct, row.key))
            n++;
    }
    // The networks' connection counts, recounted from what is left (the
    // datapath keeps them up to date itself; this is the one place
    // userspace removes connections).
    std::map<uint16_t, uint64_t> count;
    for (const auto& row : connections())
        if (row.entry.flags & XDPNET_CT_ORIGINAL)
            count[row.entry.vid]++;
    for (__u32 vid = 0; vid < XDPNET_VLAN_COUNT; vid++) {
        auto cur = maps::lookup<__u32, __u64>(m_.ctcount, vid);
        const uint64_t want = count.count(vid) ? count[vid] : 0;
        if (cur && *cur != want)
            maps::update(m_.ctcount, vid, __u64(want), "xdpnet_ctcount");
    }
    return n;
}

std::vector<NeighRow> Instance::neighbours() const {
    std::vector<NeighRow> out;
    for (const auto& k : maps::keys<struct xdpnet_neigh_key>(m_.neigh)) {
        auto e = maps::lookup<struct xdpnet_neigh_key, struct xdpnet_neigh>(m_.neigh, k);
        if (e)
            out.push_back({k, *e});
    }
    return out;
}

size_t Instance::neigh_flush(uint16_t vid) {
    size_t n = 0;
    for (const auto& k : maps::keys<struct xdpnet_neigh_key>(m_.neigh))
        if ((vid == 0 || k.vid == vid) && maps::remove(m_.neigh, k))
            n++;
    // Connections cache their neighbour's MAC under the FDB version.
    if (n)
        bump_fdb_version();
    return n;
}

void Instance::fdb_add(const struct xdpnet_fdb_key& key, const LivePort& port) {
    if (!port_has_vlan(port.port, key.vlan))
        throw Error(ExitCode::Usage, "port " + port.name + " does not carry VLAN " +
                                         std::to_string(key.vlan));
    struct xdpnet_fdb_entry e = {};
    e.ifindex = port.port.ifindex;
    e.slot = port.port.slot;
    e.flags = XDPNET_FDB_STATIC;
    e.last_seen_ns = clock_ns();
    auto old = maps::lookup<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>(m_.fdb, key);
    maps::update(m_.fdb, key, e, "xdpnet_fdb");
    bump_fdb_version();
    if (old && !(old->flags & XDPNET_FDB_STATIC)) {
        maccnt_release(old->slot);
    }
}

bool Instance::fdb_del(const struct xdpnet_fdb_key& key) {
    auto old = maps::lookup<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>(m_.fdb, key);
    if (!old || !maps::remove(m_.fdb, key))
        return false;
    bump_fdb_version();
    if (!(old->flags & XDPNET_FDB_STATIC)) {
        maccnt_release(old->slot);
    }
    return true;
}

size_t Instance::fdb_flush(const FdbFilter& f) {
    size_t n = 0;
    for (const auto& row : fdb()) {
        if ((row.entry.flags & XDPNET_FDB_STATIC) && !f.include_static)
            continue;
        if (f.vlan && row.key.vlan != *f.vlan)
            continue;
        if (f.slot && row.entry.slot != *f.slot)
            continue;
        n += fdb_del(row.key) ? 1 : 0;
    }
    return n;
}

std::vector<struct xdpnet_port_stats> Instance::stats() const {
    std::vector<struct xdpnet_port_stats> out(XDPNET_STATS_SLOTS);
    for (__u32 slot = 0; slot < XDPNET_STATS_SLOTS; slot++) {
        auto s = maps::lookup_percpu_sum<struct xdpnet_port_stats>(m_.stats, slot);
        if (s)
            out[slot] = *s;
    }
    return out;
}

namespace {
struct ClockSample {
    uint64_t clock_ns, jiffies, coarse_ns;
};

ClockSample sample_clock(const Fd& prog) {
    uint64_t buf[8] = {};
    uint64_t out[8] = {};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_out = out,
                .data_size_in = sizeof(buf), .data_size_out = sizeof(out), .repeat = 1);
    if (bpf_prog_test_run_opts(prog.get(), &opts) != 0 || opts.retval != XDP_PASS)
        throw_sys("run", "datapath clock probe", errno ? errno : EINVAL);
    return {out[0], out[1], out[2]};
}
} // namespace

uint64_t Instance::clock_ns() const { return sample_clock(p_.clock).clock_ns; }

unsigned Instance::kernel_hz() const {
    static std::optional<unsigned> cached;
    if (cached)
        return *cached;
    cached = config_hz();
    if (!cached) {
        // Count jiffies over 200 ms and round to the nearest HZ Linux offers.
        auto a = sample_clock(p_.clock);
        ::usleep(200000);
        auto b = sample_clock(p_.clock);
        double hz = double(b.jiffies - a.jiffies) * 1e9 / double(b.coarse_ns - a.coarse_ns);
        unsigned best = 250;
        for (unsigned c : {100u, 250u, 300u, 1000u})
            if (std::abs(hz - c) < std::abs(hz - best))
                best = c;
        cached = best;
        spdlog::debug("kernel HZ measured: {:.1f} -> {}", hz, best);
    }
    return *cached;
}

void Instance::run_gc() const {
    unsigned char frame[64] = {};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
                .repeat = 1);
    if (bpf_prog_test_run_opts(p_.fdb_gc.get(), &opts) != 0)
        throw_sys("run", "FDB aging pass", errno);
    if (opts.retval != XDP_PASS)
        spdlog::warn("FDB aging pass could not arm its timer (verdict {})", opts.retval);
}

} // namespace xdpnet
