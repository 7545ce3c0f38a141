"""Fixtures shared by every integration test (helpers live in clb.py).

Every process a test starts through these fixtures is stopped in teardown, also when
the test fails; clb.py's atexit hook is the safety net behind that. Each test has a
deadline (default 120 s, CLB_TEST_TIMEOUT overrides it, @pytest.mark.deadline(S) per
test) so that a hang fails the test instead of the CI job.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clb  # noqa: E402

DEFAULT_TEST_DEADLINE = int(os.environ.get("CLB_TEST_TIMEOUT", "120"))


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): per-test time limit")


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def _test_deadline(request):
    marker = request.node.get_closest_marker("deadline")
    seconds = int(marker.args[0]) if marker else DEFAULT_TEST_DEADLINE

    def expired(signum, frame):
        raise DeadlineExceeded(f"test exceeded its {seconds}s deadline")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def clb_bin() -> str:
    path = clb.clb_bin()
    assert os.access(path, os.X_OK), f"contrail-lb binary not found: {path} (set CLB_BIN)"
    return path


@pytest.fixture
def backend_bin() -> str:
    path = clb.backend_bin()
    assert os.access(path, os.X_OK), f"clb-test-backend not found: {path} (set CLB_BACKEND_BIN)"
    return path


@pytest.fixture
def free_port():
    """free_port() -> an unused port on 127.0.0.1 (free_port('::1') for IPv6)."""
    return clb.free_port


@pytest.fixture
def start_backend(backend_bin, tmp_path):
    """start_backend(name, port=0, **kw) -> a running clb.Backend, stopped at teardown."""
    started: list[clb.Backend] = []

    def start(name: str, port: int = 0, **kwargs) -> clb.Backend:
        backend = clb.Backend(name, port, log_dir=tmp_path, **kwargs)
        started.append(backend)
        return backend.start()

    yield start
    for backend in started:
        backend.kill()


@pytest.fixture
def backend(start_backend) -> clb.Backend:
    """One running backend named 'b1'."""
    return start_backend("b1")


@pytest.fixture
def start_proxy(clb_bin, tmp_path, request):
    """start_proxy(config_dict, wait=True) -> a running clb.Proxy, stopped at teardown.
    Its log is printed when the test fails."""
    started: list[clb.Proxy] = []

    def start(config: dict, wait: bool = True, timeout: float = clb.DEFAULT_TIMEOUT) -> clb.Proxy:
        proxy = clb.Proxy(config, tmp_path / f"proxy{len(started)}", binary=clb_bin)
        started.append(proxy)
        return proxy.start(wait=wait, timeout=timeout)

    yield start
    for proxy in started:
        if proxy.alive:
            proxy.stop(signal.SIGKILL)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for proxy in started:
            sys.stderr.write(f"\n--- {proxy.log_path} ---\n{proxy.log()[-20000:]}\n")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
