#!/usr/bin/env bash
# Instructions per record of the pipeline mode, counted by callgrind: a
# figure that does not move when other work shares the machine (wall and CPU
# time do, by 10 % and more here). Compares builds, not absolute speed:
# under valgrind simdjson picks its haswell kernels, and callgrind counts
# instructions, not cycles.
#
#   bench/count_instructions.sh BUILD/bench/cmkwatch-bench-parse [BUILD/bench/cmkwatch-bench-parse ...]
#
# The marginal cost is taken from two generated sizes (1000 / 2000 Key Vault
# and 300 / 600 Activity Log records, made with the first binary's
# cmkwatch-bench-gen), so start-up and the untimed file load cancel out.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 CMKWATCH_BENCH_PARSE..." >&2
  exit 2
fi
gen="$(dirname "$1")/cmkwatch-bench-gen"
data="$(mktemp -d)"
trap 'rm -rf -- "$data"' EXIT
"$gen" --out "$data/a" --kv-records 1000 --activity-records 300 >/dev/null
"$gen" --out "$data/b" --kv-records 2000 --activity-records 600 >/dev/null

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --runs 1 --min-seconds 0 --modes pipeline "$2" 2>&1 |
    sed -n 's/.*Collected : //p'
}
for bin in "$@"; do
  for f in kv_audit:1000 activity:300; do
    name=${f%%:*} n=${f##*:}
    a=$(count "$bin" "$data/a/$name.jsonl")
    b=$(count "$bin" "$data/b/$name.jsonl")
    # Two passes per run: the untimed warm-up and one timed pass.
    echo "$bin $name.jsonl: $(((b - a) / (2 * n))) instructions/record"
  done
done
