#!/usr/bin/env bash
# Measures pickup latency, insert → claim (each job's started_at − created_at,
# both stamped by the processes at millisecond precision), with `serve` and
# `work` as separate processes on PostgreSQL, for each dispatch mode: polling
# (INTAKE_WORKER_POLL_INTERVAL, 1 s), Redis Streams and LISTEN/NOTIFY.
# Needs the test servers (scripts/test-services.sh up) and `make build`.
# Uses loopback ports 8021 and 9121 and scratch databases intake_pickup_*.
set -euo pipefail
bin=${INTAKE_BIN:-bin/intake}
n=${N:-30}
for mode in poll redis pgnotify; do
  db="intake_pickup_$mode"
  psql -q -h 127.0.0.1 -U postgres -d test -c "drop database if exists $db" -c "create database $db" >/dev/null 2>&1
  export INTAKE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  export INTAKE_BLOB_URL="file://${TMPDIR:-/tmp}/intake-pickup-$mode" INTAKE_FILINGS_DELAY=0 INTAKE_AUTH=disabled INTAKE_LOG_LEVEL=warn
  export INTAKE_HTTP_ADDR=127.0.0.1:8021 INTAKE_METRICS_ADDR=127.0.0.1:9121 INTAKE_DISPATCH=$mode
  export INTAKE_REDIS_URL=redis://127.0.0.1:6379/0 INTAKE_REDIS_STREAM="intake:pickup:$mode"
  "$bin" migrate >/dev/null
  "$bin" serve 2>"${TMPDIR:-/tmp}/intake-pickup-serve.log" & sp=$!
  "$bin" work 2>"${TMPDIR:-/tmp}/intake-pickup-work.log" & wp=$!
  sleep 2
  for _ in $(seq "$n"); do
    curl -s -XPOST localhost:8021/api/v1/jobs/trigger -H 'Content-Type: application/json' \
      -d '{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}' >/dev/null
    sleep 0.$((RANDOM % 5 + 2))
  done
  sleep 2
  curl -s "localhost:8021/api/v1/jobs?limit=500" | python3 -c '
import json,sys,datetime,statistics
p=lambda s: datetime.datetime.fromisoformat(s.replace("Z","+00:00"))
d=sorted((p(j["started_at"])-p(j["created_at"])).total_seconds()*1000 for j in json.load(sys.stdin)["jobs"] if j.get("started_at"))
print(f"'"$mode"': n={len(d)} mean={statistics.mean(d):.1f}ms p50={d[len(d)//2]:.0f}ms max={d[-1]:.0f}ms")'
  kill "$sp" "$wp"; wait "$sp" "$wp" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d test -c "drop database if exists $db" >/dev/null 2>&1
  rm -rf "${TMPDIR:-/tmp}/intake-pickup-$mode"
done
