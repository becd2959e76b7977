#!/usr/bin/env bash
# Provides the servers that intake's integration tests talk to, on loopback
# only, idempotently:
#
#   postgres  PostgreSQL, 127.0.0.1:5432, trust auth, database "test"
#             (the machine's own; started, or installed from Debian, if not)
#   redis     Redis, 127.0.0.1:6379 (the machine's own; likewise)
#   ferretdb  FerretDB (MongoDB wire protocol, SQLite backend),
#             127.0.0.1:$INTAKE_TEST_MONGO_PORT (27017), built once from the
#             Go module proxy
#   azurite   Azurite (Azure Blob Storage emulator),
#             127.0.0.1:$INTAKE_TEST_AZURITE_PORT (10000), installed once
#             from npm
#
# Usage: scripts/test-services.sh COMMAND
#   up              install or build what is missing, start what is not
#                   running (a server already answering is reused), wait
#                   until every server answers, print one line per server
#   env             print export lines for the tests' environment:
#                     eval "$(scripts/test-services.sh env)"
#   status          one line per server; exits 3 if any is not running
#   down            stop FerretDB and Azurite started by this script (and a
#                   Redis it started on a port other than 6379); the
#                   machine's PostgreSQL and Redis are left running
#   start NAME      start one server (postgres, redis, ferretdb|mongo, azurite)
#   stop NAME       stop one server (fault tests: stop azurite, stop postgres)
#   restart NAME    stop, then start and wait until it answers
#   start-NAME, stop-NAME, restart-NAME  the same, as one word
#
# Environment:
#   INTAKE_TEST_MONGO_PORT      FerretDB port (default 27017)
#   INTAKE_TEST_AZURITE_PORT    Azurite blob port (default 10000)
#   INTAKE_TEST_REDIS_PORT      Redis port (default 6379); a port other than
#                               the machine's gets a Redis of its own
#   INTAKE_TEST_SERVICES_CACHE  built/installed binaries (default
#                               ${XDG_CACHE_HOME:-~/.cache}/intake/test-services)
#   INTAKE_TEST_SERVICES_STATE  data, logs and pid files (default
#                               ${XDG_STATE_HOME:-~/.local/state}/intake/test-services)
#   INTAKE_TEST_SERVICES_WAIT   seconds to wait for a server to answer (default 60)
#
# Output is line-oriented and colourless; every failure is one line on
# stderr starting with "test-services:" (followed, for a server that did not
# come up, by the tail of its log) and a non-zero exit.
set -euo pipefail

# Pinned versions. Azurite 3.36+ declares node >= 21 in its package.json;
# 3.35.0 is the newest that supports the Node.js the machines ship (20) and
# Debian's (18).
readonly FERRETDB_MODULE=github.com/FerretDB/FerretDB
readonly FERRETDB_VERSION=v1.24.0
readonly AZURITE_VERSION=3.35.0

readonly HOST=127.0.0.1
readonly PG_PORT=5432
readonly PG_DATABASE=test
REDIS_PORT=${INTAKE_TEST_REDIS_PORT:-6379}
MONGO_PORT=${INTAKE_TEST_MONGO_PORT:-27017}
AZURITE_PORT=${INTAKE_TEST_AZURITE_PORT:-10000}
WAIT=${INTAKE_TEST_SERVICES_WAIT:-60}
CACHE_DIR=${INTAKE_TEST_SERVICES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intake/test-services}
STATE_DIR=${INTAKE_TEST_SERVICES_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/intake/test-services}

# Azurite's well-known development account (public, documented by
# Microsoft; it protects nothing).
readonly AZURITE_ACCOUNT=devstoreaccount1
readonly AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

readonly FERRETDB_BIN=$CACHE_DIR/ferretdb-$FERRETDB_VERSION/ferretdb
readonly AZURITE_PREFIX=$CACHE_DIR/azurite-$AZURITE_VERSION
readonly AZURITE_BIN=$AZURITE_PREFIX/node_modules/.bin/azurite-blob
# Per port, so that several sets of servers can run side by side.
readonly FERRETDB_STATE=$STATE_DIR/ferretdb-$MONGO_PORT
readonly AZURITE_STATE=$STATE_DIR/azurite-$AZURITE_PORT
readonly REDIS_STATE=$STATE_DIR/redis-$REDIS_PORT

export DEBIAN_FRONTEND=noninteractive

die() {
  echo "test-services: $*" >&2
  exit 1
}

note() {
  echo "test-services: $*" >&2
}

