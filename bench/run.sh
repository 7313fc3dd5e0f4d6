#!/usr/bin/env bash
# xdpnet benchmark: live-frames throughput and program cost, one command.
#
#   sudo bench/run.sh [--build-dir DIR] [--runs N] [--quick] [--duration S]
#                     [--cpu C] [--xdpnet PATH] [--no-xdpnet] [-- XDPNET-BENCH-ARGS]
#
# Builds a private topology (prefix xb: veths xbp0..4 in the root namespace,
# peers xbvN in namespaces xbnsN; a Linux bridge over xbb0/xbb1 in namespace
# xbnsbr, peers xbvbN in xbnsbN), starts xdpnet instance "bench" on xbp0..4,
# runs xdpnet-bench, writes bench/results/{raw.jsonl,latest.md,bench.png} and
# (full runs) bench/RESULTS.md. Everything it made is removed on exit, also
# on failure or Ctrl-C. See bench/README.md.
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
PY=/usr/bin/python3 # Debian's; the python3 on PATH may be another one

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) BUILD=$(realpath "$2"); shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --cpu) CPU=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --xdpnet) XDPNET=$(realpath "$2"); shift 2 ;;
    --no-xdpnet) USE_XDPNET=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
    esac
done
if [[ $QUICK == 1 ]]; then
    RUNS=3
    DURATION=0.5
    REPEAT=1000000
fi
# Quick and partial (-- ARGS) runs write to results/quick/, so they never
# overwrite the data of the last full run.
if [[ $QUICK == 1 || ${#EXTRA[@]} -gt 0 ]]; then
    RESULTS=$HERE/results/quick
fi
[[ $RUNS -ge 1 ]] || { echo "run.sh: --runs must be >= 1" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (BPF, netns)" >&2; exit 4; }

XDPNET=${XDPNET:-$BUILD/loader/xdpnet}
BENCH=$BUILD/bench/xdpnet-bench
[[ -x $BENCH ]] || { echo "run.sh: $BENCH not built (cmake -DXDPNET_BENCH=ON, target xdpnet-bench)" >&2; exit 1; }
if [[ $USE_XDPNET == 1 && ! -x $XDPNET ]]; then
    echo "run.sh: $XDPNET not built; running the baselines only" >&2
    USE_XDPNET=0
fi

INSTANCE=bench
PIN_DIR=/sys/fs/bpf/xdpnet/$INSTANCE
VLAN=10
NPORTS=5 # xbp0..xbp4
TMP=$(mktemp -d /tmp/xdpnet-bench.XXXXXX)
XDPNET_UP=0
BENCH_PID=

log() { printf '[bench] %s\n' "$*" >&2; }

# Removes everything this script creates; safe to run when nothing exists.
cleanup() {
    local rc=$?
    set +e
    if [[ -n $BENCH_PID ]]; then
        kill "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
    fi
    if [[ $XDPNET_UP == 1 || -d $PIN_DIR ]]; then
        "$XDPNET" down -i "$INSTANCE" >/dev/null 2>&1 || log "xdpnet down -i $INSTANCE failed"
    fi
    for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^xbns/ {print $1}'); do
        ip netns del "$ns"
    done
    for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^xb(p|b)[0-9]+$'); do
        ip link del "$dev" 2>/dev/null
    done
    rm -rf "$TMP"
    return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

leftovers() {
    ip netns list 2>/dev/null | grep -q '^xbns' && return 0
    ip link show xbp0 >/dev/null 2>&1 && return 0
    [[ -d $PIN_DIR ]] && return 0
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

# --- xdpnet ---------------------------------------------------------------
# xbp0, xbp1, xbp3, xbp4: access VLAN 10; xbp2: trunk carrying VLAN 10 tagged.
# Destinations d1 behind xbp1, d2 behind xbp2 (static); sources are learned.
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
        echo "static_fdb:"
        awk -v v=$VLAN '{print "  - {mac: \"" $1 "\", vlan: " v ", port: xbp1}"}' "$TMP/d1"
        awk -v v=$VLAN '{print "  - {mac: \"" $1 "\", vlan: " v ", port: xbp2}"}' "$TMP/d2"
    } > "$TMP/policy.yaml"
    log "xdpnet up (instance $INSTANCE)"
    # Retried: another instance's `down` on this machine can remove the pin
    # root between xdpnet's mkdir of /sys/fs/bpf/xdpnet and of its instance dir.
    for attempt in 1 2 3; do
        if "$XDPNET" up -c "$TMP/policy.yaml" > "$TMP/up.log" 2>&1; then
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

# --- measure --------------------------------------------------------------
mkdir -p "$RESULTS"
RAW=$RESULTS/raw.jsonl
: > "$RAW"
args=(run --runs "$RUNS" --duration "$DURATION" --repeat "$REPEAT" --vlan "$VLAN" --out "$RAW")
[[ -n $CPU ]] && args+=(--cpu "$CPU")
[[ $USE_XDPNET == 1 ]] && args+=(--pin-dir "$PIN_DIR")
args+=("${EXTRA[@]}")
log "xdpnet-bench ${args[*]}"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v l="${load_before%% *}" 'BEGIN {exit !(l > 0.5)}' && log "load average is $load_before: other work on the machine will show in the numbers"
start=$(date +%s)
# In the background + wait, so a TERM/INT to this script stops it at once.
"$BENCH" "${args[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "measured in $(($(date +%s) - start)) s"

if [[ $USE_XDPNET == 1 ]]; then
    "$XDPNET" -i "$INSTANCE" stats --json > "$RESULTS/xdpnet-stats.json" 2>/dev/null || true
fi
# veth counters of the receiving ends: frames that never made it show here.
for ns in $(ip netns list | awk '$1 ~ /^xbns/ {print $1}' | sort); do
    dev=$(ip -n "$ns" -o link show | awk -F': ' '$2 ~ /^xbv/ {sub(/@.*/, "", $2); print $2}')
    [[ -n $dev ]] || continue
    echo "== $ns/$dev"
    ip netns exec "$ns" ethtool -S "$dev" 2>/dev/null | grep -E 'xdp|drop|rx_queue_0_(packets|xdp)' || true
done > "$RESULTS/veth-stats.txt"
for dev in xbp0 xbp1 xbp2 xbp3 xbp4 xbb0 xbb1; do
    echo "== $dev"
    ns=
    [[ $dev == xbb* ]] && ns=xbnsbr
    inns "$ns" ethtool -S "$dev" 2>/dev/null | grep -E 'xdp|drop' || true
done >> "$RESULTS/veth-stats.txt"

# --- report ---------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
report_args=(--raw "$RAW" --out-dir "$RESULTS" --cpu-model "$cpu_model" --ncpu "$(nproc)"
    --load-before "$load_before" --load-after "$load_after")
[[ -f $RESULTS/xdpnet-stats.json ]] && report_args+=(--xdpnet-stats "$RESULTS/xdpnet-stats.json")
[[ $QUICK == 0 && $USE_XDPNET == 1 && ${#EXTRA[@]} == 0 ]] && report_args+=(--results-md "$HERE/RESULTS.md")
[[ $QUICK == 1 ]] && report_args+=(--quick)
"$PY" "$HERE/report.py" "${report_args[@]}"
gnuplot -e "datadir='$RESULTS'" "$HERE/plot.gp"
log "wrote $RESULTS/latest.md and $RESULTS/bench.png"
