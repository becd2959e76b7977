#!/usr/bin/env bash
# Brings intake's Compose stack up on one machine, checked, with Docker +
# Compose v2 or with Podman + podman-compose, from the repository or from an
# offline bundle. Four phases, each idempotent (a second run changes nothing
# and says so):
#
#   preflight  tools and versions, disk and memory minimums, free ports, the
#              registry (or, with --bundle, none)
#   configure  directory tree with modes, .env from .env.example, generated
#              secrets (never overwritten), log directory
#   deploy     images (bundle → load; else present locally, or built from
#              source with --build), services started in dependency order,
#              healthy, migrations run
#   validate   every service healthy, one job end to end through nginx
#              (create, complete, fetch a document), status report
#
# usage: scripts/setup-environment.sh [OPTIONS]
#   --engine docker|podman  force the engine (default: Docker with Compose v2
#                           when its daemon answers, else Podman)
#   --phase NAME            run one phase: preflight, configure, deploy, validate
#   --file FILE             an extra compose file, e.g. deploy/compose/mongo.yml
#                           (repeatable; docker-compose.yml always comes first)
#   --bundle PATH           install from an offline bundle (make bundle): its
#                           images are loaded, no registry is needed
#   --build                 build intake-api/intake-worker from source when absent
#   --allow-standins        accept images labelled intake.standin (test
#                           stand-ins of the official images; CI only)
#   --down                  stop and remove the stack (volumes are kept)
#   --dry-run               print what would be done, change nothing
#   --json                  the status report as JSON on stdout
#   --timeout SECONDS       wait for health at most this long per step (300)
#   -h, --help              this text
#
# Environment: NO_COLOR (no colour; colour is used only on a terminal),
# INTAKE_SETUP_MIN_DISK_MB (default 4096), INTAKE_SETUP_MIN_MEM_MB (2048),
# INTAKE_SETUP_LOG (log file, default logs/setup-environment.log in the
# project directory).
#
# Exit codes, one per failure class:
#   0 success           1 internal error       2 usage
#   3 tool missing or too old                  4 disk or memory below minimum
#   5 a port is in use  6 registry or bundle unreachable
#   7 configuration     8 images (load, pull, build)
#   9 a service did not become healthy         10 migration failed
#   11 validation (health or the end-to-end job)
set -euo pipefail

readonly EXIT_INTERNAL=1 EXIT_USAGE=2 EXIT_TOOL=3 EXIT_RESOURCES=4 EXIT_PORT=5 EXIT_NETWORK=6
readonly EXIT_CONFIG=7 EXIT_IMAGES=8 EXIT_HEALTH=9 EXIT_MIGRATE=10 EXIT_VALIDATE=11

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=${INTAKE_SETUP_PROJECT_DIR:-$(cd "$here/.." && pwd)}
engine="" phase=all bundle="" build=0 standins=0 down=0 dry=0 json=0 timeout=300
files=(docker-compose.yml)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --engine) engine=${2:-}; shift ;;
    --engine=*) engine=${1#*=} ;;
    --phase) phase=${2:-}; shift ;;
    --phase=*) phase=${1#*=} ;;
    --file) files+=("${2:-}"); shift ;;
    --file=*) files+=("${1#*=}") ;;
    --bundle) bundle=${2:-}; shift ;;
    --bundle=*) bundle=${1#*=} ;;
    --timeout) timeout=${2:-}; shift ;;
    --timeout=*) timeout=${1#*=} ;;
    --build) build=1 ;;
    --allow-standins) standins=1 ;;
    --down) down=1 ;;
    --dry-run) dry=1 ;;
    --json) json=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup-environment: unknown argument $1 (see --help)" >&2; exit $EXIT_USAGE ;;
  esac
  shift
done
case $engine in "" | docker | podman) ;; *) echo "setup-environment: --engine must be docker or podman" >&2; exit $EXIT_USAGE ;; esac
case $phase in all | preflight | configure | deploy | validate) ;; *) echo "setup-environment: --phase must be preflight, configure, deploy or validate" >&2; exit $EXIT_USAGE ;; esac
[[ $timeout =~ ^[0-9]+$ ]] || { echo "setup-environment: --timeout needs seconds" >&2; exit $EXIT_USAGE; }
if [[ -n $bundle ]]; then
  [[ -f $bundle/MANIFEST && -d $bundle/images ]] || { echo "setup-environment: $bundle is not a bundle (no MANIFEST and images/)" >&2; exit $EXIT_NETWORK; }
  project=$(cd "$bundle" && pwd)
