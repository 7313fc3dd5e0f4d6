#include "datapath/flows.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "datapath/error.h"
#include "datapath/instance.h"
#include "datapath/maps.h"

namespace xdpnet {

Mapping::Mapping(Mapping&& o) noexcept
    : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
    if (this != &o) {
        if (addr_)
            ::munmap(addr_, len_);
        addr_ = std::exchange(o.addr_, nullptr);
        len_ = std::exchange(o.len_, 0);
    }
    return *this;
}

Mapping::~Mapping() {
    if (addr_)
        ::munmap(addr_, len_);
}

namespace {

// An mmapable array map's values, as the kernel lays them out (each
// rounded up to 8 bytes, from offset 0).
Mapping map_array(const Fd& fd, size_t value_size, size_t entries, bool writable, const char* what) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t len = ((value_size + 7) / 8 * 8 * entries + page - 1) / page * page;
    void* p = ::mmap(nullptr, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED)
        throw_sys("mmap", what, errno);
    return Mapping(p, len);
}

} // namespace

FlowTable::FlowTable(const Instance& inst, bool writable_marks) {
    flows_fd_ = maps::open_pinned(inst.pin_path("xdpnet_flows"));
    marks_fd_ = maps::open_pinned(inst.pin_path("xdpnet_flow_exp"));
    events_fd_ = maps::open_pinned(inst.pin_path("xdpnet_flow_events"));
    struct bpf_map_info info = {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(flows_fd_.get(), &info, &len) != 0)
        throw_sys("read", "xdpnet_flows info", errno);
    size_ = info.max_entries;
    map_id_ = info.id;
    slots_ = map_array(flows_fd_, sizeof(struct xdpnet_flow), size_, false, "xdpnet_flows");
    marks_ = map_array(marks_fd_, sizeof(struct xdpnet_flow_exp), size_, writable_marks,
                       "xdpnet_flow_exp");
    rb_.reset(ring_buffer__new(events_fd_.get(), &FlowTable::on_event, this, nullptr));
    if (!rb_)
        throw_sys("open", "xdpnet_flow_events ring buffer", errno);
}

uint32_t FlowTable::pinned_id(const Instance& inst) {
    Fd fd = maps::open_pinned(inst.pin_path("xdpnet_flows"));
    struct bpf_map_info info = {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
        throw_sys("read", "xdpnet_flows info", errno);
    return info.id;
}

int FlowTable::on_event(void* ctx, void* data, size_t len) {
    auto* self = static_cast<FlowTable*>(ctx);
    if (len >= sizeof(struct xdpnet_flow_event) && self->sink_)
        (*self->sink_)(*static_cast<const struct xdpnet_flow_event*>(data));
    return 0;
}

size_t FlowTable::drain(const std::function<void(const struct xdpnet_flow_event&)>& fn) {
    sink_ = &fn;
    int n = ring_buffer__consume(rb_.get());
    sink_ = nullptr;
    if (n < 0)
        throw_sys("read", "xdpnet_flow_events", -n);
    return static_cast<size_t>(n);
}

} // namespace xdpnet
