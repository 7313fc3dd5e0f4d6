#include "telemetry/exporters.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "telemetry/flow_json.h"
#include "telemetry/http.h"

namespace xdpnet::telemetry {

namespace {
constexpr size_t kUdpMessage = 1400; // fits a 1500-byte MTU with IP/UDP headers
constexpr size_t kTcpMessage = 65535;
constexpr int kSendTimeoutMs = 200;
} // namespace

IpfixSink::IpfixSink(const policy::IpfixSpec& spec)
    : spec_(spec), enc_(spec.observation_domain,
                        spec.transport == policy::IpfixSpec::Transport::Tcp ? kTcpMessage : kUdpMessage) {
    addr_ = parse_listen_address(spec.collector, &addr_len_);
}

bool IpfixSink::ensure_connected() {
    if (fd_)
        return true;
    const bool tcp = spec_.transport == policy::IpfixSpec::Transport::Tcp;
    Fd fd(::socket(addr_.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd)
        return false;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0) {
        if (errno != EINPROGRESS)
            return false;
        struct pollfd p = {fd.get(), POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof(err);
        if (::poll(&p, 1, kSendTimeoutMs) != 1 ||
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            return false;
    }
    fd_ = std::move(fd);
    templates_sent_ns_ = 0; // a new stream starts with the templates
    return true;
}

bool IpfixSink::write_all(const std::vector<uint8_t>& msg) {
    size_t off = 0;
    while (off < msg.size()) {
        ssize_t n = ::send(fd_.get(), msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {fd_.get(), POLLOUT, 0};
            if (::poll(&p, 1, kSendTimeoutMs) == 1)
                continue;
        }
        // UDP: a refused datagram (no collector yet) is lost alone; TCP:
        // the stream is broken, reconnect next time (templates first).
        if (spec_.transport == policy::IpfixSpec::Transport::Tcp || off > 0)
            fd_.reset();
        return false;
    }
    messages_++;
    return true;
}

bool IpfixSink::templates_due(uint64_t now_ns) const {
    return templates_sent_ns_ == 0 ||
           (spec_.transport == policy::IpfixSpec::Transport::Udp &&
            now_ns - templates_sent_ns_ >= spec_.template_refresh_ns);
}

size_t IpfixSink::send(const std::vector<FlowRecord>& recs, uint64_t unix_now_ns) {
    if (recs.empty()) {
        refresh(unix_now_ns);
        return 0;
    }
    if (!ensure_connected()) {
        lost_ += recs.size();
        return recs.size();
    }
    const bool with_templates = templates_due(unix_now_ns);
    const auto export_s = static_cast<uint32_t>(unix_now_ns / 1000000000ull);
    size_t lost = 0, done = 0;
    // The encoder splits records over messages in order; count them back.
    for (const auto& msg : enc_.encode(recs, export_s, with_templates)) {
        const size_t in_msg = ipfix_record_count(msg);
        if (write_all(msg))
            done += in_msg;
        else
            lost += in_msg;
    }
    if (with_templates && done)
        templates_sent_ns_ = unix_now_ns;
    exported_ += done;
    lost_ += lost;
    return lost;
}

void IpfixSink::refresh(uint64_t unix_now_ns) {
    if (!templates_due(unix_now_ns) || !ensure_connected())
        return;
    if (write_all(enc_.templates_message(static_cast<uint32_t>(unix_now_ns / 1000000000ull))))
        templates_sent_ns_ = unix_now_ns;
}

JsonlSink::JsonlSink(const std::string& path) : path_(path) {
    if (path == "-") {
        f_ = stdout;
        return;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || !(f_ = ::fdopen(fd, "a"))) {
        if (fd >= 0)
            ::close(fd);
        throw std::runtime_error("cannot open " + path + " for flow records: " + std::strerror(errno));
    }
}

JsonlSink::~JsonlSink() {
    if (f_ && f_ != stdout)
        std::fclose(f_);
}

size_t JsonlSink::write(const std::vector<FlowRecord>& recs) {
    size_t lost = 0;
    for (const auto& r : recs) {
        const std::string line = flow_to_jsonl(r);
        if (std::fwrite(line.data(), 1, line.size(), f_) != line.size())
            lost++;
    }
    if (std::fflush(f_) != 0)
        lost = recs.size();
    exported_ += recs.size() - lost;
    lost_ += lost;
    return lost;
}

} // namespace xdpnet::telemetry
