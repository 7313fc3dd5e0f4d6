// A pcapng writer (the format Wireshark and tshark read natively) for
// `xdpnet capture`: one section, an interface block per port, enhanced packet
// blocks with nanosecond timestamps and a comment each (the port, and the
// drop reason for dropped frames). Pure: it writes to a FILE*.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace xdpnet::telemetry {

class PcapngWriter {
  public:
    /// Writes the section header. `f` stays the caller's.
    explicit PcapngWriter(std::FILE* f, const std::string& app = "xdpnet");
    /// The interface id of a port (its block is written the first time).
    uint32_t interface(uint32_t ifindex, const std::string& name, uint32_t snaplen);
    /// One frame: `data` holds its first bytes (caplen), `len` its length.
    void packet(uint32_t if_id, uint64_t unix_ns, const uint8_t* data, uint32_t caplen, uint32_t len,
                const std::string& comment);
    /// False once a write failed.
    bool ok() const { return ok_; }

  private:
    void block(uint32_t type, const std::vector<uint8_t>& body);
    std::FILE* f_;
    bool ok_ = true;
    std::map<uint32_t, uint32_t> ids_; // ifindex -> interface id
};

} // namespace xdpnet::telemetry
