// daemon: the long-running telemetry process. It serves Prometheus metrics
// (/metrics) read from the running instance's maps at each scrape, and
// exports flow records (IPFIX, JSON lines) from the datapath's flow table
// every --interval. The datapath never depends on it: kill it at any time;
// counters live in the kernel and the export marks in a pinned map, so a
// restarted daemon neither repeats records nor loses the counts behind them.
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "cli/context.h"
#include "cli/names.h"
#include "datapath/error.h"
#include "datapath/flows.h"
#include "telemetry/exporters.h"
#include "telemetry/flow_export.h"
#include "telemetry/http.h"
#include "telemetry/prom.h"
#include "telemetry/settings.h"

namespace xdpnet::cli {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// What the daemon exports and how (the instance's recorded telemetry
/// settings, with the command line's overrides).
struct ExportOptions {
    std::optional<std::string> ipfix;     // --ipfix
    std::string ipfix_transport;          // --ipfix-transport
    std::optional<std::string> jsonl;     // --jsonl
    double interval_s = 1.0;              // --interval
};

/// Flow export: one round per interval over the instance's flow table.
class FlowExporter {
  public:
    FlowExporter(std::string instance, ExportOptions opt) : instance_(std::move(instance)), opt_(std::move(opt)) {}

    /// One round; `force` at the end (every unreported count goes out).
    void round(bool force) {
        try {
            Instance inst = Instance::adopt(instance_);
            configure(inst);
            if (!ipfix_ && !jsonl_) {
                table_.reset(); // nothing to export to: leave the marks alone
                return;
            }
            if (!table_ || table_->map_id() != FlowTable::pinned_id(inst))
                table_ = std::make_unique<FlowTable>(inst, true);
            run(inst, force);
            running_ = true;
        } catch (const Error& e) {
            if (running_ || rounds_ == 0)
                spdlog::warn("daemon: flow export paused: {}", e.what());
            running_ = false;
            table_.reset();
        }
        rounds_++;
    }

    /// Prometheus families of the export (records sent and lost, flow-table fill).
    void metrics(telemetry::PromWriter& w) const {
        using Labels = std::vector<std::pair<std::string, std::string>>;
        w.family("xdpnet_flow_records_exported_total", "flow records delivered, by exporter", "counter");
        w.sample(Labels{{"instance", instance_}, {"exporter", "ipfix"}}, ipfix_exported_);
        w.sample(Labels{{"instance", instance_}, {"exporter", "jsonl"}}, jsonl_exported_);
        w.family("xdpnet_flow_records_lost_total",
                 "flow records that could not be delivered (collector unreachable, write failed)", "counter");
        w.sample(Labels{{"instance", instance_}, {"exporter", "ipfix"}}, ipfix_lost_);
        w.sample(Labels{{"instance", instance_}, {"exporter", "jsonl"}}, jsonl_lost_);
        w.family("xdpnet_flow_export_rounds_total", "flow export rounds run", "counter");
        w.sample(Labels{{"instance", instance_}}, rounds_);
        w.family("xdpnet_flow_export_round_seconds", "time the last flow export round took", "gauge");
        w.sample(Labels{{"instance", instance_}}, last_round_s_);
    }

