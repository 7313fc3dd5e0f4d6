"""`xdpnet down` and `lab.sh down` leave nothing behind. Runs last: it takes the shared lab down."""
import json
import os
import re

from conftest import LAB_YAML, NAMESPACES, VM_IP, wait_for


def pinned_objects(lab, pin: str) -> list[tuple[str, int, str]]:
    """(kind, id, pin name) of every BPF link, program and map pinned under `pin`."""
    found = []
    for name in sorted(os.listdir(pin)):
        path = os.path.join(pin, name)
        if not os.path.isfile(path):
            continue
        for kind in ("link", "prog", "map"):
            r = lab.run(None, ["bpftool", "-j", kind, "show", "pinned", path])
            try:
                j = json.loads(r.stdout) if r.returncode == 0 else None
            except json.JSONDecodeError:
                j = None
            if isinstance(j, dict) and isinstance(j.get("id"), int):
                found.append((kind, j["id"], name))
                break
    return found


def bpf_object_exists(lab, kind: str, oid: int) -> bool:
    return lab.run(None, ["bpftool", kind, "show", "id", oid]).returncode == 0


def test_down_leaves_nothing(lab):
    ports = [lab.port(m) for m in NAMESPACES]
    ifindexes = {lab.ifindex(p) for p in ports}
    pin = f"/sys/fs/bpf/xdpnet/{lab.instance}"
    assert os.path.isdir(pin), f"{pin} missing while the instance runs"

    # An ACL, so that apply records its rule texts beside the pins (for
    # `acl show`): down must take them away too.
    acl = lab.write_policy(lab.policy_text(LAB_YAML.read_text()) + """
acl:
  default: allow
  rules:
    - { action: deny, proto: icmp, from_vlan: 10, to: 10.0.20.0/24 }
""", "down-acl.yaml")
    r = lab.xdpnet("apply", "-c", acl, instance=False)
    assert r.returncode == 0, f"xdpnet apply (with an ACL): exit {r.returncode}\n{r.stderr}"
    notes = f"/run/xdpnet/{lab.instance}.acl.json"
    assert os.path.exists(notes), f"{notes} missing while an ACL is applied"

    objects = pinned_objects(lab, pin)
    assert any(k == "link" for k, _, _ in objects) and any(k == "prog" for k, _, _ in objects), \
        f"expected pinned links and programs under {pin}: {objects}"

    r = lab.xdpnet("down")
    assert r.returncode == 0, f"xdpnet down: exit {r.returncode}\n{r.stderr}"
    lab.xdpnet_is_up = False

    problems = []
    for p in ports:
        link = lab.run(None, ["ip", "-d", "link", "show", "dev", p], check=True).stdout
        if re.search(r"prog/xdp|xdpgeneric|xdpdrv|xdpoffload|\bxdp\b", link):
            problems.append(f"{p}: XDP still attached: {link.strip()}")
        qd = json.loads(lab.run(None, ["tc", "-j", "qdisc", "show", "dev", p], check=True).stdout or "[]")
        kinds = [q.get("kind") for q in qd]
        if "clsact" in kinds or "ingress" in kinds:
            problems.append(f"{p}: qdisc left: {kinds}")
        for d in ("ingress", "egress"):
            f = lab.run(None, ["tc", "filter", "show", "dev", p, d]).stdout.strip()
            if f:
                problems.append(f"{p}: tc {d} filter left: {f}")
    for m in NAMESPACES:
        link = lab.run(m, ["ip", "-d", "link", "show", "dev", "eth0"], check=True).stdout
        if re.search(r"prog/xdp|xdpgeneric", link):
            problems.append(f"{m}/eth0: XDP attached inside the namespace")
    links = json.loads(lab.run(None, ["bpftool", "-j", "link", "show"], check=True).stdout or "[]")
    for l in links:
        if l.get("ifindex") in ifindexes:
            problems.append(f"bpf link left on ifindex {l.get('ifindex')}: {l}")
    net = lab.run(None, ["bpftool", "-j", "net", "show"], check=True).stdout
    for entry in json.loads(net or "[]"):
        for kind, items in entry.items():
            for it in items if isinstance(items, list) else []:
                if isinstance(it, dict) and it.get("ifindex") in ifindexes:
                    problems.append(f"bpftool net: {kind} left: {it}")
    if os.path.exists(pin):
        problems.append(f"{pin} still exists: {os.listdir(pin)}")
    # What up/apply recorded beside the pins (the daemon's lock file may stay:
    # a daemon still running holds it).
    for f in (f"/run/xdpnet/{lab.instance}.acl.json", f"/run/xdpnet/{lab.instance}.telemetry.json"):
        if os.path.exists(f):
            problems.append(f"{f} still exists")
    # Every link, program and map the instance had pinned is gone from the
    # kernel, not just unpinned (freeing is asynchronous: give it a moment).
    alive = lambda: [o for o in objects if bpf_object_exists(lab, o[0], o[1])]  # noqa: E731
    wait_for(lambda: not alive(), timeout=5)
    for kind, oid, name in alive():
        problems.append(f"BPF {kind} id {oid} (was pinned as {name}) still exists after down")
    assert not problems, "xdpnet down left things behind:\n  " + "\n  ".join(problems)

    r = lab.xdpnet("status")
    assert r.returncode == 3, f"status after down: exit {r.returncode}, expected 3 (no such instance)"
    r = lab.xdpnet("down")
    assert r.returncode == 3, f"a second down: exit {r.returncode}, expected 3 (no such instance)"
    # Detached for real: the host ports no longer bridge, the uplink still carries the host.
    assert lab.ping_fails("vm1", VM_IP["vm2"]), "vm1 still reaches vm2 with xdpnet down"
    assert lab.ping("lan", "192.168.50.1"), "the host is unreachable over the uplink after xdpnet down"


def test_lab_down_leaves_nothing(lab):
    lab.watch.stop()  # the lab's interfaces are about to vanish
    r = lab.lab_sh("down", check=False)
    assert r.returncode == 0, r.stderr
    lab.lab_is_up = False
    ns = lab.run(None, ["ip", "netns", "list"]).stdout.split()
    left = [n for n in ns if n.startswith(lab.prefix)]
    assert not left, f"namespaces left: {left}"
    links = [l for l in os.listdir("/sys/class/net") if l.startswith(lab.prefix)]
    assert not links, f"interfaces left: {links}"
    r = lab.lab_sh("down", check=False)
    assert r.returncode == 0, f"lab.sh down is not idempotent: {r.stderr}"
