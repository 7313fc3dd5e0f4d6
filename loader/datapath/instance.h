// A running xdpnet datapath: its pinned maps, programs and links under
// /sys/fs/bpf/xdpnet/<instance>/. Created by `up`, adopted by every later
// command, removed by `down`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datapath/fd.h"
#include "policy/policy.h"
#include "xdpnet/abi.h"

namespace xdpnet {

/// /sys/fs/bpf/xdpnet (override with $XDPNET_PIN_ROOT, for tests).
std::string pin_root();
std::string instance_dir(const std::string& instance);
/// Names of the instances pinned under pin_root().
std::vector<std::string> list_instances();

/// A port of the live policy generation as the kernel holds it.
struct LivePort {
    std::string name;       // "" when the interface no longer exists
    struct xdpnet_port port;
    bool xdp_linked = false; // our XDP link is pinned
    bool xdp_attached = false; // the interface runs our program right now
    std::string xdp_mode;   // "native", "generic" or "" (not attached)
    bool tc_linked = false;
    uint32_t learned = 0;   // dynamic MACs counted for mac_limit
};

struct FdbRow {
    struct xdpnet_fdb_key key;
    struct xdpnet_fdb_entry entry;
};

struct NetworkInfo {
    std::string name;
    struct xdpnet_gateway gateway {};
    std::optional<struct xdpnet_nat_config> nat; // when it has an uplink
};

struct CtRow {
    struct xdpnet_ct_key key;
    struct xdpnet_ct entry;
};

/// A port policer and its bucket now (policy ports[].police).
struct PolicerRow {
    LivePort port;
    uint32_t dir = 0; // XDPNET_DIR_IN / _OUT
    struct xdpnet_policer config;
    struct xdpnet_bucket bucket;
};

/// A per-address limit of the live policy, and one source's bucket under it.
struct LimitRow {
    struct xdpnet_limit_key key;
    struct xdpnet_limit limit;
};
struct LimitSourceRow {
    struct xdpnet_limit_src key;
    struct xdpnet_bucket bucket;
};

struct NeighRow {
    struct xdpnet_neigh_key key;
    struct xdpnet_neigh entry;
};

/// One line of an apply diff.
struct Change {
    std::string op;     // add | remove | change
    std::string what;   // port | static_fdb | bridge
    std::string name;
    std::string detail;
};

struct FdbFilter {
    std::optional<uint16_t> vlan;
    std::optional<uint16_t> slot;
    bool include_static = false;
};

class Instance {
  public:
    /// Loads the datapath, pins it and applies `image`. Fails if the instance
    /// exists. On any failure nothing is left behind.
    static Instance create(const policy::MapImage& image);
    /// Opens the pinned state of a running instance (no reload). Throws
    /// Error(NotRunning) when absent, Error(Failure) on an ABI mismatch.
    static Instance adopt(const std::string& instance);
    static bool exists(const std::string& instance);

    const std::string& name() const { return name_; }
    /// Where the instance's object `name` is pinned.
    std::string pin_path(const std::string& name) const { return dir_ + "/" + name; }
    struct xdpnet_state state() const;
    struct xdpnet_config config() const;
    struct xdpnet_gc gc() const;
    uint32_t fdb_capacity() const;
    /// Flow-table slots per CPU, as log2, for `size` slots in all on this
    /// host's CPUs (rounded up to a power of two per CPU, within the ABI's
    /// bounds): what `up` sizes xdpnet_flows for.
    static uint32_t flow_bits_for(uint32_t size);
    /// The running flow table's slots per CPU, as log2.
    uint32_t flow_bits() const;

    /// Ports of the live generation, by slot.
    std::vector<LivePort> ports() const;
    /// The live generation's gateways: vid -> gateway.
    std::map<uint16_t, struct xdpnet_gateway> gateways() const;
    /// name -> slot of the live ports (what compile() keeps stable).
    std::map<std::string, uint16_t> slots() const;

    /// What apply(image) would change.
    std::vector<Change> diff(const policy::MapImage& image) const;
    /// Builds image in the idle generation, then switches with one map write.
    /// Before the switch a failure changes nothing; the FDB survives.
    void apply(const policy::MapImage& image);
    /// Detaches from every port and removes every pin of the instance.
    void destroy();
    /// Best effort for state this binary cannot adopt (other ABI, missing
    /// pins): unpins links first, then everything else under the instance.
    static void force_remove(const std::string& instance);

