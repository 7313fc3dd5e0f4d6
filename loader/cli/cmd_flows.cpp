// flows: the datapath's live flows (its flow table, merged over CPUs), as a
// table, as JSON, or refreshed like top with per-flow rates (--follow).
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string_view>
#include <thread>
#include <time.h>

#include "cli/context.h"
#include "cli/names.h"
#include "datapath/error.h"
#include "datapath/flows.h"
#include "telemetry/flow_export.h"
#include "telemetry/flow_json.h"

namespace xdpnet::cli {
namespace {

struct Options {
    std::string port, proto, host, by = "bytes";
    int vlan = -1;
    size_t top = 0;
    bool follow = false;
    double interval_s = 1.0;
    int count = 0; // --follow rounds (0: until stopped)
};

struct Row {
    telemetry::DpFlow flow;
    telemetry::FlowRecord rec;
    double pps = 0, bps = 0; // --follow: over the last interval
};

// --proto as a protocol number; throws a usage error naming the choices.
int proto_filter(const std::string& p) {
    static const std::map<std::string, int> names = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}};
    if (p.empty())
        return -1;
    if (auto it = names.find(p); it != names.end())
        return it->second;
    try {
        size_t end = 0;
        int n = std::stoi(p, &end);
        if (end == p.size() && n >= 0 && n <= 255)
            return n;
    } catch (const std::exception&) {
    }
    throw Error(ExitCode::Usage, "--proto " + p + ": expected tcp, udp, icmp, icmpv6 or a number 0-255");
}

bool wanted(const Row& r, const Options& o, int proto) {
    if (!o.port.empty() && r.rec.in_port != o.port && r.rec.out_port != o.port)
        return false;
    if (o.vlan >= 0 && r.rec.key.vlan != o.vlan)
        return false;
    if (proto >= 0 && r.rec.key.proto != proto)
        return false;
    if (!o.host.empty() && telemetry::format_addr(r.rec.key, true) != o.host &&
        telemetry::format_addr(r.rec.key, false) != o.host)
        return false;
    return true;
}

std::string outcome(const telemetry::DpFlow& f) {
    std::string s;
    auto add = [&](std::string_view w) { s += (s.empty() ? "" : ",") + std::string(w); };
    if (f.flags & XDPNET_FLOW_FORWARDED)
        add("fwd");
    if (f.flags & XDPNET_FLOW_FLOODED)
        add("flood");
    if (f.flags & XDPNET_FLOW_TO_HOST)
        add("host");
    if (f.flags & XDPNET_FLOW_DROPPED)
        add(std::string("drop:") + (f.drop_reason < XDPNET_DROP_MAX ? kDropNames[f.drop_reason] : "?"));
    return s.empty() ? "-" : s;
}

std::string endpoint(const telemetry::FlowRecord& r, bool src) {
    std::string a = telemetry::format_addr(r.key, src);
    if (r.key.family == 6)
        a = "[" + a + "]";
    const uint16_t port = src ? r.key.sport : r.key.dport;
    if (r.key.proto == 6 || r.key.proto == 17)
        return a + ":" + std::to_string(port);
    return a;
}

std::string human_bytes(double b) {
    const char* unit[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) {
        b /= 1000;
        u++;
    }
    return u == 0 ? fmt::format("{:.0f}{}", b, unit[u]) : fmt::format("{:.1f}{}", b, unit[u]);
}

nlohmann::json row_json(const Row& r, bool rates) {
    nlohmann::json j = telemetry::flow_to_json(r.rec);
    j.erase("end_reason");
    j["drops"] = r.flow.drops;
    j["outcome"] = outcome(r.flow);
    j["cpus"] = r.flow.slots;
    if (rates) {
        j["pps"] = r.pps;
        j["bps"] = r.bps;
    }
    return j;
}

void print_table(const std::vector<Row>& rows, size_t total, bool rates) {
    std::cout << fmt::format("{:<7} {:<44} {:>5} {:<8} {:<8} {:>9} {:>9} {:>6} {:<6} {}\n", "PROTO",
                             "SOURCE -> DESTINATION", "VLAN", "IN", "OUT", rates ? "PKT/S" : "PACKETS",
                             rates ? "BIT/S" : "BYTES", "IDLE", "TCP", "OUTCOME / NAT");
    const uint64_t now = unix_now_ns();
    for (const Row& r : rows) {
        const auto& k = r.rec.key;
        std::string nat;
        if (r.rec.nat.present)
            nat = fmt::format(" nat {}:{} -> {}:{}", policy::format_ipv4(r.rec.nat.src), r.rec.nat.sport,
                              policy::format_ipv4(r.rec.nat.dst), r.rec.nat.dport);
        const double idle = now > r.rec.last_ns ? double(now - r.rec.last_ns) / 1e9 : 0;
        std::cout << fmt::format(
            "{:<7} {:<44} {:>5} {:<8} {:<8} {:>9} {:>9} {:>5.1f}s {:<6} {}{}\n",
            telemetry::flow_proto_name(k.proto), endpoint(r.rec, true) + " -> " + endpoint(r.rec, false),
            k.vlan, r.rec.in_port.empty() ? "-" : r.rec.in_port, r.rec.out_port.empty() ? "-" : r.rec.out_port,
            rates ? fmt::format("{:.0f}", r.pps) : std::to_string(r.rec.packets),
            rates ? human_bytes(r.bps).substr(0, 9) : human_bytes(double(r.rec.bytes)), idle,
            telemetry::flow_tcp_flags_text(r.rec.tcp_flags), outcome(r.flow), nat);
    }
    std::cout << fmt::format("{} of {} flows\n", rows.size(), total);
}

