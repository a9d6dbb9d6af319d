#!/usr/bin/env bash
# Installs the Debian packages Cairn builds against (skips what is already there).
#   scripts/deps.sh          what the build needs
#   scripts/deps.sh --test   also the real servers the tests run against (rclone for REST, sshd for SFTP, restic/curl/openssl for serve)
set -euo pipefail
pkgs=(libzstd-dev libssl-dev libsqlite3-dev pkg-config)
[ "${1:-}" = --test ] && pkgs+=(rclone openssh-server openssh-client restic curl openssl)
need=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
command -v swift >/dev/null || { echo "Swift 6 is needed: put the toolchain's bin/ on PATH (see README)" >&2; exit 1; }
