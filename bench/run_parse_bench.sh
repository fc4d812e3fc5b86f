#!/usr/bin/env bash
# Builds the release preset, generates the benchmark input into a temporary
# directory under build/, runs cmkwatch-bench-parse and prints its table.
#
#   bench/run_parse_bench.sh                    full sizes (1,000,000 + 200,000 records, ~2.1 GB)
#   KV_RECORDS=100000 ACTIVITY_RECORDS=20000 bench/run_parse_bench.sh   a quick run
#
# Environment: KV_RECORDS, ACTIVITY_RECORDS, SEED (generator), JOBS (build
# parallelism, default 2), KEEP_DATA=1 (keep the generated files),
# BENCH_ARGS (extra cmkwatch-bench-parse options, e.g. "--cpu 1 --runs 7"),
# BUILD_DIR (build a Release tree there instead of the release preset's
# build/release).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

kv_records="${KV_RECORDS:-1000000}"
activity_records="${ACTIVITY_RECORDS:-200000}"
seed="${SEED:-0x636d6b7761746368}"
jobs="${JOBS:-2}"

if [[ -n "${BUILD_DIR:-}" ]]; then
  cmake -S "$root" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMKWATCH_BUILD_TESTS=OFF -DCMKWATCH_BUILD_BENCH=ON >/dev/null
  cmake --build "$BUILD_DIR" -j"$jobs" --target cmkwatch-bench-gen cmkwatch-bench-parse
  bin="$(cd "$BUILD_DIR" && pwd)/bench"
else
  cmake --preset release >/dev/null
  cmake --build --preset release -j"$jobs" --target cmkwatch-bench-gen cmkwatch-bench-parse
  bin="$root/build/release/bench"
fi

mkdir -p "$root/build"
data="$(mktemp -d "$root/build/bench-data.XXXXXX")"
if [[ "${KEEP_DATA:-0}" != 1 ]]; then
  trap 'rm -rf -- "$data"' EXIT
fi

echo "== generating into $data"
"$bin/cmkwatch-bench-gen" --out "$data" --kv-records "$kv_records" --activity-records "$activity_records" --seed "$seed"

echo "== commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of options
"$bin/cmkwatch-bench-parse" ${BENCH_ARGS:-} "$data/kv_audit.jsonl" "$data/activity.jsonl"
if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "== data kept in $data"; fi
