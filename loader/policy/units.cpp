// Rates, sizes and packet rates as tc writes them ("100mbit", "64kb",
// "200kpps"), and DSCP code points ("46", "ef", "af41").
#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/detail.h"
#include "policy/policy.h"

namespace xdpnet::policy {

namespace {

using Units = std::vector<std::pair<std::string_view, uint64_t>>;

const Units kRateUnits = {
    {"", 1},
    {"bit", 1},
    {"kbit", 1000ull},
    {"mbit", 1000000ull},
    {"gbit", 1000000000ull},
    {"tbit", 1000000000000ull},
    // tc's "bps" family is BYTES per second.
    {"bps", 8},
    {"kbps", 8000ull},
    {"mbps", 8000000ull},
    {"gbps", 8000000000ull},
    {"tbps", 8000000000000ull},
};
const Units kSizeUnits = {
    {"", 1}, {"b", 1}, {"k", 1ull << 10}, {"kb", 1ull << 10}, {"m", 1ull << 20}, {"mb", 1ull << 20},
    {"g", 1ull << 30}, {"gb", 1ull << 30},
};
const Units kPpsUnits = {{"", 1}, {"pps", 1}, {"kpps", 1000ull}, {"mpps", 1000000ull}};

/// What one kind of quantity is called in messages.
struct Kind {
    std::string_view noun;      // "rate"
    std::string_view whole;     // "bits per second": what a value must be a whole number of
    std::string_view example;   // "100mbit"
    std::string_view expected;  // the unit list
    const Units& units;
};

const Kind kRate = {"rate", "bits per second", "100mbit",
                    "bit, kbit, mbit, gbit, tbit (bits/s) or bps, kbps, mbps, gbps, tbps (bytes/s, as in tc)",
                    kRateUnits};
const Kind kSize = {"size", "bytes", "64kb", "b, kb (or k), mb (or m), gb (or g); 1kb = 1024 bytes",
                    kSizeUnits};
const Kind kPps = {"packet rate", "packets per second", "200kpps", "pps, kpps, mpps", kPpsUnits};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// A unit of another kind the author probably confused this one with.
std::string hint(const Kind& k, const std::string& number, const std::string& unit) {
    const auto in = [&](const Units& units) {
        return std::any_of(units.begin(), units.end(), [&](const auto& u) { return u.first == unit; });
    };
    if (&k.units == &kRateUnits && in(kSizeUnits)) {
        const std::string prefix = unit.substr(0, 1) == "b" ? "" : unit.substr(0, 1);
        return " ('" + unit + "' is a size in bytes; a rate is bits per second: did you mean " + number +
               prefix + "bit?)";
    }
    if (&k.units == &kSizeUnits && in(kRateUnits))
        return " ('" + unit + "' is a rate; a size is in bytes, like 64kb)";
    if (&k.units == &kRateUnits && in(kPpsUnits))
        return " ('" + unit + "' counts packets; use the 'pps' key for packet rates)";
    if (unit.find('/') != std::string::npos)
        return " (write the unit without '/s': rates are per second already)";
    return "";
}

/// Parses "<digits>[.<digits>]<unit>" (case-insensitive) into a whole number
/// of the kind's base unit. Throws std::invalid_argument with a reason.
uint64_t parse_scaled(const std::string& text, const Kind& k) {
    const std::string q = "'" + text + "'";
    if (text.empty())
        throw std::invalid_argument(std::string("the ") + std::string(k.noun) + " is empty; write it like " +
                                    std::string(k.example));
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); }))
        throw std::invalid_argument(q + " contains a space; write the number and its unit together, like " +
                                    std::string(k.example));
    if (text[0] == '-')
        throw std::invalid_argument(q + " is negative; a " + std::string(k.noun) + " is a positive number");
    const std::string s = lower(text);
    size_t pos = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])))
        pos++;
    const std::string whole_text = s.substr(0, pos);
    std::string frac_text;
    if (pos < s.size() && s[pos] == '.') {
        const size_t start = ++pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])))
            pos++;
        frac_text = s.substr(start, pos - start);
        if (frac_text.empty() || whole_text.empty())
            throw std::invalid_argument(q + " is not a number with a unit; write it like " +
                                        std::string(k.example));
    }
    if (whole_text.empty())
        throw std::invalid_argument(q + " does not start with a number; write it like " +
                                    std::string(k.example));
    const std::string unit = s.substr(pos);
    const auto u = std::find_if(k.units.begin(), k.units.end(), [&](const auto& e) { return e.first == unit; });
    if (u == k.units.end())
        throw std::invalid_argument(q + " has an unknown unit '" + unit + "'; expected a bare number or " +
                                    std::string(k.expected) + hint(k, s.substr(0, pos), unit));

    // Exact arithmetic: whole x scale + frac x scale / 10^digits, which must
    // come out whole. Trailing zeros of the fraction change nothing.
    while (!frac_text.empty() && frac_text.back() == '0')
        frac_text.pop_back();
    if (frac_text.size() > 18)
        throw std::invalid_argument(q + " has too many decimals");
    unsigned __int128 whole = 0;
    for (char c : whole_text) {
        whole = whole * 10 + static_cast<unsigned>(c - '0');
        if (whole > UINT64_MAX)
            throw std::invalid_argument(q + " is too large");
    }
    unsigned __int128 value = whole * u->second;
    if (!frac_text.empty()) {
        unsigned __int128 pow10 = 1;
        for (size_t i = 0; i < frac_text.size(); i++)
            pow10 *= 10;
        const unsigned __int128 frac = static_cast<unsigned __int128>(*detail::parse_decimal(frac_text)) * u->second;
        if (frac % pow10 != 0)
            throw std::invalid_argument(q + " is not a whole number of " + std::string(k.whole));
        value += frac / pow10;
    }
    if (value > UINT64_MAX)
        throw std::invalid_argument(q + " is too large");
    if (value == 0)
        throw std::invalid_argument(q + " is zero; a " + std::string(k.noun) + " of 0 admits nothing");
    return static_cast<uint64_t>(value);
}

} // namespace

