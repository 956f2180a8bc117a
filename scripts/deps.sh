#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every package berth needs to build, test and run its demo on Debian 12.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libsodium-dev libarchive-dev zlib1g-dev libjansson-dev libsqlite3-dev libssl-dev
  libcurl4-openssl-dev libprotobuf-c-dev protobuf-c-compiler libsystemd-dev
  libmicrohttpd-dev libgnutls28-dev libcmocka-dev
  # runtime peers used by tests and the demo
  containerd runc docker-registry skopeo golang-github-containerd-containerd-dev
  busybox-static sqlite3 openssl curl jq zstd gzip tar xxd python3 procps psmisc
  iproute2 util-linux time bc python3-nacl
  apache2-utils
  wrk swupdate cpio
  libprotobuf-dev protobuf-compiler python3-protobuf
  # packaging (issue 9): .deb build + lintian, systemd-analyze/journald, sysext, USB stick tests
  debhelper dpkg-dev fakeroot lintian adduser systemd udev squashfs-tools patchelf dosfstools mtools
  e2fsprogs mount man-db groff-base
  mosquitto mosquitto-clients
  # issue 8: promtool checks the agent's metrics endpoint
  prometheus
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "berth: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
