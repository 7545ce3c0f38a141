"""The HA test bed's client: one new-connection HTTP/1.1 request every INTERVAL to the VIP,
each on its own TCP connection, none waiting for another (a request stuck on a frozen node
does not delay the next one). Runs until SIGTERM or stdin closes.

Request number SEQ asks for `/ha/SEQ`, so the nodes' access logs tell which node served
it. Every finished request is one line on stdout, flushed at once:

    SEQ SENT_UNIX_TIME DONE_UNIX_TIME RESULT

RESULT is `ok` (status 200 and a complete answer) or what went wrong: `refused`,
`reset`, `unreachable`, `timeout`, `status-NNN`, `eof` (closed before an answer), `error`.

    python3 client.py HOST PORT [--interval 0.01] [--timeout 2]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys
import time


async def one_request(host: str, port: int, seq: int, timeout: float) -> str:
    """One request on a new connection. Done once the answer is complete by its
    Content-Length, as an HTTP client sees it: what the network does to the connection
    after that (a reset from the other node when the router rehashes the flow) is not a
    failure of this request."""
    request = (f"GET /ha/{seq} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
               f"User-Agent: clb-ha-client\r\n\r\n").encode()
    writer = None
    answer = b""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            while not (status := complete(answer)):
                chunk = await reader.read(65536)
                if not chunk:
                    return "eof"
                answer += chunk
            return status
    except OSError as error:  # TimeoutError is one
        return failure_kind(error)
    finally:
        if writer is not None:
            writer.close()


def failure_kind(error: OSError) -> str:
    """The RESULT word for a request that raised `error`."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):  # EPIPE: after an RST
        return "reset"
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"


def complete(answer: bytes) -> str:
    """'' while the answer is incomplete; else `ok` or `status-NNN`."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return ""
    lines = head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or b"0")
    if len(body) < length:
        return ""
    status = lines[0].split(b" ")[1:2]
    if not lines[0].startswith(b"HTTP/1.") or status != [b"200"]:
        return f"status-{status[0].decode(errors='replace') if status else '?'}"
    return "ok"


async def run(host: str, port: int, interval: float, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
    pending: set[asyncio.Task] = set()

    async def tracked(seq: int) -> None:
        sent = time.time()
        result = await one_request(host, port, seq, timeout)
        sys.stdout.write(f"{seq} {sent:.6f} {time.time():.6f} {result}\n")
        sys.stdout.flush()

    # A fixed schedule (not "sleep after each"), so a slow loop turn does not stretch it.
    next_at = time.monotonic()
    seq = 0
    while not stop.is_set():
        seq += 1
        task = asyncio.create_task(tracked(seq))
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay < -1.0:  # far behind (the machine stalled): skip, do not burst
            next_at = time.monotonic()
            delay = 0
        try:
            await asyncio.wait_for(stop.wait(), max(delay, 0))
        except TimeoutError:
            pass
    if pending:
        await asyncio.wait(pending, timeout=timeout + 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port, args.interval, args.timeout))


if __name__ == "__main__":
    main()
