// up, down, apply, check: the policy lifecycle.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <algorithm>
#include <iostream>

#include "cli/context.h"
#include "datapath/error.h"
#include "datapath/netdev.h"
#include "telemetry/settings.h"

namespace xdpnet::cli {
namespace {

nlohmann::json changes_json(const std::vector<Change>& changes, bool applied) {
    nlohmann::json j;
    j["changes"] = nlohmann::json::array();
    for (const auto& c : changes)
        j["changes"].push_back({{"op", c.op}, {"what", c.what}, {"name", c.name}, {"detail", c.detail}});
    j["applied"] = applied;
    return j;
}

void print_changes(const std::vector<Change>& changes) {
    if (changes.empty()) {
        std::cout << "no changes" << std::endl;
        return;
    }
    for (const auto& c : changes) {
        char sign = c.op == "add" ? '+' : c.op == "remove" ? '-' : '~';
        std::cout << sign << " " << c.what << " " << c.name;
        if (!c.detail.empty())
            std::cout << ": " << c.detail;
        std::cout << std::endl;
    }
}

policy::Policy load(const std::string& file, const Context& ctx) {
    auto pol = policy::load_policy_file(file);
    // Warnings go to stderr, so --json output on stdout stays parseable.
    for (const auto& w : pol.warnings)
        std::cerr << "warning: " << w.str() << std::endl;
    if (!ctx.instance.empty() && ctx.instance != pol.instance)
        throw Error(ExitCode::Usage, file + ": policy is for instance '" + pol.instance +
                                         "' but -i says '" + ctx.instance + "'");
    return pol;
}

// The telemetry section, for the daemon to follow (telemetry/settings.h).
void record_telemetry(const policy::Policy& pol) {
    if (!telemetry::write_settings(pol.instance, pol.telemetry))
        spdlog::warn("could not record the telemetry settings at {} (a running daemon keeps "
                     "its current ones)",
                     telemetry::settings_path(pol.instance));
}

// Adopts a running instance and applies the policy to it (or only diffs).
void apply_to_running(const policy::Policy& pol, const Context& ctx, bool dry_run) {
    auto inst = Instance::adopt(pol.instance);
    auto image = policy::compile(pol, netdev::host_resolver(), inst.slots());
    auto changes = inst.diff(image);
    if (!dry_run) {
        inst.apply(image);
        record_telemetry(pol);
    }
    if (ctx.json) {
        print_json(changes_json(changes, !dry_run));
        return;
    }
    print_changes(changes);
    if (dry_run)
        std::cout << "(dry run: nothing applied)" << std::endl;
    else
        spdlog::info("instance '{}': policy applied ({} changes, FDB kept)", pol.instance,
                     changes.size());
}

} // namespace

void register_lifecycle(CLI::App& app, Context& ctx) {
    static std::string file;
    static bool dry_run = false;

    auto* up = app.add_subcommand("up", "load the datapath and attach to every port of FILE "
                                        "(adopts a running instance instead of reloading)");
    up->add_option("-c,--config", file, "policy file")->required();
    up->callback([&ctx] {
        auto pol = load(file, ctx);
        require_privileges();
        InstanceLock lock(pol.instance);
        if (Instance::exists(pol.instance)) {
            spdlog::info("instance '{}' is already running: adopting it and applying {}",
                         pol.instance, file);
            apply_to_running(pol, ctx, false);
            return;
        }
        auto image = policy::compile(pol, netdev::host_resolver());
        auto inst = Instance::create(image);
        record_telemetry(pol);
        if (ctx.json)
            print_json({{"instance", inst.name()}, {"ports", image.ports.size()}, {"up", true}});
    });

    auto* down = app.add_subcommand("down", "detach from every port and remove every pin");
    down->add_option("-c,--config", file, "policy file (names the instance)");
    down->callback([&ctx] {
        std::string name = ctx.instance;
        if (!file.empty())
            name = load(file, ctx).instance;
        require_privileges();
        if (name.empty())
            name = pick_instance(ctx);
        InstanceLock lock(name);
        size_t ports = 0;
        try {
            auto inst = Instance::adopt(name);
            ports = inst.ports().size();
            inst.destroy();
            telemetry::remove_settings(name);
        } catch (const Error& e) {
            if (e.code() == ExitCode::Permission ||
                (e.code() == ExitCode::NotRunning && !std::filesystem::exists(instance_dir(name))))
                throw;
            // Pinned by another xdpnet version, or half removed: down is
            // best effort, it must never leave the instance stuck.
            spdlog::warn("{}; removing its pins anyway", e.what());
            Instance::force_remove(name);
            telemetry::remove_settings(name);
        }
        if (ctx.json)
            print_json({{"instance", name}, {"down", true}, {"ports", ports}});
        else
            spdlog::info("instance '{}' is down: {} ports detached, pins removed", name, ports);
    });

    auto* apply = app.add_subcommand("apply", "switch a running instance to FILE atomically");
    apply->add_option("-c,--config", file, "policy file")->required();
    apply->add_flag("--dry-run", dry_run, "show the diff, change nothing");
    apply->callback([&ctx] {
        auto pol = load(file, ctx);
        require_privileges();
        InstanceLock lock(pol.instance);
        apply_to_running(pol, ctx, dry_run);
    });

    auto* check = app.add_subcommand("check", "validate FILE (no root needed, touches nothing)");
    check->add_option("-c,--config", file, "policy file")->required();
    check->callback([&ctx] {
        auto pol = load(file, ctx);
        size_t missing = 0;
        std::vector<std::string> absent;
        for (const auto& p : pol.ports)
            if (!netdev::lookup(p.name)) {
                missing++;
                absent.push_back(p.name);
            }
        std::vector<std::string> no_address; // uplinks that exist without an IPv4 address
        for (const auto& n : pol.networks) {
            if (n.uplink.empty() ||
                std::find(absent.begin(), absent.end(), n.uplink) != absent.end() ||
                std::find(no_address.begin(), no_address.end(), n.uplink) != no_address.end())
                continue;
            auto info = netdev::lookup(n.uplink);
            if (!info)
                absent.push_back(n.uplink);
            else if (!info->ipv4)
                no_address.push_back(n.uplink);
        }
        // The ACL must also fit the datapath's search (shapes, entries).
        size_t acl_shapes = 0, acl_entries = 0;
        if (pol.acl.present) {
            std::map<std::string, uint16_t> slot_of;
            for (size_t i = 0; i < pol.ports.size(); i++)
                slot_of[pol.ports[i].name] = static_cast<uint16_t>(i);
            auto acl = policy::compile_acl(pol.acl, slot_of);
            acl_shapes = acl.shapes.size();
            acl_entries = acl.entries.size();
        }
        if (ctx.json) {
            std::vector<std::string> warnings;
            for (const auto& w : pol.warnings)
                warnings.push_back(w.str());
            print_json({{"file", file}, {"valid", true}, {"instance", pol.instance},
                        {"ports", pol.ports.size()}, {"networks", pol.networks.size()},
                        {"limits", pol.limits.size()}, {"acl_rules", pol.acl.rules.size()},
                        {"acl_shapes", acl_shapes}, {"acl_entries", acl_entries},
                        {"warnings", warnings},
                        {"absent_interfaces", absent}, {"uplinks_without_ipv4", no_address}});
            return;
        }
        std::cout << file << ": valid (instance '" << pol.instance << "', " << pol.ports.size()
                  << " ports, " << pol.static_fdb.size() << " static FDB entries, "
                  << pol.networks.size() << " networks";
        if (pol.acl.present)
            std::cout << ", " << pol.acl.rules.size() << " ACL rules in " << acl_shapes
                      << " shapes";
        if (!pol.limits.empty())
            std::cout << ", " << pol.limits.size() << " limits";
        std::cout << ")" << std::endl;
        for (const auto& n : absent)
            std::cout << "note: interface '" << n << "' does not exist on this host yet; `up` "
                      << "needs it" << std::endl;
        for (const auto& n : no_address)
            std::cout << "note: uplink '" << n << "' has no IPv4 address yet; `up` needs one "
                      << "(NAT uses it)" << std::endl;
    });
}

} // namespace xdpnet::cli
