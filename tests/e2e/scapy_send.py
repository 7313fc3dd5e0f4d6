#!/usr/bin/python3
"""Send raw Ethernet frames on an interface, exactly as given.

    ip netns exec NS /usr/bin/python3 scapy_send.py --iface eth0 HEX [HEX ...]

The frames are built with scapy by the test (conftest.Lab.send) and passed as
hex, so this helper starts fast and needs no scapy itself: it writes them to an
AF_PACKET socket, which puts tags, double tags and odd EtherTypes on the wire
untouched (the lab turns VLAN offloads off on every veth end).
"""
import argparse
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--count", type=int, default=1, help="send the whole list this many times")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between frames")
    ap.add_argument("frames", nargs="+", help="frames as hex strings")
    args = ap.parse_args()

    frames = [bytes.fromhex(f) for f in args.frames]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    sent = 0
    for _ in range(args.count):
        for f in frames:
            n = s.send(f)
            if n != len(f):
                print(f"short send: {n} of {len(f)} bytes", file=sys.stderr)
                return 1
            sent += 1
            if args.interval:
                time.sleep(args.interval)
    s.close()
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
