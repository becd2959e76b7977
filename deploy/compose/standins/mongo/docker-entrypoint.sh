#!/bin/sh
# TEST STAND-IN entrypoint for the mongo image: `mongod` starts FerretDB on
# 0.0.0.0:27017 with its SQLite backend in /data/db.
set -e
if [ "${1:-}" = mongod ]; then
  if [ -n "${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ] && [ ! -r "$MONGO_INITDB_ROOT_PASSWORD_FILE" ]; then
    echo "mongo stand-in: cannot read MONGO_INITDB_ROOT_PASSWORD_FILE" >&2
    exit 1
  fi
  set -- --listen-addr=0.0.0.0:27017 --handler=sqlite \
    --sqlite-url="file:/data/db/" --state-dir=/data/configdb --telemetry=disable --log-level=warn
  # The root user from MONGO_INITDB_ROOT_USERNAME/_PASSWORD(_FILE), with
  # SCRAM authentication (FerretDB's new authentication).
  if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
    password=${MONGO_INITDB_ROOT_PASSWORD:-}
    [ -n "${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ] && password=$(cat "$MONGO_INITDB_ROOT_PASSWORD_FILE")
    set -- "$@" --test-enable-new-auth --setup-database=admin \
      --setup-username="$MONGO_INITDB_ROOT_USERNAME" --setup-password="$password"
  fi
  exec ferretdb "$@"
fi
exec "$@"
