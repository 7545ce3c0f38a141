"""The soak's constant mixed load (tests/soak/soak.py runs it in the client namespace).

Flows, all at once, until SIGTERM or stdin closes:

    newconn    GET /headers on a new connection each time (Connection: close)
    keepalive  long-lived keep-alive connections, some requests pipelined three deep
    upload     POST /echo, 64 KiB, Content-Length or chunked: the body must come back
    download   GET /bytes/N (Content-Length, spliced) or /chunked/N: length and pattern
    tls        GET /headers over TLS, a new connection each time
    tcp        the tcp-mode service: lines written, the same bytes must come back
    slowread   a 2 MB download read 32 KiB at a time with pauses
    slowwrite  a 20 KB upload written in ten pieces over a second

Every HTTP request carries `X-Request-Id: ID`; the backend echoes it (and /headers its
target `?id=ID`): an answer with another id is `wrong-id`, the one result that is never
excused. Every finished request is one line on stdout:

    FLOW ID SENT DONE RESULT BACKEND

RESULT is `ok` or the failure (`refused`, `reset`, `timeout`, `eof`, `unreachable`,
`error`, `status-NNN`, `bad-body`, `wrong-id`); BACKEND is the backend that answered
(X-Backend: `n1-b2` is b2 behind node n1) or `-`. A request that got no byte on
a reused keep-alive connection the server had closed (EOF or RST within 0.5 s of
sending), and a pipelined request after an answer that announced `Connection: close`,
are what HTTP clients send again (RFC 9112 9.3.1): logged as result `retried`, not a
failure.

    python3 load.py HOST --http PORT --tls PORT --tcp PORT [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import ssl
import sys
import time

TIMEOUT = 10.0  # per request; generous: the machine is shared and faults stall paths
# A request on a reused connection that the server had closed while idle fails at once
# (an RST or EOF within a round trip); one that fails later is a failure.
IDLE_CLOSE_RACE = 0.5
PATTERN = bytes(ord("a") + i % 26 for i in range(26))


class Failed(Exception):
    """A request's failure, named as in the record."""


def record(flow: str, rid: str, sent: float, result: str, node: str = "-") -> None:
    sys.stdout.write(f"{flow} {rid} {sent:.6f} {time.time():.6f} {result} {node}\n")
    sys.stdout.flush()


def failure_of(error: BaseException) -> str:
    if isinstance(error, Failed):
        return str(error)
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(error, asyncio.IncompleteReadError):
        return "eof"
    if isinstance(error, ssl.SSLError):
        return "tls-error"
    if isinstance(error, OSError) and error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"


async def read_response(reader: asyncio.StreamReader, head_only_for=None) -> tuple:
    """(status, headers with lower-case names, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if not lines[0].startswith("HTTP/1.") or len(parts) < 2 or not parts[1].isdigit():
        raise Failed("bad-head")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    status = int(parts[1])
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.read()
    return status, headers, body


def node_of(headers: dict) -> str:
    """The answering backend's name (n1-b2: backend b2 behind node n1), or `-`."""
    return headers.get("x-backend", "") or "-"


def check(status: int, headers: dict, rid: str) -> str:
    """The node, once the answer is the one of request rid; raises Failed otherwise."""
    if headers.get("x-request-id", rid) != rid:
        raise Failed("wrong-id")
    if status != 200:
        raise Failed(f"status-{status}")
    if "x-request-id" not in headers:
        raise Failed("wrong-id")  # a 200 not from a backend, or the id lost
    return node_of(headers)


