"""802.1Q on the wire: trunk tagging both ways, allowed VLANs, priority bits, VLAN hopping."""
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from conftest import BROADCAST, ETH_P_TEST, VM_IP, VM_MAC, mkframe, pad, wait_for

# Hosts emulated with scapy on the LAN side of the trunk.
LAN_HOST10 = "52:54:00:00:0a:0a"  # in VLAN 10
LAN_HOST20 = "52:54:00:00:14:14"  # in VLAN 20
LAN_HOST20_IP = "10.0.20.200"


def test_vm_to_lan_host_leaves_tagged(lab, marker):
    """vm1 -> a VLAN 10 host behind the trunk: one frame on the LAN, tagged VID 10, and no flood."""
    assert lab.ping("vm1", VM_IP["vm2"])  # vm1 is known to the FDB
    lab.send("lan", mkframe(LAN_HOST10, VM_MAC["vm1"], b"hello " + marker, vlan=10))
    e = wait_for(lambda: lab.fdb_find(LAN_HOST10, 10))
    assert e, f"{LAN_HOST10} (tagged 10 from the LAN) was not learned: {lab.fdb()}"
    assert e["port"] == lab.port("up0"), f"{LAN_HOST10} learned on {e['port']}, not the trunk"

    before = lab.stats()
    f = mkframe(VM_MAC["vm1"], LAN_HOST10, marker)
    with lab.capture(["vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("vm1", f)
    after = lab.stats()
    lan = caps["lan"].with_marker(marker)
    assert len(lan) == 1, f"the LAN got {len(lan)} copies: {caps['lan'].summary()}"
    assert Dot1Q in lan[0] and lan[0][Dot1Q].vlan == 10 and lan[0][Dot1Q].prio == 0, lan[0].summary()
    assert bytes(lan[0]) == bytes(mkframe(VM_MAC["vm1"], LAN_HOST10, marker, vlan=10))
    for m in ("vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"known unicast to the LAN was flooded to {m}"
    assert lab.counter(after, "lan", "tx_unicast") - lab.counter(before, "lan", "tx_unicast") == 1


def test_lan_tagged_frame_arrives_untagged(lab, marker):
    """VID 10 from the LAN to vm1: vm1 gets it once, untagged, and nobody else does."""
    assert lab.ping("vm1", VM_IP["vm2"])
    f = mkframe(LAN_HOST10, VM_MAC["vm1"], marker, vlan=10)
    with lab.capture(["vm1", "vm2", "vm3", "vm4"]) as caps:
        lab.send("lan", f)
    got = caps["vm1"].with_marker(marker)
    assert len(got) == 1, f"vm1 got {len(got)} copies: {caps['vm1'].summary()}"
    assert Dot1Q not in got[0], "the access port vm1 received a tagged frame"
    assert bytes(got[0]) == bytes(mkframe(LAN_HOST10, VM_MAC["vm1"], marker))
    for m in ("vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"unicast for vm1 also reached {m}"


def test_lan_vlan_not_allowed(lab, marker):
    """VID 30 is not in the trunk's list: delivered nowhere, counted as vlan_not_allowed on the trunk."""
    before = lab.stats()
    frames = [mkframe(LAN_HOST10, BROADCAST, marker, vlan=30), mkframe(LAN_HOST10, VM_MAC["vm1"], marker, vlan=30)]
    with lab.capture(["vm1", "vm2", "vm3", "vm4"]) as caps:
        lab.send("lan", frames)
    after = lab.stats()
    for m in ("vm1", "vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"a VID 30 frame reached {m}"
    d = lab.counter(after, "lan", "vlan_not_allowed") - lab.counter(before, "lan", "vlan_not_allowed")
    assert d == 2, f"vlan_not_allowed on {lab.port('up0')} moved by {d}, expected 2"


def test_lan_vlan_range_allowed(lab, marker):
    """VID 150 is in the trunk's 100-199 range: accepted (not vlan_not_allowed), no other member to flood to."""
    before = lab.stats()
    with lab.capture(["vm1", "vm2", "vm3", "vm4"]) as caps:
        lab.send("lan", mkframe(LAN_HOST10, BROADCAST, marker, vlan=150))
    after = lab.stats()
    for m in ("vm1", "vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"a VID 150 frame reached {m}"
    d = lambda c: lab.counter(after, "lan", c) - lab.counter(before, "lan", c)  # noqa: E731
    assert d("vlan_not_allowed") == 0, "VID 150 (inside 100-199) was refused as not allowed"
    assert d("no_flood_peers") == 1


def test_priority_tagged_frame_to_access_port(lab, marker):
    """PCP 5, VID 20 from the LAN to vm3: delivered untagged; vm3's reply goes back tagged VID 20."""
    lab.run("vm3", ["ip", "neigh", "replace", LAN_HOST20_IP, "lladdr", LAN_HOST20, "dev", "eth0"], check=True)
    req = (Ether(src=LAN_HOST20, dst=VM_MAC["vm3"], type=0x8100) / Dot1Q(prio=5, vlan=20) /
           IP(src=LAN_HOST20_IP, dst=VM_IP["vm3"]) / ICMP(id=0x4242, seq=1) / Raw(pad(marker, 32)))
    with lab.capture(["vm1", "vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("lan", req)
    got = caps["vm3"].with_marker(marker)
    assert len(got) == 1, f"vm3 got {len(got)} copies: {caps['vm3'].summary()}"
    assert Dot1Q not in got[0], "the access port vm3 received the frame still tagged"
    assert got[0][IP].dst == VM_IP["vm3"]
    for m in ("vm1", "vm2", "vm4"):
        assert not caps[m].with_marker(marker), f"a VLAN 20 frame reached {m}"
    # vm3 answers; the echo reply carries the marker back out of the trunk, tagged 20.
    replies = [p for p in caps["lan"].with_marker(marker) if ICMP in p and p[ICMP].type == 0]
    assert len(replies) == 1, f"no single echo reply from vm3 on the LAN: {caps['lan'].summary()}"
    assert Dot1Q in replies[0] and replies[0][Dot1Q].vlan == 20, replies[0].summary()
    lab.run("vm3", ["ip", "neigh", "del", LAN_HOST20_IP, "dev", "eth0"])


def test_vlan_hopping_from_access_port_dropped(lab, marker):
    """Double-tagged (10 then 20) and single-tagged frames from vm1 are dropped as tagged_on_access."""
    hop = (Ether(src=VM_MAC["vm1"], dst=BROADCAST, type=0x8100) / Dot1Q(vlan=10, type=0x8100) /
           Dot1Q(vlan=20) / IP(src=VM_IP["vm1"], dst=VM_IP["vm3"]) / ICMP() / Raw(pad(marker, 32)))
    hop_uni = (Ether(src=VM_MAC["vm1"], dst=VM_MAC["vm3"], type=0x8100) / Dot1Q(vlan=10, type=0x8100) /
               Dot1Q(vlan=20) / IP(src=VM_IP["vm1"], dst=VM_IP["vm3"]) / ICMP() / Raw(pad(marker, 32)))
    single = mkframe(VM_MAC["vm1"], BROADCAST, marker, vlan=20)
    before = lab.stats()
    with lab.capture(["vm2", "vm3", "vm4", "lan"]) as caps:
        lab.send("vm1", [hop, hop_uni, single])
    after = lab.stats()
    for m in ("vm2", "vm3", "vm4", "lan"):
        assert not caps[m].with_marker(marker), f"a tagged frame from access port vm1 reached {m}"
    d = lab.counter(after, "vm1", "tagged_on_access") - lab.counter(before, "vm1", "tagged_on_access")
    assert d == 3, f"tagged_on_access on {lab.port('vm1')} moved by {d}, expected 3"


def test_qinq_on_trunk_dropped(lab, marker):
    """802.1ad and stacked 802.1Q tags on the trunk are not supported: dropped as qinq."""
    ad = (Ether(src=LAN_HOST10, dst=BROADCAST, type=0x88A8) / Dot1AD(vlan=10, type=0x8100) /
          Dot1Q(vlan=10, type=ETH_P_TEST) / Raw(pad(marker)))
    qq = (Ether(src=LAN_HOST10, dst=BROADCAST, type=0x8100) / Dot1Q(vlan=10, type=0x8100) /
          Dot1Q(vlan=20, type=ETH_P_TEST) / Raw(pad(marker)))
    before = lab.stats()
    with lab.capture(["vm1", "vm2", "vm3", "vm4"]) as caps:
        lab.send("lan", [ad, qq])
    after = lab.stats()
    for m in ("vm1", "vm2", "vm3", "vm4"):
        assert not caps[m].with_marker(marker), f"a double-tagged frame from the LAN reached {m}"
    d = lab.counter(after, "lan", "qinq") - lab.counter(before, "lan", "qinq")
    assert d == 2, f"qinq on {lab.port('up0')} moved by {d}, expected 2"
