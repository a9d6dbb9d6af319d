#!/usr/bin/env bash
# Benchmarks/tar-cuts.sh - the ten-version tar series (corpus/tar-series.py over swift-nio's git
# HEAD, as compare.sh builds it), Cairn only: repository size after each version with
# --stream-format raw (plain FastCDC) and tar (spec §13.4), and restic's when installed.
#
#   Benchmarks/tar-cuts.sh      CAIRN=path/to/cairn (default: .build/debug/cairn)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CAIRN=${CAIRN:-$ROOT/.build/debug/cairn}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-tarcuts.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/src"
git -C /opt/swift-packages/apple/swift-nio.git archive HEAD | tar -x -C "$WORK/src"
python3 "$ROOT/Benchmarks/corpus/tar-series.py" "$WORK/src" "$WORK/tars" 10 >/dev/null
export CAIRN_PASSWORD=pw RESTIC_PASSWORD=pw
size() { du -sb "$1" | cut -f1; }
printf '| version | raw: added | tar: added |\n|---|---:|---:|\n'
"$CAIRN" -r "$WORK/raw" -q init >/dev/null; "$CAIRN" -r "$WORK/tar" -q init >/dev/null
praw=0 ptar=0
for f in "$WORK"/tars/v*.tar; do
  "$CAIRN" -r "$WORK/raw" -q --no-cache backup --stdin --stdin-filename project.tar --stream-format raw < "$f"
  "$CAIRN" -r "$WORK/tar" -q --no-cache backup --stdin --stdin-filename project.tar --stream-format tar < "$f"
  r=$(size "$WORK/raw") t=$(size "$WORK/tar")
  printf '| %s | %d | %d |\n' "$(basename "$f")" $((r - praw)) $((t - ptar)); praw=$r ptar=$t
done
printf '\nfinal repository: cairn raw %d, cairn tar %d' "$praw" "$ptar"
if command -v restic >/dev/null; then
  restic -r "$WORK/restic" init --repository-version 2 -q >/dev/null
  for f in "$WORK"/tars/v*.tar; do restic -r "$WORK/restic" backup -q --stdin --stdin-filename project.tar < "$f"; done
  printf ', restic %d (tar/restic %.2f)' "$(size "$WORK/restic")" "$(echo "$ptar / $(size "$WORK/restic")" | bc -l)"
fi
echo
