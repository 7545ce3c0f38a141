#!/usr/bin/env bash
# Runs every test contrail-lb has, in stages, and ends with "N passed, N failed, N skipped".
#
#   1. install-deps              scripts/install-deps.sh
#      format                    clang-format --dry-run -Werror over every C++ file git tracks
#   2. build release             build/        (-DCMAKE_BUILD_TYPE=RelWithDebInfo: -O2 -g)
#   3. ctest                     build/        unit + integration, --output-on-failure
#      bench smoke               bench/run.sh --smoke against build/: the harness works
#                                (a few seconds per target; never a speed threshold)
#   4. image smoke test          tests/image/smoke.sh: builds the container image (cached
#                                base images and layers are reused) and runs it; skipped
#                                where podman/docker or mmdebstrap is missing
#   5. build asan+ubsan          build-asan/   (-DCLB_SANITIZE=ON): unit tests, contrail-lb,
#                                clb-test-backend
#   6. ctest -L unit             build-asan/
#   7. integration under asan    the ASAN_INTEGRATION subset below against build-asan/'s
#                                binaries; fails on any sanitizer report (leaks included)
#   8. build tsan                build-tsan/   (-DCLB_TSAN=ON): contrail-lb, clb-test-backend
#   9. integration under tsan    the TSAN_INTEGRATION subset (multi-worker tests)
#  10. build fuzzers             build-fuzz/   (clang, -DCLB_FUZZ=ON)
#  11. one stage per fuzz_*      each for CLB_FUZZ_SECONDS over tests/fuzz/corpus/MODULE/
#                                (and tests/fuzz/NAME.dict when present)
#  12. soak                      tests/soak/run.sh for CLB_SOAK_MINUTES against build/
#  13. soak under asan+ubsan     the same against build-asan/'s binaries; fails on any
#                                sanitizer report (skipped with the asan group too)
#
# Sanitizers over the real binary (stages 7 and 9). The subsets keep CI within its time
# (a sanitized proxy is 2-3x slower under ASan, 5-15x under TSan) and cover what issue 7
# asks: proxying, tcp mode, reload, shutdown, and the tests that run several workers:
#   ASAN_INTEGRATION: test_proxy_http.py test_tcp_mode.py test_reload.py test_shutdown.py
#                     test_splice.py test_backend_surplus.py test_queue.py test_sticky.py
#                     test_upgrade.py test_burst_memory.py test_tls_resume.py
#   TSAN_INTEGRATION: test_logging.py, test_shutdown.py's two-worker drain test and
#                     test_reload.py's two multi-worker tests; test_upgrade.py
# Left out (bulk transfers, which the full suite covers unsanitized; through a Debug+ASan
# relay and echo backend they take minutes and would only test the machine's speed):
#   test_proxy_http.py::test_one_gib_streams_in_constant_memory (1 GiB)
#   test_tcp_mode.py::test_large_stream_both_ways_concurrently_intact (200 MiB each way)
# Sanitizer reports go to files (log_path) and are printed after the run, so a report
# from a process a test killed or did not check still fails the stage.
#
# Environment knobs (defaults are what CI runs):
#   CLB_FUZZ_SECONDS=60     time per fuzzer
#   CLB_SOAK_MINUTES=3      length of each soak run (a random seed each time, printed)
#   CLB_JOBS=$(nproc)       build parallelism
#   CLB_BUILD_PREFIX=build  build dirs are PREFIX, PREFIX-asan, PREFIX-tsan, PREFIX-fuzz
#   CLB_SKIP="asan fuzz"    skip stage groups: release, image, asan, tsan, fuzz, soak
# A stage whose build failed is counted as failed without running. A stage whose command
# exits 77 (the automake convention) could not run here and is counted as skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo="$(pwd)"

fuzz_seconds="${CLB_FUZZ_SECONDS:-60}"
soak_minutes="${CLB_SOAK_MINUTES:-3}"
prefix="${CLB_BUILD_PREFIX:-build}"
skip=" ${CLB_SKIP:-} "
export CLB_JOBS="${CLB_JOBS:-$(nproc)}"

