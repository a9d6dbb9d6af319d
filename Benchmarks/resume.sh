#!/usr/bin/env bash
# Benchmarks/resume.sh - what a backup sends again after it was interrupted, per store.
#
# For each store: a fresh backup of a SIZE_MB corpus of incompressible files; then a backup
# killed with SIGKILL once half the fresh run's bytes have gone out, and resumed; then a backup
# whose connection is cut (and the store kept away) at half, and resumed. Every remote store
# is reached through scripts/fault-proxy.py, which counts the bytes that really went out.
# After each resume, `check --read-data` must pass. Writes a Markdown table to
# Benchmarks/results/resume-DATE-COMMIT.md and prints it.
#
#   Benchmarks/resume.sh [store ...]      stores: local rest sftp s3 serve (default: all)
#   SIZE_MB=500 (corpus size)  CAIRN=path/to/cairn (default: a release build)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MB=${SIZE_MB:-500}
STORES=("$@")
[ ${#STORES[@]} -gt 0 ] || STORES=(local rest sftp s3 serve)
log() { printf '[resume %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ -z "${CAIRN:-}" ]; then
  log "building cairn (release)"
  (cd "$ROOT" && swift build -c release --product cairn >/dev/null)
  CAIRN="$ROOT/.build/release/cairn"
fi
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-resume.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  STORES_DIR="$WORK/stores" "$ROOT/scripts/test-stores.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export CAIRN_PASSWORD=bench

# --- corpus: incompressible files, 4 MiB each ---------------------------------------------
log "making a ${SIZE_MB} MB corpus"
mkdir -p "$WORK/src"
for i in $(seq 1 $((SIZE_MB / 4))); do head -c 4194304 /dev/urandom > "$WORK/src/f$i"; done

# --- stores ---------------------------------------------------------------------------------
need_remote=0
for s in "${STORES[@]}"; do [ "$s" != local ] && need_remote=1; done
if [ $need_remote = 1 ]; then
  env_file=$(STORES_DIR="$WORK/stores" "$ROOT/scripts/test-stores.sh" start)
  # shellcheck disable=SC1090
  . "$env_file"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# proxy UPSTREAM_PORT STATS [fault args...] -> prints its port; its pid goes to PIDS
start_proxy() {
  local up=$1 stats=$2; shift 2
  local fifo="$WORK/proxy-$RANDOM"
  mkfifo "$fifo"
  python3 "$ROOT/scripts/fault-proxy.py" --upstream "127.0.0.1:$up" --stats "$stats" "$@" > "$fifo" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  read -r PROXY_PORT < "$fifo"
  rm -f "$fifo"
}
sent() { awk '{print $1}' "$1" 2>/dev/null || echo 0; }

# location STORE NAME PORT -> repository location reaching STORE's repository NAME via PORT
serve_ports=()
location() {
  case $1 in
    local) echo "$WORK/local-$2" ;;
    rest) echo "rest:http://$REST_USER:$REST_PASS@127.0.0.1:$3/$2/" ;;
    sftp) echo "sftp://$SFTP_USER@127.0.0.1:$3$WORK/sftp-$2" ;;
    s3) echo "s3:http://127.0.0.1:$3/resume-bench/$2" ;;
    serve) echo "rest:http://127.0.0.1:$3/" ;;
  esac
}
# upstream STORE NAME -> sets UP, the port STORE's repository NAME is reached on
upstream() {
  case $1 in
    rest) UP=$REST_PORT ;;
    sftp) UP=$SFTP_PORT ;;
    s3) UP=$S3_PORT ;;
    serve) # one server per repository: `cairn serve` serves one repository
      UP=$(free_port)
      "$CAIRN" serve --no-auth --path "$WORK/serve-$2" --listen "127.0.0.1:$UP" >/dev/null 2>&1 &
      PIDS+=("$!")
      for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UP") 2>/dev/null && break; sleep 0.1; done ;;
  esac
}
# ssh through the proxy's port, checking the host key recorded for sshd's own port
sftp_command() { echo "ssh $SFTP_SSH_OPTS -o HostKeyAlias=[127.0.0.1]:$SFTP_PORT -p $1 $SFTP_USER@127.0.0.1 -s sftp"; }
# cairn STORE LOCATION PORT args... (SFTP needs the port in its ssh command)
run_cairn() {
  local store=$1 loc=$2 port=$3; shift 3
  if [ "$store" = sftp ]; then
    CAIRN_SFTP_COMMAND="$(sftp_command "$port")" "$CAIRN" -r "$loc" "$@"
  else
    "$CAIRN" -r "$loc" "$@"
  fi
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['summary']['$1'])"; }
# pack bytes a local repository holds (final names only: not packs still being written)
pack_bytes() { { find "$1" -type f -regextype egrep -regex '.*/[0-9a-f]{64}' -printf '%s\n' 2>/dev/null || true; } | awk '{s+=$1} END {print s+0}'; }
mb() { awk -v b="$1" 'BEGIN{printf "%.1f MB", b/1e6}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f %%", 100*a/b}'; }

