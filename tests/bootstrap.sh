#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   sudo tests/bootstrap.sh demo    install packages, build, run the lab demo
#   sudo tests/bootstrap.sh test    install packages, build, run every test (unit, prog, e2e)
#   sudo tests/bootstrap.sh bench   install packages, build, run the benchmark
#   tests/bootstrap.sh deps|build   just one step
# Environment: BUILD_DIR (default: build), JOBS (default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

# Every package comes from Debian's archive.
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang llvm bpftool
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev
  iproute2 ethtool iputils-ping arping iperf3 tcpdump netcat-openbsd traceroute nftables curl
  python3 python3-scapy python3-pytest gnuplot-nox
  prometheus nfdump tshark
)
# clang -target bpf does not define the host's architecture macros, so
# glibc's <gnu/stubs.h> (reached through <linux/icmp.h> -> <linux/if.h> ->
# <sys/socket.h>) asks for the 32-bit stubs: on amd64 they are in
# libc6-dev-i386.
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  PACKAGES+=(libc6-dev-i386)
fi

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: '$1' needs root (BPF, network namespaces): run it with sudo" >&2
    exit 4
  fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "== packages: all present"
    return
  fi
  need_root deps
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # promtool (the tests check the daemon's /metrics with it) comes only in
  # Debian's prometheus package, nfcapd (an IPFIX collector the tests send
  # to) in nfdump: their servers must not start, now or at boot.
  local held=0 svc=()
  for p in prometheus nfdump; do
    [[ " ${missing[*]} " == *" $p "* ]] && svc+=("$p")
  done
  if [ ${#svc[@]} -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    held=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || { [ "$held" = 1 ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ "$held" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ ${#svc[@]} -gt 0 ] && command -v systemctl >/dev/null; then
    for p in "${svc[@]}"; do
      systemctl disable --now "$p.service" >/dev/null 2>&1 || true
    done
  fi
}

build() {
  echo "== building in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD_DIR" -j "$JOBS"
}

run_tests() {
  need_root test
  echo "== tests: unit, prog (BPF_PROG_TEST_RUN), e2e (netns lab)"
  # Unit and program tests run JOBS at a time: each program test process has
  # its own network namespace and unpinned maps (trace_test pins under a
  # per-process path), so they share nothing; the e2e lab is RUN_SERIAL.
  ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 1200 -j "$JOBS" "$@"
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  demo) deps; build; need_root demo; XDPNET="$BUILD_DIR/loader/xdpnet" "$ROOT/tests/lab/demo.sh" ;;
  test) shift; deps; build; run_tests "$@" ;;
  bench) shift; deps; build; need_root bench; "$ROOT/bench/run.sh" --build-dir "$BUILD_DIR" "$@" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
