// YAML text -> validated Policy. Every problem becomes a Diagnostic with the
// file:line:column of the offending node; all of them are collected (in file
// order) before PolicyError is thrown, so the user fixes them in one pass.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <tuple>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

constexpr uint64_t kSecondNs = 1000000000ull;
constexpr uint64_t kAgingMinNs = 1 * kSecondNs;
constexpr uint64_t kAgingMaxNs = 86400 * kSecondNs;
constexpr uint64_t kFdbSizeMin = 16;
constexpr uint64_t kFdbSizeMax = 16777216;
constexpr uint64_t kMacLimitMax = 1000000;
constexpr size_t kIfNameMax = 15; // IFNAMSIZ - 1
constexpr size_t kInstanceMax = 32;
constexpr uint64_t kPortMax = 65535;
constexpr uint64_t kNatTimeoutMinNs = 1 * kSecondNs;
constexpr uint64_t kNatTimeoutMaxNs = 7 * 86400 * kSecondNs;
constexpr uint64_t kMaxConnectionsMax = 16777216;
constexpr uint8_t kProtoTcp = 6;  // IPPROTO_TCP
constexpr uint8_t kProtoUdp = 17; // IPPROTO_UDP

const std::vector<std::string_view> kTopKeys = {"instance", "bridge", "ports", "static_fdb",
                                                "networks", "limits", "acl",   "telemetry"};
const std::vector<std::string_view> kNetworkKeys = {
    "name",       "vlan",          "gateway",  "uplink",         "masquerade",
    "port_range", "port_forwards", "timeouts", "max_connections"};
const std::vector<std::string_view> kPortForwardKeys = {"proto", "port", "to"};
const std::vector<std::string_view> kTimeoutKeys = {"tcp_syn", "tcp_established", "tcp_closing",
                                                    "udp", "icmp"};
const std::vector<std::string_view> kBridgeKeys = {"mac_aging", "fdb_size", "xdp_mode"};
const std::vector<std::string_view> kPortKeys = {"name",      "mode", "vlan",   "vlans", "native_vlan",
                                                 "mac_limit", "host", "police", "dscp",  "security"};
const std::vector<std::string_view> kStaticFdbKeys = {"mac", "vlan", "port"};
const std::vector<std::string_view> kPoliceKeys = {"ingress", "egress"};
const std::vector<std::string_view> kPolicerKeys = {"rate", "burst", "pps", "pps_burst", "exceed",
                                                    "remark_dscp"};
const std::vector<std::string_view> kSecurityKeys = {"macs", "ips"};
const std::vector<std::string_view> kLimitKeys = {"match", "per",       "rate",   "burst",
                                                  "pps",   "pps_burst", "exceed", "remark_dscp"};
const std::vector<std::string_view> kLimitMatchKeys = {"src"};
const std::vector<std::string_view> kAclKeys = {"default", "rules", "timeouts", "max_connections"};
const std::vector<std::string_view> kAclRuleKeys = {"action",  "proto", "in_port", "from_vlan",
                                                    "to_vlan", "from",  "to",      "src_port",
                                                    "dst_port", "stateful"};

// Policers (ports[].police, limits[]).
constexpr uint64_t kRateMax = 400ull * 1000000000ull;  // 400gbit
constexpr uint64_t kBurstMin = 64;                     // bytes
constexpr uint64_t kBurstMax = 1ull << 30;             // 1gb
constexpr uint64_t kPpsMax = 1000000000ull;
constexpr uint64_t kBurstDefaultMin = 2 * 1518;        // two full-size frames
// The datapath clock advances in jiffies: 4 ms at HZ 250. A bucket refills
// once per tick, so it must hold at least one tick's worth of tokens.
constexpr uint64_t kTicksPerSecond = 250;
constexpr size_t kLimitsMax = 4096;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;

// Telemetry.
const std::vector<std::string_view> kTelemetryKeys = {"flows", "prometheus", "ipfix", "jsonl"};
const std::vector<std::string_view> kFlowsKeys = {"size", "idle_timeout", "active_timeout"};
const std::vector<std::string_view> kPrometheusKeys = {"listen"};
const std::vector<std::string_view> kIpfixKeys = {"collector", "transport", "template_refresh",
                                                  "observation_domain"};
constexpr uint64_t kFlowSizeMin = 1024;
constexpr uint64_t kFlowSizeMax = 16777216;
constexpr uint64_t kIdleTimeoutMaxNs = 3600 * kSecondNs;
constexpr uint64_t kActiveTimeoutMaxNs = 86400 * kSecondNs;
constexpr uint64_t kTemplateRefreshMaxNs = 3600 * kSecondNs;
constexpr uint64_t kObservationDomainMax = 4294967295ull;

/// "a list", "a mapping", ... for "expected X, got Y" messages.
std::string kind(const YAML::Node& n) {
    switch (n.Type()) {
    case YAML::NodeType::Null:
        return "nothing";
    case YAML::NodeType::Scalar:
        return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Map:
        return "a mapping";
    default:
        return "an undefined node";
    }
}

/// True for scalars the author marked as strings: quoted, or tagged !!str.
bool is_string_typed(const YAML::Node& n) {
    return n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str";
}

/// A switch written without quotes: true/on or false/off (in the cases YAML
/// writes them: on, On, ON). nullopt for anything else.
std::optional<bool> switch_of(const YAML::Node& n) {
    if (!n.IsScalar())
        return std::nullopt;
    const std::string& s = n.Scalar();
    for (const char* word : {"true", "True", "TRUE", "on", "On", "ON"})
        if (s == word)
            return true;
    for (const char* word : {"false", "False", "FALSE", "off", "Off", "OFF"})
        if (s == word)
            return false;
    return std::nullopt;
}

/// Edit distance counting a swap of two neighbours as one edit ("vlna").
size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); i++)
        d[i][0] = i;
    for (size_t j = 0; j <= b.size(); j++)
        d[0][j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        for (size_t j = 1; j <= b.size(); j++) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                                d[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

/// The allowed key `name` is most likely a typo of, or "".
std::string_view closest(std::string_view name, const std::vector<std::string_view>& allowed) {
    const size_t limit = name.size() <= 4 ? 1 : 2;
    std::string_view best;
    size_t best_d = limit + 1;
    for (auto candidate : allowed) {
        const size_t d = edit_distance(name, candidate);
        if (d < best_d) {
            best = candidate;
            best_d = d;
        }
    }
    return best;
}

SourceLoc to_loc(const std::string& file, const YAML::Mark& m) {
    SourceLoc l;
    l.file = file;
    l.line = m.line >= 0 ? m.line + 1 : 0;
    l.column = (m.line >= 0 && m.column >= 0) ? m.column + 1 : 0;
    return l;
}

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (auto w : words) {
        if (!out.empty())
            out += ", ";
        out += w;
    }
    return out;
}

/// One key: value pair of a mapping, with both nodes for their marks.
struct Field {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
};

/// What the static_fdb cross-checks need to know about a port.
struct PortRef {
    int line = 0;
    bool vlans_known = false; // mode and VLANs parsed without error
    PortMode mode = PortMode::Access;
    VlanSet carried;          // every VLAN the port carries
    uint16_t pvid = 0;        // access vlan / trunk native vlan
    VlanSet tagged;           // trunk: the 'vlans' list
};

/// A port forward read from its entry, waiting for the checks that need the
/// network's subnet (the `gateway` key may come after `port_forwards`).
struct PendingForward {
    PortForwardSpec spec;
    bool proto_port_ok = false; // proto and port parsed: can collide with others
    bool to_ok = false;         // `to` parsed
    SourceLoc to_loc;           // the `to` value
};

/// A forwarded (proto, port) on an uplink, for the collision check across
/// the networks that share the uplink.
struct ForwardRef {
    std::string uplink;
    uint8_t proto = 0;
    uint16_t port = 0;
    SourceLoc loc;       // the forward entry
    std::string network; // its network's name ("" when the name is invalid)
};

const char* proto_name(uint8_t proto) { return proto == kProtoTcp ? "tcp" : "udp"; }

/// The policer keys of one mapping (police.ingress, a limit) as read, for the
/// checks that need several of them.
struct PolicerFields {
    const Field *rate = nullptr, *burst = nullptr, *pps = nullptr, *pps_burst = nullptr,
                *exceed = nullptr, *remark_dscp = nullptr;
    std::optional<uint64_t> rate_v, burst_v, pps_v, pps_burst_v;
    std::optional<bool> remark_v;
    std::optional<uint8_t> remark_dscp_v;
    bool bad = false; // some value was invalid (already reported)
};

/// The bytes a key compares by, for duplicate prefixes.
std::tuple<uint8_t, uint8_t, std::array<uint8_t, 16>> prefix_key(const IpPrefix& p) {
    return {p.family, p.len, p.addr};
}

class Parser {
  public:
    explicit Parser(std::string file) : file_(std::move(file)) {}

    Policy run(const std::string& text);

  private:
    SourceLoc loc(const YAML::Node& n) const { return to_loc(file_, n.Mark()); }
    void error(SourceLoc at, std::string reason) {
        diags_.push_back(Diagnostic{std::move(at), std::move(reason)});
    }
    void error(const YAML::Node& at, std::string reason) { error(loc(at), std::move(reason)); }
    /// Where a field's value is, or its key when the value is empty (an
    /// empty value's mark points past the line).
    SourceLoc value_loc(const Field& f) const {
        return loc(f.value.IsNull() ? f.key_node : f.value);
    }

    std::vector<Field> fields(const YAML::Node& map, std::string_view where,
                              const std::vector<std::string_view>& allowed);

    bool has_value(const Field& f);
    std::optional<std::string> string_value(const Field& f);
    std::optional<uint64_t> integer(const Field& f, const std::string& range);
    std::optional<uint64_t> uint_value(const Field& f, uint64_t min, uint64_t max);
    std::optional<uint16_t> vlan_value(const Field& f);
    std::optional<bool> bool_value(const Field& f);

    void parse_instance(const Field& f, Policy& p);
    void parse_bridge(const Field& f, Policy& p);
    void parse_ports(const Field& f, Policy& p);
    void parse_port(const YAML::Node& node, size_t index, Policy& p);
    bool parse_trunk_vlans(const Field& f, VlanSet& out);
    void parse_static_fdb(const Field& f, Policy& p);
    void parse_static_entry(const YAML::Node& node, size_t index, Policy& p);
    void parse_networks(const Field& f, Policy& p);
    void parse_network(const YAML::Node& node, size_t index, Policy& p);
    void parse_port_forwards(const Field& f, std::vector<PendingForward>& out);
    bool parse_timeouts(const Field& f, NatTimeouts& out);

    std::optional<uint8_t> dscp_value(const Field& f);
    std::optional<IpPrefix> prefix_value(const Field& f);
    std::optional<std::pair<uint16_t, uint16_t>> port_match_value(const Field& f);
    bool policer_field(const Field& f, PolicerFields& pf);
    std::optional<PolicerSpec> finish_policer(const PolicerFields& pf, const YAML::Node& node,
                                              const std::string& label);
    void parse_police(const Field& f, PortSpec& spec);
    std::optional<PortSecuritySpec> parse_security(const Field& f);
    void parse_limits(const Field& f, Policy& p);
    void parse_limit(const YAML::Node& node, size_t index, Policy& p);
    void parse_acl(const Field& f, Policy& p);
    bool parse_acl_rule(const YAML::Node& node, size_t index, AclSpec& acl);
    std::optional<uint64_t> duration_value(const Field& f, uint64_t min_ns, uint64_t max_ns,
                                           const std::string& range);
    std::optional<std::string> address_value(const Field& f, bool allow_port_zero);
    enum class Form { Map, On, Off, Bad };
    Form switch_or_map(const Field& f, const std::string& expected);
    void parse_telemetry(const Field& f, Policy& p);
    void parse_flows(const Field& f, TelemetrySpec& t);
    void parse_prometheus(const Field& f, TelemetrySpec& t);
    void parse_ipfix(const Field& f, TelemetrySpec& t);
    void parse_jsonl(const Field& f, TelemetrySpec& t);
    void warn(SourceLoc at, std::string reason) {
        warnings_.push_back(Diagnostic{std::move(at), std::move(reason)});
    }

    std::string file_;
    std::vector<Diagnostic> diags_;
    std::map<std::string, PortRef> ports_;                         // by name (first one)
    std::map<std::pair<uint16_t, MacAddr>, int> static_seen_;      // (vlan, mac) -> line
    std::map<std::string, int> network_names_;                     // name -> line
    std::map<uint16_t, int> network_vlans_;                        // vid -> line
    std::vector<ForwardRef> forwards_;                             // file order
    std::vector<Diagnostic> warnings_;
    std::map<std::tuple<uint8_t, uint8_t, std::array<uint8_t, 16>>, int> limit_srcs_; // -> line
};

std::vector<Field> Parser::fields(const YAML::Node& map, std::string_view where,
                                  const std::vector<std::string_view>& allowed) {
    std::vector<Field> out;
    std::map<std::string, int> seen; // key -> line
    for (auto it = map.begin(); it != map.end(); ++it) {
        const YAML::Node key = it->first;
        if (!key.IsScalar()) {
            error(key, "keys " + std::string(where) + " must be plain names, got " + kind(key));
            continue;
        }
        const std::string name = key.Scalar();
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            std::string reason = "unknown key '" + name + "' " + std::string(where) +
                                 "; expected one of: " + join(allowed);
            if (auto guess = closest(name, allowed); !guess.empty())
                reason += " (did you mean '" + std::string(guess) + "'?)";
            error(key, reason);
            continue;
        }
        if (auto dup = seen.find(name); dup != seen.end()) {
            error(key, "duplicate key '" + name + "' " + std::string(where) + "; first set at line " +
                           std::to_string(dup->second));
            continue;
        }
        seen[name] = loc(key).line;
        out.push_back(Field{name, key, it->second});
    }
    return out;
}

