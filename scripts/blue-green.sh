#!/usr/bin/env bash
# Blue-green deployment of intake on Kubernetes, with Helm.
#
# Two Helm releases of the chart deploy/helm/intake live side by side,
# NAME-blue and NAME-green (value `color` labels their pods). The public
# Service NAME (port 5001), owned by this script and not by the chart,
# selects the api pods of one colour: the live one. A deploy installs the new
# version as the other colour, smoke-tests it through its own Service
# (NAME-<colour>-api), switches the public Service's selector, watches /ready
# and the API's error rate for a window, and then keeps the old colour
# running with its workers off, for an instant rollback. When a post-switch
# check fails it switches back and rolls the failed colour back with
# `helm rollback` (or uninstalls it when it was its first revision).
#
# Usage:
#   scripts/blue-green.sh deploy   --chart CHART [--version V] [OPTIONS] [-- HELM_ARGS...]
#   scripts/blue-green.sh rollback [--chart CHART] [OPTIONS]
#   scripts/blue-green.sh status   [OPTIONS]
#
# deploy    install the idle colour with CHART (a directory, repo/name or
#           oci:// reference) and HELM_ARGS (-f values.yaml, --set ...), then
#           smoke, switch, watch; roll back automatically on failure.
# rollback  make the idle colour live again: its workers back on, smoke,
#           switch, watch; then the other colour's workers off. Nothing is
#           rolled back in the database: migrations are expand/contract.
# status    the live colour and both releases.
#
# Options (environment variable; default):
#   --namespace NS            (BG_NAMESPACE; the kubeconfig's namespace)
#   --name NAME               public Service and release prefix (BG_NAME; intake)
#   --timeout DURATION        Helm's --timeout (BG_TIMEOUT; 10m)
#   --watch SECONDS           post-switch watch window (BG_WATCH_SECONDS; 300)
#   --interval SECONDS        between /ready probes in the window (BG_WATCH_INTERVAL; 10)
#   --max-error-rate RATIO    5xx share of the new colour's API requests in
#                             the window above which it is rolled back
#                             (BG_MAX_ERROR_RATE; 0.05)
#   --min-requests N          fewer requests than this in the window leave the
#                             error rate unjudged (BG_MIN_REQUESTS; 20)
#   --max-ready-failures N    failed /ready probes tolerated (BG_MAX_READY_FAILURES; 0)
#   --candidate-url URL       reach the new colour here instead of through a
#                             port-forward to its Service (BG_CANDIDATE_URL)
#   --public-url URL          probe the public Service here instead of through
#                             a port-forward (BG_PUBLIC_URL)
#   --metrics-url URL         read the new colour's request counters here
#                             instead of from each api pod through the API
#                             server's pod proxy (BG_METRICS_URL)
#   --skip-smoke              do not run scripts/smoke-test.sh on the new colour
#
# The smoke test reads INTAKE_API_KEY and SMOKE_TIMEOUT (scripts/smoke-test.sh).
#
# Exit status: 0 done; 1 the deploy or rollback did not go through and the
# previous live colour serves (the last line says why); 2 usage; 3 an
# automatic rollback itself failed: look at `status` and act by hand.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

namespace=${BG_NAMESPACE:-}
name=${BG_NAME:-intake}
timeout=${BG_TIMEOUT:-10m}
watch=${BG_WATCH_SECONDS:-300}
interval=${BG_WATCH_INTERVAL:-10}
max_error_rate=${BG_MAX_ERROR_RATE:-0.05}
min_requests=${BG_MIN_REQUESTS:-20}
max_ready_failures=${BG_MAX_READY_FAILURES:-0}
candidate_url=${BG_CANDIDATE_URL:-}
public_url=${BG_PUBLIC_URL:-}
metrics_url=${BG_METRICS_URL:-}
smoke=1
chart=
version=
helm_args=()

log() { printf 'blue-green: %s\n' "$*" >&2; }
die() { # die CODE MESSAGE
  printf 'blue-green: FAIL %s\n' "$2" >&2
  exit "$1"
}
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

(($#)) || usage
cmd=$1
shift
case $cmd in
  deploy | rollback | status) ;;
  -h | --help) usage ;;
  *) die 2 "unknown command $cmd (deploy, rollback or status)" ;;
