#!/usr/bin/env bash
# `npm run test:scaleout`: starts real servers in a temporary folder — PostgreSQL 15 (Debian's,
# as the postgres user), Ceph radosgw with a memstore OSD (Debian's), Azurite 3.35.0 (npm, cached)
# — installing what is missing, runs the scale-out backend tests against them
# (test/scaleout/vitest.config.ts: PostgreSQL catalog, S3 and Azure blob stores, decorators,
# figures), then stops every server by its PID, whatever happened.
# Extra arguments go to vitest (e.g. a file filter). Env: SNAPDISK_SCALEOUT_SKIP_CEPH=1 runs
# without Ceph (its tests then skip); SNAPDISK_FIGURES_OUT=FILE keeps the measured figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=test/scaleout
T=$(mktemp -d /tmp/snapdisk-scaleout.XXXXXX)
chmod 755 "$T" # the postgres user must reach its data folder inside
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
cleanup() {
  set +e
  bash $S/azurite-down.sh "$T/azurite"
  bash $S/ceph-down.sh "$T/ceph"
  bash $S/pg-down.sh "$T/pg"
  rm -rf "$T"
}
trap cleanup EXIT

t0=$(date +%s)
SNAPDISK_TEST_POSTGRES_URL=$(PGPORT=$(free_port) bash $S/pg-up.sh "$T/pg")
export SNAPDISK_TEST_POSTGRES_URL
echo "== postgres: $SNAPDISK_TEST_POSTGRES_URL ($(($(date +%s) - t0)) s)"
if [ "${SNAPDISK_SCALEOUT_SKIP_CEPH:-0}" != 1 ]; then
  t0=$(date +%s)
  SNAPDISK_TEST_S3_ENDPOINT=$(MON_PORT=$(free_port) RGW_PORT=$(free_port) bash $S/ceph-up.sh "$T/ceph")
  export SNAPDISK_TEST_S3_ENDPOINT
  echo "== ceph radosgw (S3): $SNAPDISK_TEST_S3_ENDPOINT ($(($(date +%s) - t0)) s)"
fi
t0=$(date +%s)
SNAPDISK_TEST_AZURE_BLOB_URL=$(AZURITE_PORT=$(free_port) bash $S/azurite-up.sh "$T/azurite")
export SNAPDISK_TEST_AZURE_BLOB_URL
echo "== azurite (blob): $SNAPDISK_TEST_AZURE_BLOB_URL ($(($(date +%s) - t0)) s)"

npx vitest run --config $S/vitest.config.ts "$@"
