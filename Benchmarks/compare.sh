#!/usr/bin/env bash
# Benchmarks/compare.sh — cairn, restic and borg side by side on the same corpus, one run, one table.
#
#   Benchmarks/compare.sh [--quick] [--tools cairn,restic,borg] [--warm] [--no-verify] [--keep]
#
# Installs what is missing (restic, borgbackup, time; Cairn's own build dependencies via
# scripts/deps.sh), builds cairn release from the package this script lives in, builds (or
# reuses) a deterministic corpus under ${CORPUS_DIR:-/var/tmp/cairn-corpus}, runs every step for
# every tool, each tool in its own fresh repository per data set, and prints one Markdown table
# plus the targets (cairn relative to restic). The report is also written to
# Benchmarks/results/compare-<date>.md (-quick and -TOOLS suffixes for --quick and other --tools).
#
# Corpus (built once, from files on this machine; the helpers are in Benchmarks/corpus/):
#   tree    ≈1 GB real tree: a copy of /opt/swift/usr/lib/swift, else the largest of /usr/lib and
#           /usr/share, trimmed to 1 GiB (make-tree.py)
#   tars    10 versions of a source tree as tar streams (tar-series.py) of swift-nio's git HEAD,
#           else of /usr/include
#   image   400 MiB disk image from /usr/lib/x86_64-linux-gnu and /usr/share files with free-space
#           zero runs, and a copy with 0.5 % of its 4 KiB blocks rewritten (make-image.py)
#   random  1 GiB of AES-256-CTR keystream (openssl, fixed password, no salt)
# --quick: 200 MB tree, 3 tars, 100 MiB image, 256 MiB random.
#
# Steps: first backup of the tree, unchanged re-backup, restore (timed; then compared with
# diff -r --no-dereference, untimed, unless --no-verify), check --read-data (borg: check
# --verify-data), random data on stdin, disk image v1 then v2 on stdin under the same name,
# tar versions in order on stdin under the same name. Before each timed step the page cache is
# dropped (sync; echo 3 > /proc/sys/vm/drop_caches); where that is not allowed the step's input
# is read once (cat > /dev/null) instead, so every tool starts warm (--warm: always do that,
# e.g. to leave other users' page cache alone). The report says which.
#
# Environment: CORPUS_DIR (corpus cache), COMPARE_TMPDIR (where the repositories go; default
# the corpus folder's parent, so both are on the same disk).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
QUICK=0 TOOLS=cairn,restic,borg VERIFY=1 KEEP=0 WARM=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --tools) TOOLS=${2:?--tools needs a list}; shift ;;
    --tools=*) TOOLS=${1#--tools=} ;;
    --no-verify) VERIFY=0 ;;
    --warm) WARM=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -r -a TOOL_LIST <<< "$TOOLS"
for t in "${TOOL_LIST[@]}"; do
  case $t in cairn|restic|borg) ;; *) echo "compare.sh: unknown tool '$t' (cairn, restic, borg)" >&2; exit 2 ;; esac
done
has_tool() { [[ ",$TOOLS," == *",$1,"* ]]; }
say() { printf '%s\n' "$*" >&2; }

if [ "$QUICK" = 1 ]; then
  TREE_LIMIT=200000000 NTARS=3 IMG_MIB=100 RAND_MIB=256
else
  TREE_LIMIT=1073741824 NTARS=10 IMG_MIB=400 RAND_MIB=1024
fi
CORPUS_DIR=${CORPUS_DIR:-/var/tmp/cairn-corpus}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# ---------------------------------------------------------------- install and build
need=()
has_tool restic && ! command -v restic >/dev/null && need+=(restic)
has_tool borg && ! command -v borg >/dev/null && need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
command -v openssl >/dev/null || need+=(openssl)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  say "== installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
CAIRN=""
if has_tool cairn; then
  "$ROOT/scripts/deps.sh"
  say "== building cairn (release) in $ROOT"
  (cd "$ROOT" && swift build -c release --product cairn 2>&1 | tail -n 1) >&2
  CAIRN="$(cd "$ROOT" && swift build -c release --show-bin-path)/cairn"
  [ -x "$CAIRN" ] || { say "compare.sh: no cairn binary at $CAIRN"; exit 1; }
