#!/usr/bin/env bash
# Starts the servers that Tests/ConveyorClientsTests talks to, on loopback only:
#   - an OpenSSH sshd on 127.0.0.1:2222 with its own config, host key, client key and known_hosts;
#   - a moto S3 server on 127.0.0.1:9000;
#   - an aiosmtpd SMTP server on 127.0.0.1:2525 writing each mail it accepts to .conveyor/test-servers/smtp/mail/.
# Everything lives under .conveyor/test-servers/ in the repository (gitignored).
#
#   scripts/test-servers.sh start   # start both (idempotent), wait until they answer
#   scripts/test-servers.sh stop    # stop both
#   scripts/test-servers.sh env     # print `export` lines for the tests: eval "$(scripts/test-servers.sh env)"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.conveyor/test-servers"
SSH_DIR="$DIR/ssh"
S3_DIR="$DIR/s3"
SSH_PORT="${CONVEYOR_TEST_SSH_PORT:-2222}"
S3_PORT="${CONVEYOR_TEST_S3_PORT:-9000}"
SMTP_DIR="$DIR/smtp"
SMTP_PORT="${CONVEYOR_TEST_SMTP_PORT:-2525}"
USER_NAME="$(id -un)"

log() { echo "test-servers: $*" >&2; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits until something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no extra tools).
wait_port() {
  local port=$1 what=$2
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$what did not answer on 127.0.0.1:$port"
  return 1
}

ssh_setup() {
  mkdir -p "$SSH_DIR"
  chmod 700 "$SSH_DIR"
  [[ -f "$SSH_DIR/host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_ed25519" -C conveyor-test-host
  [[ -f "$SSH_DIR/client_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/client_ed25519" -C conveyor-test-client
  # A second key that is not authorized, for the "wrong key" test.
  [[ -f "$SSH_DIR/other_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/other_ed25519" -C conveyor-test-other
  cp "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/authorized_keys"
  chmod 600 "$SSH_DIR/authorized_keys"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" > "$SSH_DIR/known_hosts"
  cat > "$SSH_DIR/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
AllowUsers $USER_NAME
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
MaxSessions 32
MaxStartups 64
Subsystem sftp internal-sftp
EOF
}

ssh_start() {
  if alive "$SSH_DIR/sshd.pid"; then log "sshd already running"; return 0; fi
  ssh_setup
  # sshd insists on its privilege-separation directory even with a private config.
  [[ -d /run/sshd ]] || mkdir -p /run/sshd 2>/dev/null || true
  /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config"
  # -D keeps it in the foreground of a background job so that the pid we record is sshd's own.
  nohup /usr/sbin/sshd -D -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log" >/dev/null 2>&1 &
  echo $! > "$SSH_DIR/sshd.pid"
  wait_port "$SSH_PORT" sshd
  log "sshd on 127.0.0.1:$SSH_PORT (log $SSH_DIR/sshd.log)"
}

s3_start() {
  mkdir -p "$S3_DIR"
  if alive "$S3_DIR/moto.pid"; then log "moto already running"; return 0; fi
  if ! python3 -c 'import moto.server' 2>/dev/null; then
    log "installing moto[server] with pip"
    python3 -m pip install --quiet 'moto[server]' 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]'
  fi
  nohup python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >"$S3_DIR/moto.log" 2>&1 &
  echo $! > "$S3_DIR/moto.pid"
  wait_port "$S3_PORT" moto
  log "moto S3 on 127.0.0.1:$S3_PORT (log $S3_DIR/moto.log)"
}

smtp_start() {
  mkdir -p "$SMTP_DIR/mail"
  if alive "$SMTP_DIR/smtp.pid"; then log "smtp sink already running"; return 0; fi
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "installing aiosmtpd with pip"
    python3 -m pip install --quiet aiosmtpd 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages aiosmtpd
  fi
  nohup python3 "$ROOT/scripts/smtp-sink.py" "$SMTP_PORT" "$SMTP_DIR/mail" >"$SMTP_DIR/smtp.log" 2>&1 &
  echo $! > "$SMTP_DIR/smtp.pid"
  wait_port "$SMTP_PORT" smtp-sink
  log "SMTP sink on 127.0.0.1:$SMTP_PORT (mail in $SMTP_DIR/mail)"
}

stop_one() {
  local pidfile=$1 what=$2
  if alive "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $what"
  fi
  rm -f "$pidfile"
}

print_env() {
  cat <<EOF
export CONVEYOR_TEST_SSH_HOST=127.0.0.1
export CONVEYOR_TEST_SSH_PORT=$SSH_PORT
export CONVEYOR_TEST_SSH_USER=$USER_NAME
export CONVEYOR_TEST_SSH_KEY=$SSH_DIR/client_ed25519
export CONVEYOR_TEST_SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts
export CONVEYOR_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export CONVEYOR_TEST_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
export CONVEYOR_TEST_SMTP_DIR=$SMTP_DIR/mail
EOF
}

case "${1:-}" in
  start) ssh_start; s3_start; smtp_start ;;
  start-smtp) smtp_start ;;
  stop) stop_one "$SSH_DIR/sshd.pid" sshd; stop_one "$S3_DIR/moto.pid" moto; stop_one "$SMTP_DIR/smtp.pid" smtp-sink ;;
  env) print_env ;;
  *) echo "usage: $0 start|start-smtp|stop|env" >&2; exit 2 ;;
esac