uint64_t parse_rate_bps(const std::string& text) { return parse_scaled(text, kRate); }

uint64_t parse_size_bytes(const std::string& text) { return parse_scaled(text, kSize); }

uint64_t parse_pps(const std::string& text) { return parse_scaled(text, kPps); }

uint8_t parse_dscp(const std::string& text) {
    const std::string names = "use 0..63 or a name: be (or default), le, cs0..cs7, af11..af43, ef, va";
    if (text.empty())
        throw std::invalid_argument("the DSCP code point is empty; " + names);
    const std::string s = lower(text);
    if (auto v = detail::parse_decimal(s)) {
        if (*v > 63)
            throw std::invalid_argument("DSCP " + text + " is out of range; allowed: 0..63 (6 bits)");
        return static_cast<uint8_t>(*v);
    }
    if (s == "be" || s == "default")
        return 0;
    if (s == "le")
        return 1; // RFC 8622, lower effort
    if (s == "ef")
        return 46;
    if (s == "va")
        return 44; // RFC 5865, voice admit
    if (s.size() == 3 && s.compare(0, 2, "cs") == 0 && s[2] >= '0' && s[2] <= '7')
        return static_cast<uint8_t>(8 * (s[2] - '0'));
    if (s.size() == 4 && s.compare(0, 2, "af") == 0 && s[2] >= '1' && s[2] <= '4' && s[3] >= '1' &&
        s[3] <= '3')
        return static_cast<uint8_t>(8 * (s[2] - '0') + 2 * (s[3] - '0'));
    if (s.size() > 2 && (s.compare(0, 2, "af") == 0 || s.compare(0, 2, "cs") == 0))
        throw std::invalid_argument("'" + text + "' is not a DSCP name: " +
                                    (s[0] == 'a' ? "AF classes are af11..af43 (class 1-4, drop precedence 1-3)"
                                                 : "class selectors are cs0..cs7") +
                                    "; " + names);
    throw std::invalid_argument("'" + text + "' is not a DSCP code point; " + names);
}

} // namespace xdpnet::policy
