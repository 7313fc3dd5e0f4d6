"""Per-VM controls (issue 4): policing, DSCP marking, the ACL, port security and per-address
limits, with real traffic through the lab.

Every test applies its own variant of the lab policy with `xdpnet apply` (the running policy is
replaced atomically) and puts the lab's policy back afterwards; the module fixture `controls`
restores it once more at the end, whatever happened, so later files see the original lab.

Rates are bits/s of L2 frames (Ethernet header + IP packet, no FCS, no preamble). iperf3
measures UDP payload, so a policed rate R is expected as R x payload / (payload + 8 + 20 + 14).
"""
import contextlib
import json
import re
import subprocess
import time

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from conftest import BROADCAST, FAR_IP, INET_IP, PY, VM_IP, VM_MAC, report, wait_for

VM1, VM2, VM3, VM4 = VM_IP["vm1"], VM_IP["vm2"], VM_IP["vm3"], VM_IP["vm4"]
VM1_LL = "fe80::5054:ff:fe00:1"  # vm1's IPv6 link-local (EUI-64 of 52:54:00:00:00:01)
ETH_IP_UDP = 14 + 20 + 8         # bytes of headers around a UDP payload in an L2 frame
UDP_LEN = 1400                   # iperf3 -l: UDP payload per datagram (1442-byte frames)


# ---- policies ----

def port_block(text: str, lab, member: str, block: str) -> str:
    """`text` with `block` (YAML lines at 4-space indentation) added to the member's port entry."""
    name = lab.port(member)
    new, n = re.subn(rf"(?m)^(  - name: {name}[ \t]*\n)", lambda m: m.group(1) + block.rstrip("\n") + "\n", text)
    assert n == 1, f"no port entry '{name}' in the lab policy"
    return new


def policy(lab, ports: dict[str, str] | None = None, top: str = "") -> str:
    """The lab policy with per-port blocks added and top-level sections (`limits:`, `acl:`)
    appended."""
    text = lab.policy.read_text()
    for member, block in (ports or {}).items():
        text = port_block(text, lab, member, block)
    if top:
        text = text.rstrip("\n") + "\n\n" + top.strip("\n") + "\n"
    return text


def apply(lab, text: str, name: str):
    """Writes the policy to `name` and applies it; fails unless it is now running."""
    path = lab.write_policy(text, name)
    gen = lab.status()["active_gen"]
    r = lab.xdpnet("apply", "-c", path, instance=False)
    assert r.returncode == 0, f"xdpnet apply -c {path} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n" \
                              f"policy:\n{text}"
    assert lab.status()["active_gen"] != gen, f"apply -c {path} did not switch the generation"
    return path


def restore(lab):
    r = lab.xdpnet("apply", "-c", lab.policy, instance=False)
    assert r.returncode == 0, f"could not restore the lab policy:\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope="module")
def controls(lab):
    """The lab policy comes back at the end of the module, whatever happened."""
    try:
        yield lab
    finally:
        restore(lab)


@pytest.fixture
def ctl(controls):
    """Per test: the lab policy comes back after the test too (a failed test leaves no ACL
    or policer behind for the next one)."""
    yield controls
    restore(controls)


def delta(lab, before, after, member: str, name: str) -> int:
    return lab.counter(after, member, name) - lab.counter(before, member, name)


def moved_drops(lab, before, after, member: str) -> dict[str, int]:
    """Drop reasons of a member's port that moved between two stats snapshots."""
    port = lab.port(member)
    b = before[port].get("drops", {})
    return {k: v - b.get(k, 0) for k, v in after[port].get("drops", {}).items() if v != b.get(k, 0)}


# ---- traffic ----

