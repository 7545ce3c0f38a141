#!/usr/bin/env bash
# Smoke test of the container image, run by scripts/test.sh (stage "image smoke test").
#
#   tests/image/smoke.sh BACKEND_BIN [TAG]     TAG defaults to contrail-lb:smoke
#
# Builds the image with scripts/image.sh (reusing cached base images and layers), then
# runs it the way docker/README.md tells operators to: host network, read-only root,
# every capability dropped but NET_BIND_SERVICE, no-new-privileges, configuration
# directory mounted read-only. Its one service listens on a port below 1024 on 127.0.0.1
# and proxies to clb-test-backend processes on the host. Checked, in order:
#   - it runs as the unprivileged user, with CAP_NET_BIND_SERVICE as its only capability
#   - a request is proxied to the backend; the image's HEALTHCHECK passes
#   - SIGHUP (podman kill --signal HUP) applies a changed configuration: a new backend
#   - podman stop: the graceful-shutdown log lines, exit code 0, within the grace time
#     (SIGTERM to exit, by the process's own log timestamps)
# Any difference fails the test. Exit 77: skipped (no container engine, or no mmdebstrap
# to make a missing base image), with the reason on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."

backend_bin="$(realpath "${1:?usage: $0 BACKEND_BIN [TAG]}")"
tag="${2:-contrail-lb:smoke}"
readonly skip=77 uid=65532 grace_s=2 stop_timeout_s=10

# shellcheck source=../../scripts/image.sh
source scripts/image.sh
if ! command -v podman >/dev/null && ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
    echo "smoke: SKIP: no container engine (podman, or docker with a daemon): bash scripts/install-deps.sh installs podman"
    exit "$skip"
fi
clb_engine_setup
engine="$CLB_ENGINE"
if ! image_exists "$CLB_BASE" && ! command -v mmdebstrap >/dev/null; then
    echo "smoke: SKIP: $CLB_BASE is not in $engine's storage and mmdebstrap (which makes it) is not installed"
    exit "$skip"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/clb-smoke.XXXXXX")"
name="clb-smoke-$$"
backend_pids=()
cleanup() {
    "$engine" rm -f "$name" >/dev/null 2>&1 || true
    local pid
    for pid in "${backend_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${backend_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
    clb_engine_cleanup
}
trap cleanup EXIT

log() { echo "smoke: $*"; }
# Without systemd, podman cannot schedule the HEALTHCHECK timer and says so on every
# run/stop/rm; the check itself is run below with `podman healthcheck run`.
engine_do() { "$engine" "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
fail() {
    echo "smoke: FAIL: $*" >&2
    if "$engine" container exists "$name" 2>/dev/null || "$engine" inspect "$name" >/dev/null 2>&1; then
        echo "smoke: container log:" >&2
        "$engine" logs "$name" 2>&1 | tail -n 40 | sed 's/^/    /' >&2
    fi
    exit 1
}

# free_port [LOW HIGH]: a TCP port nobody listens on at 127.0.0.1, in [LOW, HIGH].
free_port() {
    python3 - "$@" <<'EOF'
import random, socket, sys
low, high = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (20000, 60000)
for port in random.sample(range(low, high + 1), high - low + 1):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            print(port)
            sys.exit(0)
        except OSError:
            pass
sys.exit("no free port in %d..%d" % (low, high))
EOF
}

start_backend() { # NAME PORT
    "$backend_bin" --listen "127.0.0.1:$2" --name "$1" >"$work/$1.log" 2>&1 &
    backend_pids+=($!)
}

write_config() { # BACKEND_NAME BACKEND_PORT
    cat >"$work/etc/contrail-lb.yaml" <<EOF
# contrail-lb image smoke test (tests/image/smoke.sh)
global:
  workers: 1
  grace: ${grace_s}s
admin:
  listen: 127.0.0.1:$admin_port
services:
  - name: api
    listen: ["127.0.0.1:$service_port"]   # below 1024: needs CAP_NET_BIND_SERVICE
    health_check: {type: http, path: /, interval: 200ms, timeout: 500ms, rise: 1, fall: 1}
    backends:
      - { name: $1, address: "127.0.0.1:$2" }
EOF
}

# until_true SECONDS COMMAND...: retries COMMAND every 0.2 s for up to SECONDS.
until_true() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

proxied_by() { # BACKEND_NAME: a request through the container is answered by it
    curl -sf --max-time 2 "http://127.0.0.1:$service_port/" | grep -q "$1"
}

# 1. The image: cached base images and layers make this seconds when nothing changed.
begin=$SECONDS
# Progress: image.sh's own lines and the build's steps; its whole output on failure.
set +e
bash scripts/image.sh "$tag" 2>&1 | tee "$work/image.log" |
    grep --line-buffered -E '^(image: |\[[0-9]+/[0-9]+\] STEP |STEP [0-9]+/)'
status="${PIPESTATUS[0]}"
set -e
if ((status != 0)); then
    tail -n 60 "$work/image.log" | sed 's/^/    /' >&2
    fail "scripts/image.sh $tag failed (exit $status)"
fi
log "image $tag ready in $((SECONDS - begin))s"

service_port="$(free_port 900 1000)"
admin_port="$(free_port)"
port_one="$(free_port)"
port_two="$(free_port)"
start_backend smoke-one "$port_one"
start_backend smoke-two "$port_two"
mkdir -p "$work/etc"
chmod 0755 "$work" "$work/etc"
write_config smoke-one "$port_one"
chmod 0644 "$work/etc/contrail-lb.yaml"

# 2. Run it as docker/README.md says. The directory is mounted, not the file: a file
# bind mount pins the inode, so an edit saved by rename would stay invisible.
engine_do run -d --name "$name" --network host --read-only \
    --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \
    -v "$work/etc:/etc/contrail-lb:ro" "$tag" >/dev/null ||
    fail "$engine run failed"
log "started $name: 127.0.0.1:$service_port -> smoke-one (127.0.0.1:$port_one)"

until_true 20 proxied_by smoke-one || fail "no answer from smoke-one through 127.0.0.1:$service_port within 20s"
log "proxied: GET http://127.0.0.1:$service_port/ answered by smoke-one"

pid="$("$engine" inspect --format '{{.State.Pid}}' "$name")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
cap_eff="$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")"
[[ "$uids" == "$uid $uid $uid $uid" ]] || fail "runs as uids '$uids', expected $uid"
# Bit 10 is CAP_NET_BIND_SERVICE, and nothing else may be set.
[[ "$cap_eff" == 0000000000000400 ]] || fail "effective capabilities $cap_eff, expected 0000000000000400 (NET_BIND_SERVICE)"
log "runs as uid $uid (contrail-lb), effective capabilities $cap_eff = NET_BIND_SERVICE only, read-only root"

