// VLAN list items ("10", "100-199") and their compact rendering.
#include <limits>
#include <stdexcept>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

namespace detail {

std::optional<uint64_t> parse_decimal(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    uint64_t value = 0;
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        const uint64_t digit = static_cast<uint64_t>(c - '0');
        if (value > (kMax - digit) / 10)
            value = kMax; // saturate; keep checking the rest are digits
        else
            value = value * 10 + digit;
    }
    return value;
}

std::string vlan_error(uint64_t vid) {
    if (vid == 0 || vid == 4095)
        return "VLAN " + std::to_string(vid) + " is reserved; allowed: 1..4094";
    if (vid > kVlanMax)
        return "VLAN " + std::to_string(vid) + " is out of range; allowed: 1..4094";
    return "";
}

} // namespace detail

VlanSet parse_vlan_item(const std::string& item) {
    const auto bad = [&] {
        return std::invalid_argument("'" + item +
                                     "' is not a VLAN ID or range; expected N or A-B with "
                                     "1 <= N <= 4094 (e.g. 10 or 100-199)");
    };
    const size_t dash = item.find('-');
    const std::string_view text(item);
    const auto lo = detail::parse_decimal(text.substr(0, dash));
    if (!lo)
        throw bad();
    uint64_t hi = *lo;
    if (dash != std::string::npos) {
        const auto h = detail::parse_decimal(text.substr(dash + 1));
        if (!h)
            throw bad(); // also catches a second '-' and a missing end
        hi = *h;
    }
    for (uint64_t v : {*lo, hi}) {
        if (auto err = detail::vlan_error(v); !err.empty())
            throw std::invalid_argument(err);
    }
    if (hi < *lo)
        throw std::invalid_argument("range " + item + " is reversed; write it low-high (" +
                                    std::to_string(hi) + "-" + std::to_string(*lo) + ")");
    VlanSet set;
    for (uint64_t v = *lo; v <= hi; v++)
        set.set(v);
    return set;
}

std::string format_vlans(const VlanSet& set) {
    std::string out;
    size_t v = 0;
    while (v < set.size()) {
        if (!set.test(v)) {
            v++;
            continue;
        }
        size_t end = v;
        while (end + 1 < set.size() && set.test(end + 1))
            end++;
        if (!out.empty())
            out += ',';
        out += std::to_string(v);
        if (end > v)
            out += "-" + std::to_string(end);
        v = end + 1;
    }
    return out;
}

} // namespace xdpnet::policy
