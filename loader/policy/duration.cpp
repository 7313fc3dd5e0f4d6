// Durations: "250ms", "300s", "5m", "2h", "1d" or bare seconds.
#include <stdexcept>
#include <string_view>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

uint64_t parse_duration_ns(const std::string& text) {
    const auto bad = [&] {
        return std::invalid_argument("'" + text +
                                     "' is not a duration; expected a whole number with an "
                                     "optional unit ms, s, m, h or d (e.g. 300s, 5m)");
    };
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        digits++;
    const auto number = detail::parse_decimal(std::string_view(text).substr(0, digits));
    if (!number)
        throw bad();
    const std::string_view unit = std::string_view(text).substr(digits);
    uint64_t scale;
    if (unit.empty() || unit == "s")
        scale = 1000000000ull;
    else if (unit == "ms")
        scale = 1000000ull;
    else if (unit == "m")
        scale = 60ull * 1000000000ull;
    else if (unit == "h")
        scale = 3600ull * 1000000000ull;
    else if (unit == "d")
        scale = 86400ull * 1000000000ull;
    else
        throw bad();
    if (*number > UINT64_MAX / scale)
        throw std::invalid_argument("duration '" + text + "' is too large");
    return *number * scale;
}

} // namespace xdpnet::policy
