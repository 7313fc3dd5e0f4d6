// Names and help texts of the datapath's counters and drop reasons (from the
// ABI's X-macro lists), shared by the commands that print or export them.
#pragma once

#include "xdpnet/abi.h"

namespace xdpnet::cli {

#define XDPNET_CLI_NAME(e, n, h) n,
#define XDPNET_CLI_HELP(e, n, h) h,
inline constexpr const char* kCounterNames[] = {XDPNET_COUNTERS(XDPNET_CLI_NAME)};
inline constexpr const char* kCounterHelp[] = {XDPNET_COUNTERS(XDPNET_CLI_HELP)};
/// Indexed by enum xdpnet_drop_reason; 0 is "none".
inline constexpr const char* kDropNames[] = {"none", XDPNET_DROP_REASONS(XDPNET_CLI_NAME)};
inline constexpr const char* kDropHelp[] = {"", XDPNET_DROP_REASONS(XDPNET_CLI_HELP)};
#undef XDPNET_CLI_NAME
#undef XDPNET_CLI_HELP

} // namespace xdpnet::cli
