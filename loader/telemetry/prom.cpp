#include "telemetry/prom.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

namespace xdpnet::telemetry {
namespace {

bool is_letter_or_underscore(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// [first][rest]* where first = letters, '_' (and ':' when colon_ok), rest adds digits.
bool valid_name(std::string_view name, bool colon_ok) {
    if (name.empty())
        return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool ok = is_letter_or_underscore(c) || (colon_ok && c == ':') || (i > 0 && is_digit(c));
        if (!ok)
            return false;
    }
    return true;
}

// Backslash and newline always; the double quote only inside label values.
std::string escape(std::string_view v, bool quote) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quote && c == '"')
            out += "\\\"";
        else
            out += c;
    }
    return out;
}

} // namespace

bool prom_valid_metric_name(std::string_view name) {
    return valid_name(name, true);
}

bool prom_valid_label_name(std::string_view name) {
    return valid_name(name, false);
}

std::string prom_escape_label_value(std::string_view v) {
    return escape(v, true);
}

std::string prom_escape_help(std::string_view v) {
    return escape(v, false);
}

std::string prom_format_double(double v) {
    // The text format spells the specials as Go's ParseFloat reads them.
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    // Counters and gauges are mostly whole numbers: print those plainly
    // ("1234567", never "1.234567e+06") while every such value is exact in a
    // double (|v| <= 2^53). -0.0 becomes "0": the sign of zero means nothing here.
    constexpr double kExactLimit = 9007199254740992.0;   // 2^53
    if (std::trunc(v) == v && std::fabs(v) <= kExactLimit)
        return std::to_string(static_cast<int64_t>(v));
    // Otherwise the shortest text that parses back to the same double
    // (std::to_chars without a format: fixed or scientific, whichever is shorter).
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof(buf), v);
    if (res.ec != std::errc())
        throw std::logic_error("to_chars failed for a double");
    return std::string(buf, res.ptr);
}

void PromWriter::family(std::string_view name, std::string_view help, std::string_view type) {
    const std::string n(name);
    if (!prom_valid_metric_name(name))
        throw std::invalid_argument("invalid metric name \"" + n + "\"");
    if (type != "counter" && type != "gauge" && type != "untyped")
        throw std::invalid_argument("metric " + n + ": type \"" + std::string(type) +
                                    "\" is not counter, gauge or untyped");
    if (type == "counter" && !name.ends_with("_total"))
        throw std::invalid_argument("counter " + n + " must end in _total");
    if (!declared_.insert(n).second)
        throw std::invalid_argument("metric family " + n + " declared twice");
    out_ += "# HELP " + n + " " + prom_escape_help(help) + "\n";
    out_ += "# TYPE " + n + " " + std::string(type) + "\n";
    current_ = n;
}

void PromWriter::sample(const Labels& labels, double value) {
    write_sample(labels, prom_format_double(value));
}

void PromWriter::sample(const Labels& labels, uint64_t value) {
    write_sample(labels, std::to_string(value));
}

// name{l1="v1",l2="v2"} value  (no braces without labels, no timestamp).
void PromWriter::write_sample(const Labels& labels, std::string_view value) {
    if (current_.empty())
        throw std::logic_error("Prometheus sample before any metric family");
    std::string line = current_;
    std::set<std::string_view> seen;
    if (!labels.empty()) {
        line += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
            const auto& [k, v] = labels[i];
            if (!prom_valid_label_name(k))
                throw std::invalid_argument("metric " + current_ + ": invalid label name \"" +
                                            k + "\"");
            if (!seen.insert(k).second)
                throw std::invalid_argument("metric " + current_ + ": label " + k +
                                            " given twice");
            if (i > 0)
                line += ',';
            line += k + "=\"" + prom_escape_label_value(v) + '"';
        }
        line += '}';
    }
    line += ' ';
    line += value;
    line += '\n';
    out_ += line;   // only whole, valid lines reach the exposition
}

} // namespace xdpnet::telemetry
