#!/usr/bin/env bash
# xdpnet benchmark: live-frames throughput and program cost, one command.
#
#   sudo bench/run.sh [--build-dir DIR] [--runs N] [--quick] [--duration S]
#                     [--cpu C] [--xdpnet PATH] [--no-xdpnet]
#                     [--no-nat | --nat-only] [--nat-flows N] [--no-nat-scale] [--nat-max-conns N] [--nat-flow-size N]
#                     [--no-controls | --controls-only] [--no-flows | --flows-only]
#                     [--flow-size N] [--export-flows N] [--export-runs N] [-- XDPNET-BENCH-ARGS]
#
# Builds a private topology (prefix xb: veths xbp0..4 in the root namespace,
# peers xbvN in namespaces xbnsN; a Linux bridge over xbb0/xbb1 in namespace
# xbnsbr, peers xbvbN in xbnsbN; for NAT two Linux routers in xbnsfw/xbnsnt
# and xdpnet's VM port xbp5 + uplink xbu0), starts xdpnet instances "bench"
# on xbp0..4 and "benchnat" on xbp5/xbu0, runs xdpnet-bench, writes
# bench/results/{raw.jsonl,latest.md,bench.png} and (full runs)
# bench/RESULTS.md. Everything it made is removed on exit, also on failure or
# Ctrl-C. See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BUILD=$REPO/build
RUNS=5
DURATION=2
REPEAT=5000000
QUICK=0
CPU=
USE_XDPNET=1
XDPNET=
RESULTS=$HERE/results
EXTRA=()
USE_NAT=1
NAT_ONLY=0
CONTROLS=1      # the per-VM controls part (policing, ACL sizes, nftables limit)
CONTROLS_ONLY=0
FLOWS=1         # the flow accounting part (issue 5): cost with vs without, export throughput
FLOWS_ONLY=0
# The bench instance's flow table (telemetry.flows.size, fixed at `up`): room
# for the export part's flows (two pairs of two slots per key: keep it under 3/4 full).
FLOW_SIZE=262144
EXPORT_FLOWS=100000 # active flows the daemon exports every interval
EXPORT_RUNS=3       # runs per exporter (IPFIX, JSON lines)
EXPORT_WARMUP=2     # seconds of the daemon's rounds before the measured window
EXPORT_WINDOW=9     # seconds measured
NAT_FLOWS=16384
NAT_SCALE=1
# The NAT instance's connection table (preallocated at up, two entries of
# about 150 bytes each per connection): room for the new-connection runs
# (at most 3/4 of it per run) and the 1M-connection fill.
NAT_MAX_CONNS=4194304
# The NAT instance's flow table (telemetry.flows.size): the policy default.
# Translated packets are counted by their connections and take no slot, so
# the NAT scenarios hardly touch it (the report gives the slots taken).
NAT_FLOW_SIZE=65536
PY=/usr/bin/python3 # Debian's; the python3 on PATH may be another one

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) BUILD=$(realpath "$2"); shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --cpu) CPU=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --xdpnet) XDPNET=$(realpath "$2"); shift 2 ;;
    --no-xdpnet) USE_XDPNET=0; shift ;;
    --no-nat) USE_NAT=0; shift ;;
    --nat-only) NAT_ONLY=1; shift ;;
    --nat-flows) NAT_FLOWS=$2; shift 2 ;;
    --no-nat-scale) NAT_SCALE=0; shift ;;
    --nat-max-conns) NAT_MAX_CONNS=$2; shift 2 ;;
    --nat-flow-size) NAT_FLOW_SIZE=$2; shift 2 ;;
    --no-controls) CONTROLS=0; shift ;;
    --controls-only) CONTROLS_ONLY=1; USE_NAT=0; FLOWS=0; shift ;;
    --no-flows) FLOWS=0; shift ;;
    --flows-only) FLOWS_ONLY=1; USE_NAT=0; CONTROLS=0; shift ;;
    --flow-size) FLOW_SIZE=$2; shift 2 ;;
    --export-flows) EXPORT_FLOWS=$2; shift 2 ;;
    --export-runs) EXPORT_RUNS=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    RUNS=3
    DURATION=0.5
    REPEAT=1000000
    EXPORT_RUNS=1
    EXPORT_WINDOW=5
