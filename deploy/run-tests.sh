#!/usr/bin/env bash
# README command two (and all of CI): install what is missing, then
#  1. gcc: build everything, run unit, integration and fuzz-replay tests;
#  2. clang with ASan + UBSan: build everything, run the same tests;
#  3. clang libFuzzer targets: run each for CMKWATCH_FUZZ_SECONDS (20 s).
# Any failure stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

./deploy/install-deps.sh

echo "== gcc build and tests"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs"

echo "== clang + ASan/UBSan build and tests"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan-ubsan -j"$jobs"

echo "== libFuzzer runs (clang, ASan + UBSan)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$jobs"
if ! ctest --preset fuzz -j"$jobs"; then
  # The tail of CI's output is what a reader sees first: end it with each
  # crashing input (base64, so it can be saved as a regression) and the
  # sanitizer's one-line summary of what it does.
  echo "== libFuzzer found inputs that fail; each is below"
  for f in build/fuzz/fuzz-artifacts/*/*; do
    [ -f "$f" ] || continue
    t=$(basename "$(dirname "$f")")
    echo "-- $t: $(basename "$f") ($(stat -c %s "$f") bytes)"
    head -c 6000 "$f" | base64 -w 0; echo
    "build/fuzz/fuzz/fuzz_$t" "$f" 2>&1 | grep -E "SUMMARY|ERROR|fuzz property failed|#[0-3] " | head -n 8 || true
  done
  echo "-- what the failing runs said:"
  grep -aE "==ERROR|SUMMARY|fuzz property|ALARM|out-of-memory|leak|deadly signal|Test Failed|^[0-9]+/[0-9]+ Test" \
    build/fuzz/Testing/Temporary/LastTest.log | tail -n 30 || true
  exit 1
fi
