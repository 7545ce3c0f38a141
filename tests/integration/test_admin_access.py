"""Admin API access control (SPEC "Admin endpoints", docs/admin.md "Access control"):
a bearer token from admin.token_file for every state change; cross-site browser requests
and foreign Host names (DNS rebinding) refused with 403 whatever the token; /healthz and
/metrics open to probes."""

from __future__ import annotations

import copy
import re
import signal
import subprocess

import pytest

import clb
from clb import make_config, make_service

TOKEN = "s3cret-Token_0123456789"
DRAIN = "/api/v1/services/api/backends/b1/drain"
ENABLE = "/api/v1/services/api/backends/b1/enable"


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "admin.token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def proxy(start_backend, start_proxy, free_port, token_file):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"})
    config = make_config([service], admin_port=free_port())
    config["admin"]["token_file"] = str(token_file)
    return start_proxy(config)


def request(proxy, method: str, path: str, headers: dict | None = None) -> clb.Response:
    return clb.http_request(*proxy.admin_address, method, path, headers=headers)


def bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def drained(proxy) -> bool:
    status = proxy.admin_json()
    backend = status["services"][0]["backends"][0]
    return backend["drained"]


def admin_host(proxy) -> str:
    host, port = proxy.admin_address
    return f"{host}:{port}"


def test_state_change_needs_the_token(proxy):
    r = request(proxy, "POST", DRAIN)
    assert r.status == 401
    assert r.header("WWW-Authenticate", "").startswith("Bearer")
    assert request(proxy, "POST", DRAIN, bearer("wrong")).status == 401
    assert request(proxy, "POST", DRAIN, bearer(TOKEN + "x")).status == 401
    assert request(proxy, "POST", DRAIN, {"Authorization": TOKEN}).status == 401
    assert not drained(proxy)

    r = request(proxy, "POST", DRAIN, bearer())
    assert r.status == 200, r.text
    assert drained(proxy)
    assert request(proxy, "POST", ENABLE, {"Authorization": f"bearer {TOKEN}"}).status == 200
    assert not drained(proxy)


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Host": "evil.example"},
    {"Host": "rebind.example:9090"},
], ids=["origin", "origin-null", "sec-fetch-site", "host", "host-with-port"])
def test_cross_site_and_foreign_host_are_refused_even_with_the_token(proxy, headers):
    r = request(proxy, "POST", DRAIN, {**bearer(), **headers})
    assert r.status == 403, r.text
    assert not drained(proxy)
    # Reading the status from there is refused too; probes are not.
    assert request(proxy, "GET", "/api/v1/status", headers).status == 403
    assert request(proxy, "GET", "/stats", headers).status == 403
    assert request(proxy, "GET", "/healthz", headers).status == 200
    assert request(proxy, "GET", "/metrics", headers).status == 200


def test_same_origin_and_loopback_names_are_accepted(proxy):
    port = proxy.admin_address[1]
    for headers in ({"Host": f"localhost:{port}"},
                    {"Host": admin_host(proxy), "Origin": f"http://{admin_host(proxy)}",
                     "Sec-Fetch-Site": "same-origin"},
                    {"Host": f"127.0.0.2:{port}"}):
        assert request(proxy, "POST", DRAIN, {**bearer(), **headers}).status == 200, headers
        assert request(proxy, "GET", "/stats", headers).status == 200


def test_probes_need_no_token(proxy):
    assert request(proxy, "GET", "/healthz").status == 200
    assert request(proxy, "GET", "/metrics").status == 200
    assert request(proxy, "GET", "/api/v1/status").status == 200


def test_token_file_is_read_again_on_reload(proxy, token_file):
    token_file.write_text("the-new-token\n")
    mark = len(proxy.log())
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_for_log(r"reload: applied", start=mark)
    assert request(proxy, "POST", DRAIN, bearer()).status == 401
    assert request(proxy, "POST", DRAIN, bearer("the-new-token")).status == 200

    # Emptied: a config error, the running token stays.
    token_file.write_text("\n")
    mark = len(proxy.log())
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_for_log(r"admin\.token_file: .*empty", start=mark)
    proxy.wait_for_log(r"the running configuration stays", start=mark)
    assert request(proxy, "POST", ENABLE).status == 401
    assert request(proxy, "POST", ENABLE, bearer("the-new-token")).status == 200