fi

# ---------------------------------------------------------------- corpus
mkdir -p "$CORPUS_DIR"
CORPUS_DIR=$(cd "$CORPUS_DIR" && pwd)
done_mark() { echo "$CORPUS_DIR/.done-$1"; }

TREE="$CORPUS_DIR/tree-$TREE_LIMIT"
if [ ! -e "$(done_mark "tree-$TREE_LIMIT")" ]; then
  if [ -d /opt/swift/usr/lib/swift ]; then src=/opt/swift/usr/lib/swift
  else src=$(du -sb /usr/lib /usr/share 2>/dev/null | sort -rn | head -n 1 | cut -f2); fi
  say "== corpus: tree from $src (up to $TREE_LIMIT bytes)"
  rm -rf "$TREE"
  python3 "$HERE/corpus/make-tree.py" "$src" "$TREE" "$TREE_LIMIT" >&2
  echo "$src" > "$TREE.source"
  touch "$(done_mark "tree-$TREE_LIMIT")"
fi

TARS="$CORPUS_DIR/tars"     # always 10 versions; --quick uses the first 3 (the same files)
if [ ! -e "$(done_mark tars)" ]; then
  rm -rf "$TARS" "$CORPUS_DIR/tar-source"
  if [ -d /opt/swift-packages/apple/swift-nio.git ]; then
    mkdir -p "$CORPUS_DIR/tar-source"
    git -C /opt/swift-packages/apple/swift-nio.git archive HEAD | tar -x -C "$CORPUS_DIR/tar-source"
    src="$CORPUS_DIR/tar-source"; echo "swift-nio (git archive HEAD)" > "$TARS.source"
  else
    src=/usr/include; echo "/usr/include" > "$TARS.source"
  fi
  say "== corpus: tar series from $src"
  python3 "$HERE/corpus/tar-series.py" "$src" "$TARS" 10 >&2
  rm -rf "$CORPUS_DIR/tar-source"
  touch "$(done_mark tars)"
fi

IMG="$CORPUS_DIR/image-${IMG_MIB}MiB.img" IMG2="$CORPUS_DIR/image-${IMG_MIB}MiB-v2.img"
if [ ! -e "$(done_mark "image-$IMG_MIB")" ]; then
  say "== corpus: ${IMG_MIB} MiB disk image"
  img_src=(); for d in /usr/lib/x86_64-linux-gnu /usr/share; do [ -d "$d" ] && img_src+=("$d"); done
  python3 "$HERE/corpus/make-image.py" "$IMG" "$IMG2" "$IMG_MIB" "${img_src[@]}" >&2
  touch "$(done_mark "image-$IMG_MIB")"
fi

RAND="$CORPUS_DIR/random-${RAND_MIB}MiB.bin"
if [ ! -e "$(done_mark "random-$RAND_MIB")" ]; then
  say "== corpus: ${RAND_MIB} MiB random"
  { openssl enc -aes-256-ctr -pass pass:cairn -nosalt -pbkdf2 < /dev/zero 2>/dev/null || true; } \
    | head -c $((RAND_MIB * 1048576)) > "$RAND"
  [ "$(stat -c %s "$RAND")" -eq $((RAND_MIB * 1048576)) ] || { say "compare.sh: openssl failed"; exit 1; }
  touch "$(done_mark "random-$RAND_MIB")"
fi

tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
tree_files=$(find "$TREE" -type f | wc -l)
TAR_FILES=(); for ((i = 0; i < NTARS; i++)); do TAR_FILES+=("$TARS/$(printf 'v%02d.tar' "$i")"); done
tars_bytes=$(cat "${TAR_FILES[@]}" | wc -c)

