#!/usr/bin/env bash
# Replay against what a user would otherwise reach for (issue 6): the same
# generated archive (1,000,000 Key Vault records + 200,000 Activity Log
# records) through
#   1. cmkwatch replay: full state + rules + hash-chained timeline with the
#      raw records kept + JSON and HTML report (peak RSS via /usr/bin/time);
#   2. jq, filtering the files for the sensitive operations (filter only);
#   3. sqlite3, loading the records as JSON, extracting the fields,
#      indexing them and querying the sensitive operations.
# Prints records/s for each and the ratios against the goals (replay at
# >= 2x jq and >= 3x sqlite3, database <= 0.5x input bytes, RSS < 512 MB).
#
#   bench/run_replay_bench.sh                          the full size
#   KV_RECORDS=100000 ACTIVITY_RECORDS=20000 bench/run_replay_bench.sh   a quick run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
kv="${KV_RECORDS:-1000000}"
act="${ACTIVITY_RECORDS:-200000}"
work="${WORK:-$root/build/replay-bench}"
jobs="${JOBS:-2}"
for tool in jq sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "run_replay_bench: needs $tool (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs" --target cmkwatch-bench-gen cmkwatch
bin="$root/build/release"
rm -rf "$work"
mkdir -p "$work"
"$bin/bench/cmkwatch-bench-gen" --out "$work/gen" --kv-records "$kv" --activity-records "$act" >/dev/null
records=$((kv + act))
input_bytes=$(cat "$work/gen/kv_audit.jsonl" "$work/gen/activity.jsonl" | wc -c)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $records records, $input_bytes bytes"

seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
now() { date +%s.%N; }

# 1. replay
t0=$(now)
/usr/bin/time -v -o "$work/replay.time" "$bin/cli/cmkwatch" replay --no-progress --db "$work/replay.db" \
  --json-report "$work/replay.json" --report "$work/replay.html" "$work/gen/kv_audit.jsonl" "$work/gen/activity.jsonl" \
  > "$work/replay.out"
t1=$(now)
replay_s=$(seconds "$t0" "$t1")
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/replay.time")
db_bytes=$(stat -c %s "$work/replay.db")
[ -f "$work/replay.db-wal" ] && db_bytes=$((db_bytes + $(stat -c %s "$work/replay.db-wal")))

# 2. jq: the sensitive operations only, no state, no storage. The filter is
# written for speed (exact names, then a suffix test on the upper-cased
# ARM operation): a regular expression over operationName made jq 2x slower.
filter='(.operationName | strings) as $o | select(($o | IN("KeyDelete", "KeyPurge", "KeyUpdate", "KeyRotate", "KeyImport", "KeyRestore", "KeyRecover", "KeyCreate", "VaultDelete", "VaultPut", "VaultPatch", "SetAccessPolicy")) or ($o | ascii_upcase | (endswith("/WRITE") or endswith("/DELETE") or endswith("/ACTION"))))'
t0=$(now)
jq -c "$filter" "$work/gen/kv_audit.jsonl" "$work/gen/activity.jsonl" > "$work/jq.out"
t1=$(now)
jq_s=$(seconds "$t0" "$t1")

# 3. sqlite3: load as JSON, extract, index, query
us=$'\x1f'  # a byte no JSON record holds, as the column separator
t0=$(now)
sqlite3 "$work/sqlite.db" <<SQL > "$work/sqlite.out"
PRAGMA journal_mode = WAL;
CREATE TABLE raw (j TEXT);
.mode ascii
.separator "$us" "\n"
.import $work/gen/kv_audit.jsonl raw
.import $work/gen/activity.jsonl raw
CREATE TABLE ev AS SELECT json_extract(j, '\$.time') AS t, json_extract(j, '\$.operationName') AS op,
  lower(json_extract(j, '\$.resourceId')) AS rid, json_extract(j, '\$.resultSignature') AS result, j FROM raw;
DROP TABLE raw;
CREATE INDEX ev_op ON ev (op);
CREATE INDEX ev_rid_t ON ev (rid, t);
.mode list
SELECT count(*) FROM ev WHERE op IN ('KeyDelete', 'KeyPurge', 'KeyUpdate', 'KeyRotate', 'VaultDelete', 'VaultPut',
  'VaultPatch', 'SetAccessPolicy') OR op LIKE '%/WRITE' OR op LIKE '%/DELETE';
SQL
t1=$(now)
sqlite_s=$(seconds "$t0" "$t1")
sqlite_bytes=$(du -cb "$work"/sqlite.db* | tail -1 | cut -f1)

python3 - "$records" "$input_bytes" "$replay_s" "$rss_kb" "$db_bytes" "$jq_s" "$sqlite_s" "$sqlite_bytes" <<'PY'
import sys
n, inb, rs, rss, db, js, ss, sb = (float(x) for x in sys.argv[1:])
r, j, s = n / rs, n / js, n / ss
print(f"replay   {rs:8.2f} s  {r:10.0f} records/s  peak RSS {rss/1024:.0f} MiB  database {db/1e6:.0f} MB = {db/inb:.2f}x input")
print(f"jq       {js:8.2f} s  {j:10.0f} records/s  (filter only)")
print(f"sqlite3  {ss:8.2f} s  {s:10.0f} records/s  database {sb/1e6:.0f} MB = {sb/inb:.2f}x input")
print(f"ratios: replay/jq {r/j:.2f} (goal >= 2), replay/sqlite3 {r/s:.2f} (goal >= 3), "
      f"db {db/inb:.2f}x (goal <= 0.5), RSS {rss/1024:.0f} MiB (goal < 512)")
PY
grep -E '^replay: (took|[0-9]+ alerts)' "$work/replay.out"
tail -n 3 "$work/replay.out"
rm -rf "$work/gen" "$work"/sqlite.db*
