#!/usr/bin/env bash
# Installs what Cairn needs and runs the whole test suite (unit, format vectors, engine, CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
# The CLI tests run the built binary, so build every product first.
swift build --build-tests
swift test --skip-build 2>&1 | tee .build/test-output.txt | grep -vE '^(\[|Test Case|Test Suite)' || true
# swift test's status is lost in the pipe: read the result line.
grep -qE 'Test run with [0-9]+ tests? .* passed' .build/test-output.txt && ! grep -q '✘' .build/test-output.txt
