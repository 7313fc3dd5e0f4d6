"""Reachability, isolation, flooding and host traffic through the running switch."""

from scapy.layers.l2 import Dot1Q, Ether

from conftest import (BROADCAST, ETH_P_TEST, HOST_IP, LAN_IP, LAN_MAC, VM3_VLAN10_IP, VM_IP, VM_MAC, mkframe,
                      report, wait_for)


def test_same_vlan_reachability(lab):
    assert lab.ping("vm1", VM_IP["vm2"]), "vm1 -> vm2 (both access VLAN 10) does not answer"
    assert lab.ping("vm2", VM_IP["vm1"]), "vm2 -> vm1 does not answer"
    assert lab.ping("vm1", VM_IP["vm4"]), "vm1 -> vm4 (both access VLAN 10) does not answer"
    assert lab.ping("vm4", VM_IP["vm1"]), "vm4 -> vm1 does not answer"


def test_redirect_loss_is_detected(lab, marker):
    """The safety net works: with GRO off on vm2's eth0 a redirect into its veth fails, and the
    tracepoint watcher sees it (the lab turns GRO on precisely to avoid this)."""
    assert lab.ping("vm1", VM_IP["vm2"])
    lab.watch.clear()
    lab.run("vm2", ["ethtool", "-K", "eth0", "gro", "off"], check=True)
    try:
        lab.send("vm1", mkframe(VM_MAC["vm1"], VM_MAC["vm2"], marker))
        seen = wait_for(lab.watch.read, timeout=2)
    finally:
        lab.run("vm2", ["ethtool", "-K", "eth0", "gro", "on"], check=True)
    assert seen and any("err=" in line for line in seen), "a failed redirect into vm2 went unnoticed"
    lab.watch.clear()
    assert lab.ping("vm1", VM_IP["vm2"])


def test_cross_vlan_isolation(lab):
    """vm3 (VLAN 20) also holds 10.0.10.33/24: on-link for vm1, so only the VLAN stops it."""
    lab.run("vm1", ["ip", "neigh", "flush", "dev", "eth0"], check=True)
    with lab.capture(["vm3"], bpf="arp") as caps:
        assert lab.ping_fails("vm1", VM3_VLAN10_IP), "vm1 (VLAN 10) reached vm3's 10.0.10.33 (VLAN 20)"
        assert not lab.arping("vm1", VM3_VLAN10_IP, count=1), "vm3 answered vm1's ARP across VLANs"
    assert not caps["vm3"].packets, "ARP from VLAN 10 reached vm3: " + caps["vm3"].summary()
    assert lab.ping_fails("vm3", VM_IP["vm1"]), "vm3 (VLAN 20) reached vm1 (VLAN 10)"


