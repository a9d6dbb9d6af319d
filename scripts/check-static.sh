#!/usr/bin/env bash
# Proves the release binary is self-contained (issue 15): copies `cairn` alone to a temporary
# folder and, with the Swift toolchain hidden (a private mount namespace with a tmpfs over the
# toolchain, an empty environment and no LD_LIBRARY_PATH), runs init, backup, restore and
# check --read-data against a local repository and compares the restored tree with the original.
# Prints the binary's size and what `ldd` still lists (only Debian system libraries may remain).
#
#   scripts/check-static.sh            builds `swift build -c release --product cairn` first
#   scripts/check-static.sh BINARY     checks an already built binary
#
# Needs root (or CAP_SYS_ADMIN) for `unshare -m` and the tmpfs mount, as CI has.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ge 1 ]; then
  bin="$1"
else
  start=$(date +%s)
  swift build -c release --product cairn 2>&1 | tail -n 1
  echo "release build: $(( $(date +%s) - start )) s"
  bin=.build/release/cairn
fi
[ -x "$bin" ] || { echo "check-static: no executable at $bin" >&2; exit 1; }

# The toolchain to hide: the folder above usr/bin/swift (e.g. /opt/swift). A toolchain
# installed under /usr itself cannot be hidden whole; then only its runtime folders are.
hide=()
if swiftc=$(command -v swiftc 2>/dev/null); then
  root=$(dirname "$(dirname "$(dirname "$(readlink -f "$swiftc")")")")
  if [ "$root" = / ] || [ "$root" = /usr ]; then
    for d in /usr/lib/swift /usr/lib/swift_static; do [ -d "$d" ] && hide+=("$d"); done
  else
    hide+=("$root")
  fi
fi
[ -d /opt/swift ] && [[ " ${hide[*]:-} " != *" /opt/swift "* ]] && hide+=(/opt/swift)

echo "== binary: $bin"
echo "size: $(stat -c %s "$bin") bytes ($(du -h "$bin" | cut -f1))"
echo "== ldd"
ldd "$bin" | tee /tmp/check-static-ldd.$$
if grep -Ei 'libswift|libFoundation|libdispatch|libBlocksRuntime|_FoundationICU|not found' /tmp/check-static-ldd.$$; then
  rm -f /tmp/check-static-ldd.$$
  echo "check-static: FAIL: the binary still needs the Swift runtime libraries above" >&2
  exit 1
fi
rm -f /tmp/check-static-ldd.$$

work=$(mktemp -d /tmp/cairn-static.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/cairn"
mkdir -p "$work/home" "$work/data/sub/deeper"
# A small tree: several chunks of random bytes, text, an empty file, a symlink, nested folders.
head -c 3000000 /dev/urandom > "$work/data/random.bin"
seq 1 20000 > "$work/data/sub/numbers.txt"
echo "hello from cairn" > "$work/data/sub/deeper/hello.txt"
: > "$work/data/empty"
ln -s sub/numbers.txt "$work/data/link"

cat > "$work/run.sh" <<'EOF'
set -eu
cd "$WORK"
for d in $HIDE; do
  if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "check-static: $d is still visible" >&2; exit 1; fi
done
if command -v swift >/dev/null 2>&1; then echo "check-static: swift is still on PATH" >&2; exit 1; fi
echo "== ldd with the toolchain hidden"
ldd ./cairn
if ldd ./cairn | grep -q 'not found'; then echo "check-static: FAIL: a library is missing" >&2; exit 1; fi
export CAIRN_REPOSITORY="$WORK/repo"
printf 'static check password\n' > "$WORK/password"
step() { echo "== cairn $*"; ./cairn "$@" || { echo "check-static: FAIL: cairn $* exited $?" >&2; exit 1; }; }
step --version
step init --password-file "$WORK/password"
step backup --password-file "$WORK/password" "$WORK/data"
step restore --password-file "$WORK/password" latest --target "$WORK/restored"
step check --password-file "$WORK/password" --read-data
diff -r --no-dereference "$WORK/data" "$WORK/restored$WORK/data" || { echo "check-static: FAIL: the restored tree differs" >&2; exit 1; }
echo "restored tree is identical to the original"
EOF

if ! command -v unshare >/dev/null 2>&1; then
  echo "check-static: FAIL: unshare (util-linux) is not installed; it hides the toolchain" >&2
  exit 1
fi
if ! unshare -m true 2>/dev/null; then
  echo "check-static: FAIL: cannot create a mount namespace (unshare -m); run as root, as CI does" >&2
  exit 1
fi
echo "== hiding: ${hide[*]:-nothing}"
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= HOME="$work/home" WORK="$work" HIDE="${hide[*]:-}" \
  unshare -m sh -c 'for d in $HIDE; do mount -t tmpfs tmpfs "$d" || exit 1; done; exec sh "$WORK/run.sh"'
echo "check-static: OK"
