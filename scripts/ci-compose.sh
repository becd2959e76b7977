#!/usr/bin/env bash
# CI for the Compose stack, started for real with podman-compose: builds the
# intake images and the test stand-ins of the official images (both
# cached), then in a throwaway copy of the checkout runs
# scripts/setup-environment.sh against docker-compose.yml and against
# docker-compose.yml + deploy/compose/mongo.yml. Each run must end with
# every service healthy and a job completed through nginx (the script's own
# validation); then Prometheus must scrape every api and worker replica and
# an alert must reach a webhook receiver on Alertmanager's loopback, and
# --down must remove the stack. Prints the time of each step.
#
# usage: scripts/ci-compose.sh [--keep]   (--keep: leave the last stack up)
# Needs root (rootful podman); configures podman with
# scripts/configure-podman.sh. Traffic stays on this machine: the published
# ports are on 127.0.0.1 and the containers' networks.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[[ ${1:-} == --keep ]] && keep=1

start=$(date +%s) t0=$start
step() {
  local now
  now=$(date +%s)
  printf 'ci-compose: %-48s %4ds\n' "${STEP:-start}" "$((now - t0))"
  STEP=$1 t0=$now
}
fail() { echo "ci-compose: FAIL: $*" >&2; exit 1; }

step "configure podman"
scripts/configure-podman.sh

step "intake images (scripts/build-images.sh, when stale)"
rev=$(git rev-parse HEAD)
for t in api worker; do
  if [[ $(podman image inspect --format '{{ index .Config.Labels "org.opencontainers.image.revision" }}' "intake-$t:dev" 2>/dev/null) != "$rev" ]]; then
    scripts/build-images.sh
    break
  fi
done

step "stand-in images (deploy/compose/standins/build.sh)"
deploy/compose/standins/build.sh --mongo

# A clean slate: a previous run's stack, volumes (their passwords belong to
# that run's secrets) and networks.
cleanup() {
  podman rm -f intake-ci-alert-sink >/dev/null 2>&1 || true
  podman ps -aq --filter label=io.podman.compose.project=intake | xargs -r podman rm -f >/dev/null 2>&1 || true
  podman volume ls -q --filter label=io.podman.compose.project=intake | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  podman volume ls -q | grep '^intake_' | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  podman network ls -q --filter label=io.podman.compose.project=intake | xargs -r podman network rm -f >/dev/null 2>&1 || true
}
cleanup

work=$(mktemp -d)
((keep)) || trap 'rm -rf "$work"' EXIT
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$work" -xf -
cd "$work"
rm -rf deploy/compose/secrets/* .env logs .setup
# The CI environment: no simulated download latency, every Alertmanager
# receiver on loopback port 5001 inside the Alertmanager container, where
# the sink below listens.
sed -e 's/^INTAKE_FILINGS_DELAY=.*/INTAKE_FILINGS_DELAY=0/' \
  -e 's|^ALERTMANAGER_\([A-Z_]*\)URL=.*|ALERTMANAGER_\1URL=http://127.0.0.1:5001/\1|' .env.example >.env

# check_stack: Prometheus scrapes 2 api and 2 worker replicas, all up, and
# the watchdog alert reaches the loopback receiver.
check_stack() {
  local deadline=$((SECONDS + 120)) targets=""
  while ((SECONDS < deadline)); do
    targets=$(curl -fsS -m 5 http://127.0.0.1:9090/api/v1/targets | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
up = [x["labels"]["job"] for x in t if x["health"] == "up"]
print(up.count("intake-api"), up.count("intake-worker"))') || targets=""
    [[ $targets == "2 2" ]] && break
    sleep 3
  done
  [[ $targets == "2 2" ]] || fail "Prometheus scrapes $targets (api worker) healthy replicas, want 2 2"
  echo "ci-compose: Prometheus scrapes 2 api and 2 worker replicas"

  local am
  am=$(podman ps -q --filter label=com.docker.compose.service=alertmanager | head -n1)
  [[ -n $am ]] || fail "no alertmanager container"
  podman rm -f intake-ci-alert-sink >/dev/null 2>&1 || true
  # socat in the alertmanager stand-in image, in Alertmanager's network
  # namespace: each request goes to the container's log (stderr) and is
  # answered 200 once the sender has been quiet for 2 s.
  podman run -d --name intake-ci-alert-sink --network "container:$am" --user 65534 \
    --entrypoint socat docker.io/prom/alertmanager:v0.28.1 \
    TCP-LISTEN:5001,bind=127.0.0.1,fork,reuseaddr \
    SYSTEM:"timeout 2 cat >&2; echo 'HTTP/1.1 200 OK'; echo 'Content-Length: 0'; echo 'Connection: close'; echo" >/dev/null
  deadline=$((SECONDS + 180))
  until podman logs intake-ci-alert-sink 2>&1 | grep -q '"alertname":"IntakeAlertingWatchdog"'; do
    ((SECONDS < deadline)) || fail "no alert reached the loopback receiver within 180 s"
    sleep 3
  done
  echo "ci-compose: IntakeAlertingWatchdog delivered to the receiver at $(podman logs intake-ci-alert-sink 2>&1 | grep -o 'POST [^ ]*' | head -n1)"
  podman rm -f intake-ci-alert-sink >/dev/null
}

for variant in postgres mongo; do
  args=(--engine podman --allow-standins --timeout 240)
  [[ $variant == mongo ]] && args+=(--file deploy/compose/mongo.yml)
  step "setup-environment.sh ($variant)"
  scripts/setup-environment.sh "${args[@]}" || { tail -40 logs/setup-environment.log; fail "setup-environment.sh ($variant)"; }
  step "second run changes nothing ($variant)"
  scripts/setup-environment.sh "${args[@]}" --json >"$work/status.json" || fail "second run ($variant)"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["changed"] is False, d; assert d["end_to_end"]["result"] == "ok", d' "$work/status.json" ||
    fail "the second run reported changes"
  step "Prometheus targets and an alert ($variant)"
  check_stack
  if ((keep)) && [[ $variant == mongo ]]; then break; fi
  step "--down ($variant)"
  scripts/setup-environment.sh "${args[@]}" --down
  [[ -z $(podman ps -aq --filter label=io.podman.compose.project=intake) ]] || fail "--down left containers"
  cleanup
done

step "done"
echo "ci-compose: total $(($(date +%s) - start))s"
