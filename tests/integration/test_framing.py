"""The HTTP framing corpus (framing_corpus.py) through the real contrail-lb binary: per
case the status, the close, what the backend received (raw bytes, recorded by a
raw-socket backend) and what the client received. docs/http-framing.md has the rules and
HAProxy's answer to the same cases (tests/integration/framing_haproxy.py)."""

from __future__ import annotations

import json
import os

import pytest

import clb
from framing import RecordingBackend, check, run_case
from framing_corpus import CASES


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """One recording backend behind one contrail-lb for the whole corpus."""
    backend = RecordingBackend()
    service = clb.make_service("api", clb.free_port(), [{"name": "rec", "address": backend.address}],
                               health_check={"type": "none"},
                               timeouts={"server": "5s", "client": "5s", "http_request": "5s"})
    proxy = clb.Proxy(clb.make_config([service]), tmp_path_factory.mktemp("framing"))
    proxy.start()
    report = {}
    yield proxy, backend, report
    proxy.stop()
    backend.stop()
    path = os.environ.get("CLB_FRAMING_REPORT")
    if path:  # per case: what the client and the backend got, for inspection
        with open(path, "w") as f:
            json.dump(report, f, indent=1)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(proxied, case):
    proxy, backend, report = proxied
    outcome = run_case(case, proxy.service_address(), backend)
    report[case.name] = {
        "status": outcome.status, "closed": outcome.closed, "then": outcome.then_status,
        "backend_received": outcome.backend_received.decode("latin-1"),
        "backend_endings": outcome.backend_endings,
        "client_received": outcome.client_received.decode("latin-1"),
    }
    problems = check(case, outcome)
    assert not problems, f"{case.name} ({case.rule}): " + "; ".join(problems)
    assert proxy.alive