# ---------------------------------------------------------------- work area and environment
TMPBASE=${COMPARE_TMPDIR:-$(dirname "$CORPUS_DIR")}
WORK=$(mktemp -d "$TMPBASE/cairn-compare.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/logs" "$WORK/config"
for t in "${TOOL_LIST[@]}"; do mkdir -p "$WORK/cache/$t"; done
RESULTS="$WORK/results.tsv" META="$WORK/meta.tsv"
: > "$RESULTS"

unset CAIRN_REPOSITORY CAIRN_PASSWORD_FILE RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE RESTIC_PASSWORD_FILE \
      RESTIC_PASSWORD_COMMAND BORG_REPO BORG_PASSCOMMAND BORG_PASSPHRASE_FD BORG_BASE_DIR BORG_CACHE_DIR \
      BORG_CONFIG_DIR BORG_KEYS_DIR BORG_SECURITY_DIR
export CAIRN_PASSWORD=cairn-compare RESTIC_PASSWORD=cairn-compare BORG_PASSPHRASE=cairn-compare
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export XDG_CONFIG_HOME="$WORK/config"   # borg's security folder; XDG_CACHE_HOME is set per tool

if [ "$WARM" = 0 ] && (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
  CACHE_MODE=drop
  CACHE_TEXT="Page cache dropped before every timed step (sync; echo 3 > /proc/sys/vm/drop_caches): all tools start cold."
else
  CACHE_MODE=warm
  CACHE_TEXT="Page cache $( [ "$WARM" = 1 ] && echo 'not dropped (--warm)' || echo 'could not be dropped here'), so each step's input (source files, or the repository for restore and check) was read once with cat > /dev/null just before each tool: all tools start warm."
fi

# prepare PATH...: bring the page cache to the same state before each tool's timed step.
prepare() {
  sync
  if [ "$CACHE_MODE" = drop ]; then echo 3 > /proc/sys/vm/drop_caches
  else find "$@" -type f -print0 | xargs -0 -r cat > /dev/null; fi
}
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }
repo_size() { du -sb "$1" | cut -f1; }

# timed TOOL STEP STDIN CMD...: run CMD under /usr/bin/time in the current folder, with the
# tool's own cache folder; records wall seconds, peak RSS (KiB) and the exit code.
timed() {
  local tool=$1 step=$2 input=$3; shift 3
  local tf="$WORK/logs/$tool-$step.time" log="$WORK/logs/$tool-$step.log" rc=0 s kb
  /usr/bin/time -f '%e %M' -o "$tf" env XDG_CACHE_HOME="$WORK/cache/$tool" "$@" < "$input" > "$log" 2>&1 || rc=$?
  read -r s kb < <(tail -n 1 "$tf")
  sync
  rec "$tool" "$step" secs "$s"; rec "$tool" "$step" rss_kb "$kb"; rec "$tool" "$step" rc "$rc"
  if [ "$rc" -ne 0 ]; then
    say "   $tool $step FAILED (exit $rc); last lines of $log:"; tail -n 5 "$log" | sed 's/^/     /' >&2
  else
    say "$(printf '   %-6s %-8s %7.2f s  %6d MiB RSS' "$tool" "$step" "$s" $((kb / 1024)))"
  fi
  return 0
}

repo_of() { echo "$WORK/repo/$1-$2"; }
init_repo() {   # init_repo TOOL DATASET
  local r; r=$(repo_of "$1" "$2"); mkdir -p "$WORK/repo"
  case $1 in
    cairn)  XDG_CACHE_HOME="$WORK/cache/cairn" "$CAIRN" -r "$r" init ;;
    restic) XDG_CACHE_HOME="$WORK/cache/restic" restic -r "$r" init --repository-version 2 ;;
    borg)   XDG_CACHE_HOME="$WORK/cache/borg" borg init -e repokey-blake2 "$r" ;;
  esac > "$WORK/logs/$1-$2-init.log" 2>&1 || { say "compare.sh: $1 init failed, see below"; cat "$WORK/logs/$1-$2-init.log" >&2; exit 1; }
}
backup_path() { # backup_path TOOL DATASET STEP PATH
  local r; r=$(repo_of "$1" "$2")
  case $1 in
    cairn)  timed cairn "$3" /dev/null "$CAIRN" -r "$r" backup --json "$4" ;;
    restic) timed restic "$3" /dev/null restic -r "$r" backup "$4" ;;
    borg)   timed borg "$3" /dev/null borg create --stats --compression zstd,3 "$r::$3" "$4" ;;
  esac
  rec "$1" "$3" repo "$(repo_size "$r")"
}
backup_stdin() { # backup_stdin TOOL DATASET STEP FILE NAME
  local r; r=$(repo_of "$1" "$2")
  case $1 in
    cairn)  timed cairn "$3" "$4" "$CAIRN" -r "$r" backup --json --stdin --stdin-filename "$5" ;;
    restic) timed restic "$3" "$4" restic -r "$r" backup --stdin --stdin-filename "$5" ;;
    borg)   timed borg "$3" "$4" borg create --stats --compression zstd,3 --stdin-name "$5" "$r::$3" - ;;
  esac
  rec "$1" "$3" repo "$(repo_size "$r")"; rec "$1" "$3" bytes "$(stat -c %s "$4")"
}

