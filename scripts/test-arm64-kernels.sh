#!/usr/bin/env bash
# Builds the kernel unit tests (tests/kernels) for ARM64 with Debian's cross compiler and runs
# them under qemu-aarch64, so the NEON kernels are executed and compared with the generic ones
# on a machine that is not ARM. Three emulated CPUs: `max` (every extension qemu knows, so
# every table hearth has for ARM64 is available and tested), `cortex-a76` (dotprod, no i8mm)
# and `cortex-a53` (ARMv8.0, neither), which check that a table is only handed out to a CPU
# that has its instructions.
#
# usage: scripts/test-arm64-kernels.sh [--build-only] [BUILD_DIR]   (default build/arm64-kernels)
# Incremental (a generated build.ninja with header dependencies). Used by the ctest
# `arm64_kernels`; --build-only leaves the objects in BUILD_DIR/obj for
# bench/arm64/kernel_instructions.sh. The emulated-AVX-512 tests are x86-only and left out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_only=false
if [ "${1:-}" = "--build-only" ]; then build_only=true; shift; fi
out=${1:-build/arm64-kernels}
cxx=${HEARTH_ARM64_CXX:-aarch64-linux-gnu-g++}
qemu=${HEARTH_ARM64_QEMU:-qemu-aarch64}
gtest=/usr/src/googletest/googletest
for tool in "$cxx:g++-aarch64-linux-gnu" "$qemu:qemu-user" "ninja:ninja-build"; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "test-arm64-kernels: ${tool%%:*} not found; install ${tool##*:} (scripts/setup-deps.sh does)" >&2
    exit 1
  fi
done
if [ ! -f "$gtest/src/gtest-all.cc" ]; then
  echo "test-arm64-kernels: GoogleTest sources not found in $gtest; install googletest (scripts/setup-deps.sh does)" >&2
  exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

sources=()
for src in src/kernels/*.cpp; do
  case "$src" in *_avx2.cpp|*_avxvnni.cpp|*_avx512.cpp|*_avx512vnni.cpp) continue ;; esac
  sources+=("$src")
done
sources+=(src/util/cpu.cpp src/util/thread_pool.cpp src/util/error.cpp src/gguf/types.cpp)
tests=()
for src in tests/kernels/test_*.cpp; do
  case "$src" in *_emulated.cpp) continue ;; esac
  tests+=("$src")
done

# The project's own files build as a Release build does (-O3), with -Werror; GoogleTest without.
# fmt is used header-only (the host's headers, searched after the cross compiler's own).
{
  echo "warn = -Wall -Wextra -Werror -Wno-unused-parameter"
  echo "common = -std=c++20 -O3 -DNDEBUG -DFMT_HEADER_ONLY -I$root/src -I$root/tests/kernels -isystem $gtest/include -idirafter /usr/include"
  echo "rule cxx"
  echo "  command = $cxx \$common \$warn \$extra -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = aarch64 \$in"
  echo "rule link"
  # --no-warnings: glibc's note that GoogleTest's unused socket code would need glibc's shared
  # libraries at run time if it were called (a static link's warning, not a problem here).
  echo "  command = $cxx -static -Wl,--no-warnings -o \$out \$in -lpthread"
  echo "  description = link \$out"
  objs=()
  for src in "${sources[@]}" "${tests[@]}"; do
    obj="obj/${src//\//_}.o"
    echo "build $obj: cxx $root/$src"
    # Files named *_dotprod.cpp and *_i8mm.cpp use ARMv8.2 extensions (run-time checked), as
    # src/kernels/CMakeLists.txt compiles them.
    case "$src" in
      *_dotprod.cpp) echo "  extra = -march=armv8.2-a+dotprod" ;;
      *_i8mm.cpp) echo "  extra = -march=armv8.2-a+dotprod+i8mm" ;;
    esac
    objs+=("$obj")
  done
  for src in gtest-all gtest_main; do
    echo "build obj/$src.o: cxx $gtest/src/$src.cc"
    echo "  warn ="
    echo "  extra = -I$gtest"
    objs+=("obj/$src.o")
  done
  echo "build kernel_tests: link ${objs[*]}"
} >"$out/build.ninja.new"
if ! cmp -s "$out/build.ninja.new" "$out/build.ninja" 2>/dev/null; then mv "$out/build.ninja.new" "$out/build.ninja"; else rm "$out/build.ninja.new"; fi

ninja -C "$out" kernel_tests
if $build_only; then exit 0; fi

status=0
# Each CPU with the best kernel table it must be given (checked by Dispatch.AvailableIsasAndSelection).
for cpu_isa in max:neon-i8mm cortex-a76:neon-dotprod cortex-a53:neon; do
  cpu=${cpu_isa%%:*}
  echo "test-arm64-kernels: running the kernel tests on an emulated ARM64 CPU ($cpu, kernels ${cpu_isa##*:})"
  if ! QEMU_CPU=$cpu HEARTH_TEST_EXPECT_BEST_ISA=${cpu_isa##*:} "$qemu" "$out/kernel_tests" --gtest_brief=1; then
    echo "test-arm64-kernels: kernel tests failed on the emulated $cpu" >&2
    status=1
  fi
done
exit $status