fi
cd "$project"

# --- output ---------------------------------------------------------------
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  c_ok=$'\e[32m' c_warn=$'\e[33m' c_err=$'\e[31m' c_dim=$'\e[2m' c_off=$'\e[0m'
else
  c_ok="" c_warn="" c_err="" c_dim="" c_off=""
fi
logfile=${INTAKE_SETUP_LOG:-$project/logs/setup-environment.log}
if ((!dry)); then mkdir -p "$(dirname "$logfile")"; fi
out() { if ((json)); then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi; }
record() { ((dry)) || printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"; }
say() { out "${c_dim}==>${c_off} $*"; record "$*"; }
ok() { out "  ${c_ok}ok${c_off}   $*"; record "ok $*"; }
same() { out "  ${c_dim}same${c_off} $*"; record "unchanged $*"; }
warn() { out "  ${c_warn}warn${c_off} $*"; record "warn $*"; }
die() { local code=$1; shift; printf '%s\n' "  ${c_err}FAIL${c_off} $*" >&2; record "FAIL($code) $*"; exit "$code"; }
run() {
  if ((dry)); then out "  would run: $*"; return 0; fi
  record "run: $*"
  "$@"
}
changes=0

# --- engine ---------------------------------------------------------------
detect_engine() {
  [[ -n $engine ]] && return
  if command -v docker >/dev/null && docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null && command -v podman-compose >/dev/null; then
    engine=podman
  else
    die $EXIT_TOOL "neither Docker with Compose v2 (docker compose) nor podman with podman-compose found: install one (apt-get install podman podman-compose)"
  fi
}

# compose ARGS: the engine's compose on the project's files.
compose() {
  if [[ $engine == docker ]]; then
    local f=()
    for x in "${files[@]}"; do f+=(-f "$x"); done
    docker compose -p intake "${f[@]}" "$@"
  else
    podman-compose -p intake -f "$podman_file" "$@"
  fi
}

# --- preflight ------------------------------------------------------------
version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; }

