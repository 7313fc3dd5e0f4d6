// neigh show|flush: the router's neighbours on routed VLANs.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <arpa/inet.h>
#include <iostream>

#include "cli/context.h"
#include "datapath/error.h"

namespace xdpnet::cli {

void register_neigh(CLI::App& app, Context& ctx) {
    static int vlan = 0;
    auto* neigh = app.add_subcommand("neigh", "the router's neighbours (IPv4 -> MAC per routed VLAN)");
    neigh->require_subcommand(1);

    auto* show = neigh->add_subcommand("show", "list neighbours");
    show->add_option("--vlan", vlan, "only this VLAN")->check(CLI::Range(1, 4094));
    show->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        auto rows = inst.neighbours();
        std::sort(rows.begin(), rows.end(), [](const NeighRow& a, const NeighRow& b) {
            if (a.key.vid != b.key.vid)
                return a.key.vid < b.key.vid;
            return ntohl(a.key.ip) < ntohl(b.key.ip);
        });
        const double now = inst.clock_ns() / 1e9;
        nlohmann::json j = nlohmann::json::array();
        if (!ctx.json)
            std::cout << fmt::format("{:>5} {:<15} {:<17} {:<10} {:>8}\n", "VLAN", "ADDRESS", "MAC",
                                     "STATE", "AGE(s)");
        for (const auto& r : rows) {
            if (vlan && r.key.vid != vlan)
                continue;
            const bool ok = r.entry.state == XDPNET_NEIGH_REACHABLE;
            const std::string addr = policy::format_ipv4(ntohl(r.key.ip));
            const std::string mac = ok ? policy::format_mac(r.entry.mac) : "-";
            const char* state = ok ? "reachable" : "incomplete";
            const double age = std::max(0.0, now - r.entry.updated_ns / 1e9);
            if (ctx.json) {
                j.push_back({{"vlan", r.key.vid}, {"address", addr}, {"mac", ok ? nlohmann::json(mac) : nlohmann::json()},
                             {"state", state}, {"age_s", age}});
                continue;
            }
            std::cout << fmt::format("{:>5} {:<15} {:<17} {:<10} {:>8.1f}\n", r.key.vid, addr, mac,
                                     state, age);
        }
        if (ctx.json)
            std::cout << j.dump(2) << std::endl;
    });

    static int flush_vlan = 0;
    auto* flush = neigh->add_subcommand("flush", "forget neighbours (they are asked for again)");
    flush->add_option("--vlan", flush_vlan, "only this VLAN")->check(CLI::Range(1, 4094));
    flush->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        const size_t n = inst.neigh_flush(static_cast<uint16_t>(flush_vlan));
        if (ctx.json)
            std::cout << nlohmann::json{{"removed", n}}.dump() << std::endl;
        else
            std::cout << "removed " << n << " neighbour" << (n == 1 ? "" : "s") << std::endl;
    });
}

} // namespace xdpnet::cli
