#include "datapath/netdev.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <fstream>
#include <cstring>
#include <memory>
#include <vector>

#include "datapath/fd.h"

namespace xdpnet::netdev {
namespace {

Fd ctl_socket() { return Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }

bool ifreq_for(const std::string& name, struct ifreq& ifr) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return false;
    std::memset(&ifr, 0, sizeof(ifr));
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    return true;
}

bool ethtool(const Fd& sock, const std::string& name, void* data) {
    struct ifreq ifr;
    if (!ifreq_for(name, ifr))
        return false;
    ifr.ifr_data = static_cast<char*>(data);
    return ::ioctl(sock.get(), SIOCETHTOOL, &ifr) == 0;
}

// Indices of the named features in the kernel's feature string set.
struct FeatureIdx {
    int rx = -1;
    int tx = -1;
    unsigned count = 0;
};

std::optional<FeatureIdx> feature_indices(const Fd& sock, const std::string& name) {
    // struct ethtool_sset_info ends in a flexible array: one __u32 follows.
    alignas(struct ethtool_sset_info) uint8_t raw[sizeof(struct ethtool_sset_info) + sizeof(__u32)] = {};
    auto* sset = reinterpret_cast<struct ethtool_sset_info*>(raw);
    sset->cmd = ETHTOOL_GSSET_INFO;
    sset->sset_mask = 1ULL << ETH_SS_FEATURES;
    if (!ethtool(sock, name, sset) || !sset->sset_mask)
        return std::nullopt;
    unsigned n = sset->data[0];
    std::vector<uint8_t> mem(sizeof(struct ethtool_gstrings) + n * ETH_GSTRING_LEN);
    auto* gs = reinterpret_cast<struct ethtool_gstrings*>(mem.data());
    gs->cmd = ETHTOOL_GSTRINGS;
    gs->string_set = ETH_SS_FEATURES;
    gs->len = n;
    if (!ethtool(sock, name, gs))
        return std::nullopt;
    FeatureIdx idx;
    idx.count = n;
    for (unsigned i = 0; i < n; i++) {
        const char* s = reinterpret_cast<const char*>(gs->data + i * ETH_GSTRING_LEN);
        if (std::strncmp(s, "rx-vlan-hw-parse", ETH_GSTRING_LEN) == 0)
            idx.rx = static_cast<int>(i);
        else if (std::strncmp(s, "tx-vlan-hw-insert", ETH_GSTRING_LEN) == 0)
            idx.tx = static_cast<int>(i);
    }
    return idx;
}

} // namespace

std::optional<policy::InterfaceInfo> lookup(const std::string& name) {
    unsigned idx = if_nametoindex(name.c_str());
    if (!idx)
        return std::nullopt;
    policy::InterfaceInfo info;
    info.ifindex = idx;
    Fd sock = ctl_socket();
    struct ifreq ifr;
    if (sock && ifreq_for(name, ifr) && ::ioctl(sock.get(), SIOCGIFHWADDR, &ifr) == 0)
        std::memcpy(info.mac.data(), ifr.ifr_hwaddr.sa_data, 6);
    struct ifaddrs* ifa = nullptr;
    if (::getifaddrs(&ifa) == 0) {
        for (auto* a = ifa; a; a = a->ifa_next)
            if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && name == a->ifa_name) {
                info.ipv4 = ntohl(reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
                break;
            }
        ::freeifaddrs(ifa);
    }
    return info;
}

int ipv4_forwarding(const std::string& ifname) {
    std::ifstream f("/proc/sys/net/ipv4/conf/" + ifname + "/forwarding");
    int v = -1;
    if (!(f >> v))
        return -1;
    return v;
}

bool set_ipv4_forwarding(const std::string& ifname, bool on) {
    std::ofstream f("/proc/sys/net/ipv4/conf/" + ifname + "/forwarding");
    f << (on ? "1" : "0") << std::endl;
    return static_cast<bool>(f);
}

