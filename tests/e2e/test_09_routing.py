"""Routing between networks: VLAN 10 (10.0.10.0/24) and VLAN 20 (10.0.20.0/24) reach each
other through their gateways, in XDP: TTL decremented, MACs rewritten, no translation."""
import contextlib

import pytest

from conftest import VM_MAC, VM_IP

VM3 = VM_IP["vm3"]  # 10.0.20.3


def _router_mac(lab, vlan: int) -> str:
    return {n["vlan"]: n for n in lab.status()["networks"]}[vlan]["router_mac"]


@contextlib.contextmanager
def routes(lab):
    """vm1 routes 10.0.20.0/24 via its gateway; vm3 (which also holds 10.0.10.33/24 on-link,
    for the isolation tests) routes vm1's address back via its own gateway."""
    lab.run("vm1", ["ip", "route", "replace", "10.0.20.0/24", "via", "10.0.10.254"], check=True)
    lab.run("vm3", ["ip", "route", "replace", f"{VM_IP['vm1']}/32", "via", "10.0.20.254"], check=True)
    try:
        yield
    finally:
        lab.run("vm1", ["ip", "route", "del", "10.0.20.0/24"])
        lab.run("vm3", ["ip", "route", "del", f"{VM_IP['vm1']}/32"])


def test_vms_in_two_networks_reach_each_other(lab):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    with routes(lab):
        assert lab.ping("vm1", VM3), "vm1 (VLAN 10) -> vm3 (VLAN 20) through the gateways"
        before = lab.stats()
        with lab.capture(["vm3"], bpf="icmp") as caps:
            r = lab.run("vm1", ["ping", "-c", "3", "-i", "0.2", "-W", "1", VM3])
        after = lab.stats()
    assert r.returncode == 0, r.stdout
    assert "ttl=63" in r.stdout, f"the reply crossed one router, TTL 64 - 1 expected:\n{r.stdout}"
    reqs = [p for p in caps["vm3"].packets if ICMP in p and p[ICMP].type == 8]
    assert len(reqs) == 3, caps["vm3"].summary()
    for p in reqs:
        assert p[IP].src == VM_IP["vm1"] and p[IP].dst == VM3, "addresses are not translated"
        assert p[IP].ttl == 63, f"TTL {p[IP].ttl} at vm3"
        assert p[Ether].src == _router_mac(lab, 20), "source MAC: VLAN 20's router MAC"
        assert p[Ether].dst == VM_MAC["vm3"]
    # Both directions are routed, each counted on its ingress port.
    assert lab.counter(after, "vm1", "routed") - lab.counter(before, "vm1", "routed") == 3
    assert lab.counter(after, "vm3", "routed") - lab.counter(before, "vm3", "routed") == 3
    neigh = {(n["vlan"], n["address"]): n for n in lab.xj("neigh", "show")}
    assert neigh[(20, VM3)]["mac"] == VM_MAC["vm3"] and neigh[(20, VM3)]["state"] == "reachable"
    assert neigh[(10, VM_IP["vm1"])]["mac"] == VM_MAC["vm1"]


def test_unknown_neighbour_is_asked_for_then_reached(lab):
    with routes(lab):
        assert lab.ping("vm1", VM3)
        out = lab.xdpnet("neigh", "flush", "--vlan", "20", check=True)
        assert "removed" in out.stdout
        before = lab.stats()
        with lab.capture(["vm3"], bpf="arp") as caps:
            assert lab.ping("vm1", VM3, warmup=3), "vm3 unreachable after the router forgot it"
        after = lab.stats()
    from scapy.layers.l2 import ARP
    asks = [p for p in caps["vm3"].packets if ARP in p and p[ARP].op == 1 and p[ARP].pdst == VM3]
    assert asks and asks[0][ARP].psrc == "10.0.20.254", caps["vm3"].summary()
    assert asks[0][ARP].hwsrc == _router_mac(lab, 20)
    assert lab.counter(after, "vm1", "arp_requests") - lab.counter(before, "vm1", "arp_requests") >= 1
    assert lab.counter(after, "vm1", "neigh_unresolved") - lab.counter(before, "vm1", "neigh_unresolved") >= 1


def test_tcp_across_networks(lab):
    with routes(lab):
        assert lab.ping("vm1", VM3)
        end = lab.iperf3("vm3", "vm1", VM3, seconds=2)
    assert end["sum_received"]["bytes"] > 1_000_000, end["sum_received"]


def test_ttl_running_out_gets_time_exceeded_from_the_gateway(lab):
    with routes(lab):
        assert lab.ping("vm1", VM3)
        before = lab.stats()
        r = lab.run("vm1", ["ping", "-c", "1", "-t", "1", "-W", "1", VM3])
        after = lab.stats()
        tr = lab.run("vm1", ["traceroute", "-n", "-q", "1", "-w", "1", "-m", "3", "-I", VM3], timeout=20)
    assert "10.0.10.254" in r.stdout and "Time to live exceeded" in r.stdout, r.stdout
    assert lab.counter(after, "vm1", "icmp_time_exceeded") - lab.counter(before, "vm1", "icmp_time_exceeded") == 1
    hops = [line.split()[1] for line in tr.stdout.splitlines()[1:] if line.strip()]
    assert hops[:2] == ["10.0.10.254", VM3], tr.stdout


def test_no_routing_without_a_route_on_the_vm(lab):
    """Without the route vm3 answers on-link in VLAN 20, where 10.0.10.1 does not live:
    routing never bridges VLANs by itself."""
    lab.run("vm1", ["ip", "route", "replace", "10.0.20.0/24", "via", "10.0.10.254"], check=True)
    try:
        assert lab.ping_fails("vm1", VM3)
    finally:
        lab.run("vm1", ["ip", "route", "del", "10.0.20.0/24"])
        lab.forget_neighbour("vm3", VM_IP["vm1"])