def request_bytes(method: str, target: str, rid: str, host: str, body: bytes = b"",
                  close: bool = False, chunked: bool = False) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {rid}\r\n"
    if close:
        head += "Connection: close\r\n"
    if method == "POST":
        head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
    payload = body
    if chunked:
        payload = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n"
                           for p in (body[i:i + 8192] for i in range(0, len(body), 8192)))
        payload += b"0\r\n\r\n"
    return head.encode() + b"\r\n" + payload


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.host = args.host
        self.args = args
        self.stop = asyncio.Event()
        self.seq = 0
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    def rid(self, flow: str) -> str:
        self.seq += 1
        return f"{flow}-{self.seq}"

    async def every(self, interval: float, make) -> None:
        """Starts make() every interval (scaled), none waiting for another."""
        pending: set[asyncio.Task] = set()
        interval /= self.args.scale
        next_at = time.monotonic()
        while not self.stop.is_set():
            task = asyncio.create_task(make())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < -1.0:  # far behind (the machine stalled): skip, do not burst
                next_at, delay = time.monotonic(), 0
            try:
                await asyncio.wait_for(self.stop.wait(), max(delay, 0))
            except TimeoutError:
                pass
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT + 2)

    async def one(self, flow: str, port: int, target: str, method: str = "GET",
                  body: bytes = b"", chunked: bool = False, use_tls: bool = False,
                  verify=None) -> None:
        rid = self.rid(flow)
        if "?" not in target and flow in ("newconn", "tls"):
            target += f"?id={rid}"
        sent = time.time()
        writer = None
        try:
            async with asyncio.timeout(TIMEOUT):
                reader, writer = await asyncio.open_connection(
                    self.host, port, ssl=self.tls if use_tls else None)
                writer.write(request_bytes(method, target, rid, f"{self.host}:{port}", body,
                                           close=True, chunked=chunked))
                await writer.drain()
                status, headers, got = await read_response(reader)
                node = check(status, headers, rid)
                if verify and not verify(got, rid):
                    raise Failed("bad-body")
            record(flow, rid, sent, "ok", node)
        except Exception as error:  # noqa: BLE001 - every failure is a record
            record(flow, rid, sent, failure_of(error))
        finally:
            if writer is not None:
                writer.close()

    # -- flows
    async def newconn(self) -> None:
        await self.every(0.02, lambda: self.one(
            "newconn", self.args.http, "/headers",
            verify=lambda body, rid: f"?id={rid} ".encode() in body))

    async def tls_flow(self) -> None:
        await self.every(0.1, lambda: self.one(
            "tls", self.args.tls, "/headers", use_tls=True,
            verify=lambda body, rid: f"?id={rid} ".encode() in body))

    async def upload(self) -> None:
        flip = [False]

        def make():
            flip[0] = not flip[0]
            rid = f"up{self.seq + 1}"
            body = (rid.encode() + b"/") * (65536 // (len(rid) + 1))
            return self.one("upload", self.args.http, "/echo", "POST", body, chunked=flip[0],
                            verify=lambda got, _rid: got == body)
        await self.every(0.1, make)

    async def download(self) -> None:
        flip = [False]
        size = 300000

        def make():
            flip[0] = not flip[0]
            target = f"/{'chunked' if flip[0] else 'bytes'}/{size}"
            return self.one("download", self.args.http, target,
                            verify=lambda got, _rid: len(got) == size and got[:26] == PATTERN
                            and got[-1] == PATTERN[(size - 1) % 26])
        await self.every(0.2, make)

    async def keepalive(self, index: int) -> None:
        """One long-lived connection; every fifth turn three requests pipelined."""
        reader = writer = None
        reused = False
        turn = 0
        while not self.stop.is_set():
            turn += 1
            depth = 3 if turn % 5 == 0 else 1
            rids = [self.rid("keepalive") for _ in range(depth)]
            sent = time.time()
            got_bytes = False
            try:
                async with asyncio.timeout(TIMEOUT):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(self.host, self.args.http)
                        reused = False
                    writer.write(b"".join(request_bytes("GET", "/", rid, self.host) for rid in rids))
                    await writer.drain()
                    for i, rid in enumerate(rids):
                        status, headers, _body = await read_response(reader)
                        got_bytes = True
                        record("keepalive", rid, sent, "ok", check(status, headers, rid))
                        rids[i] = ""
                        if headers.get("connection", "").lower() == "close":
                            writer.close()
                            writer = None
                            for rest in rids[i + 1:]:  # announced close: a client resends
                                record("keepalive", rest, sent, "retried")
                            break
                reused = True
            except Exception as error:  # noqa: BLE001
                result = failure_of(error)
                if reused and not got_bytes and result in ("eof", "reset") \
                        and time.time() - sent < IDLE_CLOSE_RACE:
                    result = "retried"  # closed while idle: a client sends again
                for rid in rids:
                    if rid:
                        record("keepalive", rid, sent, result)
                if writer is not None:
                    writer.close()
                writer = None
            try:
                await asyncio.wait_for(self.stop.wait(), 0.05 / self.args.scale)
            except TimeoutError:
                pass
        if writer is not None:
            writer.close()

    async def tcp(self) -> None:
        async def one() -> None:
            rid = self.rid("tcp")
            payload = f"{rid} tcp-mode line\n".encode() * 100
            sent = time.time()
            writer = None
            try:
                async with asyncio.timeout(TIMEOUT):
                    reader, writer = await asyncio.open_connection(self.host, self.args.tcp)
                    writer.write(payload)
                    await writer.drain()
                    got = await reader.readexactly(len(payload))
                    if got != payload:
                        raise Failed("wrong-id" if rid.encode() not in got else "bad-body")
                record("tcp", rid, sent, "ok")
            except Exception as error:  # noqa: BLE001
                record("tcp", rid, sent, failure_of(error))
            finally:
                if writer is not None:
                    writer.close()
        await self.every(0.1, one)

    async def slowread(self) -> None:
        size = 2_000_000

        async def one() -> None:
            rid = self.rid("slowread")
            sent = time.time()
            writer = None
            try:
                async with asyncio.timeout(TIMEOUT):
                    reader, writer = await asyncio.open_connection(self.host, self.args.http)
                    writer.write(request_bytes("GET", f"/bytes/{size}", rid, self.host, close=True))
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, headers, _ = await read_response(_Prefixed(head, b""))
                    node = check(status, headers, rid)
                    left = size
                    while left:
                        piece = await reader.read(min(left, 32768))
                        if not piece:
                            raise Failed("eof")
                        left -= len(piece)
                        await asyncio.sleep(0.03)
                record("slowread", rid, sent, "ok", node)
            except Exception as error:  # noqa: BLE001
                record("slowread", rid, sent, failure_of(error))
            finally:
                if writer is not None:
                    writer.close()
        await self.every(2.0, one)

    async def slowwrite(self) -> None:
        async def one() -> None:
            rid = self.rid("slowwrite")
            body = (rid.encode() + b".") * (20000 // (len(rid) + 1))
            sent = time.time()
            writer = None
            try:
                async with asyncio.timeout(TIMEOUT):
                    reader, writer = await asyncio.open_connection(self.host, self.args.http)
                    message = request_bytes("POST", "/echo", rid, self.host, body, close=True)
                    step = len(message) // 10 + 1
                    for i in range(0, len(message), step):
                        writer.write(message[i:i + step])
                        await writer.drain()
                        await asyncio.sleep(0.1)
                    status, headers, got = await read_response(reader)
                    node = check(status, headers, rid)
                    if got != body:
                        raise Failed("bad-body")
                record("slowwrite", rid, sent, "ok", node)
            except Exception as error:  # noqa: BLE001
                record("slowwrite", rid, sent, failure_of(error))
            finally:
                if writer is not None:
                    writer.close()
        await self.every(1.0, one)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        loop.add_signal_handler(signal.SIGINT, self.stop.set)
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or self.stop.set())
        flows = [self.newconn(), self.tls_flow(), self.upload(), self.download(), self.tcp(),
                 self.slowread(), self.slowwrite()]
        flows += [self.keepalive(i) for i in range(4)]
        await asyncio.gather(*flows)


class _Prefixed:
    """A head already read, offered to read_response (which wants a reader)."""

    def __init__(self, head: bytes, rest: bytes) -> None:
        self.data = head + rest

    async def readuntil(self, separator: bytes) -> bytes:
        at = self.data.index(separator) + len(separator)
        out, self.data = self.data[:at], self.data[at:]
        return out

    async def readexactly(self, n: int) -> bytes:
        return b""  # the body is read by the caller, slowly

    async def read(self, n: int = -1) -> bytes:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--http", type=int, required=True)
    parser.add_argument("--tls", type=int, required=True)
    parser.add_argument("--tcp", type=int, required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="request rate factor")
    asyncio.run(Load(parser.parse_args()).run())


if __name__ == "__main__":
    main()
