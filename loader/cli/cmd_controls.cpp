// acl show, police show: the per-VM controls of the live policy and what
// they did (rule hits, bucket levels, per-address sources).
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <arpa/inet.h>
#include <fstream>
#include <iostream>

#include "cli/context.h"
#include "datapath/error.h"

namespace xdpnet::cli {

namespace {

const char* action_name(uint8_t a) { return a == XDPNET_ACL_DENY ? "deny" : "allow"; }

/// The rule texts apply recorded; empty when the notes are missing.
std::vector<std::pair<std::string, int>> acl_notes(const Instance& inst) {
    std::vector<std::pair<std::string, int>> out;
    std::ifstream f(inst.acl_notes_path());
    if (!f)
        return out;
    try {
        auto j = nlohmann::json::parse(f);
        for (const auto& r : j.at("rules"))
            out.emplace_back(r.at("text").get<std::string>(), r.at("line").get<int>());
    } catch (const std::exception&) {
        out.clear();
    }
    return out;
}

std::string rate_text(const struct xdpnet_rate& r, bool bits) {
    if (!r.rate)
        return "-";
    const double v = static_cast<double>(r.rate);
    if (!bits)
        return fmt::format("{:.0f}pps", v);
    if (v >= 1e9)
        return fmt::format("{:.3g}gbit", v / 1e9);
    if (v >= 1e6)
        return fmt::format("{:.3g}mbit", v / 1e6);
    if (v >= 1e3)
        return fmt::format("{:.3g}kbit", v / 1e3);
    return fmt::format("{:.0f}bit", v);
}

/// A bucket's fill now in its own units (bytes or packets), as last written
/// (the datapath refills it on the next packet; this does not).
nlohmann::json bucket_json(const struct xdpnet_policer& c, const struct xdpnet_bucket& b) {
    nlohmann::json j = {{"exceed", c.exceed == XDPNET_EXCEED_REMARK ? "remark" : "drop"}};
    if (c.exceed == XDPNET_EXCEED_REMARK)
        j["remark_dscp"] = c.remark_dscp;
    if (c.bits.rate) {
        j["rate_bps"] = c.bits.rate;
        j["burst_bytes"] = c.bits.depth / XDPNET_BIT_COST;
        j["tokens_bytes"] = b.last_ns ? b.bits / XDPNET_BIT_COST : c.bits.depth / XDPNET_BIT_COST;
    }
    if (c.packets.rate) {
        j["pps"] = c.packets.rate;
        j["burst_packets"] = c.packets.depth / XDPNET_TOKEN_SCALE;
        j["tokens_packets"] =
            b.last_ns ? b.packets / XDPNET_TOKEN_SCALE : c.packets.depth / XDPNET_TOKEN_SCALE;
    }
    return j;
}

std::string addr_text(uint8_t family, const uint8_t* addr) {
    char buf[64] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf));
    return buf;
}

} // namespace

