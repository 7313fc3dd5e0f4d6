"""NAT through an uplink: the lab policy's network natnet (VLAN 30, gateway 10.0.30.1, uplink
Pwan with the host's 203.0.113.1, masquerade to ports 20000-29999, port forwards tcp 8080 ->
10.0.30.5:80 and udp 5353 -> 10.0.30.5:53, tcp_closing 3s). vm5 (10.0.30.5, default route via
10.0.30.1) is the NAT network's VM; the "internet" namespace holds 203.0.113.2 on its eth0 and
198.51.100.1 on lo, and has no route to 10.0.30.0/24: only translated traffic gets answers.

The servers are PEER_SERVER_PY (conftest): they answer "peer=IP:PORT", the address they see the
client as, so every exchange checks the translation from both ends."""
import collections
import itertools
import json
import random
import shutil
import time

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP

from conftest import (VM_MAC, FAR_IP, INET_IP, NAT_GW, NAT_PORT_RANGE, NAT_VLAN, PY, VM_IP, WAN_IP, parse_peer,
                      report, wait_for)

VM5 = VM_IP["vm5"]          # 10.0.30.5
NAT_NET = "natnet"
TCP_CLOSING_S = 3           # lab.yaml natnet timeouts
UDP_S = 30
ICMP_S = 10
ESTABLISHED_S = 2 * 3600

# Client source ports the tests pick (outside the NAT range, inside nobody's way); a fresh one
# per connection, so no 4-tuple is ever reused while the kernel still remembers it.
_sports = itertools.count(random.randint(40000, 44000))


def next_sport() -> int:
    return next(_sports)


def nat_port_ok(port: int, original: int) -> bool:
    """Masquerade keeps the original source port when it is free, or picks one in port_range."""
    lo, hi = NAT_PORT_RANGE
    return port == original or lo <= port <= hi


def bad_checksums(packets) -> list[str]:
    """IP/TCP/UDP/ICMP checksums of captured packets that do not match their contents."""
    bad = []
    for p in packets:
        if IP not in p:
            continue
        raw = bytes(p[IP])[:p[IP].len]
        got = IP(raw)
        fresh = IP(raw)
        del fresh.chksum
        for l4 in (TCP, UDP, ICMP):
            if l4 in fresh:
                del fresh[l4].chksum
        fresh = IP(bytes(fresh))
        if got.chksum != fresh.chksum:
            bad.append(f"{p.summary()}: IP checksum {got.chksum:#06x}, should be {fresh.chksum:#06x}")
        for l4 in (TCP, UDP, ICMP):
            if l4 not in got:
                continue
            if l4 is UDP and got[UDP].chksum == 0:
                continue  # no checksum: allowed for UDP over IPv4
            if got[l4].chksum != fresh[l4].chksum:
                bad.append(f"{p.summary()}: {l4.__name__} checksum {got[l4].chksum:#06x}, "
                           f"should be {fresh[l4].chksum:#06x}")
            break
    return bad


def dump(entries) -> str:
    return json.dumps(entries, indent=1)[:4000]


def one_entry(lab, what: str, **match) -> dict:
    """The single `nat show` entry matching `match`; fails with the whole table otherwise."""
    entries = lab.nat_show()
    found = lab.nat_find(entries, **match)
    assert len(found) == 1, f"{what}: {len(found)} entries match {match} in `nat show --json`:\n{dump(entries)}"
    e = found[0]
    for k in ("network", "vlan", "proto", "kind", "original", "reply", "state", "age_s", "expires_in_s",
              "packets", "bytes"):
        assert k in e, f"{what}: the nat show entry has no '{k}': {e}"
    assert e["network"] == NAT_NET and e["vlan"] == NAT_VLAN, f"{what}: entry of the wrong network: {e}"
    return e


def same_tuple(got: dict, want: dict) -> bool:
    return all(got.get(k) == v for k, v in want.items())


