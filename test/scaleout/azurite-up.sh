#!/usr/bin/env bash
# Azurite (blob service only, in memory) for the scale-out tests. Azurite is ~186 MB, so it is not
# a project dependency: it is installed once into a cache folder with `npm i --prefix`.
# Pinned to 3.35.0 (3.36+ needs Node >= 21); started with --skipApiVersionCheck because
# @azure/storage-blob 12.32.0 sends a service version newer than Azurite 3.35 knows.
# Usage: azurite-up.sh DIR  -> prints the blob endpoint; azurite-down.sh DIR stops it by PID.
# Env: AZURITE_PORT (default 41000), AZURITE_HOME (install folder, default ~/.cache/snapdisk/azurite-3.35.0).
set -euo pipefail
D=$(realpath -m "${1:?usage: azurite-up.sh DIR}")
PORT=${AZURITE_PORT:-41000}
HOME_DIR=${AZURITE_HOME:-${HOME:-/root}/.cache/snapdisk/azurite-3.35.0}
BIN=$HOME_DIR/node_modules/.bin/azurite-blob
if [ ! -x "$BIN" ]; then
  echo "azurite-up: installing azurite@3.35.0 into $HOME_DIR (npm)" >&2
  mkdir -p "$HOME_DIR"
  npm i --prefix "$HOME_DIR" --no-audit --no-fund --loglevel=error azurite@3.35.0 >/dev/null
fi
rm -rf "$D" && mkdir -p "$D"
"$BIN" --skipApiVersionCheck --disableTelemetry --blobHost 127.0.0.1 --blobPort "$PORT" --inMemoryPersistence --silent \
  >"$D/log" 2>&1 &
echo $! > "$D/pid"
for _ in $(seq 100); do
  if curl -so /dev/null "http://127.0.0.1:$PORT/devstoreaccount1?comp=list"; then
    echo "http://127.0.0.1:$PORT/devstoreaccount1"
    exit 0
  fi
  kill -0 "$(cat "$D/pid")" 2>/dev/null || { echo "azurite-up: azurite exited: $(cat "$D/log")" >&2; exit 1; }
  sleep 0.1
done
echo "azurite-up: not listening on $PORT after 10 s" >&2
exit 1
