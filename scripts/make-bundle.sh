#!/usr/bin/env bash
# Builds the offline bundle an air-gapped site receives (`make bundle`):
#
#   intake-bundle-VERSION/
#     images/*.tar        every image of docker-compose.yml and
#                         deploy/compose/mongo.yml, as OCI archives
#     docker-compose.yml, .env.example, deploy/… (compose override, secrets
#                         script, nginx templates, Prometheus, Alertmanager,
#                         Grafana provisioning; the Helm chart when present)
#     scripts/setup-environment.sh
#     sbom/               the Go modules compiled into intake (go version -m)
#     MANIFEST            image name, archive, image id; stand-ins are marked
#     SHA256SUMS          of every file above
#     README              how to install: scripts/setup-environment.sh --bundle .
#
# usage: scripts/make-bundle.sh [OUTDIR]   (default bundle/; the images must
# be present locally: scripts/build-images.sh, and pulled or stand-in images)
# Environment: CONTAINER_ENGINE (default podman), IMAGE_TAG (default dev).
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${CONTAINER_ENGINE:-podman}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
out=$(realpath -m "${1:-bundle}")/intake-bundle-$version
log() { printf 'make-bundle: %s\n' "$*" >&2; }

rm -rf "$out"
mkdir -p "$out/images" "$out/sbom" "$out/scripts"
# The deployment files, from git (nothing untracked, no secrets).
git ls-files -z docker-compose.yml .env.example deploy/compose/mongo.yml deploy/compose/secrets.sh \
  deploy/nginx/templates deploy/nginx/tls deploy/prometheus/prometheus.yml deploy/prometheus/rules \
  deploy/alertmanager/alertmanager.yml deploy/grafana/provisioning deploy/grafana/dashboards deploy/helm |
  tar --null -T - -cf - | tar -C "$out" -xf -
mkdir -p "$out/deploy/compose/secrets"
cp scripts/setup-environment.sh "$out/scripts/"

images=$(python3 - <<'PY'
import re
names = set()
for f in ("docker-compose.yml", "deploy/compose/mongo.yml"):
    for m in re.finditer(r"^\s+image:\s*(\S+)", open(f).read(), re.M):
        names.add(m.group(1))
print("\n".join(sorted(names)))
PY
)
tag=${IMAGE_TAG:-dev}
: >"$out/MANIFEST"
while read -r ref; do
  ref=${ref//\$\{INTAKE_VERSION:-dev\}/$tag}
  file=$(tr '/:@' '___' <<<"$ref").tar
  "$engine" image inspect "$ref" >/dev/null 2>&1 || { log "image $ref is not present locally"; exit 1; }
  standin=$("$engine" image inspect --format '{{ index .Config.Labels "intake.standin" }}' "$ref")
  log "saving $ref"
  "$engine" save -q --format oci-archive -o "$out/images/$file" "$ref"
  printf '%s images/%s %s%s\n' "$ref" "$file" "$("$engine" image inspect --format '{{.Id}}' "$ref" | cut -c1-12)" \
    "${standin:+ TEST-STAND-IN}" >>"$out/MANIFEST"
done <<<"$images"

# SBOM: the modules compiled into the intake binary, read from the binary
# itself (no SBOM generator such as syft is installed here).
go build -o "$out/sbom/intake" ./cmd/intake
go version -m "$out/sbom/intake" >"$out/sbom/intake-go-modules.txt"
rm "$out/sbom/intake"

cat >"$out/README" <<EOF2
intake offline bundle $version

Install on a machine with Docker + Compose v2, or Podman + podman-compose,
and no registry:

  cd intake-bundle-$version
  sha256sum -c SHA256SUMS
  scripts/setup-environment.sh --bundle .

The script loads images/*.tar, writes .env and the secrets, starts the
stack and validates it with one job through nginx. MANIFEST lists the
images; any marked TEST-STAND-IN is a test stand-in and not for production.
EOF2
(cd "$out" && find . -type f -printf '%P\n' | sort | xargs -d '\n' sha256sum >"$out.sums" && mv "$out.sums" SHA256SUMS)
log "bundle in $out ($(du -sh "$out" | cut -f1))"
