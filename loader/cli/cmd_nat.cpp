// nat show|flush|ports: the connection table of the NAT networks.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <iostream>
#include <map>
#include <set>

#include "cli/context.h"
#include "datapath/error.h"

namespace xdpnet::cli {
namespace {

struct NatOpts {
    int vlan = 0;
    std::string proto; // tcp, udp, icmp or empty
};

const char* proto_name(uint8_t p) {
    switch (p) {
    case IPPROTO_TCP:
        return "tcp";
    case IPPROTO_UDP:
        return "udp";
    case IPPROTO_ICMP:
        return "icmp";
    default:
        return "?";
    }
}

const char* state_name(uint8_t s) {
    switch (s) {
    case XDPNET_CT_TCP_SYN_SENT:
        return "syn_sent";
    case XDPNET_CT_TCP_SYN_RECV:
        return "syn_recv";
    case XDPNET_CT_TCP_ESTABLISHED:
        return "established";
    case XDPNET_CT_TCP_CLOSING:
        return "closing";
    case XDPNET_CT_UDP:
        return "udp";
    case XDPNET_CT_ICMP:
        return "icmp";
    default:
        return "?";
    }
}

const char* kind_of(uint8_t flags) {
    if ((flags & XDPNET_CT_SNAT) && (flags & XDPNET_CT_DNAT))
        return "hairpin";
    return (flags & XDPNET_CT_DNAT) ? "dnat" : "snat";
}

std::string ip(__be32 a) { return policy::format_ipv4(ntohl(a)); }

nlohmann::json tuple_json(const struct xdpnet_ct_key& k) {
    return {{"src", ip(k.saddr)}, {"sport", ntohs(k.sport)}, {"dst", ip(k.daddr)},
            {"dport", ntohs(k.dport)}};
}

std::string tuple_text(const struct xdpnet_ct_key& k) {
    return fmt::format("{}:{} -> {}:{}", ip(k.saddr), ntohs(k.sport), ip(k.daddr), ntohs(k.dport));
}

/// One connection: its original half, its reply half's key and, when
/// present, that half.
struct Conn {
    CtRow orig;
    struct xdpnet_ct_key reply_key;
    std::optional<CtRow> reply;
};

std::vector<Conn> connections_of(const Instance& inst, const NatOpts& o) {
    auto rows = inst.connections();
    std::map<std::string, const CtRow*> by_key;
    auto key_str = [](const struct xdpnet_ct_key& k) {
        return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
    };
    for (const auto& r : rows)
        by_key[key_str(r.key)] = &r;
    std::vector<Conn> out;
    for (const auto& r : rows) {
        if (!(r.entry.flags & XDPNET_CT_ORIGINAL))
            continue;
        if (o.vlan && r.entry.vid != o.vlan)
            continue;
        if (!o.proto.empty() && o.proto != proto_name(r.key.proto))
            continue;
        Conn c{r, xdpnet_ct_peer_of(r.key, r.entry), std::nullopt};
        if (auto it = by_key.find(key_str(c.reply_key)); it != by_key.end())
            c.reply = *it->second;
        out.push_back(c);
    }
    // Oldest first; within a second (created_s), by key, so the order is the same every time.
    std::sort(out.begin(), out.end(), [](const Conn& a, const Conn& b) {
        if (a.orig.entry.created_s != b.orig.entry.created_s)
            return a.orig.entry.created_s < b.orig.entry.created_s;
        return std::memcmp(&a.orig.key, &b.orig.key, sizeof(a.orig.key)) < 0;
    });
    return out;
}

void check_proto(const NatOpts& o) {
    if (!o.proto.empty() && o.proto != "tcp" && o.proto != "udp" && o.proto != "icmp")
        throw Error(ExitCode::Usage, "--proto must be tcp, udp or icmp");
}

} // namespace

void register_nat(CLI::App& app, Context& ctx) {
    static NatOpts o;
    auto* nat = app.add_subcommand("nat", "NAT connections (networks with an uplink)");
    nat->require_subcommand(1);

    auto* show = nat->add_subcommand("show", "list tracked connections and their translations");
    show->add_option("--vlan", o.vlan, "only this network's VLAN")->check(CLI::Range(1, 4094));
    show->add_option("--proto", o.proto, "only tcp, udp or icmp");
    show->callback([&ctx] {
        require_privileges();
        check_proto(o);
        auto inst = Instance::adopt(pick_instance(ctx));
        auto nets = inst.networks();
        const uint64_t now = inst.clock_ns();
        nlohmann::json j = nlohmann::json::array();
        auto conns = connections_of(inst, o);
        if (!ctx.json)
            std::cout << fmt::format("{:<10} {:<5} {:<7} {:<44} {:<44} {:<11} {:>7} {:>8} {:>9}\n",
                                     "NETWORK", "PROTO", "KIND", "ORIGINAL", "REPLY", "STATE",
                                     "AGE(s)", "EXPIRES", "PACKETS");
        for (const auto& c : conns) {
            const auto& e = c.orig.entry;
            uint64_t last = e.last_seen_ns;
            uint64_t packets = e.packets, bytes = e.bytes;
            if (c.reply) {
                last = std::max<uint64_t>(last, c.reply->entry.last_seen_ns);
                packets += c.reply->entry.packets;
                bytes += c.reply->entry.bytes;
            }
            const double age = now / 1e9 > e.created_s ? now / 1e9 - e.created_s : 0.0;
            const double idle = now > last ? (now - last) / 1e9 : 0.0;
            const double expires = std::max(0.0, e.timeout_s - idle);
            auto nit = nets.find(e.vid);
            const std::string net = nit != nets.end() ? nit->second.name : "";
            if (ctx.json) {
                j.push_back({{"network", net}, {"vlan", e.vid}, {"proto", proto_name(c.orig.key.proto)},
                             {"kind", kind_of(e.flags)}, {"original", tuple_json(c.orig.key)},
                             {"reply", tuple_json(c.reply_key)}, {"state", state_name(e.state)},
                             {"age_s", age}, {"expires_in_s", expires}, {"packets", packets},
                             {"bytes", bytes}, {"original_packets", e.packets},
                             {"reply_packets", c.reply ? c.reply->entry.packets : 0}});
                continue;
            }
            std::cout << fmt::format("{:<10} {:<5} {:<7} {:<44} {:<44} {:<11} {:>7.1f} {:>8.1f} {:>9}\n",
                                     net, proto_name(c.orig.key.proto), kind_of(e.flags),
                                     tuple_text(c.orig.key), tuple_text(c.reply_key), state_name(e.state),
                                     age, expires, packets);
        }
        if (ctx.json)
            std::cout << j.dump(2) << std::endl;
        else
            std::cout << fmt::format("{} connection{} ({} table entries of {})\n", conns.size(),
                                     conns.size() == 1 ? "" : "s", inst.connections().size(),
                                     inst.ct_capacity());
    });

    auto* flush = nat->add_subcommand("flush", "remove tracked connections (both halves)");
    flush->add_option("--vlan", o.vlan, "only this network's VLAN")->check(CLI::Range(1, 4094));
    flush->add_option("--proto", o.proto, "only tcp, udp or icmp");
    flush->callback([&ctx] {
        require_privileges();
        check_proto(o);
        auto inst = Instance::adopt(pick_instance(ctx));
        const size_t n = inst.nat_flush([](const CtRow& r) {
            return (!o.vlan || r.entry.vid == o.vlan) &&
                   (o.proto.empty() || o.proto == proto_name(r.key.proto));
        });
        if (ctx.json)
            std::cout << nlohmann::json{{"removed", n}}.dump() << std::endl;
        else
            std::cout << "removed " << n << " connection" << (n == 1 ? "" : "s") << std::endl;
    });

    auto* ports = nat->add_subcommand("ports", "source-port usage of each masquerading network");
    ports->add_option("--vlan", o.vlan, "only this network's VLAN")->check(CLI::Range(1, 4094));
    ports->callback([&ctx] {
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        auto conns = connections_of(inst, NatOpts{o.vlan, ""});
        nlohmann::json j = nlohmann::json::array();
        for (const auto& [vid, n] : inst.networks()) {
            if (!n.nat || !(n.nat->flags & XDPNET_NAT_MASQ) || (o.vlan && vid != o.vlan))
                continue;
            const uint32_t size = uint32_t(n.nat->port_hi) - n.nat->port_lo + 1;
            std::map<std::pair<std::string, uint16_t>, std::vector<const Conn*>> held; // (proto, port)
            for (const auto& c : conns)
                if (c.orig.entry.vid == vid && (c.orig.entry.flags & XDPNET_CT_SNAT))
                    held[{proto_name(c.orig.key.proto), ntohs(c.orig.entry.to_sport)}].push_back(&c);
            std::set<uint16_t> used;
            for (const auto& [pp, v] : held)
                used.insert(pp.second);
            if (ctx.json) {
                nlohmann::json holders = nlohmann::json::array();
                for (const auto& [pp, v] : held)
                    for (const Conn* c : v)
                        holders.push_back({{"proto", pp.first}, {"port", pp.second},
                                           {"original", tuple_json(c->orig.key)}});
                j.push_back({{"network", n.name}, {"vlan", vid}, {"address", ip(n.nat->uplink_ip)},
                             {"range", fmt::format("{}-{}", n.nat->port_lo, n.nat->port_hi)},
                             {"size", size}, {"used", used.size()}, {"free", size - used.size()},
                             {"connections", inst.ct_count(vid)},
                             {"max_connections", n.nat->max_conns}, {"holders", holders}});
                continue;
            }
            std::cout << fmt::format("{} (VLAN {}) masquerades as {}, ports {}-{}: {} used, {} free; "
                                     "{} of {} connections\n",
                                     n.name, vid, ip(n.nat->uplink_ip), n.nat->port_lo,
                                     n.nat->port_hi, used.size(), size - used.size(),
                                     inst.ct_count(vid), n.nat->max_conns);
            for (const auto& [pp, v] : held)
                for (const Conn* c : v)
                    std::cout << fmt::format("  {:>5}/{:<4} held by {}\n", pp.second, pp.first,
                                             tuple_text(c->orig.key));
        }
        if (ctx.json)
            std::cout << j.dump(2) << std::endl;
    });
}

} // namespace xdpnet::cli
