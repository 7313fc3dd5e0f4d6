// Packet descriptions: lexing, layer-order rules, field decoding and frame
// building. The grammar:
//
//   description := layer ( '/' layer )*
//   layer       := name '(' [ field ( ',' field )* ] ')'
//   field       := key '=' value          (vlan also takes a bare VID first)
//
// with whitespace allowed around every token. Numbers are decimal or 0x-hex.
// Order: eth first and once; up to 2 vlan tags directly after it; then one of
// ipv4 / ipv6 / arp; then (not after arp) one of tcp / udp / icmp (ipv4) /
// icmpv6 (ipv6); payload last. Everything is validated before anything is
// built, and every error names the column of the token at fault.
#include "telemetry/packet_spec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>
#include <span>
#include <variant>

#include "policy/policy.h"

namespace xdpnet::telemetry {

SpecError::SpecError(size_t col, const std::string& why)
    : std::runtime_error("column " + std::to_string(col) + ": " + why), column(col), reason(why) {}

namespace {

using Bytes = std::vector<uint8_t>;
using Mac = policy::MacAddr;
using Ip4 = std::array<uint8_t, 4>;
using Ip6 = std::array<uint8_t, 16>;

constexpr uint64_t kMaxPayload = 9000;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr uint8_t kProtoExperimental = 253;  // RFC 3692: an L3 packet with no L4 layer
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;

// ------------------------------------------------------------------ lexing

enum class Kind { Eth, Vlan, Ipv4, Ipv6, Arp, Tcp, Udp, Icmp, Icmpv6, Payload };

struct LayerName {
    std::string_view name;
    Kind kind;
};

constexpr std::array kLayerNames{
    LayerName{"eth", Kind::Eth},       LayerName{"vlan", Kind::Vlan},
    LayerName{"ipv4", Kind::Ipv4},     LayerName{"ipv6", Kind::Ipv6},
    LayerName{"arp", Kind::Arp},       LayerName{"tcp", Kind::Tcp},
    LayerName{"udp", Kind::Udp},       LayerName{"icmp", Kind::Icmp},
    LayerName{"icmpv6", Kind::Icmpv6}, LayerName{"payload", Kind::Payload},
};

/// One key=value argument and where its parts start in the description.
struct Field {
    std::string_view key;
    std::string_view value;
    size_t key_col;
    size_t value_col;
};

/// One `name(...)` layer as written.
struct Layer {
    std::string_view name;
    Kind kind;
    size_t col;
    std::vector<Field> fields;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

/// Splits a description into layers and their fields; syntax errors only.
class Lexer {
public:
    explicit Lexer(std::string_view text) : text_(text) {}

    /// All layers, left to right.
    std::vector<Layer> run() {
        skip_space();
        if (at_end())
            throw SpecError(0, "empty description");
        std::vector<Layer> layers;
        for (;;) {
            layers.push_back(layer());
            skip_space();
            if (at_end())
                return layers;
            if (peek() == '/') {
                ++pos_;
                continue;
            }
            if (peek() == ')')
                throw SpecError(pos_, "unbalanced parentheses: unexpected ')'");
            throw SpecError(pos_, std::string("trailing characters after ')': unexpected '") + peek() +
                                      "' (expected '/' or the end)");
        }
    }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    size_t col(std::string_view part) const { return static_cast<size_t>(part.data() - text_.data()); }

    void skip_space() {
        while (!at_end() && is_space(peek()))
            ++pos_;
    }

    static std::optional<Kind> kind_of(std::string_view name) {
        for (const auto& n : kLayerNames)
            if (n.name == name)
                return n.kind;
        return std::nullopt;
    }

    Layer layer() {
        skip_space();
        if (at_end() || peek() == '/')
            throw SpecError(pos_, "empty layer (expected a layer name)");
        const size_t start = pos_;
        while (!at_end() && is_name_char(peek()))
            ++pos_;
        const std::string_view name = text_.substr(start, pos_ - start);
        if (name.empty())
            throw SpecError(start, std::string("expected a layer name, found '") + peek() + "'");
        const auto kind = kind_of(name);
        if (!kind)
            throw SpecError(start, "unknown layer '" + std::string(name) +
                                       "' (expected eth, vlan, ipv4, ipv6, arp, tcp, udp, icmp, "
                                       "icmpv6 or payload)");
        skip_space();
        if (peek() != '(')
            throw SpecError(pos_, "missing '(' after '" + std::string(name) + "'");
        Layer l{name, *kind, start, {}};
        args(l, pos_++);
        return l;
    }

