#include "datapath/error.h"

#include <cerrno>
#include <cstring>

namespace xdpnet {

void throw_sys(const std::string& op, const std::string& object, int err) {
    if (err < 0)
        err = -err;
    std::string msg = op + " " + object + ": " + std::strerror(err);
    if (err == EPERM || err == EACCES)
        throw Error(ExitCode::Permission,
                    msg + " (xdpnet needs root, or CAP_BPF + CAP_NET_ADMIN + CAP_SYS_ADMIN)", err);
    throw Error(ExitCode::Failure, msg, err);
}

} // namespace xdpnet
