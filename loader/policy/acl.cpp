// Policers and the ACL, compiled into the structs of abi.h; and the check
// for ACL rules an earlier rule hides.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

constexpr uint64_t kSecondNs = 1000000000ull;
constexpr size_t kAclMaxEntries = 4000000;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

struct xdpnet_rate make_rate(uint64_t rate, uint64_t depth) {
    struct xdpnet_rate r;
    std::memset(&r, 0, sizeof(r));
    r.rate = rate;
    r.depth = depth;
    r.fill_ns = rate ? ceil_div(depth, rate) : 0;
    return r;
}

/// The bytes of a key, for hashing and comparing whole keys (padding is
/// zeroed, so equal keys are equal bytes).
using KeyBytes = std::array<uint8_t, sizeof(struct xdpnet_acl_key)>;

KeyBytes bytes_of(const struct xdpnet_acl_key& k) {
    KeyBytes b;
    std::memcpy(b.data(), &k, sizeof(k));
    return b;
}

struct KeyHash {
    size_t operator()(const KeyBytes& b) const {
        uint64_t h = 14695981039346656037ull; // FNV-1a
        for (uint8_t c : b)
            h = (h ^ c) * 1099511628211ull;
        return static_cast<size_t>(h);
    }
};

/// Sets the leading `len` bits of out[0..].
void prefix_mask(uint8_t* out, unsigned len) {
    for (unsigned i = 0; i < len / 8; i++)
        out[i] = 0xff;
    if (len % 8)
        out[len / 8] = static_cast<uint8_t>(0xff00u >> (len % 8));
}

/// The families a rule is expanded into: its own, else the one its
/// prefixes or ICMP flavour imply (the parser has set `family` from those
/// already and refused contradictions), else both.
std::vector<uint8_t> families_of(const AclRuleSpec& r) {
    std::vector<uint8_t> out;
    for (uint8_t f : {uint8_t{4}, uint8_t{6}}) {
        if ((r.family && r.family != f) || (r.from && r.from->family != f) || (r.to && r.to->family != f) ||
            (r.proto == kProtoIcmp && f != 4) || (r.proto == kProtoIcmpv6 && f != 6))
            continue;
        out.push_back(f);
    }
    return out;
}

std::string rule_label(size_t index, const AclRuleSpec& r) {
    return "rule " + std::to_string(index + 1) + " (line " + std::to_string(r.loc.line) + ")";
}

} // namespace

std::vector<std::pair<uint16_t, uint16_t>> port_range_prefixes(uint16_t lo, uint16_t hi) {
    std::vector<std::pair<uint16_t, uint16_t>> out;
    uint32_t at = lo;
    const uint32_t end = hi; // inclusive
    while (at <= end) {
        // The largest block aligned at `at` that stays inside the range.
        uint32_t size = at == 0 ? 65536u : (at & (~at + 1));
        while (at + size - 1 > end)
            size >>= 1;
        out.emplace_back(static_cast<uint16_t>(at), static_cast<uint16_t>(~(size - 1) & 0xffffu));
        at += size;
    }
    return out;
}

struct xdpnet_policer compile_policer(const PolicerSpec& spec) {
    struct xdpnet_policer p;
    std::memset(&p, 0, sizeof(p));
    p.bits = make_rate(spec.rate_bps, spec.burst_bytes * XDPNET_BIT_COST);
    p.packets = make_rate(spec.pps, spec.burst_packets * XDPNET_TOKEN_SCALE);
    p.exceed = spec.remark ? XDPNET_EXCEED_REMARK : XDPNET_EXCEED_DROP;
    p.remark_dscp = spec.remark_dscp;
    // Idle this long, a bucket is full again (whichever refills slower).
    const uint64_t fill_ns = std::max(p.bits.fill_ns, p.packets.fill_ns);
    p.full_s = static_cast<uint32_t>(std::min<uint64_t>(ceil_div(fill_ns, kSecondNs), UINT32_MAX));
    return p;
}