    /// Reads up to and including the closing ')'; pos_ starts after the '('.
    void args(Layer& l, size_t open_col) {
        const std::string close = "missing ')' to close '" + std::string(l.name) + "(' at column " +
                                  std::to_string(open_col);
        size_t seg = pos_;
        std::vector<std::string_view> segments;
        for (;;) {
            if (at_end())
                throw SpecError(pos_, close);
            const char c = peek();
            if (c == '(')
                throw SpecError(pos_, "unbalanced parentheses: unexpected '(' inside '" +
                                          std::string(l.name) + "(...)'");
            if (c == '/')
                throw SpecError(pos_, close + " before '/'");
            if (c == ',' || c == ')') {
                segments.push_back(text_.substr(seg, pos_ - seg));
                seg = ++pos_;
                if (c == ')')
                    break;
            } else {
                ++pos_;
            }
        }
        if (segments.size() == 1 && trim(segments[0]).empty())
            return;  // name(): no fields at all
        for (const auto raw : segments)
            l.fields.push_back(field(l, raw));
    }

    Field field(const Layer& l, std::string_view raw) {
        const std::string_view tok = trim(raw);
        if (tok.empty())  // column of the ',' or ')' that ends the empty segment
            throw SpecError(col(raw) + raw.size(), "empty field (stray ',')");
        const size_t eq = tok.find('=');
        if (eq == std::string_view::npos) {
            if (l.kind == Kind::Vlan && l.fields.empty() && is_digit(tok.front()))
                return Field{"vid", tok, col(tok), col(tok)};  // vlan(10)
            throw SpecError(col(tok), "field '" + std::string(tok) + "' has no '=' (expected key=value)");
        }
        const std::string_view key = trim(tok.substr(0, eq));
        const std::string_view value = trim(tok.substr(eq + 1));
        if (key.empty())
            throw SpecError(col(tok) + eq, "missing field name before '='");
        if (value.empty())
            throw SpecError(col(key), "field '" + std::string(key) + "' has an empty value");
        return Field{key, value, col(key), col(value)};
    }

    std::string_view text_;
    size_t pos_ = 0;
};

// ------------------------------------------------------------ layer order

bool is_l3(Kind k) { return k == Kind::Ipv4 || k == Kind::Ipv6 || k == Kind::Arp; }
bool is_l4(Kind k) { return k == Kind::Tcp || k == Kind::Udp || k == Kind::Icmp || k == Kind::Icmpv6; }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

/// Checks one L4 layer against what came before it.
void check_l4(const Layer& l, const Layer* l3, const Layer* l4) {
    if (l4)
        throw SpecError(l.col, "only one L4 layer allowed: " + quoted(l4->name) + " at column " +
                                   std::to_string(l4->col) + " already");
    if (!l3)
        throw SpecError(l.col, quoted(l.name) + " needs an ipv4 or ipv6 layer before it");
    if (l.kind == Kind::Icmp && l3->kind != Kind::Ipv4)
        throw SpecError(l.col, "icmp runs over ipv4 only (use icmpv6 over ipv6)");
    if (l.kind == Kind::Icmpv6 && l3->kind != Kind::Ipv6)
        throw SpecError(l.col, "icmpv6 runs over ipv6 only (use icmp over ipv4)");
}

/// Enforces the layer order; each error points at the layer out of place.
void check_order(const std::vector<Layer>& layers) {
    const Layer* l3 = nullptr;
    const Layer* l4 = nullptr;
    size_t vlans = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        const Layer& l = layers[i];
        const Kind prev = i ? layers[i - 1].kind : Kind::Eth;
        if (i == 0 && l.kind != Kind::Eth)
            throw SpecError(l.col, "the first layer must be eth, not " + quoted(l.name));
        if (i > 0 && l.kind == Kind::Eth)
            throw SpecError(l.col, "eth must be the first layer and appear only once");
        if (prev == Kind::Payload)
            throw SpecError(l.col, "payload must be the last layer (" + quoted(l.name) + " follows it)");
        if (prev == Kind::Arp)
            throw SpecError(l.col, "nothing may follow arp (" + quoted(l.name) + " does)");
        switch (l.kind) {
        case Kind::Vlan:
            if (prev != Kind::Eth && prev != Kind::Vlan)
                throw SpecError(l.col, "vlan must directly follow eth or another vlan");
            if (++vlans > 2)
                throw SpecError(l.col, "at most 2 vlan tags (QinQ: outer first)");
            break;
        case Kind::Arp:
            if (prev != Kind::Eth && prev != Kind::Vlan)
                throw SpecError(l.col, "arp must directly follow eth or vlan");
            [[fallthrough]];
        case Kind::Ipv4:
        case Kind::Ipv6:
            if (l3)
                throw SpecError(l.col, "only one L3 layer allowed: " + quoted(l3->name) + " at column " +
                                           std::to_string(l3->col) + " already");
            l3 = &l;
            break;
        case Kind::Tcp:
        case Kind::Udp:
        case Kind::Icmp:
        case Kind::Icmpv6:
            check_l4(l, l3, l4);
            l4 = &l;
            break;
        case Kind::Eth:
        case Kind::Payload:
            break;
        }
    }
}

// --------------------------------------------------------- field decoding

/// One layer's fields, checked for unknown, duplicate and missing keys.
class Fields {
public:
    Fields(const Layer& l, std::initializer_list<std::string_view> allowed,
           std::initializer_list<std::string_view> required)
        : layer_(l) {
        for (const Field& f : l.fields) {
            if (std::find(allowed.begin(), allowed.end(), f.key) == allowed.end())
                throw SpecError(f.key_col, "unknown field " + quoted(f.key) + " for " + std::string(l.name) +
                                               " (expected " + join(allowed) + ")");
            if (find(f.key) != &f)
                throw SpecError(f.key_col, "duplicate field " + quoted(f.key) + " in " + std::string(l.name));
        }
        for (const auto key : required)
            if (!find(key))
                throw SpecError(l.col, std::string(l.name) + ": missing required field " + quoted(key));
    }

