#!/usr/bin/env bash
# Configures rootful Podman for intake's Compose stack on a machine without
# systemd (a CI runner, a container), idempotently:
#
#   - installs podman, podman-compose, runc, netavark, aardvark-dns and
#     iptables (netavark runs it for every network) from Debian when
#     missing (apt-get; skipped with --no-install);
#   - sets, in /etc/containers/containers.conf,
#       [containers] default_ulimits = []         (raising nofile is refused)
#       [engine]     cgroup_manager = "cgroupfs"  (no systemd)
#                    runtime = "runc"
#       [network]    network_backend = "netavark"  (with CNI a container on
#                    several networks resolves the names of its first only)
#     keeping every other setting of an existing file;
#   - resets podman's storage once when the backend changes from CNI to
#     netavark with networks present (podman refuses to switch otherwise;
#     --no-reset makes that an error instead).
#
# usage: scripts/configure-podman.sh [--check] [--no-install] [--no-reset]
#   --check   change nothing; exit 1 when something would change
# A second run prints "podman: configured, nothing to change".
set -euo pipefail

conf=${CONTAINERS_CONF_PATH:-/etc/containers/containers.conf}
check=0 install=1 reset=1
for a in "$@"; do
  case $a in
    --check) check=1 ;;
    --no-install) install=0 ;;
    --no-reset) reset=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "configure-podman: unknown argument $a" >&2; exit 2 ;;
  esac
done

log() { printf 'configure-podman: %s\n' "$*" >&2; }
changed=0

# Packages.
need=()
for pair in podman:podman podman-compose:podman-compose runc:runc iptables:iptables netavark:/usr/lib/podman/netavark aardvark-dns:/usr/lib/podman/aardvark-dns; do
  pkg=${pair%%:*} probe=${pair#*:}
  if [[ $probe == /* ]]; then [[ -x $probe ]] || need+=("$pkg"); else command -v "$probe" >/dev/null || need+=("$pkg"); fi
done
if ((${#need[@]})); then
  ((check)) && { log "would install: ${need[*]}"; exit 1; }
  ((install)) || { log "missing packages: ${need[*]} (apt-get install ${need[*]})"; exit 1; }
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  changed=1
fi

# set_key SECTION KEY VALUE: ensure "KEY = VALUE" in [SECTION] of $conf,
# replacing an existing KEY line there, adding the section when absent.
set_key() {
  local section=$1 key=$2 value=$3 tmp
  if awk -v s="[$section]" -v k="$key" -v v="$value" '
      /^[[:space:]]*\[/ { in_s = ($0 ~ "^[[:space:]]*\\[" substr(s, 2, length(s) - 2) "\\][[:space:]]*$") }
      in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*(#.*)?$/, ""); found = ($0 == v) }
      END { exit !found }' "$conf"; then
    return 0
  fi
  ((check)) && { log "would set [$section] $key = $value in $conf"; changed=1; return 0; }
  tmp=$(mktemp)
  awk -v s="$section" -v k="$key" -v v="$value" '
    function emit() { if (in_s && !done) { print k " = " v; done = 1 } }
    /^[[:space:]]*\[/ {
      emit()
      in_s = ($0 ~ "^[[:space:]]*\\[" s "\\][[:space:]]*$")
      if (in_s) seen = 1
      print; next
    }
    in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { if (!done) { print k " = " v; done = 1 }; next }
    { print }
    END { emit(); if (!seen) { print ""; print "[" s "]"; print k " = " v } }' "$conf" >"$tmp"
  cat "$tmp" >"$conf"
  rm -f "$tmp"
  log "set [$section] $key = $value in $conf"
  changed=1
}

if [[ ! -f $conf ]]; then
  ((check)) && { log "would write $conf"; exit 1; }
  mkdir -p "$(dirname "$conf")"
  printf '# Rootful podman without systemd (intake scripts/configure-podman.sh).\n' >"$conf"
fi
old_backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
set_key containers default_ulimits '[]'
set_key engine cgroup_manager '"cgroupfs"'
set_key engine runtime '"runc"'
set_key network network_backend '"netavark"'

if ((check)); then
  ((changed)) && exit 1
  new_backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
  [[ $new_backend == netavark ]] || { log "podman reports network backend $new_backend"; exit 1; }
  log "configured, nothing to change"
  exit 0
fi

new_backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
if [[ $new_backend != netavark ]]; then
  # Podman keeps the backend it first used while networks or containers
  # exist (it is recorded in its storage); switching needs a reset.
  if ((reset)) && [[ -z $(podman ps -aq 2>/dev/null) ]]; then
    log "network backend is $new_backend (was $old_backend); removing CNI networks so netavark takes over"
    podman network ls --format '{{.Name}}' 2>/dev/null | grep -vx podman | xargs -r podman network rm -f >/dev/null || true
    rm -f /var/lib/containers/storage/defaultNetworkBackend
    new_backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
  fi
  [[ $new_backend == netavark ]] || { log "podman still uses $new_backend: stop its containers and rerun, or run 'podman system reset'"; exit 1; }
  changed=1
fi

if ((changed)); then log "configured (netavark, cgroupfs, runc)"; else log "configured, nothing to change"; fi
