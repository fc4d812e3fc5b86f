#!/usr/bin/env bash
# End-to-end benchmark: builds the release preset, generates Key Vault
# records, and runs cmkwatch-bench-pipeline in both modes (one collector and
# one analyzer process on this machine).
#
#   bench/run_pipeline_bench.sh                    1,000,000 records (~1.3 GB) + 30 s at 10k events/s
#   KV_RECORDS=200000 SECONDS_AT_RATE=10 bench/run_pipeline_bench.sh   a quick run
#
# Environment: KV_RECORDS, RATE (latency mode, events/s, default 10000),
# SECONDS_AT_RATE (default 30), WORK (scratch directory, default
# build/pipeline-bench), JOBS (build parallelism, default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
records="${KV_RECORDS:-1000000}"
rate="${RATE:-10000}"
seconds="${SECONDS_AT_RATE:-30}"
work="${WORK:-$root/build/pipeline-bench}"
jobs="${JOBS:-2}"

cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs" --target cmkwatch-bench-gen cmkwatch-bench-pipeline cmkwatch-analyzer \
  cmkwatch-collector
bin="$root/build/release"
mkdir -p "$work"
"$bin/bench/cmkwatch-bench-gen" --out "$work/gen" --kv-records "$records" --activity-records 0
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/bench/cmkwatch-bench-pipeline" --analyzer "$bin/analyzer/cmkwatch-analyzer" \
  --collector "$bin/collector/cmkwatch-collector" --input "$work/gen/kv_audit.jsonl" --work "$work/run"
"$bin/bench/cmkwatch-bench-pipeline" --analyzer "$bin/analyzer/cmkwatch-analyzer" \
  --collector "$bin/collector/cmkwatch-collector" --input "$work/gen/kv_audit.jsonl" --work "$work/run" \
  --mode latency --rate "$rate" --seconds "$seconds"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$work/run" "$work/gen"