AclImage compile_acl(const AclSpec& acl, const std::map<std::string, uint16_t>& slot_of) {
    AclImage img;
    std::memset(&img.config, 0, sizeof(img.config));
    if (!acl.present)
        return img;
    const auto fail = [](const SourceLoc& at, std::string reason) {
        return PolicyError({Diagnostic{at, std::move(reason)}});
    };
    if (acl.rules.size() > XDPNET_ACL_MAX_RULES)
        throw fail(acl.loc, "acl: " + std::to_string(acl.rules.size()) + " rules; at most " +
                                std::to_string(XDPNET_ACL_MAX_RULES) + " are allowed");

    // Count first: a few rules with wide port ranges on both ports can ask
    // for millions of entries, refused before any is built.
    size_t total = 0;
    for (const AclRuleSpec& r : acl.rules)
        total += families_of(r).size() * port_range_prefixes(r.sport_lo, r.sport_hi).size() *
                 port_range_prefixes(r.dport_lo, r.dport_hi).size();
    if (total > kAclMaxEntries)
        throw fail(acl.loc, "acl: the rules expand into " + std::to_string(total) +
                                " entries; at most " + std::to_string(kAclMaxEntries) +
                                " are allowed (each rule is one entry per family and per pair of "
                                "source/destination port prefixes; align port ranges to powers of two "
                                "or use single ports)");

    struct Shape {
        struct xdpnet_acl_key mask;
        uint32_t best;
    };
    std::vector<Shape> shapes; // first appearance order
    std::unordered_map<KeyBytes, uint32_t, KeyHash> shape_of;
    struct Raw {
        struct xdpnet_acl_key key;
        struct xdpnet_acl_verdict verdict;
        uint32_t shape; // index into `shapes`
    };
    std::vector<Raw> raw;
    raw.reserve(total);

    for (size_t i = 0; i < acl.rules.size(); i++) {
        const AclRuleSpec& r = acl.rules[i];
        uint16_t slot = 0;
        if (!r.in_port.empty()) {
            auto it = slot_of.find(r.in_port);
            if (it == slot_of.end())
                throw fail(r.loc, "in_port: '" + r.in_port + "' is not a port of this policy");
            slot = it->second;
        }
        struct xdpnet_acl_verdict verdict;
        std::memset(&verdict, 0, sizeof(verdict));
        verdict.rule = static_cast<uint32_t>(i);
        verdict.action = r.allow ? XDPNET_ACL_ALLOW : XDPNET_ACL_DENY;
        verdict.flags = r.stateful ? XDPNET_ACL_STATEFUL : 0;

        const auto sports = port_range_prefixes(r.sport_lo, r.sport_hi);
        const auto dports = port_range_prefixes(r.dport_lo, r.dport_hi);
        for (uint8_t family : families_of(r)) {
            struct xdpnet_acl_key base_mask, base_key;
            std::memset(&base_mask, 0, sizeof(base_mask));
            std::memset(&base_key, 0, sizeof(base_key));
            base_mask.family = 0xff;
            base_key.family = family;
            if (r.proto) {
                base_mask.proto = 0xff;
                base_key.proto = *r.proto;
            }
            if (!r.in_port.empty()) {
                base_mask.in_slot = 0xffff;
                base_key.in_slot = slot;
            }
            if (r.from_vlan) {
                base_mask.from_vlan = 0xffff;
                base_key.from_vlan = r.from_vlan;
            }
            if (r.to_vlan) {
                base_mask.to_vlan = 0xffff;
                base_key.to_vlan = r.to_vlan;
            }
            // A set prefix is of this family (families_of); an unset one
            // leaves its mask zero.
            const auto address = [&](const std::optional<IpPrefix>& p, uint8_t* mask, uint8_t* key) {
                if (!p)
                    return;
                prefix_mask(mask, p->len);
                for (size_t b = 0; b < 16; b++)
                    key[b] = p->addr[b] & mask[b];
            };
            address(r.from, base_mask.src, base_key.src);
            address(r.to, base_mask.dst, base_key.dst);

            for (const auto& [sv, sm] : sports) {
                for (const auto& [dv, dm] : dports) {
                    struct xdpnet_acl_key mask = base_mask, key = base_key;
                    mask.sport = htons(sm);
                    mask.dport = htons(dm);
                    key.sport = htons(sv) & mask.sport;
                    key.dport = htons(dv) & mask.dport;
                    const auto [it, fresh] =
                        shape_of.try_emplace(bytes_of(mask), static_cast<uint32_t>(shapes.size()));
                    if (fresh)
                        shapes.push_back(Shape{mask, static_cast<uint32_t>(i)});
                    raw.push_back(Raw{key, verdict, it->second});
                }
            }
        }
    }

    if (shapes.size() > XDPNET_ACL_MAX_SHAPES) {
        // Name the rule that needed the first shape too many.
        size_t culprit = 0;
        for (const Raw& e : raw)
            if (e.shape == XDPNET_ACL_MAX_SHAPES) {
                culprit = e.verdict.rule;
                break;
            }
        throw fail(acl.loc,
                   "acl: the rules need " + std::to_string(shapes.size()) + " shapes; the datapath searches at most " +
                       std::to_string(XDPNET_ACL_MAX_SHAPES) + " (" +
                       rule_label(culprit, acl.rules[culprit]) + " is the first to need shape " +
                       std::to_string(XDPNET_ACL_MAX_SHAPES + 1) +
                       "). A shape is one combination of what rules match: which of proto, in_port, "
                       "from_vlan, to_vlan are set, the prefix lengths of from and to, and the prefix "
                       "lengths of the ports. Shapes multiply because each different prefix length is its "
                       "own shape, each port range is split into aligned prefixes and each of their lengths is "
                       "another shape (1024-65535 is 6 prefixes of 6 lengths), and every combination of "
                       "set fields is another. Use fewer "
                       "distinct prefix lengths, single ports or power-of-two-aligned port ranges, and the "
                       "same fields across rules");
    }

    // Search order: by best rule, ties by first appearance. Entries are made
    // in rule order, so this is appearance order already; sorted anyway so
    // the invariant does not depend on that.
    std::vector<uint32_t> order(shapes.size());
    for (uint32_t s = 0; s < shapes.size(); s++)
        order[s] = s;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return shapes[a].best < shapes[b].best; });
    std::vector<uint8_t> number(shapes.size());
    for (size_t n = 0; n < order.size(); n++) {
        number[order[n]] = static_cast<uint8_t>(n);
        struct xdpnet_acl_shape sh;
        std::memset(&sh, 0, sizeof(sh));
        sh.mask = shapes[order[n]].mask;
        sh.best = shapes[order[n]].best;
        img.shapes.push_back(sh);
    }

    // First match wins: of entries with the same key, the earliest rule's.
    std::unordered_set<KeyBytes, KeyHash> seen;
    seen.reserve(raw.size());
    img.entries.reserve(raw.size());
    for (Raw& e : raw) {
        e.key.shape = number[e.shape];
        if (seen.insert(bytes_of(e.key)).second)
            img.entries.emplace_back(e.key, e.verdict);
    }

    img.config.shapes = static_cast<uint32_t>(img.shapes.size());
    img.config.default_action = acl.default_allow ? XDPNET_ACL_ALLOW : XDPNET_ACL_DENY;
    img.config.stateful = std::any_of(acl.rules.begin(), acl.rules.end(),
                                      [](const AclRuleSpec& r) { return r.stateful; });
    const auto secs = [](uint64_t ns) { return static_cast<uint32_t>(std::max<uint64_t>(1, ns / kSecondNs)); };
    img.config.timeout_s[XDPNET_TO_TCP_SYN] = secs(acl.timeouts.tcp_syn_ns);
    img.config.timeout_s[XDPNET_TO_TCP_EST] = secs(acl.timeouts.tcp_established_ns);
    img.config.timeout_s[XDPNET_TO_TCP_CLOSING] = secs(acl.timeouts.tcp_closing_ns);
    img.config.timeout_s[XDPNET_TO_UDP] = secs(acl.timeouts.udp_ns);
    img.config.timeout_s[XDPNET_TO_ICMP] = secs(acl.timeouts.icmp_ns);
    return img;
}

