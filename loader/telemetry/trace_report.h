// The explanation of `xdpnet trace`: what the datapath did to one frame, from
// what a run of the real program on a private copy of the instance's maps
// left behind (its counters, its output frame, the entries it wrote). Pure:
// the facts are plain data, gathered by datapath/trace.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xdpnet/abi.h"

namespace xdpnet::telemetry {

/// A port of the live policy generation.
struct TracePort {
    std::string name; ///< interface name ("#ifindex" when it is gone)
    struct xdpnet_port port {};
};

/// A network (policy `networks`) of the live generation.
struct TraceNetwork {
    std::string name;
    struct xdpnet_gateway gateway {};
    std::optional<struct xdpnet_nat_config> nat; ///< when it has an uplink
};

/// A table entry the run added (no before), removed (no after) or changed.
template <class K, class V>
struct RowChange {
    K key{};
    std::optional<V> before;
    std::optional<V> after;
};

/// The ACL rule (or default) the frame's search ended on.
struct AclHit {
    uint32_t rule = 0;  ///< index in the policy's rules; XDPNET_ACL_MAX_RULES: the default
    uint8_t action = 0; ///< enum xdpnet_acl_action
    std::string text;   ///< the rule as written ("" when unknown)
};

/// What a trace run established.
struct TraceFacts {
    std::string instance;
    uint16_t in_slot = 0;                             ///< the port the frame arrived on
    std::map<uint16_t, TracePort> ports;              ///< live ports by slot
    std::map<uint16_t, std::vector<uint16_t>> vlans;  ///< VLAN -> member slots
    std::map<uint16_t, TraceNetwork> networks;        ///< VLAN -> network
    std::vector<uint8_t> frame_in;
    std::vector<uint8_t> frame_out;                   ///< without XDP metadata
    std::optional<struct xdpnet_meta> meta;           ///< metadata the program put in front
    uint32_t verdict = 0;                             ///< XDP_ABORTED .. XDP_REDIRECT
    std::map<uint16_t, struct xdpnet_port_stats> stats; ///< slot -> what the run counted
    /// The FDB entries of the frame's source and destination MAC in the
    /// VLAN it was classified into, before the run.
    std::optional<struct xdpnet_fdb_entry> fdb_src, fdb_dst;
    std::vector<RowChange<struct xdpnet_fdb_key, struct xdpnet_fdb_entry>> fdb;
    std::vector<RowChange<struct xdpnet_ct_key, struct xdpnet_ct>> ct;
    std::vector<RowChange<struct xdpnet_neigh_key, struct xdpnet_neigh>> neigh;
    std::vector<RowChange<struct xdpnet_acl_key, struct xdpnet_acl_conn>> acl_conns;
    std::optional<AclHit> acl;
};

/// The explanation: numbered steps in pipeline order, and the JSON object
/// `trace --json` prints (docs/cli.md).
struct TraceReport {
    std::vector<std::string> steps;
    nlohmann::json json;

    /// The human output: header, steps, verdict, rewrites, state changes.
    std::string text() const;
};

/// The VLAN a switch port classifies a frame into (the datapath's stage 2),
/// or nothing when it drops the frame or hands it to the host, or for uplinks.
std::optional<uint16_t> classify_vlan(const struct xdpnet_port& port, std::span<const uint8_t> frame);

/// Builds the explanation of a run.
TraceReport explain(const TraceFacts& facts);

/// "XDP_DROP" etc.
std::string verdict_name(uint32_t verdict);

} // namespace xdpnet::telemetry
