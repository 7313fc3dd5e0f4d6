"""`xdpnet check` and `xdpnet apply` on the running switch."""
import re

from conftest import VM3_VLAN10_IP, VM_IP, VM_MAC


def _vm4_vlan(text: str, vlan: int) -> str:
    """The policy with xnvm4 (any prefix) moved to `vlan`."""
    new, n = re.subn(r"(- name: \w*vm4\n(?:[ \t]+\w+:.*\n)*?[ \t]+vlan:[ \t]*)10\b", rf"\g<1>{vlan}", text)
    assert n == 1, "could not find vm4's 'vlan: 10' in the lab policy"
    return new


def _vm2_line(text: str, key: str) -> int:
    """1-based line of `key:` inside the vm2 port entry."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if re.search(r"- name: \w*vm2\s*$", l))
    for i in range(start, len(lines)):
        if re.match(rf"\s+{key}:", lines[i]):
            return i + 1
    raise AssertionError(f"no {key} in vm2's entry")


def _port(lab, member):
    st = lab.status()
    return next(p for p in st["ports"] if p["name"] == lab.port(member))


def _dynamic(lab):
    return {(e["vlan"], e["mac"].lower(), e["port"]) for e in lab.fdb() if not e["static"]}


def test_check_good_policy(lab):
    r = lab.xdpnet("check", "-c", lab.policy, instance=False)
    assert r.returncode == 0, r.stderr


def test_apply_dry_run_changes_nothing(lab):
    moved = lab.write_policy(_vm4_vlan(lab.policy.read_text(), 20), "vm4-vlan20.yaml")
    assert lab.ping("vm1", VM_IP["vm4"])
    gen = lab.status()["active_gen"]

    r = lab.xdpnet("apply", "-c", moved, "--dry-run", instance=False)
    assert r.returncode == 0, r.stderr
    assert lab.port("vm4") in r.stdout, f"the dry-run diff does not name {lab.port('vm4')}:\n{r.stdout}"
    j = lab.xj("apply", "-c", moved, "--dry-run")
    assert j["applied"] is False, j
    ch = [c for c in j["changes"] if c["name"] == lab.port("vm4")]
    assert len(ch) == 1 and ch[0]["op"] == "change" and ch[0]["what"] == "port", j
    assert len(j["changes"]) == 1, f"dry-run reports more than the vm4 change: {j}"

    assert lab.status()["active_gen"] == gen, "apply --dry-run switched the generation"
    assert _port(lab, "vm4")["vlan"] == 10
    assert lab.ping("vm1", VM_IP["vm4"]), "vm1 -> vm4 broken by a dry run"

    # The running policy against itself: no changes.
    j = lab.xj("apply", "-c", lab.policy, "--dry-run")
    assert j["changes"] == [] and j["applied"] is False, j


def test_apply_moves_vm4_and_keeps_fdb(lab):
    moved = lab.write_policy(_vm4_vlan(lab.policy.read_text(), 20), "vm4-vlan20.yaml")
    assert lab.ping("vm1", VM_IP["vm2"]) and lab.ping("vm1", VM_IP["vm4"])
    fdb_before = _dynamic(lab)
    assert (10, VM_MAC["vm1"], lab.port("vm1")) in fdb_before
    assert (10, VM_MAC["vm2"], lab.port("vm2")) in fdb_before
    gen = lab.status()["active_gen"]

    r = lab.xdpnet("apply", "-c", moved, instance=False)
    assert r.returncode == 0, r.stderr
    st = lab.status()
    assert st["active_gen"] != gen, "apply did not switch the generation"
    assert _port(lab, "vm4")["vlan"] == 20
    # The FDB survived the switch (entries of ports that stayed).
    fdb_after = _dynamic(lab)
    kept = {e for e in fdb_before if e[2] != lab.port("vm4")}
    assert kept <= fdb_after, f"FDB entries lost by apply: {kept - fdb_after}"

    assert lab.ping("vm1", VM_IP["vm2"]), "vm1 -> vm2 broken by an unrelated apply"
    assert lab.ping_fails("vm1", VM_IP["vm4"]), "vm1 (VLAN 10) still reaches vm4 after vm4 moved to VLAN 20"
    assert lab.ping("vm4", VM3_VLAN10_IP), "vm4, now in VLAN 20, cannot reach vm3's 10.0.10.33"

    # And back.
    r = lab.xdpnet("apply", "-c", lab.policy, instance=False)
    assert r.returncode == 0, r.stderr
    assert _port(lab, "vm4")["vlan"] == 10
    assert lab.ping("vm1", VM_IP["vm4"]), "vm1 -> vm4 after moving vm4 back to VLAN 10"
    assert lab.ping_fails("vm4", VM3_VLAN10_IP)


def test_apply_rejects_bad_policy(lab):
    assert lab.ping("vm1", VM_IP["vm2"])
    text = lab.policy.read_text()
    gen = lab.status()["active_gen"]
    fdb_before = _dynamic(lab)

    bad_vlan = lab.write_policy(re.sub(r"(- name: \w*vm2\n(?:[ \t]+\w+:.*\n)*?[ \t]+vlan:[ \t]*)10\b",
                                       r"\g<1>5000", text, count=1), "bad-vlan.yaml")
    line = _vm2_line(bad_vlan.read_text(), "vlan")
    # A well-formed port on an interface this host does not have.
    bad_port = lab.write_policy(re.sub(r"(?m)^ports:[ \t]*\n",
                                       "ports:\n  - name: nosuchdev0\n    mode: access\n    vlan: 30\n",
                                       text, count=1), "bad-port.yaml")
    pline = next(i + 1 for i, l in enumerate(bad_port.read_text().splitlines()) if "nosuchdev0" in l)

    for path, ln, what in ((bad_vlan, line, "VLAN 5000"), (bad_port, pline, "missing interface")):
        for args in (("apply", "-c", path), ("apply", "-c", path, "--dry-run"), ("check", "-c", path)):
            if args[0] == "check" and what == "missing interface":
                continue  # check validates the file only; the interface is looked up by apply
            r = lab.xdpnet(*args, instance=False)
            assert r.returncode == 2, f"xdpnet {' '.join(map(str, args))} ({what}): exit {r.returncode}, " \
                                      f"expected 2\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
            out = r.stderr + r.stdout
            assert re.search(rf"{re.escape(path.name)}:{ln}\b", out), \
                f"xdpnet {args[0]} ({what}) does not point at {path.name}:{ln}:\n{out}"

    assert lab.status()["active_gen"] == gen, "a rejected policy switched the generation"
    assert _port(lab, "vm2")["vlan"] == 10
    assert lab.ping("vm1", VM_IP["vm2"]), "forwarding broken after a rejected apply"
    assert (10, VM_MAC["vm1"], lab.port("vm1")) in fdb_before
    assert (10, VM_MAC["vm1"], lab.port("vm1")) in _dynamic(lab), "a rejected apply lost FDB entries"
