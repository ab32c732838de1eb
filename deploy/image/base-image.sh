#!/usr/bin/env bash
# Make the Python base image locally, for machines that reach no container registry:
# debootstrap of Debian bookworm from the Debian mirror apt already uses, python3 (3.11) and
# python3-venv from Debian's packages, the CA certificates this machine added locally (those
# update-ca-certificates installed from /usr/local/share/ca-certificates) so pip and uv can
# reach PyPI from inside a build behind a TLS-inspecting proxy, then `docker import`.
# Prints the image reference on stdout (progress goes to stderr). Cached: the root filesystem
# tarball is kept in <cache>/base/ and re-made only when its recipe or the local CAs change;
# the import is skipped when the engine already has the image of that recipe.
#   BASE_MIRROR  Debian mirror (default: the first bookworm one in /etc/apt/sources*)
#   BASE_IMAGE   the reference to tag (default taskfactory-python:3.11-bookworm)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

suite=bookworm
python_version=3.11
packages=python3,python3-venv,ca-certificates
image="${BASE_IMAGE:-taskfactory-python:$python_version-$suite}"
base_dir="$image_cache/base"

mirror_of() {  # the first URI apt uses for suite $1 (deb822 .sources or one-line .list files)
    shopt -s nullglob
    local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    shopt -u nullglob
    {
        [[ ${#sources[@]} -eq 0 ]] || awk -v s="$1" '
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) print uri }' "${sources[@]}"
        for f in "${lists[@]}"; do
            if [[ -f $f ]]; then awk -v s="$1" '$1 == "deb" && $3 == s { print $2 }' "$f"; fi
        done
    } | head -n1 || true  # head may close the pipe early
}
mirror="${BASE_MIRROR:-$(mirror_of "$suite")}"
mirror="${mirror:-http://deb.debian.org/debian}"
security_mirror="$(mirror_of "$suite-security")"
security_mirror="${security_mirror:-http://deb.debian.org/debian-security}"

shopt -s nullglob
local_cas=(/usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt)
shopt -u nullglob
# The recipe: re-made when any of it changes (a new local CA included).
recipe="$(
    echo "suite=$suite packages=$packages mirror=$mirror security=$security_mirror v=1"
    for ca in ${local_cas[@]+"${local_cas[@]}"}; do sha256sum "$ca"; done
)"
recipe_id="$(sha256sum <<<"$recipe" | cut -c1-16)"
tarball="$base_dir/$suite-$recipe_id.tar"

if [[ "$(dock image inspect --format '{{ index .Config.Labels "taskfactory.base.recipe" }}' "$image" 2>/dev/null)" == "$recipe_id" ]]; then
    echo "$image"
    exit 0
fi

if [[ ! -f $tarball ]]; then
    need_root "debootstrap"
    apt_install debootstrap debootstrap
    mkdir -p "$base_dir"
    rootfs="$(mktemp -d "$base_dir/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap $suite from $mirror into $rootfs (several minutes the first time)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >&2
    # Updates and security fixes as apt on this machine gets them; apt reads DNS from the host.
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    for ca in ${local_cas[@]+"${local_cas[@]}"}; do
        install -D -m 0644 "$ca" "$rootfs/usr/local/share/ca-certificates/${ca#/usr/local/share/ca-certificates/}"
    done
    chroot "$rootfs" /usr/sbin/update-ca-certificates >&2
    chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -qq && apt-get upgrade -y -qq && apt-get clean' >&2
    got="$(chroot "$rootfs" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [[ $got == "$python_version" ]] || die "$suite ships Python $got, the project needs $python_version"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/tmp/*
    : >"$rootfs/etc/resolv.conf"
    rm -f "$base_dir"/"$suite"-*.tar  # older recipes
    tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
fi

log "importing $tarball as $image"
dock import \
    --change "LABEL taskfactory.base.recipe=$recipe_id" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8" \
    --change 'CMD ["python3"]' \
    "$tarball" "$image" >/dev/null
echo "$image"
