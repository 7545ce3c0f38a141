"""TLS termination on a service's listeners (SPEC `tls`)."""

from __future__ import annotations

import http.client
import ssl
import subprocess

import pytest

import clb
from clb import make_config, make_service


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


@pytest.fixture
def tls_proxy(start_backend, start_proxy, free_port, certificate):
    backend = start_backend("b1")
    cert, key = certificate
    service = make_service("api", free_port(), [backend], health_check={"type": "none"},
                           tls={"cert": cert, "key": key})
    return start_proxy(make_config([service]))


def https(proxy) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    host, port = proxy.service_address()
    return http.client.HTTPSConnection(host, port, context=context, timeout=10)


def test_https_requests_keep_alive_and_forwarded_proto(tls_proxy):
    conn = https(tls_proxy)
    try:
        for i in range(3):
            conn.request("GET", "/headers")
            r = conn.getresponse()
            body = r.read().decode()
            assert r.status == 200
            assert "X-Forwarded-Proto: https\r\n" in body
        assert conn.sock is not None  # one TLS connection carried all three
    finally:
        conn.close()


def test_https_body_both_ways(tls_proxy):
    payload = bytes(range(256)) * 20000  # 5 MB
    conn = https(tls_proxy)
    try:
        conn.request("POST", "/echo", body=payload)
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == payload
    finally:
        conn.close()


def test_plain_http_on_tls_port_never_reaches_backend(tls_proxy):
    reply = clb.raw_exchange(*tls_proxy.service_address(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                             timeout=5)
    assert b"hello" not in reply
    assert tls_proxy.alive


def test_unreadable_certificate_is_a_config_error(tmp_path, clb_bin, free_port):
    config = make_config([make_service("api", free_port(), [{"name": "b", "address": "127.0.0.1:1"}],
                                       tls={"cert": str(tmp_path / "missing.pem"),
                                            "key": str(tmp_path / "missing.key")})])
    proxy = clb.Proxy(config, tmp_path)
    check = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert "tls.cert: cannot read" in check.stderr
