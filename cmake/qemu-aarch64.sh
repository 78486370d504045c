#!/bin/sh
# Runs an AArch64 test binary under qemu-user (the aarch64 preset's
# CMAKE_CROSSCOMPILING_EMULATOR).
# -L /: the arm64 multiarch packages' dynamic loader and libraries (the
#   cross toolchain's own /usr/aarch64-linux-gnu loader is a different
#   glibc build; mixing the two corrupts the loader's stack cache).
# ulimit -v: the runtime sizes its address-space reservations (1 TiB arena,
#   2 TiB stack region) from RLIMIT_AS, and qemu-user keeps page flags for
#   every reserved guest page: a 128 GiB budget (a 16 GiB arena, 32 GiB of
#   stacks: room for the stress tests' 100,000 goroutines) starts in half a
#   second, where the full reservations take a minute.
ulimit -v 134217728
exec qemu-aarch64-static -L / "$@"
