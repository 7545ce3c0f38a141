"""What a service answers by itself: error pages (HAProxy errorfile) and the redirect-only
service (HAProxy redirect scheme), end to end."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}

# LF line endings on purpose: an editor's file; the proxy sends CRLF.
PAGE_503 = b"HTTP/1.1 503 Service Unavailable\nContent-Type: text/html\nX-Page: maintenance\n\n<h1>We will be back</h1>\n"
BODY_503 = b"<h1>We will be back</h1>\n"


def page(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def check(clb_bin, config: dict, tmp_path) -> subprocess.CompletedProcess:
    proxy = clb.Proxy(config, tmp_path / "check", binary=clb_bin)
    return subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                          capture_output=True, text=True, timeout=20)


def down_backend(free_port) -> dict:
    return {"name": "down", "address": f"127.0.0.1:{free_port()}"}


def read_exact(host, port, request: bytes) -> clb.Response:
    with RawConnection(host, port) as c:
        c.send(request)
        response = c.read_response()
        assert c.closed_by_peer(), "an error answer closes the connection"
        return response


# ---- error pages ---------------------------------------------------------------------


def test_503_page_when_no_backend_is_up(start_proxy, free_port, tmp_path):
    port, admin = free_port(), free_port()
    service = make_service("api", port, [down_backend(free_port)],
                           health_check={"type": "tcp", "interval": "100ms", "timeout": "100ms",
                                         "rise": 1, "fall": 1},
                           error_pages={503: page(tmp_path, "503.http", PAGE_503)})
    proxy = start_proxy(make_config([service], admin_port=admin))
    r = read_exact("127.0.0.1", port, b"GET /x HTTP/1.1\r\nHost: api\r\n\r\n")
    assert r.status == 503 and r.reason == "Service Unavailable"
    assert r.body == BODY_503
    assert r.header("X-Page") == "maintenance"
    assert r.header("Content-Length") == str(len(BODY_503))
    assert r.header("Connection") == "close"
    # The access log and the metrics keep the proxy's own status and cause.
    proxy.wait_for_log(r'access: .* "GET /x HTTP/1.1" 503 .* no_backend')
    assert 'code="503"' in proxy.metrics()


def test_502_page_when_the_backend_resets(start_proxy, free_port, tmp_path):
    # A backend that takes the connection and resets it without answering.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def reset_all():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=reset_all, daemon=True)
    thread.start()
    try:
        port = free_port()
        backend = {"name": "rst", "address": f"127.0.0.1:{listener.getsockname()[1]}"}
        body = b"backend down, sorry\n"
        service = make_service(
            "api", port, [backend], health_check=NO_CHECK, retries=0,
            error_pages={502: page(tmp_path, "502.http",
                                   b"HTTP/1.1 502 Bad Gateway\r\nX-Page: 502\r\n\r\n" + body)})
        start_proxy(make_config([service]))
        r = read_exact("127.0.0.1", port, b"POST /x HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n")
        assert r.status == 502 and r.body == body and r.header("X-Page") == "502"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_400_page_for_a_malformed_request(start_backend, start_proxy, free_port, tmp_path):
    backend = start_backend("b1")
    port = free_port()
    service = make_service("api", port, [backend], health_check=NO_CHECK, error_pages={
        400: page(tmp_path, "400.http", b"HTTP/1.0 400 Bad Request\n\nbad request page\n")})
    start_proxy(make_config([service]))
    r = read_exact("127.0.0.1", port, b"GET / HTTP/1.1\r\n\r\n")  # no Host
    assert (r.version, r.status, r.body) == ("HTTP/1.0", 400, b"bad request page\n")
    # Without a page of their own, other answers stay the built-in ones.
    r = read_exact("127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 7000)
    assert r.status == 431 and b"431" in r.body


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    (b"HTTP/1.1 503 Down\r\n\r\n" + b"x" * 20000, "is larger than 16 KiB"),
    (b"<html>maintenance</html>\n", "not an HTTP response"),
    (b"HTTP/1.1 503 Down\r\nContent-Length: 99\r\n\r\nshort", "Content-Length is 99"),
], ids=["missing", "oversize", "not-http", "wrong-length"])
def test_check_rejects_a_bad_page(clb_bin, free_port, tmp_path, content, message):
    path = tmp_path / "503.http"
    if content is not None:
        path.write_bytes(content)
    service = make_service("api", free_port(), [down_backend(free_port)],
                           error_pages={503: str(path)})
    result = check(clb_bin, make_config([service]), tmp_path)
    assert result.returncode == 1, result.stderr
    # FILE:LINE:COLUMN of the entry, which file, what is wrong with it.
    assert "services[0].error_pages.503: " in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert ".yaml:" in result.stderr


def test_check_rejects_a_status_the_proxy_never_answers(clb_bin, free_port, tmp_path):
    service = make_service("api", free_port(), [down_backend(free_port)],
                           error_pages={404: page(tmp_path, "404.http", PAGE_503)})
    result = check(clb_bin, make_config([service]), tmp_path)
    assert result.returncode == 1
    assert "404\" is not an answer of the proxy" in result.stderr, result.stderr


def test_reload_changes_the_page_and_a_bad_one_keeps_the_old(start_proxy, free_port, tmp_path):
    port = free_port()
    path = tmp_path / "503.http"
    path.write_bytes(PAGE_503)
    config = make_config([make_service("api", port, [down_backend(free_port)],
                                       health_check={"type": "tcp", "interval": "1s",
                                                     "timeout": "100ms", "rise": 1, "fall": 1},
                                       error_pages={503: str(path)})])
    proxy = start_proxy(config)
    request = b"GET / HTTP/1.1\r\nHost: api\r\n\r\n"
    assert read_exact("127.0.0.1", port, request).body == BODY_503

    path.write_bytes(b"HTTP/1.1 503 Service Unavailable\r\n\r\nnew page\n")
    start = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(r"reload: .*(applied|done|reloaded)", start=start)
    assert read_exact("127.0.0.1", port, request).body == b"new page\n"

    path.write_bytes(b"not a response")  # refused: the loaded page stays
    start = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(r"running configuration stays", start=start)
    assert read_exact("127.0.0.1", port, request).body == b"new page\n"


# ---- redirect-only service -----------------------------------------------------------


def redirect_proxy(start_proxy, free_port, **redirect):
    port, admin = free_port(), free_port()
    service = {"name": "webui-http", "listen": [f"127.0.0.1:{port}"], "redirect": redirect}
    return start_proxy(make_config([service], admin_port=admin)), port


def test_redirect_keeps_host_path_and_query(start_proxy, free_port):
    proxy, port = redirect_proxy(start_proxy, free_port, scheme="https", port=8143, code=301)
    r = clb.http_request("127.0.0.1", port, "GET", "/a/b?c=d",
                         headers={"Host": "ui.example:8080"})
    assert r.status == 301
    assert r.header("Location") == "https://ui.example:8143/a/b?c=d"
    assert r.header("Content-Length") == "0"
    line = proxy.wait_for_log(r'access: .* webui-http - "GET /a/b\?c=d HTTP/1.1" 301 ')
    assert line.split()[-1] == "redirect" or " redirect" in line, line
    assert 'code="301"' in proxy.metrics()


def test_redirect_default_port_is_left_out_and_code_defaults_to_302(start_proxy, free_port):
    _, port = redirect_proxy(start_proxy, free_port, scheme="https")
    r = clb.http_request("127.0.0.1", port, "GET", "/", headers={"Host": "ui.example:8080"})
    assert (r.status, r.header("Location")) == (302, "https://ui.example/")


def test_redirect_keeps_the_connection_alive(start_proxy, free_port):
    _, port = redirect_proxy(start_proxy, free_port, scheme="https", port=8143, code=308)
    with RawConnection("127.0.0.1", port) as c:
        for path in (b"/one", b"/two"):
            c.send(b"GET " + path + b" HTTP/1.1\r\nHost: ui\r\n\r\n")
            r = c.read_response()
            assert r.status == 308
            assert r.header("Location") == "https://ui:8143" + path.decode()
            assert r.header("Connection") is None
        assert not c.closed_by_peer(0.3)


def test_redirect_post_with_a_body_answers_and_closes(start_proxy, free_port):
    _, port = redirect_proxy(start_proxy, free_port, scheme="https", port=8143, code=307)
    with RawConnection("127.0.0.1", port) as c:
        c.send(b"POST /form HTTP/1.1\r\nHost: ui\r\nContent-Length: 11\r\n\r\nhello world")
        r = c.read_response()
        assert (r.status, r.header("Location")) == (307, "https://ui:8143/form")
        assert r.header("Connection") == "close"
        assert c.closed_by_peer()


def test_redirect_without_host_uses_the_address_the_client_reached(start_proxy, free_port):
    _, port = redirect_proxy(start_proxy, free_port, scheme="https", port=8143, code=301)
    with RawConnection("127.0.0.1", port) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 301
        assert r.header("Location") == "https://127.0.0.1:8143/old"
        assert c.closed_by_peer()  # HTTP/1.0 without keep-alive


def test_redirect_service_still_refuses_a_malformed_request(start_proxy, free_port):
    _, port = redirect_proxy(start_proxy, free_port, scheme="https")
    r = read_exact("127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert r.status == 400


def test_check_rejects_a_redirect_service_with_backends(clb_bin, free_port, tmp_path):
    service = make_service("ui", free_port(), [down_backend(free_port)],
                           redirect={"scheme": "https"})
    result = check(clb_bin, make_config([service]), tmp_path)
    assert result.returncode == 1
    for key in ("balance", "health_check", "backends"):
        assert f"services[0].{key}: a redirect service has no backends" in result.stderr, \
            result.stderr
