#!/usr/bin/env bash
# Build the intake container images (targets api and worker of ./Dockerfile).
#
# usage: scripts/build-images.sh [--offline] [--bases standin|mirror|registry]
#
# Base images (INTAKE_BASES, or --bases):
#   standin   (default with podman) construct local stand-ins under the exact
#             names the Dockerfile uses, with no registry: a Go toolchain image
#             from a debootstrapped Debian bookworm minbase plus this machine's
#             /usr/local/go and CA bundle, and a distroless-like runtime from
#             scratch (CA certificates, tzdata, nonroot 65532). For proving the
#             Dockerfile where no registry is reachable; not for release.
#   mirror    an air-gapped site: pull the bases from an internal mirror
#             (INTAKE_MIRROR_GO_IMAGE, INTAKE_MIRROR_RUNTIME_IMAGE) and tag them
#             with the names the Dockerfile uses.
#   registry  pull the bases from their public registries.
# Every build then runs with --pull=never, so the images are built from
# exactly the bases present locally.
#
# --offline  build with --network=none from vendored modules: the repo is
#            copied to a temporary directory, `go mod vendor` fills vendor/
#            from the local module cache (GOFLAGS=-mod=mod GOPROXY=off, so no
#            network there either), and the Dockerfile skips `go mod download`
#            (GOFLAGS=-mod=vendor).
#
# Environment: CONTAINER_ENGINE (podman or docker; default podman if
# installed), IMAGE_PREFIX (default intake-), IMAGE_TAG (default dev),
# VERSION/REVISION/CREATED (default from git: describe, HEAD, commit time),
# DEBIAN_MIRROR (debootstrap source, default http://deb.debian.org/debian),
# XDG_CACHE_HOME (stand-in rootfs cache: $XDG_CACHE_HOME/intake/images).
set -euo pipefail
cd "$(dirname "$0")/.."

