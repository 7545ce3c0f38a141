"""TLS session resumption on a service's listeners (services[].tls.session_tickets,
session_timeout): tickets sealed with keys every worker shares and a reload keeps, a
session cache for TLS 1.2 clients, and no ticket at all when turned off."""

from __future__ import annotations

import copy
import socket
import ssl
import subprocess

import pytest

from clb import make_config, make_service


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def start(start_backend, start_proxy, free_port, certificate, workers=2, **tls):
    backend = start_backend("b1")
    cert, key = certificate
    service = make_service("api", free_port(), [backend], health_check={"type": "none"},
                           tls={"cert": cert, "key": key, **tls})
    return start_proxy(make_config([service], workers=workers))


def client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """One context for all connections: Python resumes only sessions of its own context."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    return context


def get(proxy, context: ssl.SSLContext, session=None) -> tuple[bool, ssl.SSLSession]:
    """One request on a new connection offering `session`: (resumed?, the session after the
    response, TLS 1.3 tickets included)."""
    host, port = proxy.service_address()
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, session=session) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:100]
            return tls.session_reused, tls.session


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_sessions_resume_on_every_worker(start_backend, start_proxy, free_port, certificate,
                                         version):
    proxy = start(start_backend, start_proxy, free_port, certificate)
    context = client(version)
    resumed, session = get(proxy, context)
    assert not resumed
    assert session.has_ticket
    # SO_REUSEPORT spreads new connections over both workers by their source port: twelve
    # connections all land on one with a chance of 1 in 2048.
    for _ in range(12):
        previous = session
        resumed, session = get(proxy, context, session)
        assert resumed
        if version == ssl.TLSVersion.TLSv1_3:
            # A fresh ticket after each resumption: a client such as OpenSSL's, which does
            # not reuse a TLS 1.3 ticket, would otherwise make a full handshake next time.
            assert session.id != previous.id


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_a_reload_keeps_the_ticket_keys(start_backend, start_proxy, free_port, certificate,
                                        version):
    proxy = start(start_backend, start_proxy, free_port, certificate)
    context = client(version)
    _, session = get(proxy, context)
    for round_ in range(2):
        changed = copy.deepcopy(proxy.config)
        changed["services"][0]["retries"] = round_ + 1  # any change: new TLS contexts
        mark = len(proxy.log())
        proxy.reload(changed)
        proxy.wait_for_log(r"reload: applied", start=mark)
        resumed, session = get(proxy, context, session)
        assert resumed, f"not resumed after reload {round_ + 1}"


def test_a_new_session_timeout_starts_new_keys(start_backend, start_proxy, free_port,
                                               certificate):
    proxy = start(start_backend, start_proxy, free_port, certificate, session_timeout="1h")
    context = client(ssl.TLSVersion.TLSv1_3)
    _, session = get(proxy, context)
    changed = copy.deepcopy(proxy.config)
    changed["services"][0]["tls"]["session_timeout"] = "30m"
    mark = len(proxy.log())
    proxy.reload(changed)
    proxy.wait_for_log(r"reload: applied", start=mark)
    resumed, session = get(proxy, context, session)
    assert not resumed
    assert get(proxy, context, session)[0]


def test_without_tickets_tls13_gets_none_and_tls12_resumes_from_the_cache(
        start_backend, start_proxy, free_port, certificate):
    proxy = start(start_backend, start_proxy, free_port, certificate, session_tickets=False)
    proxy.wait_for_log(r"api: TLS session tickets off")
    context = client(ssl.TLSVersion.TLSv1_3)
    resumed, session = get(proxy, context)
    assert not session.has_ticket
    assert not get(proxy, context, session)[0]

    context = client(ssl.TLSVersion.TLSv1_2)
    resumed, session = get(proxy, context)
    assert not session.has_ticket
    assert session.id  # a session ID the server keeps in its cache
    assert get(proxy, context, session)[0]


def test_ktls_auto_without_the_kernel_module_serves_in_user_space(
        start_backend, start_proxy, free_port, certificate):
    proxy = start(start_backend, start_proxy, free_port, certificate, workers=1, ktls="auto")
    with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
        kernel_tls = "tls" in f.read().split()
    proxy.wait_for_log(r"api: TLS session tickets on, kernel TLS " +
                       ("asked" if kernel_tls else "off"))
    context = client(ssl.TLSVersion.TLSv1_3)
    for _ in range(3):
        get(proxy, context)
