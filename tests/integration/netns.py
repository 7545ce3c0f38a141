"""Network namespaces for tests that need real interfaces (single-hop BFD, GTSM).

    with NamespacePair() as pair:       # two namespaces joined by a veth pair
        pair.run(pair.left, ["ip", "addr"])
        proc = subprocess.Popen(pair.exec(pair.right, ["bird", ...]))

The left end has LEFT4/LEFT6, the right end RIGHT4/RIGHT6, from private ranges that exist
only inside these namespaces. Removing the pair kills every process still inside either
namespace, then deletes them (the veth pair goes with them); an atexit hook does the same
for a test that dies half-way.
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import subprocess
from typing import Any, Optional

IP = "/usr/sbin/ip" if os.access("/usr/sbin/ip", os.X_OK) else "/sbin/ip"

LEFT4, RIGHT4 = "10.203.0.1", "10.203.0.2"
LEFT6, RIGHT6 = "fd00:203::1", "fd00:203::2"

_counter = itertools.count()
_live: set["NamespacePair"] = set()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([IP, *args], capture_output=True, text=True, timeout=10, check=check)


def unavailable() -> Optional[str]:
    """Why namespaces cannot be made here (not root, no iproute2, a sandbox), or None."""
    if not os.access(IP, os.X_OK):
        return "iproute2 (ip) is not installed"
    name = f"clb-probe-{os.getpid()}"
    try:
        made = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return f"cannot run ip netns: {error}"
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "delete", name, check=False)
    return None


class NamespacePair:
    def __init__(self, tag: str = "clb") -> None:
        n = f"{os.getpid() % 100000}x{next(_counter)}"
        self.left = f"{tag}-l-{n}"
        self.right = f"{tag}-r-{n}"
        self.left_if = f"vl{n}"[:15]
        self.right_if = f"vr{n}"[:15]

    def create(self) -> "NamespacePair":
        _live.add(self)
        try:
            _ip("netns", "add", self.left)
            _ip("netns", "add", self.right)
            _ip("link", "add", self.left_if, "type", "veth", "peer", "name", self.right_if)
            for ns, dev, v4, v6 in ((self.left, self.left_if, LEFT4, LEFT6),
                                    (self.right, self.right_if, RIGHT4, RIGHT6)):
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
                _ip("-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
                _ip("-n", ns, "link", "set", dev, "up")
        except BaseException:
            self.remove()
            raise
        return self

    def exec(self, ns: str, argv: list[str]) -> list[str]:
        """argv run inside namespace ns (ip netns exec execs it: the pid stays the same)."""
        return [IP, "netns", "exec", ns, *argv]

    def run(self, ns: str, argv: list[str], timeout: float = 10,
            check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(self.exec(ns, argv), capture_output=True, text=True,
                              timeout=timeout, check=check, stdin=subprocess.DEVNULL)

    def set_link(self, up: bool) -> None:
        """The left end up or down: a cut link, as the peer sees it."""
        _ip("-n", self.left, "link", "set", self.left_if, "up" if up else "down")

    def remove(self) -> None:
        for ns in (self.left, self.right):
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGCONT)  # a stopped process would not die
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "delete", ns, check=False)
        _ip("link", "delete", self.left_if, check=False)  # if it never moved into a namespace
        _live.discard(self)

    def __enter__(self) -> "NamespacePair":
        return self.create()

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _remove_leftovers() -> None:
    for pair in list(_live):
        pair.remove()


atexit.register(_remove_leftovers)