bool Parser::has_value(const Field& f) {
    if (f.value.IsNull()) {
        error(f.key_node, f.key + ": has no value");
        return false;
    }
    return true;
}

std::optional<std::string> Parser::string_value(const Field& f) {
    if (!has_value(f))
        return std::nullopt;
    if (!f.value.IsScalar()) {
        error(f.value, f.key + ": expected a string, got " + kind(f.value));
        return std::nullopt;
    }
    return f.value.Scalar();
}

std::optional<uint64_t> Parser::integer(const Field& f, const std::string& range) {
    if (!has_value(f))
        return std::nullopt;
    if (!f.value.IsScalar()) {
        error(f.value, f.key + ": expected an integer " + range + ", got " + kind(f.value));
        return std::nullopt;
    }
    if (is_string_typed(f.value)) {
        error(f.value, f.key + ": expected an integer " + range + ", got the string \"" +
                           f.value.Scalar() + "\" (remove the quotes)");
        return std::nullopt;
    }
    const auto v = detail::parse_decimal(f.value.Scalar());
    if (!v)
        error(f.value, f.key + ": expected an integer " + range + ", got " + kind(f.value));
    return v;
}

std::optional<uint64_t> Parser::uint_value(const Field& f, uint64_t min, uint64_t max) {
    const std::string range = std::to_string(min) + ".." + std::to_string(max);
    const auto v = integer(f, range);
    if (v && (*v < min || *v > max)) {
        error(f.value, f.key + ": " + f.value.Scalar() + " is out of range; allowed: " + range);
        return std::nullopt;
    }
    return v;
}

std::optional<uint16_t> Parser::vlan_value(const Field& f) {
    const auto v = integer(f, "1..4094");
    if (!v)
        return std::nullopt;
    if (auto err = detail::vlan_error(*v); !err.empty()) {
        error(f.value, f.key + ": " + err);
        return std::nullopt;
    }
    return static_cast<uint16_t>(*v);
}

std::optional<bool> Parser::bool_value(const Field& f) {
    if (!has_value(f))
        return std::nullopt;
    if (f.value.IsScalar() && !is_string_typed(f.value)) {
        const std::string& s = f.value.Scalar();
        if (s == "true" || s == "True" || s == "TRUE")
            return true;
        if (s == "false" || s == "False" || s == "FALSE")
            return false;
    }
    error(f.value, f.key + ": expected true or false, got " +
                       (f.value.IsScalar() && is_string_typed(f.value)
                            ? "the string \"" + f.value.Scalar() + "\""
                            : kind(f.value)));
    return std::nullopt;
}

void Parser::parse_instance(const Field& f, Policy& p) {
    const auto name = string_value(f);
    if (!name)
        return;
    const bool charset_ok = std::all_of(name->begin(), name->end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-';
    });
    if (name->empty() || name->size() > kInstanceMax || !charset_ok) {
        error(f.value, "instance: '" + *name +
                           "' is not a valid instance name; use 1..32 characters from A-Z a-z 0-9 _ -");
        return;
    }
    p.instance = *name;
}

void Parser::parse_bridge(const Field& f, Policy& p) {
    if (f.value.IsNull())
        return; // "bridge:" with nothing under it: all defaults
    if (!f.value.IsMap()) {
        error(f.value, "bridge: expected a mapping of mac_aging, fdb_size, xdp_mode; got " +
                           kind(f.value));
        return;
    }
    for (const Field& b : fields(f.value, "in bridge", kBridgeKeys)) {
        if (b.key == "mac_aging") {
            const auto text = string_value(b);
            if (!text)
                continue;
            try {
                const uint64_t ns = parse_duration_ns(*text);
                if (ns < kAgingMinNs || ns > kAgingMaxNs) {
                    error(b.value, "mac_aging: " + *text + " is out of range; allowed: 1s..1d (86400s)");
                    continue;
                }
                p.mac_aging_ns = ns;
            } catch (const std::invalid_argument& e) {
                error(b.value, "mac_aging: " + std::string(e.what()));
            }
        } else if (b.key == "fdb_size") {
            if (auto v = uint_value(b, kFdbSizeMin, kFdbSizeMax))
                p.fdb_size = static_cast<uint32_t>(*v);
        } else if (b.key == "xdp_mode") {
            const auto mode = string_value(b);
            if (!mode)
                continue;
            if (*mode == "native")
                p.xdp_mode = XdpMode::Native;
            else if (*mode == "generic")
                p.xdp_mode = XdpMode::Generic;
            else
                error(b.value, "xdp_mode: '" + *mode + "' is not an XDP mode; expected native or generic");
        }
    }
}

void Parser::parse_ports(const Field& f, Policy& p) {
    if (f.value.IsNull() || (f.value.IsSequence() && f.value.size() == 0)) {
        error(value_loc(f), "ports: the list is empty; a policy needs 1.." +
                                std::to_string(XDPNET_MAX_PORTS) + " ports");
        return;
    }
    if (!f.value.IsSequence()) {
        error(f.value, "ports: expected a list of ports, got " + kind(f.value));
        return;
    }
    if (f.value.size() > XDPNET_MAX_PORTS)
        error(f.value[XDPNET_MAX_PORTS], "ports: " + std::to_string(f.value.size()) +
                                             " ports listed; at most " +
                                             std::to_string(XDPNET_MAX_PORTS) + " are allowed");
    for (size_t i = 0; i < f.value.size(); i++)
        parse_port(f.value[i], i, p);
}

/// Why `name` cannot be a Linux interface name (dev_valid_name), or "".
std::string ifname_error(const std::string& name) {
    const std::string rule = "; use 1..15 characters without '/', ':' or whitespace";
    if (name.empty())
        return "interface name is empty" + rule;
    if (name.size() > kIfNameMax)
        return "'" + name + "' is " + std::to_string(name.size()) + " characters long" + rule;
    if (name == "." || name == "..")
        return "'" + name + "' is not a valid interface name";
    for (char c : name) {
        if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)))
            return "'" + name + "' is not a valid interface name" + rule;
    }
    return "";
}

