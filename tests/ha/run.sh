#!/usr/bin/env bash
# The HA test bed (tests/ha/testbed.py): two contrail-lb nodes behind a BIRD 2 / FRR router
# in network namespaces, faults injected into node 1, measured from a client. As root:
#
#   bash tests/ha/run.sh [--router bird|frr|both] [--bfd off|on|both] [SCENARIO...]
#
# Uses build/contrail-lb and build/clb-test-backend unless CLB_BIN / CLB_BACKEND_BIN say
# otherwise. Exit 0: every bound held; 1: some did not; 77: cannot run here (skipped).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../tools/python.sh" "$here/testbed.py" "$@"
