#!/usr/bin/env bash
# Docker Engine 28.5.2 + buildx 0.29.1 + Compose 2.40.3 from Debian's unstable suite, unpacked
# with `dpkg -x` into a private prefix beside bookworm's docker.io 20.10 (no system package is
# replaced; see shared/docs/current-docker-engine.md). Needs bookworm's docker.io installed
# first: dockerd 28 uses its containerd, runc and tini from PATH.
#
#   tools/docker-current.sh install   download (once) and unpack into $CB_DOCKER28 (default /tmp/cb-docker28)
#   tools/docker-current.sh start     start dockerd 28.5.2 on unix://$CB_DOCKER28/docker.sock (pid in docker.pid)
#   tools/docker-current.sh stop      stop only that daemon, by its pid
#   tools/docker-current.sh env       print the DOCKER_HOST / DOCKER_CONFIG / binary lines to eval
#   tools/docker-current.sh start-snapshotter   a second dockerd 28.5.2 with the containerd image store
#                                     (needed for --cache-to with the docker driver) on
#                                     unix://$CB_SNAP/docker.sock (default $CB_DOCKER28/snap), own data root
#   tools/docker-current.sh stop-snapshotter    stop only that daemon, by its pid
set -euo pipefail

D="${CB_DOCKER28:-/tmp/cb-docker28}"
S="${CB_SNAP:-$D/snap}"
# pinned: a different version is refused rather than tested silently
PINS=(docker.io=28.5.2+dfsg4-5 docker-cli=28.5.2+dfsg4-5 docker-buildx=0.29.1+ds1-4 docker-compose=2.40.3-3)

install() {
  if [ -x "$D/root/usr/sbin/dockerd" ] && [ -x "$D/config/cli-plugins/docker-compose" ]; then return 0; fi
  mkdir -p "$D/lists/partial" "$D/debs"
  uri=$(apt-cache policy | awk '/bookworm\/main/ {print $2; exit}')
  if [ -z "$uri" ]; then
    apt-get update -q >/dev/null
    uri=$(apt-cache policy | awk '/bookworm\/main/ {print $2; exit}')
  fi
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" >"$D/sources.list"
  local A=(-o "Dir::Etc::sourcelist=$D/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$D/lists")
  if ! ls "$D"/debs/docker.io_*.deb >/dev/null 2>&1 || [ "$(ls "$D"/debs/*.deb | wc -l)" -lt 4 ]; then
    apt-get "${A[@]}" update -q >/dev/null
    (cd "$D/debs" && apt-get "${A[@]}" download "${PINS[@]}" 2>&1 | grep -v -i "unsandboxed" || true)
  fi
  for p in "${PINS[@]}"; do
    name="${p%%=*}"
    ls "$D"/debs/"${name}"_*.deb >/dev/null 2>&1 || { echo "docker-current: $p could not be downloaded" >&2; exit 1; }
  done
  rm -rf "$D/root"
  for f in "$D"/debs/*.deb; do dpkg -x "$f" "$D/root"; done
  mkdir -p "$D/config/cli-plugins"
  cp "$D"/root/usr/libexec/docker/cli-plugins/docker-* "$D/config/cli-plugins/"
}

start() {
  if DOCKER_HOST="unix://$D/docker.sock" "$D/root/usr/bin/docker" version >/dev/null 2>&1; then return 0; fi
  PATH="$D/root/usr/sbin:$PATH" "$D/root/usr/sbin/dockerd" --host="unix://$D/docker.sock" \
    --data-root="$D/data" --exec-root="$D/exec" --pidfile="$D/docker.pid" \
    --bridge=none --iptables=false --ip-masq=false >"$D/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    if DOCKER_HOST="unix://$D/docker.sock" "$D/root/usr/bin/docker" version >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "dockerd 28.5.2 did not start; its log:" >&2
  tail -n 50 "$D/dockerd.log" >&2 || true
  exit 1
}

# the containerd image store needs its own data root: images of the classic store are not seen
start_snapshotter() {
  if DOCKER_HOST="unix://$S/docker.sock" "$D/root/usr/bin/docker" version >/dev/null 2>&1; then return 0; fi
  mkdir -p "$S"
  PATH="$D/root/usr/sbin:$PATH" "$D/root/usr/sbin/dockerd" --feature containerd-snapshotter=true \
    --host="unix://$S/docker.sock" --data-root="$S/data" --exec-root="$S/exec" --pidfile="$S/docker.pid" \
    --bridge=none --iptables=false --ip-masq=false >"$S/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    if DOCKER_HOST="unix://$S/docker.sock" "$D/root/usr/bin/docker" version >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "dockerd 28.5.2 (containerd image store) did not start; its log:" >&2
  tail -n 50 "$S/dockerd.log" >&2 || true
  exit 1
}

stop_snapshotter() {
  if [ -f "$S/docker.pid" ]; then kill "$(cat "$S/docker.pid")" 2>/dev/null || true; fi
}

stop() {
  if [ -f "$D/docker.pid" ]; then kill "$(cat "$D/docker.pid")" 2>/dev/null || true; fi
}

env_lines() {
  echo "export CACHEBUST_DOCKER28_HOST=unix://$D/docker.sock"
  echo "export CACHEBUST_DOCKER28_CONFIG=$D/config"
  echo "export CACHEBUST_DOCKER28_BIN=$D/root/usr/bin/docker"
  if [ -S "$S/docker.sock" ]; then echo "export CACHEBUST_DOCKER28_SNAP_HOST=unix://$S/docker.sock"; fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  start-snapshotter) start_snapshotter ;;
  stop-snapshotter) stop_snapshotter ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|start-snapshotter|stop-snapshotter|env" >&2; exit 2 ;;
esac