bool Parser::parse_trunk_vlans(const Field& f, VlanSet& out) {
    if (f.value.IsNull())
        return true; // "vlans:" with nothing: no tagged VLANs
    if (!f.value.IsSequence()) {
        error(f.value, "vlans: expected a list like [10, 20, 100-199], got " + kind(f.value));
        return false;
    }
    bool ok = true;
    for (const YAML::Node& item : f.value) {
        if (!item.IsScalar()) {
            error(item, "vlans: expected a VLAN ID or a range 'a-b', got " + kind(item));
            ok = false;
            continue;
        }
        try {
            out |= parse_vlan_item(item.Scalar());
        } catch (const std::invalid_argument& e) {
            error(item, "vlans: " + std::string(e.what()));
            ok = false;
        }
    }
    return ok;
}

void Parser::parse_port(const YAML::Node& node, size_t index, Policy& p) {
    const std::string entry = "port entry " + std::to_string(index + 1);
    if (!node.IsMap()) {
        error(node, entry + ": expected a mapping like { name: vm1, mode: access, vlan: 10 }, got " +
                        kind(node));
        return;
    }
    PortSpec spec;
    spec.loc = loc(node);
    std::optional<std::string> name; // valid and unique
    std::string shown;               // for messages: the name as written, if any
    std::optional<PortMode> mode;
    std::optional<uint16_t> vlan, native;
    std::optional<bool> host;
    const Field *vlan_f = nullptr, *vlans_f = nullptr, *native_f = nullptr, *mode_f = nullptr;
    bool vlan_errors = false;

    const std::vector<Field> fs = fields(node, "in port", kPortKeys);
    for (const Field& f : fs) {
        if (f.key == "name") {
            name = string_value(f);
            if (!name)
                continue;
            shown = *name;
            if (auto err = ifname_error(*name); !err.empty()) {
                error(value_loc(f), "name: " + err);
                continue;
            }
            if (auto first = ports_.find(*name); first != ports_.end()) {
                error(f.value, "name: duplicate port '" + *name + "'; first defined at line " +
                                   std::to_string(first->second.line));
                name.reset(); // keep the first one for cross-references
                continue;
            }
            ports_[*name].line = spec.loc.line;
        } else if (f.key == "mode") {
            mode_f = &f;
            const auto m = string_value(f);
            if (!m)
                continue;
            if (*m == "access")
                mode = PortMode::Access;
            else if (*m == "trunk")
                mode = PortMode::Trunk;
            else
                error(f.value, "mode: '" + *m + "' is not a port mode; expected access or trunk");
        } else if (f.key == "vlan") {
            vlan_f = &f;
            vlan = vlan_value(f);
            vlan_errors |= !vlan;
        } else if (f.key == "vlans") {
            vlans_f = &f;
            vlan_errors |= !parse_trunk_vlans(f, spec.vlans);
        } else if (f.key == "native_vlan") {
            native_f = &f;
            native = vlan_value(f);
            vlan_errors |= !native;
        } else if (f.key == "mac_limit") {
            if (auto v = uint_value(f, 0, kMacLimitMax))
                spec.mac_limit = static_cast<uint32_t>(*v);
        } else if (f.key == "host") {
            host = bool_value(f);
        } else if (f.key == "police") {
            parse_police(f, spec);
        } else if (f.key == "dscp") {
            spec.dscp = dscp_value(f);
        } else if (f.key == "security") {
            spec.security = parse_security(f);
        }
    }

    const std::string label = !shown.empty() ? "port '" + shown + "'" : entry;
    if (!std::any_of(fs.begin(), fs.end(), [](const Field& f) { return f.key == "name"; }))
        error(node, entry + " has no 'name'; set it to the interface name");
    if (!mode_f)
        error(node, label + " has no 'mode'; set it to access or trunk");

    if (mode == PortMode::Access) {
        if (vlans_f)
            error(vlans_f->key_node, "vlans: not allowed on an access port (it has one 'vlan'); "
                                     "use mode: trunk to carry several VLANs");
        if (native_f)
            error(native_f->key_node, "native_vlan: not allowed on an access port; "
                                      "its untagged VLAN is 'vlan'");
        if (!vlan_f)
            error(node, "access " + label + " has no 'vlan'; set vlan: 1..4094");
        vlan_errors |= vlans_f || native_f || !vlan_f;
        spec.vlan = vlan.value_or(0);
    } else if (mode == PortMode::Trunk) {
        if (vlan_f) {
            error(vlan_f->key_node, "vlan: not allowed on a trunk port; use 'vlans' for tagged "
                                    "VLANs and 'native_vlan' for untagged frames");
            vlan_errors = true;
        }
        spec.native_vlan = native.value_or(0);
        if (!vlan_errors && spec.vlans.none() && spec.native_vlan == 0) {
            error(node, "trunk " + label + " carries no VLAN; set 'vlans', 'native_vlan' or both");
            vlan_errors = true;
        }
    }
    if (mode) {
        spec.mode = *mode;
        spec.host = host.value_or(*mode == PortMode::Trunk);
    }
    if (!name)
        return;
    spec.name = *name;

    PortRef& ref = ports_[*name];
    ref.vlans_known = mode.has_value() && !vlan_errors;
    ref.mode = spec.mode;
    if (spec.mode == PortMode::Access) {
        ref.pvid = spec.vlan;
        if (spec.vlan)
            ref.carried.set(spec.vlan);
    } else {
        ref.pvid = spec.native_vlan;
        ref.tagged = spec.vlans;
        ref.carried = spec.vlans;
        if (spec.native_vlan)
            ref.carried.set(spec.native_vlan);
    }
    p.ports.push_back(std::move(spec));
}

void Parser::parse_static_fdb(const Field& f, Policy& p) {
    if (f.value.IsNull())
        return;
    if (!f.value.IsSequence()) {
        error(f.value, "static_fdb: expected a list of { mac, vlan, port } entries, got " +
                           kind(f.value));
        return;
    }
    for (size_t i = 0; i < f.value.size(); i++)
        parse_static_entry(f.value[i], i, p);
}

void Parser::parse_static_entry(const YAML::Node& node, size_t index, Policy& p) {
    const std::string entry = "static_fdb entry " + std::to_string(index + 1);
    if (!node.IsMap()) {
        error(node, entry + ": expected a mapping like { mac: \"52:54:00:00:00:99\", vlan: 10, "
                            "port: vm2 }, got " + kind(node));
        return;
    }
    StaticFdbSpec spec;
    spec.loc = loc(node);
    std::optional<MacAddr> mac;
    std::optional<uint16_t> vlan;
    std::optional<std::string> port;
    const Field *mac_f = nullptr, *port_f = nullptr;
    for (const Field& f : fields(node, "in static_fdb entry", kStaticFdbKeys)) {
        if (f.key == "mac") {
            mac_f = &f;
            const auto text = string_value(f);
            if (!text)
                continue;
            mac = parse_mac(*text);
            if (!mac) {
                error(f.value, "mac: '" + *text + "' is not a MAC address; expected six hex "
                                                  "octets like 52:54:00:00:00:99");
            } else if ((*mac)[0] & 1) {
                error(f.value, "mac: " + format_mac(*mac) + " is a multicast address; a static "
                                                            "entry needs a unicast MAC (first octet even)");
                mac.reset();
            } else if (*mac == MacAddr{}) {
                error(f.value, "mac: 00:00:00:00:00:00 is not a usable address");
                mac.reset();
            }
        } else if (f.key == "vlan") {
            vlan = vlan_value(f);
        } else if (f.key == "port") {
            port_f = &f;
            port = string_value(f);
        }
    }
    // Required keys, then the checks that need several of them.
    const auto has = [&](const char* key) {
        for (auto it = node.begin(); it != node.end(); ++it)
            if (it->first.IsScalar() && it->first.Scalar() == key)
                return true;
        return false;
    };
    for (const char* key : {"mac", "vlan", "port"})
        if (!has(key))
            error(node, entry + " has no '" + key + "'; an entry needs mac, vlan and port");

    if (port) {
        auto it = ports_.find(*port);
        if (it == ports_.end()) {
            error(port_f->value, "port: '" + *port + "' is not a port of this policy");
            port.reset();
        } else if (vlan && it->second.vlans_known && !it->second.carried.test(*vlan)) {
            const PortRef& ref = it->second;
            std::string what = ref.mode == PortMode::Access
                                   ? "an access port in VLAN " + std::to_string(ref.pvid)
                                   : "a trunk carrying " +
                                         (ref.tagged.any() ? format_vlans(ref.tagged) : "no tagged VLAN") +
                                         (ref.pvid ? ", native " + std::to_string(ref.pvid) : "");
            error(port_f->value, "port: '" + *port + "' does not carry VLAN " + std::to_string(*vlan) +
                                     " (it is " + what + ")");
            port.reset();
        }
    }
    if (mac && vlan) {
        const auto key = std::make_pair(*vlan, *mac);
        if (auto first = static_seen_.find(key); first != static_seen_.end()) {
            error(mac_f->value, "mac: duplicate static entry for " + format_mac(*mac) + " in VLAN " +
                                    std::to_string(*vlan) + "; first at line " +
                                    std::to_string(first->second));
            return;
        }
        static_seen_[key] = spec.loc.line;
    }
    if (!mac || !vlan || !port)
        return;
    spec.mac = *mac;
    spec.vlan = *vlan;
    spec.port = *port;
    p.static_fdb.push_back(std::move(spec));
}

