#include "telemetry/flow.h"

#include <arpa/inet.h>

namespace xdpnet::telemetry {

std::string_view end_reason_name(EndReason r) {
    switch (r) {
    case EndReason::IdleTimeout:
        return "idle";
    case EndReason::ActiveTimeout:
        return "active";
    case EndReason::EndOfFlow:
        return "end";
    case EndReason::ForcedEnd:
        return "forced";
    case EndReason::LackOfResources:
        return "resources";
    }
    return "unknown";
}

std::string format_addr(const FlowKey& k, bool source) {
    const auto& a = source ? k.src : k.dst;
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(k.family == 6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof(buf)))
        return "?";
    return buf;
}

} // namespace xdpnet::telemetry
