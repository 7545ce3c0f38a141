#!/usr/bin/env bash
# Installs everything contrail-lb needs to build and test, from Debian 12 packages.
#
#   scripts/install-deps.sh               build deps + test deps, peers and tools + container tools
#   scripts/install-deps.sh --build-only  what building contrail-lb itself needs (the image's
#                                         build stage): no test frameworks, no clang
#
# Container tools (podman, runc, mmdebstrap, uidmap: scripts/image.sh and the image smoke
# test) are optional: an archive without them is reported, and the smoke test is skipped.
#
# Idempotent: when every package is already installed it only runs dpkg-query and
# exits; apt-get update runs only when something is missing.
set -euo pipefail

build_packages=(
    build-essential cmake ninja-build pkg-config ccache
    libev-dev libssl-dev node-llhttp libyaml-cpp-dev libspdlog-dev libfmt-dev
    libcrypt-dev
)
test_packages=(
    googletest libgtest-dev libbenchmark-dev
    clang libclang-rt-14-dev clang-format
    python3 python3-pytest python3-yaml
    curl wrk nghttp2-client openssl
    haproxy bird2 gobgpd frr
    iproute2 iptables procps psmisc faketime
    nginx libnginx-mod-http-echo gnuplot-nox util-linux
    whois chromium
)
container_packages=(podman runc mmdebstrap uidmap)

log() { echo "install-deps: $*"; }

packages=("${build_packages[@]}")
optional=()
case "${1:-}" in
    --build-only) ;;
    "")
        packages+=("${test_packages[@]}")
        optional+=("${container_packages[@]}")
        ;;
    *)
        echo "usage: $0 [--build-only]" >&2
        exit 2
        ;;
esac

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}" "${optional[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    log "all $((${#packages[@]} + ${#optional[@]})) packages already installed"
    exit 0
fi

if ((EUID != 0)); then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (sudo bash $0) to install them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "missing: ${missing[*]}"
log "apt-get update"
apt-get update -qq

# Install only names this archive actually has, and say which ones it lacks, rather
# than letting one unknown name abort the whole transaction.
installable=()
unavailable=()
for pkg in "${missing[@]}"; do
    candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [[ -n "$candidate" && "$candidate" != "(none)" ]]; then
        installable+=("$pkg")
    else
        unavailable+=("$pkg")
    fi
done
if ((${#installable[@]} > 0)); then
    log "installing ${#installable[@]} packages: ${installable[*]}"
    apt-get install -y -qq --no-install-recommends "${installable[@]}"
fi
required_unavailable=()
for pkg in "${unavailable[@]}"; do
    if [[ " ${optional[*]} " == *" $pkg "* ]]; then
        log "optional, not available from the configured apt sources: $pkg"
    else
        required_unavailable+=("$pkg")
    fi
done
if ((${#required_unavailable[@]} > 0)); then
    echo "install-deps: not available from the configured apt sources: ${required_unavailable[*]}" >&2
    exit 1
fi
log "done"