header() { say ""; say "== $*"; }
for_tools() { local t; for t in "${TOOL_LIST[@]}"; do "$@" "$t"; done; }

# ---------------------------------------------------------------- run
say ""
say "corpus: $CORPUS_DIR; repositories: $WORK; cache mode: $CACHE_MODE"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

header "tree: first backup ($tree_bytes bytes, $tree_files files)"
for t in "${TOOL_LIST[@]}"; do init_repo "$t" tree; done
for t in "${TOOL_LIST[@]}"; do prepare "$TREE"; backup_path "$t" tree tree1 "$TREE"; rec "$t" tree1 bytes "$tree_bytes"; done
header "tree: unchanged re-backup"
for t in "${TOOL_LIST[@]}"; do prepare "$TREE"; backup_path "$t" tree tree2 "$TREE"; rec "$t" tree2 bytes "$tree_bytes"; done
header "tree: restore"
for t in "${TOOL_LIST[@]}"; do
  r=$(repo_of "$t" tree) target="$WORK/restore-$t"
  rm -rf "$target"; mkdir -p "$target"
  prepare "$r"
  case $t in
    cairn)  timed cairn restore /dev/null "$CAIRN" -r "$r" restore latest --target "$target" ;;
    restic) timed restic restore /dev/null restic -r "$r" restore latest --target "$target" ;;
    borg)   (cd "$target" && timed borg restore /dev/null borg extract "$r::tree2") ;;
  esac
  rec "$t" restore bytes "$tree_bytes"
  if [ "$VERIFY" = 1 ]; then
    if diff -r --no-dereference -q "$TREE" "$target$TREE" > "$WORK/logs/$t-restore.diff" 2>&1; then v=identical
    else v="DIFFERENT"; say "   $t: restored tree differs, see $WORK/logs/$t-restore.diff"; head -n 5 "$WORK/logs/$t-restore.diff" >&2; fi
  else v="not compared"; fi
  rec "$t" restore verify "$v"
  rm -rf "$target"
done
header "tree: check --read-data"
for t in "${TOOL_LIST[@]}"; do
  r=$(repo_of "$t" tree)
  prepare "$r"
  case $t in
    cairn)  timed cairn check /dev/null "$CAIRN" -r "$r" check --read-data ;;
    restic) timed restic check /dev/null restic -r "$r" check --read-data ;;
    borg)   timed borg check /dev/null borg check --verify-data "$r" ;;
  esac
  rec "$t" check bytes "$tree_bytes"; rec "$t" check repo "$(repo_size "$r")"
  rm -rf "$r"
done

header "random: $RAND_MIB MiB on stdin"
for t in "${TOOL_LIST[@]}"; do
  init_repo "$t" random; prepare "$RAND"; backup_stdin "$t" random random "$RAND" random.bin; rm -rf "$(repo_of "$t" random)"
done