void register_controls(CLI::App& app, Context& ctx) {
    auto* acl = app.add_subcommand("acl", "the live ACL: rules, hits, tracked connections");
    acl->require_subcommand(1);
    auto* show = acl->add_subcommand("show", "list the rules in order with their hits");
    show->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        const auto cfg = inst.acl_config();
        if (!cfg.default_action) {
            if (ctx.json)
                print_json({{"acl", nullptr}});
            else
                std::cout << "no ACL in the live policy (everything is allowed)" << std::endl;
            return;
        }
        const auto notes = acl_notes(inst);
        const size_t n = notes.size();
        const auto hits = inst.acl_hits(n);
        const size_t conns = cfg.stateful ? inst.acl_connections() : 0;
        if (ctx.json) {
            nlohmann::json rules = nlohmann::json::array();
            for (size_t i = 0; i < n; i++)
                rules.push_back({{"rule", i + 1}, {"line", notes[i].second}, {"text", notes[i].first},
                                 {"packets", hits[i].packets}, {"bytes", hits[i].bytes}});
            print_json({{"default", action_name(cfg.default_action)},
                        {"default_packets", hits.back().packets},
                        {"default_bytes", hits.back().bytes},
                        {"shapes", cfg.shapes},
                        {"rules", rules},
                        {"stateful", cfg.stateful != 0},
                        {"connections", conns},
                        {"connections_capacity", inst.acl_conn_capacity()}});
            return;
        }
        std::cout << fmt::format("{:>5} {:>5} {:>12} {:>14}  {}\n", "RULE", "LINE", "PACKETS", "BYTES",
                                 "MATCH");
        for (size_t i = 0; i < n; i++)
            std::cout << fmt::format("{:>5} {:>5} {:>12} {:>14}  {}\n", i + 1, notes[i].second,
                                     hits[i].packets, hits[i].bytes, notes[i].first);
        std::cout << fmt::format("{:>5} {:>5} {:>12} {:>14}  {} (default)\n", "-", "-",
                                 hits.back().packets, hits.back().bytes,
                                 action_name(cfg.default_action));
        if (n == 0)
            std::cout << "(rule texts unavailable: " << inst.acl_notes_path()
                      << " is missing; apply the policy again)" << std::endl;
        std::cout << cfg.shapes << " rule shapes searched per packet";
        if (cfg.stateful)
            std::cout << "; " << conns << " tracked connections (capacity "
                      << inst.acl_conn_capacity() << ")";
        std::cout << std::endl;
    });

    auto* police = app.add_subcommand("police", "policers and per-address limits of the live policy");
    police->require_subcommand(1);
    auto* pshow = police->add_subcommand("show", "each policer's rate, burst and current tokens");
    pshow->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        const auto rows = inst.policers();
        const auto limits = inst.limits();
        const auto sources = inst.limit_sources();
        nlohmann::json jp = nlohmann::json::array(), jl = nlohmann::json::array();
        for (const auto& r : rows) {
            auto j = bucket_json(r.config, r.bucket);
            j["port"] = port_label(r.port);
            j["direction"] = r.dir == XDPNET_DIR_IN ? "ingress" : "egress";
            jp.push_back(j);
        }
        for (const auto& l : limits) {
            nlohmann::json srcs = nlohmann::json::array();
            for (const auto& s : sources) {
                if (s.key.id != l.limit.id || !s.key.family)
                    continue;
                auto j = bucket_json(l.limit.pol, s.bucket);
                j["source"] = addr_text(s.key.family, s.key.addr);
                srcs.push_back(j);
            }
            auto j = bucket_json(l.limit.pol, xdpnet_bucket{});
            j.erase("tokens_bytes");
            j.erase("tokens_packets");
            j["match_src"] = addr_text(l.key.family, l.key.addr) + "/" +
                             std::to_string(l.key.prefixlen - 32);
            j["sources"] = srcs;
            jl.push_back(j);
        }
        if (ctx.json) {
            print_json({{"policers", jp}, {"limits", jl}});
            return;
        }
        if (rows.empty() && limits.empty()) {
            std::cout << "no policers or limits in the live policy" << std::endl;
            return;
        }
        if (!rows.empty())
            std::cout << fmt::format("{:<15} {:<8} {:>10} {:>10} {:>12} {:>10} {:<6}\n", "PORT", "DIR",
                                     "RATE", "PPS", "BURST(B)", "TOKENS(B)", "EXCEED");
        for (size_t i = 0; i < rows.size(); i++) {
            const auto& r = rows[i];
            const auto& j = jp[i];
            std::cout << fmt::format("{:<15} {:<8} {:>10} {:>10} {:>12} {:>10} {:<6}\n",
                                     port_label(r.port), j["direction"].get<std::string>(),
                                     rate_text(r.config.bits, true),
                                     rate_text(r.config.packets, false),
                                     j.value("burst_bytes", uint64_t{0}),
                                     j.value("tokens_bytes", uint64_t{0}),
                                     j["exceed"].get<std::string>());
        }
        for (size_t i = 0; i < limits.size(); i++) {
            const auto& l = limits[i];
            std::cout << "limit " << jl[i]["match_src"].get<std::string>() << " per source: "
                      << rate_text(l.limit.pol.bits, true) << " "
                      << (l.limit.pol.packets.rate ? rate_text(l.limit.pol.packets, false) : "")
                      << ", " << jl[i]["sources"].size() << " sources tracked" << std::endl;
        }
    });
}

} // namespace xdpnet::cli
