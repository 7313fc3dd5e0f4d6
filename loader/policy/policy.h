// The policy layer: YAML text -> validated Policy -> compiled MapImage.
// Pure C++: no root, no kernel, unit-tested in tests/unit.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "xdpnet/abi.h"

namespace xdpnet::policy {

/// Where a policy value came from, for file:line:column messages.
struct SourceLoc {
    std::string file;
    int line = 0;   // 1-based; 0 = unknown
    int column = 0; // 1-based; 0 = unknown
};

/// One problem found in a policy: "file:line:col: reason".
struct Diagnostic {
    SourceLoc loc;
    std::string reason;
    std::string str() const;
};

/// Thrown when a policy is rejected. Carries every problem found, so the user
/// fixes them in one go; what() is all of them, one per line.
class PolicyError : public std::runtime_error {
  public:
    explicit PolicyError(std::vector<Diagnostic> diags);
    const std::vector<Diagnostic>& diagnostics() const { return diags_; }

  private:
    std::vector<Diagnostic> diags_;
};

using MacAddr = std::array<uint8_t, 6>;

/// Parses "52:54:00:00:00:99" (or '-' separated). nullopt when malformed.
std::optional<MacAddr> parse_mac(const std::string& text);
/// The value of a hex digit (either case), -1 for anything else.
int hex_digit(char c);
std::string format_mac(const MacAddr& mac);
std::string format_mac(const uint8_t* mac);

/// A set of VLAN IDs 1..4094.
using VlanSet = std::bitset<XDPNET_VLAN_COUNT>;

/// Parses one VLAN list item: "10", "100-199". Throws std::invalid_argument
/// with a human reason ("VLAN 4095 is reserved", "range 20-10 is reversed").
VlanSet parse_vlan_item(const std::string& item);
/// Renders a set compactly: "10,20,100-199".
std::string format_vlans(const VlanSet& set);

/// Parses "300s", "5m", "2h", "1d", "250ms" or a bare number of seconds.
/// Throws std::invalid_argument with a reason.
uint64_t parse_duration_ns(const std::string& text);

enum class PortMode { Access, Trunk };

/// Idle timeouts of NAT/connection-tracking entries, each 1s..7d.
struct NatTimeouts {
    uint64_t tcp_syn_ns = 60ull * 1000000000ull;             // 60s
    uint64_t tcp_established_ns = 7200ull * 1000000000ull;   // 2h
    uint64_t tcp_closing_ns = 10ull * 1000000000ull;         // 10s
    uint64_t udp_ns = 300ull * 1000000000ull;                // 5m
    uint64_t icmp_ns = 60ull * 1000000000ull;                // 60s
};

/// Rates and sizes, as tc writes them. Rates are decimal bits per second:
/// "500bit", "64kbit", "100mbit", "1gbit", "10gbit" (a bare number is bits/s;
/// fractions such as "1.5mbit" are allowed). Sizes are binary bytes: "1500",
/// "1500b", "64kb", "1mb", "1gb" (kb = 1024). Packet rates: "200000",
/// "200kpps", "1mpps", "500pps". Each throws std::invalid_argument with a reason.
uint64_t parse_rate_bps(const std::string& text);
uint64_t parse_size_bytes(const std::string& text);
uint64_t parse_pps(const std::string& text);
/// A DSCP code point: 0..63, or a name: be/default, ef, cs0..cs7, af11..af43, le.
uint8_t parse_dscp(const std::string& text);

/// An IPv4 or IPv6 prefix ("10.0.10.0/24", "fd00::/64"; a bare address is a
/// host prefix). addr holds the network-order bytes (IPv4: the first 4) with
/// the host bits cleared.
struct IpPrefix {
    uint8_t family = 0; // 4 or 6
    std::array<uint8_t, 16> addr{};
    uint8_t len = 0;    // 0..32 or 0..128
    bool contains(const IpPrefix& other) const; // other is inside this (same family)
    std::string str() const;
};
/// Throws std::invalid_argument with a reason; host bits set ("10.0.0.1/24")
/// are rejected, so typos show.
IpPrefix parse_ip_prefix(const std::string& text);

/// One token-bucket policer: a bits bucket, a packets bucket, or both (both
/// must admit). Burst defaults: bytes = max(rate x 10 ms, 2 x 1518);
/// packets = max(pps / 100, 2).
struct PolicerSpec {
    uint64_t rate_bps = 0;      // 0 = no byte limit
    uint64_t burst_bytes = 0;
    uint64_t pps = 0;           // 0 = no packet limit
    uint64_t burst_packets = 0;
    bool remark = false;        // exceed: remark instead of drop
    uint8_t remark_dscp = 0;
    SourceLoc loc;
};

/// Port security: what a VM may claim. An empty list does not restrict.
struct PortSecuritySpec {
    std::vector<MacAddr> macs;
    std::vector<IpPrefix> ips;  // addresses or prefixes, IPv4 and IPv6
    SourceLoc loc;
};

struct PortSpec {
    std::string name;            // interface name
    PortMode mode = PortMode::Access;
    uint16_t vlan = 0;           // access: its VLAN
    VlanSet vlans;               // trunk: allowed tagged VLANs
    uint16_t native_vlan = 0;    // trunk: untagged frames join it; 0 = none
    uint32_t mac_limit = 0;      // 0 = unlimited
    bool host = false;           // the host stack lives on it (default: trunk)
    std::optional<PolicerSpec> police_ingress; // from the VM
    std::optional<PolicerSpec> police_egress;  // to the VM
    std::optional<uint8_t> dscp;               // mark the VM's IPv4/IPv6 traffic
    std::optional<PortSecuritySpec> security;
    SourceLoc loc;
};

/// One `limits` entry: each source address inside `src` gets its own bucket.
struct LimitSpec {
    IpPrefix src;
    PolicerSpec rate;
    SourceLoc loc;
};

/// One ACL rule. Unset fields match anything.
struct AclRuleSpec {
    bool allow = false;
    std::optional<uint8_t> proto;    // 6 tcp, 17 udp, 1 icmp, 58 icmpv6, or a number
    uint8_t family = 0;              // 0 both, 4 or 6 (from prefixes or icmp/icmpv6)
    std::string in_port;             // ingress port name; empty = any
    uint16_t from_vlan = 0;          // 0 = any
    uint16_t to_vlan = 0;            // 0 = any
    std::optional<IpPrefix> from, to; // source / destination prefix
    uint16_t sport_lo = 0, sport_hi = 65535;
    uint16_t dport_lo = 0, dport_hi = 65535;
    bool stateful = false;           // allow only: replies come back in
    SourceLoc loc;
};

struct AclSpec {
    bool present = false;
    bool default_allow = true;
    std::vector<AclRuleSpec> rules;
    NatTimeouts timeouts;            // stateful connections
    uint32_t max_connections = 65536; // stateful connections tracked
    SourceLoc loc;
};

// ---- Policy-layer helpers for policing / ACL (loader/policy/acl.cpp) ----
/// Splits a port range lo..hi into the fewest aligned (value, mask) prefixes,
/// ascending, host byte order; 0-65535 is {(0, 0)}, 1024-65535 six prefixes.
std::vector<std::pair<uint16_t, uint16_t>> port_range_prefixes(uint16_t lo, uint16_t hi);
/// Warnings for rules no packet reaches because one earlier rule matches
/// everything they match ("rule 3 (line 40) is never reached: ...").
std::vector<Diagnostic> acl_shadow_warnings(const AclSpec& acl);
// ---- end of policing / ACL helpers ----

struct StaticFdbSpec {
    MacAddr mac{};
    uint16_t vlan = 0;
    std::string port;
    SourceLoc loc;
};

/// One `port_forwards` entry: traffic to (uplink address, proto, port) goes
/// to (to_addr, to_port) inside the network.
struct PortForwardSpec {
    uint8_t proto = 0;      // IPPROTO_TCP (6) or IPPROTO_UDP (17)
    uint16_t port = 0;      // on the uplink, 1..65535
    uint32_t to_addr = 0;   // host byte order, a host of the network's subnet
    uint16_t to_port = 0;   // 1..65535 (the same as `port` when not written)
    SourceLoc loc;          // the entry
};

/// A routed network: the gateway address xdpnet serves on a VLAN, routing
/// between networks, and optionally an uplink with masquerade and port
/// forwards. The parser has checked every field and the cross-field rules.
struct NetworkSpec {
    std::string name;
    uint16_t vlan = 0;
    uint32_t gateway = 0;   // host byte order
    uint8_t prefix_len = 0;
    SourceLoc loc;

