#!/usr/bin/env bash
# Side-by-side HTTP benchmark in one run: the backend alone, HAProxy, contrail-lb.
#
#   bash bench/run.sh
#
# One clb-test-backend (1 thread) serves small keep-alive GETs; wrk measures (a) the
# backend directly, (b) HAProxy (Debian's haproxy) with nbthread=WORKERS and (c)
# contrail-lb with global.workers=WORKERS, both configured alike: http mode, keep-alive
# on both sides with backend connection reuse, X-Forwarded-For/-Proto added, same
# timeouts, 8000 max connections, no health checks, no logging. Prints a markdown table and appends it, with
# the command line and date, to bench/results/http-proxy.md.
#
# Environment (defaults in brackets):
#   WORKERS [1]            proxy threads (HAProxy nbthread, contrail-lb global.workers)
#   WRK_THREADS [1]  WRK_CONNECTIONS [50]  WRK_DURATION [10s]  WARMUP [2s]
#   WRK_PATH [/]           request path (e.g. /bytes/16384 for larger responses)
#   CLB_BIN [build/contrail-lb]  CLB_BACKEND_BIN [build/clb-test-backend]  HAPROXY [haproxy]
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS="${WORKERS:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-50}"
WRK_DURATION="${WRK_DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
WRK_PATH="${WRK_PATH:-/}"
CLB_BIN="${CLB_BIN:-build/contrail-lb}"
CLB_BACKEND_BIN="${CLB_BACKEND_BIN:-build/clb-test-backend}"
HAPROXY="${HAPROXY:-haproxy}"

for tool in wrk "$HAPROXY" "$CLB_BIN" "$CLB_BACKEND_BIN" python3; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool not found (bash scripts/build.sh; bash scripts/install-deps.sh)" >&2
        exit 1
    }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/clb-bench.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until it answers 200 (10 s at most).
wait_http() {
    for _ in $(seq 200); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" == 200 ]] && return 0
        sleep 0.05
    done
    echo "bench: $1 did not answer 200" >&2
    return 1
}

backend_port="$(free_port)"
haproxy_port="$(free_port)"
clb_port="$(free_port)"

"$CLB_BACKEND_BIN" --listen "127.0.0.1:$backend_port" --name bench --threads 1 >"$work/backend.out" &
pids+=("$!")
wait_http "http://127.0.0.1:$backend_port/"

cat >"$work/haproxy.cfg" <<CFG
global
    nbthread $WORKERS
    maxconn 8000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    option forwardfor
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 30s

frontend bench
    bind 127.0.0.1:$haproxy_port
    http-request set-header X-Forwarded-Proto http
    default_backend bench

backend bench
    balance roundrobin
    server bench 127.0.0.1:$backend_port
CFG
"$HAPROXY" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=("$!")
haproxy_pid="$!"

cat >"$work/contrail-lb.yaml" <<CFG
global:
  workers: $WORKERS
  log_level: warn
  access_log: false
  max_connections: 8000
services:
  - name: bench
    listen: ["127.0.0.1:$clb_port"]
    mode: http
    balance: roundrobin
    timeouts:
      connect: 3s
      client: 60s
      server: 60s
      http_request: 10s
      keep_alive: 30s
    health_check:
      type: none
    backends:
      - { name: bench, address: "127.0.0.1:$backend_port" }
CFG
"$CLB_BIN" -c "$work/contrail-lb.yaml" >"$work/contrail-lb.log" 2>&1 &
pids+=("$!")
clb_pid="$!"
backend_pid="${pids[0]}"

wait_http "http://127.0.0.1:$haproxy_port$WRK_PATH" || { cat "$work/haproxy.log" >&2; exit 1; }
wait_http "http://127.0.0.1:$clb_port$WRK_PATH" || { cat "$work/contrail-lb.log" >&2; exit 1; }

# to_ms "577.00us" -> 0.577
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
        if (unit == "us") n /= 1000; else if (unit == "s") n *= 1000; else if (unit == "m") n *= 60000
        printf "%.3f", n }'
}

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A rps p50 p99 errors cpu
measure() {
    local name="$1" port="$2" pid="$3" out="$work/wrk-$1.txt"
    echo "bench: $name: warm-up $WARMUP, then wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION" >&2
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$port$WRK_PATH" >/dev/null
    local before after
    before="$(cpu_ticks "$pid")"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency \
        "http://127.0.0.1:$port$WRK_PATH" >"$out"
    after="$(cpu_ticks "$pid")"
    # CPU microseconds the measured process spent per request: the proxy's own cost,
    # less sensitive than req/s to wrk and the origin competing for the same CPUs.
    cpu[$name]="$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        '/ requests in / {printf "%.1f", t * 1e6 / hz / $1}' "$out")"
    rps[$name]="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")"
    p50[$name]="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99[$name]="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    errors[$name]="$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")"
}

measure backend "$backend_port" "$backend_pid"
measure haproxy "$haproxy_port" "$haproxy_pid"
measure contrail-lb "$clb_port" "$clb_pid"

clb_version="$("$CLB_BIN" --version 2>&1 | head -n 1)"
haproxy_version="$("$HAPROXY" -v 2>&1 | head -n 1 | awk '{print $3}')"
command_line="WORKERS=$WORKERS WRK_THREADS=$WRK_THREADS WRK_CONNECTIONS=$WRK_CONNECTIONS WRK_DURATION=$WRK_DURATION WRK_PATH=$WRK_PATH bash bench/run.sh"
table="$(
    echo "| target | req/s | p50 ms | p99 ms | errors | CPU µs/request | vs HAProxy (req/s) |"
    echo "|--------|------:|-------:|-------:|-------:|---------------:|-------------------:|"
    for name in backend haproxy contrail-lb; do
        label="$name"
        [[ "$name" == backend ]] && label="backend direct (clb-test-backend, 1 thread)"
        [[ "$name" == haproxy ]] && label="HAProxy $haproxy_version (nbthread $WORKERS)"
        [[ "$name" == contrail-lb ]] && label="contrail-lb (workers $WORKERS)"
        ratio="$(awk -v a="${rps[$name]}" -v b="${rps[haproxy]}" 'BEGIN {printf (b > 0 ? "%.2fx" : "n/a"), a / b}')"
        echo "| $label | ${rps[$name]} | ${p50[$name]} | ${p99[$name]} | ${errors[$name]} | ${cpu[$name]} | $ratio |"
    done
)"

mkdir -p bench/results
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — $(nproc) CPUs, $(uname -r), $clb_version"
    echo
    echo "\`$command_line\`"
    echo
    echo "$table"
} >>bench/results/http-proxy.md

echo
echo "$table"
echo
echo "bench: appended to bench/results/http-proxy.md"