preflight() {
  say "preflight ($engine)"
  local v
  for t in python3 curl; do
    command -v "$t" >/dev/null || die $EXIT_TOOL "$t is missing: apt-get install $t"
  done
  if [[ $engine == docker ]]; then
    command -v docker >/dev/null || die $EXIT_TOOL "docker is missing: install Docker Engine 24 or later"
    v=$(docker compose version --short 2>/dev/null) || die $EXIT_TOOL "docker compose (v2) is missing: install the docker-compose-plugin"
    version_ge "${v#v}" 2.20.0 || die $EXIT_TOOL "docker compose $v is too old: 2.20 or later is needed (!override, include)"
    docker info >/dev/null 2>&1 || die $EXIT_TOOL "the Docker daemon does not answer: start it (systemctl start docker)"
  else
    command -v podman >/dev/null || die $EXIT_TOOL "podman is missing: apt-get install podman (or scripts/configure-podman.sh)"
    command -v podman-compose >/dev/null || die $EXIT_TOOL "podman-compose is missing: apt-get install podman-compose"
    v=$(podman version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
    version_ge "$v" 4.3.0 || die $EXIT_TOOL "podman $v is too old: 4.3 or later is needed"
    python3 -c 'import yaml' 2>/dev/null || die $EXIT_TOOL "python3-yaml is missing: apt-get install python3-yaml"
    [[ $(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) == netavark ]] ||
      die $EXIT_TOOL "podman does not use netavark (service names resolve on one network only): run scripts/configure-podman.sh"
  fi
  ok "tools: $engine $v"

  local min_disk=${INTAKE_SETUP_MIN_DISK_MB:-4096} min_mem=${INTAKE_SETUP_MIN_MEM_MB:-2048} disk mem
  disk=$(df -Pm "$project" | awk 'NR==2 {print $4}')
  ((disk >= min_disk)) || die $EXIT_RESOURCES "only ${disk} MB free under $project, ${min_disk} MB needed: free disk space"
  mem=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
  ((mem >= min_mem)) || die $EXIT_RESOURCES "only ${mem} MB of memory available, ${min_mem} MB needed"
  ok "resources: ${disk} MB disk, ${mem} MB memory free"

  local port name
  for name in INTAKE_PUBLIC_PORT:8080 PROMETHEUS_PORT:9090 ALERTMANAGER_PORT:9093 GRAFANA_PORT:3000; do
    port=$(env_value "${name%%:*}" "${name#*:}")
    if port_in_use "$port" && ! ours_on "$port"; then
      die $EXIT_PORT "port $port (${name%%:*}) is in use by another program: stop it or set ${name%%:*} in .env"
    fi
  done
  ok "ports free (or already ours)"

  if [[ -n $bundle ]]; then
    (cd "$bundle" && sha256sum --quiet -c SHA256SUMS) || die $EXIT_NETWORK "the bundle's checksums do not match: copy it again"
    ok "bundle $bundle: checksums match, no registry needed"
  elif [[ -n $(missing_images) ]]; then
    if ((build)); then
      ok "missing images will be built from source: $(missing_images | tr '\n' ' ')"
    elif ! registry_reachable; then
      die $EXIT_NETWORK "images missing ($(missing_images | tr '\n' ' ')) and no registry reachable: use --bundle PATH, or --build for intake's own"
    fi
  else
    ok "every image is present locally"
  fi
}

env_value() {
  local v=""
  [[ -f .env ]] && v=$(sed -n "s/^$1=//p" .env | tail -n1)
  printf '%s\n' "${v:-$2}"
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# ours_on PORT: a container of this project publishes PORT.
# (The output is read whole: grep -q closing the pipe early would fail the
# pipeline under pipefail.)
ours_on() {
  local ports
  ports=$("$engine" ps --filter label=com.docker.compose.project=intake --format '{{.Ports}}' 2>/dev/null || true)
  [[ $ports == *":$1->"* ]]
}
registry_reachable() { curl -fsS -m 5 -o /dev/null https://registry-1.docker.io/v2/ 2>/dev/null || [[ $? == 22 ]]; }

# images: every image the project's services use.
images() { project_json | python3 -c 'import json,sys; print("\n".join(sorted({s["image"] for s in json.load(sys.stdin)["services"].values() if s.get("image")})))'; }
missing_images() {
  local i
  while read -r i; do
    "$engine" image exists "$i" 2>/dev/null || "$engine" image inspect "$i" >/dev/null 2>&1 || printf '%s\n' "$i"
  done < <(images)
}

# --- the project, resolved --------------------------------------------------
# project_json prints the merged compose project (files in order, YAML
# merge keys, !override, .env interpolation, inactive profiles dropped) as
# JSON; for podman it is also written as the single compose file
# podman-compose runs, with its 1.0.3 quirks worked around:
#   - healthcheck tests become strings (it pops CMD off a list in place, so
#     the second replica fails); the script runs the probes itself in exec
#     form, since without systemd nothing runs them anyway;
#   - depends_on conditions are dropped (ignored; the script orders starts);
#   - networks no service uses are dropped.
podman_file=""
project_json() {
  python3 - "$engine" "${files[@]}" <<'PY'
import json, os, re, sys
import yaml

engine, files = sys.argv[1], sys.argv[2:]

class Override:
    def __init__(self, v): self.v = v
class Loader(yaml.SafeLoader): pass
def ov(loader, node):
    if isinstance(node, yaml.MappingNode): return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode): return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))
Loader.add_constructor("!override", ov)
Loader.add_constructor("!reset", lambda l, n: None)

def merge(a, b):
    if isinstance(b, Override): return b.v
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a.get(k), v) if k in a else (v.v if isinstance(v, Override) else v)
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    return b

env = {}
if os.path.exists(".env"):
    for line in open(".env"):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1); env[k] = v
env.update({k: v for k, v in os.environ.items() if k in env})

def interp(s):
    def rep(m):
        if m.group(0) == "$$": return "$"
        name, op, dflt = m.group(2), m.group(3), m.group(4) or ""
        val = env.get(name, os.environ.get(name))
        if op == ":-": return val if val else dflt
        if op == "-": return val if val is not None else dflt
        return val or ""
    return re.sub(r"\$\$|\$\{([{]?)([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", rep, s)
