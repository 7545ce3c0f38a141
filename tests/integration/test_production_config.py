"""conf/contrail-lb.yaml, the production example for a three-controller cluster, run for
real (issue 16, "Done when"): its addresses rewritten to loopback (the controllers become
127.0.0.11-13 on their real ports, the listeners free ports on 127.0.0.1), the files it
names made in a temp dir (a cluster CA and its controller certificate, the VIP's
certificate, a users file, a token, a 503 page), and real TLS controllers behind it. Every
feature of the file is exercised: TLS both ways with verification, cookie persistence on
the web UI, its checks on the API port, the 8080 redirect, the stats password, the error
page, the connection limits. The bgp section is left out here: BGP and BFD with real
routers are the HA test bed's (tests/ha) and test_bgp_e2e's."""

from __future__ import annotations

import base64
import http.client
import re
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import yaml

import clb
from clb import free_port, wait_until
from tls_backends import Pki, TlsBackend

CONF = Path(__file__).resolve().parents[2] / "conf" / "contrail-lb.yaml"
CONTROLLERS = {f"ctrl{i}": f"127.0.0.1{i}" for i in (1, 2, 3)}
PASSWORD = "contrail-test"
TOKEN = "drain-token"


def make_files(root: Path) -> dict:
    """The files the example names, as a deployment would have them."""
    pki = Pki(root, "cluster-ca")
    ctrl_cert, ctrl_key = pki.server(
        "controllers", san=",".join(f"IP:{ip}" for ip in CONTROLLERS.values()))
    vip_cert, vip_key = pki.server("vip", san="IP:127.0.0.1,DNS:contrail.test")
    etc = root / "etc"
    (etc / "tls").mkdir(parents=True)
    (etc / "errors").mkdir()
    (etc / "tls" / "vip.pem").write_text(Path(vip_cert).read_text())
    (etc / "tls" / "vip.key").write_text(Path(vip_key).read_text())
    (etc / "ca-cert.pem").write_text(Path(pki.ca).read_text())
    hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True,
                            text=True, check=True).stdout.strip()
    (etc / "admin.users").write_text(f"admin:{hashed}\n")
    (etc / "admin.token").write_text(TOKEN + "\n")
    (etc / "errors" / "503.http").write_text(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
        "\r\ncluster in maintenance")
    return {"etc": etc, "ca": pki.ca, "cert": ctrl_cert, "key": ctrl_key}


def rewrite(text: str, etc: Path, ports: dict) -> dict:
    for prefix in ("/etc/contrail-lb/", "/etc/contrail/ssl/certs/"):
        text = text.replace(prefix, f"{etc}/")
    for name, ip in CONTROLLERS.items():
        text = text.replace(f"10.0.0.1{name[-1]}:", f"{ip}:")
    for public, port in ports.items():
        text = text.replace(f'"0.0.0.0:{public}"', f'"127.0.0.1:{port}"')
    text = text.replace("10.0.0.21:5937", f"127.0.0.1:{ports['admin']}")
    config = yaml.safe_load(text)
    del config["bgp"]  # see the module's docstring
    config["global"]["workers"] = 2
    return config


@pytest.fixture
def cluster(tmp_path, clb_bin):
    files = make_files(tmp_path)
    controllers = {}
    try:
        for name, ip in CONTROLLERS.items():
            for port in (8082, 8081, 8143):
                controllers[(name, port)] = TlsBackend(name, files["cert"], files["key"], ip, port)
        ports = {8082: free_port(), 8081: free_port(), 8143: free_port(), 8080: free_port(),
                 "admin": free_port()}
        config = rewrite(CONF.read_text(), files["etc"], ports)
        proxy = clb.Proxy(config, tmp_path / "proxy", binary=clb_bin)
        proxy.start()
        yield {"proxy": proxy, "ports": ports, "ca": files["ca"], "controllers": controllers}
        proxy.stop()
    finally:
        for backend in controllers.values():
            backend.close()


def https(port: int, ca: str, path: str = "/", headers: dict | None = None,
          method: str = "GET") -> clb.Response:
    context = ssl.create_default_context(cafile=ca)
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request(method, path, headers=headers or {})
        reply = connection.getresponse()
        return clb.Response(f"HTTP/1.{reply.version % 10}", reply.status, reply.reason,
                            reply.getheaders(), reply.read())
    finally:
        connection.close()


