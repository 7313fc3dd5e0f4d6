"""Per-flow visibility (issue 5): the datapath's flow table read live (`xdpnet flows`), and the
daemon's flow records as real collectors decode them: nfdump's nfcapd and tshark for IPFIX, JSON
lines for files. The daemon is SIGKILLed under traffic and restarted: forwarding does not stop and
every packet is reported exactly once."""

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import INET_IP, NAT_GW, NAT_PORT_RANGE, VM_IP, WAN_IP, _run
from test_12_daemon import parse_metrics, value, get

IDLE_S = 2
ACTIVE_S = 4
TELEMETRY = f"""
telemetry:
  flows: {{ idle_timeout: {IDLE_S}s, active_timeout: {ACTIVE_S}s }}
  prometheus: off
"""

# Sends `count` UDP datagrams of `size` payload bytes from sport to dst:dport, `gap` s apart.
UDP_SEND_PY = r"""
import socket, sys, time
dst, dport, sport, count, size, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
for i in range(count):
    s.sendto(b"x" * size, (dst, dport))
    if gap:
        time.sleep(gap)
"""

# Counts UDP datagrams arriving on a port until told to stop (SIGTERM); prints the count.
UDP_SINK_PY = r"""
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
n = 0
signal.signal(signal.SIGTERM, lambda *a: (print(n, flush=True), sys.exit(0)))
while True:
    s.recv(65536)
    n += 1
"""

PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def flows_lab(lab):
    """The lab policy with short flow timeouts; the original comes back at the end."""
    text = lab.policy.read_text().rstrip("\n") + "\n" + TELEMETRY
    path = lab.write_policy(text, "flows.yaml")
    r = lab.xdpnet("apply", "-c", path, instance=False)
    assert r.returncode == 0, f"apply {path} failed:\n{r.stdout}\n{r.stderr}"
    try:
        yield lab
    finally:
        r = lab.xdpnet("apply", "-c", lab.policy, instance=False)
        assert r.returncode == 0, f"could not restore the lab policy:\n{r.stderr}"


def udp_send(lab, ns, dst, dport, sport, count, size, gap=0.0):
    r = lab.run(ns, [PY, "-c", UDP_SEND_PY, dst, dport, sport, count, size, gap], timeout=120)
    assert r.returncode == 0, r.stderr


