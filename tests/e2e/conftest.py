"""End-to-end tests of xdpnet on the netns lab (tests/lab/lab.sh).

Run as root with Debian's Python (scapy, pytest):

    /usr/bin/python3 -m pytest -q tests/e2e --xdpnet build/loader/xdpnet

The session fixture `lab` brings the lab up under its own prefix (default
"xe", so it never collides with the demo's "xn"), starts xdpnet with
tests/lab/lab.yaml rewritten for that prefix (instance "e2e"), and always
tears both down. The tests share that one running switch and run in file
order; test_99_down.py takes it down and checks nothing is left.

An autouse fixture watches the xdp:xdp_redirect_err, xdp:xdp_exception and
xdp:xdp_devmap_xmit (err != 0) tracepoints in a private tracefs instance, so a
frame lost silently inside a redirect fails the test that caused it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LAB_SH = ROOT / "tests" / "lab" / "lab.sh"
LAB_YAML = ROOT / "tests" / "lab" / "lab.yaml"
SCAPY_SEND = HERE / "scapy_send.py"
ABI_H = ROOT / "include" / "xdpnet" / "abi.h"
PY = "/usr/bin/python3"  # Debian's, with scapy

# The lab's fixed addresses (tests/lab/lab.sh).
VM_MAC = {f"vm{i}": f"52:54:00:00:00:0{i}" for i in range(1, 5)}
VM_IP = {"vm1": "10.0.10.1", "vm2": "10.0.10.2", "vm3": "10.0.20.3", "vm4": "10.0.10.4"}
VM3_VLAN10_IP = "10.0.10.33"
LAN_MAC = "52:54:00:00:00:50"
UP_MAC = "52:54:00:00:00:fe"
HOST_IP = "192.168.50.1"
LAN_IP = "192.168.50.2"
STATIC_MAC = "52:54:00:00:00:99"  # lab.yaml static_fdb: VLAN 10 on vm2

VMS = ["vm1", "vm2", "vm3", "vm4"]
NAMESPACES = VMS + ["lan"]


def pytest_addoption(parser):
    parser.addoption("--xdpnet", default=os.environ.get("XDPNET", str(ROOT / "build" / "loader" / "xdpnet")),
                     help="the xdpnet binary under test")
    parser.addoption("--lab-prefix", default=os.environ.get("XDPNET_LAB_PREFIX", "xe"),
                     help="name prefix of the lab's namespaces and interfaces")
    parser.addoption("--instance", default=os.environ.get("XDPNET_E2E_INSTANCE", "e2e"),
                     help="xdpnet instance name used by the tests")
    parser.addoption("--lab-policy", default=str(LAB_YAML),
                     help="the lab policy (written for prefix 'xn'; renamed to --lab-prefix)")


def pytest_report_header(config):
    return (f"xdpnet: {os.path.abspath(config.getoption('--xdpnet'))}, lab prefix "
            f"'{config.getoption('--lab-prefix')}', instance '{config.getoption('--instance')}'")


def abi_names() -> tuple[list[str], list[str]]:
    """(counter names, drop reason names) as include/xdpnet/abi.h defines them."""
    text = ABI_H.read_text()

    def block(macro: str) -> list[str]:
        m = re.search(r"#define\s+" + macro + r"\(X\)(.*?)(?:\n\s*\n|\n#)", text, re.S)
        assert m, f"{macro} not found in {ABI_H}"
        return re.findall(r'X\(\s*\w+\s*,\s*"([a-z0-9_]+)"', m.group(1))

    return block("XDPNET_COUNTERS"), block("XDPNET_DROP_REASONS")


def _run(cmd: list[str], timeout: float = 30, check: bool = False, input: str | None = None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n"
                             f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


class Capture:
    """tcpdump on one interface of a namespace, read back with scapy."""

    def __init__(self, lab: "Lab", ns: str, iface: str, bpf: str | None, direction: str, path: Path):
        self.lab, self.ns, self.iface, self.bpf, self.direction, self.path = lab, ns, iface, bpf, direction, path
        self.proc: subprocess.Popen | None = None
        self.packets = []
        self.stderr = ""

    def start(self):
        cmd = self.lab.ns_cmd(self.ns) + ["tcpdump", "-e", "-n", "-l", "-U", "--immediate-mode", "-Z", "root", "-i", self.iface,
                                          "-Q", self.direction, "-w", str(self.path)]
        if self.bpf:
            cmd.append(self.bpf)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, deadline: float):
        """tcpdump prints 'listening on' once its socket and filter are in place."""
        assert self.proc and self.proc.stderr
        buf = b""
        while b"listening on" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"tcpdump on {self.ns}/{self.iface} not ready: {buf.decode(errors='replace')}")
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if r:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    continue
                buf += chunk
        self.stderr = buf.decode(errors="replace")

    def stop(self):
        from scapy.utils import rdpcap

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.stderr += self.proc.stderr.read().decode(errors="replace")
            self.proc.stderr.close()
        self.packets = list(rdpcap(str(self.path))) if self.path.exists() and self.path.stat().st_size > 0 else []

    def with_marker(self, marker: bytes):
        """Captured frames carrying `marker` anywhere in them."""
        return [p for p in self.packets if marker in bytes(p)]

    def summary(self) -> str:
        return f"{self.ns}/{self.iface}: " + "; ".join(p.summary() for p in self.packets[:20])


class RedirectWatch:
    """A private tracefs instance recording XDP redirect failures."""

    EVENTS = {"xdp_redirect_err": None, "xdp_exception": None, "xdp_devmap_xmit": "err != 0"}

    def __init__(self):
        self.base = None
        self.inst = None
        self.ifindexes: set[int] = set()

    def start(self):
        for cand in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
            if os.path.isdir(cand + "/events/xdp"):
                self.base = cand
                break
        if self.base is None:
            os.makedirs("/sys/kernel/tracing", exist_ok=True)
            _run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
            self.base = "/sys/kernel/tracing"
        assert os.path.isdir(self.base + "/events/xdp"), "no xdp tracepoints in tracefs"
        # Instances left behind by killed runs would keep tracing forever.
        with contextlib.suppress(OSError):
            for d in os.listdir(self.base + "/instances"):
                m = re.fullmatch(r"xdpnet_e2e_(\d+)", d)
                if m and not os.path.exists(f"/proc/{m.group(1)}"):
                    with contextlib.suppress(OSError):
                        os.rmdir(f"{self.base}/instances/{d}")
        self.inst = f"{self.base}/instances/xdpnet_e2e_{os.getpid()}"
        os.makedirs(self.inst, exist_ok=True)
        for ev, flt in self.EVENTS.items():
            d = f"{self.inst}/events/xdp/{ev}"
            if flt:
                Path(d + "/filter").write_text(flt + "\n")
            Path(d + "/enable").write_text("1\n")
        self.clear()

    def clear(self):
        Path(self.inst + "/trace").write_text("")

    def read(self) -> list[str]:
        """Recorded events that involve one of the lab's interfaces."""
        lines = []
        for line in Path(self.inst + "/trace").read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            idx = {int(v) for v in re.findall(r"\b(?:ifindex|to_ifindex|from_ifindex)=(\d+)", line)}
            if not self.ifindexes or idx & self.ifindexes:
                lines.append(line.strip())
        return lines

    def stop(self):
        if not self.inst:
            return
        for ev in self.EVENTS:
            with contextlib.suppress(OSError):
                Path(f"{self.inst}/events/xdp/{ev}/enable").write_text("0\n")
        for _ in range(10):
            try:
                os.rmdir(self.inst)
                break
            except OSError:
                time.sleep(0.1)
        self.inst = None