class Iperf:
    """One iperf3 run (client in client_ns against a one-shot server on addr in server_ns), with
    both sides' JSON: the server's is what it measured."""

    def __init__(self, lab, server_ns: str, client_ns: str, addr: str, seconds: int, port: int = 5201,
                 udp_rate: str | None = None, length: int | None = None, extra=()):
        self.lab, self.seconds, self.port, self.addr = lab, seconds, port, addr
        self.what = f"iperf3 {client_ns} -> {addr}:{port} ({'UDP ' + udp_rate if udp_rate else 'TCP'}, {seconds} s)"
        self.srv = subprocess.Popen(lab.ns_cmd(server_ns) + ["iperf3", "-s", "-1", "-J", "-B", addr, "-p", str(port)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.cli = None
        try:
            ok = wait_for(lambda: f":{port}" in lab.run(server_ns, ["ss", "-ltnH", f"sport = :{port}"]).stdout,
                          timeout=5)
            assert ok, f"{self.what}: the server did not start listening"
            cmd = ["iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J", "--connect-timeout", "3000"]
            if udp_rate:
                cmd += ["-u", "-b", udp_rate]
            if length:
                cmd += ["-l", str(length)]
            cmd += [str(a) for a in extra]
            self.cli = subprocess.Popen(lab.ns_cmd(client_ns) + cmd, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        except BaseException:
            self.kill()
            raise

    def kill(self):
        for p in (self.cli, self.srv):
            if p and p.poll() is None:
                p.kill()
                p.wait()

    def wait(self) -> tuple[dict, dict]:
        """(client's "end", server's "end")."""
        try:
            cout, cerr = self.cli.communicate(timeout=self.seconds + 30)
            sout, serr = self.srv.communicate(timeout=15)
        finally:
            self.kill()
        try:
            c = json.loads(cout)
        except json.JSONDecodeError:
            raise AssertionError(f"{self.what}: the client's output is not JSON:\n{cout[-2000:]}\n{cerr}") from None
        assert self.cli.returncode == 0 and "error" not in c, \
            f"{self.what} failed ({self.cli.returncode}): {c.get('error')}\n{cerr}"
        try:
            s = json.loads(sout)
        except json.JSONDecodeError:
            raise AssertionError(f"{self.what}: the server's output is not JSON:\n{sout[-2000:]}\n{serr}") from None
        assert "error" not in s, f"{self.what}: server error {s.get('error')}"
        return c["end"], s["end"]


def iperf(lab, *args, **kw) -> tuple[dict, dict]:
    return Iperf(lab, *args, **kw).wait()


def received_bps(server_end: dict) -> float:
    """The rate the iperf3 server measured (bits/s of payload)."""
    s = server_end.get("sum_received") or server_end["sum"]
    return s["bits_per_second"]


def sent(client_end: dict) -> dict:
    return client_end.get("sum_sent") or client_end["sum"]


def udp_payload_rate(frame_rate: float, payload: int = UDP_LEN) -> float:
    """The UDP payload rate a policer admitting `frame_rate` bits/s of L2 frames lets through."""
    return frame_rate * payload / (payload + ETH_IP_UDP)


@contextlib.contextmanager
def routes(lab):
    """vm1 routes 10.0.20.0/24 via its gateway and vm3 routes vm1 back via its own (vm3 also
    holds 10.0.10.33/24 on-link), as in test_09_routing."""
    lab.run("vm1", ["ip", "route", "replace", "10.0.20.0/24", "via", "10.0.10.254"], check=True)
    lab.run("vm3", ["ip", "route", "replace", f"{VM1}/32", "via", "10.0.20.254"], check=True)
    try:
        yield
    finally:
        lab.run("vm1", ["ip", "route", "del", "10.0.20.0/24"])
        lab.run("vm3", ["ip", "route", "del", f"{VM1}/32"])


# TCP_PROBE: `dst timeout port...`: one connection per port, in parallel: sends "probe\n" and
# reads the answer line. {"port": "ok" | "timeout" | "<error>"}.
TCP_PROBE_PY = r'''
import json, socket, sys, threading
dst, timeout, ports = sys.argv[1], float(sys.argv[2]), [int(p) for p in sys.argv[3:]]
res = {}
def probe(port):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((dst, port))
        s.sendall(b"probe\n")
        res[port] = "ok" if s.recv(4096) else "closed"
    except socket.timeout:
        res[port] = "timeout"
    except OSError as e:
        res[port] = type(e).__name__
    finally:
        s.close()
ts = [threading.Thread(target=probe, args=(p,)) for p in ports]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({str(k): v for k, v in sorted(res.items())}), flush=True)
'''


def tcp_probe(lab, ns: str, dst: str, ports, timeout: float = 2.0) -> dict[int, str]:
    r = lab.run(ns, [PY, "-c", TCP_PROBE_PY, dst, timeout, *ports], timeout=timeout + 15)
    assert r.returncode == 0, f"TCP probe from {ns} failed:\n{r.stdout}\n{r.stderr}"
    return {int(k): v for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}


def ipv4_header_ok(p) -> bool:
    """The IPv4 header checksum of a captured packet is right (its ones' complement sum is 0xffff)."""
    raw = bytes(p[IP])[:p[IP].ihl * 4]
    s = sum(int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s == 0xffff


def tcpdump_v(path) -> str:
    """`tcpdump -v` of a capture file: it prints "bad cksum" for a wrong IPv4 header checksum."""
    r = subprocess.run(["tcpdump", "-v", "-n", "-r", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    return r.stdout


# ---- 1-3: policing ----

POLICE_RATE = 50_000_000  # 50mbit
UDP_OFFERED = "200M"      # 4x the rate


def test_ingress_policing_udp(ctl, request):
    """vm1 may send 50mbit: UDP offered at 4x for 10 s arrives at vm2 at the policed rate, the rest
    is dropped and counted as police_ingress on vm1's port."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    police:\n      ingress: { rate: 50mbit, burst: 256kb }"}), "police-in.yaml")
    assert lab.ping("vm1", VM2), "vm1 -> vm2 with an ingress policer on vm1"
    before = lab.stats()
    cli, srv = iperf(lab, "vm2", "vm1", VM2, 10, udp_rate=UDP_OFFERED, length=UDP_LEN)
    after = lab.stats()
    offered, got = sent(cli)["bits_per_second"], received_bps(srv)
    want = udp_payload_rate(POLICE_RATE)
    drops = delta(lab, before, after, "vm1", "police_ingress")
    lost = (srv.get("sum_received") or srv["sum"]).get("lost_packets", 0)
    report(request, f"\n  ingress policing: offered {offered / 1e6:.1f} Mbit/s UDP payload, configured 50 Mbit/s of "
                    f"frames = {want / 1e6:.2f} Mbit/s payload, measured by the server {got / 1e6:.2f} Mbit/s "
                    f"({got / want - 1:+.1%}); police_ingress {drops}, iperf3 lost {lost}")
    assert offered > 3.5 * POLICE_RATE, f"the client offered only {offered / 1e6:.1f} Mbit/s: not over the rate"
    assert abs(got / want - 1) <= 0.05, \
        f"vm2 received {got / 1e6:.2f} Mbit/s of payload, expected {want / 1e6:.2f} (50mbit of frames) +-5%"
    assert drops > 0, f"no police_ingress drops on {lab.port('vm1')}: {moved_drops(lab, before, after, 'vm1')}"
    # Everything iperf3 lost was the policer's doing (and little more: control packets).
    assert 0.95 * lost <= drops <= lost + 2000, f"police_ingress {drops} vs {lost} datagrams lost"
    assert delta(lab, before, after, "vm2", "police_egress") == 0


def test_egress_policing_udp(ctl, request):
    """At most 50mbit is delivered to vm1: UDP from vm2 at 4x for 10 s; police_egress on vm1."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    police:\n      egress: { rate: 50mbit, burst: 256kb }"}), "police-out.yaml")
    assert lab.ping("vm2", VM1), "vm2 -> vm1 with an egress policer on vm1"
    before = lab.stats()
    cli, srv = iperf(lab, "vm1", "vm2", VM1, 10, udp_rate=UDP_OFFERED, length=UDP_LEN)
    after = lab.stats()
    offered, got = sent(cli)["bits_per_second"], received_bps(srv)
    want = udp_payload_rate(POLICE_RATE)
    drops = delta(lab, before, after, "vm1", "police_egress")
    lost = (srv.get("sum_received") or srv["sum"]).get("lost_packets", 0)
    report(request, f"\n  egress policing: offered {offered / 1e6:.1f} Mbit/s, configured 50 Mbit/s of frames = "
                    f"{want / 1e6:.2f} Mbit/s payload, measured {got / 1e6:.2f} Mbit/s ({got / want - 1:+.1%}); "
                    f"police_egress {drops}, iperf3 lost {lost}")
    assert offered > 3.5 * POLICE_RATE, f"the client offered only {offered / 1e6:.1f} Mbit/s: not over the rate"
    assert abs(got / want - 1) <= 0.05, \
        f"vm1 received {got / 1e6:.2f} Mbit/s of payload, expected {want / 1e6:.2f} (50mbit of frames) +-5%"
    assert drops > 0, f"no police_egress drops on {lab.port('vm1')}: {moved_drops(lab, before, after, 'vm1')}"
    assert 0.95 * lost <= drops <= lost + 2000, f"police_egress {drops} vs {lost} datagrams lost"
    assert delta(lab, before, after, "vm2", "police_ingress") == 0
    assert delta(lab, before, after, "vm1", "police_ingress") == 0


# BBR through the policer reaches only ~21% of the rate (10 of 48 Mbit/s, every run, at 5, 50
# and 500 mbit alike; ~80% with a 1mb burst, full rate with 2.5mb), where cubic reaches ~95%.
# Not understood yet; the likely cause is that the bucket refills once per 4 ms clock tick, so
# after it runs dry up to a tick's worth of frames pass back to back at line rate and BBR's
# max-filtered delivery-rate samples overestimate the bottleneck. A policer clocked by
# bpf_ktime_get_ns was tried and made cubic worse (26%). Kept as a strict xfail: it fails the
# run as soon as BBR passes, so the marker must then go.
@pytest.mark.parametrize("cc", ["cubic", pytest.param("bbr", marks=pytest.mark.xfail(
    strict=True, reason="known: BBR gets ~21% through a jiffy-refilled policer (see comment)"))])
def test_tcp_through_ingress_policer(ctl, request, cc):
    """TCP (iperf3, 8 s) from vm1 through its 50mbit/256kb ingress policer converges near the rate,
    with cubic (Linux's default, what most guests run) and with BBR (this machine's default,
    net.ipv4.tcp_congestion_control=bbr, and common in guests too): both are pinned with
    `iperf3 -C` so the result does not depend on the host's sysctl.

    Bound: 60% .. 105% of the rate, in payload terms (a full 1514-byte frame carries 1448 bytes
    of TCP payload with timestamps). Above 105%: the policer leaks (the bucket admits at most
    burst + rate x (T + 4 ms), +0.6% over 8 s here). Below 60%: a drop-tail policer with 42 ms
    of burst on a sub-ms RTT path leaves TCP well above half the rate (here cubic reaches
    ~95%, and an nftables `limit` policer, ns-clocked, lets BBR reach what it admits); less than
    that means the policer's drops are pathological for that TCP."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    police:\n      ingress: { rate: 50mbit, burst: 256kb }"}), "police-tcp.yaml")
    assert lab.ping("vm1", VM2)
    before = lab.stats()
    cli, srv = iperf(lab, "vm2", "vm1", VM2, 8, extra=["-C", cc])
    after = lab.stats()
    got = received_bps(srv)
    rate_payload = POLICE_RATE * 1448 / 1514
    frac = got / rate_payload
    drops = delta(lab, before, after, "vm1", "police_ingress")
    used = (cli.get("sender_tcp_congestion") or "?")
    report(request, f"\n  TCP ({used}) through a 50mbit/256kb ingress policer: {got / 1e6:.2f} Mbit/s goodput = "
                    f"{frac:.0%} of the rate ({rate_payload / 1e6:.1f} Mbit/s of payload); retransmits "
                    f"{sent(cli).get('retransmits')}, police_ingress {drops}")
    assert used == cc, f"iperf3 ran with congestion control {used}, not {cc}"
    assert drops > 0, "TCP never reached the policer"
    assert 0.60 <= frac <= 1.05, \
        f"TCP ({cc}) through the 50mbit ingress policer: {got / 1e6:.2f} Mbit/s = {frac:.0%} of the rate, expected " \
        f"60%..105% (retransmits {sent(cli).get('retransmits')}, police_ingress drops {drops})"


def test_police_exceed_remark(ctl, marker):
    """`exceed: remark`: a burst over a small bucket is forwarded whole, the excess with its DSCP
    set to remark_dscp (cs1 = 8: tos 0x20) and counted as remarked, nothing dropped."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    police:\n      ingress: { rate: 1mbit, burst: 4kb, exceed: remark, "
                                   "remark_dscp: cs1 }"}), "police-remark.yaml")
    assert lab.ping("vm1", VM2)
    n = 30
    frames = [Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm2"]) / IP(src=VM1, dst=VM2, tos=0x01) /
              UDP(sport=40400, dport=9) / Raw((marker + b"-%02d-" % i).ljust(1000, b"."))
              for i in range(n)]  # 1042-byte frames, sent back to back: ~31 KB against a 4 KB bucket
    time.sleep(0.1)  # the bucket refills (a 1mbit bucket needs 33 ms for 4 KB)
    before = lab.stats()
    with lab.capture(["vm2"], bpf="udp") as caps:
        lab.send("vm1", frames)
    after = lab.stats()
    got = [p for p in caps["vm2"].with_marker(marker) if UDP in p and ICMP not in p]
    tos = [p[IP].tos for p in got]
    assert len(got) == n, f"{len(got)} of {n} frames arrived; remark must not drop: {moved_drops(lab, before, after, 'vm1')}"
    assert set(tos) <= {0x01, 0x21}, f"tos values at vm2: {sorted(set(hex(t) for t in tos))} (ECN 01 kept)"
    remarked = tos.count(0x21)
    assert tos[0] == 0x01 and remarked >= n - 8, \
        f"tos at vm2 in order: {[hex(t) for t in tos]}; the first frames fit the bucket, the rest are remarked"
    assert all(ipv4_header_ok(p) for p in got), "bad IPv4 header checksum after remarking"
    assert delta(lab, before, after, "vm1", "remarked") == remarked
    assert moved_drops(lab, before, after, "vm1") == {}, moved_drops(lab, before, after, "vm1")


