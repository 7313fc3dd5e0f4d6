// trace: one frame through the real datapath programs, on a private copy of
// the running instance's state (datapath/trace.cpp), explained
// (telemetry/trace_report.cpp). Live state is only read.
#include <algorithm>
#include <iostream>

#include "cli/context.h"
#include "datapath/error.h"
#include "datapath/trace.h"
#include "telemetry/packet_spec.h"
#include "telemetry/pcap.h"
#include "telemetry/trace_report.h"

namespace xdpnet::cli {
namespace {

struct TraceArgs {
    std::string port;
    std::string spec;
    std::string pcap;
    size_t packet = 1;
    bool packet_given = false;
};

/// The description, a caret under the column at fault, and the reason.
std::string spec_error_text(const std::string& spec, const telemetry::SpecError& e) {
    std::string shown = spec;
    std::replace_if(shown.begin(), shown.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    const size_t col = std::min(e.column, shown.size());
    return "bad packet description (column " + std::to_string(e.column) + "): " + e.reason + "\n  " + shown +
           "\n  " + std::string(col, ' ') + "^";
}

/// The frame to trace: built from the description, or read from the capture.
std::vector<uint8_t> frame_of(const TraceArgs& a) {
    if (a.spec.empty() == a.pcap.empty())
        throw Error(ExitCode::Usage, "trace needs a packet description or --pcap FILE (exactly one of them)");
    if (a.packet_given && a.pcap.empty())
        throw Error(ExitCode::Usage, "--packet picks a packet of --pcap FILE");
    if (!a.pcap.empty()) {
        try {
            return telemetry::read_pcap_packet(a.pcap, a.packet).data;
        } catch (const telemetry::PcapError& e) {
            throw Error(ExitCode::Usage, std::string("--pcap ") + e.what());
        }
    }
    try {
        return telemetry::build_packet(a.spec);
    } catch (const telemetry::SpecError& e) {
        throw Error(ExitCode::Usage, spec_error_text(a.spec, e));
    }
}

} // namespace

void register_trace(CLI::App& app, Context& ctx) {
    static TraceArgs a;
    auto* trace = app.add_subcommand(
        "trace", "run one frame through the live datapath's programs on a private copy of its state");
    trace->add_option("--port", a.port, "the port the frame arrives on (a port of the live policy)")->required();
    auto* spec = trace->add_option("spec", a.spec,
                                   "the frame: eth(src=..,dst=..)/vlan(10)/ipv4(src=..,dst=..)/tcp(sport=..,dport=..)");
    auto* pcap = trace->add_option("--pcap", a.pcap, "take the frame from a pcap file (tcpdump -w) instead");
    trace->add_option("--packet", a.packet, "which packet of --pcap FILE (from 1)")
        ->check(CLI::PositiveNumber)
        ->each([](const std::string&) { a.packet_given = true; });
    pcap->excludes(spec);
    trace->callback([&ctx] {
        const std::vector<uint8_t> frame = frame_of(a); // usage errors before privileges
        require_privileges();
        auto inst = Instance::adopt(pick_instance(ctx));
        InstanceLock lock(inst.name()); // a consistent snapshot: no apply half-way through it
        const LivePort port = find_port(inst, a.port);
        const auto report = telemetry::explain(trace_frame(inst, port, frame));
        if (ctx.json)
            print_json(report.json);
        else
            std::cout << report.text() << std::flush;
    });
}

} // namespace xdpnet::cli
