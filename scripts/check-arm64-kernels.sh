#!/usr/bin/env bash
# Cross-compiles the kernels for ARM64 (Debian's g++-aarch64-linux-gnu), so the NEON path and
# the generic code it falls back to keep compiling on a machine that is not ARM. Objects only:
# nothing is linked or run. Used by the ctest `arm64_kernels_compile`.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${HEARTH_ARM64_CXX:-aarch64-linux-gnu-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "check-arm64-kernels: $cxx not found; install g++-aarch64-linux-gnu (scripts/setup-deps.sh does)" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
# Header-only libraries (fmt) come from the host's /usr/include, searched after the
# cross compiler's own system headers.
for src in src/kernels/*.cpp src/util/cpu.cpp src/util/thread_pool.cpp src/util/error.cpp; do
  case "$src" in *_avx2.cpp|*_avx512.cpp|*_avx512vnni.cpp) continue ;; esac
  if ! "$cxx" -std=c++20 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -DFMT_HEADER_ONLY \
      -I src -idirafter /usr/include -c "$src" -o "$out/$(basename "$src").o"; then
    echo "check-arm64-kernels: $src does not compile for ARM64" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  n=$(ls "$out" | wc -l)
  echo "check-arm64-kernels: $n files compiled for aarch64 (NEON kernels: $(du -k "$out/dot_neon.cpp.o" | cut -f1) KiB of code)"
fi
exit $status
