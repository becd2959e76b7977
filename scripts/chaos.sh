#!/usr/bin/env bash
# The chaos test of docs/RELIABILITY.md: ROUNDS (default 100) rounds of
# SIGKILL of a `work` process with runs in flight, on each store in STORES
# (default sqlite,postgres,mongo), then a check that no document was lost or
# duplicated, that every blob matches its sha256 and that the orphan sweep
# leaves no unreferenced blob. It needs the test servers
# (scripts/test-services.sh up); each store's line starting "CHAOS" is the
# figure.
#
#   scripts/chaos.sh                   # 100 rounds on each store
#   ROUNDS=20 STORES=sqlite scripts/chaos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh env)"
export INTAKE_TEST_STRICT=1
export INTAKE_CHAOS_ROUNDS=${ROUNDS:-100}
export INTAKE_CHAOS_STORES=${STORES:-sqlite,postgres,mongo}
set +e
go test -count=1 -run '^TestChaosKillWorker$' -timeout 3h -v ./cmd/intake 2>&1 |
  grep -aE 'CHAOS|^(=== RUN|--- |ok|FAIL|PASS)|chaos_test.go'
# The exit status of go test, not of grep.
exit "${PIPESTATUS[0]}"
