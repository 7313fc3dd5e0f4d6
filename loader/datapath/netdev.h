// Host interfaces: names, MACs, VLAN offloads, other XDP programs.
#pragma once

#include <optional>
#include <string>

#include "policy/policy.h"

namespace xdpnet::netdev {

/// ifindex and MAC of an interface in the current network namespace.
std::optional<policy::InterfaceInfo> lookup(const std::string& name);
/// The resolver the policy compiler uses on a real host.
policy::InterfaceResolver host_resolver();

/// net.ipv4.conf.<ifname>.forwarding: 0/1, or -1 when unreadable.
int ipv4_forwarding(const std::string& ifname);
bool set_ipv4_forwarding(const std::string& ifname, bool on);
/// Name of an ifindex, or "" when it no longer exists.
std::string name_of(unsigned ifindex);

/// The VLAN offload state: rx-vlan-hw-parse (rxvlan) and tx-vlan-hw-insert (txvlan).
struct VlanOffload {
    bool rx = false;
    bool tx = false;
};
std::optional<VlanOffload> get_vlan_offload(const std::string& ifname);
/// Sets both; returns false (and logs) when the driver refuses.
bool set_vlan_offload(const std::string& ifname, VlanOffload want);

/// The kernel driver behind an interface ("veth", "tun", ...), "" if unknown.
std::string driver(const std::string& ifname);

/// Describes an XDP program on ifindex that is not one of ours ("" if none).
/// `ours_prog_id` is the id of our ingress program.
std::string foreign_xdp(unsigned ifindex, unsigned ours_prog_id);

} // namespace xdpnet::netdev
