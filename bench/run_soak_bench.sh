#!/usr/bin/env bash
# Soak (issue 8): a collector and an analyzer for 30 minutes at a steady
# 5,000 events/s, with alerts opening and resolving every second and the
# analyzer's sinks writing a file and posting to a webhook receiver on
# loopback. Prints, every minute, both daemons' RSS and open descriptors,
# the database size, events stored and the interval's append → analyzer
# latency p99; compare the first and last rows.
#
#   bench/run_soak_bench.sh                                   30 min at 5k/s
#   SOAK_SECONDS=120 SAMPLE_EVERY=10 bench/run_soak_bench.sh  a quick look
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${SOAK_SECONDS:-1800}"
rate="${RATE:-5000}"
every="${SAMPLE_EVERY:-60}"
work="${WORK:-$root/build/soak-bench}"
jobs="${JOBS:-2}"

cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs" --target cmkwatch-bench-gen cmkwatch-bench-pipeline cmkwatch-analyzer \
  cmkwatch-collector
bin="$root/build/release"
rm -rf "$work"
mkdir -p "$work"
"$bin/bench/cmkwatch-bench-gen" --out "$work/gen" --kv-records 10 --activity-records 0 >/dev/null

/usr/bin/python3 -I tests/receivers/http_receiver.py --port-file "$work/hook.port" --log "$work/hook.log" \
  > "$work/hook.out" 2>&1 &
hook=$!
trap 'kill "$hook" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/hook.port" ] && break; sleep 0.1; done
port="$(cat "$work/hook.port")"

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/bench/cmkwatch-bench-pipeline" --analyzer "$bin/analyzer/cmkwatch-analyzer" \
  --collector "$bin/collector/cmkwatch-collector" --input "$work/gen/kv_audit.jsonl" --work "$work/run" \
  --mode soak --rate "$rate" --seconds "$seconds" --sample-every "$every" \
  --webhook-url "http://127.0.0.1:$port/hook"
echo "webhook receiver: $(wc -l < "$work/hook.log") deliveries; file sink: $(wc -l < "$work/run/alerts.jsonl") lines"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
