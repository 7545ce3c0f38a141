#!/usr/bin/env bash
# The demo: contrail-lb in front of five local test backends, as in conf/demo.yaml.
#
#   bash scripts/demo.sh        (as root, or as a user once scripts/install-deps.sh has run)
#
# Installs dependencies, builds, starts the backends (api1..3 for contrail-api on
# 127.0.0.1:9101-9103, analytics1..2 for contrail-analytics-api on :9201-9202), then
# runs contrail-lb in the foreground. Ctrl-C stops it and the backends.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
BACKENDS=(
    "api1 127.0.0.1:9101"
    "api2 127.0.0.1:9102"
    "api3 127.0.0.1:9103"
    "analytics1 127.0.0.1:9201"
    "analytics2 127.0.0.1:9202"
)

bash scripts/install-deps.sh
BUILD_TARGETS="contrail-lb clb-test-backend" bash scripts/build.sh "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/contrail-lb-demo.XXXXXX")"
backend_pids=()
cleanup() {
    for pid in "${backend_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${backend_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for backend in "${BACKENDS[@]}"; do
    read -r name address <<<"$backend"
    "$BUILD_DIR/clb-test-backend" --listen "$address" --name "$name" \
        >"$run_dir/$name.out" 2>"$run_dir/$name.err" &
    backend_pids+=("$!")
done

# Each backend prints "ready ADDRESS" once it listens.
for i in "${!BACKENDS[@]}"; do
    read -r name address <<<"${BACKENDS[$i]}"
    for _ in $(seq 100); do
        grep -q '^ready ' "$run_dir/$name.out" && break
        if ! kill -0 "${backend_pids[$i]}" 2>/dev/null; then
            echo "demo: backend $name could not listen on $address: $(cat "$run_dir/$name.err")" >&2
            echo "demo: is another process using the port? (ss -ltnp | grep ${address##*:})" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q '^ready ' "$run_dir/$name.out" || { echo "demo: backend $name not ready" >&2; exit 1; }
    echo "demo: backend $name ready on $address"
done

cat <<'EOF'

contrail-lb is starting with conf/demo.yaml. Try, in another terminal:

  curl http://127.0.0.1:8082/                    # contrail-api: api1, api2, api3 in turn
  curl http://127.0.0.1:8081/                    # contrail-analytics-api: analytics1, analytics2
  curl http://127.0.0.1:9090/stats               # status page (open it in a browser)
  curl http://127.0.0.1:9090/api/v1/status       # the same as JSON
  curl http://127.0.0.1:9090/metrics             # Prometheus metrics
  curl -X POST http://127.0.0.1:9090/api/v1/services/contrail-api/backends/api1/drain
  curl -X POST http://127.0.0.1:9090/api/v1/services/contrail-api/backends/api1/enable

Ctrl-C stops contrail-lb (gracefully) and the backends.

EOF

# Not exec: the EXIT trap must still stop the backends when contrail-lb exits.
"$BUILD_DIR/contrail-lb" -c conf/demo.yaml
