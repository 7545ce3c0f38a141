"""contrail-lb --from-env and the -c FILE fallback: a configuration from Tungsten
Fabric's variables, printed, checked, and served; errors name the variable."""

from __future__ import annotations

import os
import signal
import subprocess

import yaml

import clb
from tls_backends import Pki


def run(clb_bin: str, args: list[str], env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("CONTRAIL_LB_") and k not in ("CONTROLLER_NODES",)}
    return subprocess.run([clb_bin, *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=30)


def loopback_env(api: clb.Backend, analytics: clb.Backend, webui: clb.Backend, admin: int) -> dict:
    """Backends on 127.0.0.1, contrail-lb listening on 127.0.0.2 on the same ports."""
    return {"CONTROLLER_NODES": "127.0.0.1", "CONFIG_API_PORT": str(api.port),
            "ANALYTICS_API_PORT": str(analytics.port), "WEBUI_HTTPS_LISTEN_PORT": str(webui.port),
            "CONTRAIL_LB_LISTEN_ADDRESS": "127.0.0.2",
            "CONTRAIL_LB_ADMIN_LISTEN": f"127.0.0.1:{admin}"}


def test_print_and_check(clb_bin):
    env = {"CONTROLLER_NODES": "10.0.0.11,10.0.0.12", "CONFIG_API_VIP": "10.0.0.100",
           "CONTRAIL_LB_BGP_PEERS": "10.0.0.1", "CONTRAIL_LB_BGP_LOCAL_AS": "64512",
           "CONTRAIL_LB_BGP_ROUTER_ID": "10.0.0.11", "CONTRAIL_LB_BFD": "true"}
    printed = run(clb_bin, ["--from-env", "--print"], env)
    assert printed.returncode == 0, printed.stderr
    config = yaml.safe_load(printed.stdout)
    assert [s["name"] for s in config["services"]] == [
        "contrail-api", "contrail-analytics-api", "contrail-webui"]
    assert config["services"][0]["backends"][1]["address"] == "10.0.0.12:8082"
    assert config["bgp"]["vips"] == [{"prefix": "10.0.0.100/32",
                                      "require": {"services": ["contrail-api"]}}]
    checked = run(clb_bin, ["--from-env", "--check"], env)
    assert checked.returncode == 0, checked.stderr
    assert "--from-env: configuration is valid" in checked.stdout


def test_errors_name_the_variable_and_its_value(clb_bin):
    result = run(clb_bin, ["--from-env", "--check"],
                 {"CONTROLLER_NODES": "10.0.0.11", "CONFIG_API_SSL_ENABLE": "true",
                  "ANALYTICS_API_PORT": "http"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        'contrail-lb: --from-env: ANALYTICS_API_PORT="http": expected an integer in 1..65535',
        'contrail-lb: --from-env: SERVER_CA_CERTFILE="": required with CONFIG_API_SSL_ENABLE=true: '
        "the CA file the API servers' certificates are verified with"]
    missing = run(clb_bin, ["--from-env", "--print"], {})
    assert missing.returncode == 1 and "CONTROLLER_NODES is not set" in missing.stderr


def test_ssl_enable_gives_the_apis_backend_tls(clb_bin, tmp_path):
    pki = Pki(tmp_path)
    env = {"CONTROLLER_NODES": "10.0.0.11", "SSL_ENABLE": "true", "SERVER_CA_CERTFILE": pki.ca}
    printed = run(clb_bin, ["--from-env", "--print"], env)
    assert printed.returncode == 0, printed.stderr
    services = yaml.safe_load(printed.stdout)["services"]
    assert [s.get("backend_tls") for s in services] == [
        {"verify": "required", "ca": pki.ca}, {"verify": "required", "ca": pki.ca}, None]
    checked = run(clb_bin, ["--from-env", "--check"], env)
    assert checked.returncode == 0, checked.stderr

    cert, key = pki.server("node")  # the node's certificate, also its client certificate
    mutual = {**env, "ANALYTICS_API_SSL_ENABLE": "false", "SERVER_CERTFILE": cert,
              "SERVER_KEYFILE": key}
    printed = run(clb_bin, ["--from-env", "--print"], mutual)
    assert printed.returncode == 0, printed.stderr
    services = yaml.safe_load(printed.stdout)["services"]
    assert services[0]["backend_tls"] == {"verify": "required", "ca": pki.ca, "cert": cert,
                                          "key": key}
    assert "backend_tls" not in services[1]
    checked = run(clb_bin, ["--from-env", "--check"], mutual)
    assert checked.returncode == 0, checked.stderr


def test_ssl_enable_without_the_ca_names_the_variable(clb_bin):
    result = run(clb_bin, ["--from-env", "--check"],
                 {"CONTROLLER_NODES": "10.0.0.11", "SSL_ENABLE": "true"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'contrail-lb: --from-env: SERVER_CA_CERTFILE="": required with SSL_ENABLE=true: the CA '
        "file the API servers' certificates are verified with"]


def test_from_env_serves(clb_bin, start_backend, tmp_path):
    api, analytics, webui = start_backend("api"), start_backend("analytics"), start_backend("webui")
    admin = clb.free_port()
    env = loopback_env(api, analytics, webui, admin)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTRAIL_LB_")}
    with open(tmp_path / "log", "wb") as log:
        process = clb._spawn([clb_bin, "--from-env"], env={**clean, **env}, stdout=log, stderr=log)
    try:
        clb.wait_until(lambda: clb.http_request("127.0.0.2", api.port, "GET", "/").status == 200)
        assert clb.http_request("127.0.0.2", api.port, "GET", "/").header("X-Backend") == "api"
        assert clb.http_request("127.0.0.2", analytics.port, "GET", "/").header("X-Backend") == "analytics"
        assert clb.http_request("127.0.0.2", webui.port, "GET", "/").header("X-Backend") == "webui"
        probe = run(clb_bin, ["--from-env", "--healthcheck"], env)
        assert probe.returncode == 0, probe.stderr
    finally:
        clb._terminate(process, signal.SIGTERM, 10)


def test_missing_config_file_falls_back_to_the_environment(clb_bin, start_backend, tmp_path):
    api, analytics, webui = start_backend("api"), start_backend("analytics"), start_backend("webui")
    env = loopback_env(api, analytics, webui, clb.free_port())
    absent = str(tmp_path / "contrail-lb.yaml")
    checked = run(clb_bin, ["-c", absent, "--check"], env)
    assert checked.returncode == 0, checked.stderr
    assert f"{absent} does not exist and CONTROLLER_NODES is set: using --from-env" in checked.stderr
    # Without CONTROLLER_NODES a missing file stays an error.
    alone = run(clb_bin, ["-c", absent, "--check"], {})
    assert alone.returncode == 1 and "cannot open" in alone.stderr
    # A file that exists is read even with the variables set.
    (tmp_path / "contrail-lb.yaml").write_text("services: []\n")
    present = run(clb_bin, ["-c", absent, "--check"], env)
    assert present.returncode == 1 and "does not exist" not in present.stderr


def test_help_lists_the_new_options(clb_bin):
    text = subprocess.run([clb_bin, "--help"], capture_output=True, text=True).stdout
    for option in ("--from-env", "--print", "--import-haproxy", "--import-bird", "-o, --output"):
        assert option in text
    bad = subprocess.run([clb_bin, "--import-bird", "x"], capture_output=True, text=True)
    assert bad.returncode == 1 and "go with --import-haproxy" in bad.stderr
