# Shared by deploy/image/*.sh (sourced, not run): where the image cache lives, how to reach
# the Docker engine, one-line errors.
#   TASKFACTORY_IMAGE_CACHE  machine-wide cache kept between fresh clones (CI): the base image's
#                            root filesystem tarball and, when this project starts dockerd, its
#                            data dir (default /var/cache/taskfactory/image)
#   DOCKER_HOST              an engine that is already running; unset: the engine this project
#                            starts (deploy/image/dockerd.sh) on <cache>/run/docker.sock
# shellcheck shell=bash

image_cache="${TASKFACTORY_IMAGE_CACHE:-/var/cache/taskfactory/image}"
image_run="$image_cache/run"
own_docker_host="unix://$image_run/docker.sock"
# Docker's own client (docker.io), not a newer one that may come first on PATH, so client
# and engine speak the same API version. Looked up per call: docker.io may be installed since.
docker_cli() {
    if [[ -n ${DOCKER_CLI:-} ]]; then echo "$DOCKER_CLI"
    elif [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker
    else echo docker
    fi
}

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

log() {
    echo "${0##*/}: $*" >&2
}

# The Docker client against DOCKER_HOST if set, else against the engine dockerd.sh starts.
dock() {
    DOCKER_HOST="${DOCKER_HOST:-$own_docker_host}" "$(docker_cli)" "$@"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (run as root, or set DOCKER_HOST to a running engine)"
}

# Install Debian packages the first time one of the commands is missing (CI: fresh machine).
apt_install() {  # apt_install <command> <package>...
    command -v "$1" >/dev/null 2>&1 && return 0
    need_root "installing ${*:2}"
    log "installing ${*:2} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${@:2}" >&2
}
