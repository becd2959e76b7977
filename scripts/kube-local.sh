#!/usr/bin/env bash
# Runs real Kubernetes control-plane components on loopback, for the chart's
# tests: no cluster, no container runtime, no kubelet.
#
#   etcd                     Debian's etcd-server, 127.0.0.1:$KUBE_LOCAL_ETCD_PORT (12379)
#   kube-apiserver           v1.36.3, https://127.0.0.1:$KUBE_LOCAL_API_PORT (16443),
#                            RBAC, PodSecurity admission, token auth
#   kube-controller-manager  v1.36.3: Deployments, ReplicaSets, Jobs, CronJobs,
#                            ServiceAccounts, garbage collection (no node
#                            lifecycle: nodes here have no kubelet)
#   KEDA operator            v2.21.0, its CRDs applied, namespace keda
#   kwok                     v0.8.0, manages the nodes annotated
#                            kwok.x-k8s.io/node=fake and their pods
#   CRDs                     the Prometheus Operator's monitoring.coreos.com
#                            kinds (ServiceMonitor, PodMonitor, PrometheusRule),
#                            for strict validation of the chart's objects
#
# Pods are scheduled and run by whoever binds them: the chart's tests
# (deploy/helm) run intake's pods as local processes and hand the others to
# kwok's node. Every address any component dials is on loopback.
#
# Usage: scripts/kube-local.sh COMMAND
#   up        build what is missing (scripts/install-tools.sh, cached), start
#             what is not running, wait until every component answers
#   env       print export lines: KUBECONFIG and INTAKE_TEST_KUBECONFIG
#   status    one line per component; exits 3 if any is down
#   down      stop every component (state is kept; `up` starts afresh)
#   reset     down, then remove the state (etcd data, certificates)
#
# Environment: KUBE_LOCAL_STATE (default ${XDG_STATE_HOME:-~/.local/state}/intake/kube-local),
# KUBE_LOCAL_ETCD_PORT, KUBE_LOCAL_API_PORT, KUBE_LOCAL_WAIT (seconds, 120),
# TOOLS (the tool cache of scripts/install-tools.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
TOOLS=${TOOLS:-$HOME/.cache/intake-tools}
STATE=${KUBE_LOCAL_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/intake/kube-local}
ETCD_PORT=${KUBE_LOCAL_ETCD_PORT:-12379}
API_PORT=${KUBE_LOCAL_API_PORT:-16443}
WAIT=${KUBE_LOCAL_WAIT:-120}
readonly KCM_PORT=$((API_PORT + 1000))
readonly KEDA_METRICS_PORT=$((API_PORT + 1001))
readonly KEDA_HEALTH_PORT=$((API_PORT + 1002))
readonly KEDA_GRPC_PORT=$((API_PORT + 1003))
readonly KWOK_PORT=$((API_PORT + 1004))
readonly KUBECONFIG_FILE=$STATE/kubeconfig
readonly PROM_OPERATOR_VERSION=v0.80.1
export KUBECONFIG=$KUBECONFIG_FILE

die() {
  echo "kube-local: $*" >&2
  exit 1
}

log() { echo "kube-local: $*" >&2; }

