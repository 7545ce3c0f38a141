"""admin.users_file (docs/admin.md "Access control"): HTTP Basic for /stats and /api/v1/*
with crypt(3) hashes, HAProxy's `stats auth`. A browser is asked for credentials (401 +
WWW-Authenticate: Basic); wrong ones are logged without the password and rate-limited per
client address; /healthz and /metrics stay open; a state change takes Basic or the bearer
token; SIGHUP reads the file again. The last test looks at it in a real browser (chromium)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import chromium
import clb
from clb import make_config, make_service

TOKEN = "t0ken-for-scripts"
USER, PASSWORD = "operator", "correct horse battery"
DRAIN = "/api/v1/services/api/backends/b1/drain"
BASIC_CHALLENGE = 'Basic realm="contrail-lb", charset="UTF-8"'


def crypt_hash(password: str, method: str = "yescrypt") -> str:
    """What an operator does: mkpasswd (package whois), else Python's crypt module."""
    if shutil.which("mkpasswd"):
        return subprocess.run(["mkpasswd", "-m", method, "--stdin"], input=password,
                              capture_output=True, text=True, check=True).stdout.strip()
    import crypt  # noqa: deprecated in 3.11, enough for a test
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def basic(user: str = USER, password: str = PASSWORD) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def request(proxy: clb.Proxy, method: str, path: str, headers: dict | None = None) -> clb.Response:
    return clb.http_request(*proxy.admin_address, method, path, headers=headers)


@pytest.fixture
def users_file(tmp_path) -> Path:
    path = tmp_path / "admin.users"
    path.write_text(f"# admin users\n\n{USER}:{crypt_hash(PASSWORD)}\n"
                    f"reader:{crypt_hash('read only', 'sha512crypt')}\n")
    return path


@pytest.fixture
def proxy(start_backend, start_proxy, free_port, users_file, tmp_path):
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    backend = start_backend("b1")
    config = make_config([make_service("api", free_port(), [backend])], admin_port=free_port())
    config["admin"]["users_file"] = str(users_file)
    config["admin"]["token_file"] = str(token_file)
    return start_proxy(config)


@pytest.mark.deadline(60)
def test_no_credentials_asks_the_browser_right_ones_pass(proxy):
    for path in ["/stats", "/api/v1/status", "/"]:
        response = request(proxy, "GET", path)
        assert response.status == 401, path
        assert response.header_all("WWW-Authenticate") == [BASIC_CHALLENGE], path
    stats = request(proxy, "GET", "/stats", basic())
    assert stats.status == 200
    assert "<html" in stats.text and "api" in stats.text
    assert request(proxy, "GET", "/api/v1/status", basic()).json()["services"][0]["name"] == "api"
    assert request(proxy, "GET", "/stats", basic("reader", "read only")).status == 200
    # A bearer token is for changes, not a way around the login.
    assert request(proxy, "GET", "/stats", {"Authorization": f"Bearer {TOKEN}"}).status == 401


@pytest.mark.deadline(60)
def test_probes_stay_open(proxy):
    assert request(proxy, "GET", "/healthz").status == 200
    metrics = request(proxy, "GET", "/metrics")
    assert metrics.status == 200
    assert "contrail_lb_backend_up" in metrics.text


@pytest.mark.deadline(60)
def test_wrong_credentials_are_refused_and_logged_without_the_password(proxy):
    mark = len(proxy.log())
    response = request(proxy, "GET", "/stats", basic(USER, "Tr0ub4dor&3-guess"))
    assert response.status == 401
    assert response.header("WWW-Authenticate") == BASIC_CHALLENGE
    line = proxy.wait_for_log(r"admin: wrong password or unknown user \"operator\"", start=mark)
    assert "127.0.0.1" in line
    assert "Tr0ub4dor" not in proxy.log()
    request(proxy, "GET", "/stats", basic("nobody", "hunter2-secret"))
    proxy.wait_for_log(r"unknown user \"nobody\" from 127\.0\.0\.1", start=mark)
    assert "hunter2-secret" not in proxy.log()


