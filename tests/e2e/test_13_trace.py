"""`xdpnet trace`: a frame run through the real programs on a private copy of the live state.

Each scenario of the lab is traced with --json, then the very same bytes (the trace's
frame_in) are sent for real with scapy, and what really happened must agree with the
trace: the frame arrives on the ports the trace named, nowhere else, byte for byte as
the trace's output frame for that port (VLAN tag pushed or popped, MACs, TTL, NAT
rewrites and checksums included), or the drop counter the trace named moves. Traces
themselves must leave the live stats, FDB, neighbour and NAT tables alone."""
import json
import random
import re
import subprocess
import time

import pytest

from conftest import (BROADCAST, ETH_P_TEST, FAR_IP, INET_IP, NAT_GW, NAT_PORT_RANGE, VM_IP, VM_MAC, WAN_IP,
                      mkframe, wait_for)

LAN_HOST10 = "52:54:00:00:0a:0a"  # emulated with scapy behind the trunk, in VLAN 10
UNKNOWN_MAC = "52:54:00:00:0a:99"  # nobody: frames to it flood
INET_MAC = "52:54:00:00:00:60"     # lab.sh: the internet namespace's eth0
WAN_MAC = "52:54:00:00:00:fd"      # lab.sh: the host's uplink Pwan
VM5 = VM_IP["vm5"]


def payload(marker: bytes, size: int = 46) -> str:
    """A packet-description payload carrying the marker (padded: captures find it, frames look real)."""
    return f"payload(hex={marker.ljust(size, b'.').hex()})"


def eth(src: str, dst: str, ethertype: int | None = None) -> str:
    return f"eth(src={src},dst={dst}" + (f",type={ethertype:#06x}" if ethertype else "") + ")"


def trace(lab, member: str, spec: str | None = None, pcap=None, packet: int | None = None) -> dict:
    """`xdpnet trace --json` of a frame arriving on a lab member's port."""
    args = ["trace", "--port", lab.port(member)]
    args += [spec] if spec else ["--pcap", str(pcap)]
    if packet:
        args += ["--packet", packet]
    r = lab.xdpnet(*args, "--json")
    assert r.returncode == 0, f"xdpnet {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    j = json.loads(r.stdout)
    for key in ("verdict", "meaning", "reason", "egress", "flooded", "to_host", "rewritten", "counters",
                "state_changes", "frame_in", "frame_out", "steps", "drops", "checksum_errors"):
        assert key in j, f"trace --json has no '{key}': {sorted(j)}"
    assert not j["checksum_errors"], f"the trace's output frame has bad checksums: {j['checksum_errors']}"
    return j


def egress(j: dict) -> dict[str, dict]:
    return {e["port"]: e for e in j["egress"]}


def fields(j: dict, key: str = "rewritten") -> dict[str, tuple[str, str]]:
    return {c["field"]: (c["before"], c["after"]) for c in j[key]}


def router_mac(lab, vlan: int) -> str:
    return {n["vlan"]: n for n in lab.status()["networks"]}[vlan]["router_mac"]


def send_and_capture(lab, sender: str, frame_hex: str, marker: bytes, members: list[str]) -> dict[str, list[bytes]]:
    """Sends the trace's input frame for real from `sender`; the frames carrying the marker
    that arrived at each member."""
    with lab.capture(members) as caps:
        lab.send(sender, bytes.fromhex(frame_hex))
    return {m: [raw(p) for p in caps[m].with_marker(marker)] for m in members}


def raw(p) -> bytes:
    """A captured frame's bytes as they were on the wire (not re-built by scapy)."""
    return bytes(p.original) if getattr(p, "original", None) else bytes(p)


def arrived_as_traced(lab, got: dict[str, list[bytes]], j: dict):
    """Every lab member got exactly the frames the trace's egress says, byte for byte."""
    want = {}
    for member in got:
        e = egress(j).get(lab.port(member))
        want[member] = [bytes.fromhex(e["frame"])] if e else []
    for member in got:
        assert got[member] == want[member], (
            f"{member}: received {[f.hex() for f in got[member]]}, the trace said "
            f"{[f.hex() for f in want[member]]}\ntrace steps: {json.dumps(j['steps'], indent=1)}")


