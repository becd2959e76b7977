#!/usr/bin/env bash
# Runs a fuzzing campaign on every fuzz target of intake, one after the
# other, each for FUZZTIME (default 2m) with FUZZ_PARALLEL workers
# (default 1), and prints one line per target: its result, the elapsed time
# and the executions of its last status line. The full output of each
# target is kept in FUZZ_LOG_DIR (default a new temporary directory).
# New interesting inputs stay in the Go build cache's fuzz corpus; a crasher
# is written to the package's testdata/fuzz and fails the target.
#
#   scripts/fuzz.sh                         # every target, 2 minutes each
#   FUZZTIME=10m scripts/fuzz.sh            # the issue's campaign length
#   scripts/fuzz.sh ./internal/api FuzzCursors
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-2m}
parallel=${FUZZ_PARALLEL:-1}
logs=${FUZZ_LOG_DIR:-$(mktemp -d -t intake-fuzz.XXXXXX)}
mkdir -p "$logs"

targets=(
  "./internal/api FuzzTriggerRequest"
  "./internal/api FuzzCreateJobRequest"
  "./internal/api FuzzCursors"
  "./internal/store FuzzDatabaseURL"
  "./internal/store FuzzDecodeCursor"
  "./internal/source/filings FuzzConfig"
  "./internal/source/file FuzzConfig"
  "./internal/source/file FuzzCheckpoint"
  "./internal/source/api FuzzParseLinks"
  "./internal/source/api FuzzConfig"
  "./internal/source/database FuzzConfig"
  "./internal/blob/azureblob FuzzParseURL"
)
if (($# == 2)); then
  targets=("$1 $2")
fi

failed=0
echo "fuzztime $fuzztime, $parallel worker(s), logs in $logs"
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log="$logs/$(echo "$pkg" | tr '/.' '__')-$name.log"
  start=$(date +%s)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg" >"$log" 2>&1; then
    result=PASS
  else
    result=FAIL
    failed=1
  fi
  last=$(grep -E '^fuzz: elapsed: .*execs:' "$log" | tail -1 || true)
  printf '%-4s %-28s %-22s wall %4ds  %s\n' "$result" "$pkg" "$name" "$(($(date +%s) - start))" "${last#fuzz: }"
done
exit "$failed"
