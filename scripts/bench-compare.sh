#!/usr/bin/env bash
# Runs `river bench` and `intake bench` side by side on one PostgreSQL
# server, in one run, each on a scratch database of its own, and prints both
# rates and their ratio; then `intake bench` on a scratch SQLite file.
#
# Both insert N no-op jobs first and work them down; each prints its rate
# from the start of its workers to the last job worked. River's CLI is built
# once from the Go module proxy at a pinned version (scripts/install-tools.sh
# river, into ~/.cache/intake-tools); intake is built from this checkout.
#
# Needs PostgreSQL on 127.0.0.1:5432 with user postgres (scripts/test-services.sh
# up), psql and Go. Creates and drops the databases river_bench_PID and
# intake_bench_PID.
#
# Usage: scripts/bench-compare.sh
# Environment:
#   N          jobs per PostgreSQL bench (default 200000, as river bench -n)
#   SQLITE_N   jobs for the SQLite bench (default 20000; 0 skips it)
#   WORKERS    intake bench --workers (default: intake's default)
#   ROUNDS     how many times to run the pair, alternating (default 1)
#   PGHOST_URL server URL without database (default postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-200000}
sqlite_n=${SQLITE_N:-20000}
rounds=${ROUNDS:-1}
server=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
tools=${TOOLS:-$HOME/.cache/intake-tools}
work=$(mktemp -d)
river_db=river_bench_$$
intake_db=intake_bench_$$

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -q -X -v ON_ERROR_STOP=1 -d "$server/postgres?sslmode=disable" "$@" >/dev/null; }
cleanup() {
  psql_admin -c "DROP DATABASE IF EXISTS $river_db WITH (FORCE)" -c "DROP DATABASE IF EXISTS $intake_db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

TOOLS=$tools scripts/install-tools.sh river
river=$tools/river
intake=$work/intake
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$intake" ./cmd/intake

fresh() { psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
url() { echo "$server/$1?sslmode=disable"; }

intake_args=()
[[ -n ${WORKERS:-} ]] && intake_args+=(--workers "$WORKERS")

echo "bench-compare: $(cat "$tools/.river.version") vs intake $(git describe --always --dirty 2>/dev/null || echo dev), -n $n"
declare -a ratios=()
for round in $(seq "$rounds"); do
  echo "== round $round: river bench -n $n; load: $(uptime | sed 's/.*load average: //')"
  fresh "$river_db"
  "$river" migrate-up --database-url "$(url "$river_db")" >/dev/null
  "$river" bench --database-url "$(url "$river_db")" -n "$n" | tee "$work/river.out"
  river_rate=$(sed -n 's/.*overall job\/sec \[ *\([0-9.]*\) *\].*/\1/p' "$work/river.out" | tail -1)

  echo "== round $round: intake bench -n $n; load: $(uptime | sed 's/.*load average: //')"
  fresh "$intake_db"
  "$intake" bench --database-url "$(url "$intake_db")" -n "$n" "${intake_args[@]}" | tee "$work/intake.out"
  intake_rate=$(tail -1 "$work/intake.out" | awk '$2 == "jobs/s" {print $1}')

  if [[ -z $river_rate || -z $intake_rate ]]; then
    echo "bench-compare: could not read a rate (river: '$river_rate', intake: '$intake_rate')" >&2
    exit 1
  fi
  ratio=$(awk -v a="$intake_rate" -v b="$river_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  ratios+=("$ratio")
  echo "== round $round: river $river_rate jobs/s, intake $intake_rate jobs/s: intake/river = ${ratio}x"
done

if ((sqlite_n > 0)); then
  echo "== intake bench -n $sqlite_n on SQLite; load: $(uptime | sed 's/.*load average: //')"
  "$intake" bench --database-url "sqlite://$work/sqlite/bench.db" -n "$sqlite_n" "${intake_args[@]}" | tee "$work/sqlite.out"
  sqlite_rate=$(tail -1 "$work/sqlite.out" | awk '$2 == "jobs/s" {print $1}')
fi

echo
echo "summary (-n $n on PostgreSQL, same server, same run):"
echo "  intake/river per round: ${ratios[*]/%/x}"
[[ -n ${sqlite_rate:-} ]] && echo "  intake on SQLite (-n $sqlite_n): $sqlite_rate jobs/s"
echo "  load now: $(uptime | sed 's/.*load average: //')"
