#!/usr/bin/env bash
# Installs the Debian packages Cairn builds against (skips what is already there).
#   scripts/deps.sh          what the build needs
#   scripts/deps.sh --test   also the real servers the tests run against (rclone for REST, sshd for SFTP, restic/curl/openssl for serve,
#                            bsdtar (libarchive-tools) for the tar chunking tests, gzip/zstd/xz/bzip2 for --decompress,
#                            podman, docker.io and busybox-static (the helper image) for the source tests,
#                            fuse3 (fusermount3) for the mount test,
#                            incus-base (incusd and the incus client; on Debian 12 from bookworm-backports) for the Incus tests,
#                            Python's moto for S3)
set -euo pipefail
pkgs=(libzstd-dev libssl-dev libsqlite3-dev zlib1g-dev liblzma-dev libfuse3-dev pkg-config)
[ "${1:-}" = --test ] && pkgs+=(rclone openssh-server openssh-client restic curl openssl libarchive-tools gzip zstd xz-utils bzip2 podman docker.io busybox-static fuse3)
need=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# Incus tests (scripts/test-stores/incusd.sh starts the daemon): incus-base, the daemon and client without
# the virtual-machine parts. Debian 12 has it in bookworm-backports only; later releases in main.
if [ "${1:-}" = --test ] && ! dpkg -s incus-base >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  target=()
  if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    fi
    target=(-t bookworm-backports)
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${target[@]}" incus-base
fi
# S3 tests: moto_server (pinned) under the python3 first on PATH, wrapped by scripts/test-stores/moto_sigv4.py.
MOTO_VERSION=5.2.1
if [ "${1:-}" = --test ] && ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-pip
  fi
  # Debian's python3 refuses pip installs outside a venv (PEP 668) unless told otherwise.
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q "moto[server]==$MOTO_VERSION"
fi
command -v swift >/dev/null || { echo "Swift 6 is needed: put the toolchain's bin/ on PATH (see README)" >&2; exit 1; }
