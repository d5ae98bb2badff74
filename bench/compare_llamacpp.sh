#!/bin/bash
# Side-by-side speed of hearth and llama.cpp's llama-bench on the same GGUF files, threads and
# test sizes, run alternately so that both see the same machine state (memory speed on a VM
# can change from minute to minute: compare rows of the same round, and read the bandwidth
# hearth measures after each of its runs).
#
#   bench/compare_llamacpp.sh LLAMA_BENCH MODEL.gguf [MODEL.gguf ...]
#
# LLAMA_BENCH is a llama-bench binary you built yourself (hearth does not fetch or build it).
# llama.cpp repacks Q4_0, Q4_K and other types into interleaved rows at load time (a second
# copy of those weights in memory); hearth never copies weights. For a comparison with the
# weights used as stored, build llama-bench with model parameter use_extra_bufts = false and
# pass it as LLAMA_BENCH_AS_STORED=path. Environment: HEARTH (default build/release/hearth),
# P (512), N (64), R (3), T (2), ROUNDS (1).
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
llama_bench=$1
shift
hearth=${HEARTH:-build/release/hearth}
p=${P:-512} n=${N:-64} r=${R:-3} t=${T:-2}
for tool in "$hearth" "$llama_bench" ${LLAMA_BENCH_AS_STORED:+"$LLAMA_BENCH_AS_STORED"}; do
  if [ ! -x "$tool" ]; then
    echo "compare_llamacpp: $tool is not an executable file" >&2
    exit 2
  fi
done

for round in $(seq "${ROUNDS:-1}"); do
  for model in "$@"; do
    echo "=== round $round: $model ($(date +%T))"
    echo "--- hearth"
    "$hearth" bench "$model" -p "$p" -n "$n" -r "$r" -t "$t" 2>&1 |
      grep -E '\| (pp|tg)[0-9]+ |memory bandwidth|read bandwidth|per repetition|huge pages'
    echo "--- llama.cpp"
    "$llama_bench" -m "$model" -p "$p" -n "$n" -r "$r" -t "$t" 2>&1 | grep -E '\| +(pp|tg)[0-9]+ '
    if [ -n "${LLAMA_BENCH_AS_STORED:-}" ]; then
      echo "--- llama.cpp, weights as stored (no repacking)"
      "$LLAMA_BENCH_AS_STORED" -m "$model" -p "$p" -n "$n" -r "$r" -t "$t" 2>&1 | grep -E '\| +(pp|tg)[0-9]+ '
    fi
  done
done
