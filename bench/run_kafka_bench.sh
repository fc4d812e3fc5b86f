#!/usr/bin/env bash
# Kafka source benchmark: builds the release preset, generates Key Vault
# records, produces them into librdkafka's mock cluster (cmkwatch-test-kafka,
# 3 brokers on loopback) as Event Hubs-style {"records":[...]} messages, and
# runs cmkwatch-bench-kafka with one collector, then with two collectors
# sharing the partitions (one consumer group), each into a fresh timeline.
#
#   bench/run_kafka_bench.sh                       100,000 records, 100 per message, 32 partitions
#   KV_RECORDS=30000 bench/run_kafka_bench.sh      a quick run
#
# The mock cluster keeps only about the last 5 MB of each partition, so
# records x 1.33 KB / partitions must stay below that (the benchmark refuses
# to run otherwise); 32 partitions is Event Hubs Standard's maximum per hub.
#
# Environment: KV_RECORDS, PER_MESSAGE, PARTITIONS, WORK (scratch directory,
# default build/kafka-bench), JOBS (build parallelism, default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
records="${KV_RECORDS:-100000}"
per_message="${PER_MESSAGE:-100}"
partitions="${PARTITIONS:-32}"
work="${WORK:-$root/build/kafka-bench}"
jobs="${JOBS:-2}"

cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs" --target cmkwatch-bench-gen cmkwatch-bench-kafka cmkwatch-analyzer \
  cmkwatch-collector cmkwatch-test-kafka
bin="$root/build/release"
mkdir -p "$work"
"$bin/bench/cmkwatch-bench-gen" --out "$work/gen" --kv-records "$records" --activity-records 0
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for collectors in 1 2; do
  "$bin/bench/cmkwatch-bench-kafka" --analyzer "$bin/analyzer/cmkwatch-analyzer" \
    --collector "$bin/collector/cmkwatch-collector" --kafka "$bin/tests/kafka_mock/cmkwatch-test-kafka" \
    --input "$work/gen/kv_audit.jsonl" --work "$work/run-$collectors" --per-message "$per_message" \
    --partitions "$partitions" --collectors "$collectors"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done
rm -rf "$work/run-1" "$work/run-2" "$work/gen"
