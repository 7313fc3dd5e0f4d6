"""The datapath outlives the CLI; `xdpnet up` on a running instance adopts it."""
import json
import os
import shutil
import tempfile

from conftest import VM_IP, VM_MAC


def xdp_prog_ids(lab, port: str) -> set[int]:
    """Ids of the XDP programs attached to `port` (from `ip -d -j link show`)."""
    out = lab.run(None, ["ip", "-d", "-j", "link", "show", "dev", port], check=True).stdout
    ids = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "id" and isinstance(v, int):
                    ids.add(v)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for link in json.loads(out):
        walk(link.get("xdp", {}))
    return ids


def _cli_processes(lab) -> list[str]:
    """Running processes that look like an xdpnet CLI working on our instance."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"xdpnet" and (
                str(lab.policy).encode() in argv or lab.instance.encode() in argv):
            found.append(f"{pid}: {b' '.join(argv).decode(errors='replace')}")
    return found


def test_forwarding_without_cli_process(lab):
    assert not _cli_processes(lab), f"an xdpnet process is still running: {_cli_processes(lab)}"
    for m in ("vm1", "vm2", "vm3", "vm4", "up0"):
        assert xdp_prog_ids(lab, lab.port(m)), f"no XDP program on {lab.port(m)}"
    assert lab.ping("vm2", VM_IP["vm4"]), "vm2 -> vm4 with no xdpnet process running"
    st = lab.status()
    assert st["instance"] == lab.instance
    assert st["gc"]["armed"] is True, f"the in-kernel aging pass is not armed: {st['gc']}"
    for p in st["ports"]:
        assert p["present"] is True and p["xdp"] in ("native", "generic"), p


def test_up_again_adopts_and_keeps_fdb(lab):
    assert lab.ping("vm1", VM_IP["vm2"])
    ports = [lab.port(m) for m in ("vm1", "vm2", "vm3", "vm4", "up0")]
    ids_before = {p: xdp_prog_ids(lab, p) for p in ports}
    dyn_before = {(e["vlan"], e["mac"].lower(), e["port"]) for e in lab.fdb() if not e["static"]}
    assert (10, VM_MAC["vm1"], lab.port("vm1")) in dyn_before

    r = lab.xdpnet("up", "-c", lab.policy, instance=False)
    assert r.returncode == 0, f"xdpnet up on the running instance: exit {r.returncode}\n{r.stderr}"

    ids_after = {p: xdp_prog_ids(lab, p) for p in ports}
    assert ids_after == ids_before, f"up on a running instance reloaded the programs: {ids_before} -> {ids_after}"
    dyn_after = {(e["vlan"], e["mac"].lower(), e["port"]) for e in lab.fdb() if not e["static"]}
    assert dyn_before <= dyn_after, f"FDB entries lost by adoption: {dyn_before - dyn_after}"
    assert lab.ping("vm1", VM_IP["vm2"]) and lab.ping("vm1", VM_IP["vm4"])
    assert lab.ping("lan", "192.168.50.1")


def test_unprivileged_user(lab):
    """Without root: commands that touch the datapath exit 4 and change nothing; `check` works."""
    assert lab.ping("vm1", VM_IP["vm2"])
    n_before = len(lab.fdb())
    as_nobody = ["runuser", "-u", "nobody", "--", lab.xdpnet_bin]
    for args in (["-i", lab.instance, "status"], ["-i", lab.instance, "fdb", "flush"]):
        r = lab.run(None, as_nobody + args)
        assert r.returncode == 4, f"xdpnet {' '.join(args)} as nobody: exit {r.returncode}, expected 4\n{r.stderr}"
    assert len(lab.fdb()) == n_before, "an unprivileged fdb flush changed the FDB"
    d = tempfile.mkdtemp(prefix="xdpnet-e2e-")
    try:
        os.chmod(d, 0o755)
        p = os.path.join(d, "lab.yaml")
        with open(p, "w") as f:
            f.write(lab.policy.read_text())
        os.chmod(p, 0o644)
        r = lab.run(None, as_nobody + ["check", "-c", p])
        assert r.returncode == 0, f"xdpnet check as nobody: exit {r.returncode}\n{r.stderr}"
    finally:
        shutil.rmtree(d, ignore_errors=True)
