// stats: per-port counters and drops by reason.
#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/context.h"
#include "cli/names.h"
#include "datapath/error.h"

namespace xdpnet::cli {
namespace {


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

/// Per-second rates of one port between two readings.
struct PortRates {
    std::string name;
    double rx_pps = 0, rx_bps = 0, tx_pps = 0, drops_ps = 0;
    std::vector<std::pair<std::string, double>> drops; // reason -> per second, nonzero only
};

PortRates rates_of(const std::string& name, const struct xdpnet_port_stats& a,
                   const struct xdpnet_port_stats& b, double secs) {
    auto rate = [&](uint64_t x0, uint64_t x1) { return x1 >= x0 ? double(x1 - x0) / secs : 0.0; };
    PortRates r{name};
    r.rx_pps = rate(a.ctr[XDPNET_CTR_RX], b.ctr[XDPNET_CTR_RX]);
    r.rx_bps = 8 * rate(a.ctr[XDPNET_CTR_RX_BYTES], b.ctr[XDPNET_CTR_RX_BYTES]);
    r.tx_pps = rate(a.ctr[XDPNET_CTR_TX_UNICAST] + a.ctr[XDPNET_CTR_TX_FLOOD],
                    b.ctr[XDPNET_CTR_TX_UNICAST] + b.ctr[XDPNET_CTR_TX_FLOOD]);
    for (int i = 1; i < XDPNET_DROP_MAX; i++) {
        double d = rate(a.drops[i], b.drops[i]);
        if (d > 0)
            r.drops.emplace_back(kDropNames[i], d);
        r.drops_ps += d;
    }
    std::sort(r.drops.begin(), r.drops.end(), [](auto& x, auto& y) { return x.second > y.second; });
    return r;
}

std::string now_text() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

/// stats --watch: rates every `interval` seconds until a signal (or `count` lines).
void watch(const std::string& instance, const std::string& only, double interval, int count, bool json) {
    const volatile std::sig_atomic_t& stop = stop_on_signals();
    const bool tty = !json && isatty(STDOUT_FILENO);
    auto inst = Instance::adopt(instance);
    auto prev = inst.stats();
    auto t_prev = std::chrono::steady_clock::now();
    for (int n = 0; !stop && (count <= 0 || n < count); n++) {
        auto wake = t_prev + std::chrono::duration<double>(interval);
        while (!stop && std::chrono::steady_clock::now() < wake)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (stop)
            break;
        if (!Instance::exists(instance))
            throw Error(ExitCode::NotRunning, "instance " + instance + " is no longer running");
        auto cur = inst.stats();
        auto t = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(t - t_prev).count();
        std::vector<PortRates> rows;
        for (const auto& p : inst.ports())
            if ((only.empty() || p.name == only) && p.port.slot < cur.size() && p.port.slot < prev.size())
                rows.push_back(rates_of(port_label(p), prev[p.port.slot], cur[p.port.slot], secs));
        if (only.empty())
            rows.push_back(rates_of("(not a port)", prev[XDPNET_SLOT_NONE], cur[XDPNET_SLOT_NONE], secs));
        if (json) {
            nlohmann::json j = {{"time", now_text()}, {"interval_s", secs}, {"ports", nlohmann::json::array()}};
            for (const auto& r : rows) {
                nlohmann::json d = nlohmann::json::object();
                for (const auto& [reason, v] : r.drops)
                    d[reason] = v;
                j["ports"].push_back({{"name", r.name}, {"rx_pps", r.rx_pps}, {"rx_bps", r.rx_bps},
                                      {"tx_pps", r.tx_pps}, {"drops_ps", r.drops_ps}, {"drops", d}});
            }
            std::cout << j.dump() << std::endl; // one object per line
        } else {
            if (tty)
                std::cout << "\033[H\033[2J";
            std::cout << fmt::format("{}  every {:.1f} s  (Ctrl-C to stop)\n", now_text(), secs)
                      << fmt::format("{:<16} {:>12} {:>12} {:>12} {:>10}  {}\n", "port", "rx pkt/s", "rx Mbit/s",
                                     "tx pkt/s", "drops/s", "top drop reasons");
            for (const auto& r : rows) {
                std::string top;
                for (size_t i = 0; i < r.drops.size() && i < 3; i++)
                    top += fmt::format("{}{} {:.0f}/s", i ? ", " : "", r.drops[i].first, r.drops[i].second);
                std::cout << fmt::format("{:<16} {:>12.0f} {:>12.3f} {:>12.0f} {:>10.0f}  {}\n", r.name, r.rx_pps,
                                         r.rx_bps / 1e6, r.tx_pps, r.drops_ps, top);
            }
            std::cout << std::flush;
        }
        prev = std::move(cur);
        t_prev = t;
    }
}

} // namespace

void register_stats(CLI::App& app, Context& ctx) {
    static std::string port;
    static bool all = false;
    auto* stats = app.add_subcommand("stats", "per-port counters and drops by reason");
    stats->add_option("--port", port, "only this port");
    stats->add_flag("--all", all, "show zero counters too");
    static bool watching = false;
    static double interval = 1.0;
    static int count = 0;
    stats->add_flag("--watch", watching, "rates per port every --interval seconds until Ctrl-C");
    stats->add_option("--interval", interval, "seconds between --watch readings")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    stats->add_option("--count", count, "stop --watch after this many readings (0: never)")
        ->check(CLI::NonNegativeNumber);
    stats->callback([&ctx] {
        require_privileges();
        if (watching) {
            watch(pick_instance(ctx), port, interval, count, ctx.json);
            return;
        }
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