class Lab:
    def __init__(self, xdpnet: str, prefix: str, instance: str, tmp: Path, policy: Path = LAB_YAML):
        self.xdpnet_bin = xdpnet
        self.prefix = prefix
        self.instance = instance
        self.tmp = tmp
        self.policy = tmp / "lab.yaml"
        self.policy.write_text(self.policy_text(Path(policy).read_text()))
        self._seq = 0
        self.watch = RedirectWatch()
        self.lab_is_up = False
        self.xdpnet_is_up = False

    # ---- names ----
    def ns(self, name: str) -> str:
        """Namespace of a lab member: 'vm1'..'vm4', 'lan'."""
        return self.prefix + name

    def port(self, name: str) -> str:
        """Host-side port (root namespace) of a lab member: 'vm1'..'vm4', 'up0'/'lan'."""
        return self.prefix + ("up0" if name == "lan" else name)

    def ifindex(self, port: str) -> int:
        return int(Path(f"/sys/class/net/{port}/ifindex").read_text())

    # ---- policy ----
    def policy_text(self, base: str) -> str:
        """A lab policy (written for prefix xn) with the lab's prefix and the tests' instance."""
        text = base
        text = re.sub(r"\bxn(vm[1-4]|up0)\b", lambda m: self.prefix + m.group(1), text)
        text, n = re.subn(r"(?m)^instance:\s*\S+", f"instance: {self.instance}", text)
        assert n == 1, "lab.yaml has no top-level 'instance:'"
        return text

    def write_policy(self, text: str, name: str) -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p

    # ---- running things ----
    def ns_cmd(self, ns: str | None) -> list[str]:
        """Prefix that runs a command in lab namespace `ns` (None/'' = the host)."""
        return ["ip", "netns", "exec", self.ns(ns)] if ns else []

    def run(self, ns: str | None, cmd: list[str], timeout: float = 30, check: bool = False, input=None):
        return _run(self.ns_cmd(ns) + [str(c) for c in cmd], timeout=timeout, check=check, input=input)

    def lab_sh(self, action: str, check: bool = True):
        return _run([str(LAB_SH), action, "--prefix", self.prefix], timeout=60, check=check)

    def xdpnet(self, *args, check: bool = False, timeout: float = 60, instance: bool = True):
        """Runs `xdpnet [-i INSTANCE] ARGS`; returns the CompletedProcess."""
        cmd = [self.xdpnet_bin] + (["-i", self.instance] if instance else []) + [str(a) for a in args]
        r = _run(cmd, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"xdpnet failed ({r.returncode}): {' '.join(cmd)}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def xj(self, *args):
        """`xdpnet ARGS --json`, parsed."""
        r = self.xdpnet(*args, "--json", check=True)
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"xdpnet {' '.join(args)} --json: not JSON ({e}):\n{r.stdout}") from None

    # ---- switch state ----
    def status(self) -> dict:
        return self.xj("status")

    def fdb(self, *filters) -> list[dict]:
        j = self.xj("fdb", "show", *filters)
        assert isinstance(j, list), f"fdb show --json is not a list: {j!r}"
        return j

    def fdb_find(self, mac: str, vlan: int, entries=None):
        mac = mac.lower()
        for e in self.fdb() if entries is None else entries:
            if e["mac"].lower() == mac and e["vlan"] == vlan:
                return e
        return None

    def stats(self) -> dict[str, dict]:
        """port name -> {'counters': {...}, 'drops': {...}} (all counters, zeros too)."""
        j = self.xj("stats", "--all")
        return {p["name"]: p for p in j["ports"]}

    def counter(self, stats: dict, member: str, name: str) -> int:
        """A counter or drop reason of a lab member's port ('vm1', 'lan'...)."""
        p = stats[self.port(member)]
        if name in p.get("counters", {}):
            return p["counters"][name]
        return p.get("drops", {}).get(name, 0)

    # ---- traffic ----
    def ping(self, ns: str | None, addr: str, count: int = 2, warmup: int = 5) -> bool:
        """True when `count` pings all answer. The first tries may only resolve ARP."""
        for _ in range(warmup):
            if self.run(ns, ["ping", "-c", "1", "-W", "1", addr]).returncode == 0:
                break
        r = self.run(ns, ["ping", "-c", count, "-W", "1", "-i", "0.2", addr])
        return r.returncode == 0

    def ping_fails(self, ns: str | None, addr: str, count: int = 2) -> bool:
        """True when no ping answers (exit status 1: sent, no reply)."""
        r = self.run(ns, ["ping", "-c", count, "-W", "1", "-i", "0.2", addr])
        # The kernel keeps retrying ARP for the unanswered address for a few
        # seconds; those broadcasts would move the next test's counters.
        self.forget_neighbour(ns, addr)
        return r.returncode == 1

    def forget_neighbour(self, ns: str | None, addr: str):
        dev = "eth0" if ns else self.port("up0")
        self.run(ns, ["ip", "neigh", "flush", "to", addr, "dev", dev])

    def arping(self, ns: str, addr: str, count: int = 2, iface: str = "eth0", extra=()) -> bool:
        """ARP-ping `addr` from `ns` (Habets arping); True when answered."""
        r = self.run(ns, ["arping", "-q", "-c", count, "-w", count + 1, "-W", "0.2", "-i", iface, *extra, addr],
                     timeout=count + 10)
        return r.returncode == 0

    def iperf3(self, server_ns: str | None, client_ns: str, addr: str, seconds: int = 2,
               port: int = 5201) -> dict:
        """One iperf3 TCP run from client_ns to a one-shot server on addr in server_ns
        (None = the host); returns iperf3's JSON "end" section. Fails the test if it fails."""
        srv = subprocess.Popen(self.ns_cmd(server_ns) + ["iperf3", "-s", "-1", "-B", addr, "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(50):
                if f":{port}" in self.run(server_ns, ["ss", "-ltnH", f"sport = :{port}"]).stdout:
                    break
                time.sleep(0.1)
            r = self.run(client_ns, ["iperf3", "-c", addr, "-p", port, "-t", seconds, "-J",
                                     "--connect-timeout", "3000"], timeout=seconds + 20)
            assert r.returncode == 0, f"iperf3 {client_ns} -> {addr} failed:\n{r.stdout[-2000:]}\n{r.stderr}"
            return json.loads(r.stdout)["end"]
        finally:
            if srv.poll() is None:
                srv.kill()
            srv.wait(timeout=5)

    def send(self, ns: str, frames, count: int = 1, interval: float = 0.0, iface: str = "eth0"):
        """Send scapy frames (or raw bytes) from `ns` exactly as built."""
        if not isinstance(frames, (list, tuple)):
            frames = [frames]
        hexes = [bytes(f).hex() for f in frames]
        self.run(ns, [PY, SCAPY_SEND, "--iface", iface, "--count", count, "--interval", interval, *hexes],
                 check=True)

    @contextlib.contextmanager
    def capture(self, members, bpf: str | None = None, direction: str = "in", settle: float = 0.4):
        """tcpdump on eth0 of each lab member for the duration of the block.

            with lab.capture(["vm2", "vm3"]) as caps:
                lab.send("vm1", frame)
            caps["vm2"].with_marker(marker)

        Only frames arriving at the namespace are kept (-Q in) unless told.
        """
        caps = {}
        for m in members:
            self._seq += 1
            caps[m] = Capture(self, m, "eth0", bpf, direction, self.tmp / f"cap{self._seq}-{m}.pcap")
        try:
            for c in caps.values():
                c.start()
            deadline = time.monotonic() + 10
            for c in caps.values():
                c.wait_ready(deadline)
            yield caps
            time.sleep(settle)  # frames still in flight
        finally:
            for c in caps.values():
                c.stop()


@pytest.fixture(scope="session")
def lab(request, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the e2e tests need root (namespaces, XDP)")
    xdpnet = os.path.abspath(request.config.getoption("--xdpnet"))
    if not (os.path.isfile(xdpnet) and os.access(xdpnet, os.X_OK)):
        pytest.fail(f"no xdpnet binary at {xdpnet} (use --xdpnet)")
    for tool in ("tcpdump", "ping", "arping", "iperf3", "ethtool", "tc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed")

    lab = Lab(xdpnet, request.config.getoption("--lab-prefix"), request.config.getoption("--instance"),
              tmp_path_factory.mktemp("lab"), Path(request.config.getoption("--lab-policy")))
    # Leftovers of an earlier, killed run.
    lab.xdpnet("down")
    lab.lab_sh("down", check=False)
    try:
        lab.lab_sh("up")
        lab.lab_is_up = True
        lab.watch.start()
        lab.watch.ifindexes = {lab.ifindex(lab.port(m)) for m in NAMESPACES}
        lab.xdpnet("up", "-c", lab.policy, check=True, instance=False)
        lab.xdpnet_is_up = True
        yield lab
    finally:
        lab.watch.stop()
        if lab.xdpnet_is_up:
            lab.xdpnet("down")
        if lab.lab_is_up:
            lab.lab_sh("down", check=False)


@pytest.fixture(autouse=True)
def no_redirect_loss(request):
    """Fails the test when an XDP redirect involving a lab port failed."""
    if "lab" not in request.fixturenames:
        yield
        return
    lab = request.getfixturevalue("lab")
    if not lab.watch.inst:
        yield
        return
    lab.watch.clear()
    yield
    if not lab.watch.inst:  # stopped by the test (the lab went down)
        return
    lost = lab.watch.read()
    if lost:
        pytest.fail("XDP redirect failures during the test (frames lost silently):\n  " + "\n  ".join(lost[:20]))


@pytest.fixture
def marker(request):
    """Bytes unique to this test, to find its frames in captures."""
    return ("XDPNET-E2E-" + re.sub(r"\W", "_", request.node.name)[:40] + f"-{time.monotonic_ns()}").encode()


def report(request, text: str):
    """Prints `text` in the pytest output even with -q and capturing on."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
    with ctx:
        print(text, flush=True)


# ---- frames ----
BROADCAST = "ff:ff:ff:ff:ff:ff"
ETH_P_TEST = 0x88B5  # IEEE "local experimental" EtherType: nothing in the lab answers it


def pad(payload: bytes, size: int = 46) -> bytes:
    """Payload padded to the Ethernet minimum, so frames are what a NIC would send."""
    return payload.ljust(size, b".")


def mkframe(src: str, dst: str, marker: bytes, vlan: int | None = None, prio: int = 0):
    """An EtherType 0x88b5 frame carrying `marker`, optionally 802.1Q-tagged."""
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw

    if vlan is None:
        return Ether(src=src, dst=dst, type=ETH_P_TEST) / Raw(pad(marker))
    return Ether(src=src, dst=dst, type=0x8100) / Dot1Q(prio=prio, vlan=vlan, type=ETH_P_TEST) / Raw(pad(marker))


def wait_for(pred, timeout: float = 3.0, interval: float = 0.1):
    """Polls pred() until it returns something truthy; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
