"""Harness for the contrail-lb integration tests: processes, ports, configs, raw HTTP.

Everything here bounds its waiting with a deadline, and every process it starts is
registered so that the fixtures (conftest.py) and, as a last resort, an atexit hook
kill it even when a test fails half-way.

Binaries come from the environment (ctest sets both), or from build/ by default:
  CLB_BIN          contrail-lb
  CLB_BACKEND_BIN  clb-test-backend
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 10.0  # seconds; no single wait in a test should need more


def clb_bin() -> str:
    return os.environ.get("CLB_BIN") or str(REPO_ROOT / "build" / "contrail-lb")


def backend_bin() -> str:
    return os.environ.get("CLB_BACKEND_BIN") or str(REPO_ROOT / "build" / "clb-test-backend")


# ---- waiting ------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Polls predicate until it returns something truthy, which is returned.

    Exceptions from the predicate count as "not yet"; the last one is reported when
    the deadline passes (as TimeoutError)."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - a probe failing is "not yet"
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)


# ---- ports --------------------------------------------------------------------------

_handed_out_ports: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on now and that this process has not
    handed out before (so two fixtures never get the same one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("no free port found")


def split_address(address: str) -> tuple[str, int]:
    """'127.0.0.1:8082' or '[::1]:8082' -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---- processes ----------------------------------------------------------------------

_live_processes: set[subprocess.Popen] = set()


def _kill_leftovers() -> None:
    for process in list(_live_processes):
        if process.poll() is None:
            process.kill()
            process.wait()
    _live_processes.clear()


atexit.register(_kill_leftovers)


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen:
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kwargs)
    _live_processes.add(process)
    return process