def walk(x):
    if isinstance(x, dict): return {k: walk(v) for k, v in x.items()}
    if isinstance(x, list): return [walk(v) for v in x]
    if isinstance(x, str): return interp(x)
    return x

doc = {}
for f in files:
    with open(f) as fh: doc = merge(doc, yaml.load(fh, Loader=Loader) or {})
doc = {k: v for k, v in doc.items() if not k.startswith("x-")}
active = set(filter(None, os.environ.get("COMPOSE_PROFILES", "").split(",")))
doc["services"] = {n: s for n, s in doc["services"].items() if not s.get("profiles") or set(s["profiles"]) & active}
for s in doc["services"].values():
    deps = s.get("depends_on") or {}
    if isinstance(deps, list): deps = {d: {"condition": "service_started"} for d in deps}
    s["depends_on"] = {d: c for d, c in deps.items() if d in doc["services"]}
resolved = walk(doc)
json.dump(resolved, sys.stdout)

if engine == "podman" and os.environ.get("INTAKE_PODMAN_WRITE"):
    # Interpolated here (podman-compose would read .env next to the
    # generated file), "$" escaped again, relative paths made absolute.
    def esc(x):
        if isinstance(x, dict): return {k: esc(v) for k, v in x.items()}
        if isinstance(x, list): return [esc(v) for v in x]
        if isinstance(x, str): return x.replace("$", "$$")
        return x
    def absolute(path):
        return os.path.abspath(path) if path.startswith(".") else path
    p = esc(json.loads(json.dumps(resolved)))
    for sec in (p.get("secrets") or {}).values():
        if "file" in sec: sec["file"] = absolute(sec["file"])
    for s in p["services"].values():
        vols = []
        for v in s.get("volumes") or []:
            if isinstance(v, str) and v.startswith("."):
                src, rest = v.split(":", 1); v = absolute(src) + ":" + rest
            vols.append(v)
        if vols: s["volumes"] = vols
        b = s.get("build")
        if isinstance(b, dict) and "context" in b: b["context"] = absolute(b["context"])
    # Podman writes the host's nameservers after aardvark-dns into
    # resolv.conf; nginx round-robins over every resolver it is given, so
    # a service name would fail half the time (Docker gives only
    # 127.0.0.11). podman-compose 1.0.3 ignores dns:, so a service that
    # takes its resolvers from resolv.conf (NGINX_ENTRYPOINT_LOCAL_RESOLVERS)
    # gets NGINX_LOCAL_RESOLVERS set to the aardvark-dns address of its
    # first network instead, which the entrypoint's envsubst uses as is.
    gateways = json.loads(os.environ.get("INTAKE_PODMAN_GATEWAYS") or "{}")
    for s in p["services"].values():
        nets = s.get("networks") or []
        nets = list(nets) if not isinstance(nets, list) else nets
        env = s.get("environment") or {}
        if isinstance(env, dict) and "NGINX_ENTRYPOINT_LOCAL_RESOLVERS" in env and nets and nets[0] in gateways:
            del env["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"]
            env["NGINX_LOCAL_RESOLVERS"] = gateways[nets[0]]
    used = set()
    for s in p["services"].values():
        hc = s.get("healthcheck") or {}
        t = hc.get("test")
        if isinstance(t, list) and t and t[0] in ("CMD", "CMD-SHELL"):
            hc["test"] = " ".join(t[1:]) if t[0] == "CMD-SHELL" else " ".join(json.dumps(x) for x in t[1:])
        if s.get("depends_on"): s["depends_on"] = sorted(s["depends_on"])
        used.update(s.get("networks") or [])
    p["networks"] = {n: v for n, v in (p.get("networks") or {}).items() if n in used}
    os.makedirs(".setup", exist_ok=True)
    with open(".setup/podman-compose.yml", "w") as fh:
        fh.write("# Generated by scripts/setup-environment.sh for podman-compose 1.0.3; do not edit.\n")
        yaml.safe_dump(p, fh, sort_keys=False)
PY
}