def test_police_pps(ctl, request):
    """`pps: 1000` on vm1's ingress: small UDP datagrams at 5000 packets/s arrive at ~1000/s.

    The burst is 100 packets (100 ms of the rate): iperf3 sends in timer-driven clumps, and a
    bucket that is full while the sender pauses forgoes the refill of that pause. With the
    default 10-packet burst a CI run measured 936/s (-6%) where quiet runs measure 1000/s: that
    is the token bucket doing what it says, not a lost refill. Over 5 s the burst adds 2%."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    police:\n      ingress: { pps: 1000, pps_burst: 100 }"}), "police-pps.yaml")
    assert lab.ping("vm1", VM2)
    before = lab.stats()
    cli, srv = iperf(lab, "vm2", "vm1", VM2, 5, udp_rate="4M", length=100)  # 100 B x 5000/s = 4 Mbit/s
    after = lab.stats()
    s = srv.get("sum_received") or srv["sum"]
    c = sent(cli)
    offered_pps = c["packets"] / c["seconds"] if c.get("packets") else float("nan")
    got_pps = (s["packets"] - s["lost_packets"]) / s["seconds"]
    # What the policer let through, by its own count: datagrams sent less those it dropped,
    # over the sender's time (the server's window is longer by the start-up and the drain, so
    # its rate reads a few % low).
    drops = delta(lab, before, after, "vm1", "police_ingress")
    admitted_pps = (c["packets"] - drops) / c["seconds"]
    expect = 1000 + 100 / c["seconds"]  # the rate, plus the burst spread over the run
    report(request, f"\n  pps policing: offered {offered_pps:.0f} pkt/s, configured 1000 (burst 100), admitted "
                    f"{admitted_pps:.0f} pkt/s (expected {expect:.0f}), iperf3 server measured {got_pps:.0f} pkt/s, "
                    f"police_ingress {drops}")
    assert offered_pps > 3500, f"offered only {offered_pps:.0f} packets/s"
    assert abs(admitted_pps / expect - 1) <= 0.03, f"{admitted_pps:.0f} packets/s admitted through pps: 1000"
    assert abs(got_pps / 1000 - 1) <= 0.08, f"{got_pps:.0f} packets/s arrived through pps: 1000"
    assert drops > 0


# ---- 4: DSCP ----

def test_dscp_marking_keeps_ecn_and_checksum(ctl, marker):
    """vm1 with dscp 46: its IPv4 and IPv6 packets arrive at vm2 with DSCP 46 and their own ECN bits,
    with a valid IPv4 header checksum; vm2's port does not mark."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": "    dscp: 46"}), "dscp.yaml")
    assert lab.ping("vm1", VM2)
    eth = Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm2"])
    ecn_v4 = {tos: eth / IP(src=VM1, dst=VM2, tos=tos) / UDP(sport=40000 + tos, dport=9) / Raw(marker)
              for tos in (0x01, 0x02, 0x03, 0xfe)}
    v6 = Ether(bytes(eth / IPv6(src=VM1_LL, dst="fe80::5054:ff:fe00:2", tc=0x01) / UDP(sport=40100, dport=9) /
                     Raw(marker)))
    # vm2's port does not mark (the echo replies are no test of that: Linux copies the request's TOS).
    from_vm2 = Ether(src=VM_MAC["vm2"], dst=VM_MAC["vm1"]) / IP(src=VM2, dst=VM1, tos=0x02) / \
        UDP(sport=40200, dport=9) / Raw(marker + b"-vm2")
    before = lab.stats()
    with lab.capture(["vm2", "vm1"], bpf="icmp or udp or ip6") as caps:
        r = lab.run("vm1", ["ping", "-c", "3", "-i", "0.2", "-W", "1", VM2])
        lab.send("vm1", list(ecn_v4.values()) + [v6])
        lab.send("vm2", from_vm2)
    after = lab.stats()
    assert r.returncode == 0, f"ping vm1 -> vm2 with dscp marking:\n{r.stdout}"

    reqs = [p for p in caps["vm2"].packets if ICMP in p and p[ICMP].type == 8 and p[IP].src == VM1]
    assert len(reqs) == 3, caps["vm2"].summary()
    for p in reqs:
        assert p[IP].tos == 0xb8, f"echo request at vm2 with tos {p[IP].tos:#04x}, expected 0xb8 (DSCP 46, ECN 0)"
        assert ipv4_header_ok(p), f"echo request at vm2 with a bad IPv4 header checksum: {p[IP].chksum:#06x}"
    for tos, sent_frame in ecn_v4.items():
        # (vm2's port-unreachable errors carry the marker too: UDP ones only.)
        got = [p for p in caps["vm2"].with_marker(marker)
               if UDP in p and ICMP not in p and p[UDP].sport == sent_frame[UDP].sport]
        assert len(got) == 1, f"UDP with tos {tos:#04x} from vm1: {caps['vm2'].summary()}"
        want = (46 << 2) | (tos & 3)
        assert got[0][IP].tos == want, f"tos {tos:#04x} arrived as {got[0][IP].tos:#04x}, expected {want:#04x} " \
                                       f"(DSCP 46, ECN {tos & 3} kept)"
        assert ipv4_header_ok(got[0]), f"tos {tos:#04x}: bad IPv4 header checksum at vm2"
        assert got[0][UDP].chksum == Ether(bytes(sent_frame))[UDP].chksum, "UDP checksum changed"
    got6 = [p for p in caps["vm2"].with_marker(marker) if IPv6 in p]
    assert len(got6) == 1 and got6[0][IPv6].tc == (46 << 2) | 1, \
        f"IPv6 traffic class 0x01 arrived as {[hex(p[IPv6].tc) for p in got6]}, expected 0xb9"
    assert got6[0][IPv6].fl == 0 and got6[0][IPv6].plen == v6[IPv6].plen, "IPv6 flow label or length changed"

    dump = tcpdump_v(caps["vm2"].path)
    assert "tos 0xb8" in dump, f"tcpdump -v at vm2 shows no tos 0xb8:\n{dump[:2000]}"
    assert "bad cksum" not in dump, f"tcpdump -v at vm2 reports bad checksums:\n{dump[:2000]}"

    back = [p for p in caps["vm1"].with_marker(marker + b"-vm2") if UDP in p and ICMP not in p]
    assert len(back) == 1 and back[0][IP].tos == 0x02, \
        f"vm2's UDP (tos 0x02) at vm1: {[hex(p[IP].tos) for p in back]}; only vm1's port marks"
    # Every IP packet vm1 sent is counted once: the pings, the crafted frames and vm1's port-unreachable
    # answer to vm2's UDP, all of which went to vm2.
    from_vm1 = [p for p in caps["vm2"].packets if p[Ether].src == VM_MAC["vm1"] and (IP in p or IPv6 in p)]
    assert len(from_vm1) >= 3 + len(ecn_v4) + 1, caps["vm2"].summary()
    assert all((p[IP].tos if IP in p else p[IPv6].tc) >> 2 == 46 for p in from_vm1), caps["vm2"].summary()
    assert delta(lab, before, after, "vm1", "dscp_marked") == len(from_vm1)
    assert delta(lab, before, after, "vm2", "dscp_marked") == 0


