"""A burst the soak fires at the VIP from the client namespace (soak.py runs it):

    python3 burst.py malformed-burst HOST PORT COUNT SEED   COUNT malformed requests, each
        on its own connection: every one must get 400 (SPEC: a malformed request never
        reaches a backend and gets 400), or the connection closed with no answer at all
    python3 burst.py idle-burst HOST PORT COUNT SEED        COUNT connections opened and
        held idle for 3 s (below http_request's 10 s), then closed

Prints one line of figures; exits 1 when an answer was not the one required.
"""

from __future__ import annotations

import asyncio
import random
import sys

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET /\rHTTP/1.1\r\nHost: a\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
]


async def malformed(host: str, port: int, payload: bytes) -> str:
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            await writer.drain()
            answer = await reader.read()
            writer.close()
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except (TimeoutError, OSError) as error:
        return f"error {type(error).__name__}"
    if not answer:
        return "closed"
    return "400" if answer.startswith(b"HTTP/1.1 400 ") else f"other {answer[:40]!r}"


async def idle(host: str, port: int) -> str:
    try:
        async with asyncio.timeout(10):
            _reader, writer = await asyncio.open_connection(host, port)
            await asyncio.sleep(3)
            writer.close()
            return "held"
    except (TimeoutError, OSError) as error:
        return f"error {type(error).__name__}"


async def main() -> int:
    kind, host, port, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    if kind == "malformed-burst":
        outcomes = await asyncio.gather(*(malformed(host, port, rng.choice(MALFORMED))
                                          for _ in range(count)))
        good = {"400", "closed"}
    else:
        outcomes = await asyncio.gather(*(idle(host, port) for _ in range(count)))
        good = {"held"}
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome] = tally.get(outcome, 0) + 1
    print(", ".join(f"{v} {k}" for k, v in sorted(tally.items())))
    return 0 if set(tally) <= good else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