@pytest.fixture(scope="module")
def nat(lab):
    """The NAT network is up: vm5 reaches its gateway and, through the NAT, both internet
    addresses (the first packets may only resolve neighbours on either side)."""
    for tool in ("nc", "traceroute"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed (netcat-openbsd, traceroute)")
    nets = {n["vlan"]: n for n in lab.status()["networks"]}
    assert NAT_VLAN in nets, f"xdpnet status lists no network on VLAN {NAT_VLAN}: {nets}"
    assert nets[NAT_VLAN]["gateway"] == f"{NAT_GW}/24", nets[NAT_VLAN]
    assert lab.ping("vm5", NAT_GW), f"vm5 -> its gateway {NAT_GW} (answered by xdpnet)"
    assert lab.ping("vm5", INET_IP), f"vm5 -> {INET_IP} (the internet, on the uplink's subnet) through the NAT"
    assert lab.ping("vm5", FAR_IP), f"vm5 -> {FAR_IP} (routed by the host via {INET_IP}) through the NAT"
    return lab


def test_host_traffic_on_the_uplink_is_untouched(lab, nat):
    """The host's own connections over the uplink (its address, its ephemeral ports) still work
    with xdpnet attached to it."""
    assert lab.ping(None, INET_IP), f"host -> {INET_IP} over the uplink"
    assert lab.ping(None, FAR_IP), f"host -> {FAR_IP} over the uplink"
    with lab.served("inet", "tcp", "0.0.0.0", 7001) as srv:
        r = lab.nc(None, FAR_IP, 7001, "from-the-host")
    assert r.returncode == 0, f"host -> {FAR_IP}:7001 over TCP failed ({r.returncode}): {r.stderr}"
    peer = parse_peer(r.stdout)
    assert peer and peer[0] == WAN_IP, f"the host's connection: server answered {r.stdout!r}, {srv.conns()}"


def test_vm_reaches_the_internet_over_tcp_masqueraded(lab, nat):
    port = 7002
    with lab.served("inet", "tcp", "0.0.0.0", port) as srv, \
            lab.capture(["inet", "vm5"], bpf=f"tcp port {port}") as caps:
        for dst in (FAR_IP, INET_IP):
            sport, data = next_sport(), f"tcp-to-{dst}"
            r = lab.nc("vm5", dst, port, data, sport=sport)
            assert r.returncode == 0, f"vm5 -> {dst}:{port} over TCP failed ({r.returncode}): {r.stderr}"
            peer = parse_peer(r.stdout)
            assert peer, f"vm5 -> {dst}:{port}: no answer from the server: {r.stdout!r}"
            assert peer[0] == WAN_IP, f"the server saw vm5 as {peer[0]}, expected the uplink's {WAN_IP}"
            assert nat_port_ok(peer[1], sport), \
                f"masqueraded source port {peer[1]}: neither the original {sport} nor in {NAT_PORT_RANGE}"
            conn = srv.wait_conn(lambda e, d=data: e["data"] == d)
            assert conn, f"the server in inet logged no connection for {data}: {srv.conns()}"
            assert conn["peer"] == [WAN_IP, peer[1]] and conn["local"] == [dst, port], conn
    inbound = [p for p in caps["inet"].packets if IP in p]
    assert len(inbound) >= 2 * 4, f"too few packets reached inet: {caps['inet'].summary()}"
    leaked = [p.summary() for p in inbound if p[IP].src != WAN_IP]
    assert not leaked, f"packets reached the internet without masquerade: {leaked}"
    assert not bad_checksums(inbound), f"translated packets with wrong checksums: {bad_checksums(inbound)}"
    back = [p for p in caps["vm5"].packets if IP in p]
    assert back and all(p[IP].dst == VM5 and p[IP].src in (FAR_IP, INET_IP) for p in back), \
        f"replies at vm5 not translated back to {VM5}: {caps['vm5'].summary()}"
    assert not bad_checksums(back), f"replies at vm5 with wrong checksums: {bad_checksums(back)}"


def test_vm_reaches_the_internet_over_udp_masqueraded(lab, nat):
    port = 7003
    sports, nat_ports = [], []
    with lab.served("inet", "udp", "0.0.0.0", port) as srv, \
            lab.capture(["inet", "vm5"], bpf=f"udp port {port}") as caps:
        for dst in (FAR_IP, INET_IP):
            sport, data = next_sport(), f"udp-to-{dst}"
            sports.append(sport)
            r = lab.nc("vm5", dst, port, data, udp=True, sport=sport)
            peer = parse_peer(r.stdout)
            assert peer, f"vm5 -> {dst}:{port} over UDP: no answer ({r.returncode}): {r.stdout!r} {r.stderr}"
            assert peer[0] == WAN_IP, f"the server saw vm5 as {peer[0]}, expected the uplink's {WAN_IP}"
            assert nat_port_ok(peer[1], sport), \
                f"masqueraded source port {peer[1]}: neither the original {sport} nor in {NAT_PORT_RANGE}"
            conn = srv.wait_conn(lambda e, d=data: e["data"] == d)
            assert conn and conn["peer"] == [WAN_IP, peer[1]] and conn["local"] == [dst, port], \
                f"server's view: {srv.conns()}"
            nat_ports.append(peer[1])
    inbound = [p for p in caps["inet"].packets if UDP in p]
    assert len(inbound) == 2, f"expected 2 datagrams at inet: {caps['inet'].summary()}"
    assert [(p[IP].src, p[UDP].sport) for p in inbound] == [(WAN_IP, x) for x in nat_ports], \
        f"untranslated source at inet: {caps['inet'].summary()}"
    assert not bad_checksums(inbound), bad_checksums(inbound)
    back = [p for p in caps["vm5"].packets if UDP in p]
    assert [(p[IP].dst, p[UDP].dport) for p in back] == [(VM5, x) for x in sports], \
        f"replies at vm5 not translated back to {VM5} and its ports {sports}: {caps['vm5'].summary()}"
    assert not bad_checksums(back), bad_checksums(back)


def test_vm_pings_the_internet_masqueraded(lab, nat):
    with lab.capture(["inet", "vm5"], bpf="icmp") as caps:
        outs = {dst: lab.run("vm5", ["ping", "-c", "3", "-i", "0.2", "-W", "1", dst]) for dst in (FAR_IP, INET_IP)}
    for dst, r in outs.items():
        assert r.returncode == 0, f"vm5 -> {dst}: ping through the NAT failed:\n{r.stdout}"
        assert "ttl=63" in r.stdout, f"replies from {dst} crossed one router, TTL 63 expected:\n{r.stdout}"
    reqs = [p for p in caps["inet"].packets if ICMP in p and p[ICMP].type == 8]
    assert len(reqs) == 6, f"expected 6 echo requests at inet: {caps['inet'].summary()}"
    for p in reqs:
        assert p[IP].src == WAN_IP, f"echo request at inet from {p[IP].src}, expected {WAN_IP}: {p.summary()}"
        assert p[IP].ttl == 63, f"echo request at inet with TTL {p[IP].ttl}, expected 63 (one router hop)"
    assert not bad_checksums(reqs), bad_checksums(reqs)
    replies = [p for p in caps["vm5"].packets if ICMP in p and p[ICMP].type == 0]
    assert len(replies) == 6 and all(p[IP].dst == VM5 for p in replies), caps["vm5"].summary()
    assert not bad_checksums(replies), bad_checksums(replies)


def test_nat_show_lists_the_connection_and_flush_empties_it(lab, nat):
    port, sport = 7004, next_sport()
    with lab.served("inet", "tcp", "0.0.0.0", port) as srv:
        before = lab.stats()
        with lab.held_tcp("vm5", FAR_IP, port, sport=sport, data="held") as c:
            after = lab.stats()
            peer = parse_peer(c.reply)
            assert peer and peer[0] == WAN_IP, f"held connection: the server answered {c.reply!r}"
            e = one_entry(lab, "established TCP connection vm5 -> far server", proto="tcp",
                          original={"src": VM5, "sport": sport, "dst": FAR_IP, "dport": port})
            assert e["kind"] == "snat", e
            want_reply = {"src": FAR_IP, "sport": port, "dst": WAN_IP, "dport": peer[1]}
            assert same_tuple(e["reply"], want_reply), \
                f"reply tuple {e['reply']}, expected {want_reply} (the port the server saw)"
            assert nat_port_ok(e["reply"]["dport"], sport), e
            assert e["state"] == "established", e
            assert ESTABLISHED_S - 120 < e["expires_in_s"] <= ESTABLISHED_S, \
                f"an established connection just used expires in {e['expires_in_s']} s, not ~{ESTABLISHED_S}: {e}"
            assert 0 <= e["age_s"] < 60, e
            assert e["packets"] >= 3 and e["bytes"] > 0, f"counters of the entry: {e}"

            d = lab.counter(after, "vm5", "nat_new") - lab.counter(before, "vm5", "nat_new")
            assert "nat_new" in after[lab.port("vm5")]["counters"], \
                f"stats has no nat_new counter on {lab.port('vm5')}: {sorted(after[lab.port('vm5')]['counters'])}"
            assert d >= 1, f"nat_new on {lab.port('vm5')} moved by {d} for a new outbound connection"

            r = lab.xj("nat", "flush")
            assert isinstance(r, dict) and isinstance(r.get("removed"), int) and r["removed"] >= 1, \
                f"nat flush --json: {r}"
            left = lab.nat_show()
            assert left == [], f"nat show after nat flush:\n{dump(left)}"
    assert srv.summary and srv.summary["peer_ips"] == {WAN_IP: 1}, srv.summary


def test_nat_show_udp_and_icmp_entries(lab, nat):
    port, sport = 7005, next_sport()
    with lab.served("inet", "udp", "0.0.0.0", port):
        r = lab.nc("vm5", FAR_IP, port, "udp-entry", udp=True, sport=sport)
    peer = parse_peer(r.stdout)
    assert peer and peer[0] == WAN_IP, f"vm5 -> {FAR_IP}:{port} over UDP: {r.stdout!r} {r.stderr}"
    e = one_entry(lab, "UDP exchange vm5 -> far server", proto="udp",
                  original={"src": VM5, "sport": sport, "dst": FAR_IP, "dport": port})
    assert e["kind"] == "snat" and e["state"] == "udp", e
    want_reply = {"src": FAR_IP, "sport": port, "dst": WAN_IP, "dport": peer[1]}
    assert same_tuple(e["reply"], want_reply), f"reply tuple {e['reply']}, expected {want_reply}"
    assert 0 < e["expires_in_s"] <= UDP_S, f"UDP entry expires in {e['expires_in_s']} s (udp: {UDP_S}s): {e}"

    r = lab.run("vm5", ["ping", "-c", "1", "-W", "1", FAR_IP])
    assert r.returncode == 0, r.stdout
    entries = lab.nat_show()
    icmp = lab.nat_find(entries, proto="icmp", original={"src": VM5, "dst": FAR_IP},
                        reply={"src": FAR_IP, "dst": WAN_IP})
    assert icmp, f"no ICMP entry for vm5's ping to {FAR_IP}:\n{dump(entries)}"
    assert all(x["kind"] == "snat" and x["state"] == "icmp" and 0 < x["expires_in_s"] <= ICMP_S for x in icmp), \
        f"ICMP entries (icmp timeout {ICMP_S}s): {dump(icmp)}"


HTTP_GET_PY = r'''
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")
'''


def test_port_forward_tcp(lab, nat):
    """tcp 203.0.113.1:8080 -> 10.0.30.5:80; the VM sees the real client address."""
    with lab.served("vm5", "tcp", VM5, 80) as srv:
        sport = next_sport()
        with lab.capture(["vm5"], bpf="tcp port 80") as caps:
            r = lab.nc("inet", WAN_IP, 8080, "pf-tcp", sport=sport)
        assert r.returncode == 0, f"inet -> {WAN_IP}:8080 failed ({r.returncode}): {r.stderr}"
        peer = parse_peer(r.stdout)
        assert peer == (INET_IP, sport), \
            f"the server in vm5 saw the client as {peer}, expected the real {INET_IP}:{sport} (no SNAT on DNAT)"
        conn = srv.wait_conn(lambda e: e["data"] == "pf-tcp")
        assert conn and conn["local"] == [VM5, 80], f"server's view: {srv.conns()}"
        pkts = [p for p in caps["vm5"].packets if TCP in p]
        assert pkts and all(p[IP].src == INET_IP and p[IP].dst == VM5 and p[TCP].dport == 80 for p in pkts), \
            f"forwarded packets at vm5: {caps['vm5'].summary()}"
        assert not bad_checksums(pkts), bad_checksums(pkts)

        r = lab.run("inet", [PY, "-c", HTTP_GET_PY, f"http://{WAN_IP}:8080/"], timeout=20)
        assert r.returncode == 0, f"HTTP GET http://{WAN_IP}:8080/ from inet failed:\n{r.stderr}"
        assert (parse_peer(r.stdout) or ("",))[0] == INET_IP, f"HTTP answer: {r.stdout!r}"

        sport = next_sport()
        with lab.held_tcp("inet", WAN_IP, 8080, sport=sport, data="pf-held"):
            e = one_entry(lab, "forwarded TCP connection", proto="tcp",
                          original={"src": INET_IP, "sport": sport, "dst": WAN_IP, "dport": 8080})
            assert e["kind"] == "dnat" and e["state"] == "established", e
            want_reply = {"src": VM5, "sport": 80, "dst": INET_IP, "dport": sport}
            assert same_tuple(e["reply"], want_reply), f"reply tuple {e['reply']}, expected {want_reply}"


def test_port_forward_udp(lab, nat):
    """udp 203.0.113.1:5353 -> 10.0.30.5:53."""
    sport = next_sport()
    with lab.served("vm5", "udp", VM5, 53) as srv:
        r = lab.nc("inet", WAN_IP, 5353, "pf-udp", udp=True, sport=sport)
        peer = parse_peer(r.stdout)
        assert peer == (INET_IP, sport), \
            f"inet -> {WAN_IP}:5353: the server in vm5 answered {r.stdout!r} ({r.stderr}), expected {INET_IP}:{sport}"
        assert srv.wait_conn(lambda e: e["data"] == "pf-udp"), srv.conns()
    e = one_entry(lab, "forwarded UDP exchange", proto="udp",
                  original={"src": INET_IP, "sport": sport, "dst": WAN_IP, "dport": 5353})
    assert e["kind"] == "dnat" and e["state"] == "udp", e
    want_reply = {"src": VM5, "sport": 53, "dst": INET_IP, "dport": sport}
    assert same_tuple(e["reply"], want_reply), f"reply tuple {e['reply']}, expected {want_reply}"


def test_hairpin_to_own_port_forward(lab, nat):
    """vm5 -> 203.0.113.1:8080 reaches its own 10.0.30.5:80. The server cannot see the
    connection as coming from its own address (Linux drops that): the source is the uplink's
    or the gateway's."""
    with lab.served("vm5", "tcp", VM5, 80) as srv:
        r = lab.nc("vm5", WAN_IP, 8080, "hairpin", sport=next_sport())
        assert r.returncode == 0, f"vm5 -> {WAN_IP}:8080 (hairpin) failed ({r.returncode}): {r.stderr} " \
                                  f"(a hairpin needs SNAT too: vm5 drops packets from its own address)"
        peer = parse_peer(r.stdout)
        assert peer and peer[0] in (WAN_IP, NAT_GW), \
            f"hairpin: vm5's server saw the client as {peer}, expected {WAN_IP} or {NAT_GW}"
        assert srv.wait_conn(lambda e: e["data"] == "hairpin"), srv.conns()

        sport = next_sport()
        with lab.held_tcp("vm5", WAN_IP, 8080, sport=sport, data="hairpin-held") as c:
            assert parse_peer(c.reply), c.reply
            e = one_entry(lab, "hairpin connection", proto="tcp",
                          original={"src": VM5, "sport": sport, "dst": WAN_IP, "dport": 8080})
            assert e["kind"] == "hairpin", e
            assert e["reply"].get("src") == VM5 and e["reply"].get("sport") == 80, e


def test_fragments_follow_their_first_fragment(lab, nat):
    """IPv4 fragments through the NAT both ways: only the first fragment carries the ports, the
    later ones follow the connection it matched. A later fragment that arrives before its first
    fragment is dropped and counted (frag_unknown): the stated rule."""
    from scapy.layers.l2 import Ether

    before = lab.stats()
    r = lab.run("vm5", ["ping", "-c", "3", "-i", "0.2", "-W", "1", "-s", "3000", FAR_IP])
    assert r.returncode == 0, f"3000-byte pings (3 fragments each way) through the NAT failed:\n{r.stdout}"
    port = 7007
    big = "x" * 3900  # a 3.9 kB datagram: 3 fragments out, 3 back
    with lab.served("inet", "udp", "0.0.0.0", port, mode="echo") as srv:
        out = lab.nc("vm5", FAR_IP, port, big, udp=True, sport=next_sport())
        conn = srv.wait_conn(lambda e: len(e.get("data", "")) >= len(big))
    assert conn and conn["peer"][0] == WAN_IP, f"the server's view of the fragmented datagram: {srv.conns()}"
    assert big in out.stdout, f"the fragmented echo did not come back whole: {len(out.stdout)} bytes"
    mid = lab.stats()
    assert lab.counter(mid, "vm5", "frag_unknown") == lab.counter(before, "vm5", "frag_unknown")

    # A later fragment alone (offset 1480 bytes, no first fragment ever sent).
    rmac = {n["vlan"]: n for n in lab.status()["networks"]}[NAT_VLAN]["router_mac"]
    orphan = Ether(src=VM_MAC["vm5"], dst=rmac) / IP(src=VM5, dst=FAR_IP, id=4242, frag=185, proto=17) / (b"y" * 64)
    lab.send("vm5", orphan, count=2)
    after = lab.stats()
    assert lab.counter(after, "vm5", "frag_unknown") - lab.counter(mid, "vm5", "frag_unknown") == 2


def test_traceroute_through_the_nat(lab, nat):
    """Hop 1 is the gateway (time-exceeded from XDP), hop 2 the far server: ICMP echo replies
    and, for UDP probes, port-unreachable errors come back translated."""
    for mode in (["-I"], []):
        tr = lab.run("vm5", ["traceroute", "-n", "-N", "1", "-q", "1", "-w", "2", "-m", "5", *mode, FAR_IP],
                     timeout=40)
        what = "traceroute -I" if mode else "traceroute (UDP)"
        hops = [line.split()[1] for line in tr.stdout.splitlines()[1:] if line.strip()]
        assert hops == [NAT_GW, FAR_IP], f"{what} from vm5 to {FAR_IP}: hops {hops}, expected " \
                                         f"[{NAT_GW}, {FAR_IP}]\n{tr.stdout}{tr.stderr}"


def test_tcp_throughput_with_checksum_offload_on(lab, nat, request):
    """vm5 with tx checksum offload (and TSO) on, as a real VM: the NAT must finish or fix the
    checksums of CHECKSUM_PARTIAL frames."""
    lab.run("vm5", ["ethtool", "-K", "eth0", "tx", "on"], check=True)
    try:
        end = lab.iperf3("inet", "vm5", FAR_IP, seconds=3)
    finally:
        lab.run("vm5", ["ethtool", "-K", "eth0", "tx", "off"])
    k = lab.run("vm5", ["ethtool", "-k", "eth0"], check=True).stdout
    assert "tx-checksumming: off" in k, f"could not restore tx off in vm5:\n{k}"
    got = end["sum_received"]["bytes"]
    report(request, f"\n  iperf3 vm5 -> {FAR_IP} through the NAT, tx offload on: {got / 1e6:.1f} MB in 3 s, "
                    f"{end['sum_received']['bits_per_second'] / 1e9:.2f} Gbit/s")
    assert got > 10_000_000, f"iperf3 through the NAT with tx offload on moved {got} bytes: {end['sum_received']}"


def test_nat_counters_and_no_drops(lab, nat):
    port, n = 7008, 20
    assert lab.ping("vm5", FAR_IP)
    with lab.served("inet", "tcp", "0.0.0.0", port, mode="sink") as srv:
        before = lab.stats()
        res = lab.tcp_burst("vm5", FAR_IP, port, n, timeout=60)
        time.sleep(0.3)  # the last FIN/ACK exchange
        after = lab.stats()
    assert res["ok"] == n and res["failed"] == 0, f"{n} connections vm5 -> {FAR_IP}:{port}: {res}"
    assert srv.summary and srv.summary["count"] == n, srv.summary
    vm5 = lab.port("vm5")
    assert "nat_new" in after[vm5]["counters"], f"stats has no nat_new counter on {vm5}"
    d = lab.counter(after, "vm5", "nat_new") - lab.counter(before, "vm5", "nat_new")
    assert d >= n, f"nat_new on {vm5} moved by {d} for {n} new outbound connections"
    for port_name in (vm5, lab.port("inet")):
        if port_name not in after:
            continue  # the uplink is not a switch port; stats may not list it
        moved = {k: v - before.get(port_name, {}).get("drops", {}).get(k, 0)
                 for k, v in after[port_name].get("drops", {}).items()}
        moved = {k: v for k, v in moved.items() if v}
        assert not moved, f"drops on {port_name} during {n} clean connections: {moved}"


@pytest.mark.slow
def test_10000_short_connections_expire(lab, nat, request):
    """10 000 sequential connect/send/close from vm5; the server sees them all from the uplink's
    address; tcp_closing (3 s) plus housekeeping later, nat show lists none of them."""
    port, n = 7009, 10_000
    ours = dict(proto="tcp", original={"src": VM5, "dst": FAR_IP, "dport": port})
    assert lab.ping("vm5", FAR_IP)
    srv = lab.server("inet", "tcp", "0.0.0.0", port, mode="sink")
    try:
        before = lab.stats()
        t0 = time.monotonic()
        res = lab.tcp_burst("vm5", FAR_IP, port, n, timeout=900)
        took = time.monotonic() - t0
        after = lab.stats()
        t_show = time.monotonic()
        just_after = lab.nat_find(**ours)
        t_show = time.monotonic() - t_show
        t_done = time.monotonic()
    finally:
        summary = srv.stop()
    no_port = lab.counter(after, "vm5", "nat_no_port") - lab.counter(before, "vm5", "nat_no_port")
    report(request, f"\n  {n} TCP connections vm5 -> {FAR_IP} through the NAT: {took:.1f} s "
                    f"({n / took:.0f}/s; client's own timing {res['seconds']:.1f} s; nat_no_port drops "
                    f"{no_port}), {len(just_after)} entries listed right after ({t_show:.2f} s for nat show), "
                    f"states {dict(collections.Counter(e['state'] for e in just_after))}")
    assert res["ok"] == n and res["failed"] == 0, f"client: {res}"
    assert summary and summary["count"] == n, f"the server counted {summary and summary['count']} of {n}"
    assert summary["peer_ips"] == {WAN_IP: n}, f"sources the server saw: {summary['peer_ips']}"
    d = lab.counter(after, "vm5", "nat_new") - lab.counter(before, "vm5", "nat_new")
    assert d >= n, f"nat_new on {lab.port('vm5')} moved by {d} for {n} connections"
    assert just_after, "right after the last close (< 3 s ago) nat show lists none of the connections"

    # tcp_closing (3 s) + up to 2 s of housekeeping; poll up to 15 s after the last close.
    left = wait_for(lambda: not lab.nat_find(**ours), timeout=max(0.0, 15 - (time.monotonic() - t_done)),
                    interval=0.5)
    remaining = [] if left else lab.nat_find(**ours)
    waited = time.monotonic() - t_done
    report(request, f"  entries gone {waited:.1f} s after the last close" if not remaining else
           f"  {len(remaining)} entries left {waited:.1f} s after the last close")
    assert not remaining, \
        f"{len(remaining)} entries of the {n} closed connections still listed {waited:.1f} s after the last " \
        f"close (tcp_closing {TCP_CLOSING_S}s); states " \
        f"{dict(collections.Counter(e['state'] for e in remaining))}, e.g.:\n{dump(remaining[:5])}"