# ---- 5: ACL ----

def test_acl_denies_routed_icmp_but_not_tcp(ctl):
    """deny icmp from VLAN 10 to 10.0.20.0/24: vm1 cannot ping vm3 (routed), TCP to vm3 works,
    and pings within VLAN 10 (not to that prefix) still work."""
    lab = ctl
    apply(lab, policy(lab, top="""
acl:
  default: allow
  rules:
    - { action: deny, proto: icmp, from_vlan: 10, to: 10.0.20.0/24 }
"""), "acl-icmp.yaml")
    with routes(lab), lab.served("vm3", "tcp", VM3, 7100) as srv:
        assert lab.ping("vm1", "10.0.10.254"), "the gateway answers ping itself"
        before = lab.stats()
        # TCP first: it also has the router resolve vm3 (a first packet to an unresolved neighbour
        # is dropped as neigh_unresolved, before the ACL).
        r = lab.nc("vm1", VM3, 7100, "acl-tcp")
        assert r.returncode == 0 and "peer=" + VM1 in r.stdout, \
            f"TCP vm1 -> vm3:7100 (routed) should pass the ICMP-only rule: {r.returncode} {r.stdout!r} {r.stderr}"
        assert srv.wait_conn(lambda e: e["data"] == "acl-tcp"), srv.conns()
        assert lab.ping("vm1", VM2), "ping vm1 -> vm2 (switched, not to 10.0.20.0/24) denied"
        mid = lab.stats()
        assert lab.ping_fails("vm1", VM3, count=3), "vm1 pings vm3 across the gateways despite the deny rule"
        after = lab.stats()
    assert delta(lab, before, mid, "vm1", "acl_deny") == 0, \
        f"TCP or switched pings were denied: {moved_drops(lab, before, mid, 'vm1')}"
    assert moved_drops(lab, mid, after, "vm1") == {"acl_deny": 3}, \
        f"drops on {lab.port('vm1')} for 3 denied pings: {moved_drops(lab, mid, after, 'vm1')}"
    assert delta(lab, mid, after, "vm3", "routed") == 0, "a denied echo request reached vm3 (it answered)"


