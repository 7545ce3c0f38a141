#!/usr/bin/env python3
"""Side-by-side cost of contrail-lb, HAProxy and nginx as HTTP reverse proxies.

    bash bench/run.sh [--smoke] [options]        (see --help; docs/benchmarks.md)

One backend (Debian's nginx with its own config, or clb-test-backend) serves every
target. The proxy under test runs alone on one CPU; the load generator (wrk) and the
backend share another (taskset). Targets are measured interleaved -- direct, HAProxy,
nginx, contrail-lb, then again -- so that drift on a shared machine hits all alike, and
each figure is the median of the repeats.

Per target and workload: req/s, p50/p99 latency, CPU time per request of each process
(proxy, backend, load generator; utime+stime from /proc/PID/stat, wait4 for wrk) and
their sum, backend connections opened (nginx stub_status) and held (ss), TCP segments
sent per request (the OutSegs counter nstat reads), and for idle keep-alive connections
the growth of the serving process's RSS per connection (opened one at a time, or in
bursts of 512 concurrent requests and read after a settle time), and system calls per
request from a separate short run under strace -c. A run is flagged "disturbed"
when the machine's busy CPU time (/proc/stat) exceeds what the measured processes used
by more than --foreign-limit percent of the machine.

Writes a markdown report and a PNG chart (gnuplot) into --out.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

SMALL_PATH = "/"
LARGE_PATH = "/bytes/65536"
UPLOAD_PATH = "/sink"
UPLOAD_BYTES = 1 << 20


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    connections: int
    path: str
    close: bool = False  # a new connection per request
    upload: bool = False  # POST 1 MiB per request
    idle: bool = False  # open idle keep-alive connections, measure RSS
    batch: int = 1  # idle workloads: requests in flight at once while the connections open
    tls: bool = False  # over TLS to the target (tls_port)
    resume: bool = True  # TLS, new connection per request: resume the session (wrk does)


WORKLOADS = [
    Workload("small", "small GET, keep-alive", 64, SMALL_PATH),
    Workload("newconn", "new connection per request", 32, SMALL_PATH, close=True),
    Workload("64k", "64 KiB responses, keep-alive", 64, LARGE_PATH),
    Workload("upload", "1 MiB uploads, keep-alive", 16, UPLOAD_PATH, upload=True),
    Workload("idle", "idle keep-alive connections", 0, SMALL_PATH, idle=True),
    Workload("burst", "idle keep-alive connections after a burst (batches of 512)", 0, SMALL_PATH, idle=True, batch=512),
    # ---- TLS (issue 18): the same certificate on every target, TLS 1.2 and 1.3 enabled,
    # every client negotiates 1.3. wrk resumes its session on reconnect (SSL_clear keeps
    # it); tls-newconn preloads a shim that makes it forget the session: full handshakes.
    Workload("tls-small", "TLS small GET, keep-alive", 64, SMALL_PATH, tls=True),
    Workload("tls-newconn", "TLS new connection per request, full handshake", 32, SMALL_PATH, close=True, tls=True, resume=False),
    Workload("tls-resume", "TLS new connection per request, resumed session", 32, SMALL_PATH, close=True, tls=True),
    Workload("tls-64k", "TLS 64 KiB responses, keep-alive", 64, LARGE_PATH, tls=True),
]
IDLE_WORKLOADS = {w.name for w in WORKLOADS if w.idle}
TARGET_TITLES = {
    "direct": "direct (backend alone)",
    "haproxy": "HAProxy",
    "nginx": "nginx (reverse proxy)",
    "contrail-lb": "contrail-lb",
    "contrail-lb-b": "contrail-lb (--clb-bin-b)",
}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- /proc readers -----------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (nginx: master and workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of every thread of these processes."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except OSError:
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU time every CPU spent not idle, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def tcp_out_segments() -> int:
    """Tcp OutSegs from /proc/net/snmp (what `nstat TcpOutSegs` reports)."""
    lines = [l.split() for l in Path("/proc/net/snmp").read_text().splitlines() if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("OutSegs")])


def connections_to(port: int, owners: list[int]) -> int:
    """Established TCP connections to 127.0.0.1:port that these processes opened."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, check=False,
    ).stdout
    marks = tuple(f"pid={pid}," for pid in owners)
    return sum(1 for line in out.splitlines() if any(m in line for m in marks))


# ---- processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Never through an http_proxy from the environment: every request here is to 127.0.0.1.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_http(url: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with HTTP.open(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f}s ({last})")


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


