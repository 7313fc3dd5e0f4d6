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

# The NAT network natnet (lab.yaml, VLAN 30): vm5 behind the uplink Pwan, the
# "internet" namespace P inet on its other end (Lab.port("inet") is Pwan).
VM_MAC["vm5"] = "52:54:00:00:00:05"
VM_IP["vm5"] = "10.0.30.5"
NAT_VLAN = 30
NAT_GW = "10.0.30.1"
WAN_IP = "203.0.113.1"      # the host's address on the uplink: masquerade's source
INET_IP = "203.0.113.2"     # the internet namespace's eth0
FAR_IP = "198.51.100.1"     # on lo in the internet namespace, routed by the host via INET_IP
NAT_PORT_RANGE = (20000, 29999)
NAT_NAMESPACES = ["vm5", "inet"]

NAMESPACES = VMS + ["lan"] + NAT_NAMESPACES


def pytest_addoption(parser):
    parser.addoption("--xdpnet", default=os.environ.get("XDPNET", str(ROOT / "build" / "loader" / "xdpnet")),
                     help="the xdpnet binary under test")
    parser.addoption("--lab-prefix", default=os.environ.get("XDPNET_LAB_PREFIX", "xe"),
                     help="name prefix of the lab's namespaces and interfaces")
    parser.addoption("--instance", default=os.environ.get("XDPNET_E2E_INSTANCE", "e2e"),
                     help="xdpnet instance name used by the tests")
    parser.addoption("--lab-policy", default=str(LAB_YAML),
                     help="the lab policy (written for prefix 'xn'; renamed to --lab-prefix)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long test (still part of the normal run; deselect with -m 'not slow')")


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


# ---- NAT helpers: small Python servers and clients run inside lab namespaces ----
# They speak one JSON object per line on stdout; closing their stdin ends them.

# PEER_SERVER: `proto bind port mode`. TCP "reply" mode reads one line, answers
# "peer=IP:PORT" (the address it sees the client as; an HTTP response when the line
# is a GET) and closes once the client has (so a held connection stays established);
# "sink" mode reads to EOF and closes without answering.
# UDP answers every datagram with "peer=IP:PORT", from the address it was sent to.
# Each connection/datagram is reported as {"event": "conn", ...} ("reply" mode only);
# on stdin EOF it prints {"event": "summary", "count": N, "peer_ips": {ip: n}} and exits
# ("sink" mode first waits for the connections still queued; UDP "echo" mode also sends
# each datagram back after the peer line).
PEER_SERVER_PY = r'''
import json, socket, struct, sys, threading, time
proto, bind, port, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()
count = 0
peer_ips = {}
def out(**kw):
    with lock:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()
def note(peer):
    global count
    with lock:
        count += 1
        peer_ips[peer[0]] = peer_ips.get(peer[0], 0) + 1
def tcp_conn(c, peer):
    try:
        c.settimeout(10)
        local = c.getsockname()
        note(peer)
        if mode == "sink":
            while c.recv(65536):
                pass
            return
        data = b""
        while b"\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        line = data.split(b"\n")[0].decode(errors="replace").strip()
        body = "peer=%s:%d\n" % (peer[0], peer[1])
        if line.startswith("GET "):
            c.sendall(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body)).encode())
        else:
            c.sendall(body.encode())
        out(event="conn", proto="tcp", peer=list(peer), local=list(local), data=line)
        # The client closes first: a held connection stays established.
        while c.recv(65536):
            pass
    except OSError as e:
        out(event="error", peer=list(peer), error=str(e))
    finally:
        c.close()
def tcp_loop(s):
    while True:
        c, peer = s.accept()
        threading.Thread(target=tcp_conn, args=(c, peer), daemon=True).start()
IP_PKTINFO = 8  # Linux; struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
def udp_loop(s):
    # Answer from the address the datagram was sent to (a server on 0.0.0.0 would
    # otherwise answer from the address of the route back).
    while True:
        data, anc, _, peer = s.recvmsg(65536, socket.CMSG_SPACE(12))
        local = bind
        for level, kind, cdata in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                local = socket.inet_ntoa(struct.unpack("i4s4s", cdata[:12])[2])
        note(peer)
        answer = ("peer=%s:%d\n" % (peer[0], peer[1])).encode()
        if mode == "echo":  # the datagram itself back too (fragments both ways)
            answer += data
        s.sendmsg([answer],
                  [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, socket.inet_aton(local), bytes(4)))],
                  0, peer)
        out(event="conn", proto="udp", peer=list(peer), local=[local, port],
            data=data.split(b"\n")[0].decode(errors="replace").strip())
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if proto == "udp":
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s.bind((bind, port))
if proto == "tcp":
    s.listen(4096)
threading.Thread(target=tcp_loop if proto == "tcp" else udp_loop, args=(s,), daemon=True).start()
out(event="ready", proto=proto, bind=bind, port=port)
sys.stdin.read()
# "sink": connections still in the accept queue or being handled count too;
# wait until the count stands still (at most 15 s).
deadline = time.monotonic() + (15 if mode == "sink" else 0)
while time.monotonic() < deadline:
    with lock:
        before = count
    time.sleep(0.5)
    with lock:
        if count == before and threading.active_count() <= 2:
            break
with lock:
    summary = dict(event="summary", count=count, peer_ips=dict(peer_ips))
out(**summary)
'''

