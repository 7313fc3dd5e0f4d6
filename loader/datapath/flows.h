// The running instance's flow table (maps/flows.h), mapped into this process:
// the slots the datapath counts in, the export marks the daemon keeps, and
// the ring buffer of flows pushed out of their slots.
#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "datapath/fd.h"
#include "xdpnet/abi.h"

namespace xdpnet {

class Instance;

/// A shared mapping of a BPF map's memory; unmapped once.
class Mapping {
  public:
    Mapping() = default;
    Mapping(void* addr, size_t len) : addr_(addr), len_(len) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& o) noexcept;
    Mapping& operator=(Mapping&& o) noexcept;
    ~Mapping();
    void* get() const { return addr_; }

  private:
    void* addr_ = nullptr;
    size_t len_ = 0;
};

class FlowTable {
  public:
    /// Maps the instance's flow table (read-only) and, when `writable_marks`
    /// (the daemon), its export marks read-write; opens the ring buffer.
    FlowTable(const Instance& inst, bool writable_marks);

    const struct xdpnet_flow* slots() const { return static_cast<const xdpnet_flow*>(slots_.get()); }
    struct xdpnet_flow_exp* marks() const { return static_cast<xdpnet_flow_exp*>(marks_.get()); }
    size_t size() const { return size_; }
    /// The kernel's id of the table: a new one means the instance was recreated.
    uint32_t map_id() const { return map_id_; }
    /// The id of the table the instance has pinned now.
    static uint32_t pinned_id(const Instance& inst);

    /// Hands every flow the datapath pushed out since the last call to fn.
    size_t drain(const std::function<void(const struct xdpnet_flow_event&)>& fn);

  private:
    static int on_event(void* ctx, void* data, size_t len);
    Fd flows_fd_, marks_fd_, events_fd_;
    Mapping slots_, marks_;
    size_t size_ = 0;
    uint32_t map_id_ = 0;
    std::unique_ptr<struct ring_buffer, void (*)(struct ring_buffer*)> rb_{nullptr, ring_buffer__free};
    const std::function<void(const struct xdpnet_flow_event&)>* sink_ = nullptr;
};

} // namespace xdpnet
