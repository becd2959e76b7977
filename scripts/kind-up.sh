#!/usr/bin/env bash
# Runs intake on a local kind cluster: KEDA from its Helm chart, the two
# images built with Docker and loaded into the cluster, the chart installed
# with its demo defaults (in-cluster MongoDB and Azurite), and the API
# forwarded to http://127.0.0.1:5001/. Needs Docker, kind, kubectl and helm.
#
# Usage: scripts/kind-up.sh [up|down]
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CLUSTER=${KIND_CLUSTER:-intake}
readonly KEDA_VERSION=2.21.0
readonly TAG=${INTAKE_IMAGE_TAG:-dev}

die() {
  echo "kind-up: $*" >&2
  exit 1
}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

case ${1:-up} in
  down)
    kind delete cluster --name "$CLUSTER"
    exit 0
    ;;
  up) ;;
  *) die "usage: scripts/kind-up.sh [up|down]" ;;
esac

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null

helm repo add kedacore https://kedacore.github.io/charts >/dev/null 2>&1 || true
helm upgrade --install keda kedacore/keda --namespace keda --create-namespace \
  --version "$KEDA_VERSION" --wait --timeout 5m

for target in api worker; do
  docker build --target "$target" -t "intake-$target:$TAG" .
  kind load docker-image --name "$CLUSTER" "intake-$target:$TAG"
done

kubectl get ns intake >/dev/null 2>&1 || kubectl create ns intake
kubectl label --overwrite ns intake pod-security.kubernetes.io/enforce=restricted >/dev/null
helm upgrade --install intake deploy/helm/intake --namespace intake \
  --set image.api.repository=docker.io/library/intake-api --set image.api.tag="$TAG" \
  --set image.worker.repository=docker.io/library/intake-worker --set image.worker.tag="$TAG" \
  --set image.pullPolicy=Never --set config.filingsDelay=200ms \
  --wait --timeout 10m
helm test intake --namespace intake

echo "kind-up: API key: $(kubectl -n intake get secret intake -o jsonpath='{.data.api-keys}' | base64 -d)"
echo "kind-up: http://127.0.0.1:5001/ (Ctrl-C stops the port-forward)"
exec kubectl -n intake port-forward svc/intake-api 5001:5001
