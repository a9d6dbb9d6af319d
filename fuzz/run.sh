#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/targets/ against the project's own sources and runs each
# for a while.
#
#   fuzz/run.sh [seconds-per-target] [target ...]   default 60 s, every target
#   fuzz/run.sh --build-only [target ...]           just build fuzz/out/fuzz-<target>
#   fuzz/run.sh --seeds [target ...]                rewrite fuzz/corpus/<target>/seed-* from the seeds
#                                                   each target's source defines, and vector-* from
#                                                   format-spec/vectors (regress-* files are kept)
#
# Needs: a Swift toolchain (swiftc on PATH or at /opt/swift; its clang runtime provides libFuzzer
# and AddressSanitizer) and Debian's libzstd-dev, zlib1g-dev, liblzma-dev and libssl-dev. It does not use SwiftPM: each
# Cairn module a target imports is compiled with swiftc into a static library with coverage and
# ASan instrumentation (dependencies found from the modules' `import Cairn...` lines), then each
# target is linked with libFuzzer. Outputs go to fuzz/out/ (git-ignored); inputs the fuzzer finds
# go to fuzz/corpus-work/<target>/ (git-ignored); crashes to fuzz/out/crashes/<target>/.
#
# Environment: SWIFTC (compiler), FUZZ_OPT (default -O), FUZZ_JOBS (parallel libFuzzer jobs, default 1),
# FUZZ_ARGS (extra libFuzzer flags), CAIRN_FUZZ_STRICT=1 (also check documented rules the
# decoders do not enforce; see the targets).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
src="$root/Sources"
out="$here/out"
export SWIFT_BACKTRACE=enable=no

mode=run
seconds=60
case "${1:-}" in
    --build-only) mode=build; shift ;;
    --seeds) mode=seeds; shift ;;
    ''|*[!0-9]*) ;;
    *) seconds=$1; shift ;;
esac

swiftc=${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}
[ -x "$swiftc" ] || { echo "run.sh: no swiftc (set SWIFTC)" >&2; exit 2; }
opt=${FUZZ_OPT:--O}
common=(-swift-version 6 -parse-as-library $opt -g -sanitize=fuzzer,address)
# The toolchain's lld links quietly (gold warns about every ASan helper symbol).
ld=(); [ -x "$(dirname "$swiftc")/ld.lld" ] && ld=(-use-ld=lld)

# Every C module map under Sources/ (CCrypto, CZstd, ...) is visible to every module.
cmods=()
for m in "$src"/*/module.modulemap; do cmods+=(-I "$(dirname "$m")"); done

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$here"/targets/*.swift; do
        t=$(basename "$f" .swift)
        [ "$t" = Common ] || targets+=("$t")
    done
fi

mkdir -p "$out/modules" "$out/lib" "$out/logs"

# Cairn modules a set of Swift files imports (Sources/<name>/ must exist).
cairn_imports() {
    sed -nE 's/^[[:space:]]*(@_exported[[:space:]]+|@testable[[:space:]]+)?((public|package|internal|fileprivate|private)[[:space:]]+)?import[[:space:]]+(Cairn[A-Za-z0-9_]*).*/\4/p' "$@" |
        sort -u | while read -r m; do [ -d "$src/$m" ] && echo "$m"; done
}

declare -A built=()
link_libs=()   # static libraries in dependency order (dependents first, for the linker)

# Builds Sources/<module> (after the modules it imports) into out/lib/lib<module>.a.
build_module() {
    local m=$1
    case "${built[$m]:-}" in
        done) return 0 ;;
        building) echo "run.sh: import cycle at $m" >&2; exit 2 ;;
    esac
    built[$m]=building
    local files=("$src/$m"/*.swift) deps=() dep
    for dep in $(cairn_imports "${files[@]}"); do
        [ "$dep" = "$m" ] && continue
        build_module "$dep"
        deps+=("$out/lib/lib$dep.a")
    done
    local lib="$out/lib/lib$m.a"
    if [ ! -f "$lib" ] || [ "$(newest "$lib" "${files[@]}" "${deps[@]}")" != "$lib" ]; then
        echo "  module $m"
        "$swiftc" "${common[@]}" -wmo -module-name "$m" "${cmods[@]}" -I "$out/modules" \
            -emit-module -emit-module-path "$out/modules/$m.swiftmodule" \
            -emit-library -static -o "$lib.tmp" "${files[@]}"
        mv "$lib.tmp" "$lib"
    fi
    built[$m]=done
    link_libs=("$lib" "${link_libs[@]}")
}

# The most recently modified of the given files.
newest() { ls -t "$@" 2>/dev/null | head -1; }

build_target() {
    local t=$1 file="$here/targets/$1.swift"
    [ -f "$file" ] || { echo "run.sh: no target $file" >&2; exit 2; }
    link_libs=()
    built=()
    local dep
    for dep in $(cairn_imports "$file" "$here/targets/Common.swift"); do build_module "$dep"; done
    local bin="$out/fuzz-$t"
    if [ ! -x "$bin" ] || [ "$(newest "$bin" "$file" "$here/targets/Common.swift" "${link_libs[@]}")" != "$bin" ]; then
        echo "  target fuzz-$t"
        "$swiftc" "${common[@]}" -module-name "fuzz_$t" "${cmods[@]}" -I "$out/modules" \
            "$file" "$here/targets/Common.swift" "${link_libs[@]}" "${ld[@]}" -lzstd -lz -llzma -lcrypto -o "$bin.tmp"
        mv "$bin.tmp" "$bin"
    fi
}

echo "== building (${opt}, sanitizers: fuzzer, address) with $swiftc"
for t in "${targets[@]}"; do build_target "$t"; done
[ "$mode" = build ] && exit 0

if [ "$mode" = seeds ]; then
    for t in "${targets[@]}"; do
        # Only the generated seeds: regress-* files (minimised crashes) stay.
        mkdir -p "$here/corpus/$t"; rm -f "$here/corpus/$t"/seed-* "$here/corpus/$t"/vector-*
        CAIRN_FUZZ_WRITE_SEEDS="$here/corpus/$t" CAIRN_FUZZ_VECTORS="$root/format-spec/vectors" "$out/fuzz-$t"
    done
    exit 0
fi

status=0
summary=()
for t in "${targets[@]}"; do
    work="$here/corpus-work/$t"
    crashes="$out/crashes/$t"
    log="$out/logs/$t.log"
    mkdir -p "$work" "$crashes" "$here/corpus/$t"
    echo "== fuzz-$t for ${seconds}s (log: ${log#$root/})"
    jobs=()
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    set +e
    # Run from out/logs/: with -jobs libFuzzer writes fuzz-N.log files into the current folder.
    # -rss_limit_mb: the decoders cap what they allocate by the input's size; 2 GiB is generous.
    (cd "$out/logs" && exec "$out/fuzz-$t" "$work" "$here/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "${jobs[@]}" ${FUZZ_ARGS:-}) >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$log" | tail -1)
    speed=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' "$log" | tail -1)
    corpus=$(find "$work" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        line="fuzz-$t: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), coverage ${cov:-?}, corpus $corpus: no crash"
    else
        status=1
        artifact=$(sed -nE 's/.*Test unit written to ([^ ]+).*/\1/p' "$log" | tail -1)
        line="fuzz-$t: CRASH after ${runs:-?} executions (exit $rc), input: ${artifact:-see log}"
        echo "---- last lines of $log"
        grep -avE '^(#[0-9]+|INFO:|MERGE)' "$log" | tail -40 || true
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