# The names the Dockerfile's FROM lines use; keep in sync with ./Dockerfile.
GO_IMAGE=docker.io/library/golang:1.26.8-bookworm
RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
GO_VERSION=${GO_IMAGE#*golang:}
GO_VERSION=go${GO_VERSION%%-*}

offline=0
bases=${INTAKE_BASES:-}
while (($#)); do
  case $1 in
    --offline) offline=1 ;;
    --bases) bases=${2:?--bases needs standin, mirror or registry}; shift ;;
    --bases=*) bases=${1#--bases=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z ${CONTAINER_ENGINE:-} ]]; then
  if command -v podman >/dev/null; then CONTAINER_ENGINE=podman; else CONTAINER_ENGINE=docker; fi
fi
engine=$CONTAINER_ENGINE
if [[ -z $bases ]]; then
  if [[ $engine == podman ]]; then bases=standin; else bases=registry; fi
fi

prefix=${IMAGE_PREFIX:-intake-}
tag=${IMAGE_TAG:-dev}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
# The commit time, not the clock: rebuilding a commit gives the same labels
# and reuses the build cache.
created=${CREATED:-$(TZ=UTC git show -s --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD 2>/dev/null || echo unknown)}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/intake/images
started=$(date +%s)

log() { printf 'build-images: %s\n' "$*" >&2; }

# configure_podman makes rootful podman work in a container without systemd
# (no default ulimits, cgroupfs, runc, netavark): scripts/configure-podman.sh.
configure_podman() {
  [[ $engine == podman && $(id -u) == 0 ]] || return 0
  scripts/configure-podman.sh
}

# image_label prints a label of a local image, or nothing when it is absent.
image_label() {
  "$engine" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

standin_go() {
  local goroot fp rootfs
  goroot=$(go env GOROOT)
  if [[ $("$goroot/bin/go" env GOVERSION) != "$GO_VERSION" ]]; then
    log "this machine's Go is $("$goroot/bin/go" env GOVERSION), the Dockerfile pins $GO_VERSION; install $GO_VERSION or use --bases mirror"
    exit 1
  fi
  fp="$GO_VERSION $(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)"
  if [[ $(image_label "$GO_IMAGE" intake.standin) == "$fp" ]]; then
    log "stand-in $GO_IMAGE is current"
    return
  fi
  command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install debootstrap"; exit 1; }
  rootfs=$cache/bookworm-minbase
  if [[ ! -f $rootfs/.complete ]]; then
    log "debootstrap bookworm minbase into $rootfs (cached for later runs)"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1 ||
      { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  log "importing stand-in $GO_IMAGE ($GO_VERSION from $goroot)"
  # The minbase stays pristine in the cache; Go and the CA bundle are added
  # through tar --transform so that a new Go needs no new debootstrap.
  {
    tar -C "$rootfs" --exclude=./.complete -cf - .
  } >"$cache/golang.tar"
  tar -C "$goroot/.." --transform "s,^\./$(basename "$goroot"),./usr/local/go," \
    -rf "$cache/golang.tar" "./$(basename "$goroot")"
  tar -C / -rf "$cache/golang.tar" ./etc/ssl/certs/ca-certificates.crt
  "$engine" import \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV GOPATH=/go' \
    --change "ENV GOLANG_VERSION=${GO_VERSION#go}" \
    --change 'WORKDIR /go' \
    --change "LABEL intake.standin=\"$fp\"" \
    --change 'CMD ["bash"]' \
    "$cache/golang.tar" "$GO_IMAGE" >/dev/null
  rm -f "$cache/golang.tar"
}

standin_runtime() {
  local fp dir zoneinfo=/usr/share/zoneinfo
  [[ -d $zoneinfo ]] || zoneinfo=$cache/bookworm-minbase/usr/share/zoneinfo
  fp="static-nonroot-1 $(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)"
  if [[ $(image_label "$RUNTIME_IMAGE" intake.standin) == "$fp" ]]; then
    log "stand-in $RUNTIME_IMAGE is current"
    return
  fi
  log "importing stand-in $RUNTIME_IMAGE (scratch + CA certificates, tzdata, nonroot 65532)"
  dir=$(mktemp -d)
  mkdir -p "$dir"/etc/ssl/certs "$dir"/usr/share "$dir"/home/nonroot "$dir"/root "$dir"/tmp
  cp /etc/ssl/certs/ca-certificates.crt "$dir"/etc/ssl/certs/
  cp -a "$zoneinfo" "$dir"/usr/share/zoneinfo
  cat >"$dir"/etc/passwd <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$dir"/etc/group <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' >"$dir"/etc/nsswitch.conf
  chmod 0700 "$dir"/root
  chmod 1777 "$dir"/tmp
  chown 65532:65532 "$dir"/home/nonroot
  chmod 0700 "$dir"/home/nonroot
  tar -C "$dir" --numeric-owner -cf - . | "$engine" import \
    --change 'USER 65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL intake.standin=\"$fp\"" \
    - "$RUNTIME_IMAGE" >/dev/null
  rm -rf "$dir"
}

pull_bases() {
  local go_src=$1 runtime_src=$2
  "$engine" pull "$go_src"
  "$engine" pull "$runtime_src"
  [[ $go_src == "$GO_IMAGE" ]] || "$engine" tag "$go_src" "$GO_IMAGE"
  [[ $runtime_src == "$RUNTIME_IMAGE" ]] || "$engine" tag "$runtime_src" "$RUNTIME_IMAGE"
}

configure_podman
mkdir -p "$cache"
case $bases in
  standin)
    [[ $engine == podman ]] || { log "--bases standin needs podman"; exit 2; }
    standin_go
    standin_runtime
    ;;
  mirror)
    pull_bases "${INTAKE_MIRROR_GO_IMAGE:?set INTAKE_MIRROR_GO_IMAGE to the mirror of $GO_IMAGE}" \
      "${INTAKE_MIRROR_RUNTIME_IMAGE:?set INTAKE_MIRROR_RUNTIME_IMAGE to the mirror of $RUNTIME_IMAGE}"
    ;;
  registry) pull_bases "$GO_IMAGE" "$RUNTIME_IMAGE" ;;
  *) log "unknown --bases $bases"; exit 2 ;;
esac

context=.
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")
[[ -n ${GOPROXY:-} && $offline == 0 ]] && build_args+=(--build-arg "GOPROXY=$GOPROXY")
engine_args=(--pull=never)
[[ $engine == podman ]] && engine_args+=(--format docker)
if ((offline)); then
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  log "offline: vendoring modules into a copy of the repo at $context"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$context" -xf -
  (cd "$context" && GOFLAGS=-mod=mod GOPROXY=off go mod vendor)
  build_args+=(--build-arg GOFLAGS=-mod=vendor)
  # --no-cache: every RUN step runs again under --network=none (buildah
  # would otherwise reuse the online build's download layer).
  engine_args+=(--network=none --no-cache)
fi

for target in api worker; do
  log "building ${prefix}${target}:${tag} (target $target)"
  t0=$(date +%s)
  "$engine" build "${engine_args[@]}" "${build_args[@]}" --target "$target" \
    -t "${prefix}${target}:${tag}" -f Dockerfile "$context"
  log "${prefix}${target}:${tag} built in $(($(date +%s) - t0))s"
done
log "done in $(($(date +%s) - started))s"