# --- configure --------------------------------------------------------------
configure() {
  say "configure"
  local d
  for d in logs deploy/compose/secrets; do
    if [[ -d $d ]]; then
      same "$d/"
    else
      run mkdir -p "$d"
      changes=1
      ((dry)) || ok "created $d/"
    fi
  done
  if [[ -d deploy/compose/secrets ]]; then run chmod 0700 deploy/compose/secrets; fi
  if [[ -f .env ]]; then
    same ".env (kept; compare with .env.example after an upgrade)"
  else
    [[ -f .env.example ]] || die $EXIT_CONFIG ".env.example is missing from $project"
    run cp .env.example .env && run chmod 0600 .env && ok "wrote .env from .env.example" && changes=1
  fi
  local before after
  before=$( (find deploy/compose/secrets -type f 2>/dev/null || true) | wc -l)
  if ((dry)); then
    out "  would run: deploy/compose/secrets.sh (writes only missing secret files)"
  else
    deploy/compose/secrets.sh >>"$logfile" 2>&1 || die $EXIT_CONFIG "deploy/compose/secrets.sh failed; see $logfile"
    after=$(find deploy/compose/secrets -type f | wc -l)
    if ((after > before)); then ok "generated $((after - before)) secret files"; changes=1; else same "secrets (none overwritten)"; fi
  fi
  if [[ $engine == podman ]] && ((!dry)); then
    local old=""
    [[ -f .setup/podman-compose.yml ]] && old=$(sha256sum <.setup/podman-compose.yml)
    INTAKE_PODMAN_WRITE=1 project_json >/dev/null || die $EXIT_CONFIG "the compose files do not load: $(compose_error)"
    podman_networks
    if [[ $old == "$(sha256sum <.setup/podman-compose.yml)" ]]; then same ".setup/podman-compose.yml"; else ok "rendered .setup/podman-compose.yml"; changes=1; fi
  fi
}
compose_error() { project_json 2>&1 >/dev/null | tail -n1; }

