#!/usr/bin/env bash
# Open-loop latency of the API: vegeta sends a constant rate of requests,
# whatever the answers take (so a slow server queues requests instead of
# slowing the load down), at each of RATES, first GET
# /api/v1/jobs/status/{id} over jobs created beforehand, then POST
# /create-job ({"num_jobs": 1}); before each step serve's backlog from the
# last one drains. `intake serve` runs on a scratch PostgreSQL database on
# loopback with API-key authentication, as in production; no worker runs,
# so the created jobs stay pending. For each rate it prints the requests
# answered 2xx per second and their p50/p99/max latency, the requests shed
# with 503 by admission control (INTAKE_HTTP_MAX_IN_FLIGHT), other errors
# (another status, or no answer within 10 s), the RSS of
# serve and the load average.
#
# vegeta is built once from the Go module proxy at a pinned version
# (scripts/install-tools.sh vegeta, into ~/.cache/intake-tools); intake is
# built from this checkout. vegeta runs on the same machine: on a machine
# with few cores it competes with serve and PostgreSQL for CPU.
#
# Needs PostgreSQL on 127.0.0.1:5432 with user postgres (scripts/test-services.sh
# up), psql, python3 and Go. Uses port 8031 and the database intake_load_PID.
#
# Usage: scripts/load-api.sh
# Environment:
#   RATES      requests per second to try (default "1000 3000 5000")
#   ENDPOINTS  which to load, in order (default "status create")
#   DURATION   per rate and endpoint, in s or m (default 20s)
#   PGHOST_URL server URL without database (default postgres://postgres@127.0.0.1:5432)
#   INTAKE_DATABASE_MAX_CONNS  serve's pool size (default: intake's default)
#   INTAKE_HTTP_MAX_IN_FLIGHT  serve's admission bound (default: intake's; 0 for none)
set -euo pipefail
cd "$(dirname "$0")/.."

rates=${RATES:-1000 3000 5000}
endpoints=${ENDPOINTS:-status create}
duration=${DURATION:-20s}
server=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
tools=${TOOLS:-$HOME/.cache/intake-tools}
addr=127.0.0.1:8031
key=load-test-key-$$
db=intake_load_$$
work=$(mktemp -d)
serve_pid=

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -q -X -v ON_ERROR_STOP=1 -d "$server/postgres?sslmode=disable" "$@" >/dev/null; }
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

TOOLS=$tools scripts/install-tools.sh vegeta
vegeta=$tools/vegeta
intake=$work/intake
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$intake" ./cmd/intake

psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export INTAKE_DATABASE_URL="$server/$db?sslmode=disable" INTAKE_API_KEYS=$key INTAKE_HTTP_ADDR=$addr
export INTAKE_BLOB_URL="file://$work/blobs" INTAKE_DISPATCH=poll INTAKE_LOG_LEVEL=warn
"$intake" migrate >/dev/null
"$intake" serve 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
  "$intake" healthcheck "http://$addr/health" >/dev/null 2>&1 && break
  sleep 0.1
done
"$intake" healthcheck "http://$addr/health" >/dev/null || { cat "$work/serve.log" >&2; exit 1; }

# Jobs for the status requests: 1,000, created through the API.
for _ in $(seq 100); do
  curl -fsS -XPOST "http://$addr/create-job" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"num_jobs": 10}'
  echo
done | python3 -c '
import json, sys
for line in filter(str.strip, sys.stdin):
    for j in json.loads(line)["jobs"]:
        print(j["jobId"])' >"$work/ids"

printf '{"num_jobs": 1}' >"$work/create.json"
printf 'POST http://%s/create-job\nAuthorization: Bearer %s\nContent-Type: application/json\n@%s\n' \
  "$addr" "$key" "$work/create.json" >"$work/create.targets"
while read -r id; do
  printf 'GET http://%s/api/v1/jobs/status/%s\nAuthorization: Bearer %s\n\n' "$addr" "$id" "$key"
done <"$work/ids" >"$work/status.targets"

rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$serve_pid/status"; }
peak() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$serve_pid/status"; }

echo "load-api: intake serve on PostgreSQL ($(psql -X -A -t -d "$INTAKE_DATABASE_URL" -c 'SHOW server_version')), $(cat "$tools/.vegeta.version"), $duration per rate, $(nproc) CPUs"
printf '%-12s %6s %9s %9s %9s %9s %8s %8s %7s %8s  %s\n' endpoint rate answered p50 p99 max shed errors rss_mb peak_mb load
# drain waits until serve answers a status request within 50 ms again (at
# most a minute), so that a step does not inherit the backlog of an
# overloaded one.
drain() {
  local t id
  id=$(head -1 "$work/ids")
  for _ in $(seq 60); do
    sleep 1
    t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 -H "Authorization: Bearer $key" \
      "http://$addr/api/v1/jobs/status/$id" || echo 5)
    awk -v t="$t" 'BEGIN { exit !(t < 0.05) }' && return
  done
}

for endpoint in $endpoints; do
  for rate in $rates; do
    drain
    "$vegeta" attack -rate="$rate/s" -duration="$duration" -timeout=10s -keepalive=true \
      -targets="$work/$endpoint.targets" >"$work/$endpoint-$rate.bin"
    load=$(uptime | sed 's/.*load average: //')
    "$vegeta" encode --to json <"$work/$endpoint-$rate.bin" | python3 -c '
import json, sys
# Latencies are those of the answered requests (2xx); a request shed with
# 503 (INTAKE_HTTP_MAX_IN_FLIGHT) is counted apart, as is any other
# failure (another status, or no answer within the client timeout).
ok, shed, errors = [], 0, 0
for line in sys.stdin:
    r = json.loads(line)
    if r["code"] // 100 == 2:
        ok.append(r["latency"])
    elif r["code"] == 503:
        shed += 1
    else:
        errors += 1
ok.sort()
pct = lambda q: "%.1fms" % (ok[min(len(ok) - 1, int(q * len(ok)))] / 1e6) if ok else "-"
d = sys.argv[3]
secs = float(d[:-1]) * 60 if d.endswith("m") else float(d.rstrip("s"))
print("%-12s %6s %9.0f %9s %9s %9s %8d %8d" % (sys.argv[1], sys.argv[2], len(ok) / secs,
      pct(0.5), pct(0.99), pct(1.0), shed, errors), end="")
' "$endpoint" "$rate" "$duration"
    printf ' %7s %8s  %s\n' "$(rss)" "$(peak)" "$load"
  done
done
if grep -q . "$work/serve.log"; then
  echo "load-api: serve logged warnings or errors (last lines):"
  tail -5 "$work/serve.log"
fi
