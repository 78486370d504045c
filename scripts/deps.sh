#!/usr/bin/env bash
# Installs the Debian 12 packages stray builds, tests and benchmarks with.
# Asks apt only when something is missing, so repeated runs cost nothing.
# Usage: scripts/deps.sh [extra packages...]   (as root, or with sudo available)
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config libboost-context-dev libdw-dev libunwind-dev zlib1g-dev libcpp-httplib-dev
      libgtest-dev libbenchmark-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
