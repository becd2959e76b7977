#!/bin/sh
# TEST STAND-IN of the official nginx images' /docker-entrypoint.sh: for
# nginx and nginx-debug, source the *.envsh and run the *.sh scripts of
# /docker-entrypoint.d in order.
set -e
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
    # shellcheck disable=SC1090
    case $f in
      *.envsh) [ -x "$f" ] && . "$f" ;;
      *.sh) [ -x "$f" ] && "$f" ;;
    esac
  done
  echo "$0: Configuration complete; ready for start up"
fi
exec "$@"
