#!/usr/bin/env bash
# Lays out the runtime image's whole file system under ROOTFS (docker/Dockerfile, build
# stage): the stripped binary, exactly the shared libraries it loads (found by ldd), their
# packages' copyright files, the example configuration, and /etc/passwd + /etc/group naming
# the unprivileged user it runs as. /etc/contrail-lb/ stays empty: the operator mounts a
# configuration there, or sets CONTROLLER_NODES (Tungsten Fabric's variables) and the
# entrypoint's `-c /etc/contrail-lb/contrail-lb.yaml` falls back to --from-env. Nothing else: no shell, no package manager, no libc tools.
#
#   docker/rootfs.sh BINARY CONFIG ROOTFS
set -euo pipefail

binary="$1"
config="$2"
rootfs="$3"
readonly uid=65532 # the "nonroot" id of distroless images; free on a typical host

log() { echo "rootfs: $*"; }

# The package that owns a library. dpkg's database predates merged /usr, so a file may be
# registered under /lib or /usr/lib whichever way ldd names it.
owner_of() {
    local real candidate owner
    real="$(readlink -f "$1")"
    for candidate in "$1" "/usr$1" "${1#/usr}" "$real" "${real#/usr}"; do
        owner="$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)" || true
        if [[ -n "$owner" ]]; then
            echo "$owner"
            return 0
        fi
    done
    return 1
}

readonly example=/usr/share/doc/contrail-lb/examples/contrail-lb.yaml
mkdir -p "$rootfs/usr/bin" "$rootfs/etc/contrail-lb" "$rootfs$(dirname "$example")"
strip --strip-unneeded -o "$rootfs/usr/bin/contrail-lb" "$binary"
install -m 0644 "$config" "$rootfs$example"

# Each library at the path the dynamic loader finds it under (ldd prints them resolved,
# the loader itself by its PT_INTERP path), copied as a file, not a symlink.
mapfile -t libraries < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
packages=()
for lib in "${libraries[@]}"; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
    owner="$(owner_of "$lib")" || owner=""
    if [[ -n "$owner" ]]; then packages+=("$owner"); fi
done
log "${#libraries[@]} libraries: $(printf '%s ' "${libraries[@]##*/}")"

# Licences travel with the binaries they cover.
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
for pkg in "${packages[@]}"; do
    if [[ -f "/usr/share/doc/$pkg/copyright" ]]; then
        install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
    fi
done
log "copyright files of: ${packages[*]}"

printf 'root:x:0:0:root:/root:/sbin/nologin\ncontrail-lb:x:%d:%d:contrail-lb:/nonexistent:/sbin/nologin\n' \
    "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\ncontrail-lb:x:%d:\n' "$uid" >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"

# The tree must run on its own: no library may be missing. (The example names the files of
# a deployment, /etc/contrail-lb/tls/... and the users file, which an image does not hold:
# the test suite checks it with them, tests/integration/test_cli.py.)
chroot "$rootfs" /usr/bin/contrail-lb --version
# No file mounted: Tungsten Fabric's variables make the configuration.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CONTROLLER_NODES=10.0.0.11 \
    chroot "$rootfs" /usr/bin/contrail-lb -c /etc/contrail-lb/contrail-lb.yaml --check
log "$(du -sh "$rootfs" | cut -f1) in $rootfs"
