#!/usr/bin/env bash
# Scale-out of `intake work` on one PostgreSQL server: for each N in PROCS
# it creates a scratch database, migrates it, creates JOBS filings jobs
# through `intake serve` (POST /create-job, 10 at a time), stops serve, then
# starts N `intake work` processes at once (INTAKE_FILINGS_DELAY=0, one
# directory of file blobs shared by all, INTAKE_WORKER_CONCURRENCY each) and
# times them from their start until every job is completed. The count is
# read from the jobs table with one exact statement every 0.1 s, so that no
# API process competes with the workers for CPU.
#
# Each run appends a line "procs,jobs,documents,seconds,jobs_per_s,
# documents_per_s" to OUT (rewritten with its header at the start); at the
# end the script prints the table and draws OUT's PNG beside it with
# `go run ./scripts/scaleout`. The documents are those the jobs recorded
# (the sum of their collected counts). intake is built from this checkout.
# Everything listens on loopback; the workers' /metrics on a free port.
#
# Needs PostgreSQL on 127.0.0.1:5432 with user postgres (scripts/test-services.sh
# up), psql, curl, python3 and Go. Creates and drops the database
# intake_scale_PID for each run.
#
# Usage: scripts/scale-out.sh
# Environment:
#   PROCS      numbers of work processes to try (default "1 2 4 8")
#   JOBS       filings jobs per run (default 200)
#   INTAKE_WORKER_CONCURRENCY  jobs each work process runs at once (default 4)
#   INTAKE_TEST_POSTGRES_URL   a database on the server, for CREATE/DROP DATABASE
#              (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   OUT        the CSV (default docs/img/scale-out.csv; the PNG is OUT with .png)
#   TITLE      a note for the chart's title (default "N cores" of this machine)
#   TIMEOUT    seconds to wait for one run's jobs (default 600)
#   SETTLE     seconds of rest before each run after the first (default 120):
#              a run deletes its tens of thousands of blob files at its end,
#              and ext4 without a journal (as on the machine of
#              docs/PERFORMANCE.md) does not reuse an inode for at least a
#              minute after its deletion, so a run started at once spends
#              its creates searching for free inodes: back to back, every
#              run after the first measured about half the rate
set -euo pipefail
cd "$(dirname "$0")/.."

procs=${PROCS:-1 2 4 8}
jobs=${JOBS:-200}
concurrency=${INTAKE_WORKER_CONCURRENCY:-4}
admin_url=${INTAKE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
out=${OUT:-docs/img/scale-out.csv}
png=${out%.csv}.png
title=${TITLE:-$(nproc) cores}
timeout=${TIMEOUT:-600}
settle=${SETTLE:-120}
work=$(mktemp -d)
db=intake_scale_$$
pids=()

# db_url is admin_url with its database replaced by $db.
base=${admin_url%%\?*}
query=
[[ $admin_url == *\?* ]] && query="?${admin_url#*\?}"
db_url="${base%/*}/$db$query"

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -q -X -v ON_ERROR_STOP=1 -d "$admin_url" "$@" >/dev/null; }
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# counts prints "completed failed documents" of the jobs table.
counts() {
  psql -X -A -t -F ' ' -d "$db_url" -c \
    "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status IN ('failed', 'cancelled')), coalesce(sum(collected), 0) FROM jobs"
}

intake=$work/intake
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$intake" ./cmd/intake

export INTAKE_DATABASE_URL=$db_url INTAKE_AUTH=disabled INTAKE_DISPATCH=poll INTAKE_LOG_LEVEL=warn
export INTAKE_FILINGS_DELAY=0 INTAKE_WORKER_CONCURRENCY=$concurrency INTAKE_METRICS_ADDR=127.0.0.1:0

# create_jobs starts serve on the scratch database, creates $jobs jobs and
# stops serve again.
create_jobs() {
  local addr left n
  addr=127.0.0.1:$(free_port)
  INTAKE_HTTP_ADDR=$addr "$intake" serve 2>>"$work/serve.log" &
  pids=($!)
  for _ in $(seq 100); do
    "$intake" healthcheck "http://$addr/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$intake" healthcheck "http://$addr/health" >/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  for ((left = jobs; left > 0; left -= n)); do
    n=$((left < 10 ? left : 10))
    curl -fsS -o /dev/null -XPOST "http://$addr/create-job" -H 'Content-Type: application/json' -d "{\"num_jobs\": $n}"
  done
  stop_all
}

echo "scale-out: intake $(git describe --always --dirty 2>/dev/null || echo dev) on PostgreSQL" \
  "($(psql -X -A -t -d "$admin_url" -c 'SHOW server_version')), $jobs jobs per run, concurrency $concurrency per process, $(nproc) CPUs"
mkdir -p "$(dirname "$out")"
echo 'procs,jobs,documents,seconds,jobs_per_s,documents_per_s' >"$out"
for n in $procs; do
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  "$intake" migrate >/dev/null
  create_jobs
  psql_admin -c CHECKPOINT
  if [[ -n ${rested:-} ]] && ((settle > 0)); then
    echo "  (resting ${settle}s before the run: SETTLE)"
    sleep "$settle"
  fi
  rested=1
  load=$(uptime | sed 's/.*load average: //')
  start=$(date +%s.%N)
  for i in $(seq "$n"); do
    INTAKE_BLOB_URL="file://$work/blobs" INTAKE_WORKER_ID="scale-$n-$i" "$intake" work 2>>"$work/work.log" &
    pids+=($!)
  done
  deadline=$((SECONDS + timeout))
  while :; do
    c=$(counts)
    read -r completed failed documents <<<"$c"
    ((completed + failed >= jobs)) && break
    if ((SECONDS > deadline)); then
      echo "scale-out: $n processes: $completed of $jobs jobs completed after ${timeout}s" >&2
      tail -5 "$work/work.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  end=$(date +%s.%N)
  stop_all
  rm -rf "$work/blobs"
  ((failed == 0)) || { echo "scale-out: $n processes: $failed jobs failed" >&2; tail -5 "$work/work.log" >&2; exit 1; }
  awk -v n="$n" -v j="$jobs" -v d="$documents" -v s="$start" -v e="$end" \
    'BEGIN { t = e - s; printf "%d,%d,%d,%.2f,%.1f,%.1f\n", n, j, d, t, j / t, d / t }' | tee -a "$out"
  echo "  (load before the run: $load)"
done

echo
column -s, -t "$out"
go run ./scripts/scaleout -in "$out" -out "$png" -title "$title"
echo "scale-out: wrote $out and $png"
if grep -q . "$work/work.log"; then
  echo "scale-out: work logged warnings or errors (last lines):"
  tail -5 "$work/work.log"
fi