fi
# Quick and partial (-- ARGS) runs write to results/quick/, so they never
# overwrite the data of the last full run.
if [[ $QUICK == 1 || $NAT_ONLY == 1 || $CONTROLS_ONLY == 1 || $FLOWS_ONLY == 1 || ${#EXTRA[@]} -gt 0 ]]; then
    RESULTS=$HERE/results/quick
fi
if [[ $NAT_ONLY == 1 && $USE_NAT == 0 ]]; then
    echo "run.sh: --nat-only and --no-nat contradict each other" >&2
    exit 2
fi
[[ $RUNS -ge 1 ]] || { echo "run.sh: --runs must be >= 1" >&2; exit 2; }
if [[ $FLOWS_ONLY == 1 && ($FLOWS == 0 || $NAT_ONLY == 1 || $CONTROLS_ONLY == 1) ]]; then
    echo "run.sh: --flows-only contradicts --no-flows, --nat-only and --controls-only" >&2
    exit 2
fi
[[ $EXPORT_RUNS -ge 1 && $EXPORT_FLOWS -ge 1 ]] || { echo "run.sh: --export-runs and --export-flows must be >= 1" >&2; exit 2; }
if ((EXPORT_FLOWS * 4 > FLOW_SIZE * 3)); then
    echo "run.sh: --export-flows $EXPORT_FLOWS needs --flow-size of at least $((EXPORT_FLOWS * 4 / 3 + 1))" >&2
    exit 2
fi
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (BPF, netns)" >&2; exit 4; }

XDPNET=${XDPNET:-$BUILD/loader/xdpnet}
BENCH=$BUILD/bench/xdpnet-bench
[[ -x $BENCH ]] || { echo "run.sh: $BENCH not built (cmake -DXDPNET_BENCH=ON, target xdpnet-bench)" >&2; exit 1; }
if [[ $USE_XDPNET == 1 && ! -x $XDPNET ]]; then
    echo "run.sh: $XDPNET not built; running the baselines only" >&2
    USE_XDPNET=0
fi
if [[ $USE_NAT == 1 ]] && ! command -v nft >/dev/null; then
    echo "run.sh: nft not found (apt-get install nftables): skipping the NAT part" >&2
    USE_NAT=0
    [[ $NAT_ONLY == 1 ]] && exit 1
fi

INSTANCE=bench
PIN_DIR=/sys/fs/bpf/xdpnet/$INSTANCE
NAT_INSTANCE=benchnat
NAT_PIN_DIR=/sys/fs/bpf/xdpnet/$NAT_INSTANCE
VLAN=10
NAT_VLAN=30
NPORTS=5 # xbp0..xbp4
TMP=$(mktemp -d /tmp/xdpnet-bench.XXXXXX)
XDPNET_UP=0
NAT_UP=0
DAEMON_PID= # the flow export part's daemon, IPFIX collector and flow-fill
NFCAPD_PID=
FILL_PID=
DAEMON_RAN=0
NAT_NOTE=
NAT_SETUP_S=0
BENCH_PID=
# xdpnet-bench ARGS in the background + wait, so that a TERM/INT to this
# script stops it at once (the trap kills $BENCH_PID).
bench() {
    "$BENCH" "$@" &
    BENCH_PID=$!
    wait "$BENCH_PID"
    BENCH_PID=
}

log() { printf '[bench] %s\n' "$*" >&2; }

# Removes everything this script creates; safe to run when nothing exists.
cleanup() {
    local rc=$?
    set +e
    for pid in "$BENCH_PID" "$DAEMON_PID" "$FILL_PID" "$NFCAPD_PID"; do
        [[ -n $pid ]] || continue
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ $XDPNET_UP == 1 || -d $PIN_DIR ]]; then
        "$XDPNET" down -i "$INSTANCE" >/dev/null 2>&1 || log "xdpnet down -i $INSTANCE failed"
    fi
    if [[ $NAT_UP == 1 || -d $NAT_PIN_DIR ]]; then
        "$XDPNET" down -i "$NAT_INSTANCE" >/dev/null 2>&1 || log "xdpnet down -i $NAT_INSTANCE failed"
    fi
    # The namespaces take their veth ends, addresses, routes, neighbours and
    # nftables tables with them; the root namespace's xbp*/xbb*/xbu* ends
    # take the uplink address, route and neighbour of the xdpnet NAT leg.
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^xbns/ {print $1}'); do
        ip netns del "$ns"
    done
    for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^xb(p|b|u)[0-9]+$'); do
        ip link del "$dev" 2>/dev/null
    done
    # the daemon's lock file (the instance is gone with the bench)
    [[ $DAEMON_RAN == 1 ]] && rm -f "/run/xdpnet/$INSTANCE.daemon.lock"
    rm -rf "$TMP"
    return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

leftovers() {
    ip netns list 2>/dev/null | grep -q '^xbns' && return 0
    ip link show xbp0 >/dev/null 2>&1 && return 0
    ip link show xbu0 >/dev/null 2>&1 && return 0
    [[ -d $PIN_DIR || -d $NAT_PIN_DIR ]] && return 0
    return 1
}
if leftovers; then
    log "removing leftovers of an earlier bench run"
    cleanup
    TMP=$(mktemp -d /tmp/xdpnet-bench.XXXXXX)
fi

# --- topology -------------------------------------------------------------
# One namespace per port end (the "VMs"), peers named xbvN; the host ends
# stay in the root namespace, where xdpnet runs.
# inns NS ARGS: run ARGS in namespace NS ("" = the root namespace)
inns() {
    local ns=$1
    shift
    if [[ -n $ns ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}
add_pair() { # host-end ns peer [host-ns]
    local host=$1 ns=$2 peer=$3 hns=${4:-}
    ip netns add "$ns"
    ip ${hns:+-n "$hns"} link add "$host" type veth peer name "$peer" netns "$ns"
    inns "$hns" sysctl -qw "net.ipv6.conf.$host.disable_ipv6=1"
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$peer.disable_ipv6=1" net.ipv6.conf.all.disable_ipv6=1
    # The tag must be in the frame where XDP sees it.
    inns "$hns" ethtool -K "$host" rxvlan off txvlan off >/dev/null 2>&1 || true
    ip netns exec "$ns" ethtool -K "$peer" rxvlan off txvlan off >/dev/null 2>&1 || true
    # No IGMP of their own (multicast off before up, or a report is already
    # scheduled): only the generator's frames on the wire.
    ip ${hns:+-n "$hns"} link set "$host" multicast off
    ip -n "$ns" link set "$peer" multicast off
    ip ${hns:+-n "$hns"} link set "$host" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$peer" up
}

log "topology: xbp0..xbp$((NPORTS - 1)); bridge xbbr0 over xbb0..1 in namespace xbnsbr"
for ((i = 0; i < NPORTS; i++)); do add_pair "xbp$i" "xbns$i" "xbv$i"; done

# The Linux bridge reference: xbb0 -> xbb1, destinations static in its FDB.
# It lives in its own namespace, away from whatever netfilter rules the root
# namespace has (conntrack there would slow bridged traffic through
# br_netfilter); xdpnet-bench switches bridge-nf-call-* there per scenario.
ip netns add xbnsbr
ip netns exec xbnsbr sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n xbnsbr link set lo up
add_pair xbb0 xbnsb0 xbvb0 xbnsbr
add_pair xbb1 xbnsb1 xbvb1 xbnsbr
ip -n xbnsbr link add xbbr0 type bridge mcast_snooping 0 # snooping sends IGMP reports of its own
ip -n xbnsbr link set xbb0 master xbbr0
ip -n xbnsbr link set xbb1 master xbbr0
ip -n xbnsbr link set xbbr0 multicast off
ip -n xbnsbr link set xbbr0 up
"$BENCH" macs d1 > "$TMP/d1"
"$BENCH" macs d2 > "$TMP/d2"
awk '{print "fdb add " $1 " dev xbb1 master static"}' "$TMP/d1" > "$TMP/bridge.batch"
ip netns exec xbnsbr bridge -batch "$TMP/bridge.batch"

# --- NAT topology -----------------------------------------------------------
# The same addressing three times (see xdpnet-bench.cpp, "Routed / NAT
# frames"): VMs 10.0.30.10-209 behind the router's 10.0.30.1, the router's
# uplink address 198.18.0.1/24, the next hop 198.18.0.2 (the uplink peer's
# MAC, a permanent neighbour), remote servers 198.19.0.0/16 behind it (a
# specific route; no default route is touched). Nothing needs ARP.
#   xbnsfw: Linux IPv4 forwarding (ip_forward=1 in this namespace only)
#           xbf0 <-> xbvf0 in xbnsf0 (VMs), xbf1 <-> xbvf1 in xbnsf1 (uplink side)
#   xbnsnt: the same + nftables masquerade on the uplink (conntrack)
#           xbn0 <-> xbvn0 in xbnsn0, xbn1 <-> xbvn1 in xbnsn1
#   root:   xdpnet instance benchnat: xbp5 (access VLAN 30) <-> xbv5 in xbns5,
#           uplink xbu0 <-> xbvu0 in xbnsu0
ifmac() { ip ${1:+-n "$1"} -o link show "$2" 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
nat_addressing() { # ns ("" = root) vm-dev ("" = none) up-dev up-peer-ns up-peer
    local ns=$1 vm=$2 up=$3 pns=$4 peer=$5
    if [[ -n $vm ]]; then ip ${ns:+-n "$ns"} addr add 10.0.30.1/24 dev "$vm"; fi
    ip ${ns:+-n "$ns"} addr add 198.18.0.1/24 dev "$up"
    ip ${ns:+-n "$ns"} route add 198.19.0.0/16 via 198.18.0.2 dev "$up"
    ip ${ns:+-n "$ns"} neigh replace 198.18.0.2 lladdr "$(ifmac "$pns" "$peer")" dev "$up" nud permanent
}
nat_router() { # ns vm-dev vm-ns vm-peer up-dev up-ns up-peer
    local ns=$1
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
        net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    ip -n "$ns" link set lo up
    add_pair "$2" "$3" "$4" "$ns"
    add_pair "$5" "$6" "$7" "$ns"
    nat_addressing "$ns" "$2" "$5" "$6" "$7"
    # the VMs, for the replies: permanent neighbours
    "$BENCH" macs vm 200 | awk -v d="$2" '{print "neigh replace 10.0.30." NR + 9 " lladdr " $1 " dev " d " nud permanent"}' \
        > "$TMP/vmneigh.batch"
    ip -n "$ns" -batch "$TMP/vmneigh.batch"
}
if [[ $USE_NAT == 1 ]]; then
    log "NAT topology: Linux routers in xbnsfw (forwarding) and xbnsnt (nftables masquerade); xbp5 + uplink xbu0"
    nat_t0=$(date +%s.%N)
    nat_router xbnsfw xbf0 xbnsf0 xbvf0 xbf1 xbnsf1 xbvf1
    nat_router xbnsnt xbn0 xbnsn0 xbvn0 xbn1 xbnsn1 xbvn1
    ip netns exec xbnsnt nft -f - <<'EOF'
table ip xbnat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "xbn1" masquerade
    }
}
EOF
    add_pair xbp5 xbns5 xbv5
    add_pair xbu0 xbnsu0 xbvu0
    nat_addressing "" "" xbu0 xbnsu0 xbvu0
    # bpf_fib_lookup answers FWD_DISABLED unless forwarding is on for the
    # interface it is asked about: on for these two only (never all/default).
    sysctl -qw net.ipv4.conf.xbu0.forwarding=1 net.ipv4.conf.xbp5.forwarding=1
    NAT_SETUP_S=$(awk -v a="$nat_t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
fi

# --- xdpnet ---------------------------------------------------------------
# xdpnet's housekeeping timer (FDB aging; with NAT every second, walking the
# whole connection table) fires on the CPU that ran `xdpnet up`. Start xdpnet
# on the CPUs other than the generator's, so its passes stay out of the
# measurements (xdpnet-bench measures the pass itself; see README).
NCPU=$(nproc)
GEN_CPU=${CPU:-$((NCPU - 1))}
HK=()
if [[ $NCPU -gt 1 ]] && command -v taskset >/dev/null; then
    hk_cpus=$(seq 0 $((NCPU - 1)) | grep -vx "$GEN_CPU" | paste -sd, -)
    HK=(taskset -c "$hk_cpus")
fi
# xbp0, xbp1, xbp3, xbp4: access VLAN 10; xbp2: trunk carrying VLAN 10 tagged.
# Destinations d1 behind xbp1, d2 behind xbp2 (static); sources are learned.
# Whether to start xdpnet at all; USE_XDPNET below says whether the L2
# instance came up (the NAT instance is tried even if it did not).
WANT_XDPNET=$USE_XDPNET
if [[ $USE_XDPNET == 1 ]]; then
    {
        echo "instance: $INSTANCE"
        echo "bridge:"
        echo "  mac_aging: 1d        # keeps the aging pass rare (every 60 s)"
        echo "  fdb_size: 2097152    # room for the 1M-entry FDB fill"
        echo "  xdp_mode: native"
        echo "ports:"
        for ((i = 0; i < NPORTS; i++)); do
            if [[ $i == 2 ]]; then
                echo "  - {name: xbp$i, mode: trunk, vlans: [$VLAN]}"
            else
                echo "  - {name: xbp$i, mode: access, vlan: $VLAN}"
            fi
        done
        echo "telemetry:"
        echo "  flows: { size: $FLOW_SIZE }  # fixed at up: room for the flow export part"
        echo "static_fdb:"
        awk -v v=$VLAN '{print "  - {mac: \"" $1 "\", vlan: " v ", port: xbp1}"}' "$TMP/d1"
        awk -v v=$VLAN '{print "  - {mac: \"" $1 "\", vlan: " v ", port: xbp2}"}' "$TMP/d2"
    } > "$TMP/policy.yaml"
    log "xdpnet up (instance $INSTANCE)"
    # Retried: another instance's `down` on this machine can remove the pin
    # root between xdpnet's mkdir of /sys/fs/bpf/xdpnet and of its instance dir.
    for attempt in 1 2 3; do
        if "${HK[@]}" "$XDPNET" up -c "$TMP/policy.yaml" > "$TMP/up.log" 2>&1; then
            XDPNET_UP=1
            break
        fi
        cat "$TMP/up.log" >&2
        "$XDPNET" down -i "$INSTANCE" > /dev/null 2>&1 || true
        sleep 1
    done
    if [[ $XDPNET_UP != 1 ]]; then
        log "xdpnet up failed 3 times: running the baselines only"
        USE_XDPNET=0
    fi
fi

# --- xdpnet NAT instance ----------------------------------------------------
# A separate instance, so that a build without the NAT datapath still runs
# the L2 scenarios. `up` refusing the uplink ("not in this datapath yet") means
# the leg is reported as not available in this build: never a number.
NAT_ROUTER_MAC=
if [[ $USE_NAT == 1 && $WANT_XDPNET == 0 ]]; then
    NAT_NOTE="xdpnet was not run (--no-xdpnet, or not built)"
elif [[ $USE_NAT == 1 ]]; then
    nat_t0=$(date +%s.%N)
    cat > "$TMP/nat-policy.yaml" <<EOF
instance: $NAT_INSTANCE
ports:
  - { name: xbp5, mode: access, vlan: $NAT_VLAN }
networks:
  - name: natnet
    vlan: $NAT_VLAN
    gateway: 10.0.30.1/24
    uplink: xbu0          # 198.18.0.1/24; route 198.19.0.0/16 via 198.18.0.2 (permanent neighbour)
    masquerade: true
    port_range: 1024-65535  # the new-connection traffic uses source ports 1024-65535
    max_connections: $NAT_MAX_CONNS  # preallocated: 2 entries per connection
telemetry:
  flows: { size: $NAT_FLOW_SIZE }  # the default unless --nat-flow-size
EOF
    log "xdpnet up (instance $NAT_INSTANCE: NAT)"
    for attempt in 1 2 3; do
        if "${HK[@]}" "$XDPNET" up -c "$TMP/nat-policy.yaml" > "$TMP/nat-up.log" 2>&1; then
            NAT_UP=1
            break
        fi
        "$XDPNET" down -i "$NAT_INSTANCE" > /dev/null 2>&1 || true
        grep -q "not in this datapath yet" "$TMP/nat-up.log" && break
        sleep 1
    done
    if [[ $NAT_UP == 1 ]]; then
        NAT_ROUTER_MAC=$("$XDPNET" -i "$NAT_INSTANCE" status --json 2>/dev/null |
            "$PY" -c 'import json, sys; print(next(n["router_mac"] for n in json.load(sys.stdin)["networks"] if n["vlan"] == int(sys.argv[1])))' "$NAT_VLAN" 2>/dev/null) || true
        if [[ -z $NAT_ROUTER_MAC ]]; then
            NAT_NOTE="xdpnet status --json shows no router_mac for VLAN $NAT_VLAN"
            log "$NAT_NOTE: not measuring the xdpnet NAT leg"
        fi
    else
        reason=$(grep -m1 -iE 'error|not in this datapath' "$TMP/nat-up.log" || head -n1 "$TMP/nat-up.log")
        reason=${reason//$TMP\//}
        if grep -q "not in this datapath yet" "$TMP/nat-up.log"; then
            NAT_NOTE="not available in this build (xdpnet up: ${reason})"
        else
            NAT_NOTE="xdpnet up failed: ${reason}"
            tail -n 20 "$TMP/nat-up.log" >&2
        fi
        log "xdpnet NAT: $NAT_NOTE"
    fi
    NAT_SETUP_S=$(awk -v s="$NAT_SETUP_S" -v a="$nat_t0" -v b="$(date +%s.%N)" 'BEGIN {print s + b - a}')
fi
if [[ $USE_NAT == 1 ]]; then log "NAT setup (topology, nftables, xdpnet up) took $(printf %.1f "$NAT_SETUP_S") s"; fi

# --- measure --------------------------------------------------------------
mkdir -p "$RESULTS"
RAW=$RESULTS/raw.jsonl
: > "$RAW"
args=(run --runs "$RUNS" --duration "$DURATION" --repeat "$REPEAT" --vlan "$VLAN" --out "$RAW")
[[ -n $CPU ]] && args+=(--cpu "$CPU")
[[ $USE_XDPNET == 1 ]] && args+=(--pin-dir "$PIN_DIR")
if [[ $USE_NAT == 1 ]]; then
    args+=(--nat --nat-flows "$NAT_FLOWS")
    [[ -n $NAT_ROUTER_MAC ]] && args+=(--nat-xdpnet --nat-router-mac "$NAT_ROUTER_MAC" --nat-pin-dir "$NAT_PIN_DIR" --xdpnet "$XDPNET")
    [[ $NAT_SCALE == 0 ]] && args+=(--no-nat-scale)
    [[ -n $NAT_NOTE ]] && args+=(--nat-note "$NAT_NOTE")
fi
[[ $NAT_ONLY == 1 ]] && args+=(--no-fdb --only floor,nat_fwd,nat_nft,nat_nft_in,nat_xdp,nat_xdp_in,cost_trivial,cost_gen_nat,cost_nat_out,cost_nat_in,nat_setup,cost_nat_new,nat_ct)
[[ $CONTROLS_ONLY == 1 ]] && args+=(--no-fdb --only floor,uc_aa,bridge,cost_trivial,cost_uc_aa_direct)
[[ $FLOWS_ONLY == 1 ]] && args+=(--no-fdb --only floor,uc_aa,cost_trivial,cost_uc_aa_direct)
args+=("${EXTRA[@]}")
log "xdpnet-bench ${args[*]}"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v l="${load_before%% *}" 'BEGIN {exit !(l > 0.5)}' && log "load average is $load_before: other work on the machine will show in the numbers"
start=$(date +%s)
bench "${args[@]}"

# --- per-VM controls (issue 4) ------------------------------------------------
# The same traffic (access -> access, 1024 flows) through variants of the
# policy, applied to the running instance one after the other: xbp0 policed
# (a rate above the offered load: the cost of policing; and a 100k pps limit:
# what it enforces), and ACLs of 10, 1000 and 10000 rules (none matching the
# traffic, default allow: the cost of the search). The Linux bridge gets the
# same two nftables `limit rate` rules. Records are tagged with the variant.
controls_policy() { # variant -> policy on stdout
    "$PY" - "$TMP/policy.yaml" "$1" <<'PYEOF'
import sys
base, variant = open(sys.argv[1]).read(), sys.argv[2]
police = {
    "police": "{ingress: {rate: 100gbit, burst: 1gb, pps: 1000000000, pps_burst: 1000000000}}",
    "police_limit": "{ingress: {pps: 100000, pps_burst: 1000}}",
}
if variant in police:
    port = "- {name: xbp0, mode: access, vlan: 10}"
    assert port in base
    print(base.replace(port, port[:-1] + ", police: " + police[variant] + "}"), end="")
    sys.exit(0)
n = int(variant[3:])  # aclN: N deny rules in four shapes, none matching the traffic
out = [base.rstrip("\n"), "acl:", "  default: allow", "  rules:"]
for i in range(n):
    a, b = (i // 250) % 250, i % 250
    k = i % 4
    if k == 0:
        out.append(f"    - {{action: deny, proto: tcp, to: 192.0.{a}.{b}/32, dst_port: {1000 + i % 5000}}}")
    elif k == 1:
        out.append(f"    - {{action: deny, proto: udp, from: 172.{16 + i % 16}.{a}.{b}/32}}")
    elif k == 2:
        out.append(f"    - {{action: deny, proto: icmp, from_vlan: 10, to: 198.51.{a}.{b}/32}}")
    else:
        out.append(f"    - {{action: deny, proto: udp, from_vlan: 10, to_vlan: 10, src_port: {1 + i}, dst_port: 7}}")
print("\n".join(out))
PYEOF
}
if [[ $CONTROLS == 1 && $NAT_ONLY == 0 && $USE_XDPNET == 1 ]]; then
    cbase=(run --runs "$RUNS" --duration "$DURATION" --repeat "$REPEAT" --vlan "$VLAN" --out "$RAW" --no-fdb
        --pin-dir "$PIN_DIR")
    [[ -n $CPU ]] && cbase+=(--cpu "$CPU")
    for variant in police police_limit acl10 acl1000 acl10000; do
        controls_policy "$variant" > "$TMP/policy-$variant.yaml"
        if ! "$XDPNET" apply -c "$TMP/policy-$variant.yaml" > "$TMP/apply-$variant.log" 2>&1; then
            log "controls: xdpnet apply ($variant) failed: $(tail -n1 "$TMP/apply-$variant.log")"
            continue
        fi
        only=uc_aa,cost_uc_aa_direct
        [[ $variant == police_limit ]] && only=uc_aa # the program mostly drops: no cost figure
        log "controls: $variant"
        bench "${cbase[@]}" --only "$only" --variant "$variant"
    done
    "$XDPNET" apply -c "$TMP/policy.yaml" > /dev/null 2>&1 || log "controls: restoring the base policy failed"
    for variant in nft_limit nft_limit_rate; do
        rate=1000000000
        [[ $variant == nft_limit_rate ]] && rate=100000
        ip netns exec xbnsbr nft -f - <<NFTEOF
table bridge xblimit {
    chain forward {
        type filter hook forward priority 0; policy accept;
        limit rate over $rate/second burst 1000 packets drop
    }
}
NFTEOF
        log "controls: $variant (Linux bridge + nftables limit rate over $rate/second)"
        bench "${cbase[@]}" --only bridge --variant "$variant"
        ip netns exec xbnsbr nft delete table bridge xblimit
    done
fi

# --- flow accounting (issue 5) -------------------------------------------------
# 1. What accounting costs per packet: the same access->access traffic and
#    program cost with telemetry.flows off and on, in blocks interleaved back
#    to back (off, on, off, on) so that drift of the machine hits both alike.
# 2. What exporting costs the daemon: EXPORT_FLOWS active flows written into
#    the flow table (xdpnet-bench flow-fill: news for every flow every
#    second), a daemon exporting them every second (active_timeout 1s) as IPFIX
#    to nfcapd and as JSON lines to /dev/null; its CPU time over a steady
#    window, the records per round and per second, what the collector got.
flows_policy() { # variant -> policy on stdout (flows_on is the base policy)
    "$PY" - "$TMP/policy.yaml" "$1" "$FLOW_SIZE" <<'PYEOF'
import sys
base, variant, size = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
lines = base.split("\n")
i = lines.index("telemetry:")
assert lines[i + 1].startswith("  flows: {"), lines[i + 1]
lines[i + 1] = {
    "flows_on": lines[i + 1],
    "flows_off": "  flows: off",
    # every flow with news is due every round; none ends during a run
    "flows_export": f"  flows: {{ size: {size}, idle_timeout: 60s, active_timeout: 1s }}",
}[variant]
print("\n".join(lines), end="")
PYEOF
}
json_note() { # kind variant block text -> one JSON line on stdout
    "$PY" -c 'import json, sys; print(json.dumps({"kind": sys.argv[1], "variant": sys.argv[2], "block": int(sys.argv[3]), "text": sys.argv[4]}))' "$@"
}
if [[ $FLOWS == 1 && $NAT_ONLY == 0 && $CONTROLS_ONLY == 0 && $USE_XDPNET == 1 ]]; then
    fbase=(run --runs "$RUNS" --duration "$DURATION" --repeat "$REPEAT" --vlan "$VLAN" --out "$RAW" --no-fdb
        --pin-dir "$PIN_DIR")
    [[ -n $CPU ]] && fbase+=(--cpu "$CPU")
    flows_policy flows_off > "$TMP/policy-flows_off.yaml"
    block=0
    for variant in flows_off flows_on flows_off flows_on; do
        [[ $variant == flows_off ]] && block=$((block + 1))
        pol=$TMP/policy.yaml
        [[ $variant == flows_off ]] && pol=$TMP/policy-flows_off.yaml
        if ! "$XDPNET" apply -c "$pol" > "$TMP/apply-$variant.log" 2>&1; then
            msg=$(grep -m1 -i 'error' "$TMP/apply-$variant.log" || tail -n1 "$TMP/apply-$variant.log")
            if [[ $variant == flows_off ]] && grep -q "flows.size changed" "$TMP/apply-$variant.log" &&
                "$BENCH" flow-bits --pin-dir "$PIN_DIR" --set 0 > /dev/null; then
                # xdpnet refuses `flows: off` on an instance whose flow table is
                # not the default size (it compares the default size with the
                # running table). What `flows: off` compiles to is flow_bits 0
                # in the live configuration: written straight, undone by the
                # next apply. Said in the report.
                log "flows: xdpnet apply refused flows: off ($msg); flow_bits = 0 written to the live configuration instead"
                json_note note "$variant" "$block" "xdpnet apply refused \`telemetry: flows: off\` ($msg); flows were turned off by writing flow_bits = 0 into the live generation's xdpnet_config, which is what \`flows: off\` compiles to" >> "$RAW"
            else
                log "flows: xdpnet apply ($variant) failed: $msg"
                continue
            fi
        fi
        log "flows: $variant (block $block)"
        bench "${fbase[@]}" --only uc_aa,cost_trivial,cost_uc_aa_direct,cost_gen_trivial,cost_uc_aa --variant "$variant" \
            --block "$block"
    done
    "$XDPNET" apply -c "$TMP/policy.yaml" > /dev/null 2>&1 || log "flows: restoring the base policy failed"

    # 2. Export.
    cat > "$TMP/flow_export.py" <<'PYEOF'
"""The flow export part's measurements: the daemon's /metrics and CPU time."""
import json, os, re, sys, time, urllib.request

def scrape(url):
    # The daemon serves a request between its rounds (a round in progress
    # delays it): its counters are those of the moment the answer came.
    body = urllib.request.urlopen(url, timeout=30).read().decode()
    t1 = time.monotonic()
    m = {}
    for line in body.splitlines():
        r = re.match(r'^(\w+)(?:\{([^}]*)\})?\s+(\S+)$', line)
        if not r or line.startswith("#"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', r.group(2) or ""))
        key = r.group(1) + (":" + labels["exporter"] if "exporter" in labels else "")
        m[key] = float(r.group(3))
    return t1, m

def cpu_ticks(pid):
    s = open(f"/proc/{pid}/stat").read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)

def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

cmd, args = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2]))
if cmd == "window":
    # After the warm-up, a scrape, the CPU time, the window, the CPU time, a
    # scrape: the scrapes (their own work in the daemon) stay out of the CPU window.
    pid, url, exp = int(args["--pid"]), args["--url"], args["--exporter"]
    time.sleep(float(args["--warmup"]))
    ts1, m1 = scrape(url)
    c1, t1 = cpu_ticks(pid), time.monotonic()
    time.sleep(float(args["--window"]))
    c2, t2 = cpu_ticks(pid), time.monotonic()
    ts2, m2 = scrape(url)
    tck = os.sysconf("SC_CLK_TCK")
    d = lambda k: m2.get(k, 0) - m1.get(k, 0)
    recs, rounds = d("xdpnet_flow_records_exported_total:" + exp), d("xdpnet_flow_export_rounds_total")
    out = {
        "window_s": t2 - t1, "cpu_ticks": c2 - c1, "clk_tck": tck, "cpu_s": (c2 - c1) / tck,
        "cpu_share": (c2 - c1) / tck / (t2 - t1),
        "records": recs, "rounds": rounds, "scrape_s": ts2 - ts1, "scrape_wait_s": ts2 - t2,
        "records_per_round": recs / rounds if rounds else 0.0,
        "records_per_s": recs / (ts2 - ts1),
        "lost": d("xdpnet_flow_records_lost_total:" + exp),
        "cpu_ms_per_round": 1e3 * (c2 - c1) / tck / rounds if rounds else 0.0,
        "round_s_last": m2.get("xdpnet_flow_export_round_seconds", 0.0),
        "slots_used": m2.get("xdpnet_flow_table_slots_used", 0), "slots": m2.get("xdpnet_flow_table_slots", 0),
        "accounting": m2.get("xdpnet_flow_accounting", -1),
        "rss_mb": rss_mb(pid),
    }
    print(json.dumps(out))
elif cmd == "udp-rcvbuf-errors":
    # datagrams the kernel dropped for a full receive buffer (all sockets)
    h, v = [l.split() for l in open("/proc/net/snmp") if l.startswith("Udp:")][:2]
    print(v[h.index("RcvbufErrors")])
elif cmd == "scrape":
    _, m = scrape(args["--url"])
    exp = args["--exporter"]
    print(json.dumps({"exported_total": m.get("xdpnet_flow_records_exported_total:" + exp, 0),
                      "lost_total": m.get("xdpnet_flow_records_lost_total:" + exp, 0),
                      "rounds_total": m.get("xdpnet_flow_export_rounds_total", 0)}))
elif cmd == "record":
    # Everything of one run, as one JSON record of raw.jsonl.
    d = args["--dir"]
    load = lambda n: json.load(open(os.path.join(d, n))) if os.path.exists(os.path.join(d, n)) else {}
    rec = {"kind": "flowexport", "exporter": args["--exporter"], "run": int(args["--run"]),
           "flows_wanted": int(args["--flows"]), "interval_s": 1.0, "active_timeout_s": 1.0,
           "daemon_rc": int(args["--daemon-rc"])}
    if args.get("--udp-rcvbuf-errors", "") != "":
        rec["udp_rcvbuf_errors"] = int(args["--udp-rcvbuf-errors"])
    rec.update(load("window.json"))
    rec.update(load("final.json"))
    fill = {}
    if os.path.exists(os.path.join(d, "fill.json")):
        fill = json.loads(open(os.path.join(d, "fill.json")).read().splitlines()[-1])
    rec.update({"flows": fill.get("flows", 0), "fill_packets": fill.get("packets_total", 0),
                "fill_ticks": fill.get("ticks", 0), "fill_tick_us": fill.get("tick_us_median", 0),
                "fill_skipped_keys": fill.get("skipped_keys", 0)})
    nf = os.path.join(d, "nfdump.txt")
    if os.path.exists(nf):
        t = open(nf).read()
        g = lambda k: int(re.search(rf"^{k}: (\d+)", t, re.M).group(1)) if re.search(rf"^{k}: (\d+)", t, re.M) else -1
        rec.update({"nf_flows": g("Flows"), "nf_packets": g("Packets"), "nf_seq_failures": g("Sequence failures")})
    log = os.path.join(d, "nfcapd.log")
    if os.path.exists(log):
        st = re.findall(r"Flows: (\d+), Packets: (\d+), Bytes: (\d+), Sequence Errors: (\d+)", open(log).read())
        rec["nfcapd_log_flows"] = sum(int(x[0]) for x in st)
        rec["nfcapd_log_seq_errors"] = sum(int(x[3]) for x in st)
    print(json.dumps(rec))
PYEOF
    flows_policy flows_export > "$TMP/policy-flows_export.yaml"
    if ! "$XDPNET" apply -c "$TMP/policy-flows_export.yaml" > "$TMP/apply-flows_export.log" 2>&1; then
        log "flow export: xdpnet apply failed: $(grep -m1 -i error "$TMP/apply-flows_export.log" || tail -n1 "$TMP/apply-flows_export.log")"
    else
        exporters=(ipfix jsonl)
        if ! command -v nfcapd > /dev/null || ! command -v nfdump > /dev/null; then
            log "flow export: nfcapd/nfdump not found (Debian package nfdump): IPFIX not measured"
            json_note note flows_export 0 "IPFIX not measured: nfcapd/nfdump not installed (Debian package nfdump)" >> "$RAW"
            exporters=(jsonl)
        fi
        # flow-fill and the collector on the generator's CPU, the daemon on
        # the others (HK): the daemon's figures are its own core's.
        PIN_GEN=()
        command -v taskset > /dev/null && PIN_GEN=(taskset -c "$GEN_CPU")
        waitfor() { # file pattern seconds pid: 0 when pattern shows up in file
            local i
            for ((i = 0; i < $3 * 10; i++)); do
                grep -q "$2" "$1" 2> /dev/null && return 0
                kill -0 "$4" 2> /dev/null || return 1
                sleep 0.1
            done
            return 1
        }
        for ((r = 1; r <= EXPORT_RUNS; r++)); do
            for exp in "${exporters[@]}"; do
                d=$TMP/export-$exp-$r
                url=
                mkdir -p "$d"
                dargs=(--jsonl /dev/null)
                rcvbuf0=
                if [[ $exp == ipfix ]]; then
                    rcvbuf0=$("$PY" "$TMP/flow_export.py" udp-rcvbuf-errors) || rcvbuf0=
                    # a free port of this moment (nfcapd binds it right away)
                    port=$("$PY" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
                    mkdir -p "$d/nf"
                    "${PIN_GEN[@]}" nfcapd -p "$port" -b 127.0.0.1 -w "$d/nf" -t 60 -B 4194304 > "$d/nfcapd.log" 2>&1 &
                    NFCAPD_PID=$!
                    if ! waitfor "$d/nfcapd.log" "Startup" 10 "$NFCAPD_PID"; then
                        log "flow export: nfcapd did not start: $(tail -n2 "$d/nfcapd.log")"
                        kill "$NFCAPD_PID" 2> /dev/null
                        wait "$NFCAPD_PID" 2> /dev/null || true
                        NFCAPD_PID=
                        continue
                    fi
                    dargs=(--ipfix "127.0.0.1:$port")
                fi
                "$BENCH" flow-fill --pin-dir "$PIN_DIR" --flows "$EXPORT_FLOWS" --cpu "$GEN_CPU" --vlan "$VLAN" \
                    --out "$d/fill.json" > "$d/fill.out" 2> "$d/fill.log" &
                FILL_PID=$!
                if waitfor "$d/fill.out" "^ready" 60 "$FILL_PID"; then
                    "${HK[@]}" "$XDPNET" -i "$INSTANCE" daemon --prometheus 127.0.0.1:0 "${dargs[@]}" --interval 1 \
                        > "$d/daemon.out" 2> "$d/daemon.log" &
                    DAEMON_PID=$!
                    DAEMON_RAN=1
                    if waitfor "$d/daemon.out" "http://" 10 "$DAEMON_PID"; then
                        url=$(grep -o 'http://[^ ]*/metrics' "$d/daemon.out" | head -n1)
                        log "flow export: $exp run $r: $EXPORT_FLOWS flows, daemon pid $DAEMON_PID, ${EXPORT_WARMUP} s warm-up + ${EXPORT_WINDOW} s measured"
                        "$PY" "$TMP/flow_export.py" window --pid "$DAEMON_PID" --url "$url" --exporter "$exp" \
                            --warmup "$EXPORT_WARMUP" --window "$EXPORT_WINDOW" > "$d/window.json" ||
                            log "flow export: $exp run $r: measuring failed"
                    else
                        log "flow export: the daemon did not start: $(tail -n2 "$d/daemon.log")"
                    fi
                else
                    log "flow export: flow-fill failed: $(tail -n2 "$d/fill.log")"
                fi
                # No news after this: the daemon's next round sends what is left,
                # so that its count and the collector's can be compared.
                kill -TERM "$FILL_PID" 2> /dev/null
                wait "$FILL_PID" 2> /dev/null || true
                FILL_PID=
                drc=-1
                if [[ -n $DAEMON_PID ]]; then
                    if kill -0 "$DAEMON_PID" 2> /dev/null; then
                        sleep 2.5
                        [[ -n $url ]] && { "$PY" "$TMP/flow_export.py" scrape --url "$url" --exporter "$exp" \
                            > "$d/final.json" || true; }
                        kill -TERM "$DAEMON_PID" 2> /dev/null
                    fi
                    drc=0
                    wait "$DAEMON_PID" 2> /dev/null || drc=$?
                    DAEMON_PID=
                fi
                if [[ -n $NFCAPD_PID ]]; then
                    sleep 0.5 # the daemon's last datagrams land
                    kill -INT "$NFCAPD_PID" 2> /dev/null
                    wait "$NFCAPD_PID" 2> /dev/null || true
                    NFCAPD_PID=
                    nfdump -R "$d/nf" -I > "$d/nfdump.txt" 2>&1 || true
                fi
                rcvbuf=
                if [[ -n $rcvbuf0 ]]; then
                    rcvbuf1=$("$PY" "$TMP/flow_export.py" udp-rcvbuf-errors) && rcvbuf=$((rcvbuf1 - rcvbuf0))
                fi
                if [[ -s $d/window.json ]]; then
                    "$PY" "$TMP/flow_export.py" record --dir "$d" --exporter "$exp" --run "$r" \
                        --flows "$EXPORT_FLOWS" --daemon-rc "$drc" --udp-rcvbuf-errors "$rcvbuf" >> "$RAW" ||
                        log "flow export: no record of $exp run $r"
                fi
            done
        done
        # Empty the table of the synthetic flows (and their marks).
        "$BENCH" flow-fill --pin-dir "$PIN_DIR" --flows 0 2> /dev/null || log "flow export: emptying the flow table failed"
    fi
    "$XDPNET" apply -c "$TMP/policy.yaml" > /dev/null 2>&1 || log "flow export: restoring the base policy failed"
fi
# 3. The NAT path: the NAT instance's program cost with flows off vs on, in
#    interleaved blocks like the L2 ones (its traffic touches a new flow slot
#    per packet: NAT_FLOWS flows, one per connection).
if [[ $FLOWS == 1 && $NAT_UP == 1 && $CONTROLS_ONLY == 0 ]]; then
    sed 's/^  flows: {.*/  flows: off/' "$TMP/nat-policy.yaml" > "$TMP/nat-policy-flows_off.yaml"
    nbase=(run --runs "$RUNS" --duration "$DURATION" --repeat "$REPEAT" --vlan "$VLAN" --out "$RAW" --no-fdb --no-live
        --nat --nat-flows "$NAT_FLOWS" --nat-xdpnet --nat-router-mac "$NAT_ROUTER_MAC" --nat-pin-dir "$NAT_PIN_DIR"
        --xdpnet "$XDPNET" --no-nat-scale)
    [[ $USE_XDPNET == 1 ]] && nbase+=(--pin-dir "$PIN_DIR")
    [[ -n $CPU ]] && nbase+=(--cpu "$CPU")
    # From the state the NAT cost runs above started with: an empty
    # connection table (the table-scaling part filled it with a million).
    "$XDPNET" -i "$NAT_INSTANCE" nat flush > /dev/null 2>&1 || log "flows (NAT): nat flush failed"
    block=0
    for variant in flows_off flows_on flows_off flows_on; do
        [[ $variant == flows_off ]] && block=$((block + 1))
        pol=$TMP/nat-policy.yaml
        [[ $variant == flows_off ]] && pol=$TMP/nat-policy-flows_off.yaml
        if ! "$XDPNET" apply -c "$pol" > "$TMP/nat-apply-$variant.log" 2>&1; then
            log "flows (NAT): xdpnet apply ($variant) failed: $(tail -n1 "$TMP/nat-apply-$variant.log")"
            continue
        fi
        log "flows (NAT): $variant (block $block)"
        bench "${nbase[@]}" --only cost_trivial,cost_gen_nat,cost_nat_out,cost_nat_in --variant "nat_$variant" \
            --block "$block"
    done
    "$XDPNET" apply -c "$TMP/nat-policy.yaml" > /dev/null 2>&1 || log "flows (NAT): restoring the NAT policy failed"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "measured in $(($(date +%s) - start)) s"

rm -f "$RESULTS/xdpnet-stats.json" "$RESULTS/xdpnet-nat-stats.json" "$RESULTS/nat-policy.yaml"
if [[ $USE_XDPNET == 1 ]]; then
    "$XDPNET" -i "$INSTANCE" stats --json > "$RESULTS/xdpnet-stats.json" 2>/dev/null || true
fi
if [[ $NAT_UP == 1 ]]; then
    "$XDPNET" -i "$NAT_INSTANCE" stats --json > "$RESULTS/xdpnet-nat-stats.json" 2>/dev/null || true
fi
if [[ -f $TMP/nat-policy.yaml ]]; then cp "$TMP/nat-policy.yaml" "$RESULTS/nat-policy.yaml"; fi
# veth counters of the receiving ends: frames that never made it show here.
for ns in $(ip netns list | awk '$1 ~ /^xbns/ {print $1}' | sort); do
    dev=$(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '$2 ~ /^xbv/ {sub(/@.*/, "", $2); print $2}')
    [[ -n $dev ]] || continue
    echo "== $ns/$dev"
    ip netns exec "$ns" ethtool -S "$dev" 2>/dev/null | grep -E 'xdp|drop|rx_queue_0_(packets|xdp)' || true
done > "$RESULTS/veth-stats.txt"
for dev in xbp0 xbp1 xbp2 xbp3 xbp4 xbb0 xbb1 xbp5 xbu0 xbf0 xbf1 xbn0 xbn1; do
    ns=
    case $dev in
    xbb*) ns=xbnsbr ;;
    xbf*) ns=xbnsfw ;;
    xbn*) ns=xbnsnt ;;
    esac
    inns "$ns" ip link show "$dev" >/dev/null 2>&1 || continue
    echo "== $dev"
    inns "$ns" ethtool -S "$dev" 2>/dev/null | grep -E 'xdp|drop' || true
done >> "$RESULTS/veth-stats.txt"
# The Linux routers' own counters (a NAT baseline that drops shows here).
for ns in xbnsfw xbnsnt; do
    ip netns list | grep -q "^$ns" || continue
    echo "== $ns: nstat (IP/UDP errors, forwarded), conntrack entries"
    ip netns exec "$ns" nstat -az 2>/dev/null | grep -E 'IpInAddrErrors|IpInDiscards|IpOutNoRoutes|IpInHdrErrors|IpForwDatagrams|UdpInCsumErrors|IpExtInCsumErrors' || true
    ip netns exec "$ns" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || true
done >> "$RESULTS/veth-stats.txt"

# --- report ---------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
report_args=(--raw "$RAW" --out-dir "$RESULTS" --cpu-model "$cpu_model" --ncpu "$(nproc)"
    --load-before "$load_before" --load-after "$load_after")
[[ -f $RESULTS/xdpnet-stats.json ]] && report_args+=(--xdpnet-stats "$RESULTS/xdpnet-stats.json")
[[ -f $RESULTS/xdpnet-nat-stats.json ]] && report_args+=(--xdpnet-nat-stats "$RESULTS/xdpnet-nat-stats.json")
[[ $QUICK == 0 && $NAT_ONLY == 0 && $CONTROLS_ONLY == 0 && $FLOWS_ONLY == 0 && $USE_XDPNET == 1 && ${#EXTRA[@]} == 0 ]] && report_args+=(--results-md "$HERE/RESULTS.md")
[[ $QUICK == 1 ]] && report_args+=(--quick)
[[ $USE_NAT == 1 ]] && report_args+=(--nat-setup-s "$NAT_SETUP_S")
"$PY" "$HERE/report.py" "${report_args[@]}"
# (gnuplot refuses an empty panel, e.g. after `-- --no-cost`: the tables stand)
if gnuplot -e "datadir='$RESULTS'" "$HERE/plot.gp" 2> "$TMP/plot.log"; then
    log "wrote $RESULTS/latest.md and $RESULTS/bench.png"
else
    log "wrote $RESULTS/latest.md; no plot ($(tail -n1 "$TMP/plot.log"))"
fi
