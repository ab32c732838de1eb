#!/usr/bin/env bash
# Build the taskfactory image from the repository's Dockerfile (`make image`).
# With no PYTHON_IMAGE, the base is made locally (base-image.sh: debootstrap + docker import),
# for machines that reach no registry; the classic builder is used, since BuildKit would
# fetch its frontend image from a registry. Builds run on the host's network. The engine is
# started for the build and stopped after it (with-dockerd.sh) unless DOCKER_HOST names one.
# Prints the image reference on stdout.
#   PYTHON_IMAGE  a Debian-based CPython 3.11 image from a registry, e.g. python:3.11-slim-bookworm
#   IMAGE         the reference to tag (default taskfactory:<appVersion of the chart>)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
[[ -n ${DOCKER_HOST:-} ]] || exec "$here/with-dockerd.sh" "$0" "$@"

root="$(cd "$here/../.." && pwd)"
version="$(awk -F'"' '/^appVersion:/ { print $2 }' "$root/deploy/helm/taskfactory/Chart.yaml")"
image="${IMAGE:-taskfactory:${version:?no appVersion in Chart.yaml}}"
python_image="${PYTHON_IMAGE:-$("$here/base-image.sh")}"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$root" status --porcelain 2>/dev/null)" ]] || revision+="-dirty"
# The commit's time, not the clock's, so rebuilding one commit gives the same labels.
created="$(git -C "$root" log -1 --format=%cI 2>/dev/null || echo unknown)"

# A proxy of this machine reaches the build's RUN steps too (predefined build args: they
# neither invalidate the layer cache nor stay in the image).
proxy_args=()
for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [[ -z ${!var:-} ]] || proxy_args+=(--build-arg "$var")
done

log "building $image on $python_image (revision $revision)"
DOCKER_BUILDKIT=0 dock build \
    --network host \
    ${proxy_args[@]+"${proxy_args[@]}"} \
    --build-arg "PYTHON_IMAGE=$python_image" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    --tag "$image" \
    "$root" >&2
# Each build leaves the previous image untagged; drop those after a day, keeping the layer
# cache of recent builds.
dock image prune --force --filter until=24h >/dev/null
echo "$image"