header "disk image: v1 then v2 (${IMG_MIB} MiB, same name on stdin)"
for t in "${TOOL_LIST[@]}"; do init_repo "$t" image; done
for t in "${TOOL_LIST[@]}"; do prepare "$IMG"; backup_stdin "$t" image img1 "$IMG" disk.img; done
for t in "${TOOL_LIST[@]}"; do prepare "$IMG2"; backup_stdin "$t" image img2 "$IMG2" disk.img; rm -rf "$(repo_of "$t" image)"; done

header "tar series: $NTARS versions on stdin (same name)"
for t in "${TOOL_LIST[@]}"; do init_repo "$t" tars; done
for ((i = 0; i < NTARS; i++)); do
  for t in "${TOOL_LIST[@]}"; do prepare "${TAR_FILES[$i]}"; backup_stdin "$t" tars "$(printf 'tar%02d' "$i")" "${TAR_FILES[$i]}" project.tar; done
done

# ---------------------------------------------------------------- report
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || commit="$commit+uncommitted changes"
versions=()
has_tool cairn && versions+=("$("$CAIRN" --version) (commit $commit, swift build -c release)")
has_tool restic && versions+=("$(restic version | cut -d' ' -f1-2)")
has_tool borg && versions+=("$(borg --version)")
mib() { echo "$(( $1 / 1048576 )) MiB"; }
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'quick\t%s\n' "$QUICK"
  printf 'tools\t%s\n' "$TOOLS"
  printf 'ntars\t%s\n' "$NTARS"
  printf 'tree_bytes\t%s\n' "$tree_bytes"
  printf 'random_label\t%s\n' "$( [ "$RAND_MIB" -ge 1024 ] && echo "$((RAND_MIB / 1024)) GiB" || echo "$RAND_MIB MiB")"
  printf 'image_label\t%s\n' "$IMG_MIB MiB"
  printf 'versions\tTools: %s.\n' "$(IFS=';'; echo "${versions[*]}" | sed 's/;/; /g')"
  printf 'machine\tMachine: %s, %s cores, %s GiB RAM, %s; repositories and corpus on %s.\n' \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(nproc)" \
    "$(awk '/MemTotal/ {printf "%d", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)" "$(df --output=source "$WORK" | tail -n 1)"
  printf 'caches\t%s\n' "$CACHE_TEXT"
  printf 'corpus\tCorpus (%s): tree = copy of %s, %s files, %s bytes; random = %s of openssl AES-256-CTR keystream; image = %s from files of /usr/lib/x86_64-linux-gnu and /usr/share with zero runs, v2 = 0.5 %% of its 4 KiB blocks rewritten; tar series = %s versions of %s made by tar-series.py, %s bytes in all.\n' \
    "$CORPUS_DIR" "$(cat "$TREE.source")" "$tree_files" "$tree_bytes" "$(mib $((RAND_MIB * 1048576)))" "$IMG_MIB MiB" "$NTARS" "$(cat "$TARS.source")" "$tars_bytes"
  printf 'settings\tSettings: one fresh repository per tool and data set; cairn init defaults; restic init --repository-version 2 (compression auto); borg init -e repokey-blake2, create --compression zstd,3. Default caches, each tool its own XDG_CACHE_HOME under the temp folder. The random data, the disk images and the tars go in on stdin (cairn/restic --stdin --stdin-filename, borg create --stdin-name NAME ... -), the tree as a folder path.\n'
  printf 'load\tLoad average (1/5/15 min) at start %s, at end %s: other work on the machine moves the times.\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$META"

REPORT=$(python3 "$HERE/corpus/compare-report.py" "$RESULTS" "$META")
mkdir -p "$HERE/results"
suffix=""; [ "$QUICK" = 1 ] && suffix="-quick"; [ "$TOOLS" = cairn,restic,borg ] || suffix="$suffix-${TOOLS//,/-}"
OUT="$HERE/results/compare-$(date -u +%Y-%m-%d)$suffix.md"
printf '%s\n' "$REPORT" > "$OUT"
say ""
printf '%s\n' "$REPORT"
say ""
say "written to $OUT"