  private:
    // (Re)builds the sinks when the settings changed (an `apply`).
    void configure(const Instance& inst) {
        auto t = telemetry::read_settings(inst.name()).value_or(policy::TelemetrySpec{});
        if (opt_.ipfix) {
            policy::IpfixSpec s = t.ipfix.value_or(policy::IpfixSpec{});
            s.collector = *opt_.ipfix;
            if (!opt_.ipfix_transport.empty())
                s.transport = opt_.ipfix_transport == "tcp" ? policy::IpfixSpec::Transport::Tcp
                                                            : policy::IpfixSpec::Transport::Udp;
            t.ipfix = s;
        }
        if (opt_.jsonl)
            t.jsonl = *opt_.jsonl;
        timeouts_.idle_ns = t.idle_timeout_ns;
        timeouts_.active_ns = t.active_timeout_ns;
        timeouts_.active_slack_ns = static_cast<uint64_t>(opt_.interval_s * 5e8);
        const auto fingerprint = telemetry::settings_to_json(t).dump();
        if (fingerprint == fingerprint_)
            return;
        fingerprint_ = fingerprint;
        keep_counts();
        ipfix_.reset();
        jsonl_.reset();
        if (t.ipfix) {
            ipfix_ = std::make_unique<telemetry::IpfixSink>(*t.ipfix);
            spdlog::info("daemon: IPFIX to {} over {}, observation domain {}", t.ipfix->collector,
                         t.ipfix->transport == policy::IpfixSpec::Transport::Tcp ? "tcp" : "udp",
                         t.ipfix->observation_domain);
        }
        if (t.jsonl) {
            jsonl_ = std::make_unique<telemetry::JsonlSink>(*t.jsonl);
            spdlog::info("daemon: flow records as JSON lines to {}", *t.jsonl == "-" ? "stdout" : *t.jsonl);
        }
    }

    // Totals survive a sink being rebuilt.
    void keep_counts() {
        if (ipfix_) {
            ipfix_base_exported_ += ipfix_->exported();
            ipfix_base_lost_ += ipfix_->lost();
        }
        if (jsonl_) {
            jsonl_base_exported_ += jsonl_->exported();
            jsonl_base_lost_ += jsonl_->lost();
        }
    }

    void run(const Instance& inst, bool force) {
        const auto t0 = std::chrono::steady_clock::now();
        const uint64_t dp_now = inst.clock_ns();
        const int64_t offset = int64_t(unix_now_ns()) - int64_t(dp_now);
        telemetry::FlowExport round(table_->slots(), table_->marks(), table_->size(), dp_now, timeouts_);
        round.scan();
        std::vector<telemetry::DpFlow> due;
        table_->drain([&](const struct xdpnet_flow_event& ev) {
            telemetry::DpFlow d;
            if (round.evicted(ev, &d))
                due.push_back(d);
        });
        for (auto& d : round.finish(force))
            due.push_back(d);
        // Translated connections: counted in their halves, not in the table.
        for (auto& d : conn_export_.round(conn_flows(inst), dp_now, timeouts_, force))
            due.push_back(d);

        const auto by_slot = ports_by_slot(inst);
        std::vector<telemetry::FlowRecord> recs;
        recs.reserve(due.size());
        for (const auto& d : due)
            recs.push_back(telemetry::to_record(d, by_slot, offset));
        const uint64_t now = unix_now_ns();
        if (ipfix_)
            ipfix_->send(recs, now);
        if (jsonl_ && !recs.empty())
            jsonl_->write(recs);
        ipfix_exported_ = ipfix_base_exported_ + (ipfix_ ? ipfix_->exported() : 0);
        ipfix_lost_ = ipfix_base_lost_ + (ipfix_ ? ipfix_->lost() : 0);
        jsonl_exported_ = jsonl_base_exported_ + (jsonl_ ? jsonl_->exported() : 0);
        jsonl_lost_ = jsonl_base_lost_ + (jsonl_ ? jsonl_->lost() : 0);
        last_round_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!recs.empty())
            spdlog::debug("daemon: {} flow records ({} s)", recs.size(), last_round_s_);
    }

    std::string instance_;
    ExportOptions opt_;
    telemetry::FlowTimeouts timeouts_;
    std::string fingerprint_;
    std::unique_ptr<FlowTable> table_;
    telemetry::ConnFlowExport conn_export_;
    std::unique_ptr<telemetry::IpfixSink> ipfix_;
    std::unique_ptr<telemetry::JsonlSink> jsonl_;
    bool running_ = false;
    uint64_t rounds_ = 0;
    uint64_t ipfix_exported_ = 0, ipfix_lost_ = 0, jsonl_exported_ = 0, jsonl_lost_ = 0;
    uint64_t ipfix_base_exported_ = 0, ipfix_base_lost_ = 0, jsonl_base_exported_ = 0, jsonl_base_lost_ = 0;
    double last_round_s_ = 0;
};

