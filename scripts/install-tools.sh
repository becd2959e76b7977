#!/usr/bin/env bash
# Builds pinned developer tools from the Go module proxy into a cache
# directory (default ~/.cache/intake-tools), once. `go install tool@version`
# can be refused when the proxy's version list is unavailable, so each tool is
# built in a throwaway module instead. A tool is rebuilt only when its pinned
# version changes (a stamp file beside the binary records it).
#
# Usage: scripts/install-tools.sh [TOOL ...]   (no argument: every tool but
# the benchmark tools river and vegeta, which scripts/bench-compare.sh and
# scripts/load-api.sh build on first use)
#
# The Kubernetes components (kube-apiserver, kube-controller-manager) are
# built together from k8s.io/kubernetes, whose go.mod needs every k8s.io
# staging module replaced by its published version; the KEDA operator's CRDs
# are copied from its module beside the binary (keda-crds/).
set -euo pipefail

TOOLS="${TOOLS:-$HOME/.cache/intake-tools}"
mkdir -p "$TOOLS"

readonly KUBE_VERSION=v1.36.3
readonly KEDA_VERSION=v2.21.0
readonly KWOK_VERSION=v0.8.0

declare -A MODULES=(
  [golangci-lint]="github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"
  [helm]="helm.sh/helm/v3/cmd/helm@v3.22.0"
  [kubeconform]="github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
  [actionlint]="github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
  [river]="github.com/riverqueue/river/cmd/river@v0.26.0"
  [vegeta]="github.com/tsenart/vegeta/v12@v12.13.0"
  [kwok]="sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  [keda-operator]="github.com/kedacore/keda/v2/cmd/operator@$KEDA_VERSION"
  [kube-apiserver]="k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
  [kube-controller-manager]="k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION"
)

# The staging modules k8s.io/kubernetes requires at v0.0.0 and replaces with
# local paths in its own repository.
readonly KUBE_STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime
  client-go cloud-provider cluster-bootstrap code-generator component-base
  component-helpers controller-manager cri-api cri-client cri-streaming
  csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
  kubelet metrics mount-utils pod-security-admission sample-apiserver streaming)

current() {
  local name=$1 spec=$2
  [[ -x $TOOLS/$name && -f $TOOLS/.$name.version && $(cat "$TOOLS/.$name.version") == "$spec" ]]
}

# build NAME...: builds the named tools (from one throwaway module, so that
# tools sharing packages compile them once).
build() {
  local todo=() name spec
  for name in "$@"; do
    spec=${MODULES[$name]:-}
    if [[ -z $spec ]]; then
      echo "install-tools: unknown tool $name (known: ${!MODULES[*]})" >&2
      return 2
    fi
    current "$name" "$spec" || todo+=("$name")
  done
  ((${#todo[@]})) || return 0
  local work
  work=$(mktemp -d)
  (
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    go mod init tools >/dev/null 2>&1
    if [[ ${MODULES[${todo[0]}]} == k8s.io/kubernetes/* ]]; then
      local m
      for m in "${KUBE_STAGING[@]}"; do
        go mod edit -replace "k8s.io/$m=k8s.io/$m@${KUBE_VERSION/v1/v0}"
      done
    fi
    for name in "${todo[@]}"; do
      spec=${MODULES[$name]}
      echo "install-tools: building $spec" >&2
      go get "$spec" >/dev/null 2>&1 || go get "$spec"
    done
    for name in "${todo[@]}"; do
      spec=${MODULES[$name]}
      go build -trimpath -ldflags "-s -w" -o "$TOOLS/$name.tmp" "${spec%@*}"
      mv "$TOOLS/$name.tmp" "$TOOLS/$name"
      echo "$spec" >"$TOOLS/.$name.version"
    done
  )
}

# keda-crds: the CRDs of the pinned KEDA operator, from its module.
keda_crds() {
  local dir
  dir=$(go env GOMODCACHE)/github.com/kedacore/keda/v2@$KEDA_VERSION/config/crd/bases
  if [[ ! -d $dir ]]; then
    (cd "$(mktemp -d)" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" >/dev/null)
  fi
  rm -rf "$TOOLS/keda-crds"
  mkdir -p "$TOOLS/keda-crds"
  cp "$dir"/*.yaml "$TOOLS/keda-crds/"
  chmod u+w "$TOOLS/keda-crds"/*
}

# kwok-stages: the stage files kwok needs (fast nodes and pods), from its module.
kwok_stages() {
  local dir
  dir=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  if [[ ! -d $dir ]]; then
    (cd "$(mktemp -d)" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null)
  fi
  rm -rf "$TOOLS/kwok-stages"
  mkdir -p "$TOOLS/kwok-stages"
  cp -r "$dir"/. "$TOOLS/kwok-stages/"
  chmod -R u+w "$TOOLS/kwok-stages"
}

if [[ $# -eq 0 ]]; then
  set -- golangci-lint helm kubeconform actionlint kwok keda-operator kube
fi
for tool in "$@"; do
  case $tool in
    kube) build kube-apiserver kube-controller-manager ;;
    keda-operator)
      build keda-operator
      [[ -d $TOOLS/keda-crds ]] || keda_crds
      ;;
    kwok)
      build kwok
      [[ -d $TOOLS/kwok-stages ]] || kwok_stages
      ;;
    *) build "$tool" ;;
  esac
done