passed=0
failed=0
skipped_count=0
failed_names=()
skipped_names=()
started_at=$SECONDS

# stage NAME COMMAND...: runs one stage, prints its outcome and duration.
stage() {
    local name="$1"
    shift
    local begin=$SECONDS
    echo
    echo "==> [$((passed + failed + skipped_count + 1))] $name"
    local status=0
    "$@" || status=$?
    if ((status == 0)); then
        passed=$((passed + 1))
        echo "<== PASS $name ($((SECONDS - begin))s)"
        return 0
    fi
    if ((status == 77)); then
        skipped_count=$((skipped_count + 1))
        skipped_names+=("$name")
        echo "<== SKIP $name ($((SECONDS - begin))s)"
        return 0
    fi
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "<== FAIL $name ($((SECONDS - begin))s)"
    return 1
}

# fail_stage NAME REASON: counts a stage that could not run.
fail_stage() {
    echo
    echo "==> [$((passed + failed + skipped_count + 1))] $1"
    echo "<== FAIL $1 (not run: $2)"
    failed=$((failed + 1))
    failed_names+=("$1")
}

skipped() { [[ "$skip" == *" $1 "* ]]; }

# The sanitizer and fuzz builds compile only what they run.
unit_targets() {
    local dir
    for dir in tests/unit/*/; do
        compgen -G "$dir*.cpp" >/dev/null && echo "unit_$(basename "$dir")"
    done
}
fuzz_targets() {
    local source
    for source in tests/fuzz/*.cpp; do
        [[ -e "$source" ]] && echo "fuzz_$(basename "$source" .cpp)"
    done
}

# Each entry is one pytest run: node ids and pytest options, split on spaces.
ASAN_INTEGRATION=(
    "test_proxy_http.py --deselect test_proxy_http.py::test_one_gib_streams_in_constant_memory"
    "test_tcp_mode.py --deselect test_tcp_mode.py::test_large_stream_both_ways_concurrently_intact"
    test_reload.py test_shutdown.py test_splice.py test_backend_surplus.py test_queue.py
    test_sticky.py test_upgrade.py test_burst_memory.py test_tls_resume.py)
TSAN_INTEGRATION=(
    "test_logging.py test_shutdown.py::test_in_flight_requests_complete_then_exit_0
     test_reload.py::test_unchanged_listener_keeps_connections_and_requests_in_flight
     test_reload.py::test_no_request_fails_across_reloads_under_light_load"
    test_upgrade.py)

# sanitized_pytest BUILD_DIR SANITIZER ENTRY...: the integration tests of each ENTRY (see
# above) against BUILD_DIR's binaries; fails when pytest fails or any process left a
# sanitizer report.
sanitized_pytest() {
    local build="$1" sanitizer="$2"
    shift 2
    local reports status=0 entry
    reports="$(mktemp -d "${TMPDIR:-/tmp}/clb-$sanitizer.XXXXXX")"
    local common="log_path=$reports/report:log_exe_name=1"
    for entry in "$@"; do
        # shellcheck disable=SC2086 # an entry is several words
        (cd tests/integration && env CLB_BIN="$repo/$build/contrail-lb" \
            CLB_BACKEND_BIN="$repo/$build/clb-test-backend" \
            ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0" \
            UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1" \
            LSAN_OPTIONS="suppressions=$repo/tests/sanitizers/lsan.supp" \
            TSAN_OPTIONS="$common:halt_on_error=0:second_deadlock_stack=1:suppressions=$repo/tests/sanitizers/tsan.supp" \
            python3 -m pytest -q -p no:cacheprovider $entry) || status=1
    done
    if compgen -G "$reports/report*" >/dev/null; then
        echo "test: $sanitizer reports:"
        cat "$reports"/report*
        status=1
    fi
    rm -rf "$reports"
    return "$status"
}

# soak BUILD_DIR [SANITIZER]: tests/soak/run.sh against BUILD_DIR's binaries; with a
# sanitizer, fails on any report as sanitized_pytest does. ASan's quarantine is kept small
# so that RSS returning to its baseline still means something.
soak() {
    local build="$1" sanitizer="${2:-}" reports status=0
    if [[ -z "$sanitizer" ]]; then
        CLB_BIN="$repo/$build/contrail-lb" CLB_BACKEND_BIN="$repo/$build/clb-test-backend" \
            bash tests/soak/run.sh --minutes "$soak_minutes"
        return
    fi
    reports="$(mktemp -d "${TMPDIR:-/tmp}/clb-soak-$sanitizer.XXXXXX")"
    local common="log_path=$reports/report:log_exe_name=1"
    env CLB_BIN="$repo/$build/contrail-lb" CLB_BACKEND_BIN="$repo/$build/clb-test-backend" \
        ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0:quarantine_size_mb=16" \
        UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1" \
        LSAN_OPTIONS="suppressions=$repo/tests/sanitizers/lsan.supp" \
        bash tests/soak/run.sh --minutes "$soak_minutes" --rss-margin 96 --scale 0.5 || status=$?
    if compgen -G "$reports/report*" >/dev/null; then
        echo "test: $sanitizer reports from the soak:"
        cat "$reports"/report*
        ((status == 77)) && status=1
        ((status == 0)) && status=1
    fi
    rm -rf "$reports"
    return "$status"
}

run_fuzzer() {
    local binary="$1"
    local name module corpus work status
    name="$(basename "$binary")"      # fuzz_http_parser
    module="${name#fuzz_}"
    module="${module%%_*}"            # http
    work="$(mktemp -d "${TMPDIR:-/tmp}/clb-$name.XXXXXX")"
    corpus="$work/corpus"
    mkdir -p "$corpus" "$work/artifacts"
    if [[ -d "tests/fuzz/corpus/$module" ]]; then
        cp -r "tests/fuzz/corpus/$module/." "$corpus/"
    fi
    local options=(-max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
    if [[ -f "tests/fuzz/${name#fuzz_}.dict" ]]; then
        options+=(-dict="tests/fuzz/${name#fuzz_}.dict")
    fi
    echo "fuzz: $name for ${fuzz_seconds}s, seeds: $(find "$corpus" -type f | wc -l) files from tests/fuzz/corpus/$module/"
    "$binary" "${options[@]}" "$corpus" >"$work/log" 2>&1
    status=$?
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done )" "$work/log" || true
    if ((status != 0)); then
        tail -n 60 "$work/log"
        mkdir -p "$repo/$prefix-fuzz/artifacts"
        cp -r "$work/artifacts/." "$repo/$prefix-fuzz/artifacts/" 2>/dev/null
        echo "fuzz: $name failed (exit $status); crash inputs kept in $prefix-fuzz/artifacts/"
    fi
    rm -rf "$work"
    return "$status"
}

stage "install-deps" bash scripts/install-deps.sh
stage "format (clang-format --dry-run -Werror)" \
    bash -c "git ls-files -z '*.cpp' '*.hpp' '*.h' | xargs -0 clang-format --dry-run -Werror"

# ctest runs the integration tests with "python3 -m pytest": make sure the python3
# first in PATH is one that has pytest and yaml (a pyenv shim may not).
if ! python3 -c 'import pytest, yaml' 2>/dev/null && /usr/bin/python3 -c 'import pytest, yaml' 2>/dev/null; then
    echo "test: using /usr/bin/python3 (the python3 in PATH lacks pytest or yaml)"
    export PATH="/usr/bin:$PATH"
fi


if ! skipped release; then
    if stage "build release ($prefix/)" bash scripts/build.sh "$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCLB_SANITIZE=OFF -DCLB_FUZZ=OFF -DCLB_TESTS=ON; then
        stage "ctest ($prefix/: unit + integration)" \
            ctest --test-dir "$prefix" --output-on-failure --timeout 900
        stage "bench smoke ($prefix/)" bash bench/run.sh --smoke --out "$prefix/bench-smoke" \
            --clb-bin "$prefix/contrail-lb" --clb-backend-bin "$prefix/clb-test-backend"
    else
        fail_stage "ctest ($prefix/: unit + integration)" "build failed"
        fail_stage "bench smoke ($prefix/)" "build failed"
    fi
fi

if ! skipped image; then
    if [[ -x "$prefix/clb-test-backend" ]]; then
        stage "image smoke test (container on the host network)" bash tests/image/smoke.sh "$prefix/clb-test-backend"
    else
        fail_stage "image smoke test (container on the host network)" "$prefix/clb-test-backend was not built"
    fi
fi

if ! skipped asan; then
    if stage "build asan+ubsan ($prefix-asan/)" \
        env BUILD_TARGETS="$(unit_targets | xargs) contrail-lb clb-test-backend" \
        bash scripts/build.sh "$prefix-asan" \
        -DCMAKE_BUILD_TYPE=Debug -DCLB_SANITIZE=ON -DCLB_BENCH=OFF -DCLB_TESTS=ON; then
        stage "ctest -L unit ($prefix-asan/)" \
            ctest --test-dir "$prefix-asan" -L unit --output-on-failure --timeout 900
        stage "integration subset under asan+ubsan ($prefix-asan/)" \
            sanitized_pytest "$prefix-asan" asan "${ASAN_INTEGRATION[@]}"
    else
        fail_stage "ctest -L unit ($prefix-asan/)" "build failed"
        fail_stage "integration subset under asan+ubsan ($prefix-asan/)" "build failed"
    fi
fi

if ! skipped tsan; then
    if stage "build tsan ($prefix-tsan/)" env BUILD_TARGETS="contrail-lb clb-test-backend" \
        bash scripts/build.sh "$prefix-tsan" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLB_TSAN=ON -DCLB_BENCH=OFF -DCLB_TESTS=ON; then
        stage "multi-worker integration under tsan ($prefix-tsan/)" \
            sanitized_pytest "$prefix-tsan" tsan "${TSAN_INTEGRATION[@]}"
    else
        fail_stage "multi-worker integration under tsan ($prefix-tsan/)" "build failed"
    fi
fi

if ! skipped fuzz && [[ -z "$(fuzz_targets)" ]]; then
    echo "test: no fuzzers in tests/fuzz/, nothing to fuzz"
elif ! skipped fuzz; then
    if stage "build fuzzers ($prefix-fuzz/, clang)" env BUILD_TARGETS="$(fuzz_targets | xargs)" \
        bash scripts/build.sh "$prefix-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCLB_FUZZ=ON -DCLB_TESTS=OFF -DCLB_BENCH=OFF; then
        mapfile -t fuzzers < <(find "$prefix-fuzz" -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort)
        if ((${#fuzzers[@]} == 0)); then
            echo "test: no fuzz_* targets built (tests/fuzz/*.cpp)"
        fi
        for fuzzer in "${fuzzers[@]}"; do
            stage "fuzz $(basename "$fuzzer") (${fuzz_seconds}s)" run_fuzzer "$fuzzer"
        done
    else
        fail_stage "fuzzers" "build failed"
    fi
fi

if ! skipped soak; then
    if [[ -x "$prefix/contrail-lb" && -x "$prefix/clb-test-backend" ]]; then
        stage "soak ${soak_minutes} min ($prefix/)" soak "$prefix"
    else
        fail_stage "soak ${soak_minutes} min ($prefix/)" "$prefix/ was not built"
    fi
    if skipped asan; then
        echo "test: the asan group is skipped, so is the soak under asan+ubsan"
    elif [[ -x "$prefix-asan/contrail-lb" && -x "$prefix-asan/clb-test-backend" ]]; then
        stage "soak ${soak_minutes} min under asan+ubsan ($prefix-asan/)" soak "$prefix-asan" asan
    else
        fail_stage "soak ${soak_minutes} min under asan+ubsan ($prefix-asan/)" "$prefix-asan/ was not built"
    fi
fi

echo
echo "==> summary after $(((SECONDS - started_at) / 60))m$(((SECONDS - started_at) % 60))s"
for name in "${failed_names[@]}"; do echo "    failed: $name"; done
for name in "${skipped_names[@]}"; do echo "    skipped: $name"; done
echo "$passed passed, $failed failed, $skipped_count skipped"
((failed == 0))
