"""The VLANs' gateway addresses (policy `networks`): xdpnet answers ARP for them with a
router MAC and answers ping, in the XDP path, on the right VLAN only."""
from conftest import VM_MAC


def _router_mac(lab, vlan: int) -> str:
    nets = {n["vlan"]: n for n in lab.status()["networks"]}
    assert vlan in nets, f"no gateway for VLAN {vlan} in status: {nets}"
    return nets[vlan]["router_mac"]


def test_status_lists_the_gateways(lab):
    nets = {n["vlan"]: n["gateway"] for n in lab.status()["networks"]}
    assert nets == {10: "10.0.10.254/24", 20: "10.0.20.254/24", 30: "10.0.30.1/24"}, nets


def test_vms_ping_their_gateway(lab):
    before = lab.stats()
    assert lab.ping("vm1", "10.0.10.254"), "vm1 -> its gateway 10.0.10.254"
    assert lab.ping("vm4", "10.0.10.254"), "vm4 -> its gateway 10.0.10.254"
    assert lab.ping("vm3", "10.0.20.254"), "vm3 -> its gateway 10.0.20.254"
    after = lab.stats()
    port = "vm1"
    assert lab.counter(after, port, "gw_echo_replies") - lab.counter(before, port, "gw_echo_replies") >= 2
    # vm1 resolved the gateway to VLAN 10's router MAC.
    neigh = lab.run("vm1", ["ip", "neigh", "show", "10.0.10.254"], check=True).stdout
    assert _router_mac(lab, 10) in neigh.lower(), neigh


def test_gateway_answers_only_on_its_vlan(lab):
    # vm3 holds 10.0.10.33/24 on VLAN 20: 10.0.10.254 is on-link for it, but VLAN 20's
    # gateway is 10.0.20.254, and VLAN 10's gateway must not answer across VLANs.
    assert lab.ping_fails("vm3", "10.0.10.254"), "VLAN 10's gateway answered on VLAN 20"


def test_arping_the_gateway(lab):
    before = lab.stats()
    assert lab.arping("vm2", "10.0.10.254"), "ARP for the gateway unanswered"
    after = lab.stats()
    port = "vm2"
    assert lab.counter(after, port, "gw_arp_replies") > lab.counter(before, port, "gw_arp_replies")


def test_traffic_without_a_route_is_counted_not_lost(lab):
    """A packet to the router MAC for an address no network holds is dropped and
    counted (no_route), never silently lost."""
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    pkt = Ether(src=VM_MAC["vm1"], dst=_router_mac(lab, 10)) / IP(src="10.0.10.1", dst="198.51.100.7") / ICMP()
    before = lab.stats()
    lab.send("vm1", pkt, count=3)
    port = "vm1"
    delta = lab.counter(lab.stats(), port, "no_route") - lab.counter(before, port, "no_route")
    assert delta == 3, f"no_route moved by {delta}, expected 3"
