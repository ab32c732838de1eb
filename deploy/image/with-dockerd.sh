#!/usr/bin/env bash
# Run a command with a Docker engine: DOCKER_HOST if set, else this project's own engine
# (deploy/image/dockerd.sh), started for the command and stopped after it if it was not
# running before. One command at a time per cache (flock), so two checkouts on one machine
# never stop the engine under each other.
#   with-dockerd.sh <command> [args...]     the command sees DOCKER_HOST
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

[[ $# -gt 0 ]] || die "usage: with-dockerd.sh <command> [args...]"
if [[ -n ${DOCKER_HOST:-} ]]; then
    exec "$@"
fi

need_root "starting dockerd"
mkdir -p "$image_run"
exec 9>"$image_cache/lock"
flock -n 9 || { log "waiting for another user of $image_cache to finish"; flock -w 3600 9; }

state="$("$here/dockerd.sh" start)"
stop_engine() {
    [[ $state != started* ]] || "$here/dockerd.sh" stop >/dev/null
}
trap stop_engine EXIT
trap "exit 130" INT TERM
[[ $state != started* ]] || log "dockerd ${state#started } on $own_docker_host (stopped when done)"
DOCKER_HOST="$own_docker_host" "$@"
