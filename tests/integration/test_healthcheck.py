"""contrail-lb -c FILE --healthcheck (docs/operations.md): the container image's probe
asks the running process for GET /healthz on admin.listen and exits 0 only on 200."""

import signal
import subprocess

import pytest

import clb
from clb import free_port, make_config, make_service


def probe(clb_bin, config_path, timeout=10):
    return subprocess.run([clb_bin, "-c", str(config_path), "--healthcheck"],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.deadline(60)
def test_healthy_then_refused_after_stop(start_proxy, backend, clb_bin):
    admin_port = free_port()
    proxy = start_proxy(make_config([make_service("api", free_port(), [backend])],
                                    admin_port=admin_port))
    result = probe(clb_bin, proxy.config_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"healthcheck: 127.0.0.1:{admin_port}/healthz: 200 ok"

    assert proxy.stop(signal.SIGTERM) == 0
    result = probe(clb_bin, proxy.config_path)
    assert result.returncode == 1
    assert "connect: Connection refused" in result.stderr


@pytest.mark.deadline(60)
def test_wildcard_admin_address_is_asked_on_loopback(start_proxy, backend, clb_bin):
    admin_port = free_port()
    config = make_config([make_service("api", free_port(), [backend])], admin_port=admin_port)
    config["admin"]["listen"] = f"0.0.0.0:{admin_port}"
    proxy = start_proxy(config, wait=False)
    clb.wait_until(lambda: probe(clb_bin, proxy.config_path).returncode == 0, 20,
                   message="--healthcheck to pass")
    assert f"127.0.0.1:{admin_port}/healthz: 200 ok" in probe(clb_bin, proxy.config_path).stdout


def test_without_admin_section_there_is_nothing_to_ask(start_proxy, backend, clb_bin, tmp_path):
    proxy = clb.Proxy(make_config([make_service("api", free_port(), [backend])]), tmp_path)
    result = probe(clb_bin, proxy.config_path)
    assert result.returncode == 1
    assert "no admin section" in result.stderr


def test_check_and_healthcheck_exclude_each_other(clb_bin, tmp_path):
    proxy = clb.Proxy(make_config([make_service("api", free_port(), [])]), tmp_path)
    result = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check", "--healthcheck"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert "exclude each other" in result.stderr
