#!/usr/bin/env bash
# Test the images scripts/build-images.sh built (podman, rootful):
#   1. the api image runs --read-only --cap-drop=ALL as 65532 with a volume
#      for its SQLite data: `migrate`, then `serve`; /health answers on the
#      published loopback port and `podman healthcheck run` passes;
#   2. a job created through the API is collected by the worker image's
#      `work --once` (exit 0) against the same volume;
#   3. the image sizes, uncompressed and gzip -9 of `podman save`; an image
#      over IMAGE_GZ_BUDGET bytes compressed (12,000,000: the goal of
#      docs/PERFORMANCE.md) fails the test.
# With --offline it first rebuilds the images air-gapped
# (scripts/build-images.sh --offline: --network=none, vendored modules).
#
# scripts/test-images.sh --scan instead scans the source and the images with
# whichever scanners are installed (govulncheck, trivy, grype; syft writes
# SBOMs to bin/sbom). They all need vulnerability databases from the
# internet, so this runs in CI or on a workstation, not on an air-gapped
# builder; a scanner that is missing is reported and skipped, and any finding
# fails the scan.
#
# Environment: IMAGE_PREFIX (intake-), IMAGE_TAG (dev), API_PORT (18000),
# IMAGE_GZ_BUDGET (12000000).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${IMAGE_PREFIX:-intake-}
tag=${IMAGE_TAG:-dev}
api=${prefix}api:$tag
worker=${prefix}worker:$tag
port=${API_PORT:-18000}
budget=${IMAGE_GZ_BUDGET:-12000000}
run_id=intake-test-$$
volume=$run_id-data
started=$(date +%s)

log() { printf 'test-images: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

scan() {
  local ran=0 image
  if command -v govulncheck >/dev/null; then
    log "govulncheck ./... (reachable vulnerabilities in the Go code and modules)"
    govulncheck ./...
    ran=1
  else
    log "skip: govulncheck not installed (go install golang.org/x/vuln/cmd/govulncheck@latest)"
  fi
  for image in "$api" "$worker"; do
    if command -v trivy >/dev/null; then
      log "trivy image $image"
      podman save --format oci-archive -o "bin/scan.tar" "$image"
      trivy image --input bin/scan.tar --exit-code 1 --ignore-unfixed --severity HIGH,CRITICAL
      ran=1
    fi
    if command -v grype >/dev/null; then
      log "grype $image"
      grype "podman:$image" --fail-on high
      ran=1
    fi
    if command -v syft >/dev/null; then
      syft "podman:$image" -o "spdx-json=bin/sbom/${image//[:\/]/_}.spdx.json"
      log "SBOM: bin/sbom/${image//[:\/]/_}.spdx.json"
    fi
  done
  command -v trivy >/dev/null || log "skip: trivy not installed"
  command -v grype >/dev/null || log "skip: grype not installed"
  command -v syft >/dev/null || log "skip: syft not installed (no SBOM written)"
  rm -f bin/scan.tar
  ((ran)) || { log "no scanner installed: nothing was scanned"; exit 1; }
  log "scan passed"
}

case ${1:-} in
  --offline) scripts/build-images.sh --offline ;;
  --scan) mkdir -p bin/sbom; scan; exit 0 ;;
  "") ;;
  *) fail "unknown argument $1 (use --offline or --scan)" ;;
esac

cleanup() {
  podman rm -f "$run_id-api" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The hardening every container here runs with; compose uses the same.
hardening=(--read-only --cap-drop=ALL --security-opt=no-new-privileges --user 65532:65532
  -v "$volume:/data" -e INTAKE_AUTH=disabled -e INTAKE_FILINGS_DELAY=0s)

podman volume create "$volume" >/dev/null

log "migrate (api image, read-only, no capabilities)"
podman run --rm --no-healthcheck "${hardening[@]}" "$api" migrate

log "serve on 127.0.0.1:$port"
podman run -d --name "$run_id-api" "${hardening[@]}" -p "127.0.0.1:$port:8000" "$api" >/dev/null 2>&1
base=http://127.0.0.1:$port
for _ in $(seq 1 50); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/health" >/dev/null || { podman logs "$run_id-api" >&2; fail "/health did not answer"; }
log "ok: GET /health answers 200"

[[ $(podman inspect --format '{{.Config.User}}' "$run_id-api") == 65532:65532 ]] || fail "not running as 65532"
[[ $(podman exec "$run_id-api" /intake version >/dev/null 2>&1 && echo exec) == exec ]] || fail "podman exec failed"
if podman exec "$run_id-api" /bin/sh -c true >/dev/null 2>&1; then fail "the image has a shell"; fi
log "ok: runs as 65532:65532, no /bin/sh in the image"
if podman exec "$run_id-api" /intake healthcheck http://127.0.0.1:8000/nonexistent >/dev/null 2>&1; then
  fail "healthcheck passed on a 404"
fi

podman healthcheck run "$run_id-api" 2>/dev/null || fail "podman healthcheck run failed"
[[ $(podman inspect --format '{{.State.Health.Status}}' "$run_id-api") == healthy ]] || fail "health status is not healthy"
log "ok: podman healthcheck run passes (status healthy)"

job=$(curl -fsS -XPOST "$base/api/v1/jobs/trigger" -H 'Content-Type: application/json' \
  -d '{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}' |
  sed -n 's/.*"job_id": *"\([^"]*\)".*/\1/p')
[[ -n $job ]] || fail "trigger returned no job_id"
log "created job $job"

log "worker: work --once $job"
podman run --rm "${hardening[@]}" -e INTAKE_METRICS_ADDR= "$worker" work --once "$job" ||
  fail "work --once exited $?"
status=$(curl -fsS "$base/api/v1/jobs/status/$job")
collected=$(sed -n 's/.*"collected": *\([0-9]*\).*/\1/p' <<<"$status")
((${collected:-0} > 0)) || fail "the job collected nothing: $status"
log "ok: work --once exited 0 and collected $collected documents"

log "image sizes"
printf '%-24s %14s %16s\n' image uncompressed gzip-9-of-save
for image in "$api" "$worker"; do
  size=$(podman image inspect --format '{{.Size}}' "$image")
  gz=$(podman save --format docker-archive "$image" 2>/dev/null | gzip -9 | wc -c)
  awk -v i="$image" -v s="$size" -v g="$gz" 'BEGIN { printf "%-24s %11.2f MB %13.2f MB\n", i, s / 1e6, g / 1e6 }'
  ((gz <= budget)) || fail "$image is $gz bytes as gzip -9 of podman save, over the budget of $budget (IMAGE_GZ_BUDGET; docs/PERFORMANCE.md)"
done
log "all checks passed in $(($(date +%s) - started))s"
