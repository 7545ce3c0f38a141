#!/usr/bin/env bash
# Builds the contrail-lb container image from docker/Dockerfile without any registry.
#
#   bash scripts/image.sh [TAG]        TAG defaults to contrail-lb:latest
#
# 1. Base images: the Debian bases the Dockerfile names (debian:bookworm; also
#    debian:bookworm-slim, should a stage start from it). When the engine lacks one, it is
#    made here once with mmdebstrap (--variant=minbase) from this machine's own apt
#    sources (apt-get indextargets, so -updates and -security come along and no archive
#    host is written anywhere), and imported as docker.io/library/debian:bookworm[-slim].
#    The engine's storage keeps them: later runs reuse them.
# 2. Builds docker/Dockerfile with --pull=never (nothing is fetched from a registry);
#    unchanged layers and the build stage's compiler cache are reused.
# 3. Prints the image's size and the command that runs it.
#
# Environment: CLB_ENGINE=podman|docker (default: podman when installed, else a docker
# whose daemon answers). Sourced by tests/image/smoke.sh for the engine set-up.

readonly CLB_BASE=docker.io/library/debian:bookworm
readonly CLB_BASE_SLIM=docker.io/library/debian:bookworm-slim

log() { echo "image: $*"; }
die() {
    echo "image: $*" >&2
    exit 1
}

# clb_engine_setup: sets CLB_ENGINE and, for podman, works around two host quirks
# without touching /etc: crun refuses hosts that mix cgroup v1 and v2 (runc does not),
# and rootful podman asks for nofile/nproc limits above the host's hard limits. Both go
# into a private CONTAINERS_CONF (unless the caller set one); CLB_RUN_FLAGS holds the
# same as `podman run` flags, for the command printed to the user.
clb_engine_setup() {
    if [[ -z "${CLB_ENGINE:-}" ]]; then
        if command -v podman >/dev/null; then
            CLB_ENGINE=podman
        elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
            CLB_ENGINE=docker
        else
            echo "image: no container engine: install podman (bash scripts/install-deps.sh) or run a docker daemon" >&2
            return 1
        fi
    fi
    CLB_RUN_FLAGS=()
    [[ "$CLB_ENGINE" == podman ]] || return 0

    local nofile nproc pid_max runtime=""
    nofile="$(ulimit -Hn)"
    nproc="$(ulimit -Hu)"
    pid_max="$(cat /proc/sys/kernel/pid_max)"
    [[ "$nofile" == unlimited ]] && nofile=1048576
    if [[ "$nproc" == unlimited ]] || ((nproc > pid_max)); then nproc="$pid_max"; fi
    CLB_RUN_FLAGS+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    if command -v runc >/dev/null; then
        runtime=runc
        CLB_RUN_FLAGS+=(--runtime runc)
    fi
    if [[ -z "${CONTAINERS_CONF:-}" ]]; then
        CLB_CONTAINERS_CONF="$(mktemp "${TMPDIR:-/tmp}/clb-containers.XXXXXX.conf")"
        {
            echo "[containers]"
            echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
            if [[ -n "$runtime" ]]; then
                echo "[engine]"
                echo "runtime = \"$runtime\""
            fi
        } >"$CLB_CONTAINERS_CONF"
        export CONTAINERS_CONF="$CLB_CONTAINERS_CONF"
    fi
}

clb_engine_cleanup() {
    if [[ -n "${CLB_CONTAINERS_CONF:-}" ]]; then rm -f "$CLB_CONTAINERS_CONF"; fi
}

image_exists() {
    if [[ "$CLB_ENGINE" == podman ]]; then
        podman image exists "$1"
    else
        docker image inspect "$1" >/dev/null 2>&1
    fi
}