def quiet_stats(lab, still: float = 7, timeout: float = 40) -> dict:
    """The stats once they stood still for `still` seconds. A VM that answered a ping from a
    neighbour entry it only learned from the request re-confirms it by a unicast ARP probe
    about 5 s later (the kernel's delay_first_probe_time): earlier traffic has to settle."""
    prev, since = lab.stats(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        cur = lab.stats()
        if cur != prev:
            prev, since = cur, time.monotonic()
        elif time.monotonic() - since >= still:
            return cur
    pytest.fail(f"the lab's counters never stood still for {still} s")


AGING_S = 300  # lab.yaml bridge.mac_aging


def tables(lab) -> dict[tuple, dict]:
    """FDB, neighbour and NAT entries by identity (ages and expiry kept for table_changes)."""
    out = {}
    for e in lab.fdb():
        out[("fdb", e["vlan"], e["mac"])] = e
    for e in lab.xj("neigh", "show"):
        out[("neigh", e["vlan"], e["address"])] = e
    for e in lab.nat_show():
        o = e["original"]
        out[("nat", e["proto"], o["src"], o["sport"], o["dst"], o["dport"])] = e
    return out


def table_changes(before: dict, after: dict, elapsed: float) -> list[str]:
    """What differs between two readings, ages aside; entries the aging pass may have
    removed meanwhile (a connection or MAC expiring within `elapsed`) are no change."""
    def same(a, b):
        drop = ("age_s", "expires_in_s")
        return {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}

    def expiring(key, e) -> bool:
        margin = elapsed + 2
        if key[0] == "nat":
            return e["expires_in_s"] <= margin
        return key[0] == "fdb" and not e["static"] and e["age_s"] >= AGING_S - margin

    out = [f"added {k}: {after[k]}" for k in after if k not in before]
    out += [f"changed {k}: {before[k]} -> {after[k]}" for k in after if k in before and not same(before[k], after[k])]
    out += [f"removed {k}: {before[k]}" for k in before if k not in after and not expiring(k, before[k])]
    return out


@pytest.fixture(scope="module")
def ready(lab):
    """What the scenarios need known: vm1, vm2, vm3 and vm5 in the FDB, vm1, vm3 and vm5 as
    the router's neighbours, the internet namespace as the host's neighbour on the uplink."""
    assert lab.ping("vm1", VM_IP["vm2"]), "vm1 -> vm2"
    assert lab.arping("vm1", "10.0.10.254"), "vm1 -> its gateway (ARP)"
    assert lab.arping("vm3", "10.0.20.254"), "vm3 -> its gateway (ARP)"
    assert lab.ping("vm5", NAT_GW), "vm5 -> its gateway"
    assert lab.ping(None, INET_IP), "host -> the internet namespace over the uplink"
    return lab


def test_a_trace_changes_no_live_state(lab, ready, marker):
    """Frames that would learn a MAC, a neighbour and two NAT connections are traced: the
    traces report those changes, and stats, FDB, neighbour and NAT tables stay as they were."""
    new_mac = "52:54:00:00:0b:01"
    specs = [
        ("vm4", eth(new_mac, BROADCAST, ETH_P_TEST) + "/" + payload(marker)),
        ("vm3", eth(VM_MAC["vm3"], BROADCAST) + "/arp(spa=10.0.20.77,tpa=10.0.20.254)"),
        ("vm5", eth(VM_MAC["vm5"], router_mac(lab, 30)) + f"/ipv4(src={VM5},dst={FAR_IP})/"
                "tcp(sport=21001,dport=7020,flags=S)/" + payload(marker)),
        ("inet", eth(INET_MAC, WAN_MAC) + f"/ipv4(src={INET_IP},dst={WAN_IP})/tcp(sport=45001,dport=8080,flags=S)"),
    ]
    before_stats = quiet_stats(lab)
    before, t0 = tables(lab), time.monotonic()
    results = [trace(lab, member, spec) for member, spec in specs]
    after = tables(lab)
    after_stats = lab.stats()
    changed = table_changes(before, after, time.monotonic() - t0)

    changes = [(c["table"], c["op"]) for j in results for c in j["state_changes"]]
    for want in (("fdb", "add"), ("neigh", "add"), ("nat", "add")):
        assert want in changes, f"the traces should report {want}: {changes}"
    assert sum(1 for c in changes if c == ("nat", "add")) == 2, changes
    assert not changed, "live tables changed during the traces:\n  " + "\n  ".join(changed)
    diff = {(p, kind, n): (before_stats[p][kind][n], after_stats[p][kind][n])
            for p in before_stats for kind in ("counters", "drops") for n in before_stats[p][kind]
            if before_stats[p][kind][n] != after_stats[p][kind][n]}
    assert not diff, f"live counters moved during the traces: {diff}"


def test_known_unicast_access_to_access(lab, ready, marker):
    spec = eth(VM_MAC["vm1"], VM_MAC["vm2"], ETH_P_TEST) + "/" + payload(marker)
    j = trace(lab, "vm1", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "known_unicast"), j["steps"]
    assert list(egress(j)) == [lab.port("vm2")], j["egress"]
    assert egress(j)[lab.port("vm2")]["tagged"] is False
    assert j["rewritten"] == [], j["rewritten"]
    assert j["counters"][lab.port("vm2")]["counters"] == {"tx_unicast": 1}, j["counters"]
    got = send_and_capture(lab, "vm1", j["frame_in"], marker, ["vm2", "vm3", "vm4", "lan"])
    arrived_as_traced(lab, got, j)
    assert got["vm2"] == [bytes.fromhex(j["frame_in"])], "known unicast arrives untouched"


def test_unknown_unicast_floods_to_the_vlan(lab, ready, marker):
    spec = eth(VM_MAC["vm1"], UNKNOWN_MAC, ETH_P_TEST) + "/" + payload(marker)
    j = trace(lab, "vm1", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "flood"), j["steps"]
    assert j["flooded"] and j["flooded"]["vlan"] == 10, j["flooded"]
    members = {p: e["tagged"] for p, e in egress(j).items()}
    assert members == {lab.port("vm2"): False, lab.port("vm4"): False, lab.port("up0"): True}, members
    got = send_and_capture(lab, "vm1", j["frame_in"], marker, ["vm2", "vm3", "vm4", "lan"])
    arrived_as_traced(lab, got, j)


@pytest.fixture
def lan_host_known(lab, ready, marker):
    """LAN_HOST10 learned behind the trunk in VLAN 10 (it sent a tagged frame)."""
    lab.send("lan", mkframe(LAN_HOST10, VM_MAC["vm1"], marker + b"-learn", vlan=10))
    e = wait_for(lambda: lab.fdb_find(LAN_HOST10, 10))
    assert e and e["port"] == lab.port("up0"), f"{LAN_HOST10} not learned on the trunk: {lab.fdb()}"


def test_access_to_trunk_pushes_the_tag(lab, lan_host_known, marker):
    j = trace(lab, "vm1", eth(VM_MAC["vm1"], LAN_HOST10, ETH_P_TEST) + "/" + payload(marker))
    assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "known_unicast"), j["steps"]
    e = egress(j)
    assert list(e) == [lab.port("up0")] and e[lab.port("up0")]["tagged"] and e[lab.port("up0")]["vlan"] == 10, e
    assert fields(j) == {"vlan": ("none", "10")}, j["rewritten"]
    assert j["rewritten"][0]["change"] == "pushed"
    got = send_and_capture(lab, "vm1", j["frame_in"], marker, ["vm2", "vm3", "vm4", "lan"])
    arrived_as_traced(lab, got, j)


