#!/usr/bin/env bash
# Installs the Debian packages Conveyor needs, only when something is missing.
set -euo pipefail
PKGS=(
  pkg-config git curl ca-certificates procps
  libhiredis-dev libpq-dev libssh2-1-dev libvirt-dev libcurl4-openssl-dev
  redis-server redis-tools postgresql postgresql-contrib
  bubblewrap openssh-server openssh-client libvirt-daemon
  prometheus python3-venv
  slirp4netns libpcre2-dev redis-sentinel uidmap
  nftables util-linux e2fsprogs
)
if [[ "${CONVEYOR_WITH_BROWSER:-0}" == 1 ]]; then PKGS+=(chromium); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts packaged daemons on install; Conveyor runs its own private ones.
  for svc in redis-server postgresql prometheus ssh libvirtd; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "install-deps: all packages present"
fi
# The build users jobs run as, and /dev/net/tun for their network (docs/security.md).
bash "$(dirname "$0")/build-users.sh" >/dev/null