/// The instance's state in Prometheus text format: per-port counters and
/// drops by reason, table fill levels, NAT connections per network.
std::string instance_metrics(const std::string& name, const FlowExporter& flows) {
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
    // Source ports masquerading networks hand out (as `nat ports` counts
    // them: the translated ports of their SNAT connections).
    std::map<uint16_t, std::set<uint16_t>> ports_used;
    bool any_masq = false;
    for (const auto& [vid, n] : nets)
        any_masq |= n.nat && (n.nat->flags & XDPNET_NAT_MASQ);
    if (any_masq)
        for (const auto& row : inst.connections())
            if ((row.entry.flags & XDPNET_CT_ORIGINAL) && (row.entry.flags & XDPNET_CT_SNAT))
                ports_used[row.entry.vid].insert(ntohs(row.entry.to_sport));
    w.family("xdpnet_nat_ports_used", "source ports a masquerading network's connections hold", "gauge");
    for (const auto& [vid, n] : nets)
        if (n.nat && (n.nat->flags & XDPNET_NAT_MASQ))
            w.sample(Labels{{"instance", name}, {"network", n.name}}, uint64_t{ports_used[vid].size()});
    w.family("xdpnet_nat_ports", "size of a masquerading network's port_range", "gauge");
    for (const auto& [vid, n] : nets)
        if (n.nat && (n.nat->flags & XDPNET_NAT_MASQ))
            w.sample(Labels{{"instance", name}, {"network", n.name}},
                     uint64_t{uint32_t(n.nat->port_hi) - n.nat->port_lo + 1u});
    w.family("xdpnet_ct_capacity_entries", "connection table capacity (two entries per connection)", "gauge");
    w.sample(Labels{{"instance", name}}, uint64_t{inst.ct_capacity()});

    {
        FlowTable table(inst, false);
        const auto fill = telemetry::flow_fill(table.slots(), table.size());
        w.family("xdpnet_flow_table_slots_used", "flow table slots holding a flow (all CPUs)", "gauge");
        w.sample(Labels{{"instance", name}}, uint64_t{fill.used});
        w.family("xdpnet_flow_table_slots", "flow table capacity in slots (all CPUs)", "gauge");
        w.sample(Labels{{"instance", name}}, uint64_t{fill.capacity});
        w.family("xdpnet_flow_accounting", "per-flow accounting on (1) or off (0)", "gauge");
        w.sample(Labels{{"instance", name}}, uint64_t{inst.config().flow_bits ? 1u : 0u});
    }
    flows.metrics(w);

    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    w.family("xdpnet_scrape_duration_seconds", "time this scrape took to read the maps", "gauge");
    w.sample(Labels{{"instance", name}}, took);
    return w.str();
}

telemetry::HttpResponse handle(const telemetry::HttpRequest& req, const std::string& instance,
                               const FlowExporter& flows) {
    if (req.path == "/")
        return {200, "text/html; charset=utf-8",
                "<html><body><h1>xdpnet daemon</h1><p>instance " + instance +
                    "</p><p><a href=\"/metrics\">/metrics</a></p></body></html>\n"};
    if (req.path != "/metrics")
        return {404, "text/plain; charset=utf-8", "not found: try /metrics\n"};
    try {
        return {200, "text/plain; version=0.0.4; charset=utf-8", instance_metrics(instance, flows)};
    } catch (const Error& e) {
        // Not running (yet, or any more): say so, and keep serving.
        return {503, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
    }
}

} // namespace

