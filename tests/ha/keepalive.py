"""The HA test bed's keep-alive clients: CONNECTIONS long-lived HTTP/1.1 connections to the
VIP, each sending one request every INTERVAL on its connection, as a web UI session or an
API client with a connection pool does. A connection is opened again only when it ends
(the server closed it, it was reset, a request failed). Runs until SIGTERM or stdin closes.

The router spreads the connections over the nodes by its ECMP hash of their source ports.
A request asks for `/ka/CONN/GEN/SEQ` (GEN counts the connection's re-openings), so the
nodes' access logs tell which node served each connection. Output, one line per event,
flushed at once:

    R CONN GEN SEQ SENT_UNIX_TIME DONE_UNIX_TIME RESULT    a request
    E CONN GEN UNIX_TIME REASON                            a connection ended

RESULT is `ok` (status 200, complete answer) or `refused`, `reset`, `unreachable`,
`timeout`, `status-NNN`, `eof` (closed before the answer), `error`. REASON is `close`
(the server closed it between requests, or its answer said Connection: close: a client
opens a new one safely), `reset` (an RST between requests: the next request would fail),
or `failed-RESULT` (a request on it failed).

    python3 keepalive.py HOST PORT [--connections 40] [--interval 0.1] [--timeout 2]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from client import complete, failure_kind


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Connection:
    """One keep-alive connection and its re-openings."""

    def __init__(self, host: str, port: int, conn: int, timeout: float) -> None:
        self.host, self.port, self.conn, self.timeout = host, port, conn, timeout
        self.gen = -1
        self.seq = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def end(self, reason: str) -> None:
        if self.writer is not None:
            emit(f"E {self.conn} {self.gen} {time.time():.6f} {reason}")
            self.writer.close()
        self.reader = self.writer = None

    async def request(self) -> None:
        """One request, on a new connection if the last one ended."""
        self.seq += 1
        sent = time.time()
        try:
            async with asyncio.timeout(self.timeout):
                if self.writer is None:
                    self.gen += 1  # a connect that fails uses up its number too
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                result, close = await self.exchange()
        except (TimeoutError, OSError) as error:
            result, close = failure_kind(error), True
        emit(f"R {self.conn} {self.gen} {self.seq} {sent:.6f} {time.time():.6f} {result}")
        if close:
            self.end("close" if result == "ok" else f"failed-{result}")

    async def exchange(self) -> tuple[str, bool]:
        """(result, whether the connection ends after it)."""
        self.writer.write(f"GET /ka/{self.conn}/{self.gen}/{self.seq} HTTP/1.1\r\n"
                          f"Host: {self.host}:{self.port}\r\n"
                          "User-Agent: clb-ha-keepalive\r\n\r\n".encode())
        await self.writer.drain()
        answer = b""
        while not (status := complete(answer)):
            chunk = await self.reader.read(65536)
            if not chunk:
                return "eof", True
            answer += chunk
        head = answer.partition(b"\r\n\r\n")[0].lower()
        return status, status != "ok" or b"\r\nconnection: close" in head

    async def idle(self, until: float) -> None:
        """Waits for the next request's time, watching the idle connection: a FIN or an
        RST from the server ends it now, as a client's connection pool would notice."""
        delay = until - time.monotonic()
        if self.reader is None:
            await asyncio.sleep(max(delay, 0))
            return
        try:
            data = await asyncio.wait_for(self.reader.read(1), max(delay, 0))
        except TimeoutError:
            return
        except OSError:
            self.end("reset")
        else:
            self.end("close" if not data else "failed-error")  # bytes nobody asked for
        await asyncio.sleep(max(until - time.monotonic(), 0))


async def one_connection(conn: Connection, interval: float, offset: float,
                         stop: asyncio.Event) -> None:
    # A fixed schedule per connection, the connections spread over one interval.
    next_at = time.monotonic() + offset
    await asyncio.sleep(offset)
    while not stop.is_set():
        await conn.request()
        next_at += interval
        if next_at < time.monotonic() - 1.0:  # far behind (the machine stalled): skip
            next_at = time.monotonic()
        await conn.idle(next_at)
    conn.end("close")


async def run(host: str, port: int, connections: int, interval: float, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
    await asyncio.gather(*(
        one_connection(Connection(host, port, i, timeout), interval,
                       interval * i / connections, stop) for i in range(connections)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port, args.connections, args.interval, args.timeout))


if __name__ == "__main__":
    main()