if [[ "$engine" == podman ]]; then
    health="$(podman healthcheck run "$name" 2>&1)" || fail "HEALTHCHECK failed: $health"
    log "HEALTHCHECK (contrail-lb --healthcheck): ${health:-healthy}"
fi

# 3. Reload: the backend is replaced; SIGHUP must apply it without a restart.
write_config smoke-two "$port_two"
"$engine" kill --signal HUP "$name" >/dev/null
until_true 10 proxied_by smoke-two || fail "SIGHUP: still not answered by smoke-two after 10s"
until_true 5 bash -c "'$engine' logs '$name' 2>&1 | grep -q 'reload: applied'" ||
    fail "SIGHUP: no 'reload: applied' log line"
[[ "$("$engine" inspect --format '{{.State.Pid}}' "$name")" == "$pid" ]] || fail "SIGHUP restarted the process"
log "reloaded on SIGHUP: answered by smoke-two, same process"

# 4. Stop: SIGTERM, graceful shutdown within the grace time, exit 0 (an engine that had
# to SIGKILL it at its stop timeout would report 137).
begin_ms="$(date +%s%3N)"
engine_do stop -t "$stop_timeout_s" "$name" >/dev/null
stop_ms=$(($(date +%s%3N) - begin_ms))
code="$("$engine" inspect --format '{{.State.ExitCode}}' "$name")"
logs="$("$engine" logs "$name" 2>&1)"
[[ "$code" == 0 ]] || fail "exit code $code after $engine stop, expected 0"
for line in "SIGTERM received: shutting down" "contrail-lb stopped"; do
    grep -q "$line" <<<"$logs" || fail "no '$line' log line after $engine stop"
done
# The process's own account, from its log's timestamps: SIGTERM to exit within grace.
shutdown_ms="$(awk -F'[][]' '
    function ms(t,   p) { split(t, p, /[ :.]/); return ((p[2] * 60 + p[3]) * 60 + p[4]) * 1000 + p[5] }
    /SIGTERM received/ { begin = ms($2) }
    /contrail-lb stopped/ { end = ms($2) }
    END { if (end < begin) end += 86400000; if (begin && end) print end - begin; else print -1 }' <<<"$logs")"
((shutdown_ms >= 0 && shutdown_ms <= grace_s * 1000)) ||
    fail "shutdown took ${shutdown_ms}ms by the log, beyond grace ${grace_s}s"
log "stopped: exit code 0, SIGTERM to exit ${shutdown_ms}ms (grace ${grace_s}s), $engine stop ${stop_ms}ms; shutdown log:"
grep -E "SIGTERM|shutdown|withdraw|stopped" <<<"$logs" | sed 's/^/    /'
log "PASS"