esac
while (($#)); do
  case $1 in
    --namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --chart) chart=${2:?--chart needs a value}; shift 2 ;;
    --version) version=${2:?--version needs a value}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    --watch) watch=${2:?--watch needs a value}; shift 2 ;;
    --interval) interval=${2:?--interval needs a value}; shift 2 ;;
    --max-error-rate) max_error_rate=${2:?--max-error-rate needs a value}; shift 2 ;;
    --min-requests) min_requests=${2:?--min-requests needs a value}; shift 2 ;;
    --max-ready-failures) max_ready_failures=${2:?--max-ready-failures needs a value}; shift 2 ;;
    --candidate-url) candidate_url=${2:?--candidate-url needs a value}; shift 2 ;;
    --public-url) public_url=${2:?--public-url needs a value}; shift 2 ;;
    --metrics-url) metrics_url=${2:?--metrics-url needs a value}; shift 2 ;;
    --skip-smoke) smoke=0; shift ;;
    -h | --help) usage ;;
    --) shift; helm_args=("$@"); break ;;
    *) die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die 2 "--name must be a DNS label, not $name"
[[ $watch =~ ^[0-9]+$ ]] || die 2 "--watch must be whole seconds, not $watch"
[[ $interval =~ ^[1-9][0-9]*$ ]] || die 2 "--interval must be whole seconds (at least 1), not $interval"
[[ $min_requests =~ ^[0-9]+$ ]] || die 2 "--min-requests must be a whole number, not $min_requests"
[[ $max_ready_failures =~ ^[0-9]+$ ]] || die 2 "--max-ready-failures must be a whole number, not $max_ready_failures"
[[ $max_error_rate =~ ^(0([.][0-9]+)?|1([.]0+)?)$ ]] || die 2 "--max-error-rate must be a ratio between 0 and 1, not $max_error_rate"
if [[ $cmd == deploy && -z $chart ]]; then
  die 2 "deploy needs --chart (a chart directory, repo/name or oci:// reference)"
fi
for tool in kubectl helm curl jq; do
  command -v "$tool" >/dev/null || die 2 "$tool is not installed"
done

ns=()
[[ -n $namespace ]] && ns=(--namespace "$namespace")
k() { kubectl "${ns[@]}" "$@"; }
h() { helm "${ns[@]}" "$@"; }

other() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }
release() { echo "$name-$1"; }

# live prints the colour the public Service selects ("" when there is no
# public Service yet).
live() {
  k get service "$name" -o jsonpath='{.spec.selector.color}' 2>/dev/null || true
}

# revision RELEASE prints the release's current revision, 0 when it is not
# installed.
revision() {
  local rev
  rev=$(h status "$1" -o json 2>/dev/null | jq -r '.version // 0') || true
  echo "${rev:-0}"
}

# ---- reaching Services: a port-forward unless a URL was given --------------
forwards=()
cleanup() {
  local pid
  for pid in "${forwards[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# forward SERVICE sets $forwarded to http://127.0.0.1:PORT, a port-forward
# to SERVICE's port 5001 that lives until the script exits. (Not a command
# substitution: the forward must belong to this shell to be stopped.)
forwarded=
forward() {
  local svc=$1 out port i
  out=$(mktemp)
  k port-forward "service/$svc" ":5001" --address 127.0.0.1 >"$out" 2>&1 &
  forwards+=($!)
  for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$out" | head -n1)
    if [[ -n $port ]]; then
      rm -f "$out"
      forwarded="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  log "port-forward to service/$svc: $(head -n1 "$out")"
  rm -f "$out"
  return 1
}

# ---- the moves --------------------------------------------------------------

# switch COLOUR [PREVIOUS]: points the public Service at COLOUR's api pods,
# creating the Service on the first deploy. The annotations record the
# switch for `status` and for people.
switch() {
  local to=$1 from=${2:-} now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if ! k get service "$name" >/dev/null 2>&1; then
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $name
  labels:
    app.kubernetes.io/name: intake
    app.kubernetes.io/component: api
    app.kubernetes.io/managed-by: blue-green
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: intake
    app.kubernetes.io/component: api
    color: $to
  ports:
    - name: http
      port: 5001
      targetPort: http
      protocol: TCP
EOF
  fi
  k patch service "$name" --type merge -p "$(jq -cn --arg to "$to" --arg from "$from" --arg now "$now" '{
    metadata: {annotations: {"intake.dev/color": $to, "intake.dev/previous-color": $from, "intake.dev/switched-at": $now}},
    spec: {selector: {color: $to}}}')" >/dev/null
  log "service/$name now selects color=$to${from:+ (was $from)}"
}

