"""The watchdog (issue: "a stuck process must not keep attracting traffic"): when a worker
loop stops turning for bgp.watchdog, every VIP is withdrawn; when it turns again, the VIP
comes back. A worker is stalled for real through the CLB_TEST_HOOKS SIGUSR2 hook."""

from __future__ import annotations

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

            proxy.send_signal(signal.SIGUSR2)  # worker 0 sleeps for 3 x 500 ms
            stalled_at = time.monotonic()
            wait_until(lambda: bird.route(VIP) is None, 3, message="the VIP withdrawn")
            print(f"\nwatchdog: VIP withdrawn {time.monotonic() - stalled_at:.2f}s after the stall")
            proxy.wait_for_log(r"watchdog: worker 0 loop stalled")

            wait_until(lambda: bird.route(VIP), 10, message="the VIP back after the stall")
            proxy.wait_for_log(r"watchdog: every worker loop is turning again")
            assert proxy.get("/").status == 200
        finally:
            proxy.kill()
