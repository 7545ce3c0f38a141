#!/usr/bin/env bash
# Configures (CMake + Ninja) and builds contrail-lb.
#
#   scripts/build.sh [DIR] [cmake args...]     DIR defaults to build/
#
# Environment: CLB_JOBS (default: nproc) parallel jobs; BUILD_TARGETS="a b" builds only
# those targets (the demo uses it to skip tests and benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
if (($# > 0)) && [[ "$1" != -* ]]; then
    dir="$1"
    shift
fi
jobs="${CLB_JOBS:-$(nproc)}"

echo "build: configuring $dir ${*:-}"
# Warnings are errors in every build of ours (CI, the image); a later -DCLB_WERROR=OFF wins.
cmake -S . -B "$dir" -G Ninja -DCLB_WERROR=ON "$@"

targets=()
for target in ${BUILD_TARGETS:-}; do targets+=(--target "$target"); done
echo "build: building $dir with $jobs jobs ${BUILD_TARGETS:+(targets: $BUILD_TARGETS)}"
cmake --build "$dir" -j "$jobs" "${targets[@]}"
echo "build: $dir done"