@pytest.mark.deadline(60)
def test_rate_limit_after_repeated_failures(proxy):
    mark = len(proxy.log())
    statuses = [request(proxy, "GET", "/api/v1/status", basic(USER, f"guess{i}")).status
                for i in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    limited = request(proxy, "GET", "/stats", basic())  # even the right password, for now
    assert limited.status == 429
    assert 1 <= int(limited.header("Retry-After")) <= 60
    proxy.wait_for_log(r"too many failed logins from 127\.0\.0\.1", start=mark)
    assert len(re.findall(r"too many failed logins", proxy.log()[mark:])) == 1
    # The probes are not behind the login, so not behind the limit either.
    assert request(proxy, "GET", "/healthz").status == 200


@pytest.mark.deadline(60)
def test_state_change_takes_basic_or_the_bearer_token(proxy):
    response = request(proxy, "POST", DRAIN)
    assert response.status == 401
    assert BASIC_CHALLENGE in response.header_all("WWW-Authenticate")
    assert request(proxy, "POST", DRAIN, basic(USER, "wrong")).status == 401
    drained = request(proxy, "POST", DRAIN, basic())
    assert drained.status == 200, drained.text
    assert drained.json()["drained"] is True
    enabled = request(proxy, "POST", "/api/v1/services/api/backends/b1/enable",
                      {"Authorization": f"Bearer {TOKEN}"})
    assert enabled.status == 200, enabled.text
    assert enabled.json()["changed"] is True
    assert request(proxy, "POST", DRAIN, {"Authorization": "Bearer wrong"}).status == 401


@pytest.mark.deadline(60)
def test_users_file_is_read_again_on_reload(proxy, users_file):
    assert request(proxy, "GET", "/stats", basic()).status == 200
    users_file.write_text(f"{USER}:{crypt_hash('a new password')}\n")
    mark = len(proxy.log())
    proxy.reload(proxy.config)
    proxy.wait_for_log(r"reload: applied ", start=mark)
    assert request(proxy, "GET", "/stats", basic()).status == 401  # the cache was dropped
    assert request(proxy, "GET", "/stats", basic(USER, "a new password")).status == 200
    assert request(proxy, "GET", "/stats", basic("reader", "read only")).status == 401

    # A broken file: a config error, the running users stay.
    users_file.write_text(f"{USER}:plain-text-password\n")
    mark = len(proxy.log())
    proxy.reload(proxy.config)
    proxy.wait_for_log(r"admin\.users_file: .*:1: user \"operator\": not a crypt\(3\) hash",
                       start=mark)
    assert "plain-text-password" not in proxy.log()
    assert request(proxy, "GET", "/stats", basic(USER, "a new password")).status == 200


@pytest.mark.parametrize("content, message", [
    ("alice:secret\n", r":1: user \"alice\": not a crypt\(3\) hash"),
    ("# header\n\nbob:$1$6qOX7JK/$kOKpdXwRSrmu58Bbh0c4y1\n", r":3: user \"bob\": unsupported"),
    ("\n# nobody\n", r": no users"),
])
def test_check_reports_the_users_file_line_and_the_key(tmp_path, clb_bin, free_port, content,
                                                        message):
    users = tmp_path / "admin.users"
    users.write_text(content)
    config = make_config([make_service("api", free_port(), [{"name": "b1",
                                                              "address": "127.0.0.1:9101"}])],
                         admin_port=free_port())
    config["admin"]["users_file"] = str(users)
    proxy = clb.Proxy(config, tmp_path)
    result = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    # config position of the key, then the users file's own line
    assert re.search(rf"{proxy.config_path}:\d+:\d+: admin\.users_file: {users}{message}",
                         result.stderr), result.stderr
    assert "secret" not in result.stderr.replace("crypt", "")


# ---- a real browser ---------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_in_chromium(proxy, tmp_path):
    """What a person sees: the 401 page when the login dialog is cancelled, the stats page
    when the credentials are typed into it. CLB_SCREENSHOT_DIR keeps the screenshots."""
    if not chromium.binary():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    host, port = proxy.admin_address
    url = f"http://{host}:{port}/stats"
    shots = Path(os.environ.get("CLB_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with chromium.Chromium() as browser:
        cancelled = browser.open(url, auth=None)
        (shots / "stats-401.png").write_bytes(cancelled.png)
        assert cancelled.challenged  # the browser would have opened its login dialog
        assert "authentication required" in cancelled.text
        assert "b1" not in cancelled.text

        wrong = browser.open(url, auth=(USER, "not it"))
        assert wrong.challenged
        assert "wrong user name or password" in wrong.text

        logged_in = browser.open(url, auth=(USER, PASSWORD))
        (shots / "stats-200.png").write_bytes(logged_in.png)
        assert logged_in.challenged
        assert "BACKENDS UP" in logged_in.text.upper() and "b1" in logged_in.text
        assert logged_in.png.startswith(b"\x89PNG")
