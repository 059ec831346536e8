#!/usr/bin/env bash
# Stops what ceph-up.sh started, by PID file: radosgw first (its shutdown needs the OSD), then the
# OSD and mgr, then the mon; SIGKILL what still runs after 10 s; removes DIR. An exited daemon stays
# a zombie until PID 1 reaps it, so a 'Z' state counts as stopped.
D=$(realpath -m "${1:?usage: ceph-down.sh DIR}")
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s#Z}" = "$s" ]; }
stop() {
  local P="" p a
  for n in "$@"; do [ -f "$D/run/$n.pid" ] && P="$P $(cat "$D/run/$n.pid")"; done
  [ -n "$P" ] || return 0
  kill $P 2>/dev/null
  for _ in $(seq 100); do
    a=""; for p in $P; do running "$p" && a=1; done
    [ -z "$a" ] && return 0
    sleep 0.1
  done
  kill -9 $P 2>/dev/null
}
stop client.rgw.a
stop osd.0 mgr.x
stop mon.a
rm -rf "$D"
