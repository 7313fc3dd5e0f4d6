// Logging: spdlog for xdpnet, with libbpf's and libxdp's diagnostics routed in.
#pragma once

namespace xdpnet {

/// 0 = info, 1 = debug (-v), 2+ = trace (-vv). Logs go to stderr.
void setup_logging(int verbosity);

} // namespace xdpnet