// One exporting daemon per instance: the export marks are its state.
Fd lock_exporter(const std::string& instance) {
    ::mkdir("/run/xdpnet", 0755);
    const std::string path = "/run/xdpnet/" + instance + ".daemon.lock";
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd)
        throw_sys("open", path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        throw Error(ExitCode::Usage, "another xdpnet daemon already serves instance '" + instance +
                                         "' (" + path + " is locked)");
    return fd;
}

void register_daemon(CLI::App& app, Context& ctx) {
    static std::string listen;
    static ExportOptions opt;
    static std::string ipfix, jsonl;
    auto* d = app.add_subcommand("daemon", "serve Prometheus metrics and export flow records of an "
                                           "instance (runs until SIGINT/SIGTERM)");
    d->add_option("--prometheus", listen,
                  "address:port for /metrics ([v6]:port for IPv6; port 0 picks one; \"off\": none); "
                  "default: the policy's telemetry.prometheus, else 127.0.0.1:9477");
    d->add_option("--ipfix", ipfix, "send IPFIX to this collector (address:port), overriding telemetry.ipfix");
    d->add_option("--ipfix-transport", opt.ipfix_transport, "udp or tcp (with --ipfix)")
        ->check(CLI::IsMember({"udp", "tcp"}));
    d->add_option("--jsonl", jsonl, "write flow records as JSON lines to this file (\"-\": stdout), "
                                    "overriding telemetry.jsonl");
    d->add_option("--interval", opt.interval_s, "seconds between flow export rounds")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 60.0));
    d->callback([&ctx] {
        require_privileges();
        // The instance named with -i; without -i, the only running one now.
        const std::string instance = pick_instance(ctx);
        if (!ipfix.empty())
            opt.ipfix = ipfix;
        if (!jsonl.empty())
            opt.jsonl = jsonl;
        if (opt.ipfix) {
            try {
                (void)policy::parse_socket_address(*opt.ipfix, false);
            } catch (const std::exception& e) {
                throw Error(ExitCode::Usage, "daemon: --ipfix " + *opt.ipfix + ": " + e.what());
            }
        }
        Fd lock = lock_exporter(instance);
        // The export round's buffers (tens of MB at 100 000 flows) stay in
        // the heap between rounds instead of being unmapped and faulted in
        // again every round.
        ::mallopt(M_MMAP_THRESHOLD, 512 << 20);
        ::mallopt(M_TRIM_THRESHOLD, 1024 << 20);
        std::string addr = listen;
        if (addr.empty()) {
            auto t = telemetry::read_settings(instance);
            addr = t ? t->prometheus_listen.value_or("off") : "127.0.0.1:9477";
        }
        std::unique_ptr<telemetry::HttpServer> server;
        if (addr != "off") {
            try {
                server = std::make_unique<telemetry::HttpServer>(addr);
            } catch (const std::exception& e) {
                throw Error(ExitCode::Usage, std::string("daemon: ") + e.what());
            }
        }
        FlowExporter flows(instance, opt);
        const volatile std::sig_atomic_t& stop = stop_on_signals();
        // One line on stdout, for scripts that asked for port 0.
        std::cout << "xdpnet daemon: instance " << instance << ", metrics "
                  << (server ? "on http://" + server->address() + "/metrics" : std::string("off"))
                  << std::endl;
        spdlog::info("daemon: serving {}{}", instance, server ? " on " + server->address() : "");
        const auto interval = std::chrono::duration<double>(opt.interval_s);
        auto next = std::chrono::steady_clock::now();
        while (!stop) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= next) {
                flows.round(false);
                // From the round's end: a slow round never starves /metrics.
                next = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
                continue;
            }
            const int wait_ms = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count()) + 1;
            if (server)
                server->serve_one(std::min(wait_ms, 500), [&](const telemetry::HttpRequest& r) {
                    return handle(r, instance, flows);
                });
            else
                ::usleep(static_cast<useconds_t>(std::min(wait_ms, 500)) * 1000);
        }
        flows.round(true); // what is left goes out, marked "forced end"
        spdlog::info("daemon: stopped");
    });
}

} // namespace xdpnet::cli
