// fdb show|add|del|flush
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>

#include "cli/context.h"
#include "datapath/error.h"

namespace xdpnet::cli {
namespace {

struct FdbOpts {
    std::string mac;
    int vlan = -1;
    std::string port;
    bool include_static = false;
};

struct xdpnet_fdb_key make_key(const FdbOpts& o) {
    auto mac = policy::parse_mac(o.mac);
    if (!mac)
        throw Error(ExitCode::Usage, "bad MAC '" + o.mac + "' (expected aa:bb:cc:dd:ee:ff)");
    if (o.vlan < 1 || o.vlan > 4094)
        throw Error(ExitCode::Usage, "--vlan must be 1..4094");
    struct xdpnet_fdb_key k = {};
    k.vlan = static_cast<__u16>(o.vlan);
    std::copy(mac->begin(), mac->end(), k.mac);
    return k;
}


} // namespace

void register_fdb(CLI::App& app, Context& ctx) {
    static FdbOpts o;
    auto* fdb = app.add_subcommand("fdb", "the forwarding database");
    fdb->require_subcommand(1);

    auto* show = fdb->add_subcommand("show", "list entries");
    show->add_option("--vlan", o.vlan, "only this VLAN");
    show->add_option("--port", o.port, "only this port");
    show->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        std::map<uint16_t, std::string> names;
        for (const auto& p : inst.ports())
            names[p.port.slot] = port_label(p);
        auto rows = inst.fdb();
        std::sort(rows.begin(), rows.end(), [](const FdbRow& a, const FdbRow& b) {
            if (a.key.vlan != b.key.vlan)
                return a.key.vlan < b.key.vlan;
            return std::lexicographical_compare(a.key.mac, a.key.mac + 6, b.key.mac, b.key.mac + 6);
        });
        double now = inst.clock_ns() / 1e9;
        nlohmann::json j = nlohmann::json::array();
        if (!ctx.json)
            std::cout << fmt::format("{:>5} {:<17} {:<15} {:<8} {:>8}\n", "VLAN", "MAC", "PORT",
                                     "TYPE", "AGE(s)");
        for (const auto& r : rows) {
            auto it = names.find(r.entry.slot);
            std::string port = it != names.end() ? it->second : "#slot" + std::to_string(r.entry.slot);
            if (o.vlan > 0 && r.key.vlan != o.vlan)
                continue;
            if (!o.port.empty() && port != o.port)
                continue;
            bool is_static = r.entry.flags & XDPNET_FDB_STATIC;
            double age = is_static ? 0.0 : std::max(0.0, now - r.entry.last_seen_ns / 1e9);
            if (ctx.json) {
                j.push_back({{"vlan", r.key.vlan}, {"mac", policy::format_mac(r.key.mac)},
                             {"port", port}, {"ifindex", r.entry.ifindex}, {"static", is_static},
                             {"policy", (r.entry.flags & XDPNET_FDB_POLICY) != 0},
                             {"age_s", age}});
                continue;
            }
            std::cout << fmt::format("{:>5} {:<17} {:<15} {:<8} {:>8}\n", r.key.vlan,
                                     policy::format_mac(r.key.mac), port,
                                     is_static ? "static" : "learned",
                                     is_static ? "-" : fmt::format("{:.1f}", age));
        }
        if (ctx.json)
            print_json(j);
    });

    auto* add = fdb->add_subcommand("add", "add a static entry");
    add->add_option("--mac", o.mac, "MAC address")->required();
    add->add_option("--vlan", o.vlan, "VLAN")->required();
    add->add_option("--port", o.port, "port")->required();
    add->callback([&ctx] {
        auto key = make_key(o);
        require_privileges();
        auto name = pick_instance(ctx);
        InstanceLock lock(name);
        auto inst = Instance::adopt(name);
        inst.fdb_add(key, find_port(inst, o.port));
        if (ctx.json)
            print_json({{"added", true}, {"vlan", o.vlan}, {"mac", o.mac}, {"port", o.port}});
        else
            spdlog::info("static entry vlan {} {} -> {}", o.vlan, o.mac, o.port);
    });

    auto* del = fdb->add_subcommand("del", "delete an entry");
    del->add_option("--mac", o.mac, "MAC address")->required();
    del->add_option("--vlan", o.vlan, "VLAN")->required();
    del->callback([&ctx] {
        auto key = make_key(o);
        require_privileges();
        auto name = pick_instance(ctx);
        InstanceLock lock(name);
        auto inst = Instance::adopt(name);
        if (!inst.fdb_del(key))
            throw Error(ExitCode::Failure, "no entry for vlan " + std::to_string(o.vlan) + " " + o.mac);
        if (ctx.json)
            print_json({{"deleted", true}, {"vlan", o.vlan}, {"mac", o.mac}});
    });

    auto* flush = fdb->add_subcommand("flush", "delete learned entries (and static with --static)");
    flush->add_option("--vlan", o.vlan, "only this VLAN");
    flush->add_option("--port", o.port, "only this port");
    flush->add_flag("--static", o.include_static, "static entries too");
    flush->callback([&ctx] {
        require_privileges();
        auto name = pick_instance(ctx);
        InstanceLock lock(name);
        auto inst = Instance::adopt(name);
        FdbFilter f;
        if (o.vlan > 0)
            f.vlan = static_cast<uint16_t>(o.vlan);
        if (!o.port.empty())
            f.slot = find_port(inst, o.port).port.slot;
        f.include_static = o.include_static;
        size_t n = inst.fdb_flush(f);
        if (ctx.json)
            print_json({{"flushed", n}});
        else
            std::cout << "flushed " << n << " entries" << std::endl;
    });
}

} // namespace xdpnet::cli
