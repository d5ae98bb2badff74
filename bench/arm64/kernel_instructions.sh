#!/usr/bin/env bash
# Instructions the ARM64 dot-product kernels execute per 32 values and (row, token), counted
# under qemu-aarch64 (its exec log), for comparing kernel variants without an ARM machine.
# A count is not a speed: cores differ in how many of which instructions they issue per
# cycle, and decoding is bound by memory on most of them. But fewer instructions for the same
# work is what a kernel change on ARM should show first.
#
# usage: bench/arm64/kernel_instructions.sh [TYPE...]   (default: all eight quantized types)
#        bench/arm64/kernel_instructions.sh attention     (the attention kernels, per cache row)
# Needs what scripts/test-arm64-kernels.sh needs; builds in build/arm64-kernels.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/arm64-kernels
scripts/test-arm64-kernels.sh --build-only "$out" >/dev/null
cxx=${HEARTH_ARM64_CXX:-aarch64-linux-gnu-g++}
qemu=${HEARTH_ARM64_QEMU:-qemu-aarch64}
bin=$out/kernel_instructions
"$cxx" -std=c++20 -O3 -DNDEBUG -DFMT_HEADER_ONLY -Isrc -idirafter /usr/include bench/arm64/kernel_instructions.cpp \
  "$out"/obj/src_*.o -static -Wl,--no-warnings -o "$bin" -lpthread
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Instructions executed by one run: each translated block's size (in_asm) times the times it
# ran (exec; nochain makes every execution show).
count() {
  QEMU_CPU=max "$qemu" -d in_asm,exec,nochain -D "$log" "$bin" "$@" >/dev/null || return 1
  python3 - "$log" <<'PY'
import re, sys
sizes, start, total = {}, None, 0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^0x([0-9a-f]+):\s", line)
    if m:
        if start is None:
            start = int(m.group(1), 16)
            sizes[start] = 0
        sizes[start] += 1
        continue
    if not line.strip() or line.startswith("IN:"):
        start = None
        continue
    m = re.match(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/", line)
    if m:
        total += sizes.get(int(m.group(1), 16), 0)
print(total)
PY
}
if [ "${types[0]}" = attention ]; then
  # Per cache row of 8 heads × 64 (512 rows per call); the tables share these kernels, so
  # generic against neon.
  printf '%-9s %-7s %10s %10s\n' attention shape generic neon
  for shape in scores sums exp; do
    line=$(printf '%-9s %-7s' attention "$shape")
    for isa in generic neon; do
      a=$(count "$isa" attention "$shape" 2) && b=$(count "$isa" attention "$shape" 6)
      line+=$(printf ' %10s' "$(python3 -c "print(f'{($b - $a) / 4 / 512:.1f}')")")
    done
    echo "$line"
  done
  exit 0
fi
printf '%-6s %-6s %14s %14s %14s\n' type shape neon neon-dotprod neon-i8mm
for t in "${types[@]}"; do
  for shape in one two four 2x2 4x2 pack packed; do
    # m: outputs (row × token pairs) per call, so the count is per 32 values of each; for
    # pack, the eight rows packed (its cost is shared by every token of a token block).
    case $shape in one) m=1 ;; two) m=2 ;; four|2x2) m=4 ;; 4x2|pack) m=8 ;; packed) m=64 ;; esac
    line=$(printf '%-6s %-6s' "$t" "$shape")
    for isa in neon neon-dotprod neon-i8mm; do
      # The i8mm table has its own kernels for two rows of several tokens only.
      if [ $isa = neon-i8mm ] && { [ $m -lt 4 ] || [ $shape = four ]; }; then
        line+=$(printf ' %14s' '(dotprod)')
        continue
      fi
      # Kernels a table does not have print "-" (2x2 and 4x2 exist only where the table has them).
      if ! a=$(count "$isa" "$t" "$shape" 2 2>/dev/null) || ! b=$(count "$isa" "$t" "$shape" 6 2>/dev/null); then
        line+=$(printf ' %14s' -)
        continue
      fi
      line+=$(printf ' %14s' "$(python3 -c "print(f'{($b - $a) / 4 / (4096 * $m) * 32:.1f}')")")
    done
    echo "$line"
  done
done
