// State shared by the subcommands: global options and common steps.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include "datapath/instance.h"
#include "policy/policy.h"
#include "telemetry/flow_export.h"

namespace xdpnet::cli {

struct Context {
    std::string instance; // -i
    int verbosity = 0;    // -v count
    bool json = false;    // --json
};

/// Registers a subcommand. Each cmd_*.cpp defines one or more of these.
using Registrar = std::function<void(CLI::App&, Context&)>;
void register_lifecycle(CLI::App& app, Context& ctx); // up, down, apply, check
void register_status(CLI::App& app, Context& ctx);
void register_fdb(CLI::App& app, Context& ctx);
void register_neigh(CLI::App& app, Context& ctx);
void register_nat(CLI::App& app, Context& ctx);
void register_stats(CLI::App& app, Context& ctx);
void register_controls(CLI::App& app, Context& ctx); // acl, police
void register_daemon(CLI::App& app, Context& ctx);
void register_flows(CLI::App& app, Context& ctx);
void register_capture(CLI::App& app, Context& ctx);
void register_trace(CLI::App& app, Context& ctx);

/// Throws Error(Permission) unless the process can load and attach BPF.
void require_privileges();
/// The instance to talk to: -i, else the only running one.
std::string pick_instance(const Context& ctx);
/// Holds an exclusive lock on an instance for a mutating command.
class InstanceLock {
  public:
    explicit InstanceLock(const std::string& instance);
    ~InstanceLock();
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;

  private:
    int fd_ = -1;
};

/// The live port called `name`; throws Error(Usage) listing the ports if none.
LivePort find_port(const Instance& inst, const std::string& name);
/// Port name for display ("#ifindex" when the interface is gone).
std::string port_label(const LivePort& p);

/// For commands that run until stopped: installs SIGINT/SIGTERM handlers that
/// set the returned flag.
const volatile std::sig_atomic_t& stop_on_signals();

/// Now, Unix time in ns (flow records' clock).
uint64_t unix_now_ns();
/// The live ports by slot, as flow records name them (unused slots: "", 0).
std::vector<telemetry::PortInfo> ports_by_slot(const Instance& inst);

/// Translated connections' flows, one per connection half (telemetry::conn_flow):
/// the datapath counts their packets in the halves, not in the flow table.
std::vector<struct xdpnet_flow> conn_flows(const Instance& inst);

/// Prints JSON (pretty) to stdout.
void print_json(const nlohmann::json& j);

} // namespace xdpnet::cli