void Parser::parse_networks(const Field& f, Policy& p) {
    if (f.value.IsNull())
        return;
    if (!f.value.IsSequence()) {
        error(f.value, "networks: expected a list of { name, vlan, gateway } entries, got " +
                           kind(f.value));
        return;
    }
    for (size_t i = 0; i < f.value.size(); i++)
        parse_network(f.value[i], i, p);
    // Subnets must not overlap (each VLAN is its own IP network).
    for (size_t i = 0; i < p.networks.size(); i++) {
        for (size_t j = 0; j < i; j++) {
            const NetworkSpec &a = p.networks[j], &b = p.networks[i];
            const uint8_t len = std::min(a.prefix_len, b.prefix_len);
            const uint32_t mask = ntohl(xdpnet_prefix_mask(len));
            if ((a.gateway & mask) == (b.gateway & mask))
                error(b.loc, "network '" + b.name + "': its subnet overlaps network '" + a.name +
                                 "' (line " + std::to_string(a.loc.line) + ")");
        }
    }
    // A (proto, port) of an uplink forwards to one place, whichever of the
    // networks sharing the uplink lists it.
    std::map<std::tuple<std::string, uint8_t, uint16_t>, const ForwardRef*> first;
    for (const ForwardRef& fw : forwards_) {
        const auto [it, fresh] = first.try_emplace(std::tuple(fw.uplink, fw.proto, fw.port), &fw);
        if (fresh)
            continue;
        const ForwardRef& a = *it->second;
        error(fw.loc, std::string("port_forwards: ") + proto_name(fw.proto) + " port " +
                          std::to_string(fw.port) + " of uplink '" + fw.uplink +
                          "' is already forwarded at line " + std::to_string(a.loc.line) +
                          (a.network.empty() ? "" : " (network '" + a.network + "')") +
                          "; an uplink port forwards to one place, pick another port");
    }
}

void Parser::parse_port_forwards(const Field& f, std::vector<PendingForward>& out) {
    if (!has_value(f))
        return;
    if (!f.value.IsSequence()) {
        error(f.value, "port_forwards: expected a list like [{ proto: tcp, port: 8080, to: "
                       "\"10.0.30.11:80\" }], got " + kind(f.value));
        return;
    }
    for (size_t i = 0; i < f.value.size(); i++) {
        const YAML::Node& node = f.value[i];
        const std::string entry = "port_forwards entry " + std::to_string(i + 1);
        if (!node.IsMap()) {
            error(node, entry + ": expected a mapping like { proto: tcp, port: 8080, to: "
                                "\"10.0.30.11:80\" }, got " + kind(node));
            continue;
        }
        PendingForward fw;
        fw.spec.loc = loc(node);
        std::optional<uint8_t> proto;
        std::optional<uint16_t> port, to_port;
        bool have_proto = false, have_port = false, have_to = false;
        for (const Field& e : fields(node, "in port forward", kPortForwardKeys)) {
            if (e.key == "proto") {
                have_proto = true;
                const auto text = string_value(e);
                if (!text)
                    continue;
                if (*text == "tcp")
                    proto = kProtoTcp;
                else if (*text == "udp")
                    proto = kProtoUdp;
                else
                    error(e.value, "proto: '" + *text + "' is not a forwarded protocol; expected tcp or udp");
            } else if (e.key == "port") {
                have_port = true;
                if (auto v = uint_value(e, 1, kPortMax))
                    port = static_cast<uint16_t>(*v);
            } else if (e.key == "to") {
                have_to = true;
                const auto text = string_value(e);
                if (!text)
                    continue;
                fw.to_loc = loc(e.value);
                try {
                    auto [addr, tport] = parse_forward_target(*text);
                    fw.spec.to_addr = addr;
                    to_port = tport;
                    fw.to_ok = true;
                } catch (const std::invalid_argument& ex) {
                    error(e.value, "to: " + std::string(ex.what()));
                }
            }
        }
        for (auto [key, have] : {std::pair{"proto", have_proto}, {"port", have_port}, {"to", have_to}})
            if (!have)
                error(node, entry + " has no '" + key + "'; a port forward needs proto, port and to");
        if (proto && port) {
            fw.spec.proto = *proto;
            fw.spec.port = *port;
            fw.proto_port_ok = true;
        }
        if (fw.to_ok) {
            if (to_port)
                fw.spec.to_port = *to_port;
            else if (port)
                fw.spec.to_port = *port; // "10.0.30.11": the same port
            else
                fw.to_ok = false;
        }
        out.push_back(std::move(fw));
    }
}

bool Parser::parse_timeouts(const Field& f, NatTimeouts& out) {
    if (!has_value(f))
        return false;
    if (!f.value.IsMap()) {
        error(f.value, "timeouts: expected a mapping like { tcp_established: 2h, udp: 5m }, got " +
                           kind(f.value));
        return false;
    }
    const size_t errors_before = diags_.size();
    for (Field t : fields(f.value, "in timeouts", kTimeoutKeys)) {
        const std::string name = t.key;
        t.key = "timeouts." + name; // for messages: "timeouts.udp: ..."
        const auto text = string_value(t);
        if (!text)
            continue;
        uint64_t ns = 0;
        try {
            ns = parse_duration_ns(*text);
        } catch (const std::invalid_argument& e) {
            error(t.value, t.key + ": " + std::string(e.what()));
            continue;
        }
        if (ns < kNatTimeoutMinNs || ns > kNatTimeoutMaxNs) {
            error(t.value, t.key + ": " + *text + " is out of range; allowed: 1s..7d");
            continue;
        }
        if (name == "tcp_syn")
            out.tcp_syn_ns = ns;
        else if (name == "tcp_established")
            out.tcp_established_ns = ns;
        else if (name == "tcp_closing")
            out.tcp_closing_ns = ns;
        else if (name == "udp")
            out.udp_ns = ns;
        else if (name == "icmp")
            out.icmp_ns = ns;
    }
    return diags_.size() == errors_before;
}