# HELD_TCP_CLIENT: `dst port sport data`. Connects (from source port `sport` unless 0),
# sends `data` and a newline, reads the first answer line, prints
# {"event": "connected", "local": [ip, port], "reply": "..."} and keeps the connection
# open until its stdin closes; then closes it normally (FIN).
HELD_TCP_CLIENT_PY = r'''
import json, socket, sys
dst, port, sport, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if sport:
    s.bind(("0.0.0.0", sport))
s.settimeout(8)
try:
    s.connect((dst, port))
    s.sendall(data.encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
except OSError as e:
    out(event="error", error="%s: %s" % (type(e).__name__, e))
    sys.exit(1)
out(event="connected", local=list(s.getsockname()), reply=buf.decode(errors="replace").strip())
sys.stdin.read()
s.close()
'''

# TCP_BURST_CLIENT: `dst port count`. `count` sequential connect / send 1 byte / close
# (default SO_LINGER: a normal FIN close); prints
# {"ok": n, "failed": n, "errors": {what: n}, "seconds": t}.
TCP_BURST_CLIENT_PY = r'''
import json, socket, sys, time
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = failed = 0
errors = {}
t0 = time.monotonic()
for i in range(count):
    s = socket.socket()
    s.settimeout(20)  # SYN retransmissions (1 s, 3 s, 7 s...) count as slow, not failed
    try:
        s.connect((dst, port))
        s.sendall(b"x")
        ok += 1
    except OSError as e:
        failed += 1
        k = type(e).__name__ + ": " + str(e)
        errors[k] = errors.get(k, 0) + 1
    finally:
        s.close()
print(json.dumps(dict(ok=ok, failed=failed, errors=errors, seconds=time.monotonic() - t0)), flush=True)
'''


