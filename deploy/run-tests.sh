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
ctest --preset fuzz -j"$jobs"
