"""TLS termination on a service's listeners (SPEC `tls`)."""

from __future__ import annotations

import copy
import http.client
import re
import signal
import socket
import ssl
import subprocess
from pathlib import Path

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


# ---- reload keeps what works; --check loads the pair; forward-secret AEAD suites only ----


def make_certificate(directory, name: str) -> tuple[str, str]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def served_certificate(proxy, **client) -> bytes:
    """The DER certificate the service's TLS listener presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if "ciphers" in client:
        context.set_ciphers(client["ciphers"])
    if "maximum_version" in client:
        context.maximum_version = client["maximum_version"]
    host, port = proxy.service_address()
    with socket.create_connection((host, port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True)


def der(cert_file: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(open(cert_file).read())


def test_check_refuses_a_key_that_does_not_match_its_certificate(tmp_path, clb_bin, free_port):
    cert_one, _ = make_certificate(tmp_path, "one")
    _, key_two = make_certificate(tmp_path, "two")
    config = make_config([make_service("api", free_port(), [{"name": "b", "address": "127.0.0.1:1"}],
                                       tls={"cert": cert_one, "key": key_two})])
    proxy = clb.Proxy(config, tmp_path)
    check = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1, check.stdout
    assert re.search(r"contrail-lb\.yaml:\d+:\d+: services\[0\]\.tls\.key: .*does not match",
                     check.stderr), check.stderr


def test_bad_certificate_on_reload_keeps_the_running_one(start_backend, start_proxy, free_port,
                                                         tmp_path):
    backend = start_backend("b1")
    cert_one, key_one = make_certificate(tmp_path, "one")
    cert_two, _ = make_certificate(tmp_path, "two")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"},
                           tls={"cert": cert_one, "key": key_one})
    config = make_config([service])
    proxy = start_proxy(config)
    original = der(cert_one)
    assert served_certificate(proxy) == original

    # A certificate that does not match the key.
    bad = copy.deepcopy(config)
    bad["services"][0]["tls"]["cert"] = cert_two
    mark = len(proxy.log())
    proxy.reload(bad)
    proxy.wait_for_log(r"reload: .*tls\.(cert|key): .*does not match", start=mark)
    proxy.wait_for_log(r"the running configuration stays", start=mark)
    assert served_certificate(proxy) == original

    # The same file names, the certificate file replaced by garbage.
    proxy.write_config(config)
    Path(cert_one).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    mark = len(proxy.log())
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_for_log(r"reload: .*tls\.cert: .*cannot load certificate", start=mark)
    assert served_certificate(proxy) == original
    conn = https(proxy)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert "reload: applied" not in proxy.log()[mark:]


WEAK_TLS12 = "AES128-SHA:AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:" \
             "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:@SECLEVEL=0"


def test_tls12_without_forward_secrecy_or_aead_is_refused(tls_proxy):
    with pytest.raises(ssl.SSLError):
        served_certificate(tls_proxy, ciphers=WEAK_TLS12, maximum_version=ssl.TLSVersion.TLSv1_2)
    # The default suites: ECDHE with AES-GCM or ChaCha20-Poly1305.
    for suite in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"):
        assert served_certificate(tls_proxy, ciphers=suite, maximum_version=ssl.TLSVersion.TLSv1_2)


def test_tls_ciphers_and_min_version_are_configurable(start_backend, start_proxy, free_port,
                                                      certificate):
    backend = start_backend("b1")
    cert, key = certificate
    service = make_service("api", free_port(), [backend], health_check={"type": "none"},
                           tls={"cert": cert, "key": key, "ciphers": "ECDHE-RSA-AES128-SHA"})
    proxy = start_proxy(make_config([service]))
    assert served_certificate(proxy, ciphers="ECDHE-RSA-AES128-SHA:@SECLEVEL=0",
                              maximum_version=ssl.TLSVersion.TLSv1_2)

    tls13 = copy.deepcopy(proxy.config)
    tls13["services"][0]["tls"] = {"cert": cert, "key": key, "min_version": "1.3"}
    mark = len(proxy.log())
    proxy.reload(tls13)
    proxy.wait_for_log(r"reload: applied", start=mark)
    with pytest.raises(ssl.SSLError):
        served_certificate(proxy, maximum_version=ssl.TLSVersion.TLSv1_2)
    assert served_certificate(proxy)  # TLS 1.3


def test_unknown_cipher_list_is_a_config_error(tmp_path, clb_bin, free_port, certificate):
    cert, key = certificate
    config = make_config([make_service("api", free_port(), [{"name": "b", "address": "127.0.0.1:1"}],
                                       tls={"cert": cert, "key": key, "ciphers": "NO-SUCH-CIPHER"})])
    proxy = clb.Proxy(config, tmp_path)
    check = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert re.search(r":\d+:\d+: services\[0\]\.tls\.ciphers: tls: no usable cipher", check.stderr)


# ---- a bare FIN (no close_notify) half-closes, as it does over plain TCP ----


TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def tls_connect(proxy, version: ssl.TLSVersion) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    raw = socket.create_connection(proxy.service_address(), timeout=10)
    tls = context.wrap_socket(raw)
    assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                             ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    return tls


def send_then_bare_fin(tls: ssl.SSLSocket, data: bytes) -> None:
    """Sends data, then a TCP FIN with no close_notify before it: SSLSocket.shutdown()
    (and unwrap()) would end the TLS session, the base class only shuts the socket."""
    tls.sendall(data)
    socket.socket.shutdown(tls, socket.SHUT_WR)


def read_until_close(tls: ssl.SSLSocket) -> bytes:
    """Everything the proxy sends until it closes (close_notify, FIN, alert or reset)."""
    received = b""
    while True:
        try:
            data = tls.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            return received
        if not data:
            return received
        received += data


def tls_access_lines(proxy) -> list[str]:
    return [line for line in proxy.log().splitlines() if "access: " in line and " api " in line]


@pytest.mark.deadline(60)
@pytest.mark.parametrize("version", TLS_VERSIONS, ids=["tls1.2", "tls1.3"])
def test_request_then_bare_fin_gets_its_response(tls_proxy, version):
    with tls_connect(tls_proxy, version) as tls:
        send_then_bare_fin(tls, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = read_until_close(tls)
    assert reply.startswith(b"HTTP/1.1 200 "), reply
    head, _, body = reply.partition(b"\r\n\r\n")
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head, re.I).group(1))
    assert body == b"hello from b1\n" and len(body) == length, reply
    line = clb.wait_until(lambda: next(iter(tls_access_lines(tls_proxy)), None), 5)
    assert '"GET / HTTP/1.1" 200 ' in line and " completed" in line, line


@pytest.mark.deadline(60)
@pytest.mark.parametrize("version", TLS_VERSIONS, ids=["tls1.2", "tls1.3"])
def test_body_cut_short_by_bare_fin_is_a_client_abort(tls_proxy, version):
    """The FIN ends the stream, not the request: the parser still wants 90 bytes."""
    with tls_connect(tls_proxy, version) as tls:
        send_then_bare_fin(tls, b"POST /sink HTTP/1.1\r\nHost: localhost\r\n"
                                b"Content-Length: 100\r\n\r\n0123456789")
        reply = read_until_close(tls)
    assert b"HTTP/1.1 200 " not in reply, reply  # /sink answers a whole body only
    line = clb.wait_until(lambda: next(iter(tls_access_lines(tls_proxy)), None), 5)
    assert '"POST /sink HTTP/1.1" 0 ' in line and " client_abort" in line, line
    assert "closed the connection mid-request" in line, line


def test_pipelined_requests_in_records_of_one_segment(tls_proxy):
    """Three requests, each its own TLS record, reach the proxy in one segment: its read
    takes all three records at once (read-ahead), and none waits for a socket event that
    will not come."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with socket.create_connection(tls_proxy.service_address(), timeout=10) as raw:

        def pump(op, *args):
            while True:
                try:
                    result = op(*args)
                    raw.sendall(outgoing.read())
                    return result
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    data = raw.recv(65536)
                    if not data:
                        incoming.write_eof()
                    else:
                        incoming.write(data)

        pump(tls.do_handshake)
        for i in range(3):
            tls.write(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # one record each
        raw.sendall(outgoing.read())
        answers = b""
        while answers.count(b"HTTP/1.1 200") < 3:
            answers += pump(tls.read, 65536)
    assert answers.count(b"HTTP/1.1 200") == 3
