"""The FDB and the counters as the CLI shows them, and `xdpnet fdb add/del/flush`."""
from conftest import BROADCAST, STATIC_MAC, VM_IP, VM_MAC, abi_names, mkframe, wait_for

FAKE = "52:54:00:00:aa:01"  # a MAC no lab member uses


def _entry(lab, mac, vlan, **filters):
    args = []
    for k, v in filters.items():
        args += [f"--{k}", str(v)]
    return lab.fdb_find(mac, vlan, lab.fdb(*args))


def test_learning_visible_in_fdb(lab):
    assert lab.ping("vm1", VM_IP["vm2"])
    e = lab.fdb_find(VM_MAC["vm1"], 10)
    assert e, f"vm1's MAC not in the FDB: {lab.fdb()}"
    assert e["port"] == lab.port("vm1") and e["static"] is False, e
    assert e["ifindex"] == lab.ifindex(lab.port("vm1")), e
    assert 0 <= e["age_s"] < 30, e
    e2 = lab.fdb_find(VM_MAC["vm2"], 10)
    assert e2 and e2["port"] == lab.port("vm2"), e2
    # Learned per VLAN: vm1's MAC is not in VLAN 20.
    assert lab.fdb_find(VM_MAC["vm1"], 20) is None
    # Filters.
    only = lab.fdb("--vlan", "10", "--port", lab.port("vm1"))
    assert only and all(x["vlan"] == 10 and x["port"] == lab.port("vm1") for x in only), only
    assert lab.fdb_find(VM_MAC["vm1"], 10, only)
    assert lab.fdb_find(VM_MAC["vm2"], 10, only) is None