# Temporary files and directories, removed however the script ends.
CLEANUP=()
cleanup() {
  if ((${#CLEANUP[@]})); then
    chmod -R u+w "${CLEANUP[@]}" 2>/dev/null || true
    rm -rf "${CLEANUP[@]}"
  fi
}
trap cleanup EXIT

for v in REDIS_PORT:INTAKE_TEST_REDIS_PORT MONGO_PORT:INTAKE_TEST_MONGO_PORT \
  AZURITE_PORT:INTAKE_TEST_AZURITE_PORT WAIT:INTAKE_TEST_SERVICES_WAIT; do
  var=${v%%:*}
  [[ ${!var} =~ ^[0-9]+$ ]] || die "${v#*:} must be a number, got '${!var}'"
done
unset v var

# --- helpers ---------------------------------------------------------------

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for NAME LOG CHECK...: runs CHECK until it succeeds or WAIT seconds
# pass; on timeout, says so naming the server and its log, and returns 1.
wait_for() {
  local name=$1 log=$2
  shift 2
  local deadline=$((SECONDS + WAIT))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "test-services: $name did not answer within ${WAIT}s; see $log" >&2
      if [[ -f $log ]]; then
        tail -n 20 "$log" | sed 's/^/  log: /' >&2
      fi
      return 1
    fi
    sleep 0.2
  done
}

apt_updated=
apt_install() {
  ((EUID == 0)) || die "$* is not installed and installing it needs root: apt-get install -y $*"
  command -v apt-get >/dev/null || die "$* is not installed and there is no apt-get to install it"
  if [[ -z $apt_updated ]]; then
    note "apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  note "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 9>&- || die "apt-get install $* failed"
}

# pid_alive PIDFILE PATTERN: prints the pid recorded in PIDFILE if that
# process is alive and its command line contains PATTERN (a recycled pid is
# not ours).
pid_alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
  echo "$pid"
}

# spawn PIDFILE LOG CMD...: runs CMD in a session of its own (so it outlives
# this script and the shell that ran it), output appended to LOG. Every
# server started here gets 9>&-, lest it inherit and hold the lock forever.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  if [[ -f $log ]] && (($(stat -c %s "$log") > 10 * 1024 * 1024)); then
    mv "$log" "$log.1"
  fi
  printf '\n=== %s started by test-services.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
  echo "$!" >"$pidfile"
}

# kill_pidfile NAME PIDFILE PATTERN: stops the process, TERM then KILL.
kill_pidfile() {
  local name=$1 pidfile=$2 pattern=$3 pid i
  if ! pid=$(pid_alive "$pidfile" "$pattern"); then
    rm -f "$pidfile"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [[ -d /proc/$pid ]] || break
    sleep 0.1
  done
  if [[ -d /proc/$pid ]]; then
    note "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# line NAME STATE ADDR DETAIL: one status line.
line() {
  printf '%-9s %-5s %-16s %s\n' "$1" "$2" "$3" "$4"
}

# --- postgres --------------------------------------------------------------

pg_version() {
  [[ -d /etc/postgresql ]] || return 1
  local v
  v=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  [[ -n $v ]] || return 1
  echo "$v"
}

pg_ready() { pg_isready -q -h "$HOST" -p "$PG_PORT" 2>/dev/null; }

pg_db_ok() {
  psql -w -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d "$PG_DATABASE" -tAc 'select 1' >/dev/null 2>&1
}

pg_log() {
  local v
  v=$(pg_version 2>/dev/null) || v=15
  echo "/var/log/postgresql/postgresql-$v-main.log"
}

pg_ctl() {
  local v
  v=$(pg_version) || die "postgres: no cluster under /etc/postgresql"
  # 9>&-: the server must not inherit (and hold) this script's lock.
  pg_ctlcluster --skip-systemctl-redirect "$v" main "$@" 9>&-
}

# pg_trust makes connections over the socket and 127.0.0.1 trusted, as on
# the machines (a freshly installed cluster asks for passwords).
pg_trust() {
  local v hba
  v=$(pg_version) || die "postgres: no cluster under /etc/postgresql after installing"
  hba=/etc/postgresql/$v/main/pg_hba.conf
  grep -q '^# intake test-services' "$hba" && return 0
  {
    echo '# intake test-services: trust on the socket and loopback (tests only).'
    echo 'local all all trust'
    echo 'host all all 127.0.0.1/32 trust'
    echo 'host all all ::1/128 trust'
    cat "$hba"
  } >"$hba.new"
  chown --reference="$hba" "$hba.new"
  chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
  if pg_ready; then
    pg_ctl reload >/dev/null || die "postgres: pg_ctlcluster reload failed; see $(pg_log)"
  fi
}

pg_start() {
  local installed=
  if ! command -v pg_isready >/dev/null || ! pg_version >/dev/null; then
    apt_install postgresql
    installed=1
    pg_trust
  fi
  if ! pg_ready; then
    pg_ctl start >/dev/null 2>&1 || pg_ready || die "postgres: pg_ctlcluster start failed; see $(pg_log)"
    wait_for postgres "$(pg_log)" pg_ready || exit 1
    PG_DETAIL="started (pg_ctlcluster $(pg_version) main)"
  fi
  if ! pg_db_ok; then
    if ! psql -w -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
      die "postgres: cannot connect as user postgres without a password on $HOST:$PG_PORT; trust 127.0.0.1 in pg_hba.conf"
    fi
    createdb -w -h "$HOST" -p "$PG_PORT" -U postgres "$PG_DATABASE" || die "postgres: createdb $PG_DATABASE failed"
    PG_DETAIL="${PG_DETAIL:-running}, created database $PG_DATABASE"
  fi
  if [[ -n $installed ]]; then
    PG_DETAIL="installed from Debian, ${PG_DETAIL:-running}"
  fi
}

pg_stop() {
  pg_ready || return 0
  pg_ctl stop -m fast >/dev/null || die "postgres: pg_ctlcluster stop failed; see $(pg_log)"
}

pg_restart() {
  pg_ctl restart -m fast >/dev/null || die "postgres: pg_ctlcluster restart failed; see $(pg_log)"
  wait_for postgres "$(pg_log)" pg_ready || exit 1
  PG_DETAIL="restarted (pg_ctlcluster $(pg_version) main)"
}

pg_status() {
  if pg_ready && pg_db_ok; then
    line postgres up "$HOST:$PG_PORT" "${PG_DETAIL:-running (machine service)}, database $PG_DATABASE"
  elif pg_ready; then
    line postgres down "$HOST:$PG_PORT" "server answers but database $PG_DATABASE is not reachable without a password"
    return 1
  else
    line postgres down "$HOST:$PG_PORT" "not running"
    return 1
  fi
}

# --- redis -----------------------------------------------------------------

redis_ready() {
  [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_start() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server
    REDIS_DETAIL="installed from Debian, "
  fi
  redis_ready && return 0
  mkdir -p "$REDIS_STATE"
  local log=$REDIS_STATE/redis.log
  redis-server --daemonize yes --bind "$HOST" -::1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$REDIS_STATE" --logfile "$log" --pidfile "$REDIS_STATE/redis.pid" >/dev/null 9>&- ||
    die "redis: redis-server failed to start; see $log"
  wait_for redis "$log" redis_ready || exit 1
  REDIS_DETAIL+="started pid $(<"$REDIS_STATE/redis.pid"), log $log"
}

redis_stop() {
  redis_ready || return 0
  redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  local deadline=$((SECONDS + 10))
  while redis_ready; do
    ((SECONDS < deadline)) || die "redis: still answering on $HOST:$REDIS_PORT 10s after SHUTDOWN"
    sleep 0.1
  done
  rm -f "$REDIS_STATE/redis.pid"
}

# redis_ours: a Redis this script started (on this port) is running.
redis_ours() { pid_alive "$REDIS_STATE/redis.pid" redis-server; }

redis_status() {
  local pid
  if redis_ready; then
    if pid=$(redis_ours); then
      line redis up "$HOST:$REDIS_PORT" "${REDIS_DETAIL:-running pid $pid, started by this script}"
    else
      line redis up "$HOST:$REDIS_PORT" "${REDIS_DETAIL:-running (machine service)}"
    fi
  else
    line redis down "$HOST:$REDIS_PORT" "not running"
    return 1
  fi
}

# --- ferretdb --------------------------------------------------------------

# ferretdb_build builds FerretDB from the Go module proxy into the cache,
# once per version. The module cache holds the source read-only and without
# build/version/version.txt, which FerretDB's build embeds (it is normally
# generated from git), so the source is copied out and the file written.
ferretdb_build() {
  [[ -x $FERRETDB_BIN ]] && return 0
  command -v go >/dev/null || die "ferretdb: go is not installed (needed to build FerretDB $FERRETDB_VERSION)"
  local work dir out start=$SECONDS
  work=$(mktemp -d)
  CLEANUP+=("$work")
  note "building FerretDB $FERRETDB_VERSION from the Go module proxy (once; a few minutes)"
  # Outside any module and workspace, with the machine's toolchain.
  local -x GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
  out=$(cd "$work" && go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" 2>&1) ||
    die "ferretdb: go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed: $(tr '\n' ' ' <<<"$out")"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out")
  [[ -d $dir ]] || die "ferretdb: go mod download did not report the module's directory"
  cp -R "$dir" "$work/src"
  chmod -R u+w "$work/src"
  printf '%s\n' "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
  printf '%s\n' intake-test-services >"$work/src/build/version/package.txt"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  CLEANUP+=("$FERRETDB_BIN.tmp")
  if ! (cd "$work/src" && go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) >"$work/build.log" 2>&1; then
    cp "$work/build.log" "$CACHE_DIR/ferretdb-build.log"
    die "ferretdb: go build failed; see $CACHE_DIR/ferretdb-build.log"
  fi
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  note "built $FERRETDB_BIN in $((SECONDS - start))s"
  FERRETDB_DETAIL="built in $((SECONDS - start))s, "
}

# ferretdb_ping sends a MongoDB OP_MSG {ping: 1, $db: "admin"} and checks
# that the reply holds {ok: 1.0}: the server speaks the protocol, not just
# TCP. (FerretDB's own `ferretdb ping` insists on credentials.)
ferretdb_ping() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    # header (length 51, request 1, response-to 0, opcode 2013), flags 0,
    # section kind 0, BSON {ping: int32 1, $db: "admin"} (30 bytes)
    printf "\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02\$db\x00\x06\x00\x00\x00admin\x00\x00" >&3
    n=$(head -c 4 <&3 | od -An -tu4 | tr -d " ")
    [[ $n =~ ^[0-9]+$ ]] && ((n > 4 && n < 65536)) || exit 1
    # the BSON element ok: double 1.0
    head -c $((n - 4)) <&3 | od -An -tx1 -v | tr -d " \n" | grep -q 016f6b00000000000000f03f
  ' _ "$HOST" "$MONGO_PORT" 2>/dev/null
}

ferretdb_start() {
  ferretdb_build
  local pidfile=$FERRETDB_STATE/ferretdb.pid log=$FERRETDB_STATE/ferretdb.log
  if ferretdb_ping; then
    return 0
  fi
  if port_open "$HOST" "$MONGO_PORT"; then
    die "ferretdb: $HOST:$MONGO_PORT is taken by something that does not answer a MongoDB ping; pick another INTAKE_TEST_MONGO_PORT"
  fi
  mkdir -p "$FERRETDB_STATE/data"
  # No telemetry and no debug HTTP listener (its fixed port would collide
  # between parallel sets); errors only: at "warn" FerretDB logs every
  # error reply in full, and the tests provoke many (duplicate keys).
  DO_NOT_TRACK=1 spawn "$pidfile" "$log" "$FERRETDB_BIN" \
    --handler=sqlite --sqlite-url="file:$FERRETDB_STATE/data/" \
    --listen-addr="$HOST:$MONGO_PORT" --state-dir="$FERRETDB_STATE" \
    --debug-addr=- --telemetry=disable --log-level=error
  if ! wait_for ferretdb "$log" ferretdb_ping; then
    kill_pidfile ferretdb "$pidfile" "$FERRETDB_BIN" || true
    exit 1
  fi
  FERRETDB_DETAIL+="started pid $(<"$pidfile"), log $log"
}

ferretdb_stop() {
  if ! kill_pidfile ferretdb "$FERRETDB_STATE/ferretdb.pid" "$FERRETDB_BIN"; then
    if port_open "$HOST" "$MONGO_PORT"; then
      die "ferretdb: $HOST:$MONGO_PORT answers but was not started by this script (no live pid file $FERRETDB_STATE/ferretdb.pid); not stopping it"
    fi
  fi
}

ferretdb_status() {
  local pid
  if ferretdb_ping; then
    if pid=$(pid_alive "$FERRETDB_STATE/ferretdb.pid" "$FERRETDB_BIN"); then
      line ferretdb up "$HOST:$MONGO_PORT" "${FERRETDB_DETAIL:-running pid $pid}, FerretDB $FERRETDB_VERSION, data $FERRETDB_STATE/data"
    else
      line ferretdb up "$HOST:$MONGO_PORT" "running, not started by this script"
    fi
  elif [[ -x $FERRETDB_BIN ]]; then
    line ferretdb down "$HOST:$MONGO_PORT" "not running (built: $FERRETDB_BIN)"
    return 1
  else
    line ferretdb down "$HOST:$MONGO_PORT" "not running (not built yet)"
    return 1
  fi
}

# --- azurite ---------------------------------------------------------------

# azurite_install installs Azurite from npm into the cache, once per
# version, through a temporary prefix renamed into place.
azurite_install() {
  [[ -x $AZURITE_BIN ]] && return 0
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    apt_install nodejs npm
  fi
  # Hidden, so that nothing looking for azurite-*/ (the fault tests) finds
  # a half-installed copy.
  local tmp=$CACHE_DIR/.azurite-$AZURITE_VERSION.tmp.$$ start=$SECONDS
  CLEANUP+=("$tmp" "$tmp.log")
  note "installing azurite@$AZURITE_VERSION from npm (once)"
  mkdir -p "$tmp"
  if ! npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier --loglevel=error \
    "azurite@$AZURITE_VERSION" >"$tmp.log" 2>&1; then
    mv "$tmp.log" "$CACHE_DIR/azurite-install.log"
    die "azurite: npm install azurite@$AZURITE_VERSION failed; see $CACHE_DIR/azurite-install.log"
  fi
  rm -rf "$AZURITE_PREFIX"
  mv "$tmp" "$AZURITE_PREFIX"
  note "installed $AZURITE_PREFIX in $((SECONDS - start))s"
  AZURITE_DETAIL="installed in $((SECONDS - start))s, "
}

azurite_ready() {
  port_open "$HOST" "$AZURITE_PORT" || return 1
  command -v curl >/dev/null || return 0
  # Any HTTP answer (403 without a signature) means the service is up.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    "http://$HOST:$AZURITE_PORT/$AZURITE_ACCOUNT?comp=list" 2>/dev/null) || true
  [[ $code =~ ^[1-5][0-9][0-9]$ ]]
}

azurite_start() {
  azurite_install
  local pidfile=$AZURITE_STATE/azurite.pid log=$AZURITE_STATE/azurite.log
  if azurite_ready; then
    return 0
  fi
  if port_open "$HOST" "$AZURITE_PORT"; then
    die "azurite: $HOST:$AZURITE_PORT is taken by something that does not answer HTTP; pick another INTAKE_TEST_AZURITE_PORT"
  fi
  mkdir -p "$AZURITE_STATE/data"
  # No telemetry: tests talk to loopback only.
  # Data on disk, so that stopping and starting Azurite (fault tests) keeps
  # the blobs, as a real outage would.
  spawn "$pidfile" "$log" "$AZURITE_BIN" --blobHost "$HOST" --blobPort "$AZURITE_PORT" \
    --location "$AZURITE_STATE/data" --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry --silent
  if ! wait_for azurite "$log" azurite_ready; then
    kill_pidfile azurite "$pidfile" azurite-blob || true
    exit 1
  fi
  AZURITE_DETAIL+="started pid $(<"$pidfile"), log $log"
}

azurite_stop() {
  if ! kill_pidfile azurite "$AZURITE_STATE/azurite.pid" azurite-blob; then
    if port_open "$HOST" "$AZURITE_PORT"; then
      die "azurite: $HOST:$AZURITE_PORT answers but was not started by this script (no live pid file $AZURITE_STATE/azurite.pid); not stopping it"
    fi
  fi
}

azurite_status() {
  local pid
  if azurite_ready; then
    if pid=$(pid_alive "$AZURITE_STATE/azurite.pid" azurite-blob); then
      line azurite up "$HOST:$AZURITE_PORT" "${AZURITE_DETAIL:-running pid $pid}, azurite $AZURITE_VERSION, data $AZURITE_STATE/data"
    else
      line azurite up "$HOST:$AZURITE_PORT" "running, not started by this script"
    fi
  elif [[ -x $AZURITE_BIN ]]; then
    line azurite down "$HOST:$AZURITE_PORT" "not running (installed: $AZURITE_PREFIX)"
    return 1
  else
    line azurite down "$HOST:$AZURITE_PORT" "not running (not installed yet)"
    return 1
  fi
}

# --- commands --------------------------------------------------------------

readonly SERVERS=(postgres redis ferretdb azurite)

server_name() {
  case $1 in
    postgres | postgresql | pg) echo postgres ;;
    redis) echo redis ;;
    ferretdb | mongo | mongodb) echo ferretdb ;;
    azurite | azure) echo azurite ;;
    *) die "unknown server '$1' (known: ${SERVERS[*]}; mongo is ferretdb)" ;;
  esac
}