def _terminate(process: subprocess.Popen, sig: int, timeout: float) -> int:
    """Sends sig and waits; SIGKILL after timeout. Returns the exit code (negative
    signal number when killed by a signal, as subprocess reports it)."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _live_processes.discard(process)
    return process.returncode


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Backend:
    """A clb-test-backend process. Port 0 (the default) picks a free port once; the
    port then stays the same across restart()."""

    def __init__(
        self,
        name: str,
        port: int = 0,
        host: str = "127.0.0.1",
        threads: int = 1,
        tcp_echo: bool = False,
        log_dir: Optional[Path] = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self.threads = threads
        self.tcp_echo = tcp_echo
        self.log_path = (log_dir / f"backend-{name}.log") if log_dir else None
        self.process: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return join_address(self.host, self.port)

    def url(self, path: str = "/") -> str:
        return f"http://{self.address}{path}"

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> "Backend":
        argv = [backend_bin(), "--listen", self.address, "--name", self.name]
        argv += ["--threads", str(self.threads)]
        if self.tcp_echo:
            argv.append("--tcp-echo")
        stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = _spawn(argv, stdout=subprocess.PIPE, stderr=stderr)
        finally:
            if self.log_path:
                stderr.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process and self.process.stdout
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"backend {self.name} on {self.address} did not become ready")
            readable, _, _ = select.select([self.process.stdout], [], [], remaining)
            if readable:
                chunk = os.read(self.process.stdout.fileno(), 1)
                if not chunk:
                    continue  # EOF: poll() reports the exit on the next round
                line += chunk
        if not line.startswith(b"ready "):
            self.kill()
            raise RuntimeError(f"backend {self.name}: unexpected output {line!r}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> Optional[int]:
        if not self.process:
            return None
        code = _terminate(self.process, sig, timeout)
        if self.process.stdout:
            self.process.stdout.close()
        return code

    def kill(self) -> Optional[int]:
        """SIGKILL: the backend dies without closing anything gracefully."""
        return self.stop(signal.SIGKILL)

    def restart(self, timeout: float = DEFAULT_TIMEOUT) -> "Backend":
        self.stop()
        return self.start(timeout)

    # Conveniences over the backend's own endpoints.
    def get(self, path: str = "/", **kwargs: Any) -> "Response":
        return http_request(self.host, self.port, "GET", path, **kwargs)

    def fail_health(self) -> None:
        assert http_request(self.host, self.port, "POST", "/admin/fail").status == 200

    def recover_health(self) -> None:
        assert http_request(self.host, self.port, "POST", "/admin/recover").status == 200

    def stats(self) -> dict:
        return json.loads(self.get("/stats").body)


class Proxy:
    """A contrail-lb process running a config given as a Python dict.

    The config file and the stderr log live in workdir. start() waits until every
    service listener accepts and, when admin is configured, GET /healthz answers 200."""

    def __init__(self, config: dict, workdir: Path, binary: Optional[str] = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "contrail-lb.yaml"
        self.log_path = self.workdir / "contrail-lb.log"
        self.binary = binary or clb_bin()
        self.config = config
        self.process: Optional[subprocess.Popen] = None
        self.write_config(config)

    def write_config(self, config: dict) -> None:
        self.config = config
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config_path)  # a reload never sees half a file

    def start(self, wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
              stderr: Optional[int] = None) -> "Proxy":
        """stderr: a file descriptor to log to instead of the log file (e.g. a pipe)."""
        with open(self.log_path, "ab") as log:
            self.process = _spawn(
                [self.binary, "-c", str(self.config_path)], stdout=log,
                stderr=log if stderr is None else stderr
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        def ready() -> bool:
            if not self.alive:
                raise ProcessExited(self)
            for address in self.listen_addresses():
                if not port_accepts(*split_address(address)):
                    return False
            if self.admin_address:
                return self.admin_get("/healthz").status == 200
            return True

        try:
            wait_until(ready, timeout, interval=0.02, message="contrail-lb to listen")
        except ProcessExited:
            raise RuntimeError(f"contrail-lb exited with {self.process.returncode}:\n{self.log()}")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n--- contrail-lb log ---\n{self.log()}") from None

    def listen_addresses(self) -> list[str]:
        addresses = []
        for service in self.config.get("services", []):
            listen = service.get("listen", [])
            addresses += [listen] if isinstance(listen, str) else listen
        return addresses

    def service_address(self, service: int | str = 0) -> tuple[str, int]:
        """(host, port) of a service's first listener, by index or name; a 0.0.0.0 or
        :: listener is reached via loopback."""
        services = self.config["services"]
        if isinstance(service, str):
            service = next(i for i, s in enumerate(services) if s["name"] == service)
        listen = services[service]["listen"]
        host, port = split_address(listen if isinstance(listen, str) else listen[0])
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return host, port

    def url(self, path: str = "/", service: int | str = 0) -> str:
        host, port = self.service_address(service)
        return f"http://{join_address(host, port)}{path}"

    def get(self, path: str = "/", service: int | str = 0, **kwargs: Any) -> "Response":
        return http_request(*self.service_address(service), "GET", path, **kwargs)

    @property
    def admin_address(self) -> Optional[tuple[str, int]]:
        listen = (self.config.get("admin") or {}).get("listen")
        return split_address(listen) if listen else None

    def admin_get(self, path: str, timeout: float = 5.0) -> "Response":
        assert self.admin_address, "no admin.listen in this config"
        return http_request(*self.admin_address, "GET", path, timeout=timeout)

    def admin_post(self, path: str, timeout: float = 5.0) -> "Response":
        assert self.admin_address, "no admin.listen in this config"
        return http_request(*self.admin_address, "POST", path, timeout=timeout)

    def admin_json(self, path: str = "/api/v1/status") -> Any:
        response = self.admin_get(path)
        assert response.status == 200, response
        return json.loads(response.body)

    def metrics(self) -> str:
        return self.admin_get("/metrics").text

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process
        return self.process.pid

    def send_signal(self, sig: int) -> None:
        assert self.process
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> Optional[int]:
        """Sends sig, waits up to timeout (then SIGKILL), returns the exit code."""
        if not self.process:
            return None
        return _terminate(self.process, sig, timeout)

    def kill(self) -> Optional[int]:
        return self.stop(signal.SIGKILL)

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        assert self.process
        return self.process.wait(timeout=timeout)

    def reload(self, new_config: dict) -> None:
        """Rewrites the config file and sends SIGHUP (returns at once: wait for the
        effect you expect, e.g. with wait_for_log)."""
        self.write_config(new_config)
        self.send_signal(signal.SIGHUP)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = DEFAULT_TIMEOUT, start: int = 0) -> str:
        """Waits for a regex to match the log (from character offset start); returns
        the matching line. Use len(proxy.log()) before an action as start."""
        regex = re.compile(pattern)

        def match() -> Optional[str]:
            text = self.log()[start:]
            found = regex.search(text)
            if not found:
                return None
            begin = text.rfind("\n", 0, found.start()) + 1
            end = text.find("\n", found.end())
            return text[begin : end if end >= 0 else len(text)]

        return wait_until(match, timeout, interval=0.05, message=f"log line /{pattern}/")

    def rss_kib(self) -> int:
        return rss_kib(self.pid)


class ProcessExited(Exception):
    pass


# ---- configs ------------------------------------------------------------------------

FAST_HTTP_CHECK = {
    "type": "http",
    "path": "/health",
    "expect_status": [200],
    "interval": "100ms",
    "timeout": "500ms",
    "rise": 2,
    "fall": 2,
}


def backend_entries(backends: Iterable[Backend], **fields: Any) -> list[dict]:
    return [{"name": b.name, "address": b.address, **fields} for b in backends]


def make_service(
    name: str,
    port: int,
    backends: Iterable[Backend] | list[dict],
    mode: str = "http",
    balance: str = "roundrobin",
    health_check: Optional[dict] = None,
    host: str = "127.0.0.1",
    **extra: Any,
) -> dict:
    """A service section: fast HTTP health checks on /health by default (a tcp
    check in tcp mode); extra keys (retries, timeouts, tls, ...) are added as given."""
    entries = [b if isinstance(b, dict) else backend_entries([b])[0] for b in backends]
    if health_check is None:
        health_check = dict(FAST_HTTP_CHECK) if mode == "http" else {
            "type": "tcp", "interval": "100ms", "timeout": "500ms", "rise": 2, "fall": 2}
    service = {
        "name": name,
        "listen": [join_address(host, port)],
        "mode": mode,
        "balance": balance,
        "health_check": health_check,
        "backends": entries,
    }
    service.update(extra)
    return service


def make_config(
    services: list[dict],
    admin_port: Optional[int] = None,
    bgp: Optional[dict] = None,
    workers: int | str = 1,
    log_level: str = "debug",
    access_log: bool = True,
    grace: str = "2s",
    **global_extra: Any,
) -> dict:
    config: dict = {
        "global": {
            "workers": workers,
            "log_level": log_level,
            "access_log": access_log,
            "grace": grace,
            **global_extra,
        },
        "services": services,
    }
    if admin_port:
        config["admin"] = {"listen": f"127.0.0.1:{admin_port}"}
    if bgp:
        config["bgp"] = bgp
    return config


# ---- HTTP clients -------------------------------------------------------------------


class Response:
    """One HTTP response: status, reason, version, headers (list of pairs, in order),
    body (bytes); header(name) is case-insensitive."""

    def __init__(self, version: str, status: int, reason: str, headers: list, body: bytes):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} {len(self.body)} bytes>"


def http_request(
    host: str,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: Any = None,
    headers: Optional[dict] = None,
    timeout: float = 5.0,
) -> Response:
    """One request on a fresh connection (http.client). A body that is an iterable
    of bytes (not bytes) is sent chunked."""
    headers = dict(headers or {})
    chunked = body is not None and not isinstance(body, (bytes, bytearray, str))
    if chunked:
        headers.setdefault("Transfer-Encoding", "chunked")
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        reply = connection.getresponse()
        data = reply.read()
        version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(reply.version, str(reply.version))
        return Response(version, reply.status, reply.reason, reply.getheaders(), data)
    finally:
        connection.close()


class RawConnection:
    """A plain TCP connection for byte-exact HTTP tests (smuggling, pipelining,
    half-close): send() what you like, then read responses with a deadline.

        with RawConnection(host, port) as c:
            c.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            response = c.read_response()
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""
        self.eof = False

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False at EOF. Raises TimeoutError past the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete response before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete response before the deadline") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _take_until(self, marker: bytes, deadline: float) -> bytes:
        while marker not in self.buffer:
            if not self._fill(deadline):
                raise ConnectionError(f"connection closed before {marker!r}: {self.buffer!r}")
        index = self.buffer.index(marker) + len(marker)
        taken, self.buffer = self.buffer[:index], self.buffer[index:]
        return taken

    def _take(self, size: int, deadline: float) -> bytes:
        while len(self.buffer) < size:
            if not self._fill(deadline):
                raise ConnectionError(f"connection closed {size - len(self.buffer)} bytes short")
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def read_response(self, timeout: Optional[float] = None, head_request: bool = False) -> Response:
        """Reads exactly one response (skipping 1xx interim responses unless it is a
        101), framed by Content-Length, chunked, or connection close."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            head = self._take_until(b"\r\n\r\n", deadline).decode("latin-1")
            lines = head.split("\r\n")
            version, status_text, *reason = lines[0].split(" ", 2)
            status = int(status_text)
            headers = []
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers.append((name.strip(), value.strip()))
            response = Response(version, status, reason[0] if reason else "", headers, b"")
            if 100 <= status < 200 and status != 101:
                continue
            break
        if head_request or status in (101, 204, 304):
            return response
        encoding = (response.header("Transfer-Encoding") or "").lower()
        if "chunked" in encoding:
            body = b""
            while True:
                size_line = self._take_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._take_until(b"\r\n", deadline) != b"\r\n":
                        pass  # trailers
                    break
                body += self._take(size, deadline)
                self._take(2, deadline)
            response.body = body
        elif response.header("Content-Length") is not None:
            response.body = self._take(int(response.header("Content-Length")), deadline)
        else:
            response.body = self.read_until_close(deadline - time.monotonic())
        return response

    def read_until_close(self, timeout: Optional[float] = None) -> bytes:
        """Everything until the peer closes (TimeoutError if it does not)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        data, self.buffer = self.buffer, b""
        return data

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True when the peer closes within timeout; bytes arriving meanwhile stay in
        self.buffer."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            return False
        return True


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 5.0,
                 shutdown_write: bool = False) -> bytes:
    """Sends data on a fresh connection and returns all bytes received until the peer
    closes or the timeout passes (whatever arrived by then)."""
    with RawConnection(host, port, timeout) as connection:
        connection.send(data)
        if shutdown_write:
            connection.shutdown_write()
        connection.closed_by_peer(timeout)
        return connection.buffer
