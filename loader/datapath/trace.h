// `xdpnet trace`: one frame through the real datapath programs, on a private
// copy of a running instance's state, with BPF_PROG_TEST_RUN. Nothing live is
// written and nothing is transmitted; what the run did is read back from the
// copy (counters, output frame, entries written) for telemetry::explain().
#pragma once

#include <cstdint>
#include <span>

#include "datapath/instance.h"
#include "telemetry/trace_report.h"

namespace xdpnet {

struct TraceOptions {
    /// State tables the datapath writes (FDB, connections, stateful-ACL
    /// connections) are copied whole when their capacity is at most this;
    /// larger ones only with the entries the frame can touch.
    uint32_t whole_copy_limit = 65536;
};

/// Runs `frame` through a freshly loaded copy of the datapath holding a copy
/// of `inst`'s live state, as if it arrived on `port`, and returns what the
/// run did. The live instance is only read. Throws Error: Usage for a frame
/// the test run refuses (too short or too long), Failure for the rest.
telemetry::TraceFacts trace_frame(const Instance& inst, const LivePort& port,
                                  std::span<const uint8_t> frame, const TraceOptions& opts = {});

} // namespace xdpnet
