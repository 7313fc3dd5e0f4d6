// Where the daemon sends flow records: an IPFIX collector (UDP or TCP,
// RFC 7011) and JSON lines (a file or stdout). Each counts what it delivered
// and what it lost; neither ever blocks the daemon for long.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "datapath/fd.h"
#include "policy/policy.h"
#include "telemetry/flow.h"
#include "telemetry/ipfix.h"

namespace xdpnet::telemetry {

class IpfixSink {
  public:
    /// Throws std::invalid_argument for a bad collector address.
    explicit IpfixSink(const policy::IpfixSpec& spec);
    /// Sends the records (templates first on a new stream and every
    /// template_refresh). Returns how many were lost.
    size_t send(const std::vector<FlowRecord>& recs, uint64_t unix_now_ns);
    /// Templates alone when a refresh is due and nothing else went out.
    void refresh(uint64_t unix_now_ns);
    const policy::IpfixSpec& spec() const { return spec_; }
    uint64_t exported() const { return exported_; }
    uint64_t lost() const { return lost_; }
    uint64_t messages() const { return messages_; }

  private:
    bool ensure_connected();
    bool write_all(const std::vector<uint8_t>& msg);
    bool templates_due(uint64_t now_ns) const;

    policy::IpfixSpec spec_;
    sockaddr_storage addr_{};
    socklen_t addr_len_ = 0;
    IpfixEncoder enc_;
    Fd fd_;
    uint64_t templates_sent_ns_ = 0; // 0: the stream has not had them yet
    uint64_t exported_ = 0, lost_ = 0, messages_ = 0;
};

class JsonlSink {
  public:
    /// path "-": stdout. Throws std::runtime_error when the file cannot be opened.
    explicit JsonlSink(const std::string& path);
    ~JsonlSink();
    JsonlSink(const JsonlSink&) = delete;
    JsonlSink& operator=(const JsonlSink&) = delete;
    /// Appends one line per record and flushes. Returns how many were lost.
    size_t write(const std::vector<FlowRecord>& recs);
    const std::string& path() const { return path_; }
    uint64_t exported() const { return exported_; }
    uint64_t lost() const { return lost_; }

  private:
    std::string path_;
    std::FILE* f_ = nullptr;
    uint64_t exported_ = 0, lost_ = 0;
};

} // namespace xdpnet::telemetry