# chart_of RELEASE prints the chart reference and version to upgrade
# RELEASE with its own chart: --chart at the release's chart version, or the
# --chart directory as it is.
chart_of() {
  local rel=$1 v
  v=$(h get metadata "$rel" -o json | jq -r '.version')
  if [[ -d $chart ]]; then
    echo "$chart"
  else
    echo "$chart --version $v"
  fi
}

# workers COLOUR on|off: turns a colour's workers (and its migration hook,
# which an idle older binary must not run) on or off, keeping every other
# value of the release.
workers() {
  local colour=$1 state=$2 rel enabled ref
  rel=$(release "$colour")
  [[ -n $chart ]] || die 1 "turning $rel's workers $state needs --chart (the chart repository of the release)"
  enabled=false
  [[ $state == on ]] && enabled=true
  read -r -a ref <<<"$(chart_of "$rel")"
  log "$rel: workers $state"
  h upgrade "$rel" "${ref[@]}" --reuse-values --set "worker.enabled=$enabled" \
    --set migrations.enabled=false --wait --timeout "$timeout" >/dev/null
}

# smoke COLOUR: runs scripts/smoke-test.sh against the colour's own Service.
smoke() {
  local colour=$1 url
  ((smoke)) || { log "smoke test skipped (--skip-smoke)"; return 0; }
  url=$candidate_url
  if [[ -z $url ]]; then
    forward "$(release "$colour")-api" || return 1
    url=$forwarded
  fi
  log "smoke test of $colour at $url"
  "$here/smoke-test.sh" --url "$url" >&2
}

# pod_namespace prints the namespace the releases live in.
pod_namespace() {
  if [[ -n $namespace ]]; then
    echo "$namespace"
  else
    kubectl config view --minify -o jsonpath='{..namespace}' | sed 's/^$/default/'
  fi
}

# counters prints "ERRORS TOTAL": the 5xx and all requests the colour's api
# pods have served (intake_http_requests_total), summed over its pods.
counters() {
  local colour=$1 pods pod
  {
    if [[ -n $metrics_url ]]; then
      curl -fsS --max-time 10 "$metrics_url"
    else
      pods=$(k get pods -l "app.kubernetes.io/instance=$(release "$colour"),app.kubernetes.io/component=api" \
        --field-selector=status.phase=Running -o jsonpath='{.items[*].metadata.name}')
      for pod in $pods; do
        k get --raw "/api/v1/namespaces/$(pod_namespace)/pods/$pod:8000/proxy/metrics" 2>/dev/null || true
      done
    fi
  } | awk '/^intake_http_requests_total[{]/ {
      total += $NF
      if ($0 ~ /code="5[0-9][0-9]"/) errors += $NF
    } END { printf "%d %d\n", errors, total }'
}

# watch_new COLOUR: probes /ready through the public Service every
# --interval for --watch seconds and judges the colour's error rate over
# the window. Returns non-zero with the reason in $why.
why=
watch_new() {
  local colour=$1 url e0 t0 e1 t1 failures=0 elapsed=0 de dt
  url=$public_url
  if [[ -z $url ]]; then
    forward "$name" || { why="cannot reach service/$name"; return 1; }
    url=$forwarded
  fi
  read -r e0 t0 <<<"$(counters "$colour" || echo "0 0")"
  log "watching $url/ready and the error rate of $colour for ${watch}s"
  while :; do
    if ! curl -fsS --max-time 5 -o /dev/null "$url/ready" 2>/dev/null; then
      failures=$((failures + 1))
      log "/ready failed ($failures of at most $max_ready_failures tolerated)"
      if ((failures > max_ready_failures)); then
        why="$url/ready failed $failures time(s) within ${elapsed}s of the switch"
        return 1
      fi
    fi
    ((elapsed >= watch)) && break
    sleep "$interval"
    elapsed=$((elapsed + interval))
  done
  read -r e1 t1 <<<"$(counters "$colour" || echo "0 0")"
  de=$((e1 - e0)) dt=$((t1 - t0))
  # A pod that restarted in the window reset its counters: count from zero.
  if ((dt < 0 || de < 0)); then de=$e1 dt=$t1; fi
  if ((dt < min_requests)); then
    log "error rate not judged: $dt requests in the window (fewer than $min_requests)"
    return 0
  fi
  if awk -v e="$de" -v t="$dt" -v m="$max_error_rate" 'BEGIN {exit !(e / t > m)}'; then
    why="error rate $de/$dt requests above $max_error_rate within ${watch}s of the switch"
    return 1
  fi
  log "error rate $de/$dt requests (at most $max_error_rate)"
}

