#!/usr/bin/env bash
# Marginal instructions per record of the pipeline mode (callgrind), from two
# generated sizes: tiny (1000 KV / 300 AL) and tiny2 (2000 / 600).
bin="$1"; d="${2:-/work/main/build/he-data}"
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --runs 1 --min-seconds 0 --modes pipeline "$1" 2>&1 | sed -n 's/.*Collected : //p'; }
for f in kv_audit:1000 activity:300; do
  name=${f%%:*} n=${f##*:}
  a=$(count "$d/tiny/$name.jsonl"); b=$(count "$d/tiny2/$name.jsonl")
  echo "$name: $(( (b - a) / (2 * n) )) instructions/record"
done
