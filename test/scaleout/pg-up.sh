#!/usr/bin/env bash
# Throw-away PostgreSQL 15 cluster for the scale-out tests (Debian's postgresql-15), as root:
# the server runs as the `postgres` OS user, data and socket under DIR, TCP on 127.0.0.1 only.
# Usage: pg-up.sh DIR   -> prints the URL; pg-down.sh DIR stops it by PID and removes DIR.
# Env: PGPORT (default 45432).
set -euo pipefail
D=$(realpath -m "${1:?usage: pg-up.sh DIR}")
PGPORT=${PGPORT:-45432}
BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$BIN/initdb" ]; then
  echo "pg-up: installing postgresql-15 (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 >/dev/null
fi
rm -rf "$D" && mkdir -p "$D" && chown postgres: "$D"
# initdb refuses to run as root
runuser -u postgres -- "$BIN/initdb" -D "$D/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -l "$D/log" -w -t 30 start -o \
  "-c listen_addresses=127.0.0.1 -p $PGPORT -k $D -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
head -1 "$D/data/postmaster.pid" > "$D/pid"
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
