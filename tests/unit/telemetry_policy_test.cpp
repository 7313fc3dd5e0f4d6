// telemetry: flow accounting and the exporters (Prometheus, IPFIX, JSON
// lines). The defaults, every accepted form, every rejection with its line
// (and column), the timeout warning, and the socket address syntax the
// policy shares with the daemon.
#include <gtest/gtest.h>

#include <algorithm>

#include "policy/policy.h"
#include "policy_helpers.h"
#include "telemetry/http.h"

namespace xdpnet::policy {
namespace {

constexpr uint64_t kS = 1000000000ull;
const std::string kDir = XDPNET_TEST_POLICIES;

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// Lines 1..2.
const std::string kPorts = yaml({"ports:", "  - { name: vm1, mode: access, vlan: 10 }"});

/// "telemetry:" on line 3, then `rest` (its keys, 2 spaces in) from line 4.
std::string tele(std::initializer_list<std::string> rest) { return kPorts + "telemetry:\n" + yaml(rest); }

/// The telemetry of an accepted policy.
TelemetrySpec spec_of(const std::string& text) { return accepts(text).telemetry; }

void expect_defaults(const TelemetrySpec& t) {
    EXPECT_TRUE(t.flows);
    EXPECT_EQ(t.flow_size, 65536u);
    EXPECT_EQ(t.idle_timeout_ns, 30 * kS);
    EXPECT_EQ(t.active_timeout_ns, 60 * kS);
    EXPECT_EQ(t.prometheus_listen, "127.0.0.1:9477");
    EXPECT_FALSE(t.ipfix);
    EXPECT_FALSE(t.jsonl);
}

// ---------------------------------------------------------------- accepted

TEST(TelemetryPolicy, DefaultsWhenAbsent) {
    const Policy p = accepts(kPorts);
    expect_defaults(p.telemetry);
    EXPECT_EQ(p.telemetry.loc.line, 0);
    EXPECT_TRUE(p.warnings.empty());
}

TEST(TelemetryPolicy, EmptySectionIsAllDefaults) {
    TelemetrySpec t = spec_of(tele({}));
    expect_defaults(t);
    EXPECT_EQ(t.loc.file, "t.yaml");
    EXPECT_EQ(t.loc.line, 3);
    EXPECT_EQ(t.loc.column, 1);
    expect_defaults(spec_of(kPorts + "telemetry: {}\n"));
    t = spec_of(tele({"  flows: {}", "  prometheus: {}"}));
    expect_defaults(t);
}

TEST(TelemetryPolicy, IssueExampleFromFile) {
    const std::string path = kDir + "/telemetry.yaml";
    const Policy p = load_policy_file(path);
    const TelemetrySpec& t = p.telemetry;
    EXPECT_EQ(t.loc.file, path);
    EXPECT_EQ(t.loc.line, 5);
    EXPECT_TRUE(t.flows);
    EXPECT_EQ(t.flow_size, 262144u);
    EXPECT_EQ(t.idle_timeout_ns, 30 * kS);
    EXPECT_EQ(t.active_timeout_ns, 60 * kS);
    EXPECT_EQ(t.prometheus_listen, "127.0.0.1:9477");
    ASSERT_TRUE(t.ipfix);
    EXPECT_EQ(t.ipfix->collector, "127.0.0.1:4739");
    EXPECT_EQ(t.ipfix->transport, IpfixSpec::Transport::Udp);
    EXPECT_EQ(t.ipfix->template_refresh_ns, 60 * kS);
    EXPECT_EQ(t.ipfix->observation_domain, 1u);
    EXPECT_EQ(t.ipfix->loc.file, path);
    EXPECT_EQ(t.ipfix->loc.line, 8);
    EXPECT_EQ(t.ipfix->loc.column, 3);
    EXPECT_EQ(t.jsonl, "/var/log/xdpnet/flows.jsonl");
    EXPECT_TRUE(p.warnings.empty()) << PolicyError(p.warnings).what();
}

TEST(TelemetryPolicy, EachFlowsKeyAlone) {
    TelemetrySpec t = spec_of(tele({"  flows: { size: 100000 }"})); // not a power of two: fine
    EXPECT_EQ(t.flow_size, 100000u);
    EXPECT_EQ(t.idle_timeout_ns, 30 * kS);
    EXPECT_EQ(t.active_timeout_ns, 60 * kS);
    t = spec_of(tele({"  flows: { idle_timeout: 1500ms }"}));
    EXPECT_EQ(t.idle_timeout_ns, 1500000000u);
    EXPECT_EQ(t.flow_size, 65536u);
    EXPECT_EQ(t.active_timeout_ns, 60 * kS);
    t = spec_of(tele({"  flows:", "    active_timeout: 2m"}));
    EXPECT_EQ(t.active_timeout_ns, 120 * kS);
    EXPECT_EQ(t.idle_timeout_ns, 30 * kS);
    EXPECT_TRUE(t.flows);
}

TEST(TelemetryPolicy, FlowsBounds) {
    TelemetrySpec t = spec_of(tele({"  flows: { size: 1024, idle_timeout: 1s, active_timeout: 1s }"}));
    EXPECT_EQ(t.flow_size, 1024u);
    EXPECT_EQ(t.idle_timeout_ns, kS);
    EXPECT_EQ(t.active_timeout_ns, kS);
    t = spec_of(tele({"  flows: { size: 16777216, idle_timeout: 1h, active_timeout: 24h }"}));
    EXPECT_EQ(t.flow_size, 16777216u);
    EXPECT_EQ(t.idle_timeout_ns, 3600 * kS);
    EXPECT_EQ(t.active_timeout_ns, 86400 * kS);
    t = spec_of(tele({"  flows: { idle_timeout: 3600, active_timeout: 1d }"})); // bare seconds, days
    EXPECT_EQ(t.idle_timeout_ns, 3600 * kS);
    EXPECT_EQ(t.active_timeout_ns, 86400 * kS);
    t = spec_of(tele({"  flows: { idle_timeout: \"60m\", active_timeout: \"1440m\" }"})); // quoted durations
    EXPECT_EQ(t.idle_timeout_ns, 3600 * kS);
    EXPECT_EQ(t.active_timeout_ns, 86400 * kS);
}

TEST(TelemetryPolicy, FlowsSwitch) {
    for (const char* off : {"off", "false", "Off", "OFF", "False", "FALSE"}) {
        const TelemetrySpec t = spec_of(tele({std::string("  flows: ") + off}));
        EXPECT_FALSE(t.flows) << off;
        EXPECT_EQ(t.prometheus_listen, "127.0.0.1:9477") << "metrics do not need flows";
    }
    for (const char* on : {"on", "true", "On", "TRUE"})
        expect_defaults(spec_of(tele({std::string("  flows: ") + on})));
}

TEST(TelemetryPolicy, PrometheusForms) {
    EXPECT_EQ(spec_of(tele({"  prometheus: { listen: \"0.0.0.0:9100\" }"})).prometheus_listen, "0.0.0.0:9100");
    EXPECT_EQ(spec_of(tele({"  prometheus: { listen: 10.0.0.1:9477 }"})).prometheus_listen, "10.0.0.1:9477");
    EXPECT_EQ(spec_of(tele({"  prometheus:", "    listen: \"[::1]:9477\""})).prometheus_listen, "[::1]:9477");
    EXPECT_EQ(spec_of(tele({"  prometheus: { listen: \"[::]:0\" }"})).prometheus_listen, "[::]:0")
        << "port 0: the kernel picks one";
    EXPECT_EQ(spec_of(tele({"  prometheus: { listen: \"127.0.0.1:65535\" }"})).prometheus_listen,
              "127.0.0.1:65535");
    for (const char* off : {"off", "false", "OFF"})
        EXPECT_FALSE(spec_of(tele({std::string("  prometheus: ") + off})).prometheus_listen) << off;
    EXPECT_EQ(spec_of(tele({"  prometheus: on"})).prometheus_listen, "127.0.0.1:9477");
    EXPECT_EQ(spec_of(tele({"  prometheus: true"})).prometheus_listen, "127.0.0.1:9477");
}

TEST(TelemetryPolicy, IpfixForms) {
    TelemetrySpec t = spec_of(tele({"  ipfix: { collector: \"192.0.2.10:4739\" }"}));
    ASSERT_TRUE(t.ipfix);
    EXPECT_EQ(t.ipfix->collector, "192.0.2.10:4739");
    EXPECT_EQ(t.ipfix->transport, IpfixSpec::Transport::Udp);
    EXPECT_EQ(t.ipfix->template_refresh_ns, 60 * kS);
    EXPECT_EQ(t.ipfix->observation_domain, 1u);
    EXPECT_EQ(t.ipfix->loc.line, 4);

    t = spec_of(tele({"  ipfix:", "    collector: \"[fd00::10]:4739\"", "    transport: tcp",
                      "    template_refresh: 1h", "    observation_domain: 4294967295"}));
    ASSERT_TRUE(t.ipfix);
    EXPECT_EQ(t.ipfix->collector, "[fd00::10]:4739");
    EXPECT_EQ(t.ipfix->transport, IpfixSpec::Transport::Tcp);
    EXPECT_EQ(t.ipfix->template_refresh_ns, 3600 * kS);
    EXPECT_EQ(t.ipfix->observation_domain, 4294967295u);

    t = spec_of(tele({"  ipfix: { collector: 10.1.1.1:1, transport: \"udp\", template_refresh: 1s, "
                      "observation_domain: 0 }"}));
    ASSERT_TRUE(t.ipfix);
    EXPECT_EQ(t.ipfix->collector, "10.1.1.1:1");
    EXPECT_EQ(t.ipfix->template_refresh_ns, kS);
    EXPECT_EQ(t.ipfix->observation_domain, 0u);

    EXPECT_FALSE(spec_of(tele({"  ipfix: off"})).ipfix);
    EXPECT_FALSE(spec_of(tele({"  ipfix: false"})).ipfix);
}

TEST(TelemetryPolicy, JsonlForms) {
    EXPECT_EQ(spec_of(tele({"  jsonl: /var/log/xdpnet/flows.jsonl"})).jsonl, "/var/log/xdpnet/flows.jsonl");
    EXPECT_EQ(spec_of(tele({"  jsonl: \"/tmp/a b.jsonl\""})).jsonl, "/tmp/a b.jsonl");
    EXPECT_EQ(spec_of(tele({"  jsonl: \"-\""})).jsonl, "-");
    EXPECT_EQ(spec_of(tele({"  jsonl: '-'"})).jsonl, "-");
    EXPECT_FALSE(spec_of(tele({"  jsonl: off"})).jsonl);
}

TEST(TelemetryPolicy, SectionMayComeFirst) {
    const TelemetrySpec t = spec_of(yaml({"telemetry:", "  jsonl: \"-\"", "  flows: { size: 2048 }"}) + kPorts);
    EXPECT_EQ(t.loc.line, 1);
    EXPECT_EQ(t.jsonl, "-");
    EXPECT_EQ(t.flow_size, 2048u);
}

// ---------------------------------------------------------------- the timeout warning

TEST(TelemetryPolicy, ActiveShorterThanIdleIsAWarning) {
    const Policy p = accepts(tele({"  flows: { idle_timeout: 2m, active_timeout: 30s }"}));
    ASSERT_EQ(p.warnings.size(), 1u);
    const Diagnostic& w = p.warnings[0];
    EXPECT_EQ(w.loc.file, "t.yaml");
    EXPECT_EQ(w.loc.line, 4);
    EXPECT_EQ(w.loc.column, 46); // the active_timeout value
    EXPECT_EQ(w.reason, "flows.active_timeout (30s) is shorter than idle_timeout (2m): a flow that goes idle is "
                        "exported at the active timeout first, and ends only when the idle timeout passes; set "
                        "active_timeout to at least idle_timeout");
    EXPECT_EQ(p.telemetry.idle_timeout_ns, 120 * kS) << "only a warning: the values stand";
    EXPECT_EQ(p.telemetry.active_timeout_ns, 30 * kS);
}

TEST(TelemetryPolicy, WarningAgainstADefaultTimeout) {
    // idle_timeout above the default active_timeout (60s): at idle_timeout.
    Policy p = accepts(tele({"  flows:", "    idle_timeout: 5m"}));
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_EQ(p.warnings[0].loc.line, 5);
    EXPECT_EQ(p.warnings[0].loc.column, 19);
    EXPECT_HAS(p.warnings[0].reason, "flows.active_timeout (60s, the default) is shorter than idle_timeout (5m)");
    // active_timeout below the default idle_timeout (30s): at active_timeout.
    p = accepts(tele({"  flows:", "    active_timeout: 10s"}));
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_EQ(p.warnings[0].loc.line, 5);
    EXPECT_HAS(p.warnings[0].reason, "flows.active_timeout (10s) is shorter than idle_timeout (30s, the default)");
}

TEST(TelemetryPolicy, NoWarningWhenActiveIsAtLeastIdle) {
    EXPECT_TRUE(accepts(tele({"  flows: { idle_timeout: 45s, active_timeout: 45s }"})).warnings.empty());
    EXPECT_TRUE(accepts(tele({"  flows: { idle_timeout: 60s }"})).warnings.empty());
    EXPECT_TRUE(accepts(tele({"  flows: { active_timeout: 30s }"})).warnings.empty());
    EXPECT_TRUE(accepts(tele({"  flows: { idle_timeout: 1s, active_timeout: 24h }"})).warnings.empty());
    // Off: no timeouts to compare.
    EXPECT_TRUE(accepts(tele({"  flows: off"})).warnings.empty());
}

// ---------------------------------------------------------------- rejected

class TelemetryPolicyError : public testing::TestWithParam<ErrorCase> {};

TEST_P(TelemetryPolicyError, Reported) { expect_rejected(GetParam()); }

const std::string kCollector = "    collector: \"127.0.0.1:4739\""; // a valid collector line, block style

const ErrorCase kErrors[] = {
    // --- the section
    {"section_list", kPorts + "telemetry: [flows]\n", 3,
     "telemetry: expected a mapping of flows, prometheus, ipfix, jsonl; got a list", 12},
    {"section_scalar", kPorts + "telemetry: off\n", 3, "telemetry: expected a mapping of flows, prometheus, ipfix, "
                                                       "jsonl; got 'off'"},
    {"section_unknown_key", tele({"  flow: { size: 2048 }"}), 4,
     "unknown key 'flow' in telemetry; expected one of: flows, prometheus, ipfix, jsonl (did you mean 'flows'?)", 3},
    {"section_unknown_key_no_guess", tele({"  sflow: { collector: \"10.0.0.1:6343\" }", "  netflow: 9"}), 5,
     "unknown key 'netflow' in telemetry; expected one of: flows, prometheus, ipfix, jsonl", 3, 2},
    {"section_duplicate_key", tele({"  jsonl: \"-\"", "  jsonl: /tmp/f.jsonl"}), 5,
     "duplicate key 'jsonl' in telemetry; first set at line 4", 3},
    {"top_level_typo", kPorts + "telemetri: {}\n", 3, "unknown key 'telemetri' at the top level; expected one of: "
                                                      "instance, bridge, ports, static_fdb, networks, limits, acl, "
                                                      "telemetry (did you mean 'telemetry'?)", 1},
    // --- flows
    {"flows_null", tele({"  flows:"}), 4, "flows: has no value; write a mapping like { size: 262144", 3},
    {"flows_list", tele({"  flows: [size, 2048]"}), 4,
     "flows: expected a mapping like { size: 262144, idle_timeout: 30s, active_timeout: 60s } or off, got a list", 10},
    {"flows_number", tele({"  flows: 65536"}), 4, "flows: expected a mapping like { size: 262144", 10},
    {"flows_yes", tele({"  flows: yes"}), 4, "or off, got 'yes'"},
    {"flows_quoted_off", tele({"  flows: \"off\""}), 4, "flows: expected a mapping like { size: 262144, idle_timeout: "
                                                        "30s, active_timeout: 60s } or off, got the string \"off\" "
                                                        "(remove the quotes)"},
    {"flows_unknown_key", tele({"  flows: { size: 2048, idle: 30s }"}), 4,
     "unknown key 'idle' in telemetry.flows; expected one of: size, idle_timeout, active_timeout", 24},
    {"flows_unknown_key_typo", tele({"  flows:", "    sise: 2048"}), 5,
     "unknown key 'sise' in telemetry.flows; expected one of: size, idle_timeout, active_timeout (did you mean "
     "'size'?)", 5},
    {"flows_duplicate_key", tele({"  flows: { size: 2048, size: 4096 }"}), 4,
     "duplicate key 'size' in telemetry.flows; first set at line 4"},
    {"size_below", tele({"  flows: { size: 1023 }"}), 4, "flows.size: 1023 is out of range; allowed: 1024..16777216",
     18},
    {"size_above", tele({"  flows: { size: 16777217 }"}), 4,
     "flows.size: 16777217 is out of range; allowed: 1024..16777216"},
    {"size_zero", tele({"  flows: { size: 0 }"}), 4, "flows.size: 0 is out of range"},
    {"size_huge", tele({"  flows: { size: 99999999999999999999999 }"}), 4, "is out of range; allowed: 1024..16777216"},
    {"size_quoted", tele({"  flows: { size: \"2048\" }"}), 4,
     "flows.size: expected an integer 1024..16777216, got the string \"2048\" (remove the quotes)", 18},
    {"size_unit", tele({"  flows: { size: 64k }"}), 4, "flows.size: expected an integer 1024..16777216, got '64k'"},
    {"size_negative", tele({"  flows: { size: -2048 }"}), 4, "flows.size: expected an integer 1024..16777216, got "
                                                            "'-2048'"},
    {"size_fraction", tele({"  flows: { size: 2048.0 }"}), 4, "flows.size: expected an integer"},
    {"size_list", tele({"  flows: { size: [2048] }"}), 4, "flows.size: expected an integer 1024..16777216, got a list"},
    {"size_null", tele({"  flows:", "    size:"}), 5, "flows.size: has no value", 5},
    {"idle_zero", tele({"  flows: { idle_timeout: 0s }"}), 4, "flows.idle_timeout: 0s is out of range; allowed: "
                                                              "1s..1h", 26},
    {"idle_below", tele({"  flows: { idle_timeout: 999ms }"}), 4, "flows.idle_timeout: 999ms is out of range; "
                                                                  "allowed: 1s..1h"},
    {"idle_above", tele({"  flows: { idle_timeout: 3601s }"}), 4, "flows.idle_timeout: 3601s is out of range; "
                                                                  "allowed: 1s..1h"},
    {"idle_above_days", tele({"  flows: { idle_timeout: 1d }"}), 4, "flows.idle_timeout: 1d is out of range"},
    {"idle_not_duration", tele({"  flows: { idle_timeout: soon }"}), 4,
     "flows.idle_timeout: 'soon' is not a duration; expected a whole number with an optional unit ms, s, m, h or d",
     26},
    {"idle_fraction", tele({"  flows: { idle_timeout: 1.5s }"}), 4, "flows.idle_timeout: '1.5s' is not a duration"},
    {"idle_space", tele({"  flows: { idle_timeout: 30 s }"}), 4, "flows.idle_timeout: '30 s' is not a duration"},
    {"idle_negative", tele({"  flows: { idle_timeout: -30s }"}), 4, "flows.idle_timeout: '-30s' is not a duration"},
    {"idle_list", tele({"  flows: { idle_timeout: [30s] }"}), 4,
     "flows.idle_timeout: expected a duration like 30s, got a list", 26},
    {"idle_null", tele({"  flows:", "    idle_timeout:"}), 5, "flows.idle_timeout: has no value"},
    {"active_zero", tele({"  flows: { active_timeout: 0 }"}), 4, "flows.active_timeout: 0 is out of range; allowed: "
                                                                 "1s..24h", 28},
    {"active_below", tele({"  flows: { active_timeout: 500ms }"}), 4, "flows.active_timeout: 500ms is out of range"},
    {"active_above", tele({"  flows: { active_timeout: 86401s }"}), 4,
     "flows.active_timeout: 86401s is out of range; allowed: 1s..24h"},
    {"active_above_hours", tele({"  flows: { active_timeout: 25h }"}), 4, "flows.active_timeout: 25h is out of range"},
    {"active_not_duration", tele({"  flows: { active_timeout: 1min }"}), 4,
     "flows.active_timeout: '1min' is not a duration"},
    {"active_mapping", tele({"  flows: { active_timeout: { s: 60 } }"}), 4,
     "flows.active_timeout: expected a duration like 30s, got a mapping"},
    {"flows_all_wrong", tele({"  flows: { size: 1, idle_timeout: 0s, active_timeout: 2d }"}), 4,
     "flows.active_timeout: 2d is out of range", 0, 3},
    // --- prometheus
    {"prometheus_null", tele({"  prometheus:"}), 4,
     "prometheus: has no value; write a mapping like { listen: \"127.0.0.1:9477\" } or off", 3},
    {"prometheus_string", tele({"  prometheus: \"127.0.0.1:9477\""}), 4,
     "prometheus: expected a mapping like { listen: \"127.0.0.1:9477\" } or off, got '127.0.0.1:9477'", 15},
    {"prometheus_list", tele({"  prometheus: [127.0.0.1:9477]"}), 4,
     "prometheus: expected a mapping like { listen: \"127.0.0.1:9477\" } or off, got a list"},
    {"prometheus_quoted_off", tele({"  prometheus: \"off\""}), 4, "got the string \"off\" (remove the quotes)"},
    {"prometheus_unknown_key", tele({"  prometheus: { listn: \"127.0.0.1:9477\" }"}), 4,
     "unknown key 'listn' in telemetry.prometheus; expected one of: listen (did you mean 'listen'?)", 17},
    {"prometheus_path", tele({"  prometheus:", "    listen: \"127.0.0.1:9477\"", "    path: /metrics"}), 6,
     "unknown key 'path' in telemetry.prometheus; expected one of: listen", 5},
    {"listen_hostname", tele({"  prometheus: { listen: \"localhost:9477\" }"}), 4,
     "prometheus.listen: 'localhost:9477': 'localhost' is not an IPv4 or IPv6 address; write a numeric address "
     "(host names are not resolved)", 25},
    {"listen_no_port", tele({"  prometheus: { listen: 127.0.0.1 }"}), 4,
     "prometheus.listen: '127.0.0.1': expected address:port (the port is missing)", 25},
    {"listen_empty_port", tele({"  prometheus: { listen: \"127.0.0.1:\" }"}), 4,
     "prometheus.listen: '127.0.0.1:': the port must be a number 0-65535"},
    {"listen_port_above", tele({"  prometheus: { listen: \"127.0.0.1:65536\" }"}), 4,
     "prometheus.listen: '127.0.0.1:65536': the port must be a number 0-65535"},
    {"listen_port_name", tele({"  prometheus: { listen: \"127.0.0.1:http\" }"}), 4,
     "the port must be a number 0-65535"},
    {"listen_no_address", tele({"  prometheus: { listen: \":9477\" }"}), 4,
     "prometheus.listen: ':9477': the address is missing; write 0.0.0.0:PORT or [::]:PORT for every address"},
    {"listen_v6_unbracketed", tele({"  prometheus: { listen: \"::1:9477\" }"}), 4,
     "prometheus.listen: '::1:9477': write an IPv6 address in brackets, with the port after them, like "
     "[::1]:9477"},
    {"listen_v6_unclosed", tele({"  prometheus: { listen: \"[::1:9477\" }"}), 4,
     "prometheus.listen: '[::1:9477': expected [IPv6]:port"},
    {"listen_v6_yaml_list", tele({"  prometheus:", "    listen: [::1]"}), 5,
     "prometheus.listen: expected an address like \"127.0.0.1:9477\", got a list; quote IPv6 addresses", 13},
    {"listen_number", tele({"  prometheus: { listen: 9477 }"}), 4,
     "prometheus.listen: '9477': expected address:port (the port is missing)"},
    {"listen_empty", tele({"  prometheus: { listen: \"\" }"}), 4, "prometheus.listen: the address is empty"},
    {"listen_null", tele({"  prometheus:", "    listen:"}), 5, "prometheus.listen: has no value", 5},
    // --- ipfix
    {"ipfix_null", tele({"  ipfix:"}), 4, "ipfix: has no value; write a mapping like { collector: "
                                          "\"192.0.2.10:4739\" } or off", 3},
    {"ipfix_on", tele({"  ipfix: on"}), 4, "ipfix: on needs a collector; write ipfix: { collector: "
                                           "\"192.0.2.10:4739\" }", 10},
    {"ipfix_string", tele({"  ipfix: \"127.0.0.1:4739\""}), 4,
     "ipfix: expected a mapping like { collector: \"192.0.2.10:4739\" } or off, got '127.0.0.1:4739'"},
    {"ipfix_list", tele({"  ipfix: [\"127.0.0.1:4739\"]"}), 4, "ipfix: expected a mapping like { collector: "
                                                               "\"192.0.2.10:4739\" } or off, got a list"},
    {"ipfix_empty", tele({"  ipfix: {}"}), 4,
     "ipfix has no 'collector'; set it to the collector's address and port, like \"192.0.2.10:4739\"", 10},
    {"ipfix_no_collector", tele({"  ipfix:", "    transport: tcp", "    observation_domain: 7"}), 5,
     "ipfix has no 'collector'", 5},
    {"ipfix_unknown_key", tele({"  ipfix: { collector: \"127.0.0.1:4739\", domain: 1 }"}), 4,
     "unknown key 'domain' in telemetry.ipfix; expected one of: collector, transport, template_refresh, "
     "observation_domain", 41},
    {"ipfix_unknown_key_typo", tele({"  ipfix:", kCollector, "    trasnport: tcp"}), 6,
     "unknown key 'trasnport' in telemetry.ipfix; expected one of: collector, transport, template_refresh, "
     "observation_domain (did you mean 'transport'?)", 5},
    {"collector_hostname", tele({"  ipfix: { collector: \"collector.example.com:4739\" }"}), 4,
     "ipfix.collector: 'collector.example.com:4739': 'collector.example.com' is not an IPv4 or IPv6 address; write a "
     "numeric address (host names are not resolved)", 23},
    {"collector_no_port", tele({"  ipfix: { collector: \"127.0.0.1\" }"}), 4,
     "ipfix.collector: '127.0.0.1': expected address:port (the port is missing)"},
    {"collector_v6_no_port", tele({"  ipfix: { collector: \"[fd00::10]\" }"}), 4,
     "ipfix.collector: '[fd00::10]': expected [IPv6]:port"},
    {"collector_v6_bare", tele({"  ipfix: { collector: \"fd00::10\" }"}), 4,
     "ipfix.collector: 'fd00::10': write an IPv6 address in brackets"},
    {"collector_port_zero", tele({"  ipfix: { collector: \"127.0.0.1:0\" }"}), 4,
     "ipfix.collector: '127.0.0.1:0': port 0 cannot be a destination; the port must be a number 1-65535", 23},
    {"collector_v6_port_zero", tele({"  ipfix: { collector: \"[::1]:0\" }"}), 4,
     "ipfix.collector: '[::1]:0': port 0 cannot be a destination"},
    {"collector_port_above", tele({"  ipfix: { collector: \"127.0.0.1:65536\" }"}), 4,
     "ipfix.collector: '127.0.0.1:65536': the port must be a number 1-65535"},
    {"collector_bad_octet", tele({"  ipfix: { collector: \"10.0.0.256:4739\" }"}), 4,
     "ipfix.collector: '10.0.0.256:4739': '10.0.0.256' is not an IPv4 or IPv6 address"},
    {"collector_v4_in_brackets", tele({"  ipfix: { collector: \"[10.0.0.1]:4739\" }"}), 4,
     "ipfix.collector: '[10.0.0.1]:4739': brackets are for IPv6 addresses; write 10.0.0.1:4739"},
    {"collector_bad_v6", tele({"  ipfix: { collector: \"[fd00::1::2]:4739\" }"}), 4,
     "ipfix.collector: '[fd00::1::2]:4739': 'fd00::1::2' is not an IPv6 address"},
    {"collector_zone", tele({"  ipfix: { collector: \"[fe80::1%eth0]:4739\" }"}), 4,
     "'fe80::1%eth0': IPv6 zone indexes (%IFNAME) are not supported"},
    {"collector_list", tele({"  ipfix: { collector: [\"127.0.0.1:4739\"] }"}), 4,
     "ipfix.collector: expected an address like \"127.0.0.1:9477\", got a list"},
    {"collector_mapping", tele({"  ipfix:", "    collector: { host: 127.0.0.1, port: 4739 }"}), 5,
     "ipfix.collector: expected a string, got a mapping", 16},
    {"collector_null", tele({"  ipfix:", "    collector:"}), 5, "ipfix.collector: has no value", 5},
    {"transport_bad", tele({"  ipfix:", kCollector, "    transport: sctp"}), 6,
     "ipfix.transport: 'sctp' is not an IPFIX transport; expected udp or tcp", 16},
    {"transport_upper", tele({"  ipfix:", kCollector, "    transport: UDP"}), 6,
     "ipfix.transport: 'UDP' is not an IPFIX transport"},
    {"transport_list", tele({"  ipfix:", kCollector, "    transport: [udp]"}), 6,
     "ipfix.transport: expected a string, got a list"},
    {"refresh_zero", tele({"  ipfix:", kCollector, "    template_refresh: 0s"}), 6,
     "ipfix.template_refresh: 0s is out of range; allowed: 1s..1h", 23},
    {"refresh_below", tele({"  ipfix:", kCollector, "    template_refresh: 999ms"}), 6,
     "ipfix.template_refresh: 999ms is out of range; allowed: 1s..1h"},
    {"refresh_above", tele({"  ipfix:", kCollector, "    template_refresh: 61m"}), 6,
     "ipfix.template_refresh: 61m is out of range; allowed: 1s..1h"},
    {"refresh_not_duration", tele({"  ipfix:", kCollector, "    template_refresh: hourly"}), 6,
     "ipfix.template_refresh: 'hourly' is not a duration"},
    {"domain_above", tele({"  ipfix:", kCollector, "    observation_domain: 4294967296"}), 6,
     "ipfix.observation_domain: 4294967296 is out of range; allowed: 0..4294967295", 25},
    {"domain_negative", tele({"  ipfix:", kCollector, "    observation_domain: -1"}), 6,
     "ipfix.observation_domain: expected an integer 0..4294967295, got '-1'"},
    {"domain_quoted", tele({"  ipfix:", kCollector, "    observation_domain: \"1\""}), 6,
     "ipfix.observation_domain: expected an integer 0..4294967295, got the string \"1\" (remove the quotes)"},
    {"domain_name", tele({"  ipfix:", kCollector, "    observation_domain: lab"}), 6,
     "ipfix.observation_domain: expected an integer 0..4294967295, got 'lab'"},
    {"ipfix_all_wrong",
     tele({"  ipfix: { collector: \"localhost\", transport: quic, template_refresh: 2h, observation_domain: x }"}), 4,
     "ipfix.transport: 'quic' is not an IPFIX transport", 0, 4},
    // --- jsonl
    {"jsonl_relative", tele({"  jsonl: flows.jsonl"}), 4,
     "jsonl: 'flows.jsonl' is a relative path; the daemon runs in /, so write an absolute path like "
     "/var/log/xdpnet/flows.jsonl, or \"-\" for stdout", 10},
    {"jsonl_dot_relative", tele({"  jsonl: ./log/flows.jsonl"}), 4, "jsonl: './log/flows.jsonl' is a relative path"},
    {"jsonl_home", tele({"  jsonl: ~/flows.jsonl"}), 4, "jsonl: '~/flows.jsonl' is a relative path"},
    {"jsonl_empty", tele({"  jsonl: \"\""}), 4,
     "jsonl: the path is empty; write an absolute path like /var/log/xdpnet/flows.jsonl, or \"-\" for stdout", 10},
    {"jsonl_null", tele({"  jsonl:"}), 4, "jsonl: has no value", 3},
    {"jsonl_directory", tele({"  jsonl: /var/log/xdpnet/"}), 4,
     "jsonl: '/var/log/xdpnet/' names a directory; write the file's path, like /var/log/xdpnet/flows.jsonl"},
    {"jsonl_on", tele({"  jsonl: on"}), 4, "jsonl: 'on' is not a path; write an absolute path", 10},
    {"jsonl_true", tele({"  jsonl: true"}), 4, "jsonl: 'true' is not a path"},
    {"jsonl_list", tele({"  jsonl: [/tmp/a.jsonl]"}), 4, "jsonl: expected a string, got a list", 10},
    {"jsonl_mapping", tele({"  jsonl: { path: /tmp/a.jsonl }"}), 4, "jsonl: expected a string, got a mapping"},
    // --- exporters without flow records
    {"ipfix_without_flows", tele({"  flows: off", "  ipfix: { collector: \"127.0.0.1:4739\" }"}), 5,
     "ipfix exports flow records, and flows: off (line 4) turns flow accounting off; remove ipfix or turn flows on",
     3},
    {"jsonl_without_flows", tele({"  jsonl: \"-\"", "  flows: false"}), 4,
     "jsonl writes flow records, and flows: false (line 5) turns flow accounting off; remove jsonl or turn flows "
     "on", 3},
    {"both_without_flows",
     tele({"  flows: off", "  ipfix: { collector: \"127.0.0.1:4739\" }", "  jsonl: /tmp/f.jsonl"}), 6,
     "jsonl writes flow records", 3, 2},
};

INSTANTIATE_TEST_SUITE_P(All, TelemetryPolicyError, testing::ValuesIn(kErrors),
                         [](const testing::TestParamInfo<ErrorCase>& i) { return std::string(i.param.name); });

// ---------------------------------------------------------------- several problems

TEST(TelemetryPolicy, EveryProblemIsReportedInFileOrder) {
    const std::string text = yaml({
        "ports:",
        "  - { name: vm1, mode: acess, vlan: 10 }",          // 2: not telemetry, reported too
        "telemetry:",
        "  flows: { size: 512, idle_timeout: 2h }",         // 4: two
        "  prometheus: { listen: \"localhost:9477\" }",     // 5
        "  ipfix:",
        "    collector: \"127.0.0.1:0\"",                  // 7
        "    transport: sctp",                              // 8
        "    observation_domain: 4294967296",               // 9
        "  jsonl: flows.jsonl",                             // 10
        "  sflow: {}",                                      // 11
    });
    const auto diags = rejects(text);
    std::vector<std::pair<int, std::string>> got;
    for (const Diagnostic& d : diags)
        got.emplace_back(d.loc.line, d.reason.substr(0, d.reason.find(':')));
    const std::vector<std::pair<int, std::string>> want = {
        {2, "mode"},
        {4, "flows.size"},
        {4, "flows.idle_timeout"},
        {5, "prometheus.listen"},
        {7, "ipfix.collector"},
        {8, "ipfix.transport"},
        {9, "ipfix.observation_domain"},
        {10, "jsonl"},
        {11, "unknown key 'sflow' in telemetry; expected one of"},
    };
    EXPECT_EQ(got, want) << PolicyError(diags).what();
    const std::string what = PolicyError(diags).what();
    EXPECT_HAS(what, "t.yaml:4:18: flows.size: 512 is out of range; allowed: 1024..16777216");
    EXPECT_HAS(what, "t.yaml:10:10: jsonl: 'flows.jsonl' is a relative path");
}

// ---------------------------------------------------------------- socket addresses

TEST(SocketAddress, Accepted) {
    SocketAddress a = parse_socket_address("127.0.0.1:9477", false);
    EXPECT_EQ(a.family, 4);
    EXPECT_EQ(a.port, 9477);
    EXPECT_EQ(a.addr[0], 127);
    EXPECT_EQ(a.addr[1], 0);
    EXPECT_EQ(a.addr[2], 0);
    EXPECT_EQ(a.addr[3], 1);
    for (size_t i = 4; i < a.addr.size(); i++)
        EXPECT_EQ(a.addr[i], 0) << i;

    a = parse_socket_address("[fd00::10]:4739", false);
    EXPECT_EQ(a.family, 6);
    EXPECT_EQ(a.port, 4739);
    EXPECT_EQ(a.addr[0], 0xfd);
    EXPECT_EQ(a.addr[15], 0x10);

    a = parse_socket_address("[::ffff:10.0.0.1]:1", false);
    EXPECT_EQ(a.family, 6);
    EXPECT_EQ(a.addr[10], 0xff);
    EXPECT_EQ(a.addr[15], 1);
    EXPECT_EQ(a.port, 1);

    EXPECT_EQ(parse_socket_address("0.0.0.0:65535", false).port, 65535);
    EXPECT_EQ(parse_socket_address("0.0.0.0:0", true).port, 0);
    EXPECT_EQ(parse_socket_address("[::]:0", true).family, 6);
}

std::string reason(const std::string& text, bool allow_port_zero) {
    try {
        parse_socket_address(text, allow_port_zero);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}

TEST(SocketAddress, RejectedWithAReason) {
    EXPECT_EQ(reason("", true), "the address is empty; expected address:port, like 127.0.0.1:9477 or [::1]:9477");
    EXPECT_EQ(reason("127.0.0.1", true), "'127.0.0.1': expected address:port (the port is missing)");
    EXPECT_EQ(reason("127.0.0.1:", true), "'127.0.0.1:': the port must be a number 0-65535");
    EXPECT_EQ(reason("127.0.0.1:", false), "'127.0.0.1:': the port must be a number 1-65535");
    EXPECT_EQ(reason("127.0.0.1:0", false),
              "'127.0.0.1:0': port 0 cannot be a destination; the port must be a number 1-65535");
    EXPECT_EQ(reason("127.0.0.1:65536", true), "'127.0.0.1:65536': the port must be a number 0-65535");
    EXPECT_EQ(reason("127.0.0.1:+80", true), "'127.0.0.1:+80': the port must be a number 0-65535");
    EXPECT_EQ(reason("127.0.0.1:-1", true), "'127.0.0.1:-1': the port must be a number 0-65535");
    EXPECT_EQ(reason("127.0.0.1: 80", true), "'127.0.0.1: 80': the port must be a number 0-65535");
    EXPECT_EQ(reason("localhost:80", true),
              "'localhost:80': 'localhost' is not an IPv4 or IPv6 address; write a numeric address (host names are "
              "not resolved)");
    EXPECT_EQ(reason("1.2.3:80", true),
              "'1.2.3:80': '1.2.3' is not an IPv4 or IPv6 address; write a numeric address (host names are not "
              "resolved)");
    EXPECT_EQ(reason(":80", true), "':80': the address is missing; write 0.0.0.0:PORT or [::]:PORT for every address");
    EXPECT_EQ(reason("[]:80", true), "'[]:80': the address is missing; write 0.0.0.0:PORT or [::]:PORT for every "
                                     "address");
    EXPECT_EQ(reason("::1:80", true),
              "'::1:80': write an IPv6 address in brackets, with the port after them, like [::1]:9477");
    EXPECT_EQ(reason("[::1]", true), "'[::1]': expected [IPv6]:port");
    EXPECT_EQ(reason("[::1]9477", true), "'[::1]9477': expected [IPv6]:port");
    EXPECT_EQ(reason("[::1", true), "'[::1': expected [IPv6]:port");
    EXPECT_EQ(reason("[1.2.3.4]:80", true), "'[1.2.3.4]:80': brackets are for IPv6 addresses; write 1.2.3.4:80");
    EXPECT_EQ(reason("[fe80::1%eth0]:80", true),
              "'[fe80::1%eth0]:80': 'fe80::1%eth0': IPv6 zone indexes (%IFNAME) are not supported");
    EXPECT_EQ(reason("[host]:80", true), "'[host]:80': 'host' is not an IPv6 address");
}

// The daemon's --prometheus and the policy's addresses are one syntax: the
// same texts are accepted, with the same reasons for the others.
TEST(SocketAddress, DaemonListenAddressesAreTheSame) {
    for (const char* text : {"127.0.0.1:9477", "0.0.0.0:0", "[::1]:0", "[fd00::10]:65535", "127.0.0.1",
                             "127.0.0.1:65536", "localhost:9477", "::1:9477", "[1.2.3.4]:80", ":9477", "[::1]",
                             ""}) {
        const std::string policy_says = reason(text, /*allow_port_zero=*/true);
        std::string daemon_says = "accepted";
        socklen_t len = 0;
        try {
            const sockaddr_storage ss = telemetry::parse_listen_address(text, &len);
            EXPECT_EQ(ss.ss_family, parse_socket_address(text, true).family == 4 ? AF_INET : AF_INET6) << text;
        } catch (const std::invalid_argument& e) {
            daemon_says = e.what();
        }
        EXPECT_EQ(daemon_says, policy_says) << text;
    }
}

} // namespace
} // namespace xdpnet::policy
