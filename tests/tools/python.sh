#!/usr/bin/env bash
# Runs a test script with python3, or with Debian's /usr/bin/python3 when the python3 in
# PATH (a pyenv shim, say) lacks the yaml module that the beds need.
#
#   bash tests/tools/python.sh SCRIPT [ARGS...]
if ! python3 -c 'import yaml' 2>/dev/null && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    exec /usr/bin/python3 "$@"
fi
exec python3 "$@"