void Parser::parse_network(const YAML::Node& node, size_t index, Policy& p) {
    const std::string entry = "network " + std::to_string(index + 1);
    if (!node.IsMap()) {
        error(node, entry + ": expected a mapping like { name: natnet, vlan: 30, gateway: "
                            "10.0.30.1/24 }, got " + kind(node));
        return;
    }
    NetworkSpec spec;
    spec.loc = loc(node);
    bool ok = true;
    bool have_name = false, have_vlan = false, have_gw = false;
    bool gw_ok = false, uplink_ok = false;
    std::optional<bool> masquerade;
    std::vector<PendingForward> forwards;
    const Field *uplink_f = nullptr, *masq_f = nullptr, *range_f = nullptr, *fwd_f = nullptr,
                *timeouts_f = nullptr, *maxconn_f = nullptr;
    const std::vector<Field> fs = fields(node, "in network", kNetworkKeys);
    for (const Field& f : fs) {
        if (f.key == "name") {
            have_name = true;
            const auto name = string_value(f);
            const bool valid = name && !name->empty() && name->size() <= kInstanceMax &&
                               std::all_of(name->begin(), name->end(), [](char c) {
                                   return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                          c == '-';
                               });
            if (name && !valid)
                error(f.value, "name: '" + *name + "' is not a valid network name; use 1..32 "
                                                   "characters from A-Z a-z 0-9 _ -");
            if (!valid) {
                ok = false;
            } else if (auto it = network_names_.find(*name); it != network_names_.end()) {
                error(f.value, "name: duplicate network '" + *name + "'; first defined at line " +
                                   std::to_string(it->second));
                ok = false;
            } else {
                network_names_[*name] = spec.loc.line;
                spec.name = *name;
            }
        } else if (f.key == "vlan") {
            have_vlan = true;
            auto v = vlan_value(f);
            if (!v) {
                ok = false;
                continue;
            }
            bool carried = false;
            for (const auto& [pname, ref] : ports_)
                carried |= ref.vlans_known && ref.carried.test(*v);
            if (auto it = network_vlans_.find(*v); it != network_vlans_.end()) {
                error(f.value, "vlan: VLAN " + std::to_string(*v) +
                                   " already has a network (line " + std::to_string(it->second) + ")");
                ok = false;
            } else if (!carried) {
                error(f.value, "vlan: no port carries VLAN " + std::to_string(*v) +
                                   "; add it to an access port or a trunk");
                ok = false;
            } else {
                network_vlans_[*v] = spec.loc.line;
                spec.vlan = *v;
            }
        } else if (f.key == "gateway") {
            have_gw = true;
            const auto text = string_value(f);
            if (!text) {
                ok = false;
                continue;
            }
            try {
                auto [addr, len] = parse_ipv4_cidr(*text);
                const uint32_t host_mask = len >= 32 ? 0 : ~uint32_t{0} >> len;
                if (len < 8 || len > 30) {
                    error(f.value, "gateway: /" + std::to_string(len) +
                                       " is out of range; a network is /8../30");
                    ok = false;
                } else if ((addr & host_mask) == 0 || (addr & host_mask) == host_mask) {
                    error(f.value, "gateway: " + format_ipv4(addr) + " is the " +
                                       ((addr & host_mask) == 0 ? "network" : "broadcast") +
                                       " address of its subnet; pick a host address");
                    ok = false;
                } else {
                    spec.gateway = addr;
                    spec.prefix_len = len;
                    gw_ok = true;
                }
            } catch (const std::invalid_argument& e) {
                error(f.value, "gateway: " + std::string(e.what()));
                ok = false;
            }
        } else if (f.key == "uplink") {
            uplink_f = &f;
            const auto name = string_value(f);
            if (!name) {
                ok = false;
            } else if (auto err = ifname_error(*name); !err.empty()) {
                error(value_loc(f), "uplink: " + err);
                ok = false;
            } else if (ports_.count(*name)) {
                error(f.value, "uplink: '" + *name + "' is also a switch port; the uplink is a routed "
                                                     "host interface, remove it from ports");
                ok = false;
            } else {
                spec.uplink = *name;
                spec.uplink_loc = loc(f.value);
                uplink_ok = true;
            }
        } else if (f.key == "masquerade") {
            masq_f = &f;
            masquerade = bool_value(f);
            ok &= masquerade.has_value();
        } else if (f.key == "port_range") {
            range_f = &f;
            const auto text = string_value(f);
            if (!text) {
                ok = false;
                continue;
            }
            try {
                std::tie(spec.port_lo, spec.port_hi) = parse_port_range(*text);
            } catch (const std::invalid_argument& e) {
                error(f.value, "port_range: " + std::string(e.what()));
                ok = false;
            }
        } else if (f.key == "port_forwards") {
            fwd_f = &f;
            const size_t errors_before = diags_.size();
            parse_port_forwards(f, forwards);
            ok &= diags_.size() == errors_before;
        } else if (f.key == "timeouts") {
            timeouts_f = &f;
            ok &= parse_timeouts(f, spec.timeouts);
        } else if (f.key == "max_connections") {
            maxconn_f = &f;
            if (auto v = uint_value(f, 1, kMaxConnectionsMax))
                spec.max_connections = static_cast<uint32_t>(*v);
            else
                ok = false;
        }
    }
    for (auto [key, have] : {std::pair{"name", have_name}, {"vlan", have_vlan}, {"gateway", have_gw}})
        if (!have) {
            error(node, entry + " has no '" + key + "'; a network needs name, vlan and gateway");
            ok = false;
        }

    // The checks that need several keys, now that all of them are read.
    const auto refuse = [&](const Field* f, const std::string& reason) {
        error(f->key_node, reason);
        ok = false;
    };
    if (!uplink_f) {
        if (masquerade == true)
            refuse(masq_f, "masquerade needs an uplink: the source address becomes the uplink's; "
                           "set 'uplink' to a host interface or remove masquerade");
        if (fwd_f)
            refuse(fwd_f, "port_forwards need an uplink: the ports are opened on the uplink's "
                          "address; set 'uplink' to a host interface or remove port_forwards");
        if (timeouts_f)
            refuse(timeouts_f, "timeouts apply only to a network with an uplink (they age its NAT "
                               "connections); set 'uplink' or remove timeouts");
        if (maxconn_f)
            refuse(maxconn_f, "max_connections applies only to a network with an uplink (it sizes "
                              "its NAT connection table); set 'uplink' or remove max_connections");
    }
    // masquerade defaults to true with an uplink (an invalid value was reported).
    spec.masquerade = uplink_f && masquerade.value_or(true);
    // port_range needs masquerade; when masquerade was asked for without an
    // uplink, or is invalid, that is the one error reported.
    const bool masq_invalid = masq_f && !masquerade;
    if (range_f && !spec.masquerade && !masq_invalid && masquerade != true)
        refuse(range_f, std::string("port_range applies only to a masquerading network; this one ") +
                            (masquerade == false ? "has masquerade: false" : "has no uplink") +
                            "; remove port_range, or masquerade through an uplink");

    for (PendingForward& fw : forwards) {
        if (fw.to_ok && gw_ok) {
            const uint32_t mask = ntohl(xdpnet_prefix_mask(spec.prefix_len));
            const uint32_t to = fw.spec.to_addr;
            const std::string subnet =
                format_ipv4(spec.gateway & mask) + "/" + std::to_string(spec.prefix_len);
            if ((to & mask) != (spec.gateway & mask)) {
                error(fw.to_loc, "to: " + format_ipv4(to) + " is outside this network's subnet " +
                                     subnet + "; forward to a host of the network");
                fw.to_ok = false;
            } else if ((to & ~mask) == 0 || (to & ~mask) == ~mask) {
                error(fw.to_loc, "to: " + format_ipv4(to) + " is the " +
                                     ((to & ~mask) == 0 ? "network" : "broadcast") + " address of " +
                                     subnet + "; forward to a host address");
                fw.to_ok = false;
            } else if (to == spec.gateway) {
                error(fw.to_loc, "to: " + format_ipv4(to) + " is the gateway itself; forward to a "
                                                            "host of the network");
                fw.to_ok = false;
            }
        }
        if (fw.proto_port_ok && uplink_ok)
            forwards_.push_back(ForwardRef{spec.uplink, fw.spec.proto, fw.spec.port, fw.spec.loc,
                                           spec.name});
        if (fw.proto_port_ok && fw.to_ok)
            spec.port_forwards.push_back(fw.spec);
        else
            ok = false;
    }
    if (ok)
        p.networks.push_back(std::move(spec));
}

// ---------------------------------------------------------------- QoS, port security, ACL

std::optional<uint8_t> Parser::dscp_value(const Field& f) {
    const auto text = string_value(f);
    if (!text)
        return std::nullopt;
    try {
        return parse_dscp(*text);
    } catch (const std::invalid_argument& e) {
        error(f.value, f.key + ": " + e.what());
        return std::nullopt;
    }
}

std::optional<IpPrefix> Parser::prefix_value(const Field& f) {
    const auto text = string_value(f);
    if (!text)
        return std::nullopt;
    try {
        return parse_ip_prefix(*text);
    } catch (const std::invalid_argument& e) {
        error(f.value, f.key + ": " + e.what());
        return std::nullopt;
    }
}