    std::vector<FdbRow> fdb() const;
    /// The live generation's networks: vid -> name, gateway, NAT settings.
    std::map<uint16_t, NetworkInfo> networks() const;
    /// Every connection-table entry (both halves of each connection).
    std::vector<CtRow> connections() const;
    uint32_t ct_capacity() const;
    /// Connections network `vid` holds now (the datapath's count, for max_connections).
    uint64_t ct_count(uint16_t vid) const;
    /// Removes the connections whose original half matches; returns how many.
    size_t nat_flush(const std::function<bool(const CtRow&)>& match);
    /// The router's neighbours on routed VLANs (learned from ARP).
    std::vector<NeighRow> neighbours() const;
    /// Policers of the live ports, with their buckets.
    std::vector<PolicerRow> policers() const;
    std::vector<LimitRow> limits() const;
    std::vector<LimitSourceRow> limit_sources() const;
    /// The live ACL's configuration; hits of rules 0..n-1 then the default.
    struct xdpnet_acl_config acl_config() const;
    std::vector<struct xdpnet_acl_hits> acl_hits(size_t n) const;
    /// Connections stateful ACL rules track now, and the table's capacity.
    size_t acl_connections() const;
    uint32_t acl_conn_capacity() const;
    /// Where apply records the live ACL's rule texts (for `acl show`).
    std::string acl_notes_path() const;
    /// Forgets neighbours (of one VLAN, or all with vid 0); returns how many.
    size_t neigh_flush(uint16_t vid);
    /// Adds a static entry for a live port.
    void fdb_add(const struct xdpnet_fdb_key& key, const LivePort& port);
    bool fdb_del(const struct xdpnet_fdb_key& key);
    size_t fdb_flush(const FdbFilter& filter);

    /// Counters per stats slot (XDPNET_STATS_SLOTS entries), summed over CPUs.
    std::vector<struct xdpnet_port_stats> stats() const;

    /// Runs the aging pass now (and re-arms its timer).
    void run_gc() const;

    /// The datapath clock now (ns, the unit of xdpnet_fdb_entry.last_seen_ns).
    uint64_t clock_ns() const;
    /// The kernel's HZ: CONFIG_HZ from the kernel config, else measured.
    unsigned kernel_hz() const;

  private:
    Instance() = default;
    void open_pins();
    std::vector<struct xdpnet_port> ports_of_gen(uint32_t gen) const;
    void clear_gen(uint32_t gen, const std::vector<struct xdpnet_port>& stale);
    void write_gen(uint32_t gen, const policy::MapImage& image);
    bool attach_xdp(const struct xdpnet_port& port, policy::XdpMode mode);
    bool attach_tc(const struct xdpnet_port& port);
    bool attach_tc_nat(const struct xdpnet_port& port);
    void detach(const std::string& link_name);
    void restore_offload(uint32_t ifindex);
    /// Invalidates the datapath's per-CPU FDB caches after changing the FDB.
    void bump_fdb_version();
    /// One learned MAC less on a port (mac_limit accounting).
    void maccnt_release(uint16_t slot);
    void prune_fdb(const std::vector<struct xdpnet_port>& live, const policy::MapImage& image);
    /// The controls of generation gen (policers, limits, port security, ACL):
    /// cleared, then written from image.
    void clear_controls(uint32_t gen);
    /// The limits of a generation (gen 0 in the keys), by id.
    std::vector<LimitRow> limits_of_gen(uint32_t gen) const;
    static bool same_limits(const std::vector<LimitRow>& live, const policy::MapImage& image);
    void zero_acl_hits();
    void write_acl_notes(const policy::MapImage& image);
    void write_controls(uint32_t gen, const policy::MapImage& image);

    std::string name_;
    std::string dir_;
    struct {
        Fd state, config, portidx, ports, vlans, tx, flood, fdb, fdbver, maccnt, gc, stats, ifsave,
            gateway, routes, neigh, natcfg, fwd, ct, netname, ctcount, policers, buckets, limits,
            limit_state, psec_mac, psec_ip, aclcfg, aclshape, acl, aclhits, aclconn, flows,
            flow_exp, flow_events;
    } m_;
    struct {
        Fd ingress, flood_egress, host_flood, fdb_gc, clock, nat_slow;
    } p_;
};

} // namespace xdpnet
