#!/usr/bin/env bash
# Installs the Debian 12 packages stray builds, tests and benchmarks with.
# Asks apt only when something is missing, so repeated runs cost nothing.
# Usage: scripts/deps.sh [--arm64] [extra packages...]   (as root, or with sudo available)
#   --arm64: also the AArch64 cross toolchain, the arm64 multiarch libraries
#            and qemu-user-static (the aarch64 preset).
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
pkgs=(cmake ninja-build g++ pkg-config libboost-context-dev libdw-dev libunwind-dev zlib1g-dev libcpp-httplib-dev
      libgtest-dev libbenchmark-dev libjemalloc-dev)
if [ "${1:-}" = "--arm64" ]; then
  shift
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  pkgs+=(g++-aarch64-linux-gnu qemu-user-static libboost-context-dev:arm64 libdw-dev:arm64 libunwind-dev:arm64
         zlib1g-dev:arm64 libgtest-dev:arm64)
fi
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