# restore COLOUR REVISION: returns a colour's release to REVISION, or
# uninstalls it when REVISION is 0 (it did not exist before).
restore() {
  local rel
  rel=$(release "$1")
  if (($2 == 0)); then
    log "$rel: uninstall (it had no earlier revision)"
    h uninstall "$rel" --wait --timeout "$timeout" >/dev/null
  else
    log "$rel: helm rollback to revision $2"
    h rollback "$rel" "$2" --wait --timeout "$timeout" >/dev/null
  fi
}

deploy() {
  local from to rel before
  from=$(live)
  to=blue
  [[ $from == blue ]] && to=green
  rel=$(release "$to")
  before=$(revision "$rel")
  local vflag=()
  [[ -n $version ]] && vflag=(--version "$version")
  log "live: ${from:-none}; installing $rel from $chart${version:+ $version}"
  # Migrations run in the chart's pre-upgrade hook, before any pod of the
  # new colour starts; they are expand-only, so the live colour keeps working.
  if ! h upgrade --install "$rel" "$chart" "${vflag[@]}" --atomic --wait --timeout "$timeout" \
    "${helm_args[@]}" --set "color=$to" --set worker.enabled=true >&2; then
    die 1 "helm could not install $rel (Helm rolled it back); ${from:-no colour} still serves"
  fi
  if ! smoke "$to"; then
    restore "$to" "$before" || die 3 "smoke test of $to failed and restoring $rel failed; ${from:-no colour} still serves"
    die 1 "smoke test of $to failed; ${from:-no colour} still serves, $rel restored"
  fi
  switch "$to" "$from"
  if ! watch_new "$to"; then
    if [[ -z $from ]]; then
      die 1 "post-switch checks failed ($why) and there is no previous colour to switch back to"
    fi
    log "post-switch checks failed: $why; rolling back to $from"
    switch "$from" "$to" || die 3 "switching back to $from failed after: $why"
    restore "$to" "$before" || die 3 "switched back to $from, but restoring $rel failed after: $why"
    die 1 "rolled back to $from: $why"
  fi
  if [[ -n $from ]]; then
    workers "$from" off || log "warning: $(release "$from") keeps its workers on (turn them off by hand)"
  fi
  log "done: $to is live${from:+, $from kept idle for rollback}"
}

rollback() {
  local from to rel
  from=$(live)
  [[ -n $from ]] || die 1 "service/$name does not exist: nothing is live, nothing to roll back"
  to=$(other "$from")
  rel=$(release "$to")
  (($(revision "$rel") > 0)) || die 1 "$rel is not installed: there is no idle colour to roll back to"
  log "rollback: $from is live; making $rel live again"
  workers "$to" on || die 1 "could not turn $rel's workers on; $from still serves"
  smoke "$to" || die 1 "smoke test of $to failed; $from still serves"
  switch "$to" "$from"
  if ! watch_new "$to"; then
    switch "$from" "$to" || die 3 "switching back to $from failed after: $why"
    die 1 "rollback to $to abandoned, $from serves again: $why"
  fi
  workers "$from" off || log "warning: $(release "$from") keeps its workers on (turn them off by hand)"
  log "done: $to is live again, $from kept idle"
}

status() {
  local colour rel
  echo "live: $(live || true)"
  for colour in blue green; do
    rel=$(release "$colour")
    if (($(revision "$rel") > 0)); then
      h list --filter "^$rel\$" -o json | jq -r --arg c "$colour" \
        '.[] | "\($c): \(.name) revision \(.revision) \(.status) chart \(.chart) app \(.app_version)"'
    else
      echo "$colour: $rel not installed"
    fi
  done
}

"$cmd"
