#!/usr/bin/env bash
# Builds the clang libFuzzer target for the GGUF reader (preset `fuzz`) and runs it for
# FUZZ_SECONDS (default 60) on seeds made from every GGUF in the test data. Exits non-zero on
# any crash, sanitizer report or leak. Used by the `slow` ctest label.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
testdata="${HEARTH_TESTDATA:-../shared/testdata}"
[ -d "$testdata" ] || { echo "fuzz-gguf: test data directory $testdata is missing" >&2; exit 1; }
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_gguf_reader -j "$(nproc)" >/dev/null
seeds="$(mktemp -d)"; work="$(mktemp -d)"
trap 'rm -rf "$seeds" "$work"' EXIT
# Seeds: the metadata part of each file (the first 64 KiB) and the whole small model.
for f in "$testdata"/vocab/*.gguf "$testdata"/models/*.gguf; do
  head -c 65536 "$f" > "$seeds/$(basename "$f").head"
done
cp "$testdata"/models/stories260K.gguf "$seeds/"
./build/fuzz/fuzz/fuzz_gguf_reader "$work" "$seeds" -max_total_time="$seconds" -max_len=2000000 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" 2>&1 | tail -n 15
