#!/bin/bash
# xdpnet netns lab: five "VMs", a "physical LAN" and an "internet" around the
# root namespace, which plays the host running xdpnet.
#
#   lab.sh up     [--prefix P]   (re)create the lab (tears down a previous one first)
#   lab.sh down   [--prefix P]   remove everything the lab made; idempotent
#   lab.sh status [--prefix P]   show what exists
#   lab.sh lan-up   [--prefix P] --xdpnet BIN   add hosts on VLANs to the LAN (below)
#   lab.sh lan-down [--prefix P] [--xdpnet BIN] remove them again (down does too)
#
# Topology (default prefix P=xn; interface names stay <= 15 characters):
#
#   ns P vm1  eth0 52:54:00:00:00:01 10.0.10.1/24              <-> root: Pvm1  (access VLAN 10)
#   ns P vm2  eth0 52:54:00:00:00:02 10.0.10.2/24              <-> root: Pvm2  (access VLAN 10)
#   ns P vm3  eth0 52:54:00:00:00:03 10.0.20.3/24 10.0.10.33/24 <-> root: Pvm3  (access VLAN 20)
#   ns P vm4  eth0 52:54:00:00:00:04 10.0.10.4/24              <-> root: Pvm4  (access VLAN 10)
#   ns P vm5  eth0 52:54:00:00:00:05 10.0.30.5/24              <-> root: Pvm5  (access VLAN 30)
#             default via 10.0.30.1 (natnet's gateway, served by xdpnet)
#   ns P lan  eth0 52:54:00:00:00:50 192.168.50.2/24           <-> root: Pup0  (trunk, native VLAN 1)
#                                       root: Pup0 52:54:00:00:00:fe 192.168.50.1/24 (the host)
#   ns P inet eth0 52:54:00:00:00:60 203.0.113.2/24            <-> root: Pwan  (not a switch port)
#             lo 198.51.100.1/32 (a server "far away")
#                                       root: Pwan 52:54:00:00:00:fd 203.0.113.1/24 (the host)
#                                       root: route 198.51.100.0/24 via 203.0.113.2 dev Pwan
#
# P inet is "the internet" behind the NAT network natnet (lab.yaml): Pwan is
# natnet's uplink, a routed host interface with the host's own address, which
# masquerade puts on vm5's outgoing connections and port forwards listen on.
# Nothing in P inet routes to 10.0.30.0/24, so only translated traffic can be
# answered. The host's default route is never touched, and nothing needs
# ip_forward: xdpnet translates and forwards in XDP.
#
# lan-up makes the "physical LAN" a switched LAN with hosts on VLANs: a second
# xdpnet instance (P lan, run inside ns P lan, policy tests/lab/lan.yaml) is its
# switch, with eth0 as the trunk to the host and an access port per LAN host:
#
#   ns P h10  eth0 52:54:00:00:00:a1 10.0.10.100/24                <-> P lan: lh10 (access VLAN 10)
#   ns P h20  eth0 52:54:00:00:00:a2 10.0.20.100/24 10.0.10.200/24 <-> P lan: lh20 (access VLAN 20)
#
# so VMs reach LAN hosts of their VLAN across two XDP switches and the tagged
# trunk between them. The LAN namespace's own 192.168.50.2 stays on eth0
# (a host port of the LAN switch, native VLAN 1).
#
# vm3 also holds 10.0.10.33/24: a ping to it from VLAN 10 is on-link, so its
# failure is the VLAN's doing, not routing's.  Host-side port MACs are
# 52:54:00:00:01:0N.  The VLANs only exist once xdpnet runs: without it the
# host ports are not bridged and nothing but the uplink's own address answers.
#
# Every veth end has rxvlan/txvlan off (XDP must see the tags) and IPv6 off
# (no router solicitations in the flood counters); the namespace ends have
# GRO on, so frames XDP-redirected into their peers are not silently lost.
# The VM ends have tx checksum offload off: a veth frame that XDP redirects
# into another veth loses its CHECKSUM_PARTIAL state, so TCP between VMs
# would arrive with unfinished checksums (ping works, TCP stalls). The LAN end
# keeps it on: traffic for the host goes up with XDP_PASS, which keeps it.
# The inet end has it off like a VM: replies and port-forwarded connections
# from the internet are XDP-redirected from Pwan into a VM's port.
set -euo pipefail