def test_acl_default_deny_with_stateful_allow(ctl):
    """default deny; VLAN 10 may open TCP to vm3:8000, statefully: the connection works (vm3's
    replies pass as replies, acl_reply), while vm3 cannot open a connection to vm1, and nothing
    else passes."""
    lab = ctl
    apply(lab, policy(lab, top=f"""
acl:
  default: deny
  rules:
    - {{ action: allow, proto: tcp, dst_port: 8000, from_vlan: 10, to_vlan: 20, to: {VM3}/32, stateful: true }}
"""), "acl-stateful.yaml")
    with routes(lab), lab.served("vm3", "tcp", VM3, 8000) as srv3, lab.served("vm1", "tcp", VM1, 8000) as srv1:
        before = lab.stats()
        r = lab.nc("vm1", VM3, 8000, "stateful-ok")
        mid = lab.stats()
        assert r.returncode == 0 and f"peer={VM1}:" in r.stdout, \
            f"TCP vm1 -> vm3:8000 (allowed, stateful) failed: {r.returncode} {r.stdout!r} {r.stderr}"
        assert srv3.wait_conn(lambda e: e["data"] == "stateful-ok"), srv3.conns()
        with lab.held_tcp("vm1", VM3, 8000, data="held") as c:
            assert c.reply.startswith(f"peer={VM1}:"), c.reply
        replies = delta(lab, before, mid, "vm3", "acl_reply")
        assert replies >= 2, f"acl_reply on {lab.port('vm3')} moved by {replies}: vm3's SYN-ACK and answer " \
                             f"should pass as replies"

        # vm3 opening a connection to vm1 (a listening server) is denied.
        before = lab.stats()
        r = lab.nc("vm3", VM1, 8000, "from-vm3", timeout=2)
        after = lab.stats()
        assert "peer=" not in r.stdout, f"vm3 opened a connection to vm1:8000 through default deny: {r.stdout!r}"
        assert not srv1.conns(), f"vm1's server saw vm3's connection: {srv1.conns()}"
        assert delta(lab, before, after, "vm3", "acl_deny") >= 1, moved_drops(lab, before, after, "vm3")
        # Neither another port nor ICMP is allowed.
        assert tcp_probe(lab, "vm1", VM3, [8001], timeout=1.5) == {8001: "timeout"}
        assert lab.ping_fails("vm1", VM3), "ping vm1 -> vm3 passed the default deny"
        # Switched IPv4 in VLAN 10 is denied by default too.
        assert lab.ping_fails("vm1", VM2), "ping vm1 -> vm2 (switched) passed the default deny"


def test_acl_without_stateful_replies_are_denied(ctl):
    """The same allow rule without `stateful`: vm3's replies meet the default deny, so the
    connection cannot be made (what the stateful test relies on the tracker for)."""
    lab = ctl
    apply(lab, policy(lab, top=f"""
acl:
  default: deny
  rules:
    - {{ action: allow, proto: tcp, dst_port: 8000, from_vlan: 10, to_vlan: 20, to: {VM3}/32 }}
"""), "acl-stateless.yaml")
    with routes(lab), lab.served("vm3", "tcp", VM3, 8000) as srv3:
        before = lab.stats()
        res = tcp_probe(lab, "vm1", VM3, [8000], timeout=1.5)
        after = lab.stats()
    assert res == {8000: "timeout"}, f"TCP vm1 -> vm3:8000 without stateful: {res} (the SYN-ACK should be denied)"
    assert delta(lab, before, after, "vm1", "acl_deny") == 0, "vm1's SYN was denied (the rule allows it)"
    assert delta(lab, before, after, "vm3", "acl_deny") >= 1, moved_drops(lab, before, after, "vm3")
    assert delta(lab, before, after, "vm3", "acl_reply") == 0
    assert not srv3.conns(), f"vm3's server completed a connection: {srv3.conns()}"


