// Errors the datapath layer raises; each maps to a documented exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace xdpnet {

/// Exit codes of the xdpnet command (docs/cli.md).
enum class ExitCode : int {
    Ok = 0,
    Failure = 1,
    Usage = 2,       // bad usage or invalid policy: nothing changed
    NotRunning = 3,  // no such instance
    Permission = 4,  // needs root / CAP_BPF + CAP_NET_ADMIN
};

/// A failure with the exit code it should produce and, when it came from a
/// system call, the errno. what() says what failed and on which object.
class Error : public std::runtime_error {
  public:
    Error(ExitCode code, const std::string& what, int err = 0)
        : std::runtime_error(what), code_(code), errno_(err) {}
    ExitCode code() const { return code_; }
    int sys_errno() const { return errno_; }

  private:
    ExitCode code_;
    int errno_;
};

/// Builds "op on object: strerror(err)" and throws Error (Permission for EPERM/EACCES).
[[noreturn]] void throw_sys(const std::string& op, const std::string& object, int err);

} // namespace xdpnet
