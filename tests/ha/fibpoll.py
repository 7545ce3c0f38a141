"""Polls a namespace's kernel FIB for one /32 every PERIOD, as `ip route show PREFIX` would,
and records every change with its time. `ip monitor` reports each write; polling is the
independent check the upgrade scenarios ask for (a FIB that reads the same every 20 ms).

A netlink socket opened inside the namespace (by a thread that enters it: setns affects the
calling thread only) dumps the IPv4 main table each period: no process spawned per poll,
so 20 ms holds on a busy machine.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from typing import Optional

CLONE_NEWNET = 0x40000000
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_TABLE = 1, 5, 9, 15
RT_TABLE_MAIN = 254


def _attributes(data: bytes) -> dict[int, bytes]:
    found = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            break
        found[kind] = data[4:length]
        data = data[(length + 3) & ~3:]
    return found


def _next_hops(attrs: dict[int, bytes]) -> frozenset[str]:
    if RTA_GATEWAY in attrs:
        return frozenset({socket.inet_ntoa(attrs[RTA_GATEWAY])})
    hops, data = set(), attrs.get(RTA_MULTIPATH, b"")
    while len(data) >= 8:
        length = struct.unpack_from("=H", data)[0]  # struct rtnexthop: len, flags, hops, ifindex
        if length < 8:
            break
        gateway = _attributes(data[8:length]).get(RTA_GATEWAY)
        if gateway:
            hops.add(socket.inet_ntoa(gateway))
        data = data[(length + 3) & ~3:]
    return frozenset(hops)


class FibPoll:
    """Every change of PREFIX's next hops in namespace NS's main table, as
    (unix time, frozenset of next hops); the empty set is "no route"."""

    def __init__(self, ns: str, prefix: str, period: float = 0.02) -> None:
        address, _, length = prefix.partition("/")
        self.dst, self.dst_len = socket.inet_aton(address), int(length or 32)
        self.ns, self.period = ns, period
        self.events: list[tuple[float, frozenset[str]]] = []
        self.polls = 0
        self.longest_interval = 0.0  # between two polls: how well the period held
        self.error: Optional[str] = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(5):
            raise RuntimeError(f"FIB poll of {ns} did not start")
        if self.error:
            raise RuntimeError(f"FIB poll of {ns}: {self.error}")

    def _open(self) -> socket.socket:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/var/run/netns/{self.ns}", "rb") as target:
            if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)

    def _run(self) -> None:
        try:
            sock = self._open()
            self.events.append((time.time(), self._read(sock, 1)))
        except OSError as error:
            self.error = str(error)
            return
        finally:
            self.ready.set()
        with sock:
            seq, last = 1, time.monotonic()
            while not self.stopping.wait(max(0.0, last + self.period - time.monotonic())):
                seq += 1
                now = time.monotonic()
                self.longest_interval = max(self.longest_interval, now - last)
                last = now
                try:
                    hops = self._read(sock, seq)
                except OSError as error:
                    self.error = str(error)
                    return
                with self.lock:
                    self.polls += 1
                    if hops != self.events[-1][1]:
                        self.events.append((time.time(), hops))

    def _read(self, sock: socket.socket, seq: int) -> frozenset[str]:
        """One dump of the main table: the prefix's next hops."""
        rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        sock.send(struct.pack("=IHHII", 16 + len(rtmsg), RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP,
                              seq, 0) + rtmsg)
        hops: frozenset[str] = frozenset()
        while True:
            data = sock.recv(65536)
            while len(data) >= 16:
                length, kind, _, msg_seq, _ = struct.unpack_from("=IHHII", data)
                body, data = data[16:length], data[(length + 3) & ~3:]
                if msg_seq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return hops
                if kind == NLMSG_ERROR:
                    raise OSError(-struct.unpack_from("=i", body)[0], "netlink route dump")
                if kind == RTM_NEWROUTE and body[1] == self.dst_len:
                    attrs = _attributes(body[12:])
                    table = struct.unpack("=I", attrs[RTA_TABLE])[0] if RTA_TABLE in attrs \
                        else body[4]
                    if table == RT_TABLE_MAIN and attrs.get(RTA_DST) == self.dst:
                        hops = _next_hops(attrs)

    def changes(self, since: float, until: float) -> list[tuple[float, frozenset[str]]]:
        with self.lock:
            return [e for e in self.events[1:] if since <= e[0] <= until]

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