def test_acl_port_range(ctl):
    """deny tcp 7000-7010 from VLAN 10 to VLAN 20: the range and its ends are denied, the ports
    just outside pass."""
    lab = ctl
    apply(lab, policy(lab, top="""
acl:
  default: allow
  rules:
    - { action: deny, proto: tcp, dst_port: 7000-7010, from_vlan: 10, to_vlan: 20 }
"""), "acl-range.yaml")
    ports = [6999, 7000, 7001, 7005, 7010, 7011]
    with routes(lab), contextlib.ExitStack() as stack:
        for p in ports:
            stack.enter_context(lab.served("vm3", "tcp", VM3, p))
        assert lab.ping("vm1", VM3)
        before = lab.stats()
        res = tcp_probe(lab, "vm1", VM3, ports)
        after = lab.stats()
    want = {6999: "ok", 7000: "timeout", 7001: "timeout", 7005: "timeout", 7010: "timeout", 7011: "ok"}
    assert res == want, f"TCP vm1 -> vm3 by port: {res}, expected {want}"
    assert delta(lab, before, after, "vm1", "acl_deny") >= 4, moved_drops(lab, before, after, "vm1")


def test_acl_switched_udp_port(ctl, marker):
    """deny udp to port 9999 within VLAN 10 (switched): vm1 -> vm2:9999 never arrives, port 9998
    does, ping still works. A rule without addresses covers IPv6 too (crafted frames: the lab's
    namespaces run without IPv6)."""
    lab = ctl
    apply(lab, policy(lab, top="""
acl:
  default: allow
  rules:
    - { action: deny, proto: udp, dst_port: 9999, from_vlan: 10, to_vlan: 10 }
"""), "acl-switched.yaml")
    e12 = Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm2"])
    v6 = {port: e12 / IPv6(src=VM1_LL, dst="fe80::5054:ff:fe00:2") / UDP(sport=40300, dport=port) /
          Raw(marker + b"-%d" % port) for port in (9999, 9998)}
    with lab.served("vm2", "udp", VM2, 9999) as denied, lab.served("vm2", "udp", VM2, 9998) as allowed:
        assert lab.ping("vm1", VM2), "ping vm1 -> vm2 denied by a UDP rule"
        before = lab.stats()
        r_no = lab.nc("vm1", VM2, 9999, "udp-9999", udp=True, timeout=1)
        r_ok = lab.nc("vm1", VM2, 9998, "udp-9998", udp=True, timeout=2)
        with lab.capture(["vm2"], bpf="ip6") as caps:
            lab.send("vm1", list(v6.values()))
        after = lab.stats()
        assert "peer=" in r_ok.stdout, f"UDP vm1 -> vm2:9998 (not denied) got no answer: {r_ok.stdout!r}"
        assert "peer=" not in r_no.stdout and not denied.conns(), \
            f"UDP vm1 -> vm2:9999 arrived despite the deny rule: {denied.conns()}"
        assert allowed.wait_conn(lambda e: e["data"] == "udp-9998"), allowed.conns()
    assert caps["vm2"].with_marker(marker + b"-9998"), f"IPv6 UDP to 9998 did not arrive: {caps['vm2'].summary()}"
    assert not caps["vm2"].with_marker(marker + b"-9999"), "IPv6 UDP to 9999 arrived despite the deny rule"
    assert moved_drops(lab, before, after, "vm1") == {"acl_deny": 2}, moved_drops(lab, before, after, "vm1")
    assert lab.ping("vm1", VM2)


def test_acl_to_the_nat_uplink(ctl):
    """The ACL also applies out of the NAT uplink: deny icmp from VLAN 30 to 198.51.100.0/24 stops
    vm5's pings to the far server, not to 203.0.113.2, nor its TCP to the far server."""
    lab = ctl
    apply(lab, policy(lab, top="""
acl:
  default: allow
  rules:
    - { action: deny, proto: icmp, from_vlan: 30, to: 198.51.100.0/24 }
"""), "acl-uplink.yaml")
    assert lab.ping("vm5", INET_IP), "vm5 -> 203.0.113.2 through the NAT (not denied)"
    before = lab.stats()
    r = lab.run("vm5", ["ping", "-c", "2", "-i", "0.2", "-W", "1", FAR_IP])
    after = lab.stats()
    assert r.returncode == 1, f"vm5 pinged {FAR_IP} through the uplink despite the deny rule:\n{r.stdout}"
    assert delta(lab, before, after, "vm5", "acl_deny") == 2, moved_drops(lab, before, after, "vm5")
    with lab.served("inet", "tcp", "0.0.0.0", 7120):
        r = lab.nc("vm5", FAR_IP, 7120, "acl-nat-tcp")
    assert r.returncode == 0 and "peer=" in r.stdout, f"TCP vm5 -> {FAR_IP}:7120: {r.returncode} {r.stdout!r}"


def test_apply_diff_names_the_controls(ctl):
    """`apply --dry-run` prints the diff against the running policy (docs/cli.md): adding a
    control shows up in it, named."""
    lab = ctl
    variants = {
        "police": policy(lab, {"vm1": "    police:\n      ingress: { rate: 50mbit, burst: 256kb }"}),
        "dscp": policy(lab, {"vm1": "    dscp: 46"}),
        "security": policy(lab, {"vm1": f"    security:\n      macs: [\"{VM_MAC['vm1']}\"]"}),
        "limit": policy(lab, top="limits:\n  - { match: { src: 10.0.10.0/24 }, rate: 20mbit }"),
        "acl": policy(lab, top="acl:\n  default: deny"),
    }
    problems = []
    for word, text in variants.items():
        path = lab.write_policy(text, f"diff-{word}.yaml")
        j = lab.xj("apply", "-c", path, "--dry-run")
        assert j.get("applied") is False, j
        if not j["changes"] or word not in json.dumps(j["changes"]).lower():
            problems.append(f"adding {word}: changes {j['changes']}")
    assert not problems, "apply --dry-run does not show the controls it would change:\n  " + "\n  ".join(problems)