server_addr() {
  case $1 in
    postgres) echo "$HOST:$PG_PORT" ;;
    redis) echo "$HOST:$REDIS_PORT" ;;
    ferretdb) echo "$HOST:$MONGO_PORT" ;;
    azurite) echo "$HOST:$AZURITE_PORT" ;;
  esac
}

fn_prefix() {
  case $1 in
    postgres) echo pg ;;
    *) echo "$1" ;;
  esac
}

# lock serialises commands that start or stop servers, so that two `up`s
# at once do not both start FerretDB.
lock() {
  mkdir -p "$STATE_DIR" "$CACHE_DIR"
  exec 9>"$STATE_DIR/.lock"
  if ! flock -n 9; then
    note "waiting for another test-services.sh to finish (lock $STATE_DIR/.lock)"
    flock -w 900 9 || die "another test-services.sh held $STATE_DIR/.lock for 15 minutes"
  fi
}

cmd_env() {
  printf "export INTAKE_TEST_POSTGRES_URL='postgres://postgres@%s:%s/%s?sslmode=disable'\n" "$HOST" "$PG_PORT" "$PG_DATABASE"
  printf "export INTAKE_TEST_REDIS_URL='redis://%s:%s/0'\n" "$HOST" "$REDIS_PORT"
  printf "export INTAKE_TEST_MONGO_URL='mongodb://%s:%s/'\n" "$HOST" "$MONGO_PORT"
  printf "export INTAKE_TEST_AZURITE_CONN='DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s:%s/%s;'\n" \
    "$AZURITE_ACCOUNT" "$AZURITE_KEY" "$HOST" "$AZURITE_PORT" "$AZURITE_ACCOUNT"
}

