#!/usr/bin/env bash
# The Docker client against the engine deploy/image uses: DOCKER_HOST if set, else this
# project's own (dockerd.sh). E.g. `bash deploy/image/docker.sh images`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
dock "$@"
