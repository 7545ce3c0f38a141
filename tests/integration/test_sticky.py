"""Cookie persistence (issue 16, item 2; HAProxy's `cookie SERVERID insert indirect
nocache`): the contrail web UI needs a browser to stay on one backend. The first response
sets SERVERID=<opaque id>; a request carrying it goes to that backend while it is UP and
not drained, on any connection, across reloads and on any contrail-lb node with the same
configuration; the backend never sees the cookie; a response that sets it is private."""

from __future__ import annotations

import re

import pytest

from clb import RawConnection, make_config, make_service, wait_until
from e2e import drain

NO_CHECK = {"type": "none"}
COOKIE = "SERVERID"


def sticky_config(backends, port, admin_port, weight=1):
    service = make_service("webui", port, backends, health_check=NO_CHECK,
                           sticky={"cookie": COOKIE})
    for entry in service["backends"]:
        entry["weight"] = weight
    return make_config([service], admin_port=admin_port, workers=2)


@pytest.fixture
def two(start_backend, start_proxy, free_port):
    backends = [start_backend("ui1"), start_backend("ui2")]
    config = sticky_config(backends, free_port(), free_port())
    return backends, config, start_proxy(config)


def set_cookie(response) -> str | None:
    header = response.header("Set-Cookie")
    if header is None:
        return None
    match = re.fullmatch(COOKIE + r"=([0-9a-f]{16}); Path=/", header)
    assert match, header
    return match.group(1)


def get(proxy, path="/", cookie=None):
    headers = {"Cookie": cookie} if cookie else {}
    return proxy.get(path, headers=headers)


def test_first_response_sets_an_opaque_private_cookie(two):
    backends, _, proxy = two
    r = get(proxy)
    cookie = set_cookie(r)
    assert cookie, r.headers
    assert r.header("Cache-Control") == "private"
    for b in backends:
        host, port = b.address.rsplit(":", 1)
        assert host not in cookie and port not in cookie  # never the address
    # The other backend gets its own, different id.
    ids = {r.header("X-Backend"): cookie}
    while len(ids) < 2:
        r = get(proxy)
        ids[r.header("X-Backend")] = set_cookie(r)
    assert len(set(ids.values())) == 2


def test_a_client_with_the_cookie_stays_and_the_backend_never_sees_it(two):
    _, _, proxy = two
    first = get(proxy)
    backend, cookie = first.header("X-Backend"), set_cookie(first)
    for _ in range(6):  # new connections: roundrobin would alternate
        r = get(proxy, "/headers", f"theme=dark; {COOKIE}={cookie}; lang=en")
        assert r.header("X-Backend") == backend
        assert r.header("Set-Cookie") is None and r.header("Cache-Control") is None
        head = r.body.decode()
        assert "Cookie: theme=dark; lang=en\r\n" in head, head
        assert COOKIE not in head
    with RawConnection(*proxy.service_address()) as c:  # keep-alive, cookie alone
        for _ in range(4):
            c.send(f"GET /headers HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}={cookie}\r\n\r\n"
                   .encode())
            r = c.read_response()
            assert r.header("X-Backend") == backend
            assert b"Cookie" not in r.body  # the only cookie was ours: the field is dropped


def test_an_unknown_cookie_is_balanced_and_replaced(two):
    _, _, proxy = two
    r = get(proxy, cookie=f"{COOKIE}=0123456789abcdef")
    assert set_cookie(r) and set_cookie(r) != "0123456789abcdef"


def test_a_drained_or_down_backend_hands_the_client_over_and_gets_it_back(two):
    backends, _, proxy = two
    first = get(proxy)
    backend, cookie = first.header("X-Backend"), set_cookie(first)
    other = next(b.name for b in backends if b.name != backend)
    drain(proxy, "webui", backend)
    moved = get(proxy, cookie=f"{COOKIE}={cookie}")
    assert moved.header("X-Backend") == other
    assert set_cookie(moved) not in (None, cookie)  # a cookie for the backend that answered
    drain(proxy, "webui", backend, "enable")
    assert get(proxy, cookie=f"{COOKIE}={cookie}").header("X-Backend") == backend
    # Killed: the connect fails and the request is retried on the other one, re-issued.
    next(b for b in backends if b.name == backend).kill()
    retried = get(proxy, cookie=f"{COOKIE}={cookie}")
    assert retried.status == 200 and retried.header("X-Backend") == other
    assert set_cookie(retried) != cookie


def test_the_cookie_survives_a_reload_and_holds_on_another_node(two, start_proxy, free_port):
    backends, config, proxy = two
    first = get(proxy)
    backend, cookie = first.header("X-Backend"), set_cookie(first)
    offset = len(proxy.log())
    proxy.reload(sticky_config(backends, proxy.service_address()[1],
                               proxy.admin_address[1], weight=3))
    proxy.wait_for_log(r"reload: applied ", start=offset)
    for _ in range(4):
        assert get(proxy, cookie=f"{COOKIE}={cookie}").header("X-Backend") == backend
    # A second node with the same configuration (other ports) knows the same ids.
    node2 = start_proxy(sticky_config(backends, free_port(), free_port()))
    for _ in range(4):
        r = get(node2, cookie=f"{COOKIE}={cookie}")
        assert r.header("X-Backend") == backend and r.header("Set-Cookie") is None


def test_sticky_is_refused_in_tcp_mode_and_needs_a_cookie_name(tmp_path, clb_bin, free_port):
    import subprocess

    import yaml

    def check(service_extra):
        service = make_service("s", free_port(), [{"name": "b", "address": "127.0.0.1:9"}],
                               health_check=NO_CHECK, **service_extra)
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(make_config([service])))
        return subprocess.run([clb_bin, "-c", str(path), "--check"], capture_output=True,
                              text=True, timeout=10)

    tcp = check({"mode": "tcp", "sticky": {"cookie": "S"}})
    assert tcp.returncode == 1 and "mode http only" in tcp.stderr, tcp.stderr
    bad = check({"sticky": {"cookie": "a b"}})
    assert bad.returncode == 1 and "is not a cookie name" in bad.stderr, bad.stderr
    assert check({"sticky": {"cookie": "SERVERID"}}).returncode == 0