def test_broadcast_floods_exactly_the_vlan(lab, marker):
    """One broadcast from vm1: one copy each on vm2, vm4 (untagged) and the LAN (tagged 10); none on vm3 or vm1."""
    f = mkframe(VM_MAC["vm1"], BROADCAST, marker)
    before = lab.stats()
    with lab.capture(["vm1", "vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("vm1", f)
    after = lab.stats()

    for m in ("vm2", "vm4"):
        got = caps[m].with_marker(marker)
        assert len(got) == 1, f"{m} got {len(got)} copies of vm1's broadcast: {caps[m].summary()}"
        assert bytes(got[0]) == bytes(f), f"{m}'s copy differs from what vm1 sent: {got[0].summary()}"
    lan = caps["lan"].with_marker(marker)
    assert len(lan) == 1, f"the LAN got {len(lan)} copies: {caps['lan'].summary()}"
    assert Dot1Q in lan[0], "the copy on the trunk is untagged"
    assert lan[0][Dot1Q].vlan == 10 and lan[0][Dot1Q].type == ETH_P_TEST, lan[0].summary()
    want = Ether(src=VM_MAC["vm1"], dst=BROADCAST, type=0x8100) / Dot1Q(vlan=10, type=ETH_P_TEST) / bytes(f.payload)
    assert bytes(lan[0]) == bytes(want), "the trunk copy is not the original frame with a VID 10 tag"
    assert not caps["vm3"].with_marker(marker), "VLAN 10 broadcast leaked into vm3 (VLAN 20)"
    assert not caps["vm1"].with_marker(marker), "the broadcast came back to its sender"

    d = lambda m, c: lab.counter(after, m, c) - lab.counter(before, m, c)  # noqa: E731
    assert d("vm1", "flooded") == 1
    for m in ("vm2", "vm4", "lan"):
        assert d(m, "tx_flood") == 1, f"tx_flood on {lab.port(m)} moved by {d(m, 'tx_flood')}"
    assert d("vm3", "tx_flood") == 0


def test_tagged_broadcast_from_lan_floods_vlan(lab, marker):
    """A VID 10 broadcast from the LAN reaches vm1, vm2, vm4 untagged, not vm3, not back to the LAN."""
    src = "52:54:00:00:0a:10"
    f = mkframe(src, BROADCAST, marker, vlan=10)
    with lab.capture(["vm1", "vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("lan", f)
    plain = mkframe(src, BROADCAST, marker)
    for m in ("vm1", "vm2", "vm4"):
        got = caps[m].with_marker(marker)
        assert len(got) == 1, f"{m} got {len(got)} copies: {caps[m].summary()}"
        assert bytes(got[0]) == bytes(plain), f"{m}'s copy is not the frame with its tag popped: {got[0].summary()}"
    assert not caps["vm3"].with_marker(marker), "VID 10 broadcast reached vm3 (VLAN 20)"
    assert not caps["lan"].with_marker(marker), "the broadcast came back out of the trunk"


def test_untagged_lan_broadcast_stays_on_native_vlan(lab, marker):
    """Untagged = native VLAN 1, where only the host lives: the host gets it, no VM does."""
    before = lab.stats()
    with lab.capture(["vm1", "vm2", "vm3", "vm4"]) as caps:
        lab.send("lan", mkframe(LAN_MAC, BROADCAST, marker))
    after = lab.stats()
    for m in ("vm1", "vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"a native-VLAN broadcast reached {m}"
    assert lab.counter(after, "lan", "to_host") > lab.counter(before, "lan", "to_host")


def test_host_reachable_over_uplink(lab):
    before = lab.stats()
    assert lab.ping("lan", HOST_IP), "LAN -> host 192.168.50.1 over the uplink fails with xdpnet attached"
    assert lab.ping(None, LAN_IP), "host -> LAN 192.168.50.2 over the uplink fails with xdpnet attached"
    after = lab.stats()
    # The replies and requests for the host went up through XDP_PASS.
    assert lab.counter(after, "lan", "to_host") - lab.counter(before, "lan", "to_host") >= 4
    st = lab.status()
    up = [p for p in st["ports"] if p["name"] == lab.port("up0")]
    assert up and up[0]["host"] is True, f"status does not show {lab.port('up0')} as the host port: {up}"


def test_iperf3_tcp_vm1_to_vm2(lab, request):
    assert lab.ping("vm1", VM_IP["vm2"])
    end = lab.iperf3("vm2", "vm1", VM_IP["vm2"], seconds=3)
    recv, sent = end["sum_received"], end["sum_sent"]
    mbps = recv["bits_per_second"] / 1e6
    report(request, f"\n[e2e] iperf3 TCP vm1 -> vm2 through xdpnet: {mbps:.0f} Mbit/s received "
                    f"({recv['bytes'] / 1e6:.0f} MB in {recv['seconds']:.1f} s, "
                    f"{sent.get('retransmits', 0)} retransmits)")
    assert recv["bytes"] > 0
    assert mbps > 10, f"iperf3 TCP through xdpnet only {mbps:.1f} Mbit/s"


def test_iperf3_tcp_lan_to_host(lab, request):
    """TCP from the LAN to the host's own address on the uplink (XDP_PASS) while xdpnet is attached."""
    recv = lab.iperf3(None, "lan", HOST_IP, seconds=2, port=15201)["sum_received"]
    mbps = recv["bits_per_second"] / 1e6
    report(request, f"\n[e2e] iperf3 TCP LAN -> host over the uplink: {mbps:.0f} Mbit/s received")
    assert recv["bytes"] > 0 and mbps > 10