# ---- 6: port security ----

SPOOF_MAC = "52:54:00:00:00:77"


def test_port_security(ctl, marker):
    """vm1 may use its own MAC and addresses only: spoofed MACs, addresses, ARP and ND claims, a
    DHCP server and a router advertisement from it get nowhere and are counted by reason; the
    spoofed MAC is not learned; neighbours are not poisoned."""
    lab = ctl
    apply(lab, policy(lab, {"vm1": f"""    security:
      macs: ["{VM_MAC['vm1']}"]
      ips: ["{VM1}", "{VM1_LL}"]"""}), "security.yaml")
    assert lab.ping("vm1", VM2), "vm1 (secured, its own MAC and address) -> vm2"
    # vm4 and vm2 know each other; a later claim would override these entries (checked by hand:
    # without port security the ARP reply below does rewrite vm4's entry).
    assert lab.ping("vm4", VM2) and lab.ping("vm2", VM4)
    time.sleep(1.2)  # past neigh locktime (1 s): an ARP that arrived now would be taken

    e1 = Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm2"])
    good = e1 / IP(src=VM1, dst=VM2) / UDP(sport=40001, dport=9) / Raw(marker + b"-good")
    dhcp_client = Ether(src=VM_MAC["vm1"], dst=BROADCAST) / IP(src="0.0.0.0", dst="255.255.255.255") / \
        UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=bytes.fromhex("525400000001")) / \
        DHCP(options=[("message-type", "discover"), "end"])
    bad = {
        "spoof_mac": [Ether(src=SPOOF_MAC, dst=VM_MAC["vm2"]) / IP(src=VM1, dst=VM2) / UDP(sport=40002, dport=9) /
                      Raw(marker + b"-mac")],
        "spoof_ip": [e1 / IP(src="10.0.10.77", dst=VM2) / UDP(sport=40003, dport=9) / Raw(marker + b"-ip4"),
                     e1 / IPv6(src="fd00:10::77", dst="fe80::5054:ff:fe00:2") / UDP(sport=40004, dport=9) /
                     Raw(marker + b"-ip6")],
        "spoof_arp": [
            # A reply to vm4 claiming vm2's address.
            Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm4"]) /
            ARP(op=2, hwsrc=VM_MAC["vm1"], psrc=VM2, hwdst=VM_MAC["vm4"], pdst=VM4),
            # Gratuitous ARP for vm2's address, to everyone.
            Ether(src=VM_MAC["vm1"], dst=BROADCAST) /
            ARP(op=2, hwsrc=VM_MAC["vm1"], psrc=VM2, hwdst=BROADCAST, pdst=VM2),
            # Its own address, but another MAC in the ARP sender field.
            Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm4"]) /
            ARP(op=2, hwsrc=SPOOF_MAC, psrc=VM1, hwdst=VM_MAC["vm4"], pdst=VM4)],
        "spoof_nd": [
            # A neighbour advertisement for an address vm1 does not hold...
            Ether(src=VM_MAC["vm1"], dst="33:33:00:00:00:01") /
            IPv6(src=VM1_LL, dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt="fd00:10::2", R=0, S=0, O=1) /
            ICMPv6NDOptDstLLAddr(lladdr=VM_MAC["vm1"]),
            # ...and one for its own address with another MAC.
            Ether(src=VM_MAC["vm1"], dst="33:33:00:00:00:01") /
            IPv6(src=VM1_LL, dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt=VM1_LL, R=0, S=0, O=1) /
            ICMPv6NDOptDstLLAddr(lladdr=VM_MAC["vm2"])],
        "dhcp_server": [Ether(src=VM_MAC["vm1"], dst=BROADCAST) / IP(src=VM1, dst="255.255.255.255") /
                        UDP(sport=67, dport=68) /
                        BOOTP(op=2, yiaddr="10.0.10.50", siaddr=VM1, chaddr=bytes.fromhex("525400000004")) /
                        DHCP(options=[("message-type", "offer"), ("server_id", VM1), "end"])],
        "ra_guard": [Ether(src=VM_MAC["vm1"], dst="33:33:00:00:00:01") /
                     IPv6(src=VM1_LL, dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=1800) /
                     ICMPv6NDOptSrcLLAddr(lladdr=VM_MAC["vm1"])],
    }
    frames = [f for fs in bad.values() for f in fs]
    before = lab.stats()
    with lab.capture(["vm2", "vm4", "lan"]) as caps:
        lab.send("vm1", frames + [good, dhcp_client])
    after = lab.stats()

    # The legitimate frames arrive (the capture works, the port is not simply shut).
    assert caps["vm2"].with_marker(marker + b"-good"), f"vm1's legitimate UDP did not arrive: {caps['vm2'].summary()}"
    for m in ("vm2", "vm4"):
        assert [p for p in caps[m].packets if BOOTP in p and p[BOOTP].op == 1], \
            f"vm1's DHCP discover (from 0.0.0.0, allowed) did not reach {m}: {caps[m].summary()}"

    # None of the bad ones arrives anywhere.
    for m, cap in caps.items():
        leaked = [p.summary() for p in cap.packets if
                  any(x in bytes(p) for x in (marker + b"-mac", marker + b"-ip4", marker + b"-ip6")) or
                  (ARP in p and (p[ARP].psrc == VM2 and p[ARP].hwsrc == VM_MAC["vm1"] or p[ARP].hwsrc == SPOOF_MAC)) or
                  IPv6 in p or (BOOTP in p and p[BOOTP].op == 2) or p[Ether].src == SPOOF_MAC]
        assert not leaked, f"spoofed frames from vm1 reached {m}: {leaked}"

    moved = moved_drops(lab, before, after, "vm1")
    want = {reason: len(fs) for reason, fs in bad.items()}
    assert moved == want, f"drops on {lab.port('vm1')}: {moved}, expected {want}"

    # Nothing was learned or poisoned.
    assert lab.fdb_find(SPOOF_MAC, 10) is None, f"the spoofed MAC {SPOOF_MAC} was learned: {lab.fdb()}"
    e = lab.fdb_find(VM_MAC["vm1"], 10)
    assert e and e["port"] == lab.port("vm1"), e
    neigh = lab.run("vm4", ["ip", "neigh", "show", VM2]).stdout
    assert VM_MAC["vm2"] in neigh and VM_MAC["vm1"] not in neigh, f"vm4's neighbour entry for {VM2}: {neigh!r}"
    assert lab.ping("vm4", VM2) and lab.ping("vm1", VM2) and lab.ping("vm1", VM4)