def test_trunk_to_access_pops_the_tag(lab, lan_host_known, marker):
    spec = eth(LAN_HOST10, VM_MAC["vm1"], ETH_P_TEST) + "/vlan(10)/" + payload(marker)
    j = trace(lab, "lan", spec)
    assert (j["verdict"], j["reason"], j["vlan"]) == ("XDP_REDIRECT", "known_unicast", 10), j["steps"]
    assert list(egress(j)) == [lab.port("vm1")] and not egress(j)[lab.port("vm1")]["tagged"], j["egress"]
    assert fields(j) == {"vlan": ("10", "none")} and j["rewritten"][0]["change"] == "popped", j["rewritten"]
    got = send_and_capture(lab, "lan", j["frame_in"], marker, ["vm1", "vm2", "vm3", "vm4"])
    arrived_as_traced(lab, got, j)


def test_routed_from_vlan_10_to_vlan_20(lab, ready, marker):
    """vm1 -> vm3 through the gateways: TTL decremented, MACs rewritten; vm3 answers via its
    gateway (a route for vm1), so nothing else floods."""
    spec = (eth(VM_MAC["vm1"], router_mac(lab, 10)) + f"/ipv4(src={VM_IP['vm1']},dst={VM_IP['vm3']},ttl=64)/"
            "icmp(id=4242,seq=1)/" + payload(marker, 32))
    lab.run("vm3", ["ip", "route", "replace", f"{VM_IP['vm1']}/32", "via", "10.0.20.254"], check=True)
    try:
        j = trace(lab, "vm1", spec)
        assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "routed"), j["steps"]
        assert list(egress(j)) == [lab.port("vm3")], j["egress"]
        f = fields(j)
        assert f["eth.src"] == (VM_MAC["vm1"], router_mac(lab, 20)), f
        assert f["eth.dst"] == (router_mac(lab, 10), VM_MAC["vm3"]), f
        assert f["ipv4.ttl"] == ("64", "63"), f
        assert set(f) == {"eth.src", "eth.dst", "ipv4.ttl", "ipv4.checksum"}, f
        assert any("routed from VLAN 10 (network vms10) into VLAN 20 (network vms20)" in s for s in j["steps"]), \
            j["steps"]
        got = send_and_capture(lab, "vm1", j["frame_in"], marker, ["vm2", "vm3", "vm4", "lan"])
        arrived_as_traced(lab, got, j)
    finally:
        lab.run("vm3", ["ip", "route", "del", f"{VM_IP['vm1']}/32"])


