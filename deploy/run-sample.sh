#!/usr/bin/env bash
# README command one: install what is missing, build (release), and run the
# main job on the bundled sample data:
#   1. `cmkwatch inventory import` seeds a fresh timeline (out/sample/timeline.db)
#      with the estate's ARM snapshots, as a new deployment would,
#   2. cmkwatch-analyzer on it (its rules start from that state),
#   3. cmkwatch-collector following samples/ and sending to it over ZeroMQ,
#   4. wait until every sample event is stored,
#   5. print the timeline of the sample vault, `cmkwatch verify`, and the
#      alerts the incident raised,
#   6. stop both with SIGTERM, as systemd would.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"

bin=build/release
out=out/sample
rm -rf "$out"
mkdir -p "$out"
endpoint="ipc://$PWD/$out/analyzer.sock"
vault=/subscriptions/7d1c2b3a-0000-4000-8000-00000000c0de/resourcegroups/rg-ai-prod/providers/microsoft.keyvault/vaults/contoso-cmk-kv

# What the collector should deliver: every record the parsers accept.
"$bin/cli/cmkwatch" inspect samples/ > "$out/sample-events.jsonl"
expected=$(wc -l < "$out/sample-events.jsonl")

"$bin/cli/cmkwatch" inventory import --db "$out/timeline.db" samples/inventory

"$bin/analyzer/cmkwatch-analyzer" --db "$out/timeline.db" --bind "$endpoint" --http "" 2> "$out/analyzer.log" &
analyzer=$!
"$bin/collector/cmkwatch-collector" --connect "$endpoint" --spool "$out/collector.spool" --id sample samples/ \
  2> "$out/collector.log" &
collector=$!
stop() {
  kill -TERM "$collector" "$analyzer" 2>/dev/null || true
  wait "$collector" 2>/dev/null || true
  wait "$analyzer" 2>/dev/null || true
}
trap stop EXIT

stored=0
for _ in $(seq 1 300); do
  stored=$("$bin/cli/cmkwatch" timeline --db "$out/timeline.db" --json --limit 100000 2>/dev/null | wc -l || echo 0)
  [ "$stored" -ge "$expected" ] && break
  sleep 0.1
done
if [ "$stored" -lt "$expected" ]; then
  echo "run-sample: only $stored of $expected events were stored; the daemons said:" >&2
  tail -n 20 "$out/analyzer.log" "$out/collector.log" >&2
  exit 1
fi

echo
echo "== $stored events from samples/ stored in $out/timeline.db. Timeline of the sample vault:"
"$bin/cli/cmkwatch" timeline --db "$out/timeline.db" --resource "$vault"
echo
echo "== cmkwatch verify --db $out/timeline.db"
"$bin/cli/cmkwatch" verify --db "$out/timeline.db"
echo
echo "== cmkwatch alerts --db $out/timeline.db --status all   (what the rules raised; cmkwatch rules lists them)"
"$bin/cli/cmkwatch" alerts --db "$out/timeline.db" --status all
echo
echo "== delivered: the ALERT lines above came from the analyzer's console sink; its file sink wrote"
echo "   $(wc -l < "$out/alerts.jsonl") alert changes as JSON Lines to $out/alerts.jsonl"

trap - EXIT
stop
echo
echo "Both daemons stopped cleanly. Their logs: $out/analyzer.log, $out/collector.log"