# ---- 7: per-address limits ----

def test_per_address_limit_separate_buckets(ctl, request):
    """limits 10.0.10.0/24 per src_ip at 20mbit: vm1 and vm4 each sending 60 Mbit/s of UDP to vm2
    at the same time each get 20mbit (one bucket per address, not one for the prefix)."""
    lab = ctl
    apply(lab, policy(lab, top="""
limits:
  - { match: { src: 10.0.10.0/24 }, per: src_ip, rate: 20mbit, burst: 64kb }
"""), "limits.yaml")
    assert lab.ping("vm1", VM2) and lab.ping("vm4", VM2)
    before = lab.stats()
    runs = [Iperf(lab, "vm2", "vm1", VM2, 5, port=5301, udp_rate="60M", length=UDP_LEN)]
    try:
        runs.append(Iperf(lab, "vm2", "vm4", VM2, 5, port=5302, udp_rate="60M", length=UDP_LEN))
    except BaseException:
        runs[0].kill()
        raise
    res = []
    try:
        for r in runs:
            res.append(r.wait())
    finally:
        for r in runs:
            r.kill()
    after = lab.stats()
    want = udp_payload_rate(20_000_000)
    lines = []
    for who, (cli, srv) in zip(("vm1", "vm4"), res):
        lines.append(f"{who}: offered {sent(cli)['bits_per_second'] / 1e6:.1f}, measured "
                     f"{received_bps(srv) / 1e6:.2f} Mbit/s, limit drops {delta(lab, before, after, who, 'limit')}")
    report(request, f"\n  per-address limit 20mbit (= {want / 1e6:.2f} Mbit/s payload): " + "; ".join(lines))
    for who, (cli, srv) in zip(("vm1", "vm4"), res):
        offered, got = sent(cli)["bits_per_second"], received_bps(srv)
        assert offered > 50e6, f"{who} offered only {offered / 1e6:.1f} Mbit/s"
        assert abs(got / want - 1) <= 0.10, \
            f"{who} got {got / 1e6:.2f} Mbit/s through the per-address limit, expected {want / 1e6:.2f} +-10%"
        assert delta(lab, before, after, who, "limit") > 0, moved_drops(lab, before, after, who)
    assert delta(lab, before, after, "vm1", "limit_full") == 0


# ---- 8: a bad policy ----

def test_bad_policy_rejected_controls_stay(ctl, request):
    """`rate: 100mb` (a size, not a rate) is refused with file:line and a reason; the running policy
    with its controls (policer, DSCP, ACL) keeps working."""
    lab = ctl
    good = policy(lab, {"vm1": "    dscp: 46\n    police:\n      ingress: { rate: 50mbit, burst: 256kb }"}, top="""
acl:
  default: allow
  rules:
    - { action: deny, proto: udp, dst_port: 9999, from_vlan: 10, to_vlan: 10 }
""")
    apply(lab, good, "controls-good.yaml")
    gen = lab.status()["active_gen"]
    bad = lab.write_policy(good.replace("rate: 50mbit", "rate: 100mb"), "controls-bad.yaml")
    line = next(i + 1 for i, l in enumerate(bad.read_text().splitlines()) if "rate: 100mb" in l)
    for args in (("apply", "-c", bad), ("check", "-c", bad)):
        r = lab.xdpnet(*args, instance=False)
        out = r.stdout + r.stderr
        assert r.returncode == 2, f"xdpnet {args[0]} with rate: 100mb: exit {r.returncode}, expected 2\n{out}"
        assert re.search(rf"{re.escape(bad.name)}:{line}:\d+: .*rate.*100mb.*unit", out), \
            f"xdpnet {args[0]} does not point at {bad.name}:{line} with the reason:\n{out}"
    assert lab.status()["active_gen"] == gen, "a rejected policy switched the generation"

    # The controls still apply: DSCP...
    assert lab.ping("vm1", VM2)
    with lab.capture(["vm2"], bpf="icmp") as caps:
        r = lab.run("vm1", ["ping", "-c", "2", "-i", "0.2", "-W", "1", VM2])
    assert r.returncode == 0
    reqs = [p for p in caps["vm2"].packets if ICMP in p and p[ICMP].type == 8]
    assert reqs and all(p[IP].tos == 0xb8 for p in reqs), f"DSCP marking lost: {[hex(p[IP].tos) for p in reqs]}"
    # ...the ACL...
    with lab.served("vm2", "udp", VM2, 9999) as srv:
        before = lab.stats()
        r = lab.nc("vm1", VM2, 9999, "after-bad", udp=True, timeout=1)
        after = lab.stats()
    assert "peer=" not in r.stdout and not srv.conns(), "the ACL's deny rule was lost"
    assert delta(lab, before, after, "vm1", "acl_deny") == 1
    # ...and the policer.
    before = lab.stats()
    cli, srv = iperf(lab, "vm2", "vm1", VM2, 2, udp_rate=UDP_OFFERED, length=UDP_LEN)
    after = lab.stats()
    got, want = received_bps(srv), udp_payload_rate(POLICE_RATE)
    report(request, f"\n  after the rejected apply: offered {sent(cli)['bits_per_second'] / 1e6:.1f}, measured "
                    f"{got / 1e6:.2f} Mbit/s (policed to {want / 1e6:.2f})")
    assert delta(lab, before, after, "vm1", "police_ingress") > 0
    # 2 s: the 256 KB burst adds 2%; allow 10%.
    assert abs(got / want - 1) <= 0.10, f"policer lost: {got / 1e6:.2f} Mbit/s, expected {want / 1e6:.2f}"