running() {
  local pidfile=$STATE/$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# start NAME LOG CMD...: starts CMD in the background, detached, unless running.
start() {
  local name=$1 logfile=$2
  shift 2
  if running "$name"; then
    return 0
  fi
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

stop() {
  local name=$1 pidfile=$STATE/$1.pid
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# wait_for NAME CMD...: retries CMD until it succeeds or WAIT runs out.
wait_for() {
  local name=$1 deadline=$((SECONDS + WAIT))
  shift
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 20 "$STATE/$name.log" >&2 || true
      die "$name exited; log $STATE/$name.log"
    fi
    if ((SECONDS > deadline)); then
      tail -n 20 "$STATE/$name.log" >&2 || true
      die "$name did not answer within ${WAIT}s; log $STATE/$name.log"
    fi
    sleep 1
  done
}

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

install() {
  if ! command -v etcd >/dev/null; then
    log "installing etcd-server from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
    # The package starts a system etcd on 2379; ours runs on its own port.
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
  command -v openssl >/dev/null || die "openssl is required"
  command -v kubectl >/dev/null || die "kubectl is required (any recent client)"
  scripts/install-tools.sh kube keda-operator kwok
  prom_crds
}

# prom_crds: the Prometheus Operator's CRDs, from its module (cached).
prom_crds() {
  local dir=$TOOLS/prometheus-operator-crds-$PROM_OPERATOR_VERSION
  [[ -d $dir ]] && return 0
  local mod
  mod=$(cd "$(mktemp -d)" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $mod && -d $mod/example/prometheus-operator-crd ]] ||
    die "prometheus-operator $PROM_OPERATOR_VERSION: its module (with the CRDs) could not be downloaded"
  mkdir -p "$dir.tmp"
  cp "$mod"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,podmonitors,prometheusrules}.yaml "$dir.tmp/"
  chmod u+w "$dir.tmp"/*
  mv "$dir.tmp" "$dir"
}

pki() {
  local pki=$STATE/pki
  [[ -f $pki/sa.key && -f $pki/keda/tls.crt ]] && return 0
  mkdir -p "$pki/keda" "$pki/apiserver"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # The KEDA operator's gRPC metrics service wants a CA and a leaf.
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kube-local-ca \
    -keyout "$pki/keda/ca.key" -out "$pki/keda/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
    -keyout "$pki/keda/tls.key" -out "$pki/keda/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/keda/ext.cnf"
  openssl x509 -req -in "$pki/keda/tls.csr" -CA "$pki/keda/ca.crt" -CAkey "$pki/keda/ca.key" \
    -CAcreateserial -days 3650 -extfile "$pki/keda/ext.cnf" -out "$pki/keda/tls.crt" 2>/dev/null
  local token
  token=$(openssl rand -hex 24)
  printf '%s,admin,admin,system:masters\n' "$token" >"$pki/tokens.csv"
  chmod 600 "$pki/tokens.csv" "$pki/sa.key"
}

kubeconfig() {
  local token
  token=$(cut -d, -f1 "$STATE/pki/tokens.csv")
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: kube-local
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $STATE/pki/apiserver/apiserver.crt
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: kube-local
    context: {cluster: kube-local, user: admin}
current-context: kube-local
EOF
  chmod 600 "$KUBECONFIG_FILE"
}

up() {
  local t0=$SECONDS
  mkdir -p "$STATE"
  install
  pki
  kubeconfig

  start etcd "$STATE/etcd.log" etcd --name kube-local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "kube-local=http://127.0.0.1:$((ETCD_PORT + 1))" --quota-backend-bytes 2147483648
  wait_for etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start kube-apiserver "$STATE/kube-apiserver.log" "$TOOLS/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$API_PORT" --cert-dir "$STATE/pki/apiserver" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
    --token-auth-file "$STATE/pki/tokens.csv" --authorization-mode RBAC \
    --service-cluster-ip-range 10.96.0.0/24 --endpoint-reconciler-type none
  wait_for kube-apiserver kc get --raw /readyz

  start kube-controller-manager "$STATE/kube-controller-manager.log" "$TOOLS/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_FILE" --authentication-kubeconfig "$KUBECONFIG_FILE" \
    --authorization-kubeconfig "$KUBECONFIG_FILE" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$STATE/pki/sa.key" --use-service-account-credentials \
    --controllers '*,-node-lifecycle-controller,-taint-eviction-controller,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller'
  wait_for kube-controller-manager curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"

  kc apply --server-side --force-conflicts -f "$TOOLS/keda-crds/" >/dev/null
  kc apply --server-side --force-conflicts -f "$TOOLS/prometheus-operator-crds-$PROM_OPERATOR_VERSION/" >/dev/null
  kc get ns keda >/dev/null 2>&1 || kc create ns keda >/dev/null
  kc wait --for condition=established --timeout 60s crd/scaledjobs.keda.sh crd/servicemonitors.monitoring.coreos.com >/dev/null

  start keda-operator "$STATE/keda-operator.log" env WATCH_NAMESPACE="" KEDA_CLUSTER_OBJECT_NAMESPACE=keda \
    POD_NAMESPACE=keda KUBECONFIG="$KUBECONFIG_FILE" "$TOOLS/keda-operator" --kubeconfig "$KUBECONFIG_FILE" \
    --leader-elect=false --metrics-bind-address "127.0.0.1:$KEDA_METRICS_PORT" \
    --health-probe-bind-address "127.0.0.1:$KEDA_HEALTH_PORT" \
    --metrics-service-bind-address "127.0.0.1:$KEDA_GRPC_PORT" --cert-dir "$STATE/pki/keda" \
    --enable-webhook-patching=false --enable-apiservice-patching=false --zap-log-level=info
  wait_for keda-operator curl -fsS "http://127.0.0.1:$KEDA_HEALTH_PORT/readyz"

  kwok_config
  start kwok "$STATE/kwok.log" "$TOOLS/kwok" --kubeconfig "$KUBECONFIG_FILE" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$KWOK_PORT" --node-ip 127.0.0.1 --cidr 127.10.0.0/16 \
    --config "$STATE/kwok.yaml"
  wait_for kwok curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz"
  kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node
    type: kwok
spec:
  taints:
    - key: kwok.x-k8s.io/node
      value: fake
      effect: NoSchedule
EOF
  log "up in $((SECONDS - t0))s; KUBECONFIG=$KUBECONFIG_FILE"
  status
}

# kwok_config: kwok's fast node and pod stages, from its module (cached by
# install-tools.sh), as one multi-document config.
kwok_config() {
  local s=$TOOLS/kwok-stages f
  : >"$STATE/kwok.yaml"
  for f in "$s"/node/fast/node-initialize.yaml "$s"/node/heartbeat/node-heartbeat.yaml \
    "$s"/pod/fast/pod-ready.yaml "$s"/pod/fast/pod-complete.yaml "$s"/pod/fast/pod-delete.yaml; do
    [[ -f $f ]] || die "kwok stage $f is missing; run scripts/install-tools.sh kwok"
    { echo "---"; cat "$f"; } >>"$STATE/kwok.yaml"
  done
}

status() {
  local rc=0 name
  for name in etcd kube-apiserver kube-controller-manager keda-operator kwok; do
    if running "$name"; then
      printf '%-24s up    pid %s, log %s\n' "$name" "$(cat "$STATE/$name.pid")" "$STATE/$name.log"
    else
      printf '%-24s down\n' "$name"
      rc=3
    fi
  done
  return $rc
}

down() {
  local name
  for name in kwok keda-operator kube-controller-manager kube-apiserver etcd; do
    stop "$name"
  done
}

case ${1:-} in
  up) up ;;
  env)
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
    printf 'export INTAKE_TEST_KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
    ;;
  status) status ;;
  down) down ;;
  reset)
    down
    rm -rf "$STATE"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
