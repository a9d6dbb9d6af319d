#!/usr/bin/env bash
# The long fault-injection run: many seeded cases of FaultInjectionTests (faults in every file
# type, checked, repaired and restored) and of KillTests (kill -9 during backup, restore,
# repair and check), split over parallel processes of the already built test binary.
#
#   scripts/fault-injection.sh [FAULT_CASES] [KILL_CASES] [JOBS]   default 10000 100 (nproc)
#
# CI runs the same suites with 300 and 24 cases (scripts/test.sh). Build first (scripts/test.sh
# or `swift build --build-tests`); set CAIRN_TEST_BINARY to use another build (e.g. release
# built with -Xswiftc -enable-testing). Logs go to .build/fault-injection/.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-10000}
kills=${2:-100}
jobs=${3:-$(nproc)}
bin=${CAIRN_TEST_BINARY:-.build/debug/CairnPackageTests.xctest}
[ -x "$bin" ] || { echo "no test binary at $bin: run swift build --build-tests first" >&2; exit 2; }
logs=.build/fault-injection
mkdir -p "$logs"
rm -f "$logs"/*.log
per=$(( (cases + jobs - 1) / jobs ))
start=$(date +%s)
pids=()
for j in $(seq 0 $((jobs - 1))); do
  first=$(( 1 + j * per ))
  n=$(( j == jobs - 1 ? cases - j * per : per ))
  [ "$n" -gt 0 ] || continue
  CAIRN_FAULT_SEED=$first CAIRN_FAULT_CASES=$n "$bin" --testing-library swift-testing --filter FaultInjectionTests \
    > "$logs/faults-$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
if [ "$kills" -gt 0 ]; then
  CAIRN_KILL_CASES=$kills "$bin" --testing-library swift-testing --filter KillTests > "$logs/kill.log" 2>&1 || status=1
fi
end=$(date +%s)
grep -h "fault injection:" "$logs"/faults-*.log || true
grep -h "kill -9:" "$logs/kill.log" 2>/dev/null || true
fails=$(cat "$logs"/*.log | grep -c "recorded an issue" || true)
echo "fault injection: $cases fault cases in $jobs jobs + $kills kill cases, $((end - start)) s, $fails failed expectations"
[ "$status" = 0 ] && [ "$fails" = 0 ]
