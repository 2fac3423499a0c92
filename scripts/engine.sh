#!/usr/bin/env bash
# Make a Docker-API engine reachable for harden and tell how to reach it.
#
#   scripts/engine.sh [start]      find or start an engine, resolve the Python base image, write build/engine.env
#   scripts/engine.sh stop         stop the podman service this script started (only the pid in its pidfile)
#   scripts/engine.sh status       say which engine answers; exit 1 when none does
#
# Engine choice, first that answers /_ping wins:
#   1. $DOCKER_HOST (the user's explicit choice)   2. /var/run/docker.sock (a running Docker daemon)
#   3. harden's podman service on ${HARDEN_ENGINE_DIR:-/run/harden}/podman.sock
#   4. otherwise (root with apt-get): install podman + runc, start `podman system service --time=0` on that
#      socket, detached, with its pid file and log in the same directory.
# Then scripts/local-base.sh resolves the Python base image (python:3.11-slim, or a local debootstrap import
# when no registry answers). stdout carries only `export NAME=value` lines, so
# `eval "$(scripts/engine.sh)"` works; diagnostics go to stderr.
#
# Environment: HARDEN_ENGINE_DIR (socket/pid/log/config dir), HARDEN_ENGINE_ENV (env file to write,
# default build/engine.env), HARDEN_NO_BASE=1 (skip the base image step), HARDEN_BASE_IMAGE (explicit base,
# see scripts/local-base.sh), HARDEN_ENGINE_WAIT (seconds to wait for the service, default 60).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENGINE_DIR=${HARDEN_ENGINE_DIR:-/run/harden}
SOCK=$ENGINE_DIR/podman.sock
PIDFILE=$ENGINE_DIR/podman.pid
LOGFILE=$ENGINE_DIR/podman.log
CONF=$ENGINE_DIR/containers.conf
DROPIN=/etc/containers/containers.conf.d/50-harden.conf
ENV_FILE=${HARDEN_ENGINE_ENV:-$ROOT/build/engine.env}
WAIT=${HARDEN_ENGINE_WAIT:-60}

log() { echo "engine: $*" >&2; }
die() { echo "engine: error: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- probing -------------------------------------------------------------------------------------------

ping_unix() {  # ping_unix SOCKET: does a Docker API answer /_ping on this unix socket?
    local sock=$1
    [ -S "$sock" ] || return 1
    if have curl; then
        [ "$(curl -sS --max-time 5 --unix-socket "$sock" http://localhost/_ping 2>/dev/null)" = "OK" ]
    else
        python3 - "$sock" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
sys.exit(0 if data.split(b"\r\n", 1)[0].split()[1:2] == [b"200"] else 1)
EOF
    fi
}

ping_host() {  # ping_host DOCKER_HOST-URL
    local host=$1
    case $host in
        unix://*) ping_unix "${host#unix://}" ;;
        tcp://*|http://*)
            if [ -n "${DOCKER_TLS_VERIFY:-}" ] && have docker; then
                DOCKER_HOST=$host timeout 15 docker version >/dev/null 2>&1
            elif have curl; then
                local url=${host/#tcp:\/\//http://}
                [ "$(curl -sS --max-time 5 "${url%/}/_ping" 2>/dev/null)" = "OK" ]
            else
                have docker && DOCKER_HOST=$host timeout 15 docker version >/dev/null 2>&1
            fi ;;
        *) have docker && DOCKER_HOST=$host timeout 15 docker version >/dev/null 2>&1 ;;
    esac
}

# Pid from our pidfile when that process is alive and is our podman service (never trust a stale file).
our_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmd == *podman*"system service"*"unix://$SOCK"* ]] || return 1
    echo "$pid"
}

# ---- installing and configuring podman -----------------------------------------------------------------

apt_install() {  # apt_install PKG...: install what is missing (with Recommends), when we can
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] && have apt-get || return 1
    log "installing ${missing[*]} with apt-get"
    # Recommends on purpose: podman's bring netavark, aardvark-dns, iptables, slirp4netns, uidmap, catatonit,
    # which root builds with network access need (the measured working set).
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; then
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
    fi
}

ensure_podman() {
    if have podman && have runc; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "no engine answers and podman/runc are missing; as root this script installs them"
    have apt-get || die "no engine answers and podman/runc are missing; install them (or Docker) by hand: no apt-get here"
    # runc explicitly: podman accepts crun or runc, and crun fails on hybrid cgroups
    apt_install podman runc || die "apt-get could not install podman and runc"
}

# harden's own containers.conf, handed to the service through CONTAINERS_CONF so that a user's
# /etc/containers/containers.conf is never rewritten:
#  - runtime = "runc": crun fails on hosts with hybrid (v1+v2) cgroups;
#  - default_ulimits = []: without CAP_SYS_RESOURCE (nested/unprivileged sandboxes) raising rlimits fails.
write_conf() {
    cat >"$CONF" <<'EOF'
# Written by harden's scripts/engine.sh for its podman service (CONTAINERS_CONF=this file).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
}

