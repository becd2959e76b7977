#!/bin/sh
# TEST STAND-IN entrypoint with the official redis image's contract.
set -e
case ${1:-} in -* | *.conf) set -- redis-server "$@" ;; esac
exec "$@"
