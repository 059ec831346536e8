#!/usr/bin/env bash
# Single-node throw-away Ceph (mon + mgr + one memstore OSD + radosgw) serving S3 for the
# scale-out tests; no block or loop device. Installs Debian's packages when missing (~35 s).
# Usage: ceph-up.sh DIR   -> prints the S3 endpoint (keys test/test); ceph-down.sh DIR stops it.
# Env: MON_PORT (46789), RGW_PORT (47480), STORE (memstore | bluestore on a sparse file), MGR=0 to
# skip the mgr (~300 MB RSS less; S3 still works).
# The settings below each fix a problem seen on these machines (shared/reference/object-stores.md
# §1.4): a v2 mon address, crc mon mode for rgw with auth none, a 0.1 s paxos interval (pool
# creation takes seconds otherwise), cluster addr on 127.0.0.1, no free-space refusal.
set -euo pipefail
D=$(realpath -m "${1:?usage: ceph-up.sh DIR}")
MON_PORT=${MON_PORT:-46789}
RGW_PORT=${RGW_PORT:-47480}
STORE=${STORE:-memstore}
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mgr >/dev/null; then
  echo "ceph-up: installing ceph-mon ceph-mgr ceph-osd radosgw ceph-common (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >/dev/null || true
  apt-get install -y --no-install-recommends ceph-mon ceph-mgr ceph-osd radosgw ceph-common >/dev/null
fi
rm -rf "$D" && mkdir -p "$D"/{run,log,mon.a,mgr.x,rgw}
export CEPH_CONF=$D/ceph.conf
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$CEPH_CONF" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
crash dir = $D/crash
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
mon data = $D/mon.\$id
mgr data = $D/mgr.\$id
osd data = $D/osd.\$id
osd objectstore = $STORE
memstore device bytes = 4294967296
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 939524096
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon data avail crit = 0
mon data avail warn = 0
paxos propose interval = 0.1
client mount timeout = 30
[client.rgw.a]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
CONF
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap"
ceph-mon -i a
[ "${MGR:-1}" = 0 ] || ceph-mgr -i x
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
ID=$(ceph osd new "$OSD_UUID")
mkdir -p "$D/osd.$ID"
ceph-osd -i "$ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$D/log/mkfs.log"
ceph-osd -i "$ID" 2>>"$D/log/osd-stderr.log"
wait_for() { for _ in $(seq 120); do "$@" && return; sleep 0.5; done; echo "ceph-up: timed out: $*" >&2; exit 1; }
wait_for sh -c 'ceph osd stat -f json | grep -q "\"num_up_osds\":1"'
radosgw -n client.rgw.a
radosgw-admin user create --uid=test --display-name=test --access-key=test --secret-key=test >/dev/null
wait_for curl -fso /dev/null "http://127.0.0.1:$RGW_PORT/"
echo "http://127.0.0.1:$RGW_PORT"
