#!/usr/bin/env python3
"""Plays the framing corpus (framing_corpus.py) through HAProxy, for the comparison table
in docs/http-framing.md. Not part of the test command: run it by hand when the corpus
changes.

    python3 tests/integration/framing_haproxy.py [--haproxy haproxy] > table.md

Prints one Markdown row per case: what contrail-lb does (the case's expectation, which
test_framing.py asserts) and what HAProxy did, from the client's and the backend's side.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clb  # noqa: E402
from framing import RecordingBackend, run_case  # noqa: E402
from framing_corpus import CASES, Case  # noqa: E402

CONFIG = """\
global
    log stderr format raw local0 err
defaults
    mode http
    log global
    option http-keep-alive
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout http-request 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server rec {backend}
"""


def expected(case: Case) -> str:
    parts = [str(case.status) if case.status else "no answer"]
    if case.closed:
        parts.append("close")
    if case.then is not None:
        parts.append(f"then {case.then_status}")
    if case.backend_silent:
        parts.append("backend gets nothing")
    elif case.backend_reset:
        parts.append("backend reset after the valid part")
    return ", ".join(parts)


def observed(out) -> str:
    parts = [str(out.status) if out.status else "no answer"]
    if out.closed:
        parts.append("close")
    if out.then_status is not None:
        parts.append(f"then {out.then_status}")
    if not out.backend_received:
        parts.append("backend gets nothing")
    else:
        lines = ", ".join(line.decode("latin-1").rsplit(" ", 1)[0] for line in out.backend_request_lines)
        parts.append(f"backend got {out.backend_requests} request(s){f' ({lines})' if lines else ''}")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--haproxy", default="haproxy")
    parser.add_argument("-v", "--verbose", action="store_true", help="also the backend's bytes")
    args = parser.parse_args()
    verbose = args.verbose
    binary = shutil.which(args.haproxy)
    if not binary:
        print(f"{args.haproxy} not found", file=sys.stderr)
        return 2
    version = subprocess.run([binary, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    backend = RecordingBackend()
    port = clb.free_port()
    with tempfile.TemporaryDirectory(prefix="clb-framing-haproxy-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(CONFIG.format(port=port, backend=backend.address))
        process = subprocess.Popen([binary, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            clb.wait_until(lambda: clb.port_accepts("127.0.0.1", port), 10)
            print(f"<!-- {version} -->")
            print("| case | rule | contrail-lb | HAProxy 2.6 |")
            print("|---|---|---|---|")
            for case in CASES:
                out = run_case(case, ("127.0.0.1", port), backend)
                print(f"| `{case.name}` | {case.rule} | {expected(case)} | {observed(out)} |")
                if verbose:
                    print(f"<!-- {case.name}: backend got {out.backend_received!r} -->")
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(5)
            backend.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