cmd_status() {
  local s rc=0
  for s in "${SERVERS[@]}"; do
    "$(fn_prefix "$s")_status" || rc=3
  done
  return "$rc"
}

cmd_up() {
  lock
  local s start=$SECONDS
  for s in "${SERVERS[@]}"; do
    "$(fn_prefix "$s")_start"
  done
  cmd_status || die "a server stopped answering right after starting; run: $0 status"
  echo "all servers up in $((SECONDS - start))s; for the tests: eval \"\$($0 env)\""
}

cmd_down() {
  lock
  ferretdb_stop
  line ferretdb down "$HOST:$MONGO_PORT" "stopped"
  azurite_stop
  line azurite down "$HOST:$AZURITE_PORT" "stopped"
  line postgres -- "$HOST:$PG_PORT" "left running (machine service; '$0 stop postgres' stops it)"
  # A Redis of its own on another port (INTAKE_TEST_REDIS_PORT) is this
  # script's to stop; on the machine's port it stands in for the machine's.
  if ((REDIS_PORT != 6379)) && redis_ours >/dev/null; then
    redis_stop
    line redis down "$HOST:$REDIS_PORT" "stopped"
  else
    line redis -- "$HOST:$REDIS_PORT" "left running (machine service; '$0 stop redis' stops it)"
  fi
}

cmd_one() {
  local action=$1 name fn
  name=$(server_name "$2")
  fn=$(fn_prefix "$name")
  lock
  case $action in
    start)
      "${fn}_start"
      "${fn}_status"
      ;;
    stop)
      "${fn}_stop"
      line "$name" down "$(server_addr "$name")" "stopped"
      ;;
    restart)
      if [[ $name == postgres ]]; then
        pg_restart
      else
        "${fn}_stop"
        "${fn}_start"
      fi
      "${fn}_status"
      ;;
  esac
}

usage() {
  echo "usage: $0 up|down|env|status|start NAME|stop NAME|restart NAME (NAME: ${SERVERS[*]})" >&2
  exit 2
}

main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  case $cmd in
    up | down | env | status)
      (($# == 0)) || usage
      "cmd_$cmd"
      ;;
    start | stop | restart)
      (($# == 1)) || usage
      cmd_one "$cmd" "$1"
      ;;
    start-* | stop-* | restart-*)
      (($# == 0)) || usage
      cmd_one "${cmd%%-*}" "${cmd#*-}"
      ;;
    -h | --help | help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      ;;
    *) usage ;;
  esac
}

main "$@"
