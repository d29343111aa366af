#!/usr/bin/env bash
# Installs every Debian package k8c needs to build, run and test.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format llvm libclang-rt-14-dev
  libmicrohttpd-dev libcurl4-gnutls-dev libjansson-dev libyaml-dev
  libnl-3-dev libnl-route-3-dev libip4tc-dev libsqlite3-dev sqlite3
  libarchive-dev libldns-dev libsystemd-dev libgnutls28-dev zlib1g-dev
  libzstd-dev liblz4-dev libacl1-dev
  libcmocka-dev libwslay-dev
  runc iptables iproute2 busybox-static etcd-server etcd-client docker-registry
  curl procps kubectl systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# kubectl may not be a Debian package on every release; install the rest regardless.
avail=()
for p in "${missing[@]}"; do
  if apt-cache show "$p" >/dev/null 2>&1; then avail+=("$p"); else echo "install-deps: package $p not available, skipped" >&2; fi
done
if [ ${#avail[@]} -gt 0 ]; then
  $SUDO apt-get install -y -q --no-install-recommends "${avail[@]}"
fi
