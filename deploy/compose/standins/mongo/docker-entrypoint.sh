#!/bin/sh
# TEST STAND-IN entrypoint for the mongo image: `mongod` starts FerretDB on
# 0.0.0.0:27017 with its SQLite backend in /data/db.
set -e
if [ "${1:-}" = mongod ]; then
  if [ -n "${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ] && [ ! -r "$MONGO_INITDB_ROOT_PASSWORD_FILE" ]; then
    echo "mongo stand-in: cannot read MONGO_INITDB_ROOT_PASSWORD_FILE" >&2
    exit 1
  fi
  exec ferretdb --listen-addr=0.0.0.0:27017 --handler=sqlite \
    --sqlite-url="file:/data/db/" --state-dir=/data/configdb --telemetry=disable --log-level=warn
fi
exec "$@"