usage() {
	echo "usage: $0 up|down|status|lan-up|lan-down [--prefix P] [--xdpnet BIN]" >&2
	exit 2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
P=xn
XDPNET=${XDPNET:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || usage; P=$2; shift 2 ;;
	--prefix=*) P=${1#--prefix=}; shift ;;
	--xdpnet) [ $# -ge 2 ] || usage; XDPNET=$2; shift 2 ;;
	*) usage ;;
	esac
done
case "$P" in
'' | *[!a-zA-Z0-9_]*) echo "lab.sh: prefix must be [a-zA-Z0-9_]+" >&2; exit 2 ;;
esac
if [ ${#P} -gt 11 ]; then
	echo "lab.sh: prefix '$P' too long (interface names must stay <= 15 chars)" >&2
	exit 2
fi

VMS="vm1 vm2 vm3 vm4 vm5"
declare -A VM_MAC=([vm1]=52:54:00:00:00:01 [vm2]=52:54:00:00:00:02 [vm3]=52:54:00:00:00:03 [vm4]=52:54:00:00:00:04
	[vm5]=52:54:00:00:00:05)
declare -A PORT_MAC=([vm1]=52:54:00:00:01:01 [vm2]=52:54:00:00:01:02 [vm3]=52:54:00:00:01:03 [vm4]=52:54:00:00:01:04
	[vm5]=52:54:00:00:01:05)
declare -A VM_ADDR=([vm1]="10.0.10.1/24" [vm2]="10.0.10.2/24" [vm3]="10.0.20.3/24 10.0.10.33/24" [vm4]="10.0.10.4/24"
	[vm5]="10.0.30.5/24")
# A VM's default route (only the NAT network's VM has one).
declare -A VM_GW=([vm5]=10.0.30.1)
LAN_MAC=52:54:00:00:00:50
UP_MAC=52:54:00:00:00:fe
HOST_ADDR=192.168.50.1/24
LAN_ADDR=192.168.50.2/24
# The "internet" (natnet's uplink side).
INET_MAC=52:54:00:00:00:60
WAN_MAC=52:54:00:00:00:fd
WAN_ADDR=203.0.113.1/24
INET_ADDR=203.0.113.2/24
INET_GW=203.0.113.2
FAR_ADDR=198.51.100.1/32
FAR_NET=198.51.100.0/24

log() { echo "lab: $*"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Best-effort ethtool: a feature the driver lacks must not abort the lab.
offloads() { # NS|"" IF
	local ns=$1 ifc=$2 pre=()
	[ -n "$ns" ] && pre=(ip netns exec "$ns")
	"${pre[@]}" ethtool -K "$ifc" rxvlan off txvlan off >/dev/null 2>&1 || true
	# 802.1ad too, so QinQ test frames reach XDP as they were sent.
	"${pre[@]}" ethtool -K "$ifc" rx-vlan-stag-hw-parse off tx-vlan-stag-hw-insert off >/dev/null 2>&1 || true
	local k
	k=$("${pre[@]}" ethtool -k "$ifc" 2>/dev/null | grep -E '^(rx|tx)-vlan-offload: on' || true)
	if [ -n "$k" ]; then
		echo "lab.sh: cannot turn VLAN offload off on ${ns:+$ns/}$ifc" >&2
		return 1
	fi
}

no_ipv6() { # NS|"" IF
	local ns=$1 ifc=$2 pre=()
	[ -n "$ns" ] && pre=(ip netns exec "$ns")
	"${pre[@]}" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" >/dev/null 2>&1 || true
}

ns_list() { echo "${P}h10 ${P}h20 ${P}vm1 ${P}vm2 ${P}vm3 ${P}vm4 ${P}vm5 ${P}lan ${P}inet"; }
LAN_HOSTS="h10 h20"
declare -A LH_MAC=([h10]=52:54:00:00:00:a1 [h20]=52:54:00:00:00:a2)
declare -A LH_ADDR=([h10]="10.0.10.100/24" [h20]="10.0.20.100/24 10.0.10.200/24")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAN_PIN=/sys/fs/bpf/xdpnet/${P}lan
root_links() { echo "${P}vm1 ${P}vm2 ${P}vm3 ${P}vm4 ${P}vm5 ${P}up0 ${P}wan"; }

ns_exists() { [ -e "/run/netns/$1" ]; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# One namespace end: eth0 in NS, paired with HOSTIF in the root namespace.
make_pair() { # NS HOSTIF NSMAC HOSTMAC
	local ns=$1 hostif=$2 nsmac=$3 hostmac=$4
	ip netns add "$ns"
	nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	nsx "$ns" ip link set lo up
	ip link add "$hostif" address "$hostmac" type veth peer name eth0 address "$nsmac" netns "$ns"
	no_ipv6 "" "$hostif"
	no_ipv6 "$ns" eth0
	offloads "" "$hostif"
	offloads "$ns" eth0
	nsx "$ns" ethtool -K eth0 gro on >/dev/null
}

# The LAN switch: an xdpnet instance inside the LAN namespace.
lan_xdpnet() { nsenter --net="/run/netns/${P}lan" "$XDPNET" "$@"; }

do_lan_down() {
	local h
	if [ -d "$LAN_PIN" ]; then
		if [ -n "$XDPNET" ] && ns_exists "${P}lan"; then
			lan_xdpnet -i "${P}lan" down >/dev/null 2>&1 || true
		fi
		# Without the binary (or its namespace): unpinning is all that is left.
		[ -d "$LAN_PIN" ] && rm -rf "$LAN_PIN"
	fi
	for h in $LAN_HOSTS; do
		ns_exists "${P}$h" && ip netns del "${P}$h" 2>/dev/null || true
	done
	return 0
}

do_lan_up() {
	[ -n "$XDPNET" ] || { echo "lab.sh: lan-up needs --xdpnet BIN" >&2; exit 2; }
	ns_exists "${P}lan" || { echo "lab.sh: the lab (prefix $P) is not up" >&2; exit 1; }
	do_lan_down
	trap 'rc=$?; [ $rc -ne 0 ] && { echo "lab.sh: lan-up failed, cleaning up" >&2; do_lan_down || true; }; exit $rc' EXIT
	local h ns addr lan=${P}lan
	for h in $LAN_HOSTS; do
		ns=${P}$h
		ip netns add "$ns"
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
		nsx "$ns" ip link set lo up
		ip -n "$lan" link add "l$h" type veth peer name eth0 netns "$ns"
		nsx "$ns" ip link set eth0 address "${LH_MAC[$h]}"
		no_ipv6 "$lan" "l$h"
		offloads "$lan" "l$h"
		offloads "$ns" eth0
		nsx "$ns" ethtool -K eth0 gro on tx off >/dev/null
		for addr in ${LH_ADDR[$h]}; do
			nsx "$ns" ip addr add "$addr" dev eth0
		done
		nsx "$ns" ip link set eth0 up
		nsx "$lan" ip link set "l$h" up
		log "$ns eth0 ${LH_MAC[$h]} ${LH_ADDR[$h]} <-> $lan: l$h"
	done
	local policy
	policy=$(mktemp /tmp/xdpnet-lab-lan.XXXXXX.yaml)
	sed "s/^instance:.*/instance: ${P}lan/" "$HERE/lan.yaml" > "$policy"
	if ! lan_xdpnet up -c "$policy"; then
		rm -f "$policy"
		exit 1
	fi
	rm -f "$policy"
	trap - EXIT
	log "LAN switch up: instance ${P}lan in namespace $lan"
}

do_down() {
	local ns ifc pid
	do_lan_down
	for ns in $(ns_list); do
		ns_exists "$ns" || continue
		# Leftover test processes (tcpdump, iperf3) would keep the netns alive.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	for ifc in $(root_links); do
		link_exists "$ifc" && ip link del "$ifc" 2>/dev/null || true
	done
	# Deleting a namespace tears its veth ends down asynchronously: wait a bit
	# so "down; up" does not race with the old interfaces.
	local i
	for i in $(seq 1 50); do
		local left=0
		for ifc in $(root_links); do link_exists "$ifc" && left=1; done
		for ns in $(ns_list); do ns_exists "$ns" && left=1; done
		[ $left -eq 0 ] && return 0
		sleep 0.1
	done
	echo "lab.sh: leftovers after down:" >&2
	do_status >&2 || true
	return 1
}

do_up() {
	do_down
	# Whatever fails from here on, leave nothing half-made behind.
	trap 'rc=$?; [ $rc -ne 0 ] && { echo "lab.sh: up failed, cleaning up" >&2; do_down || true; }; exit $rc' EXIT

	local vm ns addr
	for vm in $VMS; do
		ns=${P}$vm
		make_pair "$ns" "${P}$vm" "${VM_MAC[$vm]}" "${PORT_MAC[$vm]}"
		for addr in ${VM_ADDR[$vm]}; do
			nsx "$ns" ip addr add "$addr" dev eth0
		done
		# The guest computes its own checksums: a frame XDP redirects from
		# one veth into another loses CHECKSUM_PARTIAL, so with tx
		# checksum offload on, TCP between VMs arrives with bad checksums
		# (ICMP still works).
		nsx "$ns" ethtool -K eth0 tx off >/dev/null
		nsx "$ns" ip link set eth0 up
		if [ -n "${VM_GW[$vm]:-}" ]; then
			nsx "$ns" ip route add default via "${VM_GW[$vm]}" dev eth0
		fi
		ip link set "${P}$vm" up
		log "$ns eth0 ${VM_MAC[$vm]} ${VM_ADDR[$vm]}${VM_GW[$vm]:+ via ${VM_GW[$vm]}} <-> ${P}$vm"
	done

	ns=${P}lan
	make_pair "$ns" "${P}up0" "$LAN_MAC" "$UP_MAC"
	nsx "$ns" ip addr add "$LAN_ADDR" dev eth0
	nsx "$ns" ip link set eth0 up
	ip addr add "$HOST_ADDR" dev "${P}up0"
	ip link set "${P}up0" up
	log "$ns eth0 $LAN_MAC $LAN_ADDR <-> ${P}up0 $UP_MAC $HOST_ADDR (host)"

	# The internet: replies and forwarded connections are XDP-redirected
	# from Pwan into VM ports, so checksums are done here, like in a VM.
	ns=${P}inet
	make_pair "$ns" "${P}wan" "$INET_MAC" "$WAN_MAC"
	nsx "$ns" ethtool -K eth0 tx off >/dev/null
	nsx "$ns" ip addr add "$INET_ADDR" dev eth0
	nsx "$ns" ip addr add "$FAR_ADDR" dev lo
	nsx "$ns" ip link set eth0 up
	ip addr add "$WAN_ADDR" dev "${P}wan"
	ip link set "${P}wan" up
	log "$ns eth0 $INET_MAC $INET_ADDR, lo $FAR_ADDR <-> ${P}wan $WAN_MAC $WAN_ADDR (host)"

	# Wait for carrier on every pair.
	local i ok
	for i in $(seq 1 50); do
		ok=1
		for vm in $VMS up0 wan; do
			[ "$(cat /sys/class/net/${P}$vm/operstate 2>/dev/null)" = up ] || ok=0
		done
		[ $ok -eq 1 ] && break
		sleep 0.1
	done
	[ $ok -eq 1 ] || { echo "lab.sh: links did not come up" >&2; exit 1; }
	# The far server's network, through the internet namespace. A specific
	# route only: the host's default route is none of the lab's business. It
	# goes away with ${P}wan.
	ip route replace "$FAR_NET" via "$INET_GW" dev "${P}wan"
	log "host route $FAR_NET via $INET_GW dev ${P}wan"
	trap - EXIT
	log "up (prefix $P)"
}

do_status() {
	local ns ifc any=0
	echo "namespaces:"
	for ns in $(ns_list); do
		if ns_exists "$ns"; then
			any=1
			printf '  %-10s ' "$ns"
			nsx "$ns" ip -br addr show dev eth0 2>/dev/null | tr -s ' ' || echo "(no eth0)"
			# Extra addresses on lo (the internet's far server), default routes.
			local extra
			extra=$(nsx "$ns" ip -br -4 addr show dev lo 2>/dev/null | tr -s ' ' | cut -d' ' -f3- |
				sed 's#127\.0\.0\.1/8##' | xargs || true)
			[ -n "$extra" ] && printf '  %-10s   lo: %s\n' "" "$extra"
			extra=$(nsx "$ns" ip route show default 2>/dev/null || true)
			[ -n "$extra" ] && printf '  %-10s   %s\n' "" "$extra"
		fi
	done
	echo "root-namespace ports:"
	for ifc in $(root_links); do
		if link_exists "$ifc"; then
			any=1
			local xdp
			xdp=$(ip -d link show dev "$ifc" | grep -o 'prog/xdp id [0-9]*\|xdpgeneric\|xdp ' | head -1 || true)
			printf '  %-10s %s %s\n' "$ifc" "$(ip -br addr show dev "$ifc" | tr -s ' ')" "${xdp:+[$xdp]}"
		fi
	done
	if link_exists "${P}wan"; then
		echo "host routes via ${P}wan:"
		ip route show dev "${P}wan" | sed 's/^/  /'
	fi
	[ $any -eq 1 ] || echo "  (lab with prefix '$P' is down)"
}

case "$cmd" in
up) do_up ;;
down) do_down && log "down (prefix $P)" ;;
lan-up) do_lan_up ;;
lan-down) do_lan_down && log "LAN hosts down (prefix $P)" ;;
status) do_status ;;
*) usage ;;
esac
