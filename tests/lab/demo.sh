#!/bin/bash
# xdpnet demo on the netns lab (tests/lab/lab.sh): bring the lab up, start
# xdpnet with tests/lab/lab.yaml, show what must and must not get through,
# show the switch's state, and clean everything up whatever happens.
#
#   sudo tests/lab/demo.sh     (XDPNET=/path/to/xdpnet picks the binary,
#                               XDPNET_POLICY=file another lab policy)
#
# Exit status: 0 when every expectation held, 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
XDPNET=${XDPNET:-$ROOT/build/loader/xdpnet}
POLICY=${XDPNET_POLICY:-$HERE/lab.yaml}
LAB=$HERE/lab.sh
INSTANCE=lab
P=xn

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' G='' R='' N=''
fi
failures=0
step() { echo; echo "${B}== $*${N}"; }
pass() { echo "  ${G}PASS${N} $*"; }
fail() { echo "  ${R}FAIL${N} $*"; failures=$((failures + 1)); }
run() { echo "  \$ $*"; "$@"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: needs root (network namespaces, XDP)" >&2
	exit 1
fi
if [ ! -x "$XDPNET" ]; then
	echo "demo.sh: no xdpnet binary at $XDPNET (build it, or set XDPNET=...)" >&2
	exit 1
fi

xdpnet_up=0
cleanup() {
	local rc=$?
	step "cleanup"
	if [ $xdpnet_up -eq 1 ]; then
		if run "$XDPNET" -i "$INSTANCE" down; then
			pass "xdpnet down"
		else
			fail "xdpnet down"
		fi
	fi
	run "$LAB" down --prefix "$P" --xdpnet "$XDPNET" || fail "lab.sh down"
	if [ $failures -ne 0 ]; then
		echo "${R}${B}demo: $failures expectation(s) failed${N}"
		exit 1
	fi
	[ $rc -eq 0 ] && echo "${G}${B}demo: all expectations held${N}"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_ns NS CMD...: run CMD in namespace NS ("" = the host, the root namespace).
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# ping_ok NS ADDR WHAT: must answer. The first tries may only resolve ARP.
ping_ok() {
	local ns=$1 addr=$2 what=$3 i
	for i in 1 2 3 4 5; do
		if in_ns "$ns" ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then
			break
		fi
	done
	if in_ns "$ns" ping -c 2 -W 1 -i 0.2 "$addr" >/dev/null 2>&1; then
		pass "$what"
	else
		fail "$what"
	fi
}

# ping_blocked NS ADDR WHAT: must not answer.
ping_blocked() {
	local ns=$1 addr=$2 what=$3
	if in_ns "$ns" ping -c 2 -W 1 -i 0.2 "$addr" >/dev/null 2>&1; then
		fail "$what (it answered)"
	else
		pass "$what"
	fi
}

step "lab up"
run "$LAB" up --prefix "$P" || { fail "lab.sh up"; exit 1; }

step "xdpnet up"
# A previous demo killed half-way may have left the instance running.
"$XDPNET" -i "$INSTANCE" down >/dev/null 2>&1 || true
xdpnet_up=1
if run "$XDPNET" up -c "$POLICY"; then
	pass "xdpnet up -c $(basename "$POLICY")"
else
	fail "xdpnet up"
	exit 1
fi

step "the physical LAN's own switch (a second xdpnet instance, inside the LAN namespace)"
if run "$LAB" lan-up --prefix "$P" --xdpnet "$XDPNET"; then
	pass "LAN hosts h10 (VLAN 10) and h20 (VLAN 20) behind the LAN switch"
else
	fail "lab.sh lan-up"
fi

step "what must get through"
ping_ok ${P}vm1 10.0.10.2 "vm1 -> vm2 (VLAN 10, access to access)"
ping_ok ${P}vm1 10.0.10.4 "vm1 -> vm4 (VLAN 10)"
ping_ok ${P}vm1 10.0.10.254 "vm1 -> its gateway 10.0.10.254 (answered by xdpnet in XDP)"
ping_ok ${P}vm1 10.0.10.100 "vm1 -> LAN host h10 (VLAN 10: tagged on the trunk, across both switches)"
ping_ok ${P}vm3 10.0.20.100 "vm3 -> LAN host h20 (VLAN 20 over the trunk)"
ping_ok ${P}lan 192.168.50.1 "LAN -> host 192.168.50.1 over the uplink (native VLAN, xdpnet attached)"
ping_ok "" 192.168.50.2 "host -> LAN 192.168.50.2 over the uplink"

step "what must not get through"
ping_blocked ${P}vm1 10.0.10.33 "vm1 (VLAN 10) -> vm3's 10.0.10.33 (VLAN 20, same subnet): isolated by the VLAN"
ping_blocked ${P}vm3 10.0.10.1 "vm3 (VLAN 20) -> vm1 10.0.10.1: isolated by the VLAN"
ping_blocked ${P}vm1 10.0.10.200 "vm1 (VLAN 10) -> LAN host h20's 10.0.10.200 (VLAN 20, same subnet): isolated across the trunk"
ping_blocked ${P}vm3 10.0.10.254 "vm3 (VLAN 20) -> VLAN 10's gateway 10.0.10.254: answered on its own VLAN only"

step "routing between networks: VLAN 10 <-> VLAN 20 through their gateways, in XDP"
# vm3 also holds 10.0.10.33/24 (for the isolation checks above), so it gets a
# host route back to vm1 through its gateway.
run in_ns ${P}vm1 ip route replace 10.0.20.0/24 via 10.0.10.254
run in_ns ${P}vm3 ip route replace 10.0.10.1/32 via 10.0.20.254
ping_ok ${P}vm1 10.0.20.3 "vm1 10.0.10.1 (VLAN 10) -> vm3 10.0.20.3 (VLAN 20), routed by xdpnet"
if in_ns ${P}vm1 ping -c 1 -W 1 10.0.20.3 | grep -q "ttl=63"; then
	pass "the reply arrives with TTL 63: one router hop"
else
	fail "the reply's TTL is not 63"
fi
run in_ns ${P}vm1 traceroute -n -q 1 -w 1 -m 3 -I 10.0.20.3
if in_ns ${P}vm1 traceroute -n -q 1 -w 1 -m 3 -I 10.0.20.3 | awk 'NR==2 {print $2}' | grep -qx 10.0.10.254; then
	pass "traceroute: hop 1 is the gateway (ICMP time-exceeded sent from XDP)"
else
	fail "traceroute does not show the gateway as hop 1"
fi
echo
run "$XDPNET" -i "$INSTANCE" neigh show || fail "xdpnet neigh show"

step "NAT mode: vm5 (VLAN 30, 10.0.30.5) reaches the internet through the uplink ${P}wan (203.0.113.1)"
ping_ok ${P}vm5 198.51.100.1 "vm5 -> 198.51.100.1 (an internet host), masqueraded"
# http_server NS ADDR PORT LOG: a plain HTTP server that logs its clients'
# addresses (socketserver, not http.server's HTTPServer: that one looks up
# its own name in DNS first, which has no answer in the lab).
http_server() {
	in_ns "$1" python3 -c 'import http.server, socketserver, sys
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer((sys.argv[1], int(sys.argv[2])), http.server.SimpleHTTPRequestHandler).serve_forever()' "$2" "$3" >"$4" 2>&1 &
}
# An HTTP server on the internet side reports who connected; vm5 fetches from it.
http_server ${P}inet 198.51.100.1 8000 /tmp/xdpnet-demo-http.log
srv=$!
for _ in $(seq 50); do in_ns ${P}inet ss -ltnH "sport = :8000" | grep -q 8000 && break; sleep 0.1; done
if in_ns ${P}vm5 curl -s -o /dev/null -m 5 http://198.51.100.1:8000/ && sleep 0.2 &&
	grep -q '^203\.0\.113\.1 ' /tmp/xdpnet-demo-http.log; then
	pass "vm5 fetched http://198.51.100.1:8000/; the server saw the uplink's address 203.0.113.1"
else
	fail "HTTP from vm5 through the NAT (server log: $(tail -1 /tmp/xdpnet-demo-http.log))"
fi
kill $srv 2>/dev/null; wait $srv 2>/dev/null
# A port forward: 203.0.113.1:8080 -> vm5's 10.0.30.5:80.
http_server ${P}vm5 10.0.30.5 80 /tmp/xdpnet-demo-http5.log
srv=$!
for _ in $(seq 50); do in_ns ${P}vm5 ss -ltnH "sport = :80" | grep -q 80 && break; sleep 0.1; done
if in_ns ${P}inet curl -s -o /dev/null -m 5 http://203.0.113.1:8080/ && sleep 0.2 &&
	grep -q '^203\.0\.113\.2 ' /tmp/xdpnet-demo-http5.log; then
	pass "the internet fetched http://203.0.113.1:8080/ from vm5 (port forward), vm5 saw the real client"
else
	fail "the port forward 203.0.113.1:8080 -> 10.0.30.5:80"
fi
kill $srv 2>/dev/null; wait $srv 2>/dev/null
rm -f /tmp/xdpnet-demo-http.log /tmp/xdpnet-demo-http5.log
if in_ns ${P}vm5 traceroute -n -q 1 -w 1 -m 3 198.51.100.1 | awk 'NR>1 {print $2}' | tr '\n' ' ' |
	grep -q "^10.0.30.1 198.51.100.1 "; then
	pass "traceroute (UDP) through the NAT: the gateway, then the host (ICMP errors translated back)"
else
	fail "traceroute through the NAT"
fi
echo
run "$XDPNET" -i "$INSTANCE" nat show || fail "xdpnet nat show"
echo
run "$XDPNET" -i "$INSTANCE" nat ports || fail "xdpnet nat ports"

step "per-VM controls: vm1 policed to 20 Mbit/s and marked EF, vm4 locked to its addresses, an ACL"
CONTROLS=$(mktemp /tmp/xdpnet-demo-controls.XXXXXX.yaml)
sed -e "/- name: ${P}vm1\$/a\\    police: { ingress: { rate: 20mbit, burst: 128kb } }\\n    dscp: ef" \
	-e "/- name: ${P}vm4\$/a\\    security: { macs: [\"52:54:00:00:00:04\"], ips: [10.0.10.4] }" "$POLICY" > "$CONTROLS"
cat >> "$CONTROLS" <<'EOF'
acl:
  default: allow
  rules:
    - { action: deny, proto: icmp, from_vlan: 10, to: 10.0.20.0/24 }   # no ping from VLAN 10 to VLAN 20
EOF
if run "$XDPNET" apply -c "$CONTROLS" >/dev/null; then
	pass "xdpnet apply: the controls are live"
else
	fail "xdpnet apply (controls)"
fi
in_ns "${P}vm2" iperf3 -s -1 -D >/dev/null 2>&1
sleep 0.5
rate=$(in_ns "${P}vm1" iperf3 -c 10.0.10.2 -u -b 80M -l 1400 -t 3 -J 2>/dev/null |
	/usr/bin/python3 -c 'import json, sys; s = json.load(sys.stdin)["end"]["sum"]; print(round(s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, 1))' 2>/dev/null)
# 1400 bytes of UDP payload travel in 1442-byte frames: 20 Mbit/s of frames is 19.4 of payload.
# What arrived: the offered rate less the loss the server reports.
if [ -n "$rate" ] && awk -v r="$rate" 'BEGIN {exit !(r > 18.4 && r < 20.4)}'; then
	pass "vm1 offers 80 Mbit/s of UDP, vm2 receives ${rate} Mbit/s (policed at 20 Mbit/s of frames)"
else
	fail "vm1 policed to 20 Mbit/s (vm2 received '${rate}' Mbit/s)"
fi
tos=$(in_ns "${P}vm2" timeout 3 tcpdump -c 1 -v -ni eth0 "icmp and src 10.0.10.1" 2>/dev/null & sleep 0.5; in_ns "${P}vm1" ping -c 2 -W 1 -i 0.2 10.0.10.2 >/dev/null 2>&1; wait)
if echo "$tos" | grep -q "tos 0xb8"; then
	pass "vm1's packets arrive marked DSCP 46 (EF): tos 0xb8"
else
	fail "DSCP mark on vm1's packets (tcpdump: $(echo "$tos" | head -n1))"
fi
ping_blocked "${P}vm1" 10.0.20.3 "ACL: vm1 (VLAN 10) cannot ping vm3 in VLAN 20"
ping_ok "${P}vm4" 10.0.10.2 "vm4 with port security: its own address works"
in_ns "${P}vm4" /usr/bin/python3 -c '
from scapy.all import Ether, IP, ICMP, sendp
sendp(Ether(src="52:54:00:00:00:04", dst="52:54:00:00:00:02") / IP(src="10.0.10.2", dst="10.0.10.1") / ICMP(), iface="eth0", count=3, verbose=False)
sendp(Ether(src="52:54:00:00:00:44", dst="52:54:00:00:00:02") / IP(src="10.0.10.4", dst="10.0.10.2") / ICMP(), iface="eth0", count=3, verbose=False)
' 2>/dev/null
spoof=$("$XDPNET" -i "$INSTANCE" --json stats --port "${P}vm4" 2>/dev/null |
	/usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin)["ports"][0]["drops"]; print(d.get("spoof_ip", 0), d.get("spoof_mac", 0))' 2>/dev/null)
if [ "$spoof" = "3 3" ]; then
	pass "vm4 spoofing vm2's address and another MAC gets nowhere: dropped as spoof_ip 3, spoof_mac 3"
else
	fail "port security on vm4 (spoof_ip, spoof_mac: '$spoof')"
fi
echo
run "$XDPNET" -i "$INSTANCE" police show || fail "xdpnet police show"
echo
run "$XDPNET" -i "$INSTANCE" acl show || fail "xdpnet acl show"
run "$XDPNET" apply -c "$POLICY" >/dev/null || fail "xdpnet apply (back to the lab policy)"
rm -f "$CONTROLS"

step "the switch's state"
run "$XDPNET" -i "$INSTANCE" status || fail "xdpnet status"
echo
run "$XDPNET" -i "$INSTANCE" fdb show || fail "xdpnet fdb show"
echo
echo "  (the LAN switch's FDB: the VMs' MACs learned on its trunk, tagged VLAN 10/20)"
run nsenter --net="/run/netns/${P}lan" "$XDPNET" -i "${P}lan" fdb show || fail "LAN switch fdb show"
echo
run "$XDPNET" -i "$INSTANCE" stats || fail "xdpnet stats"


step "every flow the datapath saw, with its outcome (per-flow counters, no daemon needed)"
run "$XDPNET" -i "$INSTANCE" flows --top 12 || fail "xdpnet flows"
