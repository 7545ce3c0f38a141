"""BGP TCP MD5 (RFC 2385): a peer with a password never gets a session without the key.

The kernel here accepts TCP_MD5SIG, so its failure is injected for real: an LD_PRELOAD
shim makes setsockopt(TCP_MD5SIG) fail with ENOPROTOOPT, as on a kernel built without
CONFIG_TCP_MD5SIG. The "peer" is a plain listening socket: any connection reaching it
would be an unauthenticated session."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import clb
from clb import make_config, make_service, wait_until

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *value, socklen_t length) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (level == IPPROTO_TCP && name == TCP_MD5SIG) {
        errno = ENOPROTOOPT;
        return -1;
    }
    if (!real) real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, name, value, length);
}
"""


@pytest.fixture
def md5_failing_shim(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler for the LD_PRELOAD shim")
    source, library = tmp_path / "no_md5.c", tmp_path / "no_md5.so"
    source.write_text(SHIM)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"],
                   check=True, capture_output=True, timeout=60)
    return str(library)


def bgp_section(peer_port: int, password: str, listen: bool = False) -> dict:
    bgp = {"router_id": "10.255.0.1", "local_as": 65010, "hold_time": "9s",
           "peers": [{"address": "127.0.0.1", "port": peer_port, "remote_as": 65011,
                      "password": password}],
           "vips": [{"prefix": "10.99.0.100/32", "next_hop": "192.0.2.10",
                     "require": {"services": ["api"], "min_healthy_backends": 1}}]}
    if listen:
        bgp.update({"listen": True, "listen_port": clb.free_port()})
    return bgp


def md5_failures(proxy) -> int:
    found = re.search(r'^contrail_lb_bgp_md5_failures_total\{peer="[^"]+"\} (\d+)$',
                      proxy.metrics(), re.M)
    return int(found.group(1)) if found else 0


@pytest.mark.deadline(60)
def test_no_session_without_md5_when_the_key_cannot_be_set(start_backend, free_port, tmp_path,
                                                            md5_failing_shim):
    backend = start_backend("b1")
    with socket.socket() as peer:
        peer.bind(("127.0.0.1", 0))
        peer.listen(8)
        peer.setblocking(False)
        service = make_service("api", free_port(), [backend], health_check={"type": "none"})
        config = make_config([service], admin_port=free_port(), log_level="info",
                             bgp=bgp_section(peer.getsockname()[1], "s3cret", listen=True))
        proxy = clb.Proxy(config, tmp_path)
        env = {"LD_PRELOAD": md5_failing_shim,
               # A sanitizer build wants its runtime first; the shim only wraps setsockopt.
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            proxy.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        try:
            proxy.wait_for_log(r"bgp peer 127\.0\.0\.1:\d+: cannot set the TCP MD5 key: .*"
                               r"no session without MD5")
            wait_until(lambda: md5_failures(proxy) >= 1, 5, message="the md5 failure counted")
            # The first retry comes after about a second: give it the time to (not) connect.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    connection, _ = peer.accept()
                    connection.close()
                    pytest.fail("contrail-lb connected without the TCP MD5 key")
                except BlockingIOError:
                    time.sleep(0.05)
            # Passive side: the listener could not get the key either, so a connection
            # from the peer's address is closed without a word of BGP.
            before = md5_failures(proxy)
            listen_port = config["bgp"]["listen_port"]
            with socket.create_connection(("127.0.0.1", listen_port), timeout=5) as incoming:
                assert incoming.recv(4096) == b""
            proxy.wait_for_log(r"incoming connection without the TCP MD5 key")
            assert md5_failures(proxy) > before
            status = proxy.admin_json()["bgp"]["peers"][0]
            assert not status["established"]
        finally:
            proxy.kill()


def test_password_longer_than_the_kernel_allows_is_a_config_error(tmp_path, clb_bin, free_port):
    config = make_config([make_service("api", free_port(), [{"name": "b", "address": "127.0.0.1:1"}])],
                         bgp=bgp_section(179, "x" * 81))
    proxy = clb.Proxy(config, tmp_path)
    check = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1
    assert re.search(r":\d+:\d+: bgp\.peers\[0\]\.password: 81 characters is too long",
                     check.stderr), check.stderr