def test_static_entry_from_policy(lab, marker):
    e = lab.fdb_find(STATIC_MAC, 10)
    assert e, f"the policy's static entry {STATIC_MAC} VLAN 10 is missing: {lab.fdb()}"
    assert e["static"] is True and e["port"] == lab.port("vm2"), e
    # It steers traffic: a frame to it goes to vm2 only, not flooded.
    with lab.capture(["vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("vm1", mkframe(VM_MAC["vm1"], STATIC_MAC, marker))
    assert len(caps["vm2"].with_marker(marker)) == 1, caps["vm2"].summary()
    for m in ("vm3", "vm4", "lan"):
        assert not caps[m].with_marker(marker), f"frame to the static MAC was flooded to {m}"


def test_static_entry_never_moves(lab, marker):
    """A frame from the static MAC on another port is counted, the entry stays on vm2."""
    before = lab.stats()
    lab.send("vm4", mkframe(STATIC_MAC, BROADCAST, marker))
    after = lab.stats()
    e = lab.fdb_find(STATIC_MAC, 10)
    assert e and e["port"] == lab.port("vm2") and e["static"] is True, e
    assert lab.counter(after, "vm4", "static_conflict") - lab.counter(before, "vm4", "static_conflict") == 1


def test_fdb_add_del(lab, marker):
    r = lab.xdpnet("fdb", "add", "--mac", FAKE, "--vlan", "10", "--port", lab.port("vm4"))
    assert r.returncode == 0, r.stderr
    e = lab.fdb_find(FAKE, 10)
    assert e and e["static"] is True and e["port"] == lab.port("vm4"), e
    with lab.capture(["vm2", "vm4", "lan"]) as caps:
        lab.send("vm1", mkframe(VM_MAC["vm1"], FAKE, marker))
    assert len(caps["vm4"].with_marker(marker)) == 1, "frame to the added static MAC did not reach vm4"
    assert not caps["vm2"].with_marker(marker) and not caps["lan"].with_marker(marker), "it was flooded"

    r = lab.xdpnet("fdb", "del", "--mac", FAKE, "--vlan", "10")
    assert r.returncode == 0, r.stderr
    assert lab.fdb_find(FAKE, 10) is None
    # Unknown again: flooded to the whole VLAN.
    marker2 = marker + b"-2"
    with lab.capture(["vm2", "vm4", "lan"]) as caps:
        lab.send("vm1", mkframe(VM_MAC["vm1"], FAKE, marker2))
    for m in ("vm2", "vm4", "lan"):
        assert len(caps[m].with_marker(marker2)) == 1, f"unknown unicast not flooded to {m}"


def test_fdb_add_rejects_bad_input(lab):
    for args in (["--mac", "52:54:00:zz:00:01", "--vlan", "10", "--port", lab.port("vm4")],
                 ["--mac", FAKE, "--vlan", "4095", "--port", lab.port("vm4")],
                 ["--mac", FAKE, "--vlan", "10", "--port", "nosuchport0"]):
        r = lab.xdpnet("fdb", "add", *args)
        assert r.returncode == 2, f"fdb add {' '.join(args)}: exit {r.returncode}, expected 2\n{r.stderr}"
    assert lab.fdb_find(FAKE, 10) is None


def test_fdb_flush(lab):
    # Populate: vm1, vm2 (VLAN 10), vm3 (VLAN 20).
    assert lab.ping("vm1", VM_IP["vm2"])
    lab.arping("vm3", "10.0.20.99", count=1)
    assert wait_for(lambda: lab.fdb_find(VM_MAC["vm3"], 20)), f"vm3 not learned: {lab.fdb()}"

    assert lab.xdpnet("fdb", "flush", "--vlan", "20").returncode == 0
    fdb = lab.fdb()
    assert lab.fdb_find(VM_MAC["vm3"], 20, fdb) is None, "flush --vlan 20 left vm3"
    assert lab.fdb_find(VM_MAC["vm1"], 10, fdb), "flush --vlan 20 removed a VLAN 10 entry"

    assert lab.xdpnet("fdb", "flush", "--port", lab.port("vm1")).returncode == 0
    fdb = lab.fdb()
    assert lab.fdb_find(VM_MAC["vm1"], 10, fdb) is None, "flush --port left vm1"
    assert lab.fdb_find(VM_MAC["vm2"], 10, fdb), "flush --port vm1 removed vm2"

    assert lab.xdpnet("fdb", "flush").returncode == 0
    fdb = lab.fdb()
    assert all(e["static"] for e in fdb), f"dynamic entries left after flush: {fdb}"
    assert lab.fdb_find(STATIC_MAC, 10, fdb), "flush without --static removed the static entry"
    # The switch relearns.
    assert lab.ping("vm1", VM_IP["vm2"])
    assert lab.fdb_find(VM_MAC["vm1"], 10)


def test_fdb_flush_static(lab):
    assert lab.xdpnet("fdb", "flush", "--static").returncode == 0
    assert lab.fdb_find(STATIC_MAC, 10) is None, "flush --static left the static entry"
    # Re-applying the policy puts its static entry back.
    r = lab.xdpnet("apply", "-c", lab.policy, instance=False)
    assert r.returncode == 0, r.stderr
    e = lab.fdb_find(STATIC_MAC, 10)
    assert e and e["static"] is True and e["port"] == lab.port("vm2"), \
        f"apply did not restore the policy's static entry: {lab.fdb()}"


def test_mac_limit(lab):
    """vm1 has mac_limit 16: 24 new source MACs learn 16 in all, the rest count learn_limited."""
    assert lab.xdpnet("fdb", "flush", "--port", lab.port("vm1")).returncode == 0
    before = lab.stats()
    macs = [f"52:54:00:01:00:{i:02x}" for i in range(24)]
    lab.send("vm1", [mkframe(m, VM_MAC["vm2"], b"mac-limit") for m in macs])
    after = lab.stats()
    on_vm1 = lab.fdb("--port", lab.port("vm1"))
    assert len(on_vm1) == 16, f"{len(on_vm1)} MACs learned on {lab.port('vm1')} with mac_limit 16"
    d = lab.counter(after, "vm1", "learn_limited") - lab.counter(before, "vm1", "learn_limited")
    assert d == 8, f"learn_limited moved by {d}, expected 8"
    st = [p for p in lab.status()["ports"] if p["name"] == lab.port("vm1")][0]
    assert st["mac_limit"] == 16 and st["learned"] == 16, st
    # Frames beyond the limit are still forwarded; the VM itself recovers after a flush.
    assert lab.xdpnet("fdb", "flush", "--port", lab.port("vm1")).returncode == 0
    assert lab.ping("vm1", VM_IP["vm2"])
    assert lab.fdb_find(VM_MAC["vm1"], 10)


def test_stats_counters(lab):
    counters, drops = abi_names()
    before = lab.stats()
    assert lab.ping("vm1", VM_IP["vm2"], count=3)
    after = lab.stats()
    for port in (lab.port(m) for m in ("vm1", "vm2", "vm3", "vm4", "up0")):
        assert port in after, f"stats --json has no port {port}: {sorted(after)}"
        p = after[port]
        missing = [c for c in counters if c not in p["counters"]] + [d for d in drops if d not in p["drops"]]
        assert not missing, f"stats --json for {port} lacks {missing}"
    d = lambda m, c: lab.counter(after, m, c) - lab.counter(before, m, c)  # noqa: E731
    assert d("vm1", "rx_packets") >= 3 and d("vm1", "rx_bytes") >= 3 * 98
    assert d("vm2", "rx_packets") >= 3
    assert d("vm2", "tx_unicast") >= 3 and d("vm1", "tx_unicast") >= 3
    # Plain text too.
    r = lab.xdpnet("stats")
    assert r.returncode == 0 and lab.port("vm1") in r.stdout, r.stdout
    j = lab.xj("stats", "--port", lab.port("vm2"))
    assert [p["name"] for p in j["ports"]] == [lab.port("vm2")], j
    assert "drops_total" in lab.xj("stats")