// The table now, as rows (cumulative counters), filtered.
std::vector<Row> read_rows(const Instance& inst, const FlowTable& table, const Options& o, int proto) {
    const uint64_t dp_now = inst.clock_ns();
    const int64_t offset = int64_t(unix_now_ns()) - int64_t(dp_now);
    const auto by_slot = ports_by_slot(inst);
    std::vector<Row> rows;
    for (const auto& f : telemetry::merge_flows(table.slots(), table.size(), dp_now, conn_flows(inst))) {
        Row r{f, telemetry::to_record(f, by_slot, offset)};
        if (wanted(r, o, proto))
            rows.push_back(std::move(r));
    }
    return rows;
}

void sort_and_cut(std::vector<Row>& rows, const Options& o, bool rates) {
    const bool by_packets = o.by == "packets";
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
        if (rates)
            return by_packets ? a.pps > b.pps : a.bps > b.bps;
        return by_packets ? a.rec.packets > b.rec.packets : a.rec.bytes > b.rec.bytes;
    });
    if (o.top && rows.size() > o.top)
        rows.resize(o.top);
}

std::string key_of(const Row& r) {
    return std::string(reinterpret_cast<const char*>(&r.flow.key), sizeof(r.flow.key));
}

} // namespace

void register_flows(CLI::App& app, Context& ctx) {
    static Options o;
    auto* c = app.add_subcommand("flows", "the datapath's current flows (per-flow counters)");
    c->add_option("--port", o.port, "only flows entering or leaving this port");
    c->add_option("--vlan", o.vlan, "only flows of this VLAN")->check(CLI::Range(0, 4094));
    c->add_option("--proto", o.proto, "only this protocol: tcp, udp, icmp, icmpv6 or a number");
    c->add_option("--host", o.host, "only flows from or to this address");
    c->add_option("--top", o.top, "show the N largest flows (0: all)");
    c->add_option("--by", o.by, "order by bytes or packets (rates with --follow)")
        ->check(CLI::IsMember({"bytes", "packets"}))
        ->capture_default_str();
    c->add_flag("--follow,-f", o.follow, "refresh every --interval with per-flow rates, like top");
    c->add_option("--interval", o.interval_s, "seconds between refreshes (--follow)")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    c->add_option("--count", o.count, "stop after N refreshes (--follow; 0: until interrupted)");
    c->callback([&ctx] {
        require_privileges();
        const int proto = proto_filter(o.proto);
        Instance inst = Instance::adopt(pick_instance(ctx));
        if (!inst.config().flow_bits && !ctx.json)
            std::cerr << "note: per-flow accounting is off (telemetry.flows); the table shows what "
                         "it counted before"
                      << std::endl;
        FlowTable table(inst, false);
        if (!o.follow) {
            auto rows = read_rows(inst, table, o, proto);
            const size_t total = rows.size();
            sort_and_cut(rows, o, false);
            if (ctx.json) {
                nlohmann::json a = nlohmann::json::array();
                for (const auto& r : rows)
                    a.push_back(row_json(r, false));
                print_json({{"instance", inst.name()}, {"flows", a}, {"matching", total}});
            } else {
                print_table(rows, total, false);
            }
            return;
        }
        const volatile std::sig_atomic_t& stop = stop_on_signals();
        std::map<std::string, std::pair<uint64_t, uint64_t>> before; // key -> packets, bytes
        auto t_before = std::chrono::steady_clock::now();
        for (const auto& r : read_rows(inst, table, o, proto))
            before[key_of(r)] = {r.rec.packets, r.rec.bytes};
        for (int round = 0; !stop && (o.count == 0 || round < o.count); round++) {
            std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
            if (stop)
                break;
            const auto t_now = std::chrono::steady_clock::now();
            const double secs = std::chrono::duration<double>(t_now - t_before).count();
            auto rows = read_rows(inst, table, o, proto);
            std::map<std::string, std::pair<uint64_t, uint64_t>> now;
            for (auto& r : rows) {
                const auto k = key_of(r);
                now[k] = {r.rec.packets, r.rec.bytes};
                auto it = before.find(k);
                const uint64_t p0 = it != before.end() && it->second.first <= r.rec.packets ? it->second.first : 0;
                const uint64_t b0 = it != before.end() && it->second.second <= r.rec.bytes ? it->second.second : 0;
                r.pps = double(r.rec.packets - p0) / secs;
                r.bps = 8.0 * double(r.rec.bytes - b0) / secs;
            }
            before = std::move(now);
            t_before = t_now;
            const size_t total = rows.size();
            sort_and_cut(rows, o, true);
            if (ctx.json) {
                nlohmann::json a = nlohmann::json::array();
                for (const auto& r : rows)
                    a.push_back(row_json(r, true));
                std::cout << nlohmann::json{{"instance", inst.name()}, {"interval_s", secs}, {"flows", a},
                                            {"matching", total}}
                                 .dump()
                          << std::endl;
            } else {
                std::cout << "\033[H\033[2J" << "xdpnet flows: instance " << inst.name() << ", every "
                          << o.interval_s << " s (Ctrl-C to stop)\n";
                print_table(rows, total, true);
                std::cout.flush();
            }
        }
    });
}

} // namespace xdpnet::cli
