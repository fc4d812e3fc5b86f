#!/usr/bin/env bash
# README command one: install what is missing, build (release), and run the
# main job on the bundled sample data: `cmkwatch inspect samples/`, which
# prints every normalized event as JSON Lines. Until the pipeline exists
# (collector → analyzer), inspect is the main job.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
mkdir -p out
./build/release/cli/cmkwatch inspect samples/ > out/sample-events.jsonl
echo
echo "Normalized events written to out/sample-events.jsonl; the first three:"
head -n 3 out/sample-events.jsonl
