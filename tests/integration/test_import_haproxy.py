"""contrail-lb --import-haproxy: the translation of real-world haproxy.cfg shapes passes
--check, and contrail-lb running it answers clients as HAProxy running the original
does: the round-robin order, X-Forwarded-For, a dead backend dropped within one check
interval after `fall`, 503 when all are down. HAProxy (Debian's) runs in the foreground
(-db) on the same ports, before contrail-lb, against the same backends."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import yaml

import clb
import import_compare as ic

pytestmark = pytest.mark.skipif(not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"),
                                reason="haproxy is not installed")

INTER, FALL = 2.0, 3  # the fixtures' check inter 2000 ... fall 3
# Detection: `fall` failed checks, each up to one interval apart, plus the interval
# under way at the kill, plus scheduling slack.
DETECTION_BOUND = (FALL + 1) * INTER + 1.0


@pytest.fixture
def contrail4(tmp_path, start_backend, clb_bin):
    """The Contrail 4 fixture rendered with free ports, its backends, its translation."""
    backends = {name: start_backend(name) for name in
                ("api1", "api2", "api3", "analytics1", "analytics2")}
    ports = {"api_port": clb.free_port(), "analytics_port": clb.free_port(),
             "stats_port": clb.free_port()}
    text = ic.render("contrail4-haproxy.cfg", **ports,
                     **{name: b.port for name, b in backends.items()})
    if os.geteuid() != 0:  # chroot and user switching need root: the rest stays
        text = "\n".join(line for line in text.splitlines()
                         if line.split()[:1] not in (["chroot"], ["user"], ["group"]))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    out = tmp_path / "clb" / "contrail-lb.yaml"
    out.parent.mkdir()
    result = ic.translate(clb_bin, cfg, out)
    return {"cfg": cfg, "out": out, "result": result, "backends": backends, **ports}


def test_contrail4_translation_passes_check_and_names_what_is_left(contrail4, clb_bin):
    result = contrail4["result"]
    assert result.returncode == 3, result.stderr
    # The only behaviour left behind: the stats page's URI.
    assert result.stderr.count("not translated:") == 4, result.stderr
    assert "stats uri /: contrail-lb serves its stats page at /stats" in result.stderr
    out = contrail4["out"]
    text = out.read_text()
    assert "# not translated: " + str(contrail4["cfg"]) + ":57: stats uri /" in text
    assert f"# from {contrail4['cfg']}:34 backend contrail-api-backend" in text
    check = subprocess.run([clb_bin, "-c", str(out), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    config = yaml.safe_load(text)
    api = config["services"][0]
    assert api["name"] == "contrail-api"
    assert [b["name"] for b in api["backends"]] == ["api1", "api2", "api3"]
    assert api["health_check"]["interval"] == "2s"
    assert (api["health_check"]["rise"], api["health_check"]["fall"]) == (2, 3)
    users = (out.parent / "admin.users").read_text()
    assert users.startswith("haproxy:$") and "contrail123" not in users
    assert oct((out.parent / "admin.users").stat().st_mode & 0o777) == "0o600"


def observe_contrail4(lb: ic.Balancer, env: dict, up) -> dict:
    """What clients see through one balancer; kills api2, then both analytics backends."""
    seen: dict = {}
    api, analytics = env["api_port"], env["analytics_port"]
    lb.start()
    started = time.monotonic()
    try:
        clb.wait_until(lambda: set(ic.answered_by(api, 3)) == {"api1", "api2", "api3"}, 10)
        seen["api_order"] = ic.from_first(ic.answered_by(api, 9), "api1")
        seen["analytics_order"] = ic.from_first(ic.answered_by(analytics, 4), "analytics1")
        seen["xff"] = ic.forwarded_for(api)
        # Steady state first: HAProxy starts a server at the lowest UP health, where one
        # failed check takes it DOWN; after `fall` good checks it takes `fall` failures.
        time.sleep(max(0.0, FALL * INTER + 0.5 - (time.monotonic() - started)))
        env["backends"]["api2"].kill()
        seen["api2_detected_after"] = ic.seconds_until(lambda: not up("contrail-api", "api2"), 15)
        seen["api_after_death"] = ic.answered_by(api, 6)
        for name in ("analytics1", "analytics2"):
            env["backends"][name].kill()
        for name in ("analytics1", "analytics2"):
            clb.wait_until(lambda: not up("contrail-analytics-api", name), 15)
        seen["all_down_status"] = clb.http_request("127.0.0.1", analytics, "GET", "/").status
    finally:
        lb.stop()
        for name in ("api2", "analytics1", "analytics2"):
            env["backends"][name].restart()
    return seen


@pytest.mark.deadline(170)
def test_contrail4_haproxy_and_contrail_lb_answer_alike(contrail4, clb_bin):
    assert contrail4["result"].returncode == 3, contrail4["result"].stderr
    stats, auth = contrail4["stats_port"], ic.basic("haproxy", "contrail123")
    ports = [contrail4["api_port"], contrail4["analytics_port"], stats]
    names = {"contrail-api": "contrail-api-backend",
             "contrail-analytics-api": "contrail-analytics-api-backend"}

    haproxy = ic.haproxy(contrail4["cfg"], ports)
    theirs = observe_contrail4(haproxy, contrail4,
                               lambda svc, srv: ic.haproxy_up(stats, auth, names[svc], srv))
    ours_lb = ic.contrail_lb(clb_bin, contrail4["out"], ports)
    ours = observe_contrail4(ours_lb, contrail4, lambda svc, srv: ic.clb_up(stats, auth, svc, srv))

    print(f"\nHAProxy: {theirs}\ncontrail-lb: {ours}")  # pytest -s: the numbers behind the verdict
    assert theirs["api_order"] == ["api1", "api2", "api3"] * 3
    assert ours["api_order"] == theirs["api_order"]
    assert ours["analytics_order"] == theirs["analytics_order"] == ["analytics1", "analytics2"] * 2
    assert ours["xff"] == theirs["xff"] == ["127.0.0.1"]
    for seen in (theirs, ours):
        assert (FALL - 1) * INTER - 0.5 <= seen["api2_detected_after"] <= DETECTION_BOUND, (theirs, ours)
        assert "api2" not in seen["api_after_death"]
        assert set(seen["api_after_death"]) == {"api1", "api3"}
    assert ours["all_down_status"] == theirs["all_down_status"] == 503


@pytest.fixture
def openstack(tmp_path, start_backend, clb_bin):
    backends = {name: start_backend(name) for name in ("ctl1", "ctl2", "ctl3")}
    port = clb.free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(ic.render("openstack-haproxy.cfg", port=port,
                             **{name: b.port for name, b in backends.items()}))
    out = tmp_path / "clb" / "contrail-lb.yaml"
    out.parent.mkdir()
    return {"cfg": cfg, "out": out, "port": port, "backends": backends,
            "result": ic.translate(clb_bin, cfg, out)}


@pytest.mark.deadline(120)
def test_openstack_listen_with_httpchk(openstack, clb_bin):
    result = openstack["result"]
    assert result.returncode == 3, result.stderr  # the kolla-style `http-request del-header`
    assert "http-request del-header X-Forwarded-Proto" in result.stderr
    config = yaml.safe_load(openstack["out"].read_text())
    keystone = config["services"][0]
    assert keystone["name"] == "keystone_internal"
    assert keystone["health_check"]["type"] == "http"
    assert keystone["health_check"]["path"] == "/"
    assert keystone["timeouts"] == {"connect": "10s", "client": "90s", "server": "90s",
                                    "http_request": "10s", "keep_alive": "10s", "queue": "1m"}
    port = openstack["port"]
    seen = []
    for lb in (ic.haproxy(openstack["cfg"], [port]), ic.contrail_lb(clb_bin, openstack["out"], [port])):
        lb.start()
        try:
            clb.wait_until(lambda: set(ic.answered_by(port, 3)) == {"ctl1", "ctl2", "ctl3"}, 10)
            seen.append((ic.from_first(ic.answered_by(port, 6), "ctl1"), ic.forwarded_for(port)))
        finally:
            lb.stop()
    assert seen[0] == seen[1] == (["ctl1", "ctl2", "ctl3"] * 2, ["127.0.0.1"])


@pytest.mark.deadline(150)
def test_tcp_passthrough_with_backup(tmp_path, start_backend, clb_bin):
    primary, backup = start_backend("db1"), start_backend("db2")
    port = clb.free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(ic.render("tcp-haproxy.cfg", port=port, db1=primary.port, db2=backup.port))
    out = tmp_path / "contrail-lb.yaml"
    result = ic.translate(clb_bin, cfg, out)
    assert result.returncode == 0, result.stderr
    service = yaml.safe_load(out.read_text())["services"][0]
    assert service["mode"] == "tcp" and service["health_check"]["type"] == "tcp"
    assert service["backends"][1] == {"name": "db2", "address": f"127.0.0.1:{backup.port}",
                                      "backup": True}
    seen = []
    for lb in (ic.haproxy(cfg, [port]), ic.contrail_lb(clb_bin, out, [port])):
        lb.start()
        try:
            before = ic.answered_by(port, 4)
            xff = ic.forwarded_for(port)  # passthrough: the request head is the client's
            primary.kill()
            clb.wait_until(lambda: ic.answered_by(port, 2) == ["db2", "db2"],
                           DETECTION_BOUND + 2, interval=0.2)
            seen.append((before, xff))
        finally:
            lb.stop()
            primary.restart()
    assert seen[0] == seen[1] == (["db1"] * 4, [])


def test_untranslatable_directive_exits_3_and_a_broken_file_exits_1(tmp_path, clb_bin):
    cfg = tmp_path / "h.cfg"
    cfg.write_text("listen api\n  bind 127.0.0.1:8082\n  mode http\n  acl slow path_beg /x\n"
                   "  server a 127.0.0.1:9100 check\n")
    result = subprocess.run([clb_bin, "--import-haproxy", str(cfg)], capture_output=True, text=True)
    assert result.returncode == 3
    assert f"not translated: {cfg}:4: acl slow path_beg /x: no contrail-lb setting" in result.stderr
    assert f"# not translated: {cfg}:4: acl slow path_beg /x" in result.stdout
    cfg.write_text("global\n  log \"unterminated\n")
    result = subprocess.run([clb_bin, "--import-haproxy", str(cfg)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"{cfg}:2: unterminated \" quote"
    missing = subprocess.run([clb_bin, "--import-haproxy", str(tmp_path / "none.cfg")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "cannot open" in missing.stderr


def test_bird_vip_with_bfd(tmp_path, clb_bin):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("defaults\n  mode http\nlisten contrail-api\n  bind 127.0.0.1:8082\n"
                   "  server a 127.0.0.1:9100 check\n")
    out = tmp_path / "contrail-lb.yaml"
    result = ic.translate(clb_bin, cfg, out, bird=ic.FIXTURES / "bird-vip-bfd.conf")
    # `source address` is what is left (contrail-lb lets the route pick the address).
    assert result.returncode == 3, result.stderr
    assert "bird-vip-bfd.conf:46: source address 10.0.0.11" in result.stderr
    assert result.stderr.count("not translated:") == 1
    check = subprocess.run([clb_bin, "-c", str(out), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    bgp = yaml.safe_load(out.read_text())["bgp"]
    assert bgp["router_id"] == "10.0.0.11"
    assert bgp["local_as"] == 64512
    assert bgp["hold_time"] == "9s"
    assert bgp["bfd"] == {"min_tx": "100ms", "min_rx": "100ms", "multiplier": 3}
    assert bgp["peers"] == [
        {"address": "10.0.0.1", "remote_as": 64512, "password": "s3cret"},
        {"address": "10.0.0.2", "remote_as": 64512},
    ]
    assert bgp["vips"] == [{"prefix": "10.0.0.100/32", "med": 50}]
