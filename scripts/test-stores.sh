#!/usr/bin/env bash
# test-stores.sh start|stop - a real S3 on loopback for trying Cairn by hand: moto_server
# (pinned by scripts/deps.sh --test) wrapped by scripts/test-stores/moto_sigv4.py, which verifies
# every request's Signature V4. The Swift tests start their own (Tests/CairnTests/MotoServer.swift).
#
#   scripts/test-stores.sh start   installs what is missing, starts moto, prints the env file to source
#   scripts/test-stores.sh stop    stops exactly the processes `start` recorded
#
# Tunables (env): STORES_DIR (${TMPDIR:-/tmp}/cairn-test-stores)  S3_PORT (9000)  S3_REGION (us-east-1)
set -Eeuo pipefail
STORES_DIR=${STORES_DIR:-${TMPDIR:-/tmp}/cairn-test-stores}
S3_PORT=${S3_PORT:-9000}
S3_REGION=${S3_REGION:-us-east-1}
HOST=127.0.0.1
PID_FILE="$STORES_DIR/pids"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[test-stores] %s\n' "$*" >&2; }

starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }

stop() {
  [ -s "$PID_FILE" ] || { log "nothing recorded in $PID_FILE"; return 0; }
  while read -r name pid st; do
    # Only a process that is still the one we started (same start time: no PID reuse).
    if [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      log "stopped $name ($pid)"
    fi
  done < "$PID_FILE"
  : > "$PID_FILE"
}

start() {
  [ -s "$PID_FILE" ] && { log "stopping what a previous start left"; stop; }
  "$HERE/deps.sh" --test
  mkdir -p "$STORES_DIR/s3"
  : > "$PID_FILE"
  (exec 3<>"/dev/tcp/$HOST/$S3_PORT") 2>/dev/null && { log "port $HOST:$S3_PORT is already in use"; exit 1; }
  rm -f "$STORES_DIR/s3/credentials"
  MOTO_SIGV4_REGION="$S3_REGION" MOTO_SIGV4_CREDENTIALS="$STORES_DIR/s3/credentials" \
    nohup python3 "$HERE/test-stores/moto_sigv4.py" -H "$HOST" -p "$S3_PORT" > "$STORES_DIR/s3/moto.log" 2>&1 &
  local pid=$!
  echo "s3 $pid $(starttime "$pid")" >> "$PID_FILE"
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/$HOST/$S3_PORT") 2>/dev/null && [ -s "$STORES_DIR/s3/credentials" ] && break
    kill -0 "$pid" 2>/dev/null || { log "moto died:"; tail -n 20 "$STORES_DIR/s3/moto.log" >&2; stop; exit 1; }
    sleep 0.1
  done
  [ -s "$STORES_DIR/s3/credentials" ] || { log "moto did not come up"; stop; exit 1; }
  {
    echo "export AWS_ACCESS_KEY_ID='$(sed -n 1p "$STORES_DIR/s3/credentials")'"
    echo "export AWS_SECRET_ACCESS_KEY='$(sed -n 2p "$STORES_DIR/s3/credentials")'"
    echo "export AWS_DEFAULT_REGION='$S3_REGION'"
    echo "export CAIRN_S3_BUCKET_LOOKUP=path"
    echo "export S3_ENDPOINT='http://$HOST:$S3_PORT'"
    echo "# then: cairn -r s3:http://$HOST:$S3_PORT/BUCKET/PREFIX init"
  } > "$STORES_DIR/stores.env"
  log "S3 (moto, SigV4 verified) on http://$HOST:$S3_PORT, pid $pid; log $STORES_DIR/s3/moto.log"
  echo "$STORES_DIR/stores.env"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
