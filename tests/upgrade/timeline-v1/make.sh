#!/usr/bin/env bash
# Rebuilds timeline-v1.db.gz: a timeline written by the last cmkwatch with
# timeline schema 1 (commit 36b8f98), for the schema migration tests. Not run
# by the build or the tests; kept so the fixture can be made again.
#   tests/upgrade/timeline-v1/make.sh OLD_BUILD OUT
# OLD_BUILD is the build directory of a checkout of 36b8f98
# (`git worktree add /tmp/v1 36b8f98 && cd /tmp/v1 && cmake --preset dev &&
#  cmake --build --preset dev --target cmkwatch-analyzer cmkwatch-collector cmkwatch`).
# The analyzer's retention prune uses the wall clock: run this in 2026 after
# August, so January is pruned and November kept.
set -euo pipefail
old=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out/in"
/usr/bin/python3 -I "$here/make-records.py" "$out/in"
db=$out/timeline.db
ep="ipc://$out/analyzer.sock"
"$old/analyzer/cmkwatch-analyzer" --db "$db" --bind "$ep" --http "" 2> "$out/analyzer.log" &
a=$!
"$old/collector/cmkwatch-collector" --connect "$ep" --spool "$out/collector.spool" --id fixture "$out/in" \
  2> "$out/collector.log" &
c=$!
for _ in $(seq 1 120); do
  n=$(sqlite3 "$db" "SELECT count(*) FROM events" 2>/dev/null || echo 0)
  [ "$n" = 2400 ] && break
  sleep 0.5
done
kill -TERM "$c" "$a"
wait "$c" "$a" || true
# Retention runs when the analyzer starts: January (older than 120 days) goes,
# leaving chain anchors, one chain (the retired vault) pruned entirely.
"$old/analyzer/cmkwatch-analyzer" --db "$db" --bind "$ep" --http "" --retention-days 120 2>> "$out/analyzer.log" &
a=$!
sleep 3
kill -TERM "$a"
wait "$a" || true
"$old/cli/cmkwatch" verify --db "$db"
# Checkpointed and vacuumed (pages only; every row as the analyzer wrote it).
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"
gzip -9 -n -c "$db" > "$here/timeline-v1.db.gz"
# What that cmkwatch showed of it: the migrated timeline must show the same.
"$old/cli/cmkwatch" timeline --db "$db" --json --limit 1000000 | gzip -9 -n > "$here/timeline-v1.jsonl.gz"
