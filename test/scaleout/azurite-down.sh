#!/usr/bin/env bash
# Stops the Azurite that azurite-up.sh started (SIGTERM by PID; it exits at once) and removes DIR.
D=$(realpath -m "${1:?usage: azurite-down.sh DIR}")
if [ -f "$D/pid" ]; then
  p=$(cat "$D/pid")
  kill "$p" 2>/dev/null || true
  running() { local s; s=$(ps -o stat= -p "$p" 2>/dev/null) && [ "${s#Z}" = "$s" ]; }
  for _ in $(seq 50); do running || break; sleep 0.1; done
  if running; then kill -9 "$p" 2>/dev/null || true; fi
fi
rm -rf "$D"
