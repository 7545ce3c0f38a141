#!/usr/bin/env bash
# Side-by-side cost of contrail-lb, HAProxy and nginx as HTTP reverse proxies: the one
# benchmark command. Arguments go to bench/compare.py (--help; docs/benchmarks.md).
#
#   bash bench/run.sh                 full run: 3 interleaved rounds, 10 s per run
#   bash bench/run.sh --smoke         a few seconds; checks the harness works
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/compare.py "$@"
