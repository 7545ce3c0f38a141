"""Connection: close from the client: the proxy answers, then closes at once (nothing more
can come from such a client, so there is nothing to linger for); the client still reads
the whole response."""

from __future__ import annotations

import subprocess

from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}


def proxy_holds(proxy_port: int, client_port: int) -> bool:
    """True while a process still owns the proxy's socket of this connection (a lingering
    half-closed one does; a closed one is the kernel's alone, whatever its TCP state)."""
    out = subprocess.run(
        ["ss", "-Htanp", f"( sport = :{proxy_port} and dport = :{client_port} )"],
        capture_output=True, text=True, check=True,
    ).stdout
    return "pid=" in out


def test_client_close_ends_the_connection_without_lingering(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    host, port = proxy.service_address()
    with RawConnection(host, port) as c:
        client_port = c.sock.getsockname()[1]
        c.send(b"GET /bytes/100000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and len(r.body) == 100000
        assert r.header("Connection").lower() == "close"
        # The client keeps its end open: a lingering proxy would hold its socket for its
        # 2 s linger time; one that closes at once has let it go already.
        wait_until(lambda: not proxy_holds(port, client_port), 1.0)
        assert c.closed_by_peer(2)
