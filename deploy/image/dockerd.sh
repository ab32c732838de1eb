#!/usr/bin/env bash
# Start or stop this project's own Docker engine (there is no systemd to run one):
#   dockerd.sh start   print "started <pid>", or "running" if it already answers (then it is
#                      someone else's to stop); docker.io is installed the first time
#   dockerd.sh stop    stop the engine started here, by its pid file (its containers stop too)
# Everything lives under <cache> (see common.sh): the data dir in <cache>/docker (images and
# build cache survive fresh clones), socket, pid file, exec root and log in <cache>/run. The
# engine makes no bridge and writes no iptables rules (a shared machine's firewall is left
# alone): builds and containers use the host's network (--network host).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

pid_file="$image_run/dockerd.pid"
log_file="$image_run/dockerd.log"

answers() {
    DOCKER_HOST="$own_docker_host" "$(docker_cli)" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

pid_alive() {
    [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

start() {
    if answers; then
        echo "running"
        return 0
    fi
    need_root "starting dockerd"
    apt_install dockerd docker.io
    pid_alive && die "dockerd (pid $(cat "$pid_file")) runs but does not answer on $own_docker_host; see $log_file"
    mkdir -p "$image_cache/docker" "$image_run/exec"
    rm -f "$pid_file" "$image_run/docker.sock"
    # setsid: the engine outlives this script and no terminal signal reaches it.
    # 9>&-: a caller's lock (with-dockerd.sh) must not live on in the engine.
    setsid dockerd \
        --data-root "$image_cache/docker" \
        --exec-root "$image_run/exec" \
        --pidfile "$pid_file" \
        --host "$own_docker_host" \
        --bridge none --iptables=false --ip6tables=false \
        --log-level warn \
        >"$log_file" 2>&1 </dev/null 9>&- &
    local deadline=$((SECONDS + ${DOCKERD_START_TIMEOUT:-90}))
    until answers; do
        if ! kill -0 $! 2>/dev/null || ((SECONDS > deadline)); then
            tail -n 20 "$log_file" >&2
            kill $! 2>/dev/null || true
            die "dockerd did not answer on $own_docker_host (log: $log_file)"
        fi
        sleep 0.5
    done
    echo "started $(cat "$pid_file")"
}

stop() {
    pid_alive || { rm -f "$pid_file"; return 0; }
    local pid deadline=$((SECONDS + 60))
    pid="$(cat "$pid_file")"
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            log "dockerd (pid $pid) ignored SIGTERM for 60 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    done
    rm -f "$pid_file"
    # The engine leaves its network namespace bind-mounted; leave no mount behind.
    local netns="$image_run/exec/netns/default"
    if mountpoint -q "$netns" 2>/dev/null; then umount "$netns" || true; fi
    echo "stopped $pid"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) die "usage: dockerd.sh start|stop" ;;
esac
