"""The watchdog (issue: "a stuck process must not keep attracting traffic"): when a worker
loop stops turning for bgp.watchdog, every VIP is withdrawn; when it turns again, the VIP
comes back. A worker is stalled for real through the CLB_TEST_HOOKS SIGUSR1 hook."""

from __future__ import annotations

import fcntl
import os
import signal
import time

import pytest

import clb
from bgp_peers import BIRD, Bird, free_port, installed
from clb import make_config, make_service, wait_until

VIP = "10.99.0.100/32"
LOCAL_AS = 65010


@pytest.mark.skipif(not installed(BIRD), reason="bird2 is not installed")
@pytest.mark.deadline(90)
def test_stalled_worker_withdraws_the_vip_and_recovery_restores_it(start_backend, tmp_path):
    backend = start_backend("b1")
    with Bird(free_port(), 65011, LOCAL_AS) as bird:  # started by `with`
        service = make_service("api", free_port(), [backend], health_check={"type": "none"})
        bgp = {"router_id": "10.255.0.1", "local_as": LOCAL_AS, "hold_time": "3s",
               "watchdog": "500ms",
               "peers": [{"address": "127.0.0.1", "port": bird.port, "remote_as": 65011}],
               "vips": [{"prefix": VIP, "next_hop": "192.0.2.10",
                         "require": {"services": ["api"], "min_healthy_backends": 1}}]}
        proxy = clb.Proxy(make_config([service], admin_port=free_port(), bgp=bgp,
                                      log_level="info", workers=2), tmp_path)
        os.environ["CLB_TEST_HOOKS"] = "1"
        try:
            proxy.start()
        finally:
            del os.environ["CLB_TEST_HOOKS"]
        try:
            wait_until(lambda: bird.route(VIP), 20, message="the VIP in BIRD's RIB")

            proxy.send_signal(signal.SIGUSR1)  # worker 0 sleeps for 3 x 500 ms
            stalled_at = time.monotonic()
            wait_until(lambda: bird.route(VIP) is None, 3, message="the VIP withdrawn")
            print(f"\nwatchdog: VIP withdrawn {time.monotonic() - stalled_at:.2f}s after the stall")
            proxy.wait_for_log(r"watchdog: worker 0 loop stalled")

            wait_until(lambda: bird.route(VIP), 10, message="the VIP back after the stall")
            proxy.wait_for_log(r"watchdog: every worker loop is turning again")
            assert proxy.get("/").status == 200
        finally:
            proxy.kill()


def start_with_test_hooks(proxy, **kwargs) -> None:
    os.environ["CLB_TEST_HOOKS"] = "1"
    try:
        proxy.start(**kwargs)
    finally:
        del os.environ["CLB_TEST_HOOKS"]


@pytest.mark.deadline(60)
def test_healthz_is_503_while_a_worker_is_stalled_without_bgp(start_backend, tmp_path):
    """SPEC: /healthz "503 while a worker's event loop is stalled", BGP or not, so that a
    container probe sees what the routers would."""
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"})
    proxy = clb.Proxy(make_config([service], admin_port=free_port(), log_level="info",
                                  workers=2), tmp_path)
    start_with_test_hooks(proxy)
    try:
        assert proxy.admin_get("/healthz").status == 200
        proxy.send_signal(signal.SIGUSR1)  # worker 0 sleeps for 3 x 2 s (the default limit)
        stalled = wait_until(lambda: (r := proxy.admin_get("/healthz")).status == 503 and r, 5,
                             message="/healthz 503")
        assert "worker 0 loop stalled" in stalled.text
        proxy.wait_for_log(r"watchdog: worker 0 loop stalled for [\d.]+s$")
        wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10,
                   message="/healthz 200 again")
        proxy.wait_for_log(r"watchdog: every worker loop is turning again")
    finally:
        proxy.kill()


@pytest.mark.skipif(not installed(BIRD), reason="bird2 is not installed")
@pytest.mark.deadline(90)
def test_stalled_log_reader_does_not_hold_the_withdraw(start_backend, tmp_path):
    """stderr a pipe nobody reads: the control thread must still withdraw the VIP (it
    used to block in its own log line) and /healthz must still answer."""
    backend = start_backend("b1")
    with Bird(free_port(), 65011, LOCAL_AS) as bird:
        service = make_service("api", free_port(), [backend], health_check={"type": "none"})
        bgp = {"router_id": "10.255.0.1", "local_as": LOCAL_AS, "hold_time": "30s",
               "watchdog": "500ms",
               "peers": [{"address": "127.0.0.1", "port": bird.port, "remote_as": 65011}],
               "vips": [{"prefix": VIP, "next_hop": "192.0.2.10",
                         "require": {"services": ["api"], "min_healthy_backends": 1}}]}
        proxy = clb.Proxy(make_config([service], admin_port=free_port(), bgp=bgp,
                                      log_level="debug", workers=2), tmp_path)
        read_end, write_end = os.pipe()
        fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: one page, full at once
        try:
            start_with_test_hooks(proxy, stderr=write_end)
            wait_until(lambda: bird.route(VIP), 20, message="the VIP in BIRD's RIB")
            for _ in range(200):
                assert proxy.get("/").status == 200

            proxy.send_signal(signal.SIGUSR1)
            # Well before the 30 s hold time: the withdraw itself, not the session's end.
            wait_until(lambda: bird.route(VIP) is None, 3, message="the VIP withdrawn")
            wait_until(lambda: bird.route(VIP), 10, message="the VIP back after the stall")
            assert proxy.admin_get("/healthz").status == 200
        finally:
            proxy.kill()
            os.close(read_end)
            os.close(write_end)
