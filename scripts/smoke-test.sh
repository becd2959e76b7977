#!/usr/bin/env bash
# Smoke test of a running intake: liveness, readiness, one job from creation
# to completion, its result and one document's bytes, and /metrics.
#
# Usage: scripts/smoke-test.sh [--url URL] [--api-key KEY] [--timeout SECONDS]
#
#   --url        base URL of the API (env INTAKE_URL; default http://127.0.0.1:8000)
#   --api-key    bearer key for /api/* (env INTAKE_API_KEY; empty sends none,
#                for a server running with INTAKE_AUTH=disabled)
#   --timeout    seconds the job may take to complete (env SMOKE_TIMEOUT; default 300)
#   --interval   seconds between status polls (env SMOKE_INTERVAL; default 2)
#   --no-metrics skip the /metrics check (for an edge that refuses /metrics)
#
# Each passing check prints one line on stdout. The first failing check
# prints one line on stderr, "smoke-test: FAIL <check>: <reason>", and exits:
#   1  a check failed (unexpected status or body)
#   2  usage error, or curl/jq missing
#   3  the API cannot be reached
#   4  the API key was refused (401/403)
#   5  the job failed, or did not complete within --timeout
#
# The job is a filings job (the simulated regulatory filings source), which
# needs no egress and no operator configuration. Requests time out after
# 10 s each; nothing is retried except the status poll.
set -euo pipefail

url=${INTAKE_URL:-http://127.0.0.1:8000}
key=${INTAKE_API_KEY:-}
timeout=${SMOKE_TIMEOUT:-300}
interval=${SMOKE_INTERVAL:-2}
metrics=1

fail() { # fail CODE CHECK REASON
  printf 'smoke-test: FAIL %s: %s\n' "$2" "$3" >&2
  exit "$1"
}
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case $1 in
    --url) url=${2:?--url needs a value}; shift 2 ;;
    --api-key) key=${2?--api-key needs a value}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    --interval) interval=${2:?--interval needs a value}; shift 2 ;;
    --no-metrics) metrics=0; shift ;;
    -h | --help) usage ;;
    *) fail 2 usage "unknown argument $1 (see --help)" ;;
  esac
