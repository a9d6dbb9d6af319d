#!/usr/bin/env bash
# Installs the Debian packages Cairn builds against (skips what is already there).
set -euo pipefail
need=()
for p in libzstd-dev libssl-dev libsqlite3-dev pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "Swift 6 is needed: put the toolchain's bin/ on PATH (see README)" >&2; exit 1; }
