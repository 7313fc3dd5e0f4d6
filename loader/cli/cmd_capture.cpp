// capture: frames a port receives (or only the ones the datapath drops, with
// the reason) into a pcapng file, through the datapath's capture ring buffer,
// at a bounded rate. The capture is armed for a few seconds at a time and
// renewed while this command runs, so a killed capture stops by itself.
#include <spdlog/fmt/fmt.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/context.h"
#include "cli/names.h"
#include "datapath/error.h"
#include "datapath/maps.h"
#include "telemetry/pcapng.h"

namespace xdpnet::cli {
namespace {

constexpr uint64_t kArmNs = 3000000000ull; // armed this long past each renewal

struct Options {
    std::string port, out;
    bool drops = false;
    uint64_t count = 0;
    double duration_s = 0;
    uint32_t snaplen = XDPNET_CAPTURE_SNAPLEN_MAX;
    uint32_t pps = 1000;
};

uint64_t clock_of(clockid_t id) {
    struct timespec ts;
    ::clock_gettime(id, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct Sink {
    telemetry::PcapngWriter* pcap;
    std::map<uint32_t, std::string> names; // ifindex -> port
    uint32_t snaplen;
    int64_t unix_minus_mono;
    uint64_t written = 0;
};

int on_frame(void* ctx, void* data, size_t len) {
    auto* s = static_cast<Sink*>(ctx);
    if (len < sizeof(struct xdpnet_capture_hdr))
        return 0;
    const auto* r = static_cast<const struct xdpnet_capture_rec*>(data);
    const uint32_t caplen = std::min<uint32_t>(r->hdr.caplen, XDPNET_CAPTURE_SNAPLEN_MAX);
    const std::string& port = s->names[r->hdr.ifindex];
    std::string comment = "xdpnet: received on " + (port.empty() ? "#" + std::to_string(r->hdr.ifindex) : port);
    if (r->hdr.mode == XDPNET_CAPTURE_DROPS) {
        const unsigned d = r->hdr.reason < XDPNET_DROP_MAX ? r->hdr.reason : 0;
        comment += d ? fmt::format(", dropped: {} ({})", kDropNames[d], kDropHelp[d])
                     : std::string(", dropped (reason counted by the stage that dropped it)");
    }
    const uint32_t id = s->pcap->interface(r->hdr.ifindex, port, s->snaplen);
    s->pcap->packet(id, uint64_t(int64_t(r->hdr.ktime_ns) + s->unix_minus_mono), r->data, caplen, r->hdr.len,
                    comment);
    s->written++;
    return 0;
}

void arm(const Fd& cfg_map, const struct xdpnet_capture_cfg& c) {
    maps::update(cfg_map, __u32{0}, c, "xdpnet_capture");
}

} // namespace

void register_capture(CLI::App& app, Context& ctx) {
    static Options o;
    auto* c = app.add_subcommand("capture", "write the frames a port receives (or drops) to a pcapng file");
    c->add_option("--port", o.port, "the port (default: every port of the instance)");
    c->add_flag("--drops", o.drops, "only frames the datapath drops, each with its reason");
    c->add_option("-w,--write", o.out, "pcapng file to write (\"-\": stdout)")->required();
    c->add_option("-c,--count", o.count, "stop after N frames");
    c->add_option("--duration", o.duration_s, "stop after S seconds")->check(CLI::Range(0.0, 86400.0));
    c->add_option("--snaplen", o.snaplen, "bytes kept of each frame")
        ->check(CLI::Range(14, XDPNET_CAPTURE_SNAPLEN_MAX))
        ->capture_default_str();
    c->add_option("--rate", o.pps, "at most this many frames a second per CPU (the rest is counted, not copied)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    c->callback([&ctx] {
        require_privileges();
        Instance inst = Instance::adopt(pick_instance(ctx));
        Fd cfg_map = maps::open_pinned(inst.pin_path("xdpnet_capture"));
        Fd ring_map = maps::open_pinned(inst.pin_path("xdpnet_capture_ring"));
        Fd rate_map = maps::open_pinned(inst.pin_path("xdpnet_capture_rate"));

        Sink sink{};
        sink.snaplen = o.snaplen;
        uint8_t slot = XDPNET_SLOT_NONE;
        for (const auto& p : inst.ports())
            sink.names[p.port.ifindex] = p.name;
        if (!o.port.empty())
            slot = static_cast<uint8_t>(find_port(inst, o.port).port.slot);

        const uint64_t dp_now = inst.clock_ns();
        auto cur = maps::lookup<__u32, struct xdpnet_capture_cfg>(cfg_map, 0);
        if (cur && cur->mode && cur->until_ns > dp_now)
            throw Error(ExitCode::Usage, "another capture is running on instance '" + inst.name() +
                                             "' (one at a time)");

        std::FILE* f = o.out == "-" ? stdout : std::fopen(o.out.c_str(), "wb");
        if (!f)
            throw Error(ExitCode::Usage, "cannot write " + o.out + ": " + std::strerror(errno));
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f == stdout ? nullptr : f, std::fclose);
        telemetry::PcapngWriter pcap(f);
        sink.pcap = &pcap;
        sink.unix_minus_mono = int64_t(clock_of(CLOCK_REALTIME)) - int64_t(clock_of(CLOCK_MONOTONIC));

        std::unique_ptr<struct ring_buffer, void (*)(struct ring_buffer*)> rb(
            ring_buffer__new(ring_map.get(), on_frame, &sink, nullptr), ring_buffer__free);
        if (!rb)
            throw_sys("open", "xdpnet_capture_ring", errno);
        ring_buffer__consume(rb.get()); // what an earlier capture left

        const auto skipped_now = [&] {
            auto v = maps::lookup_percpu_sum<struct xdpnet_capture_rate>(rate_map, 0);
            return v ? uint64_t(v->skipped) : 0;
        };
        const uint64_t skipped0 = skipped_now();
        struct xdpnet_capture_cfg cfg = {};
        cfg.pps = o.pps;
        cfg.snaplen = static_cast<__u16>(o.snaplen);
        cfg.mode = o.drops ? XDPNET_CAPTURE_DROPS : XDPNET_CAPTURE_RX;
        cfg.slot = slot;
        cfg.until_ns = inst.clock_ns() + kArmNs;
        arm(cfg_map, cfg);
        std::cerr << fmt::format("capturing {} on {} of instance {} to {} (Ctrl-C to stop)\n",
                                 o.drops ? "dropped frames" : "frames", o.port.empty() ? "every port" : o.port,
                                 inst.name(), o.out);

        const volatile std::sig_atomic_t& stop = stop_on_signals();
        const auto t0 = std::chrono::steady_clock::now();
        auto renewed = t0;
        try {
            while (!stop && (o.count == 0 || sink.written < o.count)) {
                const auto now = std::chrono::steady_clock::now();
                if (o.duration_s > 0 && std::chrono::duration<double>(now - t0).count() >= o.duration_s)
                    break;
                if (now - renewed >= std::chrono::seconds(1)) {
                    cfg.until_ns = inst.clock_ns() + kArmNs;
                    arm(cfg_map, cfg);
                    renewed = now;
                }
                int n = ring_buffer__poll(rb.get(), 100);
                if (n < 0 && n != -EINTR)
                    throw_sys("read", "xdpnet_capture_ring", -n);
                if (!pcap.ok())
                    throw Error(ExitCode::Failure, "writing " + o.out + " failed");
            }
        } catch (...) {
            arm(cfg_map, xdpnet_capture_cfg{});
            throw;
        }
        arm(cfg_map, xdpnet_capture_cfg{});
        ring_buffer__consume(rb.get());
        std::fflush(f);
        const uint64_t skipped = skipped_now() - skipped0;
        if (ctx.json)
            print_json({{"file", o.out}, {"frames", sink.written}, {"skipped", skipped}});
        else
            std::cerr << fmt::format("{} frames written to {}; {} over the rate bound (not copied)\n",
                                     sink.written, o.out, skipped);
    });
}

} // namespace xdpnet::cli
