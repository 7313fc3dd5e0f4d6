// stats: per-port counters and drops by reason.
#include <spdlog/fmt/fmt.h>

#include <iostream>

#include "cli/context.h"

namespace xdpnet::cli {
namespace {

#define XDPNET_NAME(e, n, h) n,
constexpr const char* kCounterNames[] = {XDPNET_COUNTERS(XDPNET_NAME)};
constexpr const char* kDropNames[] = {"none", XDPNET_DROP_REASONS(XDPNET_NAME)};
#undef XDPNET_NAME

nlohmann::json slot_json(const struct xdpnet_port_stats& s) {
    nlohmann::json c = nlohmann::json::object(), d = nlohmann::json::object();
    for (int i = 0; i < XDPNET_CTR_MAX; i++)
        c[kCounterNames[i]] = s.ctr[i];
    for (int i = 1; i < XDPNET_DROP_MAX; i++)
        d[kDropNames[i]] = s.drops[i];
    return {{"counters", c}, {"drops", d}};
}

void print_slot(const std::string& label, const struct xdpnet_port_stats& s, bool all) {
    std::cout << label << "\n";
    for (int i = 0; i < XDPNET_CTR_MAX; i++)
        if (all || s.ctr[i])
            std::cout << fmt::format("  {:<22} {:>14}\n", kCounterNames[i], s.ctr[i]);
    for (int i = 1; i < XDPNET_DROP_MAX; i++)
        if (all || s.drops[i])
            std::cout << fmt::format("  drop {:<17} {:>14}\n", kDropNames[i], s.drops[i]);
}

} // namespace

void register_stats(CLI::App& app, Context& ctx) {
    static std::string port;
    static bool all = false;
    auto* stats = app.add_subcommand("stats", "per-port counters and drops by reason");
    stats->add_option("--port", port, "only this port");
    stats->add_flag("--all", all, "show zero counters too");
    stats->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        auto st = inst.stats();
        auto ports = inst.ports();
        uint64_t total = 0;
        for (const auto& s : st)
            for (int i = 1; i < XDPNET_DROP_MAX; i++)
                total += s.drops[i];
        if (ctx.json) {
            nlohmann::json j = {{"ports", nlohmann::json::array()}, {"drops_total", total}};
            for (const auto& p : ports) {
                if (!port.empty() && p.name != port)
                    continue;
                auto sj = slot_json(st[p.port.slot]);
                sj["name"] = port_label(p);
                sj["slot"] = p.port.slot;
                j["ports"].push_back(sj);
            }
            j["not_a_port"] = slot_json(st[XDPNET_SLOT_NONE]);
            print_json(j);
            return;
        }
        for (const auto& p : ports) {
            if (!port.empty() && p.name != port)
                continue;
            print_slot(port_label(p) + " (slot " + std::to_string(p.port.slot) + ")",
                       st[p.port.slot], all);
        }
        if (port.empty())
            print_slot("(not a port)", st[XDPNET_SLOT_NONE], all);
        std::cout << "drops total " << total << "\n";
    });
}

} // namespace xdpnet::cli