policy::InterfaceResolver host_resolver() {
    return [](const std::string& name) { return lookup(name); };
}

std::string name_of(unsigned ifindex) {
    char buf[IF_NAMESIZE] = {};
    return if_indextoname(ifindex, buf) ? std::string(buf) : std::string();
}

std::optional<VlanOffload> get_vlan_offload(const std::string& ifname) {
    Fd sock = ctl_socket();
    auto idx = feature_indices(sock, ifname);
    if (!idx)
        return std::nullopt;
    unsigned blocks = (idx->count + 31) / 32;
    std::vector<uint8_t> mem(sizeof(struct ethtool_gfeatures) +
                             blocks * sizeof(struct ethtool_get_features_block));
    auto* gf = reinterpret_cast<struct ethtool_gfeatures*>(mem.data());
    gf->cmd = ETHTOOL_GFEATURES;
    gf->size = blocks;
    if (!ethtool(sock, ifname, gf))
        return std::nullopt;
    auto active = [&](int i) {
        return i >= 0 && (gf->features[i / 32].active >> (i % 32)) & 1;
    };
    return VlanOffload{active(idx->rx), active(idx->tx)};
}

bool set_vlan_offload(const std::string& ifname, VlanOffload want) {
    Fd sock = ctl_socket();
    auto idx = feature_indices(sock, ifname);
    if (!idx)
        return false;
    unsigned blocks = (idx->count + 31) / 32;
    std::vector<uint8_t> mem(sizeof(struct ethtool_sfeatures) +
                             blocks * sizeof(struct ethtool_set_features_block));
    auto* sf = reinterpret_cast<struct ethtool_sfeatures*>(mem.data());
    sf->cmd = ETHTOOL_SFEATURES;
    sf->size = blocks;
    auto set = [&](int i, bool on) {
        if (i < 0)
            return;
        sf->features[i / 32].valid |= 1u << (i % 32);
        if (on)
            sf->features[i / 32].requested |= 1u << (i % 32);
    };
    set(idx->rx, want.rx);
    set(idx->tx, want.tx);
    if (!ethtool(sock, ifname, sf)) {
        spdlog::warn("{}: could not set VLAN offload (rxvlan {}, txvlan {}): {}", ifname,
                     want.rx ? "on" : "off", want.tx ? "on" : "off", std::strerror(errno));
        return false;
    }
    auto now = get_vlan_offload(ifname);
    return now && now->rx == want.rx && now->tx == want.tx;
}

std::string driver(const std::string& ifname) {
    Fd sock = ctl_socket();
    struct ethtool_drvinfo info = {};
    info.cmd = ETHTOOL_GDRVINFO;
    if (!ethtool(sock, ifname, &info))
        return "";
    return std::string(info.driver, strnlen(info.driver, sizeof(info.driver)));
}

std::string foreign_xdp(unsigned ifindex, unsigned ours_prog_id) {
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q) != 0 || q.attach_mode == XDP_ATTACHED_NONE)
        return "";
    __u32 id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id);
    if (id == ours_prog_id)
        return "";
    // libxdp knows its own multi-program dispatcher and names what it holds.
    std::unique_ptr<xdp_multiprog, decltype(&xdp_multiprog__close)> mp(
        xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex)), xdp_multiprog__close);
    std::string what;
    if (mp && !libxdp_get_error(mp.get())) {
        if (xdp_multiprog__is_legacy(mp.get())) {
            auto* p = xdp_multiprog__main_prog(mp.get());
            what = p ? std::string("'") + xdp_program__name(p) + "'" : "a program";
        } else {
            what = "a libxdp dispatcher with";
            for (auto* p = xdp_multiprog__next_prog(nullptr, mp.get()); p;
                 p = xdp_multiprog__next_prog(p, mp.get()))
                what += std::string(" '") + xdp_program__name(p) + "'";
        }
    }
    if (what.empty())
        what = "a program";
    return what + " (prog id " + std::to_string(id) + ")";
}

} // namespace xdpnet::netdev
