#!/usr/bin/env bash
# Benchmarks/tar-cuts.sh - the ten-version tar series (corpus/tar-series.py over swift-nio's git
# HEAD, as compare.sh builds it): repository bytes after each version for Cairn with
# --stream-format raw (plain FastCDC) and tar (spec §13.4), restic and borg (when installed),
# each version on stdin under the same name. Sizes are the sum of the repository's file sizes
# (folders not counted), so the per-version column is exactly the bytes that version added.
#
#   Benchmarks/tar-cuts.sh      CAIRN=path/to/cairn (default: .build/release/cairn, else debug)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CAIRN=${CAIRN:-$ROOT/.build/release/cairn}
[ -x "$CAIRN" ] || CAIRN=$ROOT/.build/debug/cairn
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-tarcuts.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/src"
git -C /opt/swift-packages/apple/swift-nio.git archive HEAD | tar -x -C "$WORK/src"
python3 "$ROOT/Benchmarks/corpus/tar-series.py" "$WORK/src" "$WORK/tars" 10 >/dev/null
export CAIRN_PASSWORD=pw RESTIC_PASSWORD=pw BORG_PASSPHRASE=pw BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
tools=(raw tar)
command -v restic >/dev/null && tools+=(restic)
command -v borg >/dev/null && tools+=(borg)
for t in "${tools[@]}"; do
  case $t in
    raw|tar) "$CAIRN" -r "$WORK/$t" -q init >/dev/null ;;
    restic) restic -r "$WORK/$t" init --repository-version 2 -q >/dev/null ;;
    # borg's defaults: repokey-blake2 encryption, lz4, buzhash chunks of about 2 MiB.
    borg) borg init -e repokey-blake2 "$WORK/$t" >/dev/null 2>&1 ;;
  esac
done
declare -A prev
printf '| version | stream bytes |'; for t in "${tools[@]}"; do printf ' %s added |' "$t"; done
printf '\n|---|---:|'; for t in "${tools[@]}"; do printf -- '---:|'; done; echo
for f in "$WORK"/tars/v*.tar; do
  v=$(basename "$f" .tar)
  printf '| %s | %d |' "$v" "$(stat -c %s "$f")"
  for t in "${tools[@]}"; do
    case $t in
      raw|tar) "$CAIRN" -r "$WORK/$t" -q --no-cache backup --stdin --stdin-filename project.tar --stream-format "$t" < "$f" ;;
      restic) restic -r "$WORK/$t" backup -q --stdin --stdin-filename project.tar < "$f" ;;
      borg) borg create "$WORK/$t::$v" - --stdin-name project.tar < "$f" ;;
    esac
    s=$(bytes "$WORK/$t"); printf ' %d |' $((s - ${prev[$t]:-0})); prev[$t]=$s
  done
  echo
done
printf '| **final repository** | %d |' "$(cat "$WORK"/tars/v*.tar | wc -c)"
for t in "${tools[@]}"; do printf ' **%d** |' "${prev[$t]}"; done; echo
echo
if [ -n "${prev[restic]:-}" ]; then
  printf 'cairn tar-aware / restic = %.2f; cairn plain / restic = %.2f' \
    "$(echo "${prev[tar]} / ${prev[restic]}" | bc -l)" "$(echo "${prev[raw]} / ${prev[restic]}" | bc -l)"
  [ -n "${prev[borg]:-}" ] && printf '; cairn tar-aware / borg = %.2f' "$(echo "${prev[tar]} / ${prev[borg]}" | bc -l)"
  echo
fi
"$CAIRN" -r "$WORK/tar" --no-cache stats | sed -n 's/^Unique data: *\(.*\)/cairn tar-aware: \1/p'
"$CAIRN" -r "$WORK/tar" --no-cache check --read-data >/dev/null && echo "cairn tar-aware: check --read-data ok"
for f in "$WORK"/tars/v0[0-9].tar; do :; done
"$CAIRN" -r "$WORK/tar" --no-cache dump latest project.tar | cmp - "$f" && echo "cairn tar-aware: dump of the last version is byte-identical"