class Daemons:
    """Every process the run starts; all are stopped on exit, whatever happens."""

    def __init__(self, work: Path):
        self.work = work
        self.procs: list[subprocess.Popen] = []
        self.started = 0
        self.names: list[str] = []

    def unique(self, base: str) -> str:
        """A name for one instance's config, log and pid files."""
        self.started += 1
        return f"{base}-{self.started}"

    def last_log(self) -> Path:
        return self.work / f"{self.names[-1]}.log"

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.names.append(name)
        out = open(self.work / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop(self, procs: list[subprocess.Popen]) -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p in self.procs:
                self.procs.remove(p)

    def stop_all(self) -> None:
        self.stop(list(self.procs))


@dataclass
class Target:
    name: str
    port: int
    pid: int | None  # the proxy process; for "direct" the backend
    version: str = ""
    backend_port: int = 0  # where the proxy sends its requests (0: direct)
    tls_port: int = 0  # its TLS listener (0: none)

    def pids(self) -> list[int]:
        """The proxy's processes (none for direct: the backend is counted as such)."""
        return process_tree(self.pid) if self.backend_port else []


ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
NGINX_COMMON = """
worker_processes 1;
worker_rlimit_nofile {fds};
daemon off;
master_process on;
user root;
pid {work}/{name}.pid;
error_log {work}/{name}.error.log warn;
events {{ worker_connections 30000; multi_accept on; }}
"""

NGINX_TEMP = """
    client_body_temp_path {work}/{name}-tmp/body;
    proxy_temp_path {work}/{name}-tmp/proxy;
    fastcgi_temp_path {work}/{name}-tmp/fastcgi;
    uwsgi_temp_path {work}/{name}-tmp/uwsgi;
    scgi_temp_path {work}/{name}-tmp/scgi;
"""


def start_nginx_backend(d: Daemons, args, port: int, status_port: int, tls_port: int = 0) -> int:
    work, name = d.work, d.unique("backend-nginx")
    docroot = work / "docroot"
    if not docroot.exists():
        (docroot / "bytes").mkdir(parents=True)
        (docroot / "bytes" / "65536").write_bytes(b"x" * 65536)
    (work / f"{name}-tmp").mkdir()
    conf = work / f"{name}.conf"
    # An API server reads the whole request before it answers: so does the sink, else a
    # proxy sees the answer before it sent the body and may not reuse the connection.
    if Path(ECHO_MODULE).exists():
        load, sink = f"load_module {ECHO_MODULE};\n", 'echo_read_request_body; echo "received";'
    else:
        load, sink = "", "return 200 'received\\n';"
        log(f"{ECHO_MODULE} missing (libnginx-mod-http-echo): the upload sink answers before reading the body")
    conf.write_text(
        load
        + NGINX_COMMON.format(work=work, name=name, fds=fd_limit())
        + "http {\n"
        + NGINX_TEMP.format(work=work, name=name)
        + f"""
    access_log off;
    client_body_buffer_size 1100k;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    client_max_body_size 2m;
    open_file_cache max=16;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        {nginx_tls_listen(args, tls_port)}
        root {docroot};
        location = / {{ default_type application/json; return 200 '{{"name": "bench", "href": "http://backend/"}}\\n'; }}
        location = /sink {{ {sink} }}
        location /bytes/ {{ }}
    }}
    server {{
        listen 127.0.0.1:{status_port};
        location / {{ stub_status; }}
    }}
}}
"""
    )
    p = d.start(name, pinned(args.load_cpu, ["nginx", "-e", str(work / f"{name}.error.log"), "-c", str(conf)]))
    wait_http(f"http://127.0.0.1:{port}/")
    return p.pid


def start_clb_backend(d: Daemons, args, port: int) -> int:
    p = d.start(d.unique("backend-clb"), pinned(args.load_cpu, [args.clb_backend_bin, "--listen", f"127.0.0.1:{port}", "--name", "bench", "--threads", "1"]))
    wait_http(f"http://127.0.0.1:{port}/")
    return p.pid


def start_haproxy(d: Daemons, args, port: int, backend_port: int) -> Target:
    name = d.unique("haproxy")
    tls_port = free_port() if args.tls else 0
    conf = d.work / f"{name}.cfg"
    conf.write_text(
        f"""global
    nbthread 1
    maxconn {args.idle_connections + 2000}
    ulimit-n {fd_limit()}
    no strict-limits  # it reserves 2 fds per connection; idle client connections use 1

defaults
    mode http
    option http-keep-alive
    http-reuse always
    option forwardfor
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 30s

frontend bench
    bind 127.0.0.1:{port}
    {haproxy_tls_bind(args, tls_port)}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    default_backend bench

backend bench
    balance roundrobin
    server bench 127.0.0.1:{backend_port}
"""
    )
    p = d.start(name, pinned(args.proxy_cpu, [args.haproxy, "-db", "-f", str(conf)]))
    version = subprocess.run([args.haproxy, "-v"], capture_output=True, text=True).stdout.split()[2]
    return Target("haproxy", port, p.pid, f"HAProxy {version}, nbthread 1, http-reuse always", backend_port, tls_port)


def start_nginx_proxy(d: Daemons, args, port: int, backend_port: int) -> Target:
    work, name = d.work, d.unique("proxy-nginx")
    tls_port = free_port() if args.tls else 0
    (work / f"{name}-tmp").mkdir()
    conf = work / f"{name}.conf"
    conf.write_text(
        NGINX_COMMON.format(work=work, name=name, fds=fd_limit())
        + "http {\n"
        + NGINX_TEMP.format(work=work, name=name)
        + f"""
    access_log off;
    keepalive_timeout 30s;
    keepalive_requests 10000000;
    client_max_body_size 2m;
    upstream bench {{
        server 127.0.0.1:{backend_port};
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        {nginx_tls_listen(args, tls_port)}
        location / {{
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_request_buffering off;
            proxy_buffers 8 16k;
            proxy_buffer_size 16k;
            proxy_max_temp_file_size 0;
            proxy_connect_timeout 3s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
        }}
    }}
}}
"""
    )
    p = d.start(name, pinned(args.proxy_cpu, ["nginx", "-e", str(work / f"{name}.error.log"), "-c", str(conf)]))
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    return Target("nginx", port, p.pid, f"nginx {version}, 1 worker, upstream keepalive 64", backend_port, tls_port)


def start_contrail_lb(d: Daemons, args, port: int, backend_port: int, target: str = "contrail-lb") -> Target:
    binary = args.clb_bin_b if target == "contrail-lb-b" else args.clb_bin
    name = d.unique(target)
    tls_port = free_port() if args.tls else 0
    conf = d.work / f"{name}.yaml"
    conf.write_text(
        f"""global:
  workers: 1
  log_level: warn
  access_log: false
  max_connections: 30000
services:
  - name: bench
    listen: ["127.0.0.1:{port}"]
    mode: http
    balance: roundrobin
    timeouts:
      connect: 3s
      client: 60s
      server: 60s
      http_request: 10s
      keep_alive: 30s
    health_check:
      type: none
    backends:
      - {{ name: bench, address: "127.0.0.1:{backend_port}" }}
{clb_tls_service(args, tls_port, backend_port)}"""
    )
    p = d.start(name, pinned(args.proxy_cpu, [binary, "-c", str(conf)]))
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    return Target(target, port, p.pid, f"{version} ({binary}), workers 1", backend_port, tls_port)


# ---- TLS (issue 18) ----------------------------------------------------------------
# One certificate for every target, made at start in the work directory; each target gets
# a second listener with it when a TLS workload is selected. TLS 1.2 and 1.3 on all three
# (nginx 1.22 leaves 1.3 out by default); session resumption as each ships it (HAProxy:
# tickets + its shared cache; nginx: tickets + a shared cache, as commonly deployed).


@dataclass
class TlsSetup:
    cert: Path  # certificate (PEM)
    key: Path
    combined: Path  # certificate + key, as HAProxy's crt wants it
    no_resume: Path  # LD_PRELOAD shim: wrk forgets its session on reconnect
    kind: str


NO_RESUME_SHIM = r"""
/* wrk keeps its TLS session across reconnects (SSL_clear keeps it), so a new connection
   per request is a resumed handshake. Preloaded, this drops it: full handshakes. */
#define _GNU_SOURCE
#include <dlfcn.h>
typedef struct ssl_st SSL;
int SSL_set_session(SSL *s, void *session);
int SSL_clear(SSL *s) {
    static int (*real)(SSL *);
    if (!real) real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    int r = real(s);
    SSL_set_session(s, 0);
    return r;
}
"""


def make_tls(work: Path, kind: str) -> TlsSetup:
    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "p256" else ["-newkey", "rsa:2048"]
    cert, key, combined = work / "bench-cert.pem", work / "bench-key.pem", work / "bench-combined.pem"
    subprocess.run(
        ["openssl", "req", "-x509", *key_args, "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "7",
         "-subj", "/CN=bench", "-addext", "subjectAltName=DNS:bench,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    combined.write_text(cert.read_text() + key.read_text())
    src, shim = work / "no_resume.c", work / "no_resume.so"
    src.write_text(NO_RESUME_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(src), "-ldl"], check=True)
    return TlsSetup(cert, key, combined, shim, kind)


def haproxy_tls_bind(args, tls_port: int) -> str:
    if not tls_port:
        return ""
    return f"bind 127.0.0.1:{tls_port} ssl crt {args.tls.combined} ssl-min-ver TLSv1.2"


def nginx_tls_listen(args, tls_port: int) -> str:
    if not tls_port:
        return ""
    return (
        f"listen 127.0.0.1:{tls_port} ssl backlog=4096; ssl_certificate {args.tls.cert}; "
        f"ssl_certificate_key {args.tls.key}; ssl_protocols TLSv1.2 TLSv1.3; "
        "ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h;"
    )


def clb_tls_service(args, tls_port: int, backend_port: int) -> str:
    if not tls_port:
        return ""
    return f"""  - name: bench-tls
    listen: ["127.0.0.1:{tls_port}"]
    mode: http
    balance: roundrobin
    tls: {{ cert: {args.tls.cert}, key: {args.tls.key} }}
    timeouts: {{ connect: 3s, client: 60s, server: 60s, http_request: 10s, keep_alive: 30s }}
    health_check: {{ type: none }}
    backends:
      - {{ name: bench, address: "127.0.0.1:{backend_port}" }}
"""


def tls_records_per_response(port: int, path: str, close: bool, resume: bool, requests: int = 50) -> float:
    """TLS records the client receives per response (new connections: the handshake's and
    the session tickets included; `resume`: each offers the last session), counted from
    the record headers of the raw stream under a MemoryBIO TLS client."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{'Connection: close' if close else ''}\r\n\r\n".encode()

    class Conn:
        def __init__(self, session=None):
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = ctx.wrap_bio(self.inc, self.out, session=session)
            self.raw, self.records = b"", 0
            self.step(self.tls.do_handshake)

        def flush(self):
            data = self.out.read()
            if data:
                self.sock.sendall(data)

        def feed(self) -> bool:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.inc.write_eof()
                return False
            self.raw += chunk
            while len(self.raw) >= 5 and len(self.raw) >= 5 + int.from_bytes(self.raw[3:5], "big"):
                if self.raw[0] == 23:  # application_data (all of TLS 1.3 after the handshake)
                    self.records += 1
                self.raw = self.raw[5 + int.from_bytes(self.raw[3:5], "big"):]
            self.inc.write(chunk)
            return True

        def step(self, op, *a):
            while True:
                try:
                    r = op(*a)
                    self.flush()
                    return r
                except ssl.SSLWantReadError:
                    self.flush()
                    if not self.feed():
                        raise RuntimeError("closed during TLS")

        def response(self) -> None:
            self.step(self.tls.write, request)
            data = b""
            while True:
                try:
                    data += self.step(self.tls.read, 65536)
                except (ssl.SSLZeroReturnError, RuntimeError):
                    break
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                    if len(body) >= length:
                        break
            if close:  # what else the server sends before its close (tickets come first)
                self.sock.settimeout(0.2)
                try:
                    while self.feed():
                        pass
                except OSError:
                    pass

    if close:
        total, session = 0, None
        for _ in range(requests + (1 if resume else 0)):
            c = Conn(session if resume else None)
            c.response()
            if session is not None or not resume:  # the first makes the session to resume
                total += c.records
            session = c.tls.session
            c.sock.close()
        return total / requests
    c = Conn()
    c.response()  # tickets and first-use effects out of the way
    time.sleep(0.05)
    c.sock.setblocking(False)
    try:
        while c.feed():
            pass
    except OSError:
        pass
    c.sock.setblocking(True)
    c.sock.settimeout(5)
    c.records = 0
    for _ in range(requests):
        c.response()
    c.sock.close()
    return c.records / requests


SYSCALL_GROUPS = {
    "reads": ("read", "recvfrom", "recvmsg", "readv"),
    "writes": ("write", "sendto", "sendmsg", "writev", "sendfile", "splice"),
    "epoll_wait": ("epoll_wait", "epoll_pwait"),
    "epoll_ctl": ("epoll_ctl",),
}


@dataclass
class TlsDetail:
    target: str
    workload: str
    records: float = float("nan")  # per response, received by the client
    syscalls: dict[str, float] = field(default_factory=dict)  # per request


def tls_detail(bench, t: Target, w: Workload, seconds: float) -> TlsDetail:
    """Records per response (a probe client) and the proxy's syscalls per request (a short
    wrk run under strace -c -f): a separate run, its speed is not measured."""
    out = TlsDetail(t.name, w.name)
    try:
        out.records = tls_records_per_response(t.tls_port, w.path, w.close, w.close and w.resume)
    except Exception as e:  # noqa: BLE001 - a figure missing is not a failed benchmark
        log(f"{t.name}/{w.name}: records probe failed: {e}")
    pids = process_tree(t.pid) if t.backend_port else process_tree(t.pid)
    if not shutil.which("strace"):
        return out
    summary = bench.work / "strace.out"
    argv = ["strace", "-c", "-f", "-o", str(summary)]
    for pid in pids:
        argv += ["-p", str(pid)]
    tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    wrk = subprocess.run(bench.wrk_argv(t, w, seconds), capture_output=True, text=True, env=bench.wrk_env(w))
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=10)
    m = re.search(r"(\d+) requests in", wrk.stdout)
    n = int(m.group(1)) if m else 0
    if n:
        counts = parse_strace_counts(summary.read_text())
        for group, names in SYSCALL_GROUPS.items():
            out.syscalls[group] = sum(counts.get(x, 0) for x in names) / n
        out.syscalls["all"] = sum(counts.values()) / n
    return out


def tls_detail_markdown(details: list[TlsDetail], workloads: list[Workload], targets: list[str]) -> list[str]:
    if not details:
        return []
    lines = [
        "## TLS: records and syscalls per request",
        "",
        "Records: TLS records a client receives per response, counted by a probe client (TLS 1.3 "
        "hides the type: on a new connection the encrypted handshake messages and the session "
        "tickets count; `resumed`: the probe resumes each time). Syscalls: `strace -c -f` on the serving process during a short wrk run "
        "(separate from the timed runs; strace slows it, so fewer requests share each "
        "`epoll_wait` than in the timed runs).",
        "",
        "| workload | target | records / response | reads | writes | epoll_wait | epoll_ctl | all syscalls |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        for t in targets:
            for d in details:
                if d.workload == w.name and d.target == t:
                    s = d.syscalls
                    lines.append(
                        f"| {w.title} | {TARGET_TITLES[t]} | {fmt(d.records, 2)} | "
                        + " | ".join(fmt(s.get(k, float('nan')), 2) for k in ("reads", "writes", "epoll_wait", "epoll_ctl", "all"))
                        + " |"
                    )
    return lines + [""]



# ---- one measurement -------------------------------------------------------------


@dataclass
class Run:
    target: str
    workload: str
    seconds: float = 0.0
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    cpu_us: dict[str, float] = field(default_factory=dict)  # proxy, backend, client, sum
    backend_opened: float = 0.0  # per run
    backend_held: int = 0  # most seen at once
    segments: float = 0.0  # TCP segments sent per request (machine-wide)
    foreign_pct: float = 0.0  # machine CPU used by others, % of all CPUs
    rss_per_conn_kib: float = 0.0  # idle workload
    rss_early_kib: float = float("nan")  # burst: per connection 0.5 s after it, before the settle time
    connections: int = 0
    syscalls: float = float("nan")  # per request, from a separate short run under strace -c
    syscall_top: str = ""  # the most frequent calls per request, "recvfrom 2.00, ..."


def to_ms(value: str) -> float:
    m = re.match(r"([0-9.]+)(us|ms|s|m)", value)
    if not m:
        return float("nan")
    n = float(m.group(1))
    return n * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]


STARTERS = {
    "haproxy": start_haproxy,
    "nginx": start_nginx_proxy,
    "contrail-lb": start_contrail_lb,
    # A second build of contrail-lb, interleaved with the first: an A/B of a change.
    "contrail-lb-b": lambda d, args, port, backend_port: start_contrail_lb(d, args, port, backend_port, "contrail-lb-b"),
}


class Bench:
    def __init__(self, args, daemons: Daemons):
        self.args = args
        self.daemons = daemons
        self.work = work = daemons.work
        self.backend_pid = 0
        self.backend_port = 0
        self.backend_tls_port = 0
        self.status_port = 0
        self.targets: dict[str, Target] = {}
        self.upload_script = work / "upload.lua"
        self.upload_script.write_text(
            f'wrk.method = "POST"\nwrk.body = string.rep("u", {UPLOAD_BYTES})\n'
            'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        )

    def start_backend(self) -> None:
        self.backend_port = free_port()
        if self.args.backend == "nginx":
            self.status_port = free_port()
            self.backend_tls_port = free_port() if self.args.tls else 0
            self.backend_pid = start_nginx_backend(self.daemons, self.args, self.backend_port, self.status_port, self.backend_tls_port)
        else:
            self.backend_pid = start_clb_backend(self.daemons, self.args, self.backend_port)

    def start_target(self, name: str, fresh: bool = False) -> Target:
        """A target in front of the shared backend; fresh: "direct" gets a backend of its own."""
        if name == "direct":
            if not fresh:
                return Target("direct", self.backend_port, self.backend_pid, tls_port=self.backend_tls_port)
            port = free_port()
            if self.args.backend == "nginx":
                pid = start_nginx_backend(self.daemons, self.args, port, free_port())
            else:
                pid = start_clb_backend(self.daemons, self.args, port)
            return Target("direct", port, pid)
        t = STARTERS[name](self.daemons, self.args, free_port(), self.backend_port)
        try:
            wait_http(f"http://127.0.0.1:{t.port}/")
            if t.tls_port:
                socket.create_connection(("127.0.0.1", t.tls_port), timeout=5).close()
        except RuntimeError:
            log(f"{name} did not start; its log:")
            log(self.daemons.last_log().read_text()[-2000:])
            raise
        return t

    def backend_accepts(self) -> int:
        """Connections the backend accepted so far (nginx stub_status), -1 if unknown."""
        if not self.status_port:
            return -1
        with HTTP.open(f"http://127.0.0.1:{self.status_port}/", timeout=2) as r:
            text = r.read().decode()
        # "Active connections: 1 \nserver accepts handled requests\n 12 12 30 \n..."
        return int(text.splitlines()[2].split()[0])

    def wrk_argv(self, t: Target, w: Workload, seconds: float) -> list[str]:
        argv = ["wrk", "-t1", f"-c{w.connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]  # -d: whole seconds only
        if w.close:
            argv += ["-H", "Connection: close"]
        if w.upload:
            argv += ["-s", str(self.upload_script)]
        url = f"https://127.0.0.1:{t.tls_port}" if w.tls else f"http://127.0.0.1:{t.port}"
        return pinned(self.args.load_cpu, argv + [url + w.path])

    def wrk_env(self, w: Workload) -> dict[str, str] | None:
        """TLS without resumption: wrk with the shim that drops its session (make_tls)."""
        if w.tls and not w.resume:
            return dict(os.environ, LD_PRELOAD=str(self.args.tls.no_resume))
        return None

    def measure(self, t: Target, w: Workload, seconds: float) -> Run:
        if w.idle:
            return self.measure_idle(t, w)
        warm = subprocess.run(self.wrk_argv(t, w, self.args.warmup), capture_output=True, text=True, env=self.wrk_env(w)) if self.args.warmup else None
        if warm and warm.returncode != 0:
            raise RuntimeError(f"wrk warm-up against {t.name} failed: {warm.stderr.strip()}")
        proxy_pids = t.pids()
        backend_pids = process_tree(self.backend_pid)
        accepts0 = self.backend_accepts()
        proxy0, backend0 = cpu_seconds(proxy_pids), cpu_seconds(backend_pids)
        busy0, segs0, wall0 = machine_busy_seconds(), tcp_out_segments(), time.monotonic()
        out_path = self.work / "wrk.out"
        with open(out_path, "w") as out:
            wrk = subprocess.Popen(self.wrk_argv(t, w, seconds), stdout=out, stderr=subprocess.STDOUT, env=self.wrk_env(w))
            held = 0
            # Sample the backend connections twice while the load runs (at 50 % and 90 %).
            for pause in (0.5, 0.4):
                time.sleep(seconds * pause)
                held = max(held, connections_to(self.backend_port, proxy_pids or [wrk.pid]))
            _, status, usage = os.wait4(wrk.pid, 0)
            wrk.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - wall0
        proxy1, backend1 = cpu_seconds(proxy_pids), cpu_seconds(backend_pids)
        busy1, segs1 = machine_busy_seconds(), tcp_out_segments()
        accepts1 = self.backend_accepts()
        text = out_path.read_text()
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk against {t.name} failed:\n{text}")
        r = Run(t.name, w.name, seconds=wall, connections=w.connections)
        m = re.search(r"(\d+) requests in", text)
        r.requests = int(m.group(1)) if m else 0
        m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
        r.rps = float(m.group(1)) if m else 0.0
        for pct, attr in (("50%", "p50_ms"), ("99%", "p99_ms")):
            m = re.search(rf"^\s+{pct}\s+(\S+)", text, re.M)
            setattr(r, attr, to_ms(m.group(1)) if m else float("nan"))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        r.errors = int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if m:
            r.errors += sum(int(x) for x in m.groups())
        client = usage.ru_utime + usage.ru_stime
        n = max(r.requests, 1)
        proxy = proxy1 - proxy0
        backend = backend1 - backend0
        r.cpu_us = {
            "proxy": proxy / n * 1e6,
            "backend": backend / n * 1e6,
            "client": client / n * 1e6,
        }
        r.cpu_us["sum"] = r.cpu_us["proxy"] + r.cpu_us["backend"] + r.cpu_us["client"]
        foreign = (busy1 - busy0) - (proxy + backend + client)
        r.foreign_pct = max(0.0, foreign) / (wall * os.cpu_count()) * 100
        r.segments = (segs1 - segs0) / n
        r.backend_opened = accepts1 - accepts0 - 1 if accepts0 >= 0 else float("nan")  # less our status poll
        r.backend_held = held
        return r

    def measure_idle(self, t: Target, w: Workload) -> Run:
        """RSS growth of the serving process per idle keep-alive connection.

        Each measurement uses a server started for it: one that already held thousands of
        connections keeps their memory in its pools and would grow by nothing."""
        started = len(self.daemons.procs)
        t = self.start_target(t.name, fresh=True)
        try:
            return self.count_idle(t, w)
        finally:
            self.daemons.stop(self.daemons.procs[started:])
            time.sleep(0.2)

    def count_idle(self, t: Target, w: Workload) -> Run:
        n = self.args.idle_connections
        server_pids = process_tree(t.pid)
        request = f"GET {w.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()

        def one_request(s: socket.socket) -> None:
            s.sendall(request)
            read_response(s, t.name)

        # Warm the serving path once, so that first-use allocations are not counted.
        with socket.create_connection(("127.0.0.1", t.port)) as s:
            for _ in range(3):
                one_request(s)
        time.sleep(0.2)
        before = rss_kib(server_pids)
        wall0 = time.monotonic()
        socks = []
        early = float("nan")
        try:
            if w.batch > 1:
                early = self.open_burst(t, w, socks, request) - before
                time.sleep(self.args.burst_settle)
            else:
                for i in range(n):
                    s = socket.create_connection(("127.0.0.1", t.port))
                    s.settimeout(5)
                    one_request(s)
                    socks.append(s)
                    if self.args.progress and i and i % 2500 == 0:
                        log(f"  {t.name}: {i} idle connections open")
                time.sleep(0.5)
            after = rss_kib(server_pids)
            held = connections_to(t.backend_port, server_pids) if t.backend_port else n
        finally:
            for s in socks:
                s.close()
        r = Run(t.name, w.name, seconds=time.monotonic() - wall0, connections=n)
        r.rss_per_conn_kib = (after - before) / n
        r.rss_early_kib = early / n
        r.backend_held = held
        r.requests = n
        return r

    # ---- the burst workload (issue 18) ----

    def open_burst(self, t: Target, w: Workload, socks: list, request: bytes) -> int:
        """Opens the idle connections w.batch at a time, each batch's requests all sent
        before any response is read, so the server has w.batch requests in flight at once
        (its pools grow to that); returns the server's RSS 0.5 s after the last batch."""
        n = self.args.idle_connections
        for first in range(0, n, w.batch):
            batch = [socket.create_connection(("127.0.0.1", t.port)) for _ in range(min(w.batch, n - first))]
            socks.extend(batch)
            for s in batch:
                s.settimeout(10)
                s.sendall(request)
            for s in batch:
                read_response(s, t.name)
            if self.args.progress and first and first % 2560 == 0:
                log(f"  {t.name}: {first} idle connections open")
        time.sleep(0.5)
        return rss_kib(process_tree(t.pid))

    # ---- syscalls per request (issue 18) ----

    def count_syscalls(self, t: Target, w: Workload) -> tuple[float, str]:
        """System calls per request of the serving processes, from a short separate wrk
        run with `strace -c -f` attached (strace slows them: only the counts are used)."""
        pids = t.pids() if t.name != "direct" else process_tree(self.backend_pid)
        summary = self.work / "strace.out"
        argv = ["strace", "-c", "-f", "-o", str(summary)]
        for pid in pids:
            argv += ["-p", str(pid)]
        tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached
        res = subprocess.run(self.wrk_argv(t, w, self.args.syscall_seconds), capture_output=True, text=True, env=self.wrk_env(w))
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
        m = re.search(r"(\d+) requests in", res.stdout)
        requests = int(m.group(1)) if m else 0
        calls = parse_strace_counts(summary.read_text() if summary.exists() else "")
        if not requests or not calls:
            return float("nan"), ""
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        return sum(calls.values()) / requests, ", ".join(f"{name} {c / requests:.2f}" for name, c in top)


def read_response(s: socket.socket, name: str) -> None:
    """Reads one Content-Length response from s."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"{name} closed an idle-test connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        body += s.recv(65536)


def parse_strace_counts(text: str) -> dict[str, int]:
    """strace -c's table: "% time seconds usecs/call calls errors syscall" rows."""
    calls = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1] != "total" and f[3].isdigit():
            calls[f[-1]] = int(f[3])
    return calls


