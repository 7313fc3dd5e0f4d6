// Typed access to pinned BPF maps by fd: the few operations xdpnet needs.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <optional>
#include <string>
#include <vector>

#include "datapath/error.h"
#include "datapath/fd.h"

namespace xdpnet::maps {

template <class K, class V>
std::optional<V> lookup(const Fd& map, const K& key) {
    V v{};
    if (bpf_map_lookup_elem(map.get(), &key, &v) != 0)
        return std::nullopt;
    return v;
}

template <class K, class V>
void update(const Fd& map, const K& key, const V& value, const char* what, __u64 flags = BPF_ANY) {
    if (bpf_map_update_elem(map.get(), &key, &value, flags) != 0)
        throw_sys("update", what, errno);
}

/// Deletes key; true when it was there.
template <class K>
bool remove(const Fd& map, const K& key) {
    return bpf_map_delete_elem(map.get(), &key) == 0;
}

/// Writes many entries with one batch call (one RCU wait for map-in-map),
/// falling back to single updates where the map type has no batch support.
template <class K, class V>
void update_many(const Fd& map, const std::vector<K>& keys, const std::vector<V>& values,
                 const char* what) {
    if (keys.empty())
        return;
    __u32 count = static_cast<__u32>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(map.get(), keys.data(), values.data(), &count, &opts) == 0)
        return;
    for (size_t i = 0; i < keys.size(); i++)
        update(map, keys[i], values[i], what);
}

/// Deletes many keys (batch where supported); missing keys are ignored.
template <class K>
void remove_many(const Fd& map, const std::vector<K>& keys) {
    if (keys.empty())
        return;
    __u32 count = static_cast<__u32>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_delete_batch(map.get(), keys.data(), &count, &opts) == 0)
        return;
    for (const auto& k : keys)
        bpf_map_delete_elem(map.get(), &k);
}

/// Every key of a hash map (a snapshot; concurrent changes may be missed).
template <class K>
std::vector<K> keys(const Fd& map) {
    std::vector<K> out;
    K cur{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(map.get(), prev, &next) == 0) {
        out.push_back(next);
        cur = next;
        prev = &cur;
    }
    return out;
}

/// A per-CPU value summed over CPUs, element-wise as __u64 words.
template <class V>
std::optional<V> lookup_percpu_sum(const Fd& map, __u32 key) {
    static_assert(sizeof(V) % 8 == 0, "per-CPU values summed as u64 words");
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return std::nullopt;
    std::vector<V> vals(static_cast<size_t>(ncpu));
    if (bpf_map_lookup_elem(map.get(), &key, vals.data()) != 0)
        return std::nullopt;
    V sum{};
    auto* s = reinterpret_cast<__u64*>(&sum);
    for (const V& v : vals) {
        const auto* w = reinterpret_cast<const __u64*>(&v);
        for (size_t i = 0; i < sizeof(V) / 8; i++)
            s[i] += w[i];
    }
    return sum;
}

/// max_entries of a map.
inline __u32 capacity(const Fd& map) {
    struct bpf_map_info info = {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(map.get(), &info, &len) != 0)
        return 0;
    return info.max_entries;
}

/// Opens a pinned object; throws with the path on failure.
inline Fd open_pinned(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0)
        throw_sys("open pinned", path, errno);
    return Fd(fd);
}

} // namespace xdpnet::maps
