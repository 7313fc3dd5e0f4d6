// status: what is running and how it is attached.
#include <arpa/inet.h>
#include <spdlog/fmt/fmt.h>

#include <iostream>

#include "cli/context.h"

namespace xdpnet::cli {
namespace {
const char* mode_name(uint8_t mode) {
    return mode == XDPNET_MODE_ACCESS ? "access" : mode == XDPNET_MODE_UPLINK ? "uplink" : "trunk";
}
} // namespace
namespace {

/// The per-VM controls a port has: "police-in", "police-out", "dscp=46", "secured".
std::vector<std::string> controls_of(const struct xdpnet_port& p) {
    std::vector<std::string> out;
    if (p.flags & XDPNET_PORT_POLICE_IN)
        out.push_back("police-in");
    if (p.flags & XDPNET_PORT_POLICE_OUT)
        out.push_back("police-out");
    if (p.flags & XDPNET_PORT_DSCP)
        out.push_back("dscp=" + std::to_string(p.dscp));
    if (p.flags & (XDPNET_PORT_SEC_MAC | XDPNET_PORT_SEC_IP | XDPNET_PORT_SEC_GUARD))
        out.push_back("secured");
    return out;
}

std::string vlans_text(const struct xdpnet_port& p, bool skip_pvid) {
    policy::VlanSet vs = policy::vlans_of(p);
    if (skip_pvid)
        vs.reset(p.pvid);
    return vs.any() ? policy::format_vlans(vs) : "";
}

} // namespace

void register_status(CLI::App& app, Context& ctx) {
    auto* status = app.add_subcommand("status", "show the running instance");
    status->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        auto st = inst.state();
        auto cfg = inst.config();
        auto gc = inst.gc();
        auto ports = inst.ports();
        size_t fdb_entries = inst.fdb().size();
        auto gateways = inst.gateways();
        auto gw_addr = [](const struct xdpnet_gateway& g) {
            return policy::format_ipv4(ntohl(g.gw_ip)) + "/" + std::to_string(g.prefix_len);
        };
        if (ctx.json) {
            nlohmann::json j = {
                {"instance", inst.name()},
                {"abi_version", st.abi_version},
                {"active_gen", st.active_gen},
                {"aging_s", cfg.aging_ns / 1e9},
                {"fdb", {{"entries", fdb_entries}, {"capacity", inst.fdb_capacity()}}},
                {"gc", {{"armed", gc.armed != 0}, {"interval_s", gc.interval_ns / 1e9},
                        {"passes", gc.passes}, {"removed", gc.removed}}},
                {"ports", nlohmann::json::array()},
                {"networks", nlohmann::json::array()}};
            for (const auto& [vid, n] : inst.networks()) {
                nlohmann::json nj = {{"vlan", vid}, {"name", n.name}, {"gateway", gw_addr(n.gateway)},
                                     {"router_mac", policy::format_mac(n.gateway.router_mac)}};
                if (n.nat) {
                    struct in_addr a = {n.nat->uplink_ip};
                    nj["uplink"] = {{"ifindex", n.nat->uplink_ifindex}, {"address", inet_ntoa(a)},
                                    {"masquerade", (n.nat->flags & XDPNET_NAT_MASQ) != 0},
                                    {"port_range", std::to_string(n.nat->port_lo) + "-" +
                                                       std::to_string(n.nat->port_hi)}};
                }
                j["networks"].push_back(nj);
            }
            // Counted by the datapath per network: no walk of a table that
            // may hold millions of entries.
            uint64_t conns = 0;
            for (const auto& [vid, n] : inst.networks())
                if (n.nat)
                    conns += inst.ct_count(vid);
            j["connections"] = {{"tracked", conns}, {"capacity_entries", inst.ct_capacity()},
                                {"expired", gc.ct_removed}};
            for (const auto& p : ports)
                j["ports"].push_back(
                    {{"name", port_label(p)}, {"ifindex", p.port.ifindex}, {"slot", p.port.slot},
                     {"mode", mode_name(p.port.mode)},
                     {"vlan", p.port.mode == XDPNET_MODE_ACCESS ? p.port.pvid : 0},
                     {"vlans", vlans_text(p.port, false)},
                     {"native_vlan", p.port.mode == XDPNET_MODE_TRUNK ? p.port.pvid : 0},
                     {"host", (p.port.flags & XDPNET_PORT_HOST) != 0},
                     {"mac_limit", p.port.mac_limit}, {"learned", p.learned},
                     {"mac", policy::format_mac(p.port.mac)},
                     {"xdp", p.xdp_attached ? p.xdp_mode : "detached"}, {"tc", p.tc_linked},
                     {"controls", controls_of(p.port)}, {"present", !p.name.empty()}});
            const auto acl = inst.acl_config();
            j["acl"] = acl.default_action
                           ? nlohmann::json{{"default", acl.default_action == XDPNET_ACL_DENY ? "deny" : "allow"},
                                            {"shapes", acl.shapes}, {"stateful", acl.stateful != 0}}
                           : nlohmann::json();
            print_json(j);
            return;
        }
        std::cout << fmt::format("instance {}  (ABI {}, generation {}, pinned at {})\n",
                                 inst.name(), st.abi_version, st.active_gen,
                                 instance_dir(inst.name()));
        std::cout << fmt::format("fdb      {} / {} entries, aging {}s, aging pass every {}s "
                                 "({} passes, {} removed{})\n",
                                 fdb_entries, inst.fdb_capacity(), cfg.aging_ns / 1000000000ull,
                                 gc.interval_ns / 1000000000ull, gc.passes, gc.removed,
                                 gc.armed ? "" : ", TIMER NOT ARMED");
        for (const auto& [vid, g] : gateways)
            std::cout << fmt::format("gateway  VLAN {}: {} (router MAC {}; answers ARP and ping)\n",
                                     vid, gw_addr(g), policy::format_mac(g.router_mac));
        const auto acl = inst.acl_config();
        if (acl.default_action)
            std::cout << fmt::format("acl      default {}, {} rule shapes{} (xdpnet acl show)\n",
                                     acl.default_action == XDPNET_ACL_DENY ? "deny" : "allow",
                                     acl.shapes, acl.stateful ? ", stateful" : "");
        std::cout << fmt::format("\n{:<15} {:>4} {:<7} {:<16} {:>6} {:>5} {:>9} {:<17} {}\n", "PORT",
                                 "SLOT", "MODE", "VLANS", "NATIVE", "HOST", "MACS", "MAC", "ATTACH");
        for (const auto& p : ports) {
            bool access = p.port.mode == XDPNET_MODE_ACCESS;
            std::string macs = std::to_string(p.learned) + "/" +
                               (p.port.mac_limit ? std::to_string(p.port.mac_limit) : "-");
            std::string attach = p.name.empty()      ? "interface gone"
                                 : p.xdp_attached    ? "xdp " + p.xdp_mode
                                 : p.xdp_linked      ? "xdp link pinned, NOT attached"
                                                     : "NOT attached";
            if (p.tc_linked)
                attach += " + tc";
            for (const auto& c : controls_of(p.port))
                attach += ", " + c;
            std::cout << fmt::format("{:<15} {:>4} {:<7} {:<16} {:>6} {:>5} {:>9} {:<17} {}\n",
                                     port_label(p), p.port.slot, mode_name(p.port.mode),
                                     access ? std::to_string(p.port.pvid) : vlans_text(p.port, true),
                                     access ? "" : (p.port.pvid ? std::to_string(p.port.pvid) : "-"),
                                     (p.port.flags & XDPNET_PORT_HOST) ? "yes" : "no", macs,
                                     policy::format_mac(p.port.mac), attach);
        }
    });
}

} // namespace xdpnet::cli
