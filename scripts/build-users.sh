#!/usr/bin/env bash
# Reserves the build uids the local executor runs jobs as (docs/security.md): accounts
# conveyor-build-1 … conveyor-build-N with uid = gid = BASE + n, no password, no login shell, no
# home. The node needs no passwd entry to use a uid, but these keep the range from being handed to
# anyone else and give `ps` a name. Also makes /dev/net/tun usable by them (slirp4netns), as on a
# stock Debian host. Idempotent.
#   scripts/build-users.sh [COUNT (64)] [BASE (59000)]     (sandbox_uid_count, sandbox_uid_base)
set -euo pipefail
COUNT="${1:-${CONVEYOR_SANDBOX_UID_COUNT:-64}}"
BASE="${2:-${CONVEYOR_SANDBOX_UID_BASE:-59000}}"
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
for n in $(seq 1 "$COUNT"); do
  uid=$((BASE + n)) name="conveyor-build-$n"
  if owner=$(getent passwd "$uid" | cut -d: -f1) && [[ -n "$owner" ]]; then
    [[ "$owner" == "$name" ]] || { echo "build-users: uid $uid already belongs to $owner; pick another base" >&2; exit 1; }
    continue
  fi
  getent group "$uid" >/dev/null || $SUDO groupadd --gid "$uid" "$name"
  $SUDO useradd --uid "$uid" --gid "$uid" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment "Conveyor build user $n" "$name"
done
# Debian's udev rule gives /dev/net/tun mode 0666; minimal hosts and containers may not.
if [[ -c /dev/net/tun ]]; then $SUDO chmod 0666 /dev/net/tun; fi
echo "build-users: conveyor-build-1 … conveyor-build-$COUNT (uids $((BASE + 1))–$((BASE + COUNT)))"