def test_without_token_file_posts_are_open_but_cross_site_is_not(start_backend, start_proxy,
                                                                 free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"})
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    assert request(proxy, "POST", DRAIN, {"Origin": "http://evil.example"}).status == 403
    assert not drained(proxy)
    assert request(proxy, "POST", DRAIN).status == 200
    assert drained(proxy)


@pytest.mark.parametrize("content, message", [
    ("", r"empty"),
    ("two words\n", r"visible ASCII"),
    (None, r"cannot read"),
])
def test_unusable_token_file_is_a_config_error(tmp_path, clb_bin, free_port, content, message):
    path = tmp_path / "admin.token"
    if content is not None:
        path.write_text(content)
    config = make_config([make_service("api", free_port(), [{"name": "b", "address": "127.0.0.1:1"}])],
                         admin_port=free_port())
    config["admin"]["token_file"] = str(path)
    proxy = clb.Proxy(config, tmp_path)
    check = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert re.search(r"contrail-lb\.yaml:\d+:\d+: admin\.token_file: .*" + message, check.stderr), \
        check.stderr


def test_refusals_are_logged_once_per_second_with_a_count(proxy):
    mark = len(proxy.log())
    for _ in range(30):
        assert request(proxy, "GET", "/stats", {"Host": "evil.example"}).status == 403
    line = proxy.wait_for_log(r"admin: refused GET /stats .* \[repeated \d+ times in the last 1s\]",
                              start=mark, timeout=5)
    repeated = int(re.search(r"repeated (\d+) times", line).group(1))
    logged = len(re.findall(r"admin: refused GET /stats", proxy.log()[mark:]))
    assert logged < 10 and repeated >= 1, proxy.log()[mark:]


# ---- header values (RFC 9110 §5.5): empty ones are valid, OWS around them is not theirs ----


def raw_request(proxy, method: str, path: str, fields: str) -> clb.Response:
    """A request whose header lines (`fields`, each ending in CRLF) are sent byte for byte."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {admin_host(proxy)}\r\n{fields}"
    if method == "POST":
        head += "Content-Length: 0\r\n"
    with clb.RawConnection(*proxy.admin_address) as conn:
        conn.send((head + "\r\n").encode("latin-1"))
        return conn.read_response()


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
@pytest.mark.parametrize("field", ["X-Empty:\r\n", "X-Empty: \t \r\n"], ids=["empty", "ows-only"])
def test_probes_accept_an_empty_header_value(proxy, path, field):
    r = raw_request(proxy, "GET", path, field)
    assert r.status == 200, r.text


def test_state_change_with_an_empty_header(proxy):
    r = raw_request(proxy, "POST", DRAIN, "X-Empty:\r\n")
    assert r.status == 401, r.text  # the empty field is fine, the token is still needed
    r = raw_request(proxy, "POST", DRAIN, f"X-Empty:\r\nAuthorization: Bearer {TOKEN}\r\n")
    assert r.status == 200, r.text
    assert drained(proxy)


def test_whitespace_around_the_token_is_not_part_of_it(proxy):
    r = raw_request(proxy, "POST", DRAIN, f"Authorization: Bearer {TOKEN} \t \r\n")
    assert r.status == 200, r.text
    assert drained(proxy)
    r = raw_request(proxy, "POST", ENABLE, f"Authorization: \tBearer {TOKEN}\t\r\nX-Empty:\r\n")
    assert r.status == 200, r.text
    assert not drained(proxy)
    r = raw_request(proxy, "POST", DRAIN, f"Authorization: Bearer {TOKEN} x\r\n")
    assert r.status == 401, r.text  # inner content still counts


@pytest.mark.parametrize("fields", [
    "X-A: a\r\n b\r\n",
    "X-A: a\r\n\tb\r\n",
    "X-A:\r\n b\r\n",
    "X-A:\r\n \r\n",
    f"Authorization: Bearer\r\n {TOKEN}\r\n",
], ids=["value", "tab", "after-empty", "blank-after-empty", "token"])
def test_obsolete_line_folding_is_still_refused(proxy, fields):
    if "Authorization" not in fields:
        fields += f"Authorization: Bearer {TOKEN}\r\n"
    r = raw_request(proxy, "POST", DRAIN, fields)
    assert r.status == 400, r.text
    assert r.header("Connection") == "close"
    assert not drained(proxy)
    assert raw_request(proxy, "GET", "/healthz", fields).status == 400
