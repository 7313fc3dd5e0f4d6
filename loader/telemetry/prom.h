// Prometheus text exposition format 0.0.4: a writer that validates names,
// escapes text and formats numbers the way Prometheus parses them.
//
// Naming choice: a family's name is exactly the name its samples carry; no
// suffix is ever added. Counters must therefore be declared with their
// "_total" suffix (family("xdpnet_rx_packets_total", ..., "counter")), which
// is what format 0.0.4 writes on the # TYPE line and what the Prometheus
// naming conventions require; a counter family not ending in "_total" is
// rejected. (OpenMetrics strips "_total" from the family name; 0.0.4 does not.)
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xdpnet::telemetry {

/// Builds one exposition (the body of a /metrics response, Content-Type
/// "text/plain; version=0.0.4"). Families and samples appear in call order.
class PromWriter {
  public:
    /// Label name/value pairs of one sample, written in this order.
    using Labels = std::vector<std::pair<std::string, std::string>>;

    /// Start a metric family: writes # HELP and # TYPE once (type: counter|gauge|untyped).
    /// Throws std::invalid_argument for a bad name or type, a counter not
    /// ending in "_total", or a name already declared in this exposition.
    void family(std::string_view name, std::string_view help, std::string_view type);

    /// One sample of the current family, named exactly as the family. Throws
    /// std::invalid_argument for a bad or repeated label name, and
    /// std::logic_error when no family was started.
    void sample(const Labels& labels, double value);
    /// Same, for an exact integer value (full uint64 range, no rounding).
    void sample(const Labels& labels, uint64_t value);

    /// The exposition so far; every line ends with '\n'.
    std::string str() const { return out_; }

  private:
    void write_sample(const Labels& labels, std::string_view value);

    std::string out_;
    std::string current_;          // the family samples go to; "" before the first
    std::set<std::string, std::less<>> declared_;
};

/// True when name matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool prom_valid_metric_name(std::string_view name);
/// True when name matches [a-zA-Z_][a-zA-Z0-9_]*.
bool prom_valid_label_name(std::string_view name);
/// A sample value as Prometheus writes it: "NaN", "+Inf", "-Inf", integral
/// values up to 2^53 in magnitude without exponent or decimal point, anything
/// else in the shortest form that reads back to the same double.
std::string prom_format_double(double v);
/// A label value escaped for the text format: \ " and newline.
std::string prom_escape_label_value(std::string_view v);
/// HELP text escaped for the text format: \ and newline.
std::string prom_escape_help(std::string_view v);

} // namespace xdpnet::telemetry