ROWS=()
for store in "${STORES[@]}"; do
  log "== $store"
  # 1. fresh run
  if [ "$store" = local ]; then
    loc=$(location local fresh); port=0
  else
    upstream "$store" fresh; up=$UP
    start_proxy "$up" "$WORK/$store-fresh.stats"; port=$PROXY_PORT
    loc=$(location "$store" fresh "$port")
  fi
  run_cairn "$store" "$loc" "$port" -q init >/dev/null
  t0=$(date +%s.%N)
  run_cairn "$store" "$loc" "$port" --cache-dir "$WORK/cache-$store-fresh" --json backup "$WORK/src" > "$WORK/$store-fresh.json"
  t1=$(date +%s.%N)
  if [ "$store" = local ]; then fresh=$(pack_bytes "$loc/data"); else fresh=$(sent "$WORK/$store-fresh.stats"); fi
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  log "fresh: $(mb "$fresh") in ${secs}s"

  # 2. kill -9 at half, then resume
  cache="$WORK/cache-$store-kill"
  if [ "$store" = local ]; then
    loc=$(location local kill)
  else
    upstream "$store" kill; up=$UP
    start_proxy "$up" "$WORK/$store-kill.stats"; port=$PROXY_PORT
    loc=$(location "$store" kill "$port")
  fi
  run_cairn "$store" "$loc" "$port" -q init >/dev/null
  (
    [ "$store" = sftp ] && export CAIRN_SFTP_COMMAND="$(sftp_command "$port")"
    exec "$CAIRN" -r "$loc" --cache-dir "$cache" -q backup "$WORK/src"
  ) &
  bpid=$!   # the subshell execs cairn: this is cairn's PID
  PIDS+=("$bpid")
  while kill -0 $bpid 2>/dev/null; do
    if [ "$store" = local ]; then now=$(pack_bytes "$loc/data"); else now=$(sent "$WORK/$store-kill.stats"); fi
    [ "$now" -ge $((fresh / 2)) ] && break
    sleep 0.02
  done
  kill -9 $bpid 2>/dev/null || true; wait $bpid 2>/dev/null || true
  if [ "$store" = local ]; then killed_at=$(pack_bytes "$loc/data"); else killed_at=$(sent "$WORK/$store-kill.stats"); fi
  run_cairn "$store" "$loc" "$port" --cache-dir "$cache" -q unlock >/dev/null
  before=$([ "$store" = local ] && pack_bytes "$loc/data" || sent "$WORK/$store-kill.stats")
  run_cairn "$store" "$loc" "$port" --cache-dir "$cache" --json backup "$WORK/src" > "$WORK/$store-kill.json"
  if [ "$store" = local ]; then
    resumed=$(json_field bytes_stored < "$WORK/$store-kill.json")
  else
    resumed=$(( $(sent "$WORK/$store-kill.stats") - before ))
  fi
  check=ok
  run_cairn "$store" "$loc" "$port" --cache-dir "$cache" -q check --read-data >/dev/null 2>&1 || check=FAILED
  log "kill: killed at $(mb "$killed_at"), resumed run sent $(mb "$resumed") ($(pct "$resumed" "$fresh")), check $check"
  row="| $store | $(mb "$fresh") (${secs} s) | $(mb "$killed_at") | $(mb "$resumed") | $(pct "$resumed" "$fresh") | $check |"

  # 3. connection cut at half (store away for good), then resume without the fault
  if [ "$store" = local ]; then
    row+=" n/a | n/a | n/a | n/a |"
  else
    cache="$WORK/cache-$store-cut"
    upstream "$store" cut; up=$UP
    start_proxy "$up" "$WORK/$store-cut.stats"; port=$PROXY_PORT
    loc=$(location "$store" cut "$port")
    run_cairn "$store" "$loc" "$port" -q init >/dev/null
    kill "$PROXY_PID"
    start_proxy "$up" "$WORK/$store-cut.stats" --cut-after $((fresh / 2)) --down-for 100000; port=$PROXY_PORT
    loc=$(location "$store" cut "$port")
    if run_cairn "$store" "$loc" "$port" --cache-dir "$cache" -q --retries 2 backup "$WORK/src" 2>"$WORK/$store-cut.err"; then
      log "cut: the backup did not fail"; cut_note="not cut"
    else
      cut_note=$(tail -n 1 "$WORK/$store-cut.err" | cut -c1-60)
    fi
    cut_at=$(sent "$WORK/$store-cut.stats")
    kill "$PROXY_PID"
    start_proxy "$up" "$WORK/$store-cut2.stats"; port=$PROXY_PORT
    loc=$(location "$store" cut "$port")
    run_cairn "$store" "$loc" "$port" --cache-dir "$cache" -q unlock >/dev/null
    run_cairn "$store" "$loc" "$port" --cache-dir "$cache" --json backup "$WORK/src" > "$WORK/$store-cut.json"
    resumed_cut=$(sent "$WORK/$store-cut2.stats")
    check_cut=ok
    run_cairn "$store" "$loc" "$port" --cache-dir "$cache" -q check --read-data >/dev/null 2>&1 || check_cut=FAILED
    log "cut: at $(mb "$cut_at"), resumed run sent $(mb "$resumed_cut") ($(pct "$resumed_cut" "$fresh")), check $check_cut"
    row+=" $(mb "$cut_at") | $(mb "$resumed_cut") | $(pct "$resumed_cut" "$fresh") | $check_cut |"
  fi
  ROWS+=("$row")
done

mkdir -p "$ROOT/Benchmarks/results"
OUT="$ROOT/Benchmarks/results/resume-$(date +%F)-$(git -C "$ROOT" rev-parse --short HEAD).md"
{
  echo "# Resumed backups: bytes sent again ($(date +%F), $(git -C "$ROOT" rev-parse --short HEAD))"
  echo
  echo "Corpus: ${SIZE_MB} MB of incompressible 4 MiB files; 16 MiB packs. Command: \`Benchmarks/resume.sh ${STORES[*]}\`."
  echo "Bytes are what crossed the fault proxy (requests included); for the local store, pack bytes written."
  echo
  echo "| store | fresh run sent | killed (-9) at | resumed run sent | of fresh | check | cut at | resumed run sent | of fresh | check |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for r in "${ROWS[@]}"; do echo "$r"; done
} > "$OUT"
cat "$OUT"