class _JsonLinesProc:
    """A process in a lab namespace speaking JSON lines on stdout; closing stdin ends it."""

    def __init__(self, lab: "Lab", ns: str | None, argv: list[str], what: str):
        import threading

        self.what = what
        self.events: list[dict] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(lab.ns_cmd(ns) + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        assert self.proc.stdout
        for line in self.proc.stdout:
            with self._cond:
                self.raw.append(line)
                with contextlib.suppress(json.JSONDecodeError):
                    self.events.append(json.loads(line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, pred, timeout: float) -> dict | None:
        """The first event matching pred, waiting up to `timeout` s; None if none came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.2))

    def stderr_text(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def finish(self, timeout: float = 10) -> int:
        """Closes stdin (the process's cue to end), waits; kills it if it does not."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


class PeerServer(_JsonLinesProc):
    """PEER_SERVER_PY in a namespace. conns(): what it saw, by connection/datagram."""

    def __init__(self, lab: "Lab", ns: str | None, proto: str, bind: str, port: int, mode: str = "reply"):
        super().__init__(lab, ns, [PY, "-c", PEER_SERVER_PY, proto, bind, str(port), mode],
                         f"{proto} server {bind}:{port} in {ns or 'the host'}")
        self.proto, self.bind, self.port = proto, bind, port
        self.summary: dict | None = None
        if not self.wait_event(lambda e: e.get("event") == "ready", timeout=10):
            self.kill()
            raise AssertionError(f"{self.what} did not start: {''.join(self.raw)}{self.stderr_text()}")

    def conns(self) -> list[dict]:
        with self._cond:
            return [e for e in self.events if e.get("event") == "conn"]

    def wait_conn(self, pred=lambda e: True, timeout: float = 5) -> dict | None:
        return self.wait_event(lambda e: e.get("event") == "conn" and pred(e), timeout)

    def errors(self) -> list[dict]:
        with self._cond:
            return [e for e in self.events if e.get("event") == "error"]

    def stop(self) -> dict | None:
        """Ends the server; returns its summary ({"count", "peer_ips"}) or None."""
        self.finish()
        self.summary = next((e for e in self.events if e.get("event") == "summary"), None)
        return self.summary


class HeldTcp(_JsonLinesProc):
    """HELD_TCP_CLIENT_PY: one TCP connection, open until close()."""

    def __init__(self, lab: "Lab", ns: str, dst: str, port: int, sport: int = 0, data: str = "hello"):
        super().__init__(lab, ns, [PY, "-c", HELD_TCP_CLIENT_PY, dst, str(port), str(sport), data],
                         f"TCP client {ns} -> {dst}:{port}")
        e = self.wait_event(lambda e: e.get("event") in ("connected", "error"), timeout=15)
        if not e or e["event"] != "connected":
            self.kill()
            raise AssertionError(f"{self.what}: no connection: {e or ''.join(self.raw)}\n{self.stderr_text()}")
        self.local = tuple(e["local"])
        self.reply = e["reply"]

    def close(self):
        self.finish()


def parse_peer(text: str) -> tuple[str, int] | None:
    """("IP", port) from a PEER_SERVER answer ("peer=IP:PORT") anywhere in `text`."""
    m = re.search(r"peer=(\d+\.\d+\.\d+\.\d+):(\d+)", text)
    return (m.group(1), int(m.group(2))) if m else None


def nat_match(entry: dict, proto: str | None = None, kind: str | None = None,
              original: dict | None = None, reply: dict | None = None) -> bool:
    """True when a `nat show --json` entry has these fields (tuples compared key by key)."""
    if proto is not None and entry.get("proto") != proto:
        return False
    if kind is not None and entry.get("kind") != kind:
        return False
    for side, want in (("original", original), ("reply", reply)):
        if want and any(entry.get(side, {}).get(k) != v for k, v in want.items()):
            return False
    return True


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
        """Host-side port (root namespace) of a lab member: 'vm1'..'vm5', 'up0'/'lan',
        'wan'/'inet' (the NAT uplink: a host interface, not a switch port)."""
        if name == "inet":
            return self.prefix + "wan"
        return self.prefix + ("up0" if name == "lan" else name)

    def ifindex(self, port: str) -> int:
        return int(Path(f"/sys/class/net/{port}/ifindex").read_text())

    # ---- policy ----
    def policy_text(self, base: str) -> str:
        """A lab policy (written for prefix xn) with the lab's prefix and the tests' instance."""
        text = base
        text = re.sub(r"\bxn(vm[1-5]|up0|wan)\b", lambda m: self.prefix + m.group(1), text)
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

    # ---- NAT (natnet: vm5 behind the uplink Pwan, the internet namespace "inet") ----
    def server(self, ns: str | None, proto: str, bind: str, port: int, mode: str = "reply") -> "PeerServer":
        """A PeerServer in `ns` (stop() it, or use served())."""
        return PeerServer(self, ns, proto, bind, port, mode)

    @contextlib.contextmanager
    def served(self, ns: str | None, proto: str, bind: str, port: int, mode: str = "reply"):
        """A PeerServer for the duration of the block; always stopped."""
        srv = PeerServer(self, ns, proto, bind, port, mode)
        try:
            yield srv
        finally:
            srv.stop()

    @contextlib.contextmanager
    def held_tcp(self, ns: str, dst: str, port: int, sport: int = 0, data: str = "hello"):
        """One TCP connection from `ns`, open for the duration of the block."""
        c = HeldTcp(self, ns, dst, port, sport, data)
        try:
            yield c
        finally:
            c.close()

    def nc(self, ns: str | None, dst: str, port: int, data: str, udp: bool = False, sport: int | None = None,
           timeout: int = 3):
        """OpenBSD nc from `ns`: sends `data` and a newline, returns the CompletedProcess with
        what came back on stdout. TCP: shuts its side down after the data (-N). UDP: waits for
        one answer datagram (-W 1) or `timeout` seconds."""
        cmd = ["nc", "-n", "-w", timeout]
        cmd += ["-u", "-W", "1"] if udp else ["-N"]
        if sport:
            cmd += ["-p", sport]
        return self.run(ns, cmd + [dst, port], timeout=timeout + 10, input=data + "\n")

    def tcp_burst(self, ns: str, dst: str, port: int, count: int, timeout: float = 600) -> dict:
        """`count` sequential TCP connect/send/close from `ns` (TCP_BURST_CLIENT_PY); its summary."""
        r = self.run(ns, [PY, "-c", TCP_BURST_CLIENT_PY, dst, port, count], timeout=timeout)
        assert r.returncode == 0, f"TCP burst client in {ns} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout.strip().splitlines()[-1])

    def nat_show(self) -> list[dict]:
        j = self.xj("nat", "show")
        assert isinstance(j, list), f"nat show --json is not a list: {j!r}"
        return j

    def nat_find(self, entries=None, **match) -> list[dict]:
        """Entries of `nat show` (or `entries`) matching nat_match(**match)."""
        return [e for e in (self.nat_show() if entries is None else entries) if nat_match(e, **match)]

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
