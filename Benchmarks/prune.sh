#!/usr/bin/env bash
# Benchmarks/prune.sh - cairn prune against restic prune on the same history.
#
# History: version 1 of a corpus of FILES incompressible files of FILE_MB MiB each; version 2
# rewrites 30 % of the files whole and a 16 MiB region in the middle of another 30 %. Both
# tools back up version 1, then version 2; the first snapshot is removed (cairn: its snapshot
# file, as `forget` does; restic: `restic forget`), leaving about 28 % of the pack bytes
# unused. Then each tool prunes with its defaults (--max-unused 5%). Records wall time, peak
# RSS, pack bytes before and after, and runs check --read-data / restic check --read-data
# afterwards. Writes Benchmarks/results/prune-DATE-COMMIT.md and prints it.
#
#   FILES=20 FILE_MB=64 (1.25 GiB version 1)   CAIRN=path/to/cairn (default: a release build)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${FILES:-20}
FILE_MB=${FILE_MB:-64}
log() { printf '[prune %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
if [ -z "${CAIRN:-}" ]; then
  log "building cairn (release)"
  (cd "$ROOT" && swift build -c release --product cairn >/dev/null)
  CAIRN="$ROOT/.build/release/cairn"
fi
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-prune.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
export XDG_CACHE_HOME="$WORK/cache"

packbytes() { du -sb --apparent-size "$1/data" | cut -f1; }
# timed LABEL CMD... : runs CMD, appends "wall_s rss_kib" to $WORK/LABEL.time
timed() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/$label.time" "$@" > "$WORK/$label.out" 2> "$WORK/$label.err" || {
    cat "$WORK/$label.err" >&2; return 1; }
}

log "version 1: $FILES files of $FILE_MB MiB"
mkdir -p "$WORK/src"
for i in $(seq 1 "$FILES"); do head -c $((FILE_MB << 20)) /dev/urandom > "$WORK/src/f$i"; done

version2() {
  local whole=$((FILES * 3 / 10)) part=$((FILES * 3 / 10))
  for i in $(seq 1 "$whole"); do head -c $((FILE_MB << 20)) /dev/urandom > "$WORK/src/f$i"; done
  for i in $(seq $((whole + 1)) $((whole + part))); do
    head -c $((16 << 20)) /dev/urandom | dd of="$WORK/src/f$i" bs=1M seek=$((FILE_MB / 2 - 8)) conv=notrunc status=none
  done
}

log "cairn: init, backup v1"
C="$WORK/cairn-repo"
"$CAIRN" -r "$C" init -q
timed cairn-b1 "$CAIRN" -r "$C" -q backup "$WORK/src"
first=$(ls "$C/snapshots")
log "restic: init, backup v1"
R="$WORK/restic-repo"
restic -r "$R" init >/dev/null
timed restic-b1 restic -r "$R" -q backup "$WORK/src"
rfirst=$(restic -r "$R" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

log "version 2"
version2
timed cairn-b2 "$CAIRN" -r "$C" -q backup "$WORK/src"
timed restic-b2 restic -r "$R" -q backup "$WORK/src"

rm "$C/snapshots/$first"
restic -r "$R" forget "$rfirst" >/dev/null

cb=$(packbytes "$C"); rb=$(packbytes "$R")
log "cairn: prune (pack bytes before: $cb)"
"$CAIRN" -r "$C" prune --dry-run > "$WORK/cairn-dry.out"
sync; timed cairn-prune "$CAIRN" -r "$C" prune
ca=$(packbytes "$C")
log "restic: prune (pack bytes before: $rb)"
sync; timed restic-prune restic -r "$R" prune
ra=$(packbytes "$R")

log "checking both"
"$CAIRN" -r "$C" -q check --read-data > "$WORK/cairn-check.out"
restic -r "$R" check --read-data > "$WORK/restic-check.out" 2>&1

read -r ct cm < "$WORK/cairn-prune.time"; read -r rt rm_ < "$WORK/restic-prune.time"
read -r cb1 _ < "$WORK/cairn-b1.time"; read -r rb1 _ < "$WORK/restic-b1.time"
mb() { python3 -c "print(f'{$1/1e6:.1f}')"; }
pct() { python3 -c "print(f'{100*($1-$2)/$1:.1f}')"; }
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
out="$ROOT/Benchmarks/results/prune-$(date -u +%Y-%m-%d)-$commit.md"
mkdir -p "$ROOT/Benchmarks/results"
{
  echo "# prune: cairn vs restic $(restic version | cut -d' ' -f2)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $commit, $(nproc) cores. History: $FILES × $FILE_MB MiB incompressible files;"
  echo "version 2 rewrites 30 % of them and 16 MiB in each of another 30 %; the first snapshot removed."
  echo "Both prune with their defaults (max unused 5 %). Times are wall clock, one run, page cache warm."
  echo
  echo "| | pack bytes before (MB) | after (MB) | reclaimed | prune time (s) | peak RSS (MiB) |"
  echo "|---|---|---|---|---|---|"
  echo "| cairn | $(mb "$cb") | $(mb "$ca") | $(mb $((cb - ca))) MB ($(pct "$cb" "$ca") %) | $ct | $((cm / 1024)) |"
  echo "| restic | $(mb "$rb") | $(mb "$ra") | $(mb $((rb - ra))) MB ($(pct "$rb" "$ra") %) | $rt | $((rm_ / 1024)) |"
  echo
  echo "First backup for scale: cairn $cb1 s, restic $rb1 s. Afterwards \`cairn check --read-data\`: $(tail -1 "$WORK/cairn-check.out");"
  echo "\`restic check --read-data\`: $(grep -c 'no errors were found' "$WORK/restic-check.out" | sed 's/1/no errors were found/;s/^0$/ERRORS/')."
  echo
  echo "cairn's summary:"
  echo
  echo '```'
  cat "$WORK/cairn-prune.out"
  echo '```'
} > "$out"
cat "$out"
