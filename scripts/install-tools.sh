#!/usr/bin/env bash
# Builds pinned developer tools from the Go module proxy into a cache
# directory (default ~/.cache/intake-tools), once. `go install tool@version`
# can be refused when the proxy's version list is unavailable, so each tool is
# built in a throwaway module instead.
set -euo pipefail

TOOLS="${TOOLS:-$HOME/.cache/intake-tools}"
mkdir -p "$TOOLS"

declare -A MODULES=(
  [golangci-lint]="github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"
)

build() {
  local name=$1 spec=${MODULES[$1]:-}
  if [[ -z $spec ]]; then
    echo "install-tools: unknown tool $name (known: ${!MODULES[*]})" >&2
    return 2
  fi
  local stamp="$TOOLS/.$name.version"
  if [[ -x $TOOLS/$name && -f $stamp && $(cat "$stamp") == "$spec" ]]; then
    return 0
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  echo "install-tools: building $spec" >&2
  (cd "$work" && go mod init tools >/dev/null 2>&1 && go get "$spec" >/dev/null \
    && go build -o "$TOOLS/$name" "${spec%@*}")
  echo "$spec" > "$stamp"
}

if [[ $# -eq 0 ]]; then
  set -- "${!MODULES[@]}"
fi
for tool in "$@"; do
  build "$tool"
done