class UdpSink:
    def __init__(self, lab, ns, port):
        self.proc = subprocess.Popen(lab.ns_cmd(ns) + [PY, "-c", UDP_SINK_PY, str(port)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=5)
        return int(out.strip().splitlines()[-1])


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_flows(lab, **match) -> list[dict]:
    j = lab.xj("flows")
    return [f for f in j["flows"] if all(f.get(k) == v for k, v in match.items())]


class FlowDaemon:
    """`xdpnet daemon` exporting flows (extra args), with metrics on a free port."""

    def __init__(self, lab, *args):
        cmd = [lab.xdpnet_bin, "-i", lab.instance, "daemon", "--prometheus", "127.0.0.1:0",
               "--interval", "0.3", *map(str, args)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "metrics on http://" in line, f"daemon did not start: {line!r} {self.proc.stderr.read()}"
        self.url = line.split("metrics on ")[1].strip()

    def metrics(self) -> dict:
        status, _, body = get(self.url)
        assert status == 200, body
        return parse_metrics(body)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def jsonl_records(path: Path, sport: int) -> list[dict]:
    if not path.exists():
        return []
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in recs if r["sport"] == sport and r["proto"] == 17]


def test_flows_shows_a_live_flow_exactly(flows_lab):
    lab = flows_lab
    udp_send(lab, "vm1", VM_IP["vm2"], 9, 41001, 50, 100)
    fl = find_flows(lab, src=VM_IP["vm1"], dst=VM_IP["vm2"], sport=41001, dport=9)
    assert len(fl) == 1, f"one flow for vm1:41001 -> vm2:9: {fl}"
    f = fl[0]
    assert (f["packets"], f["bytes"]) == (50, 50 * 128), f  # IP bytes: 20 + 8 + 100
    assert (f["in_port"], f["out_port"], f["vlan"], f["proto_name"]) == \
        (lab.port("vm1"), lab.port("vm2"), 10, "udp"), f
    assert f["outcome"] == "fwd" and f["drops"] == 0, f
    # Filters and --top.
    assert find_flows(lab, sport=41001)
    j = lab.xj("flows", "--proto", "udp", "--host", VM_IP["vm1"], "--top", "1", "--by", "packets")
    assert len(j["flows"]) == 1 and VM_IP["vm1"] in (j["flows"][0]["src"], j["flows"][0]["dst"]), j
    r = lab.xdpnet("flows", "--proto", "sctpx")
    assert r.returncode == 2 and "--proto" in r.stderr, r.stderr
    # The human table names both ends and the ports.
    out = lab.xdpnet("flows", "--port", lab.port("vm1"), check=True).stdout
    assert f"{VM_IP['vm1']}:41001 -> {VM_IP['vm2']}:9" in out, out


def test_flows_follow_reports_rates(flows_lab):
    lab = flows_lab
    sender = subprocess.Popen(lab.ns_cmd("vm1") + [PY, "-c", UDP_SEND_PY, VM_IP["vm2"], "9", "41002",
                                                   "60", "64", "0.05"])
    try:
        r = lab.xdpnet("flows", "--follow", "--interval", "1", "--count", "2", "--json", "--proto", "udp",
                       check=True, timeout=30)
    finally:
        sender.wait(timeout=30)
    rounds = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(rounds) == 2, r.stdout
    rates = [f["pps"] for rd in rounds for f in rd["flows"] if f["sport"] == 41002]
    assert rates and all(3 <= p <= 25 for p in rates), f"~20 datagrams/s expected (timer-bound): {rates}"


def test_drop_reason_recorded_on_the_flow(flows_lab):
    """A TCP segment without SYN from a masqueraded VM (no connection): dropped as nat_not_syn,
    and its flow says so."""
    lab = flows_lab
    assert lab.ping("vm5", NAT_GW)
    neigh = json.loads(lab.run("vm5", ["ip", "-j", "neigh", "show", NAT_GW]).stdout)
    router = neigh[0]["lladdr"]
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    mac = lab.run("vm5", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    lab.send("vm5", Ether(src=mac, dst=router) / IP(src=VM_IP["vm5"], dst=INET_IP) /
             TCP(sport=41003, dport=80, flags="A"), count=3)
    fl = find_flows(lab, src=VM_IP["vm5"], sport=41003, dport=80)
    assert len(fl) == 1, fl
    assert fl[0]["outcome"] == "drop:nat_not_syn" and fl[0]["drops"] == 3 and fl[0]["packets"] == 3, fl[0]
    assert fl[0]["drop_reason"] > 0 and fl[0]["tcp_flags_text"] == "A", fl[0]


def test_nat_flow_shows_its_translation(flows_lab):
    lab = flows_lab
    with lab.served("inet", "udp", INET_IP, 7000):
        r = lab.nc("vm5", INET_IP, 7000, "flow", udp=True, sport=41004)
        assert r.returncode == 0, r.stderr
    out = find_flows(lab, src=VM_IP["vm5"], sport=41004, dport=7000)
    assert len(out) == 1 and "nat" in out[0], out
    mapping = lab.nat_find(proto="udp", original={"src": VM_IP["vm5"], "sport": 41004})
    nat = out[0]["nat"]
    assert nat["src"] == WAN_IP and nat["dst"] == INET_IP and nat["dport"] == 7000, nat
    assert len(mapping) == 1 and nat["sport"] == mapping[0]["reply"]["dport"], (nat, mapping)
    back = find_flows(lab, src=INET_IP, dst=WAN_IP, sport=7000)
    assert len(back) == 1 and back[0]["nat"]["dst"] == VM_IP["vm5"], back
    assert back[0]["in_port"] == lab.port("wan") and back[0]["vlan"] == 0, back[0]


def test_ipfix_read_by_nfcapd_and_tshark(flows_lab, tmp_path):
    lab = flows_lab
    port = free_port()
    nfdir = tmp_path / "nf"
    nfdir.mkdir()
    pcap = tmp_path / "ipfix.pcap"
    nfcapd = subprocess.Popen(["nfcapd", "-p", str(port), "-b", "127.0.0.1", "-w", str(nfdir), "-t", "60",
                               "-B", "8388608"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(pcap), "udp", "port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        # What earlier tests left in the flow table goes out first (to
        # nowhere), so the collector sees this test's flow, not a burst.
        drain = FlowDaemon(lab, "--jsonl", "/dev/null")
        time.sleep(1)
        assert drain.stop() == 0
        daemon = FlowDaemon(lab, "--ipfix", f"127.0.0.1:{port}")
        udp_send(lab, "vm1", VM_IP["vm2"], 9, 41005, 40, 200)
        time.sleep(IDLE_S + 1.5)  # idle: the record goes out
        m = daemon.metrics()
        assert value(m, "xdpnet_flow_records_exported_total", exporter="ipfix") >= 1
        assert value(m, "xdpnet_flow_records_lost_total", exporter="ipfix") == 0
        assert value(m, "xdpnet_flow_table_slots_used") >= 1
        assert value(m, "xdpnet_nat_ports", network="natnet") == NAT_PORT_RANGE[1] - NAT_PORT_RANGE[0] + 1
        assert value(m, "xdpnet_nat_ports_used", network="natnet") == \
            len({e["reply"]["dport"] for e in lab.nat_find(proto=None) if e.get("kind") in ("snat", "hairpin")})
        assert daemon.stop() == 0
        daemon = None
    finally:
        if daemon:
            daemon.stop()
        time.sleep(0.5)
        nfcapd.send_signal(signal.SIGINT)
        log = nfcapd.communicate(timeout=10)[0]
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
    # nfdump: the flow with its exact counts, ports (ifindex), VLAN.
    r = _run(["nfdump", "-R", str(nfdir), "-q", "-o", "fmt:%sa|%da|%sp|%dp|%pr|%pkt|%byt|%in|%out",
              f"src port 41005"], timeout=30)
    assert r.returncode == 0, f"nfdump failed: {r.stderr}\n{log}"
    rows = [line.split("|") for line in r.stdout.splitlines() if line.strip()]
    rows = [[c.strip() for c in row] for row in rows]
    assert len(rows) == 1, f"one record for the flow:\n{r.stdout}\nnfcapd:\n{log}"
    sa, da, sp, dp, pr, pkt, byt, inp, outp = rows[0]
    assert (sa, da, sp, dp, pr) == (VM_IP["vm1"], VM_IP["vm2"], "41005", "9", "UDP"), rows[0]
    assert (int(pkt), int(byt)) == (40, 40 * 228), rows[0]
    assert (int(inp), int(outp)) == (lab.ifindex(lab.port("vm1")), lab.ifindex(lab.port("vm2"))), rows[0]
    assert "Sequence Errors: 0" in log or "Sequence Errors" not in log, log
    # tshark decodes the same export stream from the wire.
    r = _run(["tshark", "-r", str(pcap), "-d", f"udp.port=={port},cflow", "-T", "fields",
              "-e", "cflow.srcport", "-e", "cflow.packets", "-e", "cflow.octets", "-e", "cflow.vlanid",
              "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"], timeout=60)
    assert r.returncode == 0, r.stderr
    found = []
    for line in r.stdout.splitlines():
        cols = [c.split(";") for c in line.split("|")]
        if len(cols) < 4:
            continue
        for sp_, pk_, oc_, vl_ in zip(*cols[:4]):
            if sp_ == "41005":
                found.append((int(pk_), int(oc_), int(vl_)))
    assert found == [(40, 40 * 228, 10)], f"tshark's view of the record: {found}\n{r.stdout[-3000:]}"


def test_daemon_sigkill_under_traffic_loses_and_repeats_nothing(flows_lab, tmp_path):
    lab = flows_lab
    out = tmp_path / "flows.jsonl"
    sink = UdpSink(lab, "vm2", 9100)
    daemon = FlowDaemon(lab, "--jsonl", out)
    sender = subprocess.Popen(lab.ns_cmd("vm1") + [PY, "-c", UDP_SEND_PY, VM_IP["vm2"], "9100", "41006",
                                                   "500", "64", "0.02"])
    try:
        time.sleep(ACTIVE_S + 1)  # an active-timeout record has gone out
        if not jsonl_records(out, 41006):
            daemon.stop()
            pytest.fail(f"no active record before the kill; file: {out.read_text() if out.exists() else None!r}"
                        f"\ndaemon: {daemon.proc.stderr.read()}")
        assert sender.poll() is None, "the traffic still runs when the daemon is killed"
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(0.5)
        daemon = FlowDaemon(lab, "--jsonl", out)  # the successor carries on
        assert sender.wait(timeout=60) == 0
        time.sleep(IDLE_S + 1.5)
    finally:
        if sender.poll() is None:
            sender.kill()
        received = sink.stop()
        daemon.stop()
    assert received == 500, f"forwarding went on while the daemon died: {received} of 500 arrived"
    recs = jsonl_records(out, 41006)
    assert sum(r["packets"] for r in recs) == 500, \
        f"every packet reported exactly once across the kill: {[(r['packets'], r['end_reason']) for r in recs]}"
    assert sum(r["bytes"] for r in recs) == 500 * 92
    reasons = [r["end_reason"] for r in recs]
    assert "active" in reasons and set(reasons) <= {"active", "idle", "forced"}, reasons
    assert all(r["in_port"] == lab.port("vm1") and r["out_port"] == lab.port("vm2") for r in recs)


def test_exporter_lock_and_bad_collector(flows_lab):
    lab = flows_lab
    d = FlowDaemon(lab)
    try:
        r = lab.xdpnet("daemon", "--prometheus", "off", timeout=10)
        assert r.returncode == 2 and "already serves" in r.stderr, r.stderr
    finally:
        d.stop()
    r = lab.xdpnet("daemon", "--ipfix", "collector.example:4739", timeout=10)
    assert r.returncode == 2 and "--ipfix" in r.stderr, r.stderr


def tshark_fields(path: Path, *fields) -> list[list[str]]:
    r = _run(["tshark", "-r", str(path), "-T", "fields", *sum((["-e", f] for f in fields), [])], timeout=60)
    assert r.returncode == 0, f"tshark cannot read {path}: {r.stderr}"
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def start_capture(lab, *args) -> tuple[subprocess.Popen, str]:
    """`xdpnet capture ARGS`, returned once it has armed the datapath (its
    "capturing ..." line on stderr), with that line: frames sent after this
    are captured. A fixed sleep lost frames when the machine was busy."""
    cap = subprocess.Popen([lab.xdpnet_bin, "-i", lab.instance, "capture", *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([cap.stderr], [], [], 10)
    line = cap.stderr.readline() if ready else ""
    if not line.startswith("capturing"):
        cap.kill()
        _, rest = cap.communicate(timeout=10)
        pytest.fail(f"xdpnet capture did not start within 10 s: {line}{rest}")
    return cap, line


def test_capture_writes_a_file_tshark_reads(flows_lab, tmp_path):
    lab = flows_lab
    out = tmp_path / "vm1.pcapng"
    assert lab.ping("vm1", VM_IP["vm2"], count=1)
    cap, _ = start_capture(lab, "--port", lab.port("vm1"), "-w", str(out), "--duration", "4")
    assert lab.run("vm1", ["ping", "-c", "5", "-i", "0.2", VM_IP["vm2"]]).returncode == 0
    _, err = cap.communicate(timeout=20)
    assert cap.returncode == 0, err
    rows = tshark_fields(out, "ip.src", "ip.dst", "icmp.type", "frame.comment")
    echo = [r for r in rows if r[:3] == [VM_IP["vm1"], VM_IP["vm2"], "8"]]
    assert len(echo) == 5, f"the 5 echo requests vm1 sent:\n{rows}\n{err}"
    assert all(r[3] == f"xdpnet: received on {lab.port('vm1')}" for r in echo), echo
    assert not [r for r in rows if r[0] == VM_IP["vm2"]], "only what vm1's port received"


def test_capture_drops_with_their_reason(flows_lab, tmp_path):
    lab = flows_lab
    out = tmp_path / "drops.pcapng"
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    cap, _ = start_capture(lab, "--drops", "-w", str(out), "--count", "3", "--duration", "10", "--json")
    mac = lab.run("vm1", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    lab.send("vm1", Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=10) / IP(dst=VM_IP["vm2"]) / UDP(dport=9),
             count=3)
    stdout, err = cap.communicate(timeout=20)
    assert cap.returncode == 0, err
    assert json.loads(stdout)["frames"] == 3, stdout
    rows = tshark_fields(out, "vlan.id", "frame.comment")
    assert len(rows) == 3 and all(r[0] == "10" for r in rows), rows
    assert all("dropped: tagged_on_access" in r[1] and lab.port("vm1") in r[1] for r in rows), rows
    # The capture disarms itself when it ends: a second one may start at once.
    r = lab.xdpnet("capture", "--drops", "-w", str(tmp_path / "again.pcapng"), "--duration", "0.5")
    assert r.returncode == 0, r.stderr