    /// The field named key, or null.
    const Field* find(std::string_view key) const {
        for (const Field& f : layer_.fields)
            if (f.key == key)
                return &f;
        return nullptr;
    }

    /// The field named key, which the constructor checked is present.
    const Field& at(std::string_view key) const { return *find(key); }

private:
    static std::string join(std::initializer_list<std::string_view> names) {
        std::string out;
        for (const auto n : names)
            out += (out.empty() ? "" : ", ") + std::string(n);
        return out;
    }

    const Layer& layer_;
};

std::string text(const Field& f) { return std::string(f.key) + "=" + std::string(f.value); }

using policy::hex_digit;

/// Decimal or 0x-hex; values too large for 64 bits saturate (and fail any range).
std::optional<uint64_t> to_uint(std::string_view s) {
    unsigned base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    if (s.empty())
        return std::nullopt;
    uint64_t v = 0;
    for (const char c : s) {
        const int d = hex_digit(c);
        if (d < 0 || static_cast<unsigned>(d) >= base)
            return std::nullopt;
        v = v > (UINT64_MAX - d) / base ? UINT64_MAX : v * base + d;
    }
    return v;
}

/// A number in [0, max]; `names` lists the symbolic alternatives, if any, for the message.
uint64_t number(const Field& f, uint64_t max, const std::string& names = "") {
    const auto v = to_uint(f.value);
    if (!v)
        throw SpecError(f.value_col, quoted(f.value) + " is not a number" +
                                         (names.empty() ? "" : " or one of " + names) + " (" + text(f) + ")");
    if (*v > max)
        throw SpecError(f.value_col, text(f) + " is out of range (0.." + std::to_string(max) + ")");
    return *v;
}

/// The optional numeric field key, or def when absent.
uint64_t number_or(const Fields& fs, std::string_view key, uint64_t max, uint64_t def) {
    const Field* f = fs.find(key);
    return f ? number(*f, max) : def;
}

/// A symbolic or numeric value: e.g. icmp type=echo-request or type=8.
struct Named {
    std::string_view name;
    uint64_t value;
};

uint64_t named_number(const Field& f, std::span<const Named> names, uint64_t max) {
    std::string list;
    for (const auto& n : names) {
        if (n.name == f.value)
            return n.value;
        list += (list.empty() ? "" : ", ") + std::string(n.name);
    }
    return number(f, max, list);
}

Mac mac_value(const Field& f) {
    const auto mac = policy::parse_mac(std::string(f.value));
    if (!mac)
        throw SpecError(f.value_col, "bad MAC address " + quoted(f.value) + " (" + std::string(f.key) + ")");
    return *mac;
}

template <typename Addr>
Addr address(const Field& f, int family, const char* what) {
    Addr a{};
    const std::string s(f.value);
    if (::inet_pton(family, s.c_str(), a.data()) != 1)
        throw SpecError(f.value_col, std::string("bad ") + what + " address " + quoted(s) + " (" +
                                         std::string(f.key) + ")");
    return a;
}

Ip4 ipv4_value(const Field& f) { return address<Ip4>(f, AF_INET, "IPv4"); }
Ip6 ipv6_value(const Field& f) { return address<Ip6>(f, AF_INET6, "IPv6"); }

// Decoded layers: every value checked, host order.

struct Eth {
    Mac src{}, dst{};
    std::optional<uint16_t> type;  ///< only when no L3 layer follows
};

struct Vlan {
    uint16_t vid = 0;
    uint8_t pcp = 0, dei = 0;
    std::optional<uint16_t> tpid;
};

struct Ipv4 {
    Ip4 src{}, dst{};
    uint8_t ttl = 64, tos = 0;
    uint16_t id = 0, frag = 0;
    bool df = false, mf = false;
    std::optional<uint8_t> proto;
};

struct Ipv6 {
    Ip6 src{}, dst{};
    std::optional<uint8_t> hlim;
    uint8_t tc = 0;
    uint32_t flow = 0;
    std::optional<uint8_t> nh;
};

struct Arp {
    uint16_t op = 1;
    Mac sha{}, tha{};
    Ip4 spa{}, tpa{};
};

struct Tcp {
    uint16_t sport = 0, dport = 0, win = 65535;
    uint8_t flags = 0x02;
    uint32_t seq = 0, ack = 0;
};

struct Udp {
    uint16_t sport = 0, dport = 0;
};

struct Icmp {
    uint8_t type = 8, code = 0;
    uint16_t id = 0, seq = 0;  ///< bytes 4..7 of the header ("rest of header" for non-echo types)
};

struct Icmpv6 {
    uint8_t type = 128, code = 0;
    uint16_t id = 0, seq = 0;
    std::optional<Ip6> target;  ///< ns / na only
    std::optional<Mac> lladdr;  ///< ns / na only: source / target link-layer address option
};

struct Packet {
    Eth eth;
    std::vector<Vlan> vlans;
    std::variant<std::monostate, Ipv4, Ipv6, Arp> l3;
    std::variant<std::monostate, Tcp, Udp, Icmp, Icmpv6> l4;
    Bytes payload;
};

constexpr uint8_t kNs = 135, kNa = 136;

constexpr std::array kIcmpTypes{
    Named{"echo-reply", 0},      Named{"dest-unreachable", 3},  Named{"redirect", 5},
    Named{"echo-request", 8},    Named{"time-exceeded", 11},    Named{"parameter-problem", 12},
    Named{"timestamp", 13},      Named{"timestamp-reply", 14},
};

constexpr std::array kIcmpv6Types{
    Named{"dest-unreachable", 1}, Named{"packet-too-big", 2}, Named{"time-exceeded", 3},
    Named{"parameter-problem", 4}, Named{"echo-request", 128}, Named{"echo-reply", 129},
    Named{"ns", kNs},              Named{"na", kNa},
};

constexpr std::array kArpOps{Named{"request", 1}, Named{"reply", 2}};

/// The IP protocol number a layer stands for, if it is an L4 layer.
std::optional<uint8_t> proto_of(Kind k) {
    switch (k) {
    case Kind::Tcp: return kProtoTcp;
    case Kind::Udp: return kProtoUdp;
    case Kind::Icmp: return kProtoIcmp;
    case Kind::Icmpv6: return kProtoIcmpv6;
    default: return std::nullopt;
    }
}

Eth decode_eth(const Layer& l, bool l3_follows) {
    const Fields fs(l, {"src", "dst", "type"}, {"src", "dst"});
    Eth e{mac_value(fs.at("src")), mac_value(fs.at("dst")), std::nullopt};
    if (const Field* t = fs.find("type")) {
        if (l3_follows)
            throw SpecError(t->key_col, "eth: 'type' is filled in from the next layer; give it only "
                                        "when no ipv4, ipv6 or arp layer follows");
        e.type = static_cast<uint16_t>(number(*t, 0xffff));
    } else if (!l3_follows) {
        throw SpecError(l.col, "eth: missing required field 'type' (no ipv4, ipv6 or arp layer follows)");
    }
    return e;
}

Vlan decode_vlan(const Layer& l) {
    const Fields fs(l, {"vid", "pcp", "dei", "tpid"}, {"vid"});
    const Field& vid = fs.at("vid");
    if (to_uint(vid.value) == 4095u)
        throw SpecError(vid.value_col, "vid 4095 is reserved (0..4094)");
    Vlan v;
    v.vid = static_cast<uint16_t>(number(vid, 4094));
    v.pcp = static_cast<uint8_t>(number_or(fs, "pcp", 7, 0));
    v.dei = static_cast<uint8_t>(number_or(fs, "dei", 1, 0));
    if (const Field* t = fs.find("tpid")) {
        const auto tpid = number(*t, 0xffff);
        if (tpid != kTpid8021Q && tpid != kTpid8021AD)
            throw SpecError(t->value_col, "tpid must be 0x8100 or 0x88a8 (" + text(*t) + ")");
        v.tpid = static_cast<uint16_t>(tpid);
    }
    return v;
}

/// proto (ipv4) / nh (ipv6): optional, and must agree with the L4 layer after it.
std::optional<uint8_t> decode_proto(const Fields& fs, std::string_view key, const Layer* l4) {
    const Field* f = fs.find(key);
    if (!f)
        return std::nullopt;
    const auto proto = static_cast<uint8_t>(number(*f, 255));
    if (l4 && proto != *proto_of(l4->kind))
        throw SpecError(f->value_col, text(*f) + " contradicts the " + std::string(l4->name) + " layer (" +
                                          std::to_string(*proto_of(l4->kind)) + ")");
    return proto;
}

Ipv4 decode_ipv4(const Layer& l, const Layer* l4) {
    const Fields fs(l, {"src", "dst", "ttl", "tos", "id", "df", "mf", "frag", "proto"}, {"src", "dst"});
    Ipv4 ip;
    ip.src = ipv4_value(fs.at("src"));
    ip.dst = ipv4_value(fs.at("dst"));
    ip.ttl = static_cast<uint8_t>(number_or(fs, "ttl", 255, 64));
    ip.tos = static_cast<uint8_t>(number_or(fs, "tos", 255, 0));
    ip.id = static_cast<uint16_t>(number_or(fs, "id", 0xffff, 0));
    ip.df = number_or(fs, "df", 1, 0);
    ip.mf = number_or(fs, "mf", 1, 0);
    ip.frag = static_cast<uint16_t>(number_or(fs, "frag", 8191, 0));
    ip.proto = decode_proto(fs, "proto", l4);
    return ip;
}

Ipv6 decode_ipv6(const Layer& l, const Layer* l4) {
    const Fields fs(l, {"src", "dst", "hlim", "tc", "flow", "nh"}, {"src", "dst"});
    Ipv6 ip;
    ip.src = ipv6_value(fs.at("src"));
    ip.dst = ipv6_value(fs.at("dst"));
    if (const Field* h = fs.find("hlim"))
        ip.hlim = static_cast<uint8_t>(number(*h, 255));
    ip.tc = static_cast<uint8_t>(number_or(fs, "tc", 255, 0));
    ip.flow = static_cast<uint32_t>(number_or(fs, "flow", 0xfffff, 0));
    ip.nh = decode_proto(fs, "nh", l4);
    return ip;
}

Arp decode_arp(const Layer& l, const Mac& eth_src) {
    const Fields fs(l, {"op", "sha", "spa", "tha", "tpa"}, {"spa", "tpa"});
    Arp a;
    if (const Field* op = fs.find("op")) {
        a.op = static_cast<uint16_t>(named_number(*op, kArpOps, 0xffff));
        if (a.op != 1 && a.op != 2)
            throw SpecError(op->value_col, "op must be request, reply, 1 or 2 (" + text(*op) + ")");
    }
    const Field* sha = fs.find("sha");
    a.sha = sha ? mac_value(*sha) : eth_src;
    a.spa = ipv4_value(fs.at("spa"));
    if (const Field* tha = fs.find("tha"))
        a.tha = mac_value(*tha);
    a.tpa = ipv4_value(fs.at("tpa"));
    return a;
}

uint8_t tcp_flags(const Field& f) {
    if (f.value == "none")
        return 0;
    static constexpr std::string_view kLetters = "FSRPAUEC";  // bit i = letter i
    uint8_t flags = 0;
    for (size_t i = 0; i < f.value.size(); ++i) {
        const size_t bit = kLetters.find(f.value[i]);
        if (bit == std::string_view::npos)
            throw SpecError(f.value_col + i, std::string("unknown tcp flag '") + f.value[i] +
                                                 "' (letters F S R P A U E C, or none)");
        flags |= static_cast<uint8_t>(1u << bit);
    }
    return flags;
}

Tcp decode_tcp(const Layer& l) {
    const Fields fs(l, {"sport", "dport", "flags", "seq", "ack", "win"}, {"sport", "dport"});
    Tcp t;
    t.sport = static_cast<uint16_t>(number(fs.at("sport"), 0xffff));
    t.dport = static_cast<uint16_t>(number(fs.at("dport"), 0xffff));
    if (const Field* f = fs.find("flags"))
        t.flags = tcp_flags(*f);
    t.seq = static_cast<uint32_t>(number_or(fs, "seq", UINT32_MAX, 0));
    t.ack = static_cast<uint32_t>(number_or(fs, "ack", UINT32_MAX, 0));
    t.win = static_cast<uint16_t>(number_or(fs, "win", 0xffff, 65535));
    return t;
}

Udp decode_udp(const Layer& l) {
    const Fields fs(l, {"sport", "dport"}, {"sport", "dport"});
    return Udp{static_cast<uint16_t>(number(fs.at("sport"), 0xffff)),
               static_cast<uint16_t>(number(fs.at("dport"), 0xffff))};
}

Icmp decode_icmp(const Layer& l) {
    const Fields fs(l, {"type", "code", "id", "seq"}, {});
    Icmp m;
    if (const Field* t = fs.find("type"))
        m.type = static_cast<uint8_t>(named_number(*t, kIcmpTypes, 255));
    m.code = static_cast<uint8_t>(number_or(fs, "code", 255, 0));
    m.id = static_cast<uint16_t>(number_or(fs, "id", 0xffff, 0));
    m.seq = static_cast<uint16_t>(number_or(fs, "seq", 0xffff, 0));
    return m;
}

Icmpv6 decode_icmpv6(const Layer& l) {
    const Fields fs(l, {"type", "code", "id", "seq", "target", "lladdr"}, {});
    Icmpv6 m;
    if (const Field* t = fs.find("type"))
        m.type = static_cast<uint8_t>(named_number(*t, kIcmpv6Types, 255));
    m.code = static_cast<uint8_t>(number_or(fs, "code", 255, 0));
    const bool nd = m.type == kNs || m.type == kNa;
    for (const auto key : {"id", "seq"})
        if (const Field* f = fs.find(key); f && nd)
            throw SpecError(f->key_col, "icmpv6: " + quoted(key) + " does not apply to ns/na");
    for (const auto key : {"target", "lladdr"})
        if (const Field* f = fs.find(key); f && !nd)
            throw SpecError(f->key_col, "icmpv6: " + quoted(key) + " applies to ns/na only");
    if (nd && !fs.find("target"))
        throw SpecError(l.col, "icmpv6: missing required field 'target' (for ns/na)");
    m.id = static_cast<uint16_t>(number_or(fs, "id", 0xffff, 0));
    m.seq = static_cast<uint16_t>(number_or(fs, "seq", 0xffff, 0));
    if (nd)
        m.target = ipv6_value(fs.at("target"));
    if (const Field* f = fs.find("lladdr"))
        m.lladdr = mac_value(*f);
    return m;
}

Bytes hex_bytes(const Field& f) {
    std::string_view s = f.value;
    size_t col = f.value_col;
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s.remove_prefix(2);
        col += 2;
    }
    for (size_t i = 0; i < s.size(); ++i)
        if (hex_digit(s[i]) < 0)
            throw SpecError(col + i, std::string("bad hex digit '") + s[i] + "' in payload");
    if (s.size() % 2)
        throw SpecError(f.value_col, "payload hex has an odd number of digits (" + std::to_string(s.size()) + ")");
    if (s.size() / 2 > kMaxPayload)
        throw SpecError(f.value_col, "payload hex is " + std::to_string(s.size() / 2) +
                                         " bytes, out of range (0.." + std::to_string(kMaxPayload) + ")");
    Bytes out;
    for (size_t i = 0; i < s.size(); i += 2)
        out.push_back(static_cast<uint8_t>(hex_digit(s[i]) << 4 | hex_digit(s[i + 1])));
    return out;
}

Bytes decode_payload(const Layer& l) {
    const Fields fs(l, {"len", "hex"}, {});
    const Field* len = fs.find("len");
    const Field* hex = fs.find("hex");
    if (len && hex)
        throw SpecError(std::max(len->key_col, hex->key_col), "payload takes len or hex, not both");
    if (hex)
        return hex_bytes(*hex);
    if (!len)
        throw SpecError(l.col, "payload: missing required field 'len' or 'hex'");
    Bytes out(number(*len, kMaxPayload));
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<uint8_t>(i);  // 00 01 02 ... ff 00 ...: recognisable in a dump
    return out;
}

const Layer* first_of(const std::vector<Layer>& layers, bool (*pred)(Kind)) {
    for (const Layer& l : layers)
        if (pred(l.kind))
            return &l;
    return nullptr;
}

/// Decodes every layer, left to right; the order was checked already.
Packet decode(const std::vector<Layer>& layers) {
    const Layer* l3 = first_of(layers, is_l3);
    const Layer* l4 = first_of(layers, is_l4);
    Packet p;
    for (const Layer& l : layers) {
        switch (l.kind) {
        case Kind::Eth: p.eth = decode_eth(l, l3 != nullptr); break;
        case Kind::Vlan: p.vlans.push_back(decode_vlan(l)); break;
        case Kind::Ipv4: p.l3 = decode_ipv4(l, l4); break;
        case Kind::Ipv6: p.l3 = decode_ipv6(l, l4); break;
        case Kind::Arp: p.l3 = decode_arp(l, p.eth.src); break;
        case Kind::Tcp: p.l4 = decode_tcp(l); break;
        case Kind::Udp: p.l4 = decode_udp(l); break;
        case Kind::Icmp: p.l4 = decode_icmp(l); break;
        case Kind::Icmpv6: p.l4 = decode_icmpv6(l); break;
        case Kind::Payload: p.payload = decode_payload(l); break;
        }
    }
    return p;
}

// ---------------------------------------------------------------- building

void put8(Bytes& b, uint64_t v) { b.push_back(static_cast<uint8_t>(v)); }
void put16(Bytes& b, uint64_t v) { put8(b, v >> 8), put8(b, v); }
void put32(Bytes& b, uint64_t v) { put16(b, v >> 16), put16(b, v); }
void put(Bytes& b, std::span<const uint8_t> data) { b.insert(b.end(), data.begin(), data.end()); }

void set16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// RFC 1071 Internet checksum, in two steps so that a pseudo-header and the
// segment can be summed separately: sum_words() adds big-endian 16-bit words
// (an odd trailing byte counts as its high half, i.e. is padded with a zero
// byte), finish() folds the carries back into 16 bits and complements. Summing
// in pieces is only equivalent when every piece but the last has even length,
// which holds for the 12/40-byte pseudo-headers.
uint64_t sum_words(std::span<const uint8_t> data, uint64_t acc = 0) {
    for (size_t i = 0; i + 1 < data.size(); i += 2)
        acc += static_cast<uint64_t>(data[i]) << 8 | data[i + 1];
    if (data.size() % 2)
        acc += static_cast<uint64_t>(data.back()) << 8;
    return acc;
}

uint16_t finish(uint64_t acc) {
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(~acc & 0xffff);
}

/// The IPv4 (RFC 793) or IPv6 (RFC 8200 8.1) pseudo-header for an L4 checksum.
Bytes pseudo_header(const Packet& p, uint8_t proto, size_t l4_len) {
    Bytes b;
    if (const auto* ip = std::get_if<Ipv4>(&p.l3)) {
        put(b, ip->src), put(b, ip->dst);
        put8(b, 0), put8(b, proto), put16(b, l4_len);
    } else if (const auto* ip6 = std::get_if<Ipv6>(&p.l3)) {
        put(b, ip6->src), put(b, ip6->dst);
        put32(b, l4_len), put16(b, 0), put8(b, 0), put8(b, proto);
    }
    return b;
}

/// The L4 header with a zero checksum, its protocol and the checksum's offset.
struct L4Header {
    Bytes bytes;
    uint8_t proto;
    size_t csum_at;
};

L4Header l4_header(const Packet& p) {
    Bytes b;
    if (const auto* t = std::get_if<Tcp>(&p.l4)) {
        put16(b, t->sport), put16(b, t->dport), put32(b, t->seq), put32(b, t->ack);
        put8(b, 5 << 4), put8(b, t->flags), put16(b, t->win), put16(b, 0), put16(b, 0);
        return {b, kProtoTcp, 16};
    }
    if (const auto* u = std::get_if<Udp>(&p.l4)) {
        put16(b, u->sport), put16(b, u->dport), put16(b, 8 + p.payload.size()), put16(b, 0);
        return {b, kProtoUdp, 6};
    }
    if (const auto* m = std::get_if<Icmp>(&p.l4)) {
        put8(b, m->type), put8(b, m->code), put16(b, 0), put16(b, m->id), put16(b, m->seq);
        return {b, kProtoIcmp, 2};
    }
    const auto& m = std::get<Icmpv6>(p.l4);
    put8(b, m.type), put8(b, m.code), put16(b, 0);
    if (!m.target) {
        put16(b, m.id), put16(b, m.seq);
        return {b, kProtoIcmpv6, 2};
    }
    put32(b, 0), put(b, *m.target);  // ns/na: reserved (na: R/S/O flags all 0), target
    if (m.lladdr) {  // option 1: source link-layer address (ns), 2: target (na); length in 8-byte units
        put8(b, m.type == kNs ? 1 : 2), put8(b, 1), put(b, *m.lladdr);
    }
    return {b, kProtoIcmpv6, 2};
}

/// The L4 header plus payload with its checksum set (or just the payload when no L4 layer).
Bytes l4_segment(const Packet& p) {
    if (std::holds_alternative<std::monostate>(p.l4))
        return p.payload;
    auto [seg, proto, csum_at] = l4_header(p);
    put(seg, p.payload);
    // ICMPv4 sums the message alone; TCP, UDP and ICMPv6 include the pseudo-header.
    const uint64_t acc = proto == kProtoIcmp ? 0 : sum_words(pseudo_header(p, proto, seg.size()));
    uint16_t csum = finish(sum_words(seg, acc));
    if (proto == kProtoUdp && csum == 0)
        csum = 0xffff;  // UDP: 0 means "no checksum"; send the other zero (RFC 768)
    set16(seg, csum_at, csum);
    return seg;
}

/// The IP protocol / next header: given, else from the L4 layer, else experimental.
uint8_t ip_proto(const Packet& p, std::optional<uint8_t> given) {
    if (given)
        return *given;
    if (std::holds_alternative<std::monostate>(p.l4))
        return kProtoExperimental;
    return l4_header(p).proto;
}

Bytes ipv4_packet(const Packet& p, const Ipv4& ip, const Bytes& inner) {
    Bytes b;
    put8(b, 0x45), put8(b, ip.tos), put16(b, 20 + inner.size()), put16(b, ip.id);
    put16(b, (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ip.frag);
    put8(b, ip.ttl), put8(b, ip_proto(p, ip.proto)), put16(b, 0), put(b, ip.src), put(b, ip.dst);
    set16(b, 10, finish(sum_words(b)));  // header checksum covers the 20-byte header only
    put(b, inner);
    return b;
}

/// RFC 4861: neighbour discovery (types 133..137) requires hop limit 255.
uint8_t default_hlim(const Packet& p) {
    const auto* m = std::get_if<Icmpv6>(&p.l4);
    return m && m->type >= 133 && m->type <= 137 ? 255 : 64;
}

Bytes ipv6_packet(const Packet& p, const Ipv6& ip, const Bytes& inner) {
    Bytes b;
    put32(b, 6u << 28 | uint32_t{ip.tc} << 20 | ip.flow), put16(b, inner.size());
    put8(b, ip_proto(p, ip.nh)), put8(b, ip.hlim.value_or(default_hlim(p)));
    put(b, ip.src), put(b, ip.dst), put(b, inner);
    return b;
}

Bytes arp_packet(const Arp& a) {
    Bytes b;
    put16(b, 1), put16(b, 0x0800), put8(b, 6), put8(b, 4), put16(b, a.op);  // Ethernet / IPv4
    put(b, a.sha), put(b, a.spa), put(b, a.tha), put(b, a.tpa);
    return b;
}

/// The ethertype after the last tag: from the L3 layer, else eth's type.
uint16_t inner_ethertype(const Packet& p) {
    if (std::holds_alternative<Ipv4>(p.l3))
        return 0x0800;
    if (std::holds_alternative<Ipv6>(p.l3))
        return 0x86dd;
    if (std::holds_alternative<Arp>(p.l3))
        return 0x0806;
    return *p.eth.type;
}

/// A tag's TPID: given, else 0x88a8 for the outer of two tags (802.1ad), else 0x8100.
uint16_t tpid(const Packet& p, size_t i) {
    if (p.vlans[i].tpid)
        return *p.vlans[i].tpid;
    return p.vlans.size() == 2 && i == 0 ? kTpid8021AD : kTpid8021Q;
}

Bytes frame(const Packet& p) {
    Bytes inner = l4_segment(p);
    if (const auto* ip = std::get_if<Ipv4>(&p.l3))
        inner = ipv4_packet(p, *ip, inner);
    else if (const auto* ip6 = std::get_if<Ipv6>(&p.l3))
        inner = ipv6_packet(p, *ip6, inner);
    else if (const auto* arp = std::get_if<Arp>(&p.l3))
        inner = arp_packet(*arp);
    Bytes b;
    put(b, p.eth.dst), put(b, p.eth.src);
    for (size_t i = 0; i < p.vlans.size(); ++i) {
        const Vlan& v = p.vlans[i];
        put16(b, tpid(p, i)), put16(b, v.pcp << 13 | v.dei << 12 | v.vid);
    }
    put16(b, inner_ethertype(p)), put(b, inner);
    return b;
}

}  // namespace

std::vector<uint8_t> build_packet(std::string_view description) {
    const auto layers = Lexer(description).run();
    check_order(layers);
    return frame(decode(layers));
}

}  // namespace xdpnet::telemetry
