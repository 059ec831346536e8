#!/usr/bin/env bash
# Stops the cluster pg-up.sh started (SIGINT = fast shutdown, by PID) and removes DIR. Waits for
# postmaster.pid to go rather than polling with kill -0 (an exited process stays a zombie here).
D=$(realpath -m "${1:?usage: pg-down.sh DIR}")
if [ -f "$D/pid" ]; then
  p=$(cat "$D/pid")
  kill -INT "$p" 2>/dev/null || true
  for _ in $(seq 100); do [ -e "$D/data/postmaster.pid" ] || break; sleep 0.05; done
  [ -e "$D/data/postmaster.pid" ] && kill -9 "$p" 2>/dev/null
fi
rm -rf "$D"
