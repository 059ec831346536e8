#!/usr/bin/env bash
# Installs the Debian packages the end-to-end suites drive when they are missing:
#   azure-cli (az), qemu-utils (qemu-img, qemu-io), libnbd-bin (nbdinfo, nbdcopy), nbdkit.
# Runs as root in CI; elsewhere it uses sudo when it can, and otherwise only says what is missing
# (the suites that need a missing tool skip with a message saying so).
set -euo pipefail

need=()
command -v az >/dev/null 2>&1 || need+=(azure-cli)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v nbdinfo >/dev/null 2>&1 || need+=(libnbd-bin)
command -v nbdkit >/dev/null 2>&1 || need+=(nbdkit)

if [ ${#need[@]} -eq 0 ]; then
  echo "e2e setup: azure-cli, qemu-utils, libnbd-bin and nbdkit are installed."
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "e2e setup: missing ${need[*]} and no apt-get here; install them to run every e2e suite." >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "e2e setup: missing ${need[*]}; run as root (or with sudo): apt-get install -y ${need[*]}" >&2
  exit 0
fi

echo "e2e setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${run[@]}" apt-get install -y --no-install-recommends "${need[@]}"; then
  "${run[@]}" apt-get update
  "${run[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi
