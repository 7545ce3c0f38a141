"""TLS to backends (SPEC `backend_tls`): verification, keep-alive and resumption, failures
that count against a backend, health checks and tcp mode over TLS, reload, --check."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest

import clb
from clb import make_config, make_service
from e2e import backend_status, wait_state
from tls_backends import Pki, TlsBackend


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path, "ca")


@pytest.fixture
def tls_backends():
    made: list[TlsBackend] = []

    def start(name: str, cert: str, key: str) -> TlsBackend:
        backend = TlsBackend(name, cert, key)
        made.append(backend)
        return backend

    yield start
    for backend in made:
        backend.close()


def tls_service(port: int, backends: list, backend_tls: dict, **extra) -> dict:
    extra.setdefault("health_check", {"type": "none"})
    return make_service("api", port, backends, backend_tls=backend_tls, **extra)


def access_lines(proxy) -> list[str]:
    return [line for line in proxy.log().splitlines() if "access: " in line and " api " in line]


def test_verified_backend_serves_and_keeps_its_tls_connection(pki, tls_backends, start_proxy,
                                                               free_port):
    backend = tls_backends("t1", *pki.server("t1"))
    proxy = start_proxy(make_config([tls_service(free_port(), [backend.entry()],
                                                 {"ca": pki.ca})]))
    for _ in range(3):
        r = proxy.get("/x")
        assert r.status == 200, r.body
        assert "tls backend t1 conn=1 " in r.text
    assert backend.handshakes == 1 and backend.requests == 3
    clb.wait_until(lambda: len(access_lines(proxy)) >= 3, 5)
    conns = [re.search(r"conn=(new|reused)", line).group(1) for line in access_lines(proxy)]
    assert conns[:3] == ["new", "reused", "reused"], access_lines(proxy)


def test_new_connections_resume_the_session(pki, tls_backends, start_proxy, free_port):
    backend = tls_backends("t1", *pki.server("t1"))
    proxy = start_proxy(make_config([tls_service(free_port(), [backend.entry()],
                                                 {"ca": pki.ca})]))
    first = proxy.get("/close/1")
    assert first.status == 200 and "resumed=0" in first.text
    second = proxy.get("/close/2")
    assert second.status == 200 and "conn=2 resumed=1" in second.text, second.text
    assert backend.handshakes == 2 and backend.resumed == 1
    assert backend.requests == 2


@pytest.mark.parametrize("case", ["other_ca", "expired", "wrong_name"])
def test_a_certificate_that_fails_verification_is_refused(case, tmp_path, pki, tls_backends,
                                                          start_proxy, free_port):
    backend_tls = {"ca": pki.ca}
    if case == "other_ca":
        cert = Pki(tmp_path, "other").server("t1")
        reason = "certificate verify failed: unable to get local issuer certificate"
    elif case == "expired":
        cert = pki.server("t1", start="20200101000000Z", end="20200102000000Z")
        reason = "certificate verify failed: certificate has expired"
    else:
        cert = pki.server("t1")
        backend_tls["sni"] = "other.test"
        reason = "certificate verify failed: hostname mismatch"
    backend = tls_backends("t1", *cert)
    proxy = start_proxy(make_config([tls_service(free_port(), [backend.entry()], backend_tls,
                                                 retries=0)]))
    r = proxy.get("/")
    assert r.status == 503
    line = proxy.wait_for_log(r"backend api/t1 .*connect failed: TLS handshake")
    assert reason in line, line
    assert backend.requests == 0 and backend.handshakes == 0


def test_sni_is_sent_and_checked(pki, tls_backends, start_proxy, free_port):
    backend = tls_backends("t1", *pki.server("t1", san="DNS:backend.test"))
    proxy = start_proxy(make_config([tls_service(free_port(), [backend.entry()],
                                                 {"ca": pki.ca, "sni": "backend.test"})]))
    r = proxy.get("/")
    assert r.status == 200 and "sni=backend.test" in r.text, r.text


def test_verify_none_serves_any_certificate(tmp_path, tls_backends, start_proxy, free_port):
    backend = tls_backends("t1", *Pki(tmp_path, "other").server("t1"))
    proxy = start_proxy(make_config([tls_service(free_port(), [backend.entry()],
                                                 {"verify": "none"})]))
    assert proxy.get("/").status == 200


def test_a_failed_handshake_is_retried_on_another_backend(tmp_path, pki, tls_backends,
                                                          start_proxy, free_port):
    bad = tls_backends("bad", *Pki(tmp_path, "other").server("bad"))
    good = tls_backends("good", *pki.server("good"))
    proxy = start_proxy(make_config([tls_service(free_port(), [bad.entry(), good.entry()],
                                                 {"ca": pki.ca}, retries=1)]))
    for _ in range(4):
        r = proxy.get("/")
        assert r.status == 200 and "tls backend good" in r.text
    assert bad.requests == 0


def test_health_checks_speak_tls(pki, tls_backends, start_backend, start_proxy, free_port):
    good = tls_backends("good", *pki.server("good"))
    plain = start_backend("plain")
    check = dict(clb.FAST_HTTP_CHECK)
    service = tls_service(free_port(), [good.entry(), {"name": "plain", "address": plain.address}],
                          {"ca": pki.ca}, health_check=check)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_state(proxy, "api", "good", True)
    wait_state(proxy, "api", "plain", False)
    assert "status 200" in backend_status(proxy, "api", "good")["check"]["last_reason"]
    reason = backend_status(proxy, "api", "plain")["check"]["last_reason"]
    assert reason.startswith("TLS handshake: "), reason
    for _ in range(3):
        assert "tls backend good" in proxy.get("/").text


def test_tcp_check_over_tls(tmp_path, pki, tls_backends, start_proxy, free_port):
    good = tls_backends("good", *pki.server("good"))
    bad = tls_backends("bad", *Pki(tmp_path, "other").server("bad"))
    check = {"type": "tcp", "interval": "100ms", "timeout": "500ms", "rise": 1, "fall": 1}
    service = tls_service(free_port(), [good.entry(), bad.entry()], {"ca": pki.ca},
                          health_check=check)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_state(proxy, "api", "good", True)
    wait_state(proxy, "api", "bad", False)
    reason = backend_status(proxy, "api", "bad")["check"]["last_reason"]
    assert "unable to get local issuer certificate" in reason, reason


def test_tcp_mode_originates_tls(pki, tls_backends, start_proxy, free_port):
    backend = tls_backends("t1", *pki.server("t1"))
    service = tls_service(free_port(), [backend.entry()], {"ca": pki.ca}, mode="tcp")
    proxy = start_proxy(make_config([service]))
    host, port = proxy.service_address()
    clb.wait_until(lambda: backend.handshakes >= 1, 5)  # start_proxy's readiness connection
    before = backend.handshakes
    for i in range(2):
        conn = clb.RawConnection(host, port)
        try:
            conn.send(b"GET /tcp HTTP/1.1\r\nHost: x\r\n\r\n")
            r = conn.read_response()
            assert r.status == 200 and b"path=/tcp" in r.body
        finally:
            conn.close()
    assert backend.handshakes == before + 2 and backend.resumed >= 2
    assert backend.requests == 2


def test_reload_with_another_ca_applies_to_pooled_connections_too(tmp_path, pki, tls_backends,
                                                                  start_proxy, free_port):
    backend = tls_backends("t1", *pki.server("t1"))
    config = make_config([tls_service(free_port(), [backend.entry()], {"ca": pki.ca},
                                      retries=0)])
    proxy = start_proxy(config)
    assert proxy.get("/").status == 200  # leaves a pooled connection
    other = copy.deepcopy(config)
    other["services"][0]["backend_tls"]["ca"] = Pki(tmp_path, "other").ca
    mark = len(proxy.log())
    proxy.reload(other)
    proxy.wait_for_log(r"reload: applied", start=mark)
    assert proxy.get("/").status == 503  # the pooled connection was made under the old CA
    assert backend.requests == 1


def check(clb_bin, tmp_path, backend_tls: dict) -> subprocess.CompletedProcess:
    config = make_config([make_service("api", 18080, [{"name": "b", "address": "127.0.0.1:1"}],
                                       backend_tls=backend_tls)])
    proxy = clb.Proxy(config, tmp_path)
    return subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                          capture_output=True, text=True, timeout=30)


def test_check_refuses_bad_backend_tls(clb_bin, tmp_path, pki):
    missing = check(clb_bin, tmp_path, {"sni": "x"})
    assert missing.returncode == 1
    assert re.search(r"\.yaml:\d+:\d+: services\[0\]\.backend_tls: \"ca\" is required",
                     missing.stderr), missing.stderr
    unreadable = check(clb_bin, tmp_path, {"ca": str(tmp_path / "none.pem")})
    assert unreadable.returncode == 1
    assert re.search(r"\.yaml:\d+:\d+: services\[0\]\.backend_tls\.ca: cannot read",
                     unreadable.stderr), unreadable.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    bad = check(clb_bin, tmp_path, {"ca": str(garbage)})
    assert bad.returncode == 1 and "backend_tls.ca: tls: cannot load CA file" in bad.stderr, \
        bad.stderr
    cert, _ = pki.server("client")
    no_key = check(clb_bin, tmp_path, {"ca": pki.ca, "cert": cert})
    assert no_key.returncode == 1 and "backend_tls.cert: needs \"key\"" in no_key.stderr
    assert check(clb_bin, tmp_path, {"verify": "none"}).returncode == 0
    assert check(clb_bin, tmp_path, {"ca": pki.ca, "sni": "backend.test"}).returncode == 0