# --- deploy -----------------------------------------------------------------
load_bundle() {
  local a
  for a in "$bundle"/images/*.tar; do
    run "$engine" load -q -i "$a" >>"$logfile" 2>&1 || die $EXIT_IMAGES "could not load $a"
  done
  ok "loaded $(find "$bundle/images" -name '*.tar' | wc -l) images from the bundle"
}

ensure_images() {
  if [[ -n $bundle && -n $(missing_images) ]]; then load_bundle; fi
  local missing
  missing=$(missing_images)
  if grep -qE '^(localhost/)?intake-(api|worker):' <<<"$missing"; then
    ((build)) || die $EXIT_IMAGES "intake images missing: $(grep intake- <<<"$missing" | tr '\n' ' ')(use --build or --bundle)"
    CONTAINER_ENGINE=$engine IMAGE_TAG=$(env_value INTAKE_VERSION dev) run scripts/build-images.sh >>"$logfile" 2>&1 ||
      die $EXIT_IMAGES "scripts/build-images.sh failed; see $logfile"
    changes=1
  fi
  missing=$(missing_images)
  if [[ -n $missing ]]; then
    ((dry)) && { out "  would pull: $(tr '\n' ' ' <<<"$missing")"; return; }
    local i
    while read -r i; do
      run "$engine" pull -q "$i" >>"$logfile" 2>&1 || die $EXIT_IMAGES "could not pull $i: use --bundle PATH at an air-gapped site"
    done <<<"$missing"
    changes=1
  fi
  if ((!standins)); then
    while read -r i; do
      [[ -n $("$engine" image inspect --format '{{ index .Config.Labels "intake.standin" }}' "$i" 2>/dev/null) ]] &&
        die $EXIT_IMAGES "$i is a test stand-in (label intake.standin), not the official image: pull the real one, or pass --allow-standins in CI"
    done < <(images)
  fi
  ok "images present"
}

# Start order: datastores, the migration, intake, the edge and monitoring.
tiers() {
  project_json | python3 -c '
import json, sys
s = json.load(sys.stdin)["services"]
left, tiers = set(s), []
while left:
    t = sorted(n for n in left if not (set(s[n].get("depends_on") or {}) & left))
    if not t: raise SystemExit("dependency cycle among " + " ".join(sorted(left)))
    tiers.append(t); left -= set(t)
print("\n".join(" ".join(t) for t in tiers))'
}

# containers SERVICE: the service's container ids.
containers() {
  "$engine" ps -a -q --filter "label=com.docker.compose.project=intake" --filter "label=com.docker.compose.service=$1" 2>/dev/null || true
}

# healthcheck SERVICE: the test of the service's healthcheck as a JSON list
# (exec form), or nothing.
healthcheck() {
  project_json | python3 -c '
import json, sys, shlex
h = (json.load(sys.stdin)["services"][sys.argv[1]].get("healthcheck") or {})
t = h.get("test")
if h.get("disable") or not t or t == ["NONE"]: raise SystemExit(0)
if isinstance(t, str): t = ["CMD-SHELL", t]
print(json.dumps(t[1:] if t[0] == "CMD" else ["/bin/sh", "-c", t[1]]))' "$1"
}

# probe CONTAINER: 0 when the container is healthy now.
probe() {
  local id=$1 svc=$2 status
  if [[ $engine == docker ]]; then
    status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
    [[ $status == healthy || ($status == running && -z ${hc[$svc]}) ]]
  else
    [[ $(podman inspect --format '{{.State.Status}}' "$id" 2>/dev/null) == running ]] || return 1
    [[ -z ${hc[$svc]} ]] && return 0
    local -a cmd
    mapfile -t cmd < <(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "${hc[$svc]}")
    timeout 10 podman exec "$id" "${cmd[@]}" >/dev/null 2>&1
  fi
}

declare -A hc=()
wait_healthy() {
  local svc=$1 deadline=$((SECONDS + timeout)) ids id all
  while :; do
    all=1
    ids=$(containers "$svc")
    [[ -n $ids ]] || all=0
    for id in $ids; do probe "$id" "$svc" || all=0; done
    ((all)) && { ok "$svc healthy ($(wc -w <<<"$ids") container(s))"; return 0; }
    if ((SECONDS > deadline)); then
      for id in $ids; do "$engine" logs --tail 20 "$id" >>"$logfile" 2>&1 || true; done
      die $EXIT_HEALTH "$svc is not healthy after ${timeout}s: $engine logs intake_${svc}_1 (last lines in $logfile)"
    fi
    sleep 2
  done
}

wait_exited() {
  local svc=$1 deadline=$((SECONDS + timeout)) id status code
  while :; do
    id=$(containers "$svc" | head -n1)
    if [[ -n $id ]]; then
      status=$("$engine" inspect --format '{{.State.Status}}' "$id" 2>/dev/null)
      if [[ $status == exited ]]; then
        code=$("$engine" inspect --format '{{.State.ExitCode}}' "$id")
        "$engine" logs "$id" >>"$logfile" 2>&1 || true
        ((code == 0)) || die $EXIT_MIGRATE "$svc exited $code: $("$engine" logs --tail 3 "$id" 2>&1 | tr '\n' ' ')"
        ok "$svc completed"
        return 0
      fi
    fi
    ((SECONDS > deadline)) && die $EXIT_MIGRATE "$svc did not finish within ${timeout}s"
    sleep 1
  done
}

# podman_networks creates the project's networks as podman-compose would
# (it skips existing ones) and renders the compose file again with their
# aardvark-dns addresses (see project_json).
podman_networks() {
  local name internal gw gateways="{" sep=""
  while read -r name internal; do
    if ! podman network exists "intake_$name"; then
      local flags=(--label io.podman.compose.project=intake --label com.docker.compose.project=intake)
      [[ $internal == True ]] && flags+=(--internal)
      podman network create "${flags[@]}" "intake_$name" >>"$logfile" || die $EXIT_HEALTH "podman network create intake_$name failed"
      changes=1
    fi
    gw=$(podman network inspect --format '{{range .Subnets}}{{.Gateway}} {{end}}' "intake_$name" | awk '{print $1}')
    gateways+="$sep\"$name\":\"$gw\""
    sep=,
  done < <(INTAKE_PODMAN_WRITE=1 project_json >/dev/null &&
    python3 -c 'import sys,yaml; [print(n, bool((v or {}).get("internal"))) for n, v in (yaml.safe_load(open(sys.argv[1])).get("networks") or {}).items()]' "$podman_file")
  export INTAKE_PODMAN_GATEWAYS="$gateways}"
  INTAKE_PODMAN_WRITE=1 project_json >/dev/null
}

# up_already SERVICE: every replica of SERVICE exists and runs (a
# one-shot: exited 0), so starting it again would change nothing.
up_already() {
  local ids id st want=1
  ids=$(containers "$1")
  [[ -n $ids ]] || return 1
  want=$(project_json | python3 -c 'import json,sys; s=json.load(sys.stdin)["services"][sys.argv[1]]; print((s.get("deploy") or {}).get("replicas") or 1)' "$1")
  (($(wc -w <<<"$ids") >= want)) || return 1
  for id in $ids; do
    st=$("$engine" inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$id" 2>/dev/null)
    [[ $st == "running "* || $st == "exited 0" ]] || return 1
  done
}

deploy() {
  say "deploy ($engine)"
  ensure_images
  local tier svc oneshot before
  local -a names
  before=$("$engine" ps -q --filter label=com.docker.compose.project=intake | sort | sha256sum)
  [[ $engine == podman ]] && ((!dry)) && podman_networks
  while read -r tier; do
    read -ra names <<<"$tier"
    for svc in "${names[@]}"; do hc[$svc]=$( ((dry)) || healthcheck "$svc"); done
    # Services already up (a one-shot that already succeeded) are left
    # alone, so a second run starts nothing.
    local todo=()
    for svc in "${names[@]}"; do ((dry)) || ! up_already "$svc" && todo+=("$svc"); done
    ((${#todo[@]})) || { same "${names[*]} already up"; continue; }
    names=("${todo[@]}")
    if [[ $engine == docker ]]; then
      run compose up -d --no-build --pull never --no-deps "${names[@]}" >>"$logfile" 2>&1 || die $EXIT_HEALTH "docker compose up $tier failed; see $logfile"
    else
      run compose up -d --no-build --no-deps "${names[@]}" >>"$logfile" 2>&1 || die $EXIT_HEALTH "podman-compose up $tier failed; see $logfile"
    fi
    ((dry)) && continue
    for svc in "${names[@]}"; do
      oneshot=$(project_json | python3 -c 'import json,sys; s=json.load(sys.stdin)["services"][sys.argv[1]]; print(1 if s.get("restart") in ("no", None) and not s.get("healthcheck") else 0)' "$svc")
      if ((oneshot)); then wait_exited "$svc"; else wait_healthy "$svc"; fi
    done
  done < <(tiers)
  if [[ $before == "$("$engine" ps -q --filter label=com.docker.compose.project=intake | sort | sha256sum)" ]]; then
    same "every service was already running"
  else
    changes=1
  fi
}

# --- validate ---------------------------------------------------------------
# jq_py EXPR: evaluate EXPR on the JSON document d read from stdin.
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>>"$logfile"; }
validate() {
  say "validate"
  local svc ids id bad=() report=()
  while read -r svc; do
    hc[$svc]=$(healthcheck "$svc")
    ids=$(containers "$svc")
    local n=0 healthy=0
    for id in $ids; do
      n=$((n + 1))
      if [[ $("$engine" inspect --format '{{.State.Status}}' "$id" 2>/dev/null) == exited ]]; then
        [[ $("$engine" inspect --format '{{.State.ExitCode}}' "$id") == 0 ]] && healthy=$((healthy + 1))
      elif probe "$id" "$svc"; then healthy=$((healthy + 1)); fi
    done
    report+=("$svc $healthy $n")
    ((n > 0 && healthy == n)) || bad+=("$svc")
  done < <(project_json | python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin)["services"])))')

  local port key base job="" state="" doc="" e2e=fail
  port=$(env_value INTAKE_PUBLIC_PORT 8080)
  key=$(head -n1 "$(env_value INTAKE_SECRETS_DIR ./deploy/compose/secrets)/api_keys")
  base=http://127.0.0.1:$port
  if ((${#bad[@]} == 0)); then
    job=$(curl -fsS -m 10 -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d '{"source_type":"filings","config":{"cin":"L27100MH1998PLC112233","company_name":"Setup Check Limited"}}' \
      "$base/api/v1/jobs/trigger" 2>>"$logfile" | jq_py 'd["job_id"]') || job=""
    local deadline=$((SECONDS + timeout))
    while [[ -n $job ]] && ((SECONDS < deadline)); do
      state=$(curl -fsS -m 10 -H "Authorization: Bearer $key" "$base/api/v1/jobs/status/$job" 2>>"$logfile" | jq_py 'd["status"]') || state=""
      [[ $state == completed || $state == failed ]] && break
      sleep 1
    done
    if [[ $state == completed ]]; then
      doc=$(curl -fsS -m 10 -H "Authorization: Bearer $key" "$base/api/v1/jobs/result/$job" 2>>"$logfile" |
        jq_py 'd["documents"][0]["links"]["content"]') || doc=""
      # A replica that has just started can still be settling its
      # connections (seen under Podman: the first blob read of a fresh api
      # container hung for 10 s); three bounded tries, each logged.
      local content="" try
      for try in 1 2 3; do
        [[ -n $doc ]] || break
        content=$(curl -fsS -m 10 -H "Authorization: Bearer $key" "$base$doc" 2>>"$logfile") || content=""
        [[ $content == *"Setup Check Limited"* ]] && { e2e=ok; break; }
        record "validate: document fetch $try of 3 failed"
        sleep 2
      done
    fi
  fi

  if ((json)); then
    printf '{"engine":"%s","services":[' "$engine"
    local first=1 r
    for r in "${report[@]}"; do
      read -r svc h n <<<"$r"
      ((first)) || printf ','
      first=0
      printf '{"name":"%s","healthy":%d,"containers":%d}' "$svc" "$h" "$n"
    done
    printf '],"end_to_end":{"job":"%s","status":"%s","document":"%s","result":"%s"},"changed":%s}\n' \
      "$job" "$state" "$doc" "$e2e" "$( ((changes)) && echo true || echo false)"
  else
    out "  service        healthy"
    for r in "${report[@]}"; do
      read -r svc h n <<<"$r"
      out "$(printf '  %-14s %s/%s' "$svc" "$h" "$n")"
    done
    out "  end to end through nginx ($base): job ${job:-none} ${state:-not created}, document ${doc:-none}: $e2e"
  fi
  record "status: ${report[*]} e2e=$e2e job=$job"
  ((${#bad[@]} == 0)) || die $EXIT_VALIDATE "not healthy: ${bad[*]}"
  [[ $e2e == ok ]] || die $EXIT_VALIDATE "the end-to-end job through nginx failed (job ${job:-not created}, status ${state:-unknown}); see $logfile"
  ok "every service healthy; a job completed through nginx and its document was fetched"
}

# --- main -------------------------------------------------------------------
detect_engine
for f in "${files[@]}"; do [[ -f $f ]] || die $EXIT_USAGE "compose file $f not found in $project"; done
if [[ $engine == podman ]]; then
  podman_file=.setup/podman-compose.yml
  if [[ ! -f $podman_file ]] && ((!dry)) && [[ $phase != preflight ]]; then mkdir -p .setup; fi
fi
record "start: engine=$engine phase=$phase files=${files[*]} bundle=${bundle:-none} dry=$dry"

if ((down)); then
  say "down ($engine)"
  [[ $engine == podman ]] && { ((dry)) || INTAKE_PODMAN_WRITE=1 project_json >/dev/null; }
  run compose down >>"$logfile" 2>&1 || die $EXIT_INTERNAL "compose down failed; see $logfile"
  if [[ $engine == podman ]]; then
    # podman-compose 1.0.3 leaves the networks; Docker Compose removes them.
    for n in $(podman network ls -q --filter label=io.podman.compose.project=intake 2>/dev/null); do
      run podman network rm "$n" >>"$logfile" 2>&1 || warn "could not remove network $n"
    done
  fi
  ok "stack stopped and removed (volumes kept)"
  exit 0
fi

case $phase in
  preflight) preflight ;;
  configure) configure ;;
  deploy) deploy ;;
  validate) validate ;;
  all)
    preflight
    configure
    deploy
    validate
    ;;
esac
if ((dry)); then
  say "dry run: nothing was changed"
elif ((changes)); then
  say "done; log: $logfile"
else
  say "nothing to change: the stack was already set up and healthy; log: $logfile"
fi