# ---- reporting -------------------------------------------------------------------


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def fmt(v: float, digits: int = 1) -> str:
    if v != v:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    if not b or a != a or b != b or b <= 0:
        return "–"
    return f"{a / b:.2f}"


class Report:
    def __init__(self, runs: list[Run], targets: list[str], workloads: list[Workload], args, meta: list[str]):
        self.runs, self.targets, self.workloads, self.args, self.meta = runs, targets, workloads, args, meta

    def of(self, target: str, workload: str) -> list[Run]:
        return [r for r in self.runs if r.target == target and r.workload == workload]

    def med(self, target: str, workload: str, key) -> float:
        return median([key(r) for r in self.of(target, workload)])

    def cpu(self, target: str, workload: str, part: str) -> float:
        return self.med(target, workload, lambda r: r.cpu_us.get(part, float("nan")))

    def better_reference(self, workload: str, part: str) -> tuple[str, float]:
        """The cheaper of HAProxy and nginx for this workload and CPU part."""
        refs = [(t, self.cpu(t, workload, part)) for t in ("haproxy", "nginx") if t in self.targets]
        refs = [(t, v) for t, v in refs if v == v]
        return min(refs, key=lambda x: x[1]) if refs else ("", float("nan"))

    def markdown(self) -> str:
        out = ["# contrail-lb benchmark results", ""]
        out += [f"- {line}" for line in self.meta]
        out.append("")
        for w in self.workloads:
            out += self.workload_section(w)
        out += self.summary()
        return "\n".join(out) + "\n"

    def workload_section(self, w: Workload) -> list[str]:
        reps = max((len(self.of(t, w.name)) for t in self.targets), default=0)
        if reps == 0:
            return []
        if w.idle:
            lines = [f"## {w.title} ({self.args.idle_connections} connections, median of {reps})", ""]
            if w.batch > 1:
                return lines + self.burst_rows(w)
            lines.append("| target | RSS per idle connection KiB | ÷ HAProxy | ÷ nginx | backend connections held |")
            lines.append("|---|---:|---:|---:|---:|")
            for t in self.targets:
                v = self.med(t, w.name, lambda r: r.rss_per_conn_kib)
                held = self.med(t, w.name, lambda r: r.backend_held)
                lines.append(
                    f"| {TARGET_TITLES[t]} | {fmt(v, 2)} | {ratio(v, self.med('haproxy', w.name, lambda r: r.rss_per_conn_kib))} "
                    f"| {ratio(v, self.med('nginx', w.name, lambda r: r.rss_per_conn_kib))} | {fmt(held, 0)} |"
                )
            return lines + [""]
        lines = [f"## {w.title} ({w.connections} connections, median of {reps} runs of {self.args.duration:g} s)", ""]
        lines.append(
            "| target | req/s | p50 ms | p99 ms | errors | proxy µs/req | backend µs/req | client µs/req "
            "| sum µs/req | backend conns opened/s | held | TCP segs/req | foreign CPU % | disturbed |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in self.targets:
            runs = self.of(t, w.name)
            if not runs:
                continue
            disturbed = sum(1 for r in runs if r.foreign_pct > self.args.foreign_limit)
            opened = median([r.backend_opened / r.seconds for r in runs])
            lines.append(
                "| "
                + " | ".join(
                    [
                        TARGET_TITLES[t],
                        fmt(self.med(t, w.name, lambda r: r.rps), 0),
                        fmt(self.med(t, w.name, lambda r: r.p50_ms), 3),
                        fmt(self.med(t, w.name, lambda r: r.p99_ms), 3),
                        str(sum(r.errors for r in runs)),
                        fmt(self.cpu(t, w.name, "proxy"), 2) if t != "direct" else "–",
                        fmt(self.cpu(t, w.name, "backend"), 2),
                        fmt(self.cpu(t, w.name, "client"), 2),
                        fmt(self.cpu(t, w.name, "sum"), 2),
                        fmt(opened, 0),
                        fmt(self.med(t, w.name, lambda r: r.backend_held), 0),
                        fmt(self.med(t, w.name, lambda r: r.segments), 2),
                        fmt(self.med(t, w.name, lambda r: r.foreign_pct), 0),
                        f"{disturbed}/{len(runs)}",
                    ]
                )
                + " |"
            )
        return lines + [""] + self.syscall_rows(w)

    # ---- issue 18: the burst table and syscalls per request ----

    def burst_rows(self, w: Workload) -> list[str]:
        lines = [
            f"Connections opened {w.batch} at a time, each batch's requests in flight together; RSS growth per",
            f"connection 0.5 s after the last batch, and after {self.args.burst_settle:g} s more of idleness (the figure compared).",
            "",
            f"| target | RSS per idle connection KiB, after {self.args.burst_settle:g} s | ÷ HAProxy | ÷ nginx | at 0.5 s | backend connections held |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for t in self.targets:
            v = self.med(t, w.name, lambda r: r.rss_per_conn_kib)
            lines.append(
                f"| {TARGET_TITLES[t]} | {fmt(v, 2)} | {ratio(v, self.med('haproxy', w.name, lambda r: r.rss_per_conn_kib))} "
                f"| {ratio(v, self.med('nginx', w.name, lambda r: r.rss_per_conn_kib))} "
                f"| {fmt(self.med(t, w.name, lambda r: r.rss_early_kib), 2)} | {fmt(self.med(t, w.name, lambda r: r.backend_held), 0)} |"
            )
        return lines + [""]

    def syscall_rows(self, w: Workload) -> list[str]:
        counted = [(t, r) for t in self.targets for r in self.of(t, w.name) if r.syscalls == r.syscalls]
        if not counted:
            return []
        lines = [
            f"System calls per request of the serving process ({w.title}; `strace -c -f` on a separate "
            f"{self.args.syscall_seconds} s run of the first round):",
            "",
            "| target | syscalls/req | most frequent, per request |",
            "|---|---:|---|",
        ]
        seen = set()
        for t, r in counted:
            if t not in seen:
                seen.add(t)
                lines.append(f"| {TARGET_TITLES[t]} | {r.syscalls:.2f} | {r.syscall_top} |")
        return lines + [""]

    def summary(self) -> list[str]:
        lines = ["## Ratios (CPU per request, medians)", ""]
        lines.append(
            "| workload | target | proxy ÷ HAProxy | proxy ÷ nginx | proxy ÷ better | backend ÷ better | client ÷ better "
            "| sum ÷ HAProxy | sum ÷ nginx | sum ÷ better | sum ÷ direct |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w in self.workloads:
            if w.idle:
                continue
            for t in self.targets:
                if t == "direct" or not self.of(t, w.name):
                    continue
                row = [w.title, TARGET_TITLES[t]]
                for part in ("proxy",):
                    v = self.cpu(t, w.name, part)
                    row += [ratio(v, self.cpu("haproxy", w.name, part)), ratio(v, self.cpu("nginx", w.name, part))]
                    row.append(ratio(v, self.better_reference(w.name, part)[1]))
                for part in ("backend", "client"):
                    # "better" for a neighbour: the one whose chain is cheaper in total.
                    ref = self.better_reference(w.name, "sum")[0]
                    row.append(ratio(self.cpu(t, w.name, part), self.cpu(ref, w.name, part)) if ref else "–")
                v = self.cpu(t, w.name, "sum")
                row += [
                    ratio(v, self.cpu("haproxy", w.name, "sum")),
                    ratio(v, self.cpu("nginx", w.name, "sum")),
                    ratio(v, self.better_reference(w.name, "sum")[1]),
                    ratio(v, self.cpu("direct", w.name, "sum")),
                ]
                lines.append("| " + " | ".join(row) + " |")
        lines += [
            "",
            "\"better\" is the cheaper of HAProxy and nginx on that workload (for backend and client:",
            "the target whose whole chain is cheaper). \"foreign CPU %\" is the machine's busy CPU time",
            "that none of the measured processes used, as a share of all CPUs; a run above "
            f"{self.args.foreign_limit:g} % is counted as disturbed.",
            "",
        ]
        return lines

    def gnuplot(self, png: Path) -> bool:
        if not shutil.which("gnuplot"):
            log("gnuplot not found: no chart (bash scripts/install-deps.sh)")
            return False
        data = png.with_suffix(".dat")
        traffic = [w for w in self.workloads if not w.idle and any(self.of(t, w.name) for t in self.targets)]
        idle = [w for w in self.workloads if w.idle and any(self.of(t, w.name) for t in self.targets)]
        blocks = []
        for w in traffic:
            rows = [
                f'"{t}" {self.cpu(t, w.name, "proxy") if t != "direct" else 0:.3f} '
                f'{self.cpu(t, w.name, "backend"):.3f} {self.cpu(t, w.name, "client"):.3f}'
                for t in self.targets
            ]
            blocks.append("\n".join(rows))
        for w in idle:
            rows = [f'"{t}" {self.med(t, w.name, lambda r: r.rss_per_conn_kib):.3f}' for t in self.targets]
            blocks.append("\n".join(rows))
        data.write_text("\n\n\n".join(blocks) + "\n")
        panels = len(traffic) + len(idle)
        cols = 3 if panels > 4 else 2
        rows = (panels + cols - 1) // cols
        script = [
            f'set terminal pngcairo size {420 * cols},{340 * rows} font "sans,9"' if self._has_cairo() else f"set terminal png size {420 * cols},{340 * rows}",
            f'set output "{png}"',
            f'set multiplot layout {rows},{cols} title "contrail-lb vs HAProxy vs nginx: CPU per request (µs, medians) and memory per idle connection"',
            "set style data histograms",
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.7",
            "set key top right reverse Left samplen 1 font ',8'",
            "set grid ytics",
            "set yrange [0:*]",
            "set offsets 0, 0, graph 0.3, 0",  # headroom: the key stays clear of the bars
            "set xtics rotate by -20 font ',8'",
        ]
        def panel(style: str, title: str, ylabel: str, plot: str) -> list[str]:
            return [f"set style histogram {style}", f'set title "{title}"', f'set ylabel "{ylabel}"', plot]

        for i, w in enumerate(traffic):
            script += panel(
                "rowstacked", w.title, "CPU µs / request",
                f'plot "{data}" index {i} using 2:xtic(1) title "proxy", "" index {i} using 3 title "backend", '
                f'"" index {i} using 4 title "client (wrk)"',
            )
        for j, w in enumerate(idle):
            script += panel(
                "clustered", f"{w.title} ({self.args.idle_connections})", "RSS KiB / connection",
                f'plot "{data}" index {len(traffic) + j} using 2:xtic(1) title "serving process"',
            )
        script.append("unset multiplot")
        gp = png.with_suffix(".gp")
        gp.write_text("\n".join(script) + "\n")
        res = subprocess.run(["gnuplot", str(gp)], capture_output=True, text=True)
        data.unlink(missing_ok=True)
        gp.unlink(missing_ok=True)
        if res.returncode != 0:
            log(f"gnuplot failed: {res.stderr.strip()}")
            return False
        return True

    @staticmethod
    def _has_cairo() -> bool:
        res = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        return "pngcairo" in (res.stdout + res.stderr)


# ---- main ------------------------------------------------------------------------


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a few seconds: 1 short run each, checks the output is sane")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run [10]")
    p.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each run, 0 = none [1]")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; figures are medians [3]")
    p.add_argument("--workloads", default=",".join(w.name for w in WORKLOADS))
    p.add_argument("--targets", default="direct,haproxy,nginx,contrail-lb")
    p.add_argument("--idle-connections", type=int, default=10000)
    p.add_argument("--burst-settle", type=float, default=6.0,
                   help="burst workload: seconds of idleness before its RSS is read [6]")
    p.add_argument("--syscall-seconds", type=int, default=2, help="length of the strace -c run per target [2]")
    p.add_argument("--no-syscalls", action="store_true", help="skip the syscall counts (strace)")
    p.add_argument("--backend", choices=["nginx", "clb"], default="nginx", help="origin server [nginx]")
    p.add_argument("--proxy-cpu", default=None, help="CPU list for the proxy [0]")
    p.add_argument("--load-cpu", default=None, help="CPU list for wrk and the backend [1, or the rest]")
    p.add_argument("--foreign-limit", type=float, default=5.0, help="%% of the machine's CPU used by others that flags a run [5]")
    p.add_argument("--keep", action="store_true", help="keep the generated configs and logs")
    p.add_argument("--out", default="docs", help="directory for benchmark-results.md and .png [docs]")
    p.add_argument("--clb-bin", default=os.environ.get("CLB_BIN", "build/contrail-lb"))
    p.add_argument("--clb-backend-bin", default=os.environ.get("CLB_BACKEND_BIN", "build/clb-test-backend"))
    p.add_argument("--clb-bin-b", default=os.environ.get("CLB_BIN_B"),
                   help="a second contrail-lb binary, measured as target contrail-lb-b (A/B of a change)")
    p.add_argument("--haproxy", default=os.environ.get("HAPROXY", "haproxy"))
    p.add_argument("--tls-key", choices=["rsa2048", "p256"], default="rsa2048", help="the TLS workloads' certificate key [rsa2048; p256: ECDSA P-256]")
    p.add_argument("--tls-detail-seconds", type=int, default=3, help="TLS workloads: seconds of the strace run per target, 0 = no records/syscalls table [3]")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.repeats = 1, 0, 1
        args.idle_connections = min(args.idle_connections, 300)
        args.burst_settle, args.syscall_seconds = 0.5, 1
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        args.proxy_cpu = args.proxy_cpu or str(cpus[0])
        args.load_cpu = args.load_cpu or ",".join(str(c) for c in cpus[1:])
    args.progress = True
    return args


def check_tools(args, targets: list[str]) -> None:
    need = ["wrk", "ss", "taskset"]
    if "haproxy" in targets:
        need.append(args.haproxy)
    if "nginx" in targets or args.backend == "nginx":
        need.append("nginx")
    if "contrail-lb" in targets:
        need.append(args.clb_bin)
    if "contrail-lb-b" in targets:
        if not args.clb_bin_b:
            sys.exit("bench: target contrail-lb-b needs --clb-bin-b PATH")
        need.append(args.clb_bin_b)
    if args.backend == "clb":
        need.append(args.clb_backend_bin)
    missing = [t for t in need if not shutil.which(t)]
    if missing:
        sys.exit(f"bench: not found: {', '.join(missing)} (bash scripts/install-deps.sh; bash scripts/build.sh)")


def sanity_errors(runs: list[Run], report_md: str) -> list[str]:
    """What a smoke run checks: the harness measured something plausible (never speed)."""
    errors = []
    for r in runs:
        where = f"{r.target}/{r.workload}"
        if r.workload in IDLE_WORKLOADS:
            if r.rss_per_conn_kib != r.rss_per_conn_kib:
                errors.append(f"{where}: no RSS figure")
            continue
        if r.requests <= 0:
            errors.append(f"{where}: no requests completed")
        if r.errors:
            errors.append(f"{where}: {r.errors} errors")
        if r.target != "direct" and r.cpu_us["proxy"] <= 0:
            errors.append(f"{where}: proxy CPU time not measured")
        if r.cpu_us["client"] <= 0:
            errors.append(f"{where}: client CPU time not measured")
        if r.segments <= 0:
            errors.append(f"{where}: no TCP segments counted")
    if "## Ratios" not in report_md:
        errors.append("report has no ratio table")
    return errors


def private_network(argv: list[str]) -> None:
    """Re-runs this script in a network namespace of its own (unshare --net), so that the
    TCP counters and ss see the benchmark's traffic only, not the rest of the machine."""
    if os.environ.get("CLB_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if shutil.which("unshare") and subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0:
        env = dict(os.environ, CLB_BENCH_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__), *argv], env)
    log("no private network namespace (unshare --net failed): TCP segments count the whole machine")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    private_network(argv)
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in TARGET_TITLES]
    by_name = {w.name: w for w in WORKLOADS}
    workloads = [by_name[n] for n in args.workloads.split(",") if n in by_name]
    if unknown or not workloads:
        sys.exit(f"bench: unknown target(s) {unknown} or no known workload in {args.workloads}")
    check_tools(args, targets)
    if any(w.tls for w in workloads) and not shutil.which("cc"):
        sys.exit("bench: the TLS workloads need cc (the no-resume shim for wrk)")
    if args.smoke and any(w.tls for w in workloads):
        # 64 RSA handshakes first: on a busy machine one second may see no request end.
        args.duration = max(args.duration, 2)
        args.tls_detail_seconds = min(args.tls_detail_seconds, 1)
    # 10,000 idle connections need that many descriptors here and in each server.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle_connections + 1000
    if hard != resource.RLIM_INFINITY and hard < want:
        sys.exit(f"bench: {args.idle_connections} idle connections need {want} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="clb-bench."))
    daemons = Daemons(work)
    args.tls = make_tls(work, args.tls_key) if any(w.tls for w in workloads) else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench = Bench(args, daemons)
        bench.start_backend()
        for name in targets:
            bench.targets[name] = bench.start_target(name)

        total = args.repeats * len(workloads) * len(targets)
        log(
            f"{total} runs: {args.repeats} rounds x {len(workloads)} workloads x {len(targets)} targets, "
            f"{args.duration:g} s each (+{args.warmup:g} s warm-up); proxy on CPU {args.proxy_cpu}, "
            f"wrk and backend on CPU {args.load_cpu}"
        )
        runs: list[Run] = []
        done = 0
        started = time.monotonic()
        for w in workloads:
            for rep in range(args.repeats):
                for name in targets:
                    done += 1
                    if w.tls and not bench.targets[name].tls_port:
                        continue  # direct with clb-test-backend: no TLS
                    r = bench.measure(bench.targets[name], w, args.duration)
                    runs.append(r)
                    if rep == 0 and not w.idle and not args.no_syscalls and shutil.which("strace"):
                        r.syscalls, r.syscall_top = bench.count_syscalls(bench.targets[name], w)
                    if w.idle:
                        detail = f"{r.rss_per_conn_kib:.2f} KiB RSS per idle connection"
                        if r.rss_early_kib == r.rss_early_kib:
                            detail += f" ({r.rss_early_kib:.2f} at 0.5 s), backend conns held {r.backend_held}"
                    else:
                        flag = " DISTURBED" if r.foreign_pct > args.foreign_limit else ""
                        detail = (
                            f"{r.rps:,.0f} req/s, CPU µs/req proxy {r.cpu_us['proxy']:.2f} backend {r.cpu_us['backend']:.2f} "
                            f"client {r.cpu_us['client']:.2f}, {r.segments:.2f} segs/req, backend conns "
                            f"+{r.backend_opened:.0f}/{r.backend_held}, foreign {r.foreign_pct:.0f}%{flag}"
                        )
                        if r.syscalls == r.syscalls:
                            detail += f"; {r.syscalls:.2f} syscalls/req ({r.syscall_top})"
                    elapsed = time.monotonic() - started
                    eta = elapsed / done * (total - done)
                    log(f"[{done}/{total}, ~{eta:.0f}s left] {w.name} round {rep + 1}: {name}: {detail}")

        meta = [
            f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs, kernel {os.uname().release}",
            "command: `" + " ".join(["bash bench/run.sh", *argv]) + "`",
            f"proxy pinned on CPU {args.proxy_cpu}; wrk (1 thread) and the backend on CPU {args.load_cpu}",
            f"backend: {'nginx, 1 worker, own config (return 200 for /, static file for /bytes/65536)' if args.backend == 'nginx' else 'clb-test-backend, 1 thread'}",
        ] + [f"{TARGET_TITLES[n]}: {t.version}" for n, t in bench.targets.items() if t.version]
        details = []
        if args.tls_detail_seconds:
            for w in (w for w in workloads if w.tls):
                for name in targets:
                    if bench.targets[name].tls_port:
                        details.append(tls_detail(bench, bench.targets[name], w, args.tls_detail_seconds))
                        d = details[-1]
                        log(f"{w.name}: {name}: {d.records:.2f} records/response, syscalls/request {d.syscalls}")
        if args.tls:
            meta.append(f"TLS: {'ECDSA P-256' if args.tls.kind == 'p256' else 'RSA-2048'} certificate on every target, TLS 1.2 and 1.3 enabled, wrk negotiates TLS 1.3")
        report = Report(runs, targets, workloads, args, meta)
        md = report.markdown() + "\n".join(tls_detail_markdown(details, workloads, targets))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        md_path, png_path = out / "benchmark-results.md", out / "benchmark-results.png"
        charted = report.gnuplot(png_path.resolve())
        if charted:
            md += f"\n![CPU per request and memory per idle connection]({png_path.name})\n"
        md_path.write_text(md)
        print(md)
        log(f"wrote {md_path}" + (f" and {png_path}" if charted else ""))
        if args.smoke:
            errors = sanity_errors(runs, md)
            if charted and png_path.stat().st_size < 1000:
                errors.append("chart is empty")
            for e in errors:
                log(f"smoke: {e}")
            if errors:
                return 1
            log("smoke: harness OK")
        return 0
    finally:
        daemons.stop_all()
        if args.keep:
            log(f"configs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