def test_nat_out_from_vm5_masquerades(lab, ready, marker):
    """A SYN from vm5 to the far server: SNAT to the uplink's address, the source port kept
    (it is free and inside the port range), out of the uplink; the real SYN makes the
    connection the trace showed."""
    sport = random.randint(NAT_PORT_RANGE[0] + 2000, NAT_PORT_RANGE[1] - 100)
    spec = (eth(VM_MAC["vm5"], router_mac(lab, 30)) + f"/ipv4(src={VM5},dst={FAR_IP})/"
            f"tcp(sport={sport},dport=7021,flags=S)/" + payload(marker, 16))
    j = trace(lab, "vm5", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "nat_out"), j["steps"]
    assert list(egress(j)) == [lab.port("inet")] and egress(j)[lab.port("inet")]["vlan"] is None, j["egress"]
    f = fields(j)
    assert f["ipv4.src"] == (VM5, WAN_IP) and f["ipv4.ttl"] == ("64", "63"), f
    assert "tcp.sport" not in f, f"the free in-range source port {sport} should be kept: {f}"
    assert f["eth.dst"][1] == INET_MAC and f["eth.src"][1] == WAN_MAC, f
    nat = [c for c in j["state_changes"] if c["table"] == "nat"]
    assert len(nat) == 1 and nat[0]["op"] == "add" and nat[0]["kind"] == "snat", j["state_changes"]
    assert nat[0]["translated"] == {"src": WAN_IP, "sport": sport, "dst": FAR_IP, "dport": 7021}, nat[0]
    assert nat[0]["reply"] == {"src": FAR_IP, "sport": 7021, "dst": WAN_IP, "dport": sport}, nat[0]
    assert not lab.nat_find(original={"src": VM5, "sport": sport}), "the trace made a live connection"

    got = send_and_capture(lab, "vm5", j["frame_in"], marker, ["inet"])
    arrived_as_traced(lab, got, j)
    live = lab.nat_find(proto="tcp", original={"src": VM5, "sport": sport, "dst": FAR_IP, "dport": 7021})
    assert len(live) == 1 and live[0]["reply"] == nat[0]["reply"], \
        f"the real SYN's connection differs from the trace's: {live} vs {nat[0]}"


