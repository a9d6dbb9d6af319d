#!/usr/bin/env bash
# test-stores.sh start|stop - the three real remote stores on loopback, for trying Cairn by hand
# and for Benchmarks/resume.sh (the Swift tests start their own, one per suite):
#   S3    moto_server (pinned by scripts/deps.sh --test) wrapped by scripts/test-stores/moto_sigv4.py,
#         which verifies every request's Signature V4
#   SFTP  a private OpenSSH sshd (own host key, config and client key; key-only)
#   REST  `rclone serve restic` (restic REST protocol v2) with basic auth
#
#   scripts/test-stores.sh start   installs what is missing, starts the three, prints the env file to source
#   scripts/test-stores.sh stop    stops exactly the processes `start` recorded
#
# Tunables (env): STORES_DIR (${TMPDIR:-/tmp}/cairn-test-stores)  S3_PORT (9000)  S3_REGION (us-east-1)
#   SFTP_PORT (2222)  SFTP_USER (the current user)  REST_PORT (8000)  REST_USER (cairn)  REST_PASS (cairn-test)
set -Eeuo pipefail
STORES_DIR=${STORES_DIR:-${TMPDIR:-/tmp}/cairn-test-stores}
S3_PORT=${S3_PORT:-9000}
S3_REGION=${S3_REGION:-us-east-1}
SFTP_PORT=${SFTP_PORT:-2222}
SFTP_USER=${SFTP_USER:-$(id -un)}
REST_PORT=${REST_PORT:-8000}
REST_USER=${REST_USER:-cairn}
REST_PASS=${REST_PASS:-cairn-test}
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

wait_port() { # port pid log
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { log "process $2 died:"; tail -n 20 "$3" >&2; stop; exit 1; }
    sleep 0.1
  done
  log "nothing listens on $HOST:$1"; stop; exit 1
}

start() {
  [ -s "$PID_FILE" ] && { log "stopping what a previous start left"; stop; }
  "$HERE/deps.sh" --test
  mkdir -p "$STORES_DIR/s3" "$STORES_DIR/sftp" "$STORES_DIR/rest/data"
  : > "$PID_FILE"
  for p in "$S3_PORT" "$SFTP_PORT" "$REST_PORT"; do
    (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null && { log "port $HOST:$p is already in use"; exit 1; }
  done
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
  log "S3 (moto, SigV4 verified) on http://$HOST:$S3_PORT, pid $pid; log $STORES_DIR/s3/moto.log"

  # SFTP: a private sshd with its own keys and config.
  local sd="$STORES_DIR/sftp"
  { mkdir -p /run/sshd && chmod 0755 /run/sshd; } 2>/dev/null || true   # sshd's privilege separation folder
  [ -f "$sd/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-host -f "$sd/host_ed25519"
  [ -f "$sd/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-client -f "$sd/client_ed25519"
  install -m 0600 "$sd/client_ed25519.pub" "$sd/authorized_keys"
  echo "[$HOST]:$SFTP_PORT $(cut -d' ' -f1-2 "$sd/host_ed25519.pub")" > "$sd/known_hosts"
  printf '%s\n' "Port $SFTP_PORT" "ListenAddress $HOST" "HostKey $sd/host_ed25519" "PidFile $sd/sshd.pid" \
    "AuthorizedKeysFile $sd/authorized_keys" "AllowUsers $SFTP_USER" "PubkeyAuthentication yes" \
    "PasswordAuthentication no" "KbdInteractiveAuthentication no" "PermitRootLogin prohibit-password" \
    "UsePAM no" "StrictModes no" "X11Forwarding no" "AllowTcpForwarding no" "Subsystem sftp internal-sftp" \
    > "$sd/sshd_config"
  /usr/sbin/sshd -t -f "$sd/sshd_config"
  nohup /usr/sbin/sshd -D -e -f "$sd/sshd_config" > "$sd/sshd.log" 2>&1 &
  pid=$!
  echo "sftp $pid $(starttime "$pid")" >> "$PID_FILE"
  wait_port "$SFTP_PORT" "$pid" "$sd/sshd.log"
  local ssh_opts="-F /dev/null -i $sd/client_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$sd/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
  log "SFTP (sshd) on $HOST:$SFTP_PORT, pid $pid"

  # REST: rclone serve restic, with its own (empty) config.
  local rd="$STORES_DIR/rest"
  : > "$rd/rclone.conf"
  nohup rclone serve restic --config "$rd/rclone.conf" --addr "$HOST:$REST_PORT" \
    --user "$REST_USER" --pass "$REST_PASS" "$rd/data" > "$rd/rclone.log" 2>&1 &
  pid=$!
  echo "rest $pid $(starttime "$pid")" >> "$PID_FILE"
  wait_port "$REST_PORT" "$pid" "$rd/rclone.log"
  log "REST (rclone serve restic) on http://$HOST:$REST_PORT/, pid $pid"
  {
    echo "export AWS_ACCESS_KEY_ID='$(sed -n 1p "$STORES_DIR/s3/credentials")'"
    echo "export AWS_SECRET_ACCESS_KEY='$(sed -n 2p "$STORES_DIR/s3/credentials")'"
    echo "export AWS_DEFAULT_REGION='$S3_REGION'"
    echo "export CAIRN_S3_BUCKET_LOOKUP=path"
    echo "export S3_ENDPOINT='http://$HOST:$S3_PORT'"
    echo "export S3_PORT=$S3_PORT"
    echo "# cairn -r s3:http://$HOST:$S3_PORT/BUCKET/PREFIX init"
    echo "export SFTP_PORT=$SFTP_PORT SFTP_USER='$SFTP_USER' SFTP_SSH_OPTS='$ssh_opts'"
    echo "export CAIRN_SFTP_COMMAND=\"ssh \$SFTP_SSH_OPTS -p $SFTP_PORT $SFTP_USER@$HOST -s sftp\""
    echo "# cairn -r sftp:$SFTP_USER@$HOST:$SFTP_PORT:/some/path init"
    echo "export REST_PORT=$REST_PORT REST_USER='$REST_USER' REST_PASS='$REST_PASS'"
    echo "# cairn -r rest:http://$REST_USER:$REST_PASS@$HOST:$REST_PORT/NAME/ init"
  } > "$STORES_DIR/stores.env"
  echo "$STORES_DIR/stores.env"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