done
[[ $timeout =~ ^[0-9]+$ ]] || fail 2 usage "--timeout must be whole seconds, not $timeout"
[[ $interval =~ ^[0-9]+([.][0-9]+)?$ ]] || fail 2 usage "--interval must be seconds, not $interval"
[[ $url =~ ^https?:// ]] || fail 2 usage "--url must start with http:// or https://, not $url"
url=${url%/}
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail 2 usage "$tool is not installed"
done

body=$(mktemp)
trap 'rm -f "$body"' EXIT

# request CHECK METHOD PATH [DATA]: sends one request, leaves the body in
# $body and the status in $status. An unreachable API and a refused key end
# the run here, so every check names them the same way.
status=
request() {
  local check=$1 method=$2 path=$3 data=${4:-} args err
  args=(--silent --show-error --max-time 10 --output "$body" --write-out '%{http_code}' -X "$method")
  [[ -n $key ]] && args+=(-H "Authorization: Bearer $key")
  [[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data "$data")
  if ! status=$(curl "${args[@]}" "$url$path" 2>"$body.err"); then
    err=$(head -n1 "$body.err")
    rm -f "$body.err"
    fail 3 "$check" "$url unreachable: ${err#curl: }"
  fi
  rm -f "$body.err"
  case $status in
    401 | 403) fail 4 "$check" "$method $path answered $status: the API key was refused$([[ -z $key ]] && echo ' (none was given; pass --api-key or INTAKE_API_KEY)')" ;;
  esac
}

# expect CHECK CODE: fails unless the last request answered CODE, quoting
# the start of the body (RFC 9457 problem detail or the error field).
expect() {
  local check=$1 want=$2 detail
  if [[ $status != "$want" ]]; then
    detail=$(jq -r '.detail // .title // .error // empty' "$body" 2>/dev/null | head -c 200 || true)
    [[ -n $detail ]] || detail=$(head -c 200 "$body" | tr -s '\r\n\t' '   ')
    fail 1 "$check" "answered $status, want $want${detail:+: $detail}"
  fi
}

now_ms() { date +%s%3N; }
ok() { printf 'ok   %-9s %s\n' "$1" "$2"; }

# 1. Liveness and readiness.
t0=$(now_ms)
request health GET /health
expect health 200
ok health "$url/health ($(($(now_ms) - t0)) ms)"

t0=$(now_ms)
request ready GET /ready
if [[ $status != 200 ]]; then
  down=$(jq -r '[.checks // {} | to_entries[] | select(.value.status != "up") | .key] | join(", ")' "$body" 2>/dev/null || true)
  fail 1 ready "answered $status, want 200${down:+ (down: $down)}"
fi
ok ready "$url/ready ($(($(now_ms) - t0)) ms)"

# 2. One job: created, then polled until it completes.
cin="U$(printf '%05d' $((RANDOM % 100000)))MH2020PTC$(printf '%06d' $((RANDOM % 1000000)))"
request create POST /api/v1/jobs/trigger \
  "{\"source_type\":\"filings\",\"config\":{\"cin\":\"$cin\",\"company_name\":\"Smoke Test Private Limited\"}}"
expect create 202
job=$(jq -r '.job_id // empty' "$body")
[[ -n $job ]] || fail 1 create "202 without a job_id"
ok create "job $job (filings, $cin)"

deadline=$(($(date +%s) + timeout))
t0=$(now_ms)
while :; do
  request status GET "/api/v1/jobs/status/$job"
  expect status 200
  state=$(jq -r '.status' "$body")
  progress=$(jq -r '"\(.progress.collected)/\(.progress.total // "?") documents, \(.runs) runs"' "$body")
  case $state in
    completed) break ;;
    failed | cancelled)
      fail 5 status "job $job is $state after $progress: $(jq -r '.last_error // "no error recorded"' "$body")" ;;
  esac
  if (($(date +%s) >= deadline)); then
    fail 5 status "job $job not completed within ${timeout}s (status $state, $progress; are workers running?)"
  fi
  sleep "$interval"
done
ok complete "job $job in $(($(now_ms) - t0)) ms ($progress)"

# 3. The result and the bytes of its first document, checked against the
# recorded size and SHA-256.
request result GET "/api/v1/jobs/result/$job"
expect result 200
count=$(jq '.documents | length' "$body")
((count > 0)) || fail 1 result "completed job $job lists no documents"
doc=$(jq -c '.documents[0] | {seq, size_bytes, sha256, content: .links.content}' "$body")
ok result "$count documents on the first page"

content=$(jq -r '.content' <<<"$doc")
request document GET "$content"
expect document 200
size=$(wc -c <"$body" | tr -d ' ')
want_size=$(jq -r '.size_bytes' <<<"$doc")
[[ $size == "$want_size" ]] || fail 1 document "$content has $size bytes, the result says $want_size"
sum=$(sha256sum "$body" | cut -d' ' -f1)
want_sum=$(jq -r '.sha256' <<<"$doc")
[[ $sum == "$want_sum" ]] || fail 1 document "$content has SHA-256 $sum, the result says $want_sum"
ok document "$content ($size bytes, SHA-256 matches)"

# 4. Metrics: the build and the HTTP series exist.
if ((metrics)); then
  request metrics GET /metrics
  expect metrics 200
  for series in intake_build_info intake_http_requests_total; do
    grep -q "^${series}[{ ]" "$body" || fail 1 metrics "/metrics has no $series series"
  done
  version=$(sed -n 's/^intake_build_info{.*version="\([^"]*\)".*/\1/p' "$body" | head -n1)
  ok metrics "intake_build_info version=${version:-?}"
fi
echo "smoke-test: PASS $url"
