#!/usr/bin/env bash
# The chaos soak (tests/soak/soak.py, issue 20): the HA bed under constant mixed load, a
# random fault every few seconds from a recorded seed, invariants checked all the time.
# As root:
#
#   bash tests/soak/run.sh [--minutes N] [--seed S] [--report-dir DIR] [--keep]
#
# Uses build/contrail-lb and build/clb-test-backend unless CLB_BIN / CLB_BACKEND_BIN say
# otherwise. Exit 0: every invariant held; 1: some did not; 77: cannot run here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../tools/python.sh" "$here/soak.py" "$@"