// ---------------------------------------------------------------- shadowing

namespace {

/// Outer covers inner: every packet inner matches, outer matches too. Both
/// unset ("any") is covered; a set inner under an unset outer is covered; a
/// /0 outer covers an unset inner of its family (the family is compared by
/// the caller).
bool covers(const std::optional<IpPrefix>& outer, const std::optional<IpPrefix>& inner) {
    if (!outer)
        return true;
    if (!inner)
        return outer->len == 0;
    return outer->contains(*inner);
}

bool covers(const AclRuleSpec& a, const AclRuleSpec& b) {
    return (a.family == 0 || a.family == b.family) && (!a.proto || a.proto == b.proto) &&
           (a.in_port.empty() || a.in_port == b.in_port) && (!a.from_vlan || a.from_vlan == b.from_vlan) &&
           (!a.to_vlan || a.to_vlan == b.to_vlan) && covers(a.from, b.from) && covers(a.to, b.to) &&
           a.sport_lo <= b.sport_lo && b.sport_hi <= a.sport_hi && a.dport_lo <= b.dport_lo &&
           b.dport_hi <= a.dport_hi;
}

} // namespace

std::vector<Diagnostic> acl_shadow_warnings(const AclSpec& acl) {
    // A rule A can hide a later rule B only if each of A's exact-valued fields
    // (family, proto, in_port, from_vlan, to_vlan) is unset or equal to B's.
    // Rules are bucketed by those five values; for B only the (at most 32)
    // buckets of its generalisations (each field B sets, kept or made "any")
    // can hold a rule that hides it. Inside a bucket the prefixes and port
    // ranges are compared rule by rule, earliest first, so the first rule
    // found is the earliest hider of that bucket. To stay linear on big rule
    // sets (10,000 rules of one bucket would be 50 million comparisons), each
    // rule gets a budget of kBudget comparisons; past it, its remaining
    // candidates are not examined and a hidden rule may go unreported. The
    // warning is advice, never a verdict, so this trades completeness on huge
    // single-bucket ACLs for a check that always runs in milliseconds.
    constexpr size_t kBudget = 1024;
    using Bucket = std::tuple<uint8_t, int, std::string, uint16_t, uint16_t>;
    std::map<Bucket, std::vector<size_t>> buckets;
    std::vector<Diagnostic> out;
    for (size_t j = 0; j < acl.rules.size(); j++) {
        const AclRuleSpec& b = acl.rules[j];
        const int proto = b.proto ? *b.proto : -1;
        size_t budget = kBudget;
        std::optional<size_t> hider;
        for (unsigned g = 0; g < 32 && budget; g++) {
            // Bit k set: field k generalised to "any"; skip the ones already any.
            if (((g & 1) && !b.family) || ((g & 2) && proto < 0) || ((g & 4) && b.in_port.empty()) ||
                ((g & 8) && !b.from_vlan) || ((g & 16) && !b.to_vlan))
                continue;
            const Bucket key{(g & 1) ? uint8_t{0} : b.family, (g & 2) ? -1 : proto,
                             (g & 4) ? std::string() : b.in_port, (g & 8) ? uint16_t{0} : b.from_vlan,
                             (g & 16) ? uint16_t{0} : b.to_vlan};
            auto it = buckets.find(key);
            if (it == buckets.end())
                continue;
            for (size_t i : it->second) {
                if (hider && i >= *hider)
                    break; // an earlier hider is already known
                if (!budget)
                    break;
                budget--;
                if (covers(acl.rules[i], b)) {
                    hider = i;
                    break;
                }
            }
        }
        if (hider)
            out.push_back(Diagnostic{b.loc, rule_label(j, b) + " is never reached: " +
                                                rule_label(*hider, acl.rules[*hider]) +
                                                " matches all its packets"});
        buckets[Bucket{b.family, proto, b.in_port, b.from_vlan, b.to_vlan}].push_back(j);
    }
    return out;
}

} // namespace xdpnet::policy
