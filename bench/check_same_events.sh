#!/usr/bin/env bash
# Checks that two builds of `cmkwatch` turn the same input into the same
# events, byte for byte: for a parser speed-up that must not change
# behaviour. Runs `cmkwatch inspect --raw` (events on stdout, quarantine
# entries and the summary on stderr, and the exit status) with each binary
# over every file given, plus the repository's samples, test fixtures, fuzz
# corpora and regressions and ../shared/corpus, and compares the outputs.
#
#   bench/check_same_events.sh BEFORE/cmkwatch AFTER/cmkwatch [PATH...]
#
# PATHs are files or directories (every regular file below is read, whatever
# its name, so fuzz inputs without an extension count too); pass the
# generated benchmark files (cmkwatch-bench-gen) here. Each file is also read
# with every explicit --format, so parsers are compared on records they
# reject as well. Exit status 0 when everything matched, 1 otherwise.
set -uo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BEFORE_CMKWATCH AFTER_CMKWATCH [PATH...]" >&2
  exit 2
fi
before="$1" after="$2"
shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

inputs=()
for p in "$@" "$root/samples" "$root/tests/fixtures" "$root/fuzz/corpus" "$root/fuzz/regressions" \
         "$root/../shared/corpus"; do
  [[ -e "$p" ]] || continue
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$p" -type f -print0 | sort -z)
done

# One run: stdout, stderr and the exit status, hashed (outputs of the
# generated files run to hundreds of MB).
run() {
  local bin="$1" file="$2"
  shift 2
  { "$bin" inspect --raw "$@" "$file" 2>&1; echo "exit=$?"; } | sha256sum
}

compared=0 differed=0
for f in "${inputs[@]}"; do
  for fmt in auto activity kvaudit azurediagnostics eventgrid arm; do
    # Explicit formats only for small files: the point is rejected records.
    if [[ "$fmt" != auto && $(stat -c %s "$f") -gt 10000000 ]]; then continue; fi
    a="$(run "$before" "$f" --format "$fmt")"
    b="$(run "$after" "$f" --format "$fmt")"
    compared=$((compared + 1))
    if [[ "$a" != "$b" ]]; then
      differed=$((differed + 1))
      echo "DIFFERS: $f (--format $fmt)"
      if [[ $(stat -c %s "$f") -lt 1000000 ]]; then
        diff <("$before" inspect --raw --format "$fmt" "$f" 2>&1) <("$after" inspect --raw --format "$fmt" "$f" 2>&1) |
          head -20
      fi
    fi
  done
done
echo "check_same_events: $compared runs over ${#inputs[@]} files, $differed differed"
[[ $differed -eq 0 ]]
