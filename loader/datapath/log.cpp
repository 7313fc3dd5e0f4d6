#include "datapath/log.h"

#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace xdpnet {
namespace {

std::string vformat(const char* fmt, va_list args) {
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
    std::string s(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    std::string msg = vformat(fmt, args);
    switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", msg); break;
    case LIBBPF_INFO: spdlog::debug("libbpf: {}", msg); break;
    default: spdlog::trace("libbpf: {}", msg); break;
    }
    return 0;
}

int libxdp_print(enum libxdp_print_level level, const char* fmt, va_list args) {
    std::string msg = vformat(fmt, args);
    switch (level) {
    case LIBXDP_WARN: spdlog::warn("libxdp: {}", msg); break;
    case LIBXDP_INFO: spdlog::debug("libxdp: {}", msg); break;
    default: spdlog::trace("libxdp: {}", msg); break;
    }
    return 0;
}

} // namespace

void setup_logging(int verbosity) {
    auto logger = spdlog::stderr_color_mt("xdpnet");
    logger->set_pattern("%^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(verbosity >= 2 ? spdlog::level::trace
                      : verbosity == 1 ? spdlog::level::debug
                                       : spdlog::level::info);
    libbpf_set_print(libbpf_print);
    libxdp_set_print(libxdp_print);
}

} // namespace xdpnet
