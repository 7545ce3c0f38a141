"""TLS backends for backend_tls tests: a test PKI made with `openssl` in a directory, and a
small threaded HTTP/1.1 keep-alive server over Python's ssl (clb-test-backend has no TLS)
that counts handshakes, resumed sessions and requests."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

CA_CONFIG = """[ ca ]
default_ca = d
[ d ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
[ p ]
commonName = supplied
"""


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                   timeout=60)


class Pki:
    """A CA in `directory` (ca.pem) that signs server certificates (openssl ca, so that
    validity dates can lie in the past)."""

    def __init__(self, directory: Path, name: str = "ca"):
        self.dir = directory / name
        self.dir.mkdir(parents=True)
        (self.dir / "index.txt").touch()
        (self.dir / "serial").write_text("01\n")
        (self.dir / "ca.cnf").write_text(CA_CONFIG)
        _openssl(self.dir, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", "ca.key", "-out", "ca.pem")
        self.ca = str(self.dir / "ca.pem")

    def server(self, name: str, san: str = "IP:127.0.0.1,DNS:backend.test",
               start: str | None = None, end: str | None = None) -> tuple[str, str]:
        """(cert, key) of a server certificate with subjectAltName `san`; `start`/`end`
        (YYYYMMDDHHMMSSZ) set its validity, else from now for a day."""
        _openssl(self.dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr")
        (self.dir / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "1"]
        _openssl(self.dir, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
                 "-keyfile", "ca.key", "-in", f"{name}.csr", "-out", f"{name}.pem",
                 "-extfile", f"{name}.ext", "-notext", *dates)
        return str(self.dir / f"{name}.pem"), str(self.dir / f"{name}.key")


class TlsBackend:
    """HTTP/1.1 over TLS on `host` (127.0.0.1), `port` (0: any free one). Answers every request 200 with
    "tls backend NAME conn=N resumed=0|1 sni=S path=P"; a request for /close... is
    answered with Connection: close and the connection closed."""

    def __init__(self, name: str, cert: str, key: str, host: str = "127.0.0.1", port: int = 0):
        self.name = name
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = self._on_sni
        self.handshakes = 0
        self.resumed = 0
        self.failed_handshakes = 0
        self.requests = 0
        self.last_sni: str | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._conns: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.address = f"{host}:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def entry(self) -> dict:
        return {"name": self.name, "address": self.address}

    def _on_sni(self, _sock, server_name, _context):
        self.last_sni = server_name

    def _accept(self) -> None:
        while not self._stopping:
            try:
                raw, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._conns.append(raw)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.failed_handshakes += 1
            raw.close()
            return
        with self._lock:
            self.handshakes += 1
            self.resumed += int(conn.session_reused)
            number = self.handshakes
        try:
            self._requests(conn, number)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    def _requests(self, conn: ssl.SSLSocket, number: int) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            with self._lock:
                self.requests += 1
            path = lines[0].split(" ")[1]
            body = (f"tls backend {self.name} conn={number} resumed={int(conn.session_reused)} "
                    f"sni={self.last_sni} path={path}\n").encode()
            close = path.startswith("/close")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"
                         % (len(body), b"Connection: close\r\n" if close else b"") + body)
            if close:
                return

    def close(self) -> None:
        self._stopping = True
        self._sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass
        self._thread.join(timeout=2)