# Does podman honour CONTAINERS_CONF here? (podman < 3 did not.) Checked by asking for the runtime it would use.
conf_honoured() {
    local rt
    rt=$(CONTAINERS_CONF=$CONF podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null) || return 1
    [ "$rt" = "runc" ]
}

start_podman() {
    mkdir -p "$ENGINE_DIR"
    chmod 0755 "$ENGINE_DIR"
    write_conf
    local use_env=1
    if ! conf_honoured; then
        # Fallback: a drop-in file (read after containers.conf, so the user's file stays untouched); it changes
        # every podman on this machine, so say so.
        use_env=0
        log "podman ignores CONTAINERS_CONF here; writing the same settings to $DROPIN"
        log "  (runtime=runc, default_ulimits=[]: this affects every podman command on this host; delete the file to undo)"
        mkdir -p "$(dirname "$DROPIN")"
        cp "$CONF" "$DROPIN"
        [ "$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)" = "runc" ] \
            || die "podman does not pick up runc from $DROPIN either; set runtime = \"runc\" in /etc/containers/containers.conf"
    fi
    rm -f "$SOCK"
    log "starting podman system service on unix://$SOCK (log: $LOGFILE)"
    {
        echo "---- $(date -u +%FT%TZ) started by scripts/engine.sh"
    } >>"$LOGFILE"
    # setsid: own session, so the service outlives this shell, make, and the terminal; stdin from /dev/null.
    if [ $use_env = 1 ]; then
        CONTAINERS_CONF=$CONF setsid nohup podman system service --time=0 "unix://$SOCK" \
            </dev/null >>"$LOGFILE" 2>&1 &
    else
        setsid nohup podman system service --time=0 "unix://$SOCK" </dev/null >>"$LOGFILE" 2>&1 &
    fi
    echo $! >"$PIDFILE"
}

wait_answering() {
    local i pid
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    for ((i = 0; i < WAIT * 4; i++)); do
        ping_unix "$SOCK" && return 0
        if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then break; fi  # the service died: stop waiting
        sleep 0.25
    done
    log "the podman service did not answer on $SOCK; last lines of $LOGFILE:"
    tail -n 20 "$LOGFILE" >&2 || true
    return 1
}

# ---- commands ------------------------------------------------------------------------------------------

find_engine() {  # prints the DOCKER_HOST of an answering engine, or fails
    if [ -n "${DOCKER_HOST:-}" ]; then
        if ping_host "$DOCKER_HOST"; then
            echo "$DOCKER_HOST"; return 0
        fi
        log "DOCKER_HOST=$DOCKER_HOST does not answer; looking further"
    fi
    if ping_unix /var/run/docker.sock; then
        echo "unix:///var/run/docker.sock"; return 0
    fi
    if ping_unix "$SOCK"; then
        echo "unix://$SOCK"; return 0
    fi
    return 1
}

cmd_start() {
    local host
    if host=$(find_engine); then
        log "engine answers at $host"
    else
        if our_pid >/dev/null; then
            log "our podman service (pid $(our_pid)) is up but not answering yet; waiting"
        else
            ensure_podman
            start_podman
        fi
        wait_answering || die "no engine: podman system service failed to start"
        host="unix://$SOCK"
        log "podman service answers at $host (pid $(our_pid || echo '?'))"
    fi
    # bwrap: the verifier's sandbox. Best effort: only where apt-get is available.
    have bwrap || apt_install bubblewrap || log "bubblewrap (bwrap) missing and not installable here"

    local base=""
    if [ "${HARDEN_NO_BASE:-0}" != 1 ]; then
        base=$(DOCKER_HOST=$host "$ROOT/scripts/local-base.sh")
    fi
    mkdir -p "$(dirname "$ENV_FILE")"
    {
        echo "# Written by scripts/engine.sh; the Makefile -includes it. Re-run \`make engine\` to refresh."
        echo "DOCKER_HOST=$host"
        if [ -n "$base" ]; then echo "PYTHON_BASE_IMAGE=$base"; fi
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "wrote $ENV_FILE"
    echo "export DOCKER_HOST=$host"
    if [ -n "$base" ]; then echo "export PYTHON_BASE_IMAGE=$base"; fi
}

cmd_stop() {
    local pid
    if ! pid=$(our_pid); then
        if [ -f "$PIDFILE" ]; then
            log "pid file $PIDFILE does not name a running podman service on $SOCK: nothing stopped"
            rm -f "$PIDFILE"
        else
            log "no pid file at $PIDFILE: this script started no service, nothing stopped"
        fi
        return 0
    fi
    log "stopping podman service pid $pid"
    kill -TERM "$pid"
    local i
    for ((i = 0; i < 40; i++)); do
        [ -d "/proc/$pid" ] || break
        sleep 0.25
    done
    [ -d "/proc/$pid" ] && die "pid $pid did not stop after SIGTERM"
    rm -f "$PIDFILE" "$SOCK"
}

cmd_status() {
    local host
    if host=$(find_engine); then
        echo "export DOCKER_HOST=$host"
    else
        log "no engine answers"
        return 1
    fi
}

case ${1:-start} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "unknown command ${1}; use start, stop or status" ;;
esac