# The machine's own apt source lines for bookworm: deb URI SUITE COMPONENT... A host on
# another release contributes its archives with the suite renamed.
apt_source_lines() {
    local codename
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    # shellcheck disable=SC2016 # $(...) are apt-get's format fields, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
        sort -u |
        awk -v from="$codename" '{ sub("^" from, "bookworm", $2); print }' |
        awk '{ key = $1 " " $2; comps[key] = comps[key] " " $3 }
             END { for (k in comps) print "deb " k comps[k] }' |
        sort
}

# make_base TAG [slim]: mmdebstrap a minbase bookworm and import it as TAG. The slim
# variant leaves out docs, man pages and locales (as Docker's -slim images do) and keeps
# that rule for packages installed later.
make_base() {
    local tag="$1" variant="${2:-}" work sources
    command -v mmdebstrap >/dev/null ||
        die "$tag is missing and mmdebstrap is not installed (bash scripts/install-deps.sh)"
    sources="$(apt_source_lines)"
    [[ -n "$sources" ]] || die "apt-get indextargets lists no Packages index: run apt-get update"
    work="$(mktemp -d "${TMPDIR:-/tmp}/clb-base.XXXXXX")"
    local options=(--variant=minbase --quiet)
    if [[ "$variant" == slim ]]; then
        local path
        for path in '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' \
            '/usr/share/locale/*' '/usr/share/groff/*' '/usr/share/lintian/*' '/usr/share/linda/*'; do
            options+=("--dpkgopt=path-exclude=$path")
        done
        options+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
    fi
    log "making $tag: mmdebstrap ${options[*]} bookworm from $(echo "$sources" | wc -l) apt source lines of this machine"
    local begin=$SECONDS
    if ! mmdebstrap "${options[@]}" bookworm "$work/rootfs.tar" <<<"$sources"; then
        rm -rf "$work"
        die "mmdebstrap failed for $tag"
    fi
    "$CLB_ENGINE" import --change 'CMD ["bash"]' "$work/rootfs.tar" "$tag" >/dev/null
    rm -rf "$work"
    log "made $tag in $((SECONDS - begin))s"
}

# The Debian bases docker/Dockerfile starts from (FROM debian:bookworm[-slim]), made
# here when the engine lacks them; any other base is the engine's business.
ensure_bases() {
    local base
    for base in $(awk 'toupper($1) == "FROM" { print $2 }' docker/Dockerfile | sort -u); do
        case "$base" in
            debian:bookworm | docker.io/library/debian:bookworm) base="$CLB_BASE" ;;
            debian:bookworm-slim | docker.io/library/debian:bookworm-slim) base="$CLB_BASE_SLIM" ;;
            *) continue ;;
        esac
        if image_exists "$base"; then
            log "$base: present"
        elif [[ "$base" == "$CLB_BASE_SLIM" ]]; then
            make_base "$base" slim
        else
            make_base "$base"
        fi
    done
}

# build_image TAG: docker/Dockerfile from the repository root. The build runs on the host
# network so its apt-get reaches the archives the host reaches, with no bridge set-up;
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
build_image() {
    local tag="$1"
    local flags=(--pull=never --network host -f docker/Dockerfile -t "$tag")
    [[ "$CLB_ENGINE" == podman ]] && flags+=(--format docker --layers)
    log "building $tag with $CLB_ENGINE (cached layers are reused)"
    "$CLB_ENGINE" build "${flags[@]}" .
}

image_size() {
    "$CLB_ENGINE" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local tag="${1:-contrail-lb:latest}"
    clb_engine_setup
    trap clb_engine_cleanup EXIT
    local begin=$SECONDS
    ensure_bases
    build_image "$tag"
    log "built $tag in $((SECONDS - begin))s: $(image_size "$tag")"
    cat <<EOF
image: run it (the host's /etc/contrail-lb holds contrail-lb.yaml; see docker/README.md):
  $CLB_ENGINE run -d --name contrail-lb --network host --read-only \\
      --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \\
      --stop-timeout 30 ${CLB_RUN_FLAGS[*]:+${CLB_RUN_FLAGS[*]} }\\
      -v /etc/contrail-lb:/etc/contrail-lb:ro $tag
EOF
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    main "$@"
fi
