#!/usr/bin/env bash
# `make image-smoke`: build the image (cached layers make a rebuild quick), then run
# tests/image: the three services from the image, as the chart runs them, against the local
# stack. The engine is started for both and stopped after (with-dockerd.sh) unless DOCKER_HOST
# names one; the stack is the one TASKFACTORY_KAFKA_BOOTSTRAP/TEMPORAL_ADDRESS name, else the
# local stack, started by the tests and stopped after only if they started it.
#   smoke.sh [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
[[ -n ${DOCKER_HOST:-} ]] || exec "$here/with-dockerd.sh" "$0" "$@"

root="$(cd "$here/../.." && pwd)"
TASKFACTORY_IMAGE="$("$here/build.sh")"
export TASKFACTORY_IMAGE
cd "$root"
exec "${UV:-uv}" run --frozen pytest tests/image -m image "$@"
