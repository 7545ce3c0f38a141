"""HAProxy on an haproxy.cfg and contrail-lb on its translation, run one after the other
against the same clb-test-backend processes, observed the same way (test_import_haproxy.py).

Every process is started through clb._spawn, so clb's atexit hook kills what a failing
test leaves; the fixtures stop them first.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import clb

FIXTURES = Path(__file__).resolve().parent / "import_fixtures"


def render(name: str, **values) -> str:
    """A fixture with {placeholders} filled in (str.replace: HAProxy's own braces stay)."""
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def translate(clb_bin: str, haproxy_cfg: Path, out: Path,
              bird: Optional[Path] = None) -> subprocess.CompletedProcess:
    argv = [clb_bin, "--import-haproxy", str(haproxy_cfg), "-o", str(out)]
    if bird:
        argv += ["--import-bird", str(bird)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


class Exited(BaseException):
    """The balancer died while starting: not a "not yet" for clb.wait_until to retry."""


class Balancer:
    """One load balancer process (haproxy -db -f FILE, or contrail-lb -c FILE) that is
    ready when every port in `ports` accepts."""

    def __init__(self, argv: list[str], log: Path, ports: list[int]) -> None:
        self.argv, self.log_path, self.ports = argv, log, ports
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "Balancer":
        with open(self.log_path, "ab") as log:
            self.process = clb._spawn(self.argv, stdout=log, stderr=log)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise Exited(f"{self.argv[0]} exited: {self.log()}")
            return all(clb.port_accepts("127.0.0.1", p) for p in self.ports)

        clb.wait_until(ready, 10, message=f"{self.argv[0]} to listen")
        return self

    def stop(self) -> None:
        if self.process:
            clb._terminate(self.process, signal.SIGTERM, 5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def haproxy(cfg: Path, ports: list[int]) -> Balancer:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return Balancer([binary, "-db", "-f", str(cfg)], cfg.with_suffix(".log"), ports)


def contrail_lb(clb_bin: str, config: Path, ports: list[int]) -> Balancer:
    return Balancer([clb_bin, "-c", str(config)], config.with_suffix(".log"), ports)


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def answered_by(port: int, n: int, path: str = "/") -> list[str]:
    """Which backend answered each of n requests, each on a new connection."""
    names = []
    for _ in range(n):
        response = clb.http_request("127.0.0.1", port, "GET", path, timeout=10)
        assert response.status == 200, response
        names.append(response.header("X-Backend"))
    return names


def from_first(sequence: list[str], first: str) -> list[str]:
    """The round-robin cycle read from `first`: HAProxy and contrail-lb may start at a
    different server, the order is what must match."""
    at = sequence.index(first)
    return sequence[at:] + sequence[:at]


def forwarded_for(port: int) -> list[str]:
    """The X-Forwarded-For lines the backend received (GET /headers: the raw head)."""
    head = clb.http_request("127.0.0.1", port, "GET", "/headers", timeout=10).text
    return [line.split(":", 1)[1].strip() for line in head.splitlines()
            if line.lower().startswith("x-forwarded-for:")]


def haproxy_up(stats_port: int, auth: dict, proxy: str, server: str) -> bool:
    """A server's state from HAProxy's stats CSV."""
    text = clb.http_request("127.0.0.1", stats_port, "GET", "/;csv", headers=auth).text
    rows = list(csv.reader(io.StringIO(text.lstrip("# "))))
    header = rows[0]
    for row in rows[1:]:
        if len(row) == len(header) and row[0] == proxy and row[1] == server:
            return row[header.index("status")].startswith("UP")
    raise KeyError(f"{proxy}/{server} not in HAProxy's stats")


def clb_up(admin_port: int, auth: dict, service: str, backend: str) -> bool:
    body = clb.http_request("127.0.0.1", admin_port, "GET", "/api/v1/status", headers=auth).body
    for svc in json.loads(body)["services"]:
        for entry in svc["backends"] if svc["name"] == service else []:
            if entry["name"] == backend:
                return bool(entry["up"])
    raise KeyError(f"{service}/{backend} not in /api/v1/status")


def seconds_until(predicate, timeout: float) -> float:
    start = time.monotonic()
    clb.wait_until(predicate, timeout, interval=0.05)
    return time.monotonic() - start