def admin(cluster, method: str, path: str, headers: dict | None = None) -> clb.Response:
    return clb.http_request("127.0.0.1", cluster["ports"]["admin"], method, path,
                            headers={"Host": f"127.0.0.1:{cluster['ports']['admin']}",
                                     **(headers or {})})


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def wait_state(cluster, service: str, backend: str, up: bool, timeout: float) -> None:
    """/api/v1/status, behind the password here (e2e.wait_state asks without one)."""
    def state() -> bool:
        status = admin(cluster, "GET", "/api/v1/status", basic("admin", PASSWORD)).json()
        svc = next(s for s in status["services"] if s["name"] == service)
        return next(b for b in svc["backends"] if b["name"] == backend)["up"] == up

    wait_until(state, timeout, message=f"{service}/{backend} {'UP' if up else 'DOWN'}")


def served_by(response) -> str:
    match = re.match(rb"tls backend (ctrl\d) ", response.body)
    assert match, response.body
    return match.group(1).decode()


@pytest.mark.deadline(120)
def test_the_production_example_serves_every_feature(cluster):
    ports, ca = cluster["ports"], cluster["ca"]
    for service in ("contrail-api", "contrail-analytics-api", "contrail-webui"):
        for name in CONTROLLERS:
            wait_state(cluster, service, name, True, 20)

    # TLS both ways, verified against the cluster CA; roundrobin over the controllers.
    seen = {served_by(https(ports[8082], ca)) for _ in range(6)}
    assert seen == set(CONTROLLERS)
    assert served_by(https(ports[8081], ca)) in CONTROLLERS

    # The web UI: a cookie keeps the browser on one controller.
    first = https(ports[8143], ca)
    cookie = re.fullmatch(r"SERVERID=([0-9a-f]{16}); Path=/", first.header("Set-Cookie")).group(1)
    home = served_by(first)
    for _ in range(5):
        again = https(ports[8143], ca, headers={"Cookie": f"SERVERID={cookie}"})
        assert served_by(again) == home and again.header("Set-Cookie") is None

    # 8080 only redirects to the UI's HTTPS port.
    moved = clb.http_request("127.0.0.1", ports[8080], "GET", "/login?next=/",
                             headers={"Host": "contrail.test:8080"})
    assert moved.status == 301
    assert moved.header("Location") == "https://contrail.test:8143/login?next=/"

    # Stats behind a password; probes stay open; drain takes the bearer token.
    assert admin(cluster, "GET", "/healthz").status == 200
    assert "contrail_lb_backend_max_connections" in admin(cluster, "GET", "/metrics").text
    refused = admin(cluster, "GET", "/stats")
    assert refused.status == 401 and "Basic" in refused.header("WWW-Authenticate")
    assert admin(cluster, "GET", "/stats", basic("admin", "wrong")).status == 401
    page = admin(cluster, "GET", "/stats", basic("admin", PASSWORD))
    assert page.status == 200 and "contrail-webui" in page.text
    status = admin(cluster, "GET", "/api/v1/status", basic("admin", PASSWORD)).json()
    api = next(s for s in status["services"] if s["name"] == "contrail-api")
    assert {b["max_connections"] for b in api["backends"]} == {1024}

    # The operators' 503 page once no web UI controller is left.
    for name in CONTROLLERS:
        drained = admin(cluster, "POST", f"/api/v1/services/contrail-webui/backends/{name}/drain",
                        {"Authorization": f"Bearer {TOKEN}"})
        assert drained.status == 200, drained
    maintenance = https(ports[8143], ca)
    assert maintenance.status == 503 and maintenance.body == b"cluster in maintenance"
    for name in CONTROLLERS:
        admin(cluster, "POST", f"/api/v1/services/contrail-webui/backends/{name}/enable",
              {"Authorization": f"Bearer {TOKEN}"})

    # The web UI's controllers are checked on the API port: ctrl1's API gone takes its UI
    # out although the UI port still answers.
    cluster["controllers"][("ctrl1", 8082)].close()
    wait_state(cluster, "contrail-webui", "ctrl1", False, 20)
    assert all(served_by(https(ports[8143], ca)) != "ctrl1" for _ in range(4))
