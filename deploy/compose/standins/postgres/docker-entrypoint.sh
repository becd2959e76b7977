#!/bin/bash
# TEST STAND-IN entrypoint with the official postgres image's contract.
set -euo pipefail
file_env() {
  local var=$1 file=${1}_FILE def=${2:-}
  if [[ -n ${!file:-} ]]; then export "$var"="$(<"${!file}")"; elif [[ -z ${!var:-} ]]; then export "$var"="$def"; fi
  unset "$file"
}
if [[ ${1:-} == postgres ]]; then
  if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" \! -user postgres -exec chown postgres: '{}' +
    chmod 00700 "$PGDATA"
    chown postgres: /var/run/postgresql
    chmod 3775 /var/run/postgresql
    exec gosu postgres "${BASH_SOURCE[0]}" "$@"
  fi
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  if [[ ! -s $PGDATA/PG_VERSION ]]; then
    [[ -n $POSTGRES_PASSWORD ]] || { echo "postgres stand-in: POSTGRES_PASSWORD(_FILE) is required" >&2; exit 1; }
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
      --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [[ $POSTGRES_DB != postgres ]]; then
      psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
        -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres stand-in: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  fi
  unset POSTGRES_PASSWORD
  exec postgres -c listen_addresses='*' "${@:2}"
fi
exec "$@"
