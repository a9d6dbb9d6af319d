#!/usr/bin/env bash
# incusd.sh - a real Incus daemon for Tests/CairnTests/IncusRealTests.swift (and for trying
# `cairn backup incus` by hand). Installs nothing: scripts/deps.sh --test installs incus-base
# (Debian 12: from bookworm-backports) and busybox-static.
#
#   scripts/test-stores/incusd.sh        start incusd if it does not answer, make sure there is a
#                                        storage pool and a default profile with a root disk on it,
#                                        and an image of busybox under the alias below
#
# What it sets up, only where missing (an Incus that is already set up is left as it is):
#   incusd        /usr/libexec/incus/incusd --group root, started in its own session (no systemd
#                 needed), log /var/log/incus/incusd.log; it is left running
#   pool          `default`, driver dir (no network is made: the containers need none)
#   profile       `default` gets a root disk on that pool when it has none
#   image         alias $CAIRN_INCUS_IMAGE (cairn-test-busybox): Debian's static /bin/busybox,
#                 its applets linked, and a metadata.yaml
#
# Exit 0 when an instance can be made from the image; non-zero, with the reason on stderr, if not.
# Several callers at once are serialized by a lock file.
set -Eeuo pipefail
IMAGE=${CAIRN_INCUS_IMAGE:-cairn-test-busybox}
INCUSD=${INCUSD:-/usr/libexec/incus/incusd}
LOCK=${CAIRN_INCUS_LOCK:-/tmp/cairn-incusd.lock}
log() { printf '[incusd.sh] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v incus >/dev/null || die "no incus client: scripts/deps.sh --test installs incus-base (Debian 12: from bookworm-backports)"
[ -x "$INCUSD" ] || die "no $INCUSD: scripts/deps.sh --test installs incus-base"
[ "$(id -u)" -eq 0 ] || die "incusd needs root"

exec 9>"$LOCK"
flock -w 600 9 || die "another incusd.sh held $LOCK for 10 minutes"

if ! incus info >/dev/null 2>&1; then
  mkdir -p /var/log/incus
  if ! pgrep -x incusd >/dev/null; then
    log "starting incusd (log /var/log/incus/incusd.log)"
    # The daemon outlives this script: it must hold none of its descriptors (the lock on fd 9
    # would block every later caller; a caller's pipe or socket would never see end-of-file).
    (
      for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
      done
      # From /, as a daemon should: the tools it runs (rsync for snapshots) inherit its working
      # folder, and a checkout that started it may be deleted while it runs.
      cd /
      exec setsid "$INCUSD" --group root --logfile /var/log/incus/incusd.log >> /var/log/incus/incusd.out 2>&1 < /dev/null
    ) &
  else
    log "an incusd runs but does not answer yet: waiting for it"
  fi
  # A busy machine may take a while: up to 5 minutes.
  "$INCUSD" waitready --timeout=300 || { tail -n 20 /var/log/incus/incusd.log >&2 || true; die "incusd did not get ready"; }
fi

if ! incus storage show default >/dev/null 2>&1; then
  log "creating storage pool default (dir)"
  incus storage create default dir >/dev/null
fi
if ! incus profile device get default root pool >/dev/null 2>&1; then
  log "adding a root disk on pool default to the default profile"
  incus profile device add default root disk path=/ pool=default >/dev/null
fi

if ! incus image alias list --format csv | cut -d, -f1 | grep -qx "$IMAGE"; then
  busybox=$(command -v busybox || true)
  [ -n "$busybox" ] || die "no busybox: scripts/deps.sh --test installs busybox-static"
  # The image's only program: it must be static (Debian's busybox-static is).
  if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: install busybox-static"; fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  root="$work/rootfs"
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,srv,run,var,mnt}
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  ln -sf ../bin/busybox "$root/sbin/init"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  cat > "$work/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: busybox for the Cairn tests
  os: busybox
EOF
  tar -C "$work" -cf "$work/image.tar" metadata.yaml rootfs
  log "importing the busybox image as $IMAGE"
  incus image import "$work/image.tar" --alias "$IMAGE" >/dev/null
fi
log "ready: incusd answers, pool default, image $IMAGE"
