// daemon: the long-running telemetry process. This step serves Prometheus
// metrics (/metrics) read from the running instance's maps at each scrape;
// the datapath never depends on it (kill it at any time, counters live in
// the kernel).
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>

#include "cli/context.h"
#include "cli/names.h"
#include "datapath/error.h"
#include "telemetry/http.h"
#include "telemetry/prom.h"

namespace xdpnet::cli {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// The instance's state in Prometheus text format: per-port counters and
/// drops by reason, table fill levels, NAT connections per network.
std::string instance_metrics(const std::string& name) {
    const auto t0 = std::chrono::steady_clock::now();
    Instance inst = Instance::adopt(name);
    telemetry::PromWriter w;
    const auto state = inst.state();
    const auto ports = inst.ports();
    const auto stats = inst.stats();

    w.family("xdpnet_info", "the instance xdpnet serves (value 1)", "gauge");
    w.sample(Labels{{"instance", name},
                    {"abi", std::to_string(state.abi_version)},
                    {"generation", std::to_string(state.active_gen)}},
             uint64_t{1});

    // Per port; slot XDPNET_SLOT_NONE counts frames on no port of the policy.
    std::vector<std::pair<std::string, uint32_t>> rows;
    for (const auto& p : ports)
        rows.emplace_back(port_label(p), p.port.slot);
    rows.emplace_back("(none)", XDPNET_SLOT_NONE);
    for (int c = 0; c < XDPNET_CTR_MAX; c++) {
        w.family("xdpnet_port_" + std::string(kCounterNames[c]) + "_total", kCounterHelp[c], "counter");
        for (const auto& [label, slot] : rows)
            if (slot < stats.size())
                w.sample(Labels{{"instance", name}, {"port", label}}, uint64_t{stats[slot].ctr[c]});
    }
    w.family("xdpnet_port_drops_total", "frames dropped, by port and reason", "counter");
    for (const auto& [label, slot] : rows)
        for (int d = 1; d < XDPNET_DROP_MAX; d++)
            if (slot < stats.size())
                w.sample(Labels{{"instance", name}, {"port", label}, {"reason", kDropNames[d]}},
                         uint64_t{stats[slot].drops[d]});

    w.family("xdpnet_fdb_entries", "MAC table entries (learned and static)", "gauge");
    w.sample(Labels{{"instance", name}}, uint64_t{inst.fdb().size()});
    w.family("xdpnet_fdb_capacity", "MAC table capacity", "gauge");
    w.sample(Labels{{"instance", name}}, uint64_t{inst.fdb_capacity()});

    const auto nets = inst.networks();
    w.family("xdpnet_nat_connections", "connections a NAT network tracks now", "gauge");
    for (const auto& [vid, n] : nets)
        if (n.nat)
            w.sample(Labels{{"instance", name}, {"network", n.name}}, uint64_t{inst.ct_count(vid)});
    w.family("xdpnet_nat_max_connections", "a NAT network's max_connections (0: no limit)", "gauge");
    for (const auto& [vid, n] : nets)
        if (n.nat)
            w.sample(Labels{{"instance", name}, {"network", n.name}}, uint64_t{n.nat->max_conns});
    w.family("xdpnet_ct_capacity_entries", "connection table capacity (two entries per connection)", "gauge");
    w.sample(Labels{{"instance", name}}, uint64_t{inst.ct_capacity()});

    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    w.family("xdpnet_scrape_duration_seconds", "time this scrape took to read the maps", "gauge");
    w.sample(Labels{{"instance", name}}, took);
    return w.str();
}

telemetry::HttpResponse handle(const telemetry::HttpRequest& req, const std::string& instance) {
    if (req.path == "/")
        return {200, "text/html; charset=utf-8",
                "<html><body><h1>xdpnet daemon</h1><p>instance " + instance +
                    "</p><p><a href=\"/metrics\">/metrics</a></p></body></html>\n"};
    if (req.path != "/metrics")
        return {404, "text/plain; charset=utf-8", "not found: try /metrics\n"};
    try {
        return {200, "text/plain; version=0.0.4; charset=utf-8", instance_metrics(instance)};
    } catch (const Error& e) {
        // Not running (yet, or any more): say so, and keep serving.
        return {503, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
    }
}

} // namespace

void register_daemon(CLI::App& app, Context& ctx) {
    static std::string listen = "127.0.0.1:9477";
    auto* d = app.add_subcommand("daemon", "serve Prometheus metrics of an instance (runs until SIGINT/SIGTERM)");
    d->add_option("--prometheus", listen, "address:port for /metrics ([v6]:port for IPv6; port 0 picks one)")
        ->capture_default_str();
    d->callback([&ctx] {
        require_privileges();
        // The instance named with -i; without -i, the only running one now.
        const std::string instance = pick_instance(ctx);
        std::unique_ptr<telemetry::HttpServer> server;
        try {
            server = std::make_unique<telemetry::HttpServer>(listen);
        } catch (const std::exception& e) {
            throw Error(ExitCode::Usage, std::string("daemon: ") + e.what());
        }
        const volatile std::sig_atomic_t& stop = stop_on_signals();
        // One line on stdout, for scripts that asked for port 0.
        std::cout << "xdpnet daemon: instance " << instance << ", metrics on http://" << server->address()
                  << "/metrics" << std::endl;
        spdlog::info("daemon: serving {} on {}", instance, server->address());
        while (!stop)
            server->serve_one(500, [&](const telemetry::HttpRequest& r) { return handle(r, instance); });
        spdlog::info("daemon: stopped");
    });
}

} // namespace xdpnet::cli
