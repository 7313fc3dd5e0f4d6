// From the datapath's flow table (abi.h: struct xdpnet_flow, one region of
// slots per CPU) to flow records: which flows are due (idle, active timeout,
// TCP end, pushed out of the table), with what counts, and the export marks
// (struct xdpnet_flow_exp, a pinned map) that make every packet reported
// once, across daemon restarts too. Pure: it works on the tables' memory
// (the daemon mmaps them; tests hand it arrays).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "telemetry/flow.h"
#include "xdpnet/abi.h"

namespace xdpnet::telemetry {

inline constexpr uint64_t kNsPerSec = 1000000000ull;

/// When a flow's record is due (the policy's telemetry.flows timeouts).
struct FlowTimeouts {
    uint64_t idle_ns = 30 * kNsPerSec;    ///< no packet for this long: the flow ended
    uint64_t active_ns = 60 * kNsPerSec;  ///< a long flow reports this often
    uint64_t end_grace_ns = 1 * kNsPerSec; ///< after FIN/RST, quiet this long: ended
    /// Rounds come every interval, a little early or late: a long flow is
    /// reported at the round nearest its active timeout (half an interval).
    uint64_t active_slack_ns = 0;
};

/// One flow of the table, its slots (CPUs) merged. Times on the datapath
/// clock. Counts are cumulative (merge_flows) or a record's (FlowExport).
struct DpFlow {
    struct xdpnet_flow_key key {};
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t drops = 0;
    uint64_t first_ns = 0;
    uint64_t last_ns = 0;
    uint8_t tcp_flags = 0;
    uint8_t flags = 0;       ///< enum xdpnet_flow_flags, OR over its slots
    uint8_t out_slot = 0;    ///< of the slot seen last (flags & FORWARDED)
    uint8_t drop_reason = 0; ///< of the slot seen last
    __be32 nat_saddr = 0, nat_daddr = 0; ///< flags & NAT
    __be16 nat_sport = 0, nat_dport = 0;
    uint32_t slots = 0;      ///< how many slots hold it
    EndReason end = EndReason::IdleTimeout;
};

/// A slot's full last-seen time (datapath ns) from its 32-bit `last` field,
/// taken as the latest such time not after now; a stamp up to 2^16 units
/// (~69 s) after now (counted while a reader worked) reads as now.
uint64_t flow_last_ns(uint32_t last, uint64_t now_ns);

/// The table's flows merged by key, cumulative since each took its slots
/// (what `xdpnet flows` shows). Order: bytes, largest first.
/// extra: flows from elsewhere (conn_flow), merged in as if slots.
std::vector<DpFlow> merge_flows(const struct xdpnet_flow* slots, size_t n, uint64_t now_ns,
                                const std::vector<struct xdpnet_flow>& extra = {});

/// A translated connection's half as a flow-table slot would hold it: the
/// datapath counts a translated packet in its connection's half (abi.h:
/// xdpnet_ct), never in the flow table. k/v: the half; peer: the other
/// half, if present (for the port a delivering half's packets leave by);
/// uplink_slot: the uplink of the half's network. The key is the tuple the
/// half's packets arrive with, on the VM's port and VLAN or on the uplink's
/// (VLAN 0); ICMP echo keeps the flow table's form (type and code as the
/// destination port, source port 0). serial: created_s + 1, one per life of
/// the key. A half that has counted nothing gives packets 0.
struct xdpnet_flow conn_flow(const struct xdpnet_ct_key& k, const struct xdpnet_ct& v,
                             const struct xdpnet_ct* peer, uint8_t uplink_slot);

/// Slots in use and capacity.
struct FlowFill {
    size_t used = 0;
    size_t capacity = 0;
};
FlowFill flow_fill(const struct xdpnet_flow* slots, size_t n);

/// A port as records name it, by slot.
struct PortInfo {
    std::string name;
    uint32_t ifindex = 0;
};

/// The exported form of a flow: addresses and ports in record form, ports
/// named (by_slot[slot]; unknown slots stay ""), times in Unix ns
/// (datapath clock + unix_minus_dp_ns).
FlowRecord to_record(const DpFlow& d, const std::vector<PortInfo>& by_slot, int64_t unix_minus_dp_ns);

/// Plans one export round over a table, its export marks and the flows the
/// datapath pushed out since the last round. Use in this order:
///   FlowExport round(slots, exp, n, now, timeouts);
///   round.scan();              // what each slot has not reported yet
///   round.evicted(event) ...   // every ring-buffer record, drained now
///   auto recs = round.finish(force);  // due records; marks moved
/// and send the records after finish: the marks move first, so a daemon
/// killed in between loses a record rather than repeating it.
class FlowExport {
  public:
    FlowExport(const struct xdpnet_flow* slots, struct xdpnet_flow_exp* exp, size_t n,
               uint64_t now_ns, const FlowTimeouts& t);

    /// Reads every slot once (a copy: the datapath keeps counting).
    void scan();
    /// A flow pushed out of its slot (it may be one scan() just read).
    /// Returns its record when it had anything unreported.
    bool evicted(const struct xdpnet_flow_event& ev, DpFlow* out);
    /// The records due now (every unreported count when force: the
    /// exporter stops), with their marks moved.
    std::vector<DpFlow> finish(bool force);

  private:
    struct Seen {
        uint32_t index;
        struct xdpnet_flow f;   // as scanned
        uint64_t base_packets;  // already reported of it
        uint64_t base_bytes;
        uint32_t base_drops;
        uint64_t base_ns;       // its last record (0: none yet)
        bool pending;           // the slot's mark belongs to a flow pushed out before
    };
    const struct xdpnet_flow* slots_;
    struct xdpnet_flow_exp* exp_;
    size_t n_;
    uint64_t now_;
    FlowTimeouts t_;
    std::vector<Seen> seen_;
};

/// The export of translated connections' flows (conn_flow, one per half),
/// which the flow table never holds: FlowExport's rules over the halves as
/// read each round, with the marks kept here, by key and serial. A half gone
/// from the connection table (expired, flushed) is reported from its last
/// reading once due, then forgotten. The marks live in this process only: a
/// restarted daemon reports live connections' counts from their start again.
class ConnFlowExport {
  public:
    /// One round over the halves as read now: the records due, marks moved.
    std::vector<DpFlow> round(const std::vector<struct xdpnet_flow>& halves, uint64_t now_ns,
                              const FlowTimeouts& t, bool force);
    /// Halves it keeps marks for.
    size_t tracked() const { return by_id_.size(); }

  private:
    struct Entry {
        struct xdpnet_flow f {};
        struct xdpnet_flow_exp mark {};
        uint64_t round = 0; // the last round that read it
    };
    std::unordered_map<std::string, Entry> by_id_; // key and serial
    uint64_t rounds_ = 0;
};

} // namespace xdpnet::telemetry
