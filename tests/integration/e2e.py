"""Helpers shared by the end-to-end suites (health failover, tcp mode, shutdown, reload):
backend state from the admin API, log timestamps, steady keep-alive load, and a tiny
scriptable HTTP origin for cases clb-test-backend cannot play (keep-alive races)."""

from __future__ import annotations

import collections
import datetime
import http.client
import re
import socket
import threading
import time
from typing import Callable, Optional

import clb

LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")


# ---- admin API ------------------------------------------------------------------------


def backend_status(proxy: clb.Proxy, service: str, backend: str) -> dict:
    """The backend's object from GET /api/v1/status."""
    for svc in proxy.admin_json()["services"]:
        if svc["name"] != service:
            continue
        for entry in svc["backends"]:
            if entry["name"] == backend:
                return entry
    raise KeyError(f"{service}/{backend} not in /api/v1/status")


def is_up(proxy: clb.Proxy, service: str, backend: str) -> bool:
    return bool(backend_status(proxy, service, backend)["up"])


def wait_state(proxy: clb.Proxy, service: str, backend: str, up: bool,
               timeout: float = clb.DEFAULT_TIMEOUT) -> None:
    clb.wait_until(lambda: is_up(proxy, service, backend) == up, timeout,
                   message=f"{service}/{backend} {'UP' if up else 'DOWN'}")


def wait_all_up(proxy: clb.Proxy, service: str, names: list[str],
                timeout: float = clb.DEFAULT_TIMEOUT) -> None:
    for name in names:
        wait_state(proxy, service, name, True, timeout)


def drain(proxy: clb.Proxy, service: str, backend: str, action: str = "drain") -> dict:
    response = proxy.admin_post(f"/api/v1/services/{service}/backends/{backend}/{action}")
    assert response.status == 200, response
    return response.json()


# ---- logs -----------------------------------------------------------------------------


def log_time(line: str) -> float:
    """The unix time of a contrail-lb log line ("[YYYY-mm-dd HH:MM:SS.mmm] ...")."""
    found = LOG_TIME.match(line)
    assert found, f"no timestamp in {line!r}"
    stamp = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S.%f")
    return stamp.timestamp()  # naive = local time, as spdlog writes it


def transition_pattern(service: str, backend: str, state: str) -> str:
    """Regex of the health transition line, e.g. 'backend api/b2 (...) is DOWN: ...'."""
    return rf"backend {re.escape(service)}/{re.escape(backend)} \([^)]*\) is {state}\b"


def log_lines_since(proxy: clb.Proxy, start: int, pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [line for line in proxy.log()[start:].splitlines() if regex.search(line)]


# ---- clients --------------------------------------------------------------------------


def get_backend(host: str, port: int, path: str = "/", source: Optional[str] = None,
                timeout: float = 5.0) -> tuple[int, Optional[str]]:
    """One GET on a fresh connection: (status, X-Backend)."""
    connection = http.client.HTTPConnection(
        host, port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        reply.read()
        return reply.status, reply.getheader("X-Backend")
    finally:
        connection.close()


def spread(proxy: clb.Proxy, count: int, path: str = "/", service: int | str = 0) -> collections.Counter:
    """X-Backend of `count` GETs over one keep-alive connection (a non-200 fails)."""
    host, port = proxy.service_address(service)
    seen: collections.Counter = collections.Counter()
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        for _ in range(count):
            connection.request("GET", path)
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200, reply.status
            seen[reply.getheader("X-Backend")] += 1
    finally:
        connection.close()
    return seen


class SteadyLoad:
    """A few client threads, each sending GETs over its own keep-alive connection
    (reconnecting after an error; a new connection per request with keep_alive=False)
    at a gentle pace, recording every outcome with its time. Use as a context manager;
    stop() joins the threads."""

    def __init__(self, host: str, port: int, threads: int = 3, path: str = "/",
                 pause: float = 0.002, timeout: float = 5.0, keep_alive: bool = True) -> None:
        self.host, self.port, self.path = host, port, path
        self.keep_alive = keep_alive
        self.pause, self.timeout = pause, timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok: list[tuple[float, str]] = []        # (time, X-Backend)
        self.failed: list[tuple[float, str]] = []    # (time, what happened)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "SteadyLoad":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 2)

    def _run(self) -> None:
        connection: Optional[http.client.HTTPConnection] = None
        while not self.stop_event.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            sent = time.time()
            try:
                connection.request("GET", self.path)
                reply = connection.getresponse()
                reply.read()
                if reply.status == 200:
                    with self.lock:
                        self.ok.append((time.time(), reply.getheader("X-Backend")))
                else:
                    with self.lock:
                        self.failed.append((sent, f"status {reply.status}"))
                if reply.will_close or not self.keep_alive:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                with self.lock:
                    self.failed.append((sent, repr(error)))
                connection.close()
                connection = None
            time.sleep(self.pause)
        if connection is not None:
            connection.close()

    def successes_since(self, since: float) -> collections.Counter:
        with self.lock:
            return collections.Counter(backend for at, backend in self.ok if at >= since)

    def total(self) -> int:
        with self.lock:
            return len(self.ok) + len(self.failed)

    def wait_for(self, requests: int, timeout: float = clb.DEFAULT_TIMEOUT) -> None:
        """Waits until `requests` more outcomes were recorded."""
        target = self.total() + requests
        clb.wait_until(lambda: self.total() >= target, timeout, message=f"{requests} requests")


# ---- a scriptable origin --------------------------------------------------------------


class ScriptedOrigin:
    """A minimal threaded HTTP/1.1 origin whose per-connection behaviour is a function:
    behaviour(index_on_connection, method, path) -> "answer" | "drop" | "answer-then-close".

    "answer" replies 200 with Content-Length and keep-alive (no Connection: close);
    "drop" closes the connection after reading the request, without a byte of answer
    (the backend side of the keep-alive race); "answer-then-close" replies like
    "answer" and closes the connection `close_delay` seconds later, silently.
    Every request received is recorded in self.seen as (method, path)."""

    def __init__(self, name: str, behaviour: Callable[[int, str, str], str],
                 close_delay: float = 0.05) -> None:
        self.name = name
        self.behaviour = behaviour
        self.close_delay = close_delay
        self.seen: list[tuple[str, str]] = []
        self.connections_closed = 0
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.closing = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def __enter__(self) -> "ScriptedOrigin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.closing = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(timeout=2)

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for seen in self.seen if seen == (method, path))

    def _accept(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buffer = b""
        index = 0
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                with self.lock:
                    self.seen.append((method, path))
                action = self.behaviour(index, method, path)
                index += 1
                if action == "drop":
                    return
                body = f"{method} {path} from {self.name}\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Backend: %s\r\nContent-Length: %d\r\n\r\n%s"
                             % (self.name.encode(), len(body), body))
                if action == "answer-then-close":
                    time.sleep(self.close_delay)
                    return
        except OSError:
            return
        finally:
            conn.close()
            with self.lock:
                self.connections_closed += 1
