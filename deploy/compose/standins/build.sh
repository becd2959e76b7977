#!/usr/bin/env bash
# Builds TEST STAND-INS for the official images docker-compose.yml and
# deploy/compose/mongo.yml name, tagged with those names, for running the
# Compose stack with podman where no registry is reachable (CI, this
# repository's own checks). They are built from Debian packages on the
# debootstrap minbase that scripts/build-images.sh caches (plus Azurite
# from npm, FerretDB for mongo, and a minimal Go stand-in for Grafana) and
# honour the parts of each image's entrypoint contract the compose files
# use. NEVER use them in production: every image carries the label
# intake.standin, and scripts/setup-environment.sh refuses them unless
# --allow-standins is given.
#
# usage: deploy/compose/standins/build.sh [--force] [--mongo] [NAME...]
#   NAME     postgres redis nginx prometheus alertmanager azurite grafana
#            mongo (default: all but mongo; --mongo adds it)
#   --force  rebuild even when the image is current
# An image is current when its intake.standin.hash label matches the hash of
# its build directory, so a second run builds nothing.
#
# Environment: XDG_CACHE_HOME (minbase and npm caches, as build-images.sh),
# INTAKE_TEST_SERVICES_CACHE (FerretDB binary, as scripts/test-services.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)

cache=${XDG_CACHE_HOME:-$HOME/.cache}/intake
minbase=$cache/images/bookworm-minbase
ferretdb=${INTAKE_TEST_SERVICES_CACHE:-$cache/test-services}/ferretdb-v1.24.0/ferretdb
readonly AZURITE_VERSION=3.35.0
readonly BASE=localhost/intake-standin/debian:bookworm

declare -A image=(
  [postgres]=docker.io/library/postgres:17.6-bookworm
  [redis]=docker.io/library/redis:7.4.5-alpine
  [nginx]=docker.io/nginxinc/nginx-unprivileged:1.28.0-alpine
  [prometheus]=docker.io/prom/prometheus:v3.5.0
  [alertmanager]=docker.io/prom/alertmanager:v0.28.1
  [azurite]=mcr.microsoft.com/azure-storage/azurite:3.35.0
  [grafana]=docker.io/grafana/grafana:12.1.1
  [mongo]=docker.io/library/mongo:7.0.16
)

force=0 names=()
for a in "$@"; do
  case $a in
    --force) force=1 ;;
    --mongo) names+=(mongo) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "standins: unknown option $a" >&2; exit 2 ;;
    *) [[ -n ${image[$a]:-} ]] || { echo "standins: unknown image $a" >&2; exit 2; }; names+=("$a") ;;
  esac
done
if ((${#names[@]} == 0)) || [[ ${names[*]} == mongo ]]; then
  names=(postgres redis nginx prometheus alertmanager azurite grafana "${names[@]}")
fi

log() { printf 'standins: %s\n' "$*" >&2; }
label() { podman image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# The Debian base: build-images.sh's cached minbase, imported once.
base() {
  if [[ ! -f $minbase/.complete ]]; then
    log "no cached minbase; running scripts/build-images.sh (it debootstraps one)"
    "$repo/scripts/build-images.sh"
  fi
  local fp
  fp=$(stat -c %Y "$minbase/.complete")
  [[ $(label "$BASE" intake.standin.hash) == "$fp" ]] && return
  log "importing $BASE from $minbase"
  tar -C "$minbase" --exclude=./.complete --numeric-owner -cf - . | podman import \
    --change 'CMD ["bash"]' --change "LABEL intake.standin.hash=\"$fp\"" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE" >/dev/null
}

# context NAME: a build directory with what the Containerfile copies.
context() {
  local name=$1 dir
  dir=$(mktemp -d)
  cp -a "$here/$name/." "$dir/"
  case $name in
    grafana)
      (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$dir/grafana-standin" ./grafana) ;;
    mongo)
      if [[ ! -x $ferretdb ]]; then
        log "no FerretDB at $ferretdb; scripts/test-services.sh builds it"
        "$repo/scripts/test-services.sh" up >/dev/null
      fi
      cp "$ferretdb" "$dir/ferretdb"
      (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$dir/mongosh" ./mongosh) ;;
    azurite)
      local npm=$cache/standins/azurite-$AZURITE_VERSION
      if [[ ! -f $npm/.complete ]]; then
        log "npm install azurite@$AZURITE_VERSION into $npm"
        rm -rf "$npm" && mkdir -p "$npm"
        npm install --prefix "$npm" --no-audit --no-fund --no-update-notifier --loglevel=error \
          "azurite@$AZURITE_VERSION" >&2
        touch "$npm/.complete"
      fi
      mkdir -p "$dir/azurite"
      cp -a "$npm/node_modules" "$npm/package.json" "$dir/azurite/" ;;
  esac
  printf '%s\n' "$dir"
}

base
for name in "${names[@]}"; do
  ref=${image[$name]}
  hash=$( (cd "$here" && find "$name" -type f -print0 | sort -z | xargs -0 sha256sum; echo "$(label "$BASE" intake.standin.hash) $AZURITE_VERSION") | sha256sum | cut -c1-16)
  [[ $name == grafana || $name == mongo ]] && hash=$hash-$( (cd "$here" && cat go.sum mongosh/main.go) | sha256sum | cut -c1-8)
  if ((!force)) && [[ $(label "$ref" intake.standin.hash) == "$hash" ]]; then
    log "$ref is current"
    continue
  fi
  t0=$(date +%s)
  dir=$(context "$name")
  # Host network: apt-get reaches the Debian mirror the host uses.
  podman build -q --pull=never --network=host --format docker \
    --label "intake.standin.hash=$hash" -t "$ref" -f "$dir/Containerfile" "$dir" >/dev/null
  rm -rf "$dir"
  log "built $ref in $(($(date +%s) - t0))s"
done
