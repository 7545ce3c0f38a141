"""The command line of SPEC.md: --version, --help, --check and its error format,
and the exit code of a graceful shutdown."""

import re
import signal
import subprocess
from pathlib import Path

import pytest

import clb

CONF = clb.REPO_ROOT / "conf"


def run(clb_bin, *args, timeout=20):
    return subprocess.run([clb_bin, *args], capture_output=True, text=True, timeout=timeout)


def test_version(clb_bin):
    result = run(clb_bin, "--version")
    assert result.returncode == 0, result.stderr
    assert re.search(r"\d+\.\d+\.\d+", result.stdout + result.stderr)


def test_help(clb_bin):
    result = run(clb_bin, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "-c" in text and "--check" in text


def test_shipped_demo_config_is_valid(clb_bin):
    result = run(clb_bin, "-c", str(CONF / "demo.yaml"), "--check")
    assert result.returncode == 0, result.stderr


def test_shipped_production_config_is_valid_with_its_files(clb_bin, tmp_path):
    """The example names its certificates, CA, users file, token and error page under
    /etc, as deployed: with those files present (made here, the paths pointed at them),
    --check passes; without them it names each missing file."""
    from test_production_config import make_files

    etc = make_files(tmp_path)["etc"]
    text = (CONF / "contrail-lb.yaml").read_text()
    for prefix in ("/etc/contrail-lb/", "/etc/contrail/ssl/certs/"):
        text = text.replace(prefix, f"{etc}/")
    config = tmp_path / "contrail-lb.yaml"
    config.write_text(text)
    result = run(clb_bin, "-c", str(config), "--check")
    assert result.returncode == 0, result.stderr
    bare = run(clb_bin, "-c", str(CONF / "contrail-lb.yaml"), "--check")
    assert bare.returncode == 1
    assert "/etc/contrail-lb/admin.users" in bare.stderr, bare.stderr


BROKEN = """\
global:
  workers: 1
  grace: 10 parsecs
  bogus_key: 1
services:
  - name: api
    listen: ["not-an-address"]
    backends:
      - { name: a, address: "127.0.0.1:8082" }
"""
# line (1-based) -> a word the message must contain (None: any message)
BROKEN_LINES = {3: None, 4: "bogus_key", 7: None}


def test_check_reports_every_error_with_position(clb_bin, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = run(clb_bin, "-c", str(path), "--check")
    assert result.returncode == 1, result.stderr

    positioned = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): (.+)$")
    errors = {}
    for line in result.stderr.splitlines():
        match = positioned.match(line.strip())
        if match:
            assert int(match.group(2)) >= 1, line
            errors.setdefault(int(match.group(1)), []).append(match.group(3))
    for line_number, word in BROKEN_LINES.items():
        assert line_number in errors, f"no error for line {line_number}:\n{result.stderr}"
        if word:
            assert any(word in message for message in errors[line_number]), result.stderr


def test_check_of_a_missing_file(clb_bin, tmp_path):
    path = tmp_path / "does-not-exist.yaml"
    result = run(clb_bin, "-c", str(path), "--check")
    assert result.returncode == 1
    assert str(path) in result.stderr
    assert result.stderr.strip(), "a clear message is expected"


def test_run_with_a_missing_file_fails(clb_bin, tmp_path):
    result = run(clb_bin, "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "nope.yaml" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_exits_zero(start_backend, start_proxy, free_port, sig):
    backend = start_backend("api1")
    config = clb.make_config([clb.make_service("api", free_port(), [backend])],
                             admin_port=free_port(), grace="1s")
    proxy = start_proxy(config)
    clb.wait_until(lambda: proxy.get("/").status == 200, message="a proxied answer")
    assert proxy.stop(sig, timeout=10) == 0
