#!/usr/bin/env bash
# The soak test of docs/RELIABILITY.md: mixed API load against serve and two
# work processes on PostgreSQL for DURATION (default 30m), sampling each
# process's RSS, goroutines and open fds into OUT (default soak.csv). The
# lines starting "SOAK" are the figures. It needs the test servers
# (scripts/test-services.sh up).
#
#   scripts/soak.sh
#   DURATION=10m OUT=/tmp/soak.csv scripts/soak.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit
eval "$(scripts/test-services.sh env)"
export INTAKE_TEST_STRICT=1
export INTAKE_SOAK_DURATION=${DURATION:-30m}
INTAKE_SOAK_OUT=$(realpath -m "${OUT:-soak.csv}")
export INTAKE_SOAK_OUT
go test -count=1 -run '^TestSoak$' -timeout 3h -v ./cmd/intake 2>&1 |
  grep -aE 'SOAK|^(--- |ok|FAIL|PASS)|soak_test.go'
exit "${PIPESTATUS[0]}"
