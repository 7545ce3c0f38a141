"""Runs the HTTP framing corpus (framing_corpus.py) against a real proxy.

A RecordingBackend is a raw-socket origin server: it keeps every byte each connection
brought, answers each complete request with the case's scripted response (or a short
200), and notes how each connection ended (FIN or RST). run_case() plays one case
through a proxy and returns what the client and the backend saw; check() compares that
with the case. test_framing.py runs it against contrail-lb; framing_haproxy.py runs the
same corpus against HAProxy for docs/http-framing.md.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import clb
from framing_corpus import Case

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Incomplete(Exception):
    pass


def _split_request(buf: bytes) -> tuple[int, bytes, dict]:
    """Length of the first complete request in buf, its head and lower-cased fields.
    Raises _Incomplete when more bytes are needed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise _Incomplete
    head = buf[: end + 4]
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name:
            fields[name.strip().lower()] = value.strip()
    pos = end + 4
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                raise _Incomplete
            size = int(buf[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                if buf[pos : pos + 2] == b"\r\n":
                    return pos + 2, head, fields
                trailers_end = buf.find(b"\r\n\r\n", pos)
                if trailers_end < 0:
                    raise _Incomplete
                return trailers_end + 4, head, fields
            if len(buf) < pos + size + 2:
                raise _Incomplete
            pos += size + 2
    length = int(fields.get(b"content-length", b"0") or 0)
    if len(buf) < pos + length:
        raise _Incomplete
    return pos + length, head, fields


@dataclass
class _Connection:
    received: bytearray = field(default_factory=bytearray)
    ended: str = "open"  # open | fin | rst


class RecordingBackend:
    """An origin server on 127.0.0.1 that records raw bytes and answers from a script."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.connections: list[_Connection] = []
        self.requests: list[bytes] = []  # heads of the complete requests, in order
        self.script: list[Optional[bytes]] = []
        self.sockets: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self, script: list[Optional[bytes]]) -> None:
        """Forgets what was recorded; the next requests get `script` in order (then OK)."""
        with self.lock:
            for conn in self.connections:
                conn.received = bytearray()
            self.connections = [c for c in self.connections if c.ended == "open"]
            self.requests = []
            self.script = list(script)

    def received(self) -> bytes:
        with self.lock:
            return b"".join(bytes(c.received) for c in self.connections)

    def endings(self) -> list[str]:
        with self.lock:
            return [c.ended for c in self.connections if c.received or c.ended != "open"]

    def stop(self) -> None:
        self.stopped = True
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self.stopped:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = _Connection()
            with self.lock:
                self.connections.append(conn)
                self.sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, conn), daemon=True).start()

    def _next_answer(self, head: bytes) -> Optional[bytes]:
        with self.lock:
            self.requests.append(head)
            if self.script:
                return self.script.pop(0)
        return OK[: OK.index(b"\r\n\r\n") + 4] if head.startswith(b"HEAD ") else OK

    def _serve(self, sock: socket.socket, conn: _Connection) -> None:
        pending = b""
        tunnel = False
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                conn.ended = "rst"
                return
            except OSError:
                return
            if not data:
                conn.ended = "fin"
                return
            with self.lock:
                conn.received += data
            if tunnel:
                sock.sendall(data)
                continue
            pending += data
            while pending:
                try:
                    length, head, fields = _split_request(pending)
                except _Incomplete:
                    break
                except ValueError:  # what a strict proxy must never let through
                    pending = b""
                    break
                pending = pending[length:]
                answer = self._next_answer(head)
                if answer is not None:
                    sock.sendall(answer)
                    tunnel = answer.startswith(b"HTTP/1.1 101")


class _Client(clb.RawConnection):
    """A RawConnection that also keeps every byte it received, for assertions."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout)
        self.transcript = b""

    def _fill(self, deadline: float) -> bool:
        before = len(self.buffer)
        more = super()._fill(deadline)
        self.transcript += self.buffer[before:]
        return more


@dataclass
class Outcome:
    status: Optional[int]  # first final status the client read; None: closed without one
    closed: bool  # the proxy closed the client connection after it
    then_status: Optional[int]
    client_received: bytes
    backend_received: bytes
    backend_requests: int
    backend_endings: list[str]
    backend_request_lines: list[bytes]
    error: str = ""

    def summary(self) -> str:
        got = "nothing" if not self.backend_received else f"{len(self.backend_received)} B"
        return (f"{self.status or '-'}{', close' if self.closed else ''}"
                f"{f', then {self.then_status}' if self.then_status else ''}; backend: {got}"
                f", {self.backend_requests} req")


def run_case(case: Case, proxy: tuple[str, int], backend: RecordingBackend,
             timeout: float = 2.0) -> Outcome:
    backend.reset(case.responses)
    status = then_status = None
    closed = False
    error = ""
    client = _Client(*proxy, timeout=timeout)
    try:
        for i, piece in enumerate(case.send):
            if i:
                time.sleep(case.pause)
            client.send(piece)
        response = client.read_response(head_request=case.send[0].startswith(b"HEAD "))
        status = response.status
        if case.then is not None:
            client.send(case.then)
            then_status = client.read_response().status
    except (ConnectionError, TimeoutError, OSError, ValueError) as e:
        error = f"{type(e).__name__}: {e}"
    try:
        closed = client.eof or client.closed_by_peer(0.5 if error else 1.0)
    except OSError:
        closed = True
    client.close()
    time.sleep(0.05)  # the backend's reader threads catch up
    lines = [head.split(b"\r\n")[0] for head in backend.requests]
    return Outcome(status, closed, then_status, client.transcript, backend.received(),
                   len(lines), backend.endings(), lines, error)


def check(case: Case, out: Outcome) -> list[str]:
    """What in `out` differs from what `case` expects (empty: it passed)."""
    problems = []
    if out.status != case.status:
        problems.append(f"status {out.status}, expected {case.status} ({out.error})")
    if case.closed is not None and out.closed != case.closed:
        problems.append("connection left open" if case.closed else "connection closed")
    if case.then is not None and out.then_status != case.then_status:
        problems.append(f"next request got {out.then_status}, expected {case.then_status}")
    if case.backend_silent and out.backend_received:
        problems.append(f"backend received {out.backend_received[:120]!r}")
    for part in case.reaches:
        if part not in out.backend_received:
            problems.append(f"backend never received {part!r}")
    for part in case.never:
        if part in out.backend_received:
            problems.append(f"backend received {part!r}")
    if case.backend_requests is not None and out.backend_requests != case.backend_requests:
        problems.append(f"backend completed {out.backend_requests} requests, "
                        f"expected {case.backend_requests}")
    for part in case.client_never:
        if part in out.client_received:
            problems.append(f"client received {part!r}")
    if case.backend_reset and "rst" not in out.backend_endings:
        problems.append(f"backend connection not reset: {out.backend_endings}")
    return problems
