#!/usr/bin/env bash
# Records intake's demo video, docs/demo.mp4 (make demo).
#
# A live run on loopback only: intake dev (SQLite and file blobs), two
# intake work processes on the same store, and Debian's Prometheus scraping
# them with deploy/prometheus/rules, all on free 127.0.0.1 ports in a
# scratch directory; headless Chromium drives the web UI, the API docs and
# Prometheus's graph pages of the Grafana dashboard's queries, and shows the
# KEDA timelines of docs/KUBERNETES.md; ffmpeg composes the screenshots
# into a captioned H.264 video of 3–5 minutes, at most 8 MiB. Every process
# is stopped at the end. The Go program that does it is scripts/demo.
#
# Usage: scripts/demo.sh [OUT]        OUT defaults to docs/demo.mp4
#
# Environment:
#   INTAKE_BIN   the intake binary to record (default: built here, like make build)
#   DEMO_WORK    scratch directory to keep (frames, logs, data); default a
#                temporary directory, removed at the end
#   DEMO_LENGTH  aimed-for length (default 270s)
#
# Needs Go, chromium, prometheus, ffmpeg and fonts-dejavu-core; as root
# with apt-get, a missing package is installed from Debian. Takes about
# 3–7 minutes on two busy cores. Not run in CI.
set -euo pipefail

cd "$(dirname "$0")/.."
out=${1:-docs/demo.mp4}

log() { printf 'demo: %s\n' "$*" >&2; }

# need BINARY PACKAGE: install PACKAGE from Debian when BINARY is missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "$1 is missing: apt-get install $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
  else
    log "$1 is missing: apt-get install $2"
    exit 1
  fi
}

need go golang-go
need chromium chromium
need prometheus prometheus
need ffmpeg ffmpeg
need ffprobe ffmpeg
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[[ -f $font ]] || need fc-list fonts-dejavu-core
[[ -f $font ]] || { log "$font is missing: apt-get install fonts-dejavu-core"; exit 1; }

if [[ -n ${DEMO_WORK:-} ]]; then
  work=$DEMO_WORK
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

intake=${INTAKE_BIN:-}
if [[ -z $intake ]]; then
  log "building intake"
  version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=$version -X main.revision=$(git rev-parse HEAD 2>/dev/null) -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$work/intake" ./cmd/intake
  intake=$work/intake
fi
log "building the recorder (scripts/demo)"
go build -o "$work/demo" ./scripts/demo

"$work/demo" \
  -intake "$intake" \
  -prometheus "$(command -v prometheus)" \
  -chromium "$(command -v chromium)" \
  -ffmpeg "$(command -v ffmpeg)" \
  -ffprobe "$(command -v ffprobe)" \
  -font "$font" \
  -font-bold "${font%.ttf}-Bold.ttf" \
  -repo . \
  -work "$work/run" \
  -length "${DEMO_LENGTH:-270s}" \
  -out "$out"
ls -l "$out" >&2