std::optional<std::pair<uint16_t, uint16_t>> Parser::port_match_value(const Field& f) {
    const auto text = string_value(f);
    if (!text)
        return std::nullopt;
    const std::string_view t = *text;
    const size_t dash = t.find('-');
    const auto lo = detail::parse_decimal(t.substr(0, dash));
    const auto hi = dash == std::string_view::npos ? lo : detail::parse_decimal(t.substr(dash + 1));
    if (!lo || !hi) {
        error(f.value, f.key + ": '" + *text + "' is not a port or a port range; write 443 or 1024-65535");
        return std::nullopt;
    }
    for (uint64_t v : {*lo, *hi})
        if (v > kPortMax) {
            error(f.value, f.key + ": port " + std::to_string(v) + " is out of range; allowed: 0..65535");
            return std::nullopt;
        }
    if (*lo > *hi) {
        error(f.value, f.key + ": range " + *text + " is reversed; write the lower port first");
        return std::nullopt;
    }
    return std::pair{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

/// Reads one policer key into `pf`; false when `f` is not a policer key.
bool Parser::policer_field(const Field& f, PolicerFields& pf) {
    const auto quantity = [&](uint64_t (*parse)(const std::string&), uint64_t min, uint64_t max,
                              const std::string& range) -> std::optional<uint64_t> {
        const auto text = string_value(f);
        if (!text)
            return std::nullopt;
        try {
            const uint64_t v = parse(*text);
            if (v < min || v > max) {
                error(f.value, f.key + ": " + *text + " is out of range; allowed: " + range);
                return std::nullopt;
            }
            return v;
        } catch (const std::invalid_argument& e) {
            error(f.value, f.key + ": " + e.what());
            return std::nullopt;
        }
    };
    const size_t errors_before = diags_.size();
    if (f.key == "rate") {
        pf.rate = &f;
        pf.rate_v = quantity(parse_rate_bps, 1, kRateMax, "1bit..400gbit");
    } else if (f.key == "burst") {
        pf.burst = &f;
        pf.burst_v = quantity(parse_size_bytes, kBurstMin, kBurstMax, "64b..1gb");
    } else if (f.key == "pps") {
        pf.pps = &f;
        pf.pps_v = quantity(parse_pps, 1, kPpsMax, "1..1000000000 (1000mpps)");
    } else if (f.key == "pps_burst") {
        pf.pps_burst = &f;
        pf.pps_burst_v = uint_value(f, 1, kPpsMax);
    } else if (f.key == "exceed") {
        pf.exceed = &f;
        if (const auto text = string_value(f)) {
            if (*text == "drop")
                pf.remark_v = false;
            else if (*text == "remark")
                pf.remark_v = true;
            else
                error(f.value, "exceed: '" + *text + "' is not an exceed action; expected drop or remark");
        }
    } else if (f.key == "remark_dscp") {
        pf.remark_dscp = &f;
        pf.remark_dscp_v = dscp_value(f);
    } else {
        return false;
    }
    pf.bad |= diags_.size() != errors_before;
    return true;
}

/// The cross-key checks and defaults of a policer whose keys are in `pf`;
/// `node` is its mapping, `label` names it in messages ("police.ingress").
std::optional<PolicerSpec> Parser::finish_policer(const PolicerFields& pf, const YAML::Node& node,
                                                  const std::string& label) {
    bool ok = !pf.bad;
    const auto refuse = [&](const Field* f, const std::string& reason) {
        error(f->key_node, reason);
        ok = false;
    };
    if (!pf.rate && !pf.pps) {
        error(node, label + " has neither 'rate' nor 'pps'; set a rate (bits/s, like 100mbit), "
                            "a packet rate (like 200kpps) or both");
        ok = false;
    }
    if (pf.burst && !pf.rate)
        refuse(pf.burst, "burst needs 'rate': it is the depth of the byte bucket; set rate or remove burst");
    if (pf.pps_burst && !pf.pps)
        refuse(pf.pps_burst, "pps_burst needs 'pps': it is the depth of the packet bucket; set pps or "
                             "remove pps_burst");
    const bool exceed_invalid = pf.exceed && !pf.remark_v.has_value(); // reported already
    if (pf.remark_dscp && pf.remark_v != true && !exceed_invalid)
        refuse(pf.remark_dscp, "remark_dscp applies only with exceed: remark; add it, or remove remark_dscp");
    if (pf.remark_v == true && !pf.remark_dscp)
        refuse(pf.exceed, "exceed: remark needs remark_dscp, the code point packets over the rate get "
                          "(0..63 or a name like cs1)");
    if (!ok)
        return std::nullopt;

    PolicerSpec spec;
    spec.loc = loc(node);
    if (pf.rate_v) {
        spec.rate_bps = *pf.rate_v;
        spec.burst_bytes = pf.burst_v ? *pf.burst_v : std::max(spec.rate_bps / 800, kBurstDefaultMin);
        // A tick refills rate / 8 / 250 bytes; a smaller bucket overflows.
        const uint64_t tick_bytes = (spec.rate_bps + 8 * kTicksPerSecond - 1) / (8 * kTicksPerSecond);
        if (pf.burst && spec.burst_bytes < tick_bytes)
            warn(loc(pf.burst->value),
                 label + ": burst " + pf.burst->value.Scalar() + " (" + std::to_string(spec.burst_bytes) +
                     " bytes) is less than what rate " + pf.rate->value.Scalar() + " refills in one tick of "
                     "the datapath clock (4 ms: jiffies at HZ 250), so the bucket admits less than the "
                     "rate; use a burst of at least " + std::to_string(tick_bytes) + " bytes");
    }
    if (pf.pps_v) {
        spec.pps = *pf.pps_v;
        spec.burst_packets = pf.pps_burst_v ? *pf.pps_burst_v : std::max<uint64_t>(spec.pps / 100, 2);
        const uint64_t tick_packets = (spec.pps + kTicksPerSecond - 1) / kTicksPerSecond;
        if (pf.pps_burst && spec.burst_packets < tick_packets)
            warn(loc(pf.pps_burst->value),
                 label + ": pps_burst " + std::to_string(spec.burst_packets) + " is less than what pps " +
                     pf.pps->value.Scalar() + " refills in one tick of the datapath clock (4 ms: jiffies "
                     "at HZ 250), so the bucket admits less than the rate; use a pps_burst of at least " +
                     std::to_string(tick_packets));
    }
    spec.remark = pf.remark_v.value_or(false);
    spec.remark_dscp = pf.remark_dscp_v.value_or(0);
    return spec;
}

void Parser::parse_police(const Field& f, PortSpec& spec) {
    if (!has_value(f))
        return;
    if (!f.value.IsMap()) {
        error(f.value, "police: expected a mapping like { ingress: { rate: 100mbit }, egress: { rate: "
                       "1gbit } }, got " + kind(f.value));
        return;
    }
    const std::vector<Field> dirs = fields(f.value, "in police", kPoliceKeys);
    if (f.value.size() == 0)
        error(f.value, "police: set ingress (from the VM), egress (to the VM) or both");
    for (const Field& d : dirs) {
        const std::string label = "police." + d.key;
        if (!has_value(d))
            continue;
        if (!d.value.IsMap()) {
            error(d.value, label + ": expected a mapping like { rate: 100mbit, burst: 256kb }, got " +
                               kind(d.value));
            continue;
        }
        const std::vector<Field> fs = fields(d.value, "in " + label, kPolicerKeys);
        PolicerFields pf;
        for (const Field& pfield : fs)
            policer_field(pfield, pf);
        auto pol = finish_policer(pf, d.value, label);
        if (d.key == "ingress")
            spec.police_ingress = pol;
        else
            spec.police_egress = pol;
    }
}

std::optional<PortSecuritySpec> Parser::parse_security(const Field& f) {
    if (f.value.IsNull()) {
        error(f.key_node, "security: has no value; list macs and/or ips, or write security: {} for the "
                          "DHCP-server and router-advertisement guard only");
        return std::nullopt;
    }
    if (!f.value.IsMap()) {
        error(f.value, "security: expected a mapping like { macs: [\"52:54:00:00:00:01\"], ips: "
                       "[10.0.10.11] }, got " + kind(f.value));
        return std::nullopt;
    }
    PortSecuritySpec sec;
    sec.loc = loc(f.key_node);
    const size_t errors_before = diags_.size();
    for (const Field& s : fields(f.value, "in security", kSecurityKeys)) {
        if (s.value.IsNull())
            continue; // "macs:" with nothing: no restriction, like []
        if (!s.value.IsSequence()) {
            error(s.value, s.key + ": expected a list like " +
                               (s.key == "macs" ? "[\"52:54:00:00:00:01\"]" : "[10.0.10.11, fd00:10::/64]") +
                               ", got " + kind(s.value));
            continue;
        }
        std::map<MacAddr, int> macs_seen;
        std::map<std::tuple<uint8_t, uint8_t, std::array<uint8_t, 16>>, int> ips_seen;
        for (const YAML::Node& item : s.value) {
            if (!item.IsScalar()) {
                error(item, s.key + ": expected " + (s.key == "macs" ? "a MAC address" : "an address or prefix") +
                                ", got " + kind(item));
                continue;
            }
            const std::string text = item.Scalar();
            if (s.key == "macs") {
                const auto mac = parse_mac(text);
                if (!mac) {
                    error(item, "macs: '" + text + "' is not a MAC address; expected six hex octets like "
                                                   "52:54:00:00:00:01");
                } else if ((*mac)[0] & 1) {
                    error(item, "macs: " + format_mac(*mac) + " is a multicast address; a VM's source MAC "
                                                              "is unicast (first octet even)");
                } else if (*mac == MacAddr{}) {
                    error(item, "macs: 00:00:00:00:00:00 is not a usable address");
                } else if (auto [it, fresh] = macs_seen.try_emplace(*mac, loc(item).line); !fresh) {
                    error(item, "macs: " + format_mac(*mac) + " is listed twice (first at line " +
                                    std::to_string(it->second) + ")");
                } else {
                    sec.macs.push_back(*mac);
                }
            } else {
                try {
                    const IpPrefix ip = parse_ip_prefix(text);
                    if (auto [it, fresh] = ips_seen.try_emplace(prefix_key(ip), loc(item).line); !fresh)
                        error(item, "ips: " + ip.str() + " is listed twice (first at line " +
                                        std::to_string(it->second) + ")");
                    else
                        sec.ips.push_back(ip);
                } catch (const std::invalid_argument& e) {
                    error(item, "ips: " + std::string(e.what()));
                }
            }
        }
    }
    if (diags_.size() != errors_before)
        return std::nullopt;
    return sec;
}

void Parser::parse_limits(const Field& f, Policy& p) {
    if (f.value.IsNull())
        return;
    if (!f.value.IsSequence()) {
        error(f.value, "limits: expected a list of { match: { src: PREFIX }, rate: RATE } entries, got " +
                           kind(f.value));
        return;
    }
    if (f.value.size() > kLimitsMax)
        error(f.value[kLimitsMax], "limits: " + std::to_string(f.value.size()) + " limits listed; at most " +
                                       std::to_string(kLimitsMax) + " are allowed");
    for (size_t i = 0; i < f.value.size(); i++)
        parse_limit(f.value[i], i, p);
}

void Parser::parse_limit(const YAML::Node& node, size_t index, Policy& p) {
    const std::string entry = "limit " + std::to_string(index + 1);
    if (!node.IsMap()) {
        error(node, entry + ": expected a mapping like { match: { src: 10.0.30.0/24 }, per: src_ip, rate: "
                            "10mbit }, got " + kind(node));
        return;
    }
    LimitSpec spec;
    spec.loc = loc(node);
    bool ok = true;
    std::optional<IpPrefix> src;
    const Field* match_f = nullptr;
    PolicerFields pf;
    const std::vector<Field> fs = fields(node, "in limit", kLimitKeys);
    for (const Field& f : fs) {
        if (policer_field(f, pf))
            continue;
        if (f.key == "match") {
            match_f = &f;
            if (!has_value(f)) {
                ok = false;
                continue;
            }
            if (!f.value.IsMap()) {
                error(f.value, "match: expected a mapping like { src: 10.0.30.0/24 }, got " + kind(f.value));
                ok = false;
                continue;
            }
            const size_t errors_before = diags_.size();
            bool have_src = false;
            for (Field m : fields(f.value, "in limit match (only src is supported)", kLimitMatchKeys)) {
                have_src = true;
                m.key = "match.src";
                src = prefix_value(m);
            }
            if (!have_src && diags_.size() == errors_before)
                error(f.value, "match: has no 'src'; a limit matches the source prefix, like { src: "
                               "10.0.30.0/24 }");
            ok &= diags_.size() == errors_before && src.has_value();
        } else if (f.key == "per") {
            if (const auto text = string_value(f); text && *text != "src_ip") {
                error(f.value, "per: '" + *text + "' is not supported; a limit keeps one bucket per source "
                                                  "address (src_ip)");
                ok = false;
            } else if (!text) {
                ok = false;
            }
        }
    }
    if (!match_f) {
        error(node, entry + " has no 'match'; say which sources it limits, like match: { src: 10.0.30.0/24 }");
        ok = false;
    }
    const auto rate = finish_policer(pf, node, entry);
    if (src) {
        if (auto [it, fresh] = limit_srcs_.try_emplace(prefix_key(*src), spec.loc.line); !fresh) {
            error(match_f->value, "match.src: " + src->str() + " already has a limit (line " +
                                      std::to_string(it->second) + "); one limit per prefix");
            ok = false;
        }
    }
    if (!ok || !rate || !src)
        return;
    spec.src = *src;
    spec.rate = *rate;
    p.limits.push_back(std::move(spec));
}

void Parser::parse_acl(const Field& f, Policy& p) {
    if (f.value.IsNull())
        return; // "acl:" with nothing: no ACL
    if (!f.value.IsMap()) {
        error(f.value, "acl: expected a mapping like { default: allow, rules: [...] }, got " + kind(f.value));
        return;
    }
    AclSpec acl;
    acl.present = true;
    acl.loc = loc(f.key_node);
    bool rules_ok = true;
    for (const Field& a : fields(f.value, "in acl", kAclKeys)) {
        if (a.key == "default") {
            if (const auto text = string_value(a)) {
                if (*text == "allow")
                    acl.default_allow = true;
                else if (*text == "deny")
                    acl.default_allow = false;
                else
                    error(a.value, "default: '" + *text + "' is not an ACL action; expected allow or deny");
            }
        } else if (a.key == "rules") {
            if (a.value.IsNull())
                continue;
            if (!a.value.IsSequence()) {
                error(a.value, "rules: expected a list of { action: allow|deny, ... } rules, got " +
                                   kind(a.value));
                rules_ok = false;
                continue;
            }
            if (a.value.size() > XDPNET_ACL_MAX_RULES) {
                error(a.value[XDPNET_ACL_MAX_RULES], "rules: " + std::to_string(a.value.size()) +
                                                         " rules listed; at most " +
                                                         std::to_string(XDPNET_ACL_MAX_RULES) + " are allowed");
                rules_ok = false;
            }
            for (size_t i = 0; i < a.value.size(); i++)
                rules_ok &= parse_acl_rule(a.value[i], i, acl);
        } else if (a.key == "timeouts") {
            parse_timeouts(a, acl.timeouts);
        } else if (a.key == "max_connections") {
            if (auto v = uint_value(a, 1, kMaxConnectionsMax))
                acl.max_connections = static_cast<uint32_t>(*v);
        }
    }
    // Rule numbers in the warnings are list positions: only when every
    // rule was kept (otherwise the policy is refused anyway).
    if (rules_ok)
        for (Diagnostic& d : acl_shadow_warnings(acl))
            warn(std::move(d.loc), std::move(d.reason));
    p.acl = std::move(acl);
}

bool Parser::parse_acl_rule(const YAML::Node& node, size_t index, AclSpec& acl) {
    const std::string entry = "acl rule " + std::to_string(index + 1);
    if (!node.IsMap()) {
        error(node, entry + ": expected a mapping like { action: deny, proto: tcp, dst_port: 22 }, got " +
                        kind(node));
        return false;
    }
    AclRuleSpec rule;
    rule.loc = loc(node);
    const size_t errors_before = diags_.size();
    const Field *action_f = nullptr, *proto_f = nullptr, *from_f = nullptr, *to_f = nullptr,
                *stateful_f = nullptr;
    std::vector<const Field*> port_fs;
    std::optional<bool> allow;
    bool proto_bad = false; // given but invalid (reported)
    for (const Field& f : fields(node, "in acl rule", kAclRuleKeys)) {
        if (f.key == "action") {
            action_f = &f;
            if (const auto text = string_value(f)) {
                if (*text == "allow" || *text == "deny")
                    allow = *text == "allow";
                else
                    error(f.value, "action: '" + *text + "' is not an ACL action; expected allow or deny");
            }
        } else if (f.key == "proto") {
            const auto text = string_value(f);
            proto_bad = !text;
            if (!text)
                continue;
            if (*text == "tcp")
                rule.proto = kProtoTcp;
            else if (*text == "udp")
                rule.proto = kProtoUdp;
            else if (*text == "icmp")
                rule.proto = kProtoIcmp;
            else if (*text == "icmpv6")
                rule.proto = kProtoIcmpv6;
            else if (*text == "any")
                rule.proto.reset();
            else if (auto v = detail::parse_decimal(*text); v && *v <= 255)
                rule.proto = static_cast<uint8_t>(*v);
            else {
                error(f.value, "proto: '" + *text + "' is not a protocol; expected tcp, udp, icmp, icmpv6, "
                                                    "any or a protocol number 0..255");
                proto_bad = true;
                continue;
            }
            proto_f = &f;
        } else if (f.key == "in_port") {
            if (const auto name = string_value(f)) {
                if (!ports_.count(*name))
                    error(f.value, "in_port: '" + *name + "' is not a port of this policy");
                else
                    rule.in_port = *name;
            }
        } else if (f.key == "from_vlan") {
            rule.from_vlan = vlan_value(f).value_or(0);
        } else if (f.key == "to_vlan") {
            rule.to_vlan = vlan_value(f).value_or(0);
        } else if (f.key == "from") {
            rule.from = prefix_value(f);
            from_f = rule.from ? &f : nullptr;
        } else if (f.key == "to") {
            rule.to = prefix_value(f);
            to_f = rule.to ? &f : nullptr;
        } else if (f.key == "src_port" || f.key == "dst_port") {
            port_fs.push_back(&f);
            if (const auto range = port_match_value(f)) {
                if (f.key == "src_port")
                    std::tie(rule.sport_lo, rule.sport_hi) = *range;
                else
                    std::tie(rule.dport_lo, rule.dport_hi) = *range;
            }
        } else if (f.key == "stateful") {
            stateful_f = &f;
            rule.stateful = bool_value(f).value_or(false);
        }
    }
    if (!action_f)
        error(node, entry + " has no 'action'; set it to allow or deny");
    rule.allow = allow.value_or(false);

    // The checks that need several keys.
    const bool has_ports = rule.proto == kProtoTcp || rule.proto == kProtoUdp;
    for (const Field* f : port_fs)
        if (!has_ports && !proto_bad)
            error(f->key_node, f->key + " needs proto tcp or udp (" +
                                   (rule.proto ? "proto " + proto_f->value.Scalar() + " has"
                                               : "without a proto, other protocols have") +
                                   " no ports); set proto or remove " + f->key);
    if (stateful_f && rule.stateful && allow == false)
        error(stateful_f->key_node, "stateful applies only to allow rules (it lets the replies of the "
                                    "connections they allow back in); remove it from this deny rule");
    if (from_f && to_f && rule.from->family != rule.to->family)
        error(to_f->value, "to: " + rule.to->str() + " is IPv" + std::to_string(rule.to->family) +
                               " but from (" + rule.from->str() + ") is IPv" +
                               std::to_string(rule.from->family) + "; a rule matches one address family");
    const Field* prefix_f = from_f ? from_f : to_f;
    const uint8_t prefix_family = from_f ? rule.from->family : to_f ? rule.to->family : 0;
    if (proto_f && prefix_f && (rule.proto == kProtoIcmp || rule.proto == kProtoIcmpv6)) {
        const bool v4 = rule.proto == kProtoIcmp;
        if (prefix_family != (v4 ? 4 : 6))
            error(proto_f->value, "proto: " + proto_f->value.Scalar() + " is IPv" + (v4 ? "4" : "6") +
                                      " only, but " + prefix_f->key + " is an IPv" +
                                      std::to_string(prefix_family) + " prefix (" +
                                      prefix_f->value.Scalar() + "); use " + (v4 ? "icmpv6" : "icmp"));
    }
    rule.family = prefix_family ? prefix_family
                  : rule.proto == kProtoIcmp   ? 4
                  : rule.proto == kProtoIcmpv6 ? 6
                                               : 0;
    if (diags_.size() != errors_before)
        return false;
    acl.rules.push_back(std::move(rule));
    return true;
}

// ---------------------------------------------------------------- telemetry

std::optional<uint64_t> Parser::duration_value(const Field& f, uint64_t min_ns, uint64_t max_ns,
                                               const std::string& range) {
    if (!has_value(f))
        return std::nullopt;
    if (!f.value.IsScalar()) {
        error(f.value, f.key + ": expected a duration like 30s, got " + kind(f.value));
        return std::nullopt;
    }
    const std::string& text = f.value.Scalar();
    uint64_t ns = 0;
    try {
        ns = parse_duration_ns(text);
    } catch (const std::invalid_argument& e) {
        error(f.value, f.key + ": " + e.what());
        return std::nullopt;
    }
    if (ns < min_ns || ns > max_ns) {
        error(f.value, f.key + ": " + text + " is out of range; allowed: " + range);
        return std::nullopt;
    }
    return ns;
}

/// A numeric "address:port" (parse_socket_address), as written.
std::optional<std::string> Parser::address_value(const Field& f, bool allow_port_zero) {
    if (f.value.IsSequence()) {
        // An unquoted IPv6 address: "listen: [::1]" is a YAML list.
        error(f.value, f.key + ": expected an address like \"127.0.0.1:9477\", got a list; quote IPv6 "
                               "addresses (\"[::1]:9477\"): unquoted, [...] is a YAML list");
        return std::nullopt;
    }
    const auto text = string_value(f);
    if (!text)
        return std::nullopt;
    try {
        parse_socket_address(*text, allow_port_zero);
    } catch (const std::invalid_argument& e) {
        error(value_loc(f), f.key + ": " + e.what());
        return std::nullopt;
    }
    return text;
}

/// How a telemetry subsection is written: a mapping, or a switch (on/off,
/// true/false). Anything else is reported, "expected <expected>".
Parser::Form Parser::switch_or_map(const Field& f, const std::string& expected) {
    if (f.value.IsNull()) {
        error(f.key_node, f.key + ": has no value; write " + expected);
        return Form::Bad;
    }
    if (f.value.IsMap())
        return Form::Map;
    if (!is_string_typed(f.value))
        if (const auto on = switch_of(f.value))
            return *on ? Form::On : Form::Off;
    const bool quoted_switch = f.value.IsScalar() && is_string_typed(f.value) && switch_of(f.value);
    error(f.value, f.key + ": expected " + expected + ", got " +
                       (quoted_switch ? "the string \"" + f.value.Scalar() + "\" (remove the quotes)"
                                      : kind(f.value)));
    return Form::Bad;
}

void Parser::parse_telemetry(const Field& f, Policy& p) {
    TelemetrySpec& t = p.telemetry;
    t.loc = loc(f.key_node);
    if (f.value.IsNull())
        return; // "telemetry:" with nothing: all defaults
    if (!f.value.IsMap()) {
        error(f.value, "telemetry: expected a mapping of flows, prometheus, ipfix, jsonl; got " + kind(f.value));
        return;
    }
    const Field *flows_f = nullptr, *ipfix_f = nullptr, *jsonl_f = nullptr;
    const std::vector<Field> fs = fields(f.value, "in telemetry", kTelemetryKeys);
    for (const Field& s : fs) {
        if (s.key == "flows") {
            flows_f = &s;
            parse_flows(s, t);
        } else if (s.key == "prometheus") {
            parse_prometheus(s, t);
        } else if (s.key == "ipfix") {
            ipfix_f = &s;
            parse_ipfix(s, t);
        } else if (s.key == "jsonl") {
            jsonl_f = &s;
            parse_jsonl(s, t);
        }
    }
    // IPFIX and JSON lines export flow records, which only flow accounting
    // produces.
    if (!t.flows) {
        const std::string off = "flows: " + flows_f->value.Scalar() + " (line " +
                                std::to_string(loc(flows_f->key_node).line) + ")";
        if (t.ipfix)
            error(ipfix_f->key_node, "ipfix exports flow records, and " + off +
                                         " turns flow accounting off; remove ipfix or turn flows on");
        if (t.jsonl)
            error(jsonl_f->key_node, "jsonl writes flow records, and " + off +
                                         " turns flow accounting off; remove jsonl or turn flows on");
    }
}

void Parser::parse_flows(const Field& f, TelemetrySpec& t) {
    switch (switch_or_map(f, "a mapping like { size: 262144, idle_timeout: 30s, active_timeout: 60s } "
                             "or off")) {
    case Form::Off:
        t.flows = false;
        return;
    case Form::On:
    case Form::Bad:
        return;
    case Form::Map:
        break;
    }
    std::vector<Field> fs = fields(f.value, "in telemetry.flows", kFlowsKeys);
    const Field *idle_f = nullptr, *active_f = nullptr;
    bool timeouts_ok = true;
    for (Field& s : fs) {
        const std::string name = s.key;
        s.key = "flows." + name; // for messages: "flows.size: ..."
        if (name == "size") {
            if (const auto v = uint_value(s, kFlowSizeMin, kFlowSizeMax))
                t.flow_size = static_cast<uint32_t>(*v);
        } else if (name == "idle_timeout") {
            idle_f = &s;
            const auto ns = duration_value(s, kSecondNs, kIdleTimeoutMaxNs, "1s..1h");
            t.idle_timeout_ns = ns.value_or(t.idle_timeout_ns);
            timeouts_ok &= ns.has_value();
        } else if (name == "active_timeout") {
            active_f = &s;
            const auto ns = duration_value(s, kSecondNs, kActiveTimeoutMaxNs, "1s..24h");
            t.active_timeout_ns = ns.value_or(t.active_timeout_ns);
            timeouts_ok &= ns.has_value();
        }
    }
    if (timeouts_ok && t.active_timeout_ns < t.idle_timeout_ns) {
        // The defaults are in order, so at least one of the two is written.
        const auto shown = [](const Field* field, const char* dflt) {
            return field ? field->value.Scalar() : std::string(dflt) + ", the default";
        };
        warn(loc((active_f ? active_f : idle_f)->value),
             "flows.active_timeout (" + shown(active_f, "60s") + ") is shorter than idle_timeout (" +
                 shown(idle_f, "30s") + "): a flow that goes idle is exported at the active timeout first, and "
                 "ends only when the idle timeout passes; set active_timeout to at least idle_timeout");
    }
}

void Parser::parse_prometheus(const Field& f, TelemetrySpec& t) {
    switch (switch_or_map(f, "a mapping like { listen: \"127.0.0.1:9477\" } or off")) {
    case Form::Off:
        t.prometheus_listen.reset();
        return;
    case Form::On:
    case Form::Bad:
        return; // on: the default address
    case Form::Map:
        break;
    }
    for (Field s : fields(f.value, "in telemetry.prometheus", kPrometheusKeys)) {
        s.key = "prometheus." + s.key;
        if (auto addr = address_value(s, /*allow_port_zero=*/true))
            t.prometheus_listen = std::move(addr);
    }
}

void Parser::parse_ipfix(const Field& f, TelemetrySpec& t) {
    const std::string example = "{ collector: \"192.0.2.10:4739\" }";
    switch (switch_or_map(f, "a mapping like " + example + " or off")) {
    case Form::Off:
    case Form::Bad:
        return;
    case Form::On:
        error(f.value, "ipfix: on needs a collector; write ipfix: " + example);
        return;
    case Form::Map:
        break;
    }
    IpfixSpec spec;
    spec.loc = loc(f.key_node);
    bool have_collector = false;
    const size_t errors_before = diags_.size();
    for (Field s : fields(f.value, "in telemetry.ipfix", kIpfixKeys)) {
        const std::string name = s.key;
        s.key = "ipfix." + name;
        if (name == "collector") {
            have_collector = true;
            if (auto addr = address_value(s, /*allow_port_zero=*/false))
                spec.collector = std::move(*addr);
        } else if (name == "transport") {
            if (const auto text = string_value(s)) {
                if (*text == "udp")
                    spec.transport = IpfixSpec::Transport::Udp;
                else if (*text == "tcp")
                    spec.transport = IpfixSpec::Transport::Tcp;
                else
                    error(s.value, s.key + ": '" + *text + "' is not an IPFIX transport; expected udp or tcp");
            }
        } else if (name == "template_refresh") {
            spec.template_refresh_ns = duration_value(s, kSecondNs, kTemplateRefreshMaxNs, "1s..1h")
                                           .value_or(spec.template_refresh_ns);
        } else if (name == "observation_domain") {
            if (const auto v = uint_value(s, 0, kObservationDomainMax))
                spec.observation_domain = static_cast<uint32_t>(*v);
        }
    }
    if (!have_collector)
        error(f.value, "ipfix has no 'collector'; set it to the collector's address and port, like "
                       "\"192.0.2.10:4739\"");
    if (diags_.size() == errors_before)
        t.ipfix = std::move(spec);
}

void Parser::parse_jsonl(const Field& f, TelemetrySpec& t) {
    const std::string expected = "write an absolute path like /var/log/xdpnet/flows.jsonl, or \"-\" for stdout";
    if (!is_string_typed(f.value)) {
        if (const auto on = switch_of(f.value)) {
            if (*on)
                error(f.value, "jsonl: '" + f.value.Scalar() + "' is not a path; " + expected);
            else
                t.jsonl.reset(); // off
            return;
        }
    }
    const auto path = string_value(f);
    if (!path)
        return;
    if (path->empty()) {
        error(value_loc(f), "jsonl: the path is empty; " + expected);
    } else if (*path == "-") {
        t.jsonl = *path;
    } else if (path->front() != '/') {
        error(f.value, "jsonl: '" + *path + "' is a relative path; the daemon runs in /, so " + expected);
    } else if (path->back() == '/') {
        error(f.value, "jsonl: '" + *path + "' names a directory; write the file's path, like "
                                            "/var/log/xdpnet/flows.jsonl");
    } else {
        t.jsonl = *path;
    }
}

Policy Parser::run(const std::string& text) {
    Policy p;
    p.file = file_;
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
        throw PolicyError({Diagnostic{to_loc(file_, e.mark), "invalid YAML: " + e.msg}});
    }
    if (docs.size() > 1)
        error(docs[1], "the file holds " + std::to_string(docs.size()) +
                           " YAML documents; a policy is exactly one");
    if (docs.empty() || docs[0].IsNull()) {
        error(SourceLoc{file_, 0, 0}, "the policy is empty; it needs at least a 'ports' list");
        throw PolicyError(std::move(diags_));
    }
    const YAML::Node& root = docs[0];
    if (!root.IsMap()) {
        error(root, "the policy must be a mapping with the keys instance, bridge, ports, "
                    "static_fdb, networks, limits, acl, telemetry; got " + kind(root));
        throw PolicyError(std::move(diags_));
    }

    try {
        const std::vector<Field> top = fields(root, "at the top level", kTopKeys);
        const auto find = [&](std::string_view key) -> const Field* {
            for (const Field& f : top)
                if (f.key == key)
                    return &f;
            return nullptr;
        };
        if (const Field* f = find("instance"))
            parse_instance(*f, p);
        if (const Field* f = find("bridge"))
            parse_bridge(*f, p);
        if (const Field* f = find("ports"))
            parse_ports(*f, p);
        else
            error(root, "the policy has no 'ports'; list 1.." + std::to_string(XDPNET_MAX_PORTS) +
                            " ports");
        // After ports, wherever it is in the file: entries refer to ports.
        if (const Field* f = find("static_fdb"))
            parse_static_fdb(*f, p);
        if (const Field* f = find("networks"))
            parse_networks(*f, p);
        if (const Field* f = find("limits"))
            parse_limits(*f, p);
        if (const Field* f = find("acl"))
            parse_acl(*f, p); // after ports: rules name them
        if (const Field* f = find("telemetry"))
            parse_telemetry(*f, p);
    } catch (const YAML::Exception& e) {
        // Should not happen (we only read scalars we type-checked), but never
        // let a yaml-cpp exception escape as something else than a PolicyError.
        error(to_loc(file_, e.mark), "invalid policy: " + e.msg);
    }

    if (!diags_.empty()) {
        std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
            return std::pair(a.loc.line, a.loc.column) < std::pair(b.loc.line, b.loc.column);
        });
        throw PolicyError(std::move(diags_));
    }
    std::stable_sort(warnings_.begin(), warnings_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::pair(a.loc.line, a.loc.column) < std::pair(b.loc.line, b.loc.column);
    });
    p.warnings = std::move(warnings_);
    return p;
}

} // namespace

Policy parse_policy(const std::string& text, const std::string& filename) {
    return Parser(filename).run(text);
}

Policy load_policy_file(const std::string& path) {
    const auto fail = [&](int err) {
        return PolicyError({Diagnostic{SourceLoc{path, 0, 0}, "cannot read: " + std::string(std::strerror(err))}});
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw fail(errno);
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            ::close(fd);
            throw fail(err);
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return parse_policy(text, path);
}

} // namespace xdpnet::policy
