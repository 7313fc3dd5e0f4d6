#include "cli/context.h"

#include <time.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "datapath/error.h"

namespace xdpnet::cli {

void require_privileges() {
    std::ifstream in("/proc/self/status");
    std::string line;
    uint64_t eff = 0;
    while (std::getline(in, line))
        if (line.rfind("CapEff:", 0) == 0)
            eff = std::stoull(line.substr(7), nullptr, 16);
    auto has = [&](int cap) { return (eff >> cap) & 1; };
    constexpr int kNetAdmin = 12, kSysAdmin = 21, kBpf = 39;
    std::string missing;
    if (!has(kBpf) && !has(kSysAdmin))
        missing += " CAP_BPF";
    if (!has(kNetAdmin))
        missing += " CAP_NET_ADMIN";
    if (!missing.empty())
        throw Error(ExitCode::Permission,
                    "xdpnet needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN); missing:" +
                        missing + ". Try: sudo xdpnet ...");
}

std::string pick_instance(const Context& ctx) {
    if (!ctx.instance.empty())
        return ctx.instance;
    auto all = list_instances();
    if (all.size() == 1)
        return all[0];
    if (all.empty())
        throw Error(ExitCode::NotRunning, "no xdpnet instance is running (nothing under " +
                                              pin_root() + "); start one with `xdpnet up -c FILE`");
    std::string names;
    for (const auto& n : all)
        names += (names.empty() ? "" : ", ") + n;
    throw Error(ExitCode::Usage, "several instances are running (" + names + "); pick one with -i");
}

InstanceLock::InstanceLock(const std::string& instance) {
    ::mkdir("/run/lock", 0755);
    std::string path = "/run/lock/xdpnet-" + instance + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

InstanceLock::~InstanceLock() {
    if (fd_ >= 0)
        ::close(fd_);
}

LivePort find_port(const Instance& inst, const std::string& name) {
    std::string names;
    for (auto& p : inst.ports()) {
        if (p.name == name)
            return p;
        names += (names.empty() ? "" : ", ") + port_label(p);
    }
    throw Error(ExitCode::Usage, "no port '" + name + "' in instance '" + inst.name() +
                                     "' (ports: " + names + ")");
}

std::string port_label(const LivePort& p) {
    return p.name.empty() ? "#" + std::to_string(p.port.ifindex) : p.name;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }
} // namespace

const volatile std::sig_atomic_t& stop_on_signals() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    return g_stop;
}

uint64_t unix_now_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

std::vector<struct xdpnet_flow> conn_flows(const Instance& inst) {
    std::vector<struct xdpnet_flow> out;
    const auto rows = inst.connections();
    if (rows.empty())
        return out;
    std::map<std::string, const CtRow*> by_key;
    auto key_str = [](const struct xdpnet_ct_key& k) {
        return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
    };
    for (const auto& r : rows)
        by_key[key_str(r.key)] = &r;
    std::map<uint16_t, uint8_t> uplink_of; // vid -> the uplink's slot
    for (const auto& [vid, n] : inst.networks())
        if (n.nat)
            uplink_of[vid] = uint8_t(n.nat->uplink_slot);
    for (const auto& r : rows) {
        auto peer = by_key.find(key_str(xdpnet_ct_peer_of(r.key, r.entry)));
        auto up = uplink_of.find(r.entry.vid);
        out.push_back(telemetry::conn_flow(r.key, r.entry, peer == by_key.end() ? nullptr : &peer->second->entry,
                                           up == uplink_of.end() ? uint8_t(XDPNET_SLOT_NONE) : up->second));
    }
    return out;
}

std::vector<telemetry::PortInfo> ports_by_slot(const Instance& inst) {
    std::vector<telemetry::PortInfo> by_slot(XDPNET_STATS_SLOTS);
    for (const auto& p : inst.ports())
        if (p.port.slot < by_slot.size())
            by_slot[p.port.slot] = {p.name, p.port.ifindex};
    return by_slot;
}

} // namespace xdpnet::cli