    std::string uplink;     // host interface; empty = no uplink (routes only between networks)
    SourceLoc uplink_loc;
    bool masquerade = false; // default: true when uplink is set, false otherwise
    // Source ports SNAT hands out on the uplink address. The default stays
    // below Linux's default ephemeral range (32768-60999) because NAT ports
    // share the uplink address with the host's own sockets.
    uint16_t port_lo = 20000, port_hi = 32767;
    std::vector<PortForwardSpec> port_forwards;
    NatTimeouts timeouts;
    uint32_t max_connections = 65536;
};

/// Parses a NAT source port range "20000-59999" (1024 <= lo <= hi <= 65535).
/// Throws std::invalid_argument with a reason.
std::pair<uint16_t, uint16_t> parse_port_range(const std::string& text);

/// Parses a port forward target "10.0.30.11:80" or "10.0.30.11" (address in
/// host byte order; no port = nullopt, the forwarded port itself). Throws
/// std::invalid_argument with a reason.
std::pair<uint32_t, std::optional<uint16_t>> parse_forward_target(const std::string& text);

/// Parses "10.0.30.1/24" into (address in host byte order, prefix length).
/// Throws std::invalid_argument with a reason.
std::pair<uint32_t, uint8_t> parse_ipv4_cidr(const std::string& text);
std::string format_ipv4(uint32_t host_order);

/// A numeric socket address: "a.b.c.d:port" or "[v6]:port". Host names are
/// not accepted (nothing is resolved).
struct SocketAddress {
    uint8_t family = 0;             // 4 or 6
    std::array<uint8_t, 16> addr{}; // network-order bytes (IPv4: the first 4)
    uint16_t port = 0;              // host byte order
};

/// Parses "127.0.0.1:9477" or "[::1]:9477" (an IPv6 address needs the
/// brackets). Port 0 is accepted only when allow_port_zero (a listen address:
/// the kernel picks a port). Throws std::invalid_argument with a reason. The
/// daemon's listen addresses and the policy's telemetry addresses both go
/// through it, so they accept the same syntax.
SocketAddress parse_socket_address(const std::string& text, bool allow_port_zero);

/// telemetry.ipfix: where flow records are exported, as IPFIX (RFC 7011).
struct IpfixSpec {
    std::string collector; // "host:port" as written (IPv4 literal:port or [IPv6]:port)
    enum class Transport { Udp, Tcp } transport = Transport::Udp;
    uint64_t template_refresh_ns = 60ull * 1000000000ull; // 60s
    uint32_t observation_domain = 1;
    SourceLoc loc;         // the `ipfix` key
};

/// The `telemetry` section: flow accounting and the exporters. Absent: these
/// defaults (flows on, Prometheus on 127.0.0.1:9477, no IPFIX, no JSON lines).
struct TelemetrySpec {
    bool flows = true;                                  // per-flow accounting in the datapath
    uint32_t flow_size = 65536;                         // flow table slots in total (all CPUs)
    uint64_t idle_timeout_ns = 30ull * 1000000000ull;   // 30s
    uint64_t active_timeout_ns = 60ull * 1000000000ull; // 60s
    std::optional<std::string> prometheus_listen = "127.0.0.1:9477"; // nullopt: no endpoint
    std::optional<IpfixSpec> ipfix;   // nullopt: no IPFIX export
    std::optional<std::string> jsonl; // absolute path, or "-" for stdout; nullopt: none
    SourceLoc loc;                    // the `telemetry` key (when present)
};

enum class XdpMode { Native, Generic };

struct Policy {
    std::string file;                  // where it was read from
    std::string instance = "default";  // pin root /sys/fs/bpf/xdpnet/<instance>
    uint64_t mac_aging_ns = 300ull * 1000000000ull;
    uint32_t fdb_size = 65536;
    XdpMode xdp_mode = XdpMode::Native;
    std::vector<PortSpec> ports;
    std::vector<StaticFdbSpec> static_fdb;
    std::vector<NetworkSpec> networks;
    std::vector<LimitSpec> limits;
    AclSpec acl;
    TelemetrySpec telemetry;
    /// Not errors, but worth saying (a rule no packet can reach, ...).
    std::vector<Diagnostic> warnings;
};

/// Parses and validates a policy. Throws PolicyError listing every problem.
Policy parse_policy(const std::string& text, const std::string& filename);
Policy load_policy_file(const std::string& path);

/// What the compiler needs to know about a host interface.
struct InterfaceInfo {
    uint32_t ifindex = 0;
    MacAddr mac{};
    uint32_t ipv4 = 0; // its first IPv4 address, host byte order; 0 = none
};
/// name -> info, or nullopt when the interface does not exist.
using InterfaceResolver = std::function<std::optional<InterfaceInfo>(const std::string&)>;

/// A compiled port: the map value plus the name it came from.
struct PortImage {
    std::string name;
    struct xdpnet_port port; // slot, ifindex, pvid, mode, flags, mac, limit, vlans
    struct xdpnet_policer police[2]{}; // [XDPNET_DIR_IN/OUT], when port.flags say so
};

/// The compiled ACL (gen 0 in every key's shape id: the loader adds its
/// generation). Empty when the policy has no acl.
struct AclImage {
    struct xdpnet_acl_config config{};
    std::vector<struct xdpnet_acl_shape> shapes; // search order
    std::vector<std::pair<struct xdpnet_acl_key, struct xdpnet_acl_verdict>> entries;
};

/// Compiles a policy's rate into a policer (units scaled as abi.h says).
struct xdpnet_policer compile_policer(const PolicerSpec& spec);

/// Compiles the ACL: rules -> shapes and entries. Throws PolicyError (at the
/// acl's or the rule's line) when the rules need more than
/// XDPNET_ACL_MAX_SHAPES shapes or XDPNET_ACL_MAX_RULES rules. `slot_of`
/// names the slot of each port (in_port).
AclImage compile_acl(const AclSpec& acl, const std::map<std::string, uint16_t>& slot_of);

struct StaticFdbImage {
    struct xdpnet_fdb_key key;
    struct xdpnet_fdb_entry entry; // flags = XDPNET_FDB_STATIC
};

/// Everything the datapath needs for one policy generation, in map form.
struct MapImage {
    std::string instance;
    uint32_t fdb_size = 0;
    XdpMode xdp_mode = XdpMode::Native;
    uint64_t gc_interval_ns = 0;       // how often the aging pass runs
    struct xdpnet_config config{};
    std::vector<PortImage> ports;      // ordered by slot
    std::map<uint16_t, std::vector<uint16_t>> vlans; // vid -> member slots, ascending
    std::vector<StaticFdbImage> static_fdb;
    std::map<uint16_t, struct xdpnet_gateway> gateways; // vid -> gateway
    std::map<uint16_t, std::string> network_names;      // vid -> network name
    std::map<uint16_t, struct xdpnet_nat_config> nat;  // vid -> uplink/NAT settings
    std::vector<std::pair<struct xdpnet_fwd_key, struct xdpnet_fwd>> forwards; // key.gen = 0
    uint32_t ct_size = 0; // connection-table entries (two per connection); 0: no NAT
    // Port security (gen 0 in the keys).
    std::vector<struct xdpnet_psec_mac_key> psec_macs;
    std::vector<struct xdpnet_psec_ip_key> psec_ips;
    // Per-address limits (gen 0 in the keys), and the state table's size.
    std::vector<std::pair<struct xdpnet_limit_key, struct xdpnet_limit>> limits;
    uint32_t limit_sources = 0;
    AclImage acl;
    uint32_t acl_conn_size = 0; // stateful ACL connections; 0: none
    uint32_t flow_size = 65536; // flow table slots asked for (telemetry.flows.size)
    bool flows = true;          // per-flow accounting on (config.flow_bits set by the loader)
    struct AclRuleNote {
        std::string text; // "deny icmp from_vlan 20 to 10.0.10.0/24"
        int line = 0;
    };
    std::vector<AclRuleNote> acl_rules; // for `acl show`, in rule order
};

/// A rule as one line of the policy's own words ("allow tcp from_vlan 100
/// dst_port 443 stateful").
std::string format_acl_rule(const AclRuleSpec& rule);

/// The router MAC xdpnet answers for on a VLAN: locally administered,
/// 02:78:64:<instance hash>:<vid>, stable across restarts.
MacAddr router_mac(const std::string& instance, uint16_t vid);

/// The VLANs a compiled port carries (its bitmap, pvid included).
VlanSet vlans_of(const struct xdpnet_port& port);

/// Compiles a validated policy. `previous_slots` (port name -> slot) keeps the
/// slots of ports that stay, so their counters and FDB entries stay valid
/// across `apply`; new ports take the lowest free slots. Throws PolicyError
/// (with the port's file:line) when an interface does not exist.
MapImage compile(const Policy& policy, const InterfaceResolver& resolve,
                 const std::map<std::string, uint16_t>& previous_slots = {});

} // namespace xdpnet::policy