def test_port_forward_in_on_the_uplink(lab, ready, marker):
    """A SYN from the internet to the uplink's 8080: DNAT to vm5:80, routed into VLAN 30."""
    sport = random.randint(46000, 47000)
    spec = (eth(INET_MAC, WAN_MAC) + f"/ipv4(src={INET_IP},dst={WAN_IP})/"
            f"tcp(sport={sport},dport=8080,flags=S)/" + payload(marker, 16))
    j = trace(lab, "inet", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_REDIRECT", "nat_in"), j["steps"]
    assert list(egress(j)) == [lab.port("vm5")], j["egress"]
    f = fields(j)
    assert f["ipv4.dst"] == (WAN_IP, VM5) and f["tcp.dport"] == ("8080", "80"), f
    assert f["eth.dst"] == (WAN_MAC, VM_MAC["vm5"]) and f["eth.src"] == (INET_MAC, router_mac(lab, 30)), f
    nat = [c for c in j["state_changes"] if c["table"] == "nat"]
    assert len(nat) == 1 and nat[0]["kind"] == "dnat", j["state_changes"]
    assert nat[0]["translated"] == {"src": INET_IP, "sport": sport, "dst": VM5, "dport": 80}, nat[0]
    got = send_and_capture(lab, "inet", j["frame_in"], marker, ["vm5"])
    arrived_as_traced(lab, got, j)


def test_vlan_not_allowed_on_the_trunk_is_dropped(lab, ready, marker):
    spec = eth(LAN_HOST10, BROADCAST, ETH_P_TEST) + "/vlan(30)/" + payload(marker)
    before = lab.stats()
    j = trace(lab, "lan", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_DROP", "vlan_not_allowed"), j["steps"]
    assert j["reason_text"] == "tag not in the trunk's allowed VLANs"
    assert j["egress"] == [] and j["drops"] == [{"port": lab.port("up0"), "reason": "vlan_not_allowed",
                                                 "help": j["reason_text"]}], j["drops"]
    assert lab.counter(lab.stats(), "lan", "vlan_not_allowed") == lab.counter(before, "lan", "vlan_not_allowed")
    got = send_and_capture(lab, "lan", j["frame_in"], marker, ["vm1", "vm2", "vm3", "vm4"])
    arrived_as_traced(lab, got, j)
    d = wait_for(lambda: lab.counter(lab.stats(), "lan", "vlan_not_allowed") -
                 lab.counter(before, "lan", "vlan_not_allowed"))
    assert d == 1, f"the real frame moved vlan_not_allowed on {lab.port('up0')} by {d}"


def test_tagged_frame_on_an_access_port_is_dropped(lab, ready, marker):
    spec = eth(VM_MAC["vm1"], BROADCAST, ETH_P_TEST) + "/vlan(20)/" + payload(marker)
    j = trace(lab, "vm1", spec)
    assert (j["verdict"], j["reason"]) == ("XDP_DROP", "tagged_on_access"), j["steps"]
    before = lab.stats()
    got = send_and_capture(lab, "vm1", j["frame_in"], marker, ["vm2", "vm3", "vm4", "lan"])
    arrived_as_traced(lab, got, j)
    d = wait_for(lambda: lab.counter(lab.stats(), "vm1", "tagged_on_access") -
                 lab.counter(before, "vm1", "tagged_on_access"))
    assert d == 1, f"the real frame moved tagged_on_access by {d}"


def test_human_output(lab, ready, marker):
    spec = eth(VM_MAC["vm1"], VM_MAC["vm2"], ETH_P_TEST) + "/" + payload(marker)
    r = lab.xdpnet("trace", "--port", lab.port("vm1"), spec)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"trace of a 60-byte frame into {lab.port('vm1')} (instance {lab.instance})\n"), out
    assert re.search(r"^  1\. received on " + lab.port("vm1") + r" \(slot \d+, access VLAN 10\)$", out, re.M), out
    assert f"verdict: XDP_REDIRECT, sent out of {lab.port('vm2')} (known_unicast)" in out, out
    assert "rewritten: nothing" in out, out


def test_bad_description_exits_2_with_a_caret(lab, ready):
    spec = eth(VM_MAC["vm1"], VM_MAC["vm2"]) + "/vlan(5000)/ipv4(src=10.0.10.1,dst=10.0.10.2)"
    r = lab.xdpnet("trace", "--port", lab.port("vm1"), spec)
    assert r.returncode == 2, f"exit {r.returncode}:\n{r.stdout}\n{r.stderr}"
    col = spec.index("5000")
    lines = r.stderr.splitlines()
    assert f"(column {col})" in lines[0] and "out of range" in lines[0], r.stderr
    assert lines[1] == "  " + spec and lines[2] == "  " + " " * col + "^", r.stderr
    assert r.stdout == ""


def test_usage_errors_exit_2_and_a_missing_instance_3(lab, ready, tmp_path):
    spec = eth(VM_MAC["vm1"], VM_MAC["vm2"], ETH_P_TEST)
    r = lab.xdpnet("trace", "--port", "nosuchport", spec)
    assert r.returncode == 2 and "no port 'nosuchport'" in r.stderr, r.stderr
    r = lab.xdpnet("trace", "--port", lab.port("vm1"))
    assert r.returncode == 2 and "exactly one of them" in r.stderr, r.stderr
    r = lab.xdpnet("trace", "--port", lab.port("vm1"), "--pcap", tmp_path / "none.pcap")
    assert r.returncode == 2 and "No such file or directory" in r.stderr, r.stderr
    (tmp_path / "junk.pcap").write_bytes(b"\x00" * 40)
    r = lab.xdpnet("trace", "--port", lab.port("vm1"), "--pcap", tmp_path / "junk.pcap")
    assert r.returncode == 2 and "not a pcap file" in r.stderr, r.stderr
    r = subprocess.run([lab.xdpnet_bin, "-i", "nosuchinstance", "trace", "--port", "x", spec],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 3 and "is not running" in r.stderr, r.stderr


def test_a_tcpdump_capture_traces_like_its_description(lab, ready, marker, tmp_path):
    """Two frames vm1 really sends, captured by tcpdump inside vm1 (microsecond pcap, and a
    nanosecond copy of it): --pcap with --packet N traces exactly like the description of
    packet N."""
    specs = [eth(VM_MAC["vm1"], VM_MAC["vm2"], ETH_P_TEST) + "/" + payload(marker + b"-1"),
             eth(VM_MAC["vm1"], UNKNOWN_MAC, ETH_P_TEST) + "/" + payload(marker + b"-2")]
    frames = [bytes.fromhex(trace(lab, "vm1", s)["frame_in"]) for s in specs]
    with lab.capture(["vm1"], direction="out") as caps:
        lab.send("vm1", frames, interval=0.05)
    pcap = caps["vm1"].path
    assert [raw(p) for p in caps["vm1"].with_marker(marker)] == frames, caps["vm1"].summary()
    nano = tmp_path / "nano.pcap"
    lab.run(None, ["tcpdump", "--time-stamp-precision=nano", "-r", pcap, "-w", nano], check=True)
    assert nano.read_bytes()[:4] == bytes.fromhex("4d3cb2a1"), "tcpdump did not write a nanosecond pcap"

    def same(a: dict, b: dict) -> dict:
        keys = ("verdict", "reason", "egress", "rewritten", "frame_in", "frame_out", "counters", "state_changes")
        return {k: (a[k], b[k]) for k in keys if a[k] != b[k]}

    for n, spec in enumerate(specs, 1):
        # Both after the real frames: the FDB they see is the same.
        want = trace(lab, "vm1", spec)
        for path in (pcap, nano):
            got = trace(lab, "vm1", pcap=path, packet=n)
            assert not same(want, got), f"packet {n} of {path} traced differently: {same(want, got)}"
    r = lab.xdpnet("trace", "--port", lab.port("vm1"), "--pcap", pcap, "--packet", 9)
    assert r.returncode == 2 and "no packet 9" in r.stderr, r.stderr
