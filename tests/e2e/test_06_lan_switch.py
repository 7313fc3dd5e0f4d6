"""The "physical LAN" as a switched LAN with hosts on VLANs (lab.sh lan-up): a second
xdpnet instance inside the LAN namespace is its switch, so VMs reach LAN hosts of
their VLAN across two XDP switches and the tagged trunk between them, and not across
VLANs. Leaves the lab as it found it (lan-down)."""
import json

import pytest

from conftest import LAB_SH, VM_MAC, _run

H10_MAC = "52:54:00:00:00:a1"


@pytest.fixture(scope="module")
def lan(lab):
    r = _run([str(LAB_SH), "lan-up", "--prefix", lab.prefix, "--xdpnet", lab.xdpnet_bin], timeout=60)
    assert r.returncode == 0, f"lab.sh lan-up failed:\n{r.stdout}\n{r.stderr}"
    try:
        yield lab
    finally:
        _run([str(LAB_SH), "lan-down", "--prefix", lab.prefix, "--xdpnet", lab.xdpnet_bin], timeout=60)


def lan_xdpnet(lab, *args):
    return lab.run(None, ["nsenter", f"--net=/run/netns/{lab.ns('lan')}", lab.xdpnet_bin,
                          "-i", lab.ns("lan"), *args])


def test_vm_reaches_lan_host_of_its_vlan(lan):
    assert lan.ping("vm1", "10.0.10.100"), "vm1 (VLAN 10) -> LAN host h10 (VLAN 10)"
    assert lan.ping("vm3", "10.0.20.100"), "vm3 (VLAN 20) -> LAN host h20 (VLAN 20)"
    assert lan.ping("h10", "10.0.10.2"), "LAN host h10 -> vm2 (VLAN 10)"


def test_vlans_stay_apart_across_the_trunk(lan):
    # h20 holds 10.0.10.200 on VLAN 20: on-link for vm1, so only the VLAN stops it.
    assert lan.ping_fails("vm1", "10.0.10.200"), "vm1 (VLAN 10) reached h20 on VLAN 20"
    assert lan.ping_fails("h10", "10.0.10.33"), "h10 (VLAN 10) reached vm3 on VLAN 20"


def test_both_switches_learned_across_the_trunk(lan):
    assert lan.ping("vm1", "10.0.10.100")
    entry = lan.fdb_find(H10_MAC, 10)
    assert entry and entry["port"] == lan.port("up0"), f"host switch: h10 behind the uplink: {entry}"
    r = lan_xdpnet(lan, "--json", "fdb", "show")
    assert r.returncode == 0, r.stderr
    rows = {(e["vlan"], e["mac"]): e["port"] for e in json.loads(r.stdout)}
    assert rows.get((10, VM_MAC["vm1"])) == "eth0", f"LAN switch: vm1 behind its trunk: {rows}"
    assert rows.get((10, H10_MAC)) == "lh10", f"LAN switch: h10 on its access port: {rows}"
    assert (20, VM_MAC["vm1"]) not in rows, "vm1 learned in VLAN 20 on the LAN switch"


def test_lan_namespace_host_still_reachable(lan):
    assert lan.ping("lan", "192.168.50.1"), "LAN namespace -> host over the uplink"
