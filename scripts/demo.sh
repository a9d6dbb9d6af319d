#!/usr/bin/env bash
# Installs what Cairn needs, builds it, and runs its main job on a local example:
# init a repository in ./example/repo, back up ./Sources twice (the second run reads nothing),
# restore the latest snapshot, compare it with the original, and verify every byte.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product cairn 2>&1 | tail -n 1
CAIRN=.build/release/cairn
export CAIRN_REPOSITORY="${CAIRN_REPOSITORY:-$PWD/example/repo}"
export CAIRN_PASSWORD="${CAIRN_PASSWORD:-example password}"
rm -rf example && mkdir -p example
echo "== init";                $CAIRN init
echo "== backup Sources/";     $CAIRN backup Sources --tag example
echo "== backup again";        $CAIRN backup Sources --tag example
echo "== snapshots";           $CAIRN snapshots
echo "== restore latest";      $CAIRN restore latest --target example/restored --verify
diff -r Sources "example/restored$PWD/Sources" && echo "restored tree is identical to Sources/"
echo "== check --read-data";   $CAIRN check --read-data
echo "== stats";               $CAIRN stats
