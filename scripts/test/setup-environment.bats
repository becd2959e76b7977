#!/usr/bin/env bats
# Tests of scripts/setup-environment.sh: every phase and every failure
# class, against a copy of the project in a temporary directory, with
# podman, podman-compose and curl stubbed on PATH (scripts/test/stubs), so
# that no container starts; the real run is scripts/ci-compose.sh.
#
#   bats scripts/test/setup-environment.bats

bats_require_minimum_version 1.5.0

setup() {
  repo=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  proj=$BATS_TEST_TMPDIR/proj
  mkdir -p "$proj/deploy/compose" "$proj/scripts"
  cp "$repo/docker-compose.yml" "$repo/.env.example" "$proj/"
  cp "$repo/deploy/compose/mongo.yml" "$repo/deploy/compose/secrets.sh" "$proj/deploy/compose/"
  cp "$repo/scripts/setup-environment.sh" "$proj/scripts/"
  export STUB_STATE=$BATS_TEST_TMPDIR/state
  mkdir -p "$STUB_STATE"
  export PATH="$repo/scripts/test/stubs:$PATH"
  export INTAKE_SETUP_PROJECT_DIR=$proj
  unset NO_COLOR
  # Ports nothing listens on, so the port check passes.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  setup_sh=$proj/scripts/setup-environment.sh
  opts=(--engine podman --timeout 5)
}

# with_env: a .env with free ports (as configure would write it).
with_env() {
  sed -e "s/^INTAKE_PUBLIC_PORT=.*/INTAKE_PUBLIC_PORT=$port/" -e "s/^PROMETHEUS_PORT=.*/PROMETHEUS_PORT=$((port + 1))/" \
    -e "s/^GRAFANA_PORT=.*/GRAFANA_PORT=$((port + 2))/" -e "s/^ALERTMANAGER_PORT=.*/ALERTMANAGER_PORT=$((port + 3))/" \
    "$proj/.env.example" >"$proj/.env"
}

@test "--help prints the usage and the exit codes" {
  run "$setup_sh" --help
  [ "$status" -eq 0 ]
  [[ $output == *"--bundle PATH"* ]]
  [[ $output == *"11 validation"* ]]
}

@test "usage errors exit 2" {
  run "$setup_sh" --frobnicate
  [ "$status" -eq 2 ]
  run "$setup_sh" --phase nonsense
  [ "$status" -eq 2 ]
  run "$setup_sh" --engine lxc
  [ "$status" -eq 2 ]
}

@test "preflight passes with every tool and image present" {
  with_env
  run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 0 ]
  [[ $output == *"tools: podman 4.3.1"* ]]
  [[ $output == *"every image is present locally"* ]]
}

@test "preflight: a missing tool exits 3 with what to do" {
  with_env
  STUB_NETWORK_BACKEND=cni run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 3 ]
  [[ $output == *"scripts/configure-podman.sh"* ]]
  STUB_PODMAN_VERSION=3.4.0 run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 3 ]
  [[ $output == *"too old"* ]]
}

@test "preflight: too little disk or memory exits 4" {
  with_env
  INTAKE_SETUP_MIN_DISK_MB=999999999 run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 4 ]
  [[ $output == *"MB free"* ]]
  INTAKE_SETUP_MIN_MEM_MB=999999999 run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 4 ]
}

@test "preflight: a port in use exits 5" {
  with_env
  python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" &
  pid=$!
  sleep 0.5
  run "$setup_sh" "${opts[@]}" --phase preflight
  kill "$pid"
  [ "$status" -eq 5 ]
  [[ $output == *"port $port (INTAKE_PUBLIC_PORT) is in use"* ]]
}

@test "preflight: missing images with no registry, or a bad bundle, exit 6" {
  with_env
  STUB_MISSING_IMAGES=redis:7.4.5-alpine run "$setup_sh" "${opts[@]}" --phase preflight
  [ "$status" -eq 6 ]
  [[ $output == *"no registry reachable"* ]]
  run "$setup_sh" "${opts[@]}" --bundle "$BATS_TEST_TMPDIR" --phase preflight
  [ "$status" -eq 6 ]
}

@test "configure writes .env and secrets once; a second run changes nothing" {
  run "$setup_sh" "${opts[@]}" --phase configure
  [ "$status" -eq 0 ]
  [[ $output == *"wrote .env from .env.example"* ]]
  [[ $output == *"generated"*"secret files"* ]]
  [ -f "$proj/.env" ] && [ -f "$proj/deploy/compose/secrets/api_keys" ]
  [ "$(stat -c %a "$proj/deploy/compose/secrets")" = 700 ]
  key=$(cat "$proj/deploy/compose/secrets/api_keys")
  run "$setup_sh" "${opts[@]}" --phase configure
  [ "$status" -eq 0 ]
  [[ $output == *"nothing to change"* ]]
  [ "$(cat "$proj/deploy/compose/secrets/api_keys")" = "$key" ]
}

@test "configure: a project without .env.example exits 7" {
  rm "$proj/.env.example"
  run "$setup_sh" "${opts[@]}" --phase configure
  [ "$status" -eq 7 ]
}

@test "--dry-run changes nothing" {
  run "$setup_sh" "${opts[@]}" --dry-run --phase configure
  [ "$status" -eq 0 ]
  [[ $output == *"would run"* ]]
  [ ! -e "$proj/.env" ] && [ ! -e "$proj/logs" ]
}

@test "deploy starts the services in dependency order and waits for them" {
  with_env
  "$setup_sh" "${opts[@]}" --phase configure >/dev/null
  run "$setup_sh" "${opts[@]}" --phase deploy
  [ "$status" -eq 0 ]
  [[ $output == *"migrate completed"* ]]
  [[ $output == *"nginx healthy"* ]]
  ups=$(grep -o 'up -d --no-build --no-deps .*' "$STUB_STATE/calls")
  # postgres before migrate before api before nginx.
  [[ $ups == *postgres*$'\n'*migrate*$'\n'*api*$'\n'*nginx* ]]
  run "$setup_sh" "${opts[@]}" --phase deploy
  [[ $output == *"every service was already running"* ]]
}

@test "deploy: a missing intake image without --build exits 8" {
  with_env
  STUB_MISSING_IMAGES=intake-api:dev run "$setup_sh" "${opts[@]}" --phase deploy
  [ "$status" -eq 8 ]
  [[ $output == *"--build"* ]]
}

@test "deploy: a stand-in image is refused without --allow-standins" {
  with_env
  cat >"$BATS_TEST_TMPDIR/inspect-standin" <<'SH'
SH
  # The stub's image inspect prints an empty label; a label makes it a stand-in.
  sed 's/&& echo ""/\&\& echo standin/' "$BATS_TEST_DIRNAME/stubs/podman" >"$BATS_TEST_TMPDIR/podman"
  chmod +x "$BATS_TEST_TMPDIR/podman"
  PATH=$BATS_TEST_TMPDIR:$PATH run "$setup_sh" "${opts[@]}" --phase deploy
  [ "$status" -eq 8 ]
  [[ $output == *"test stand-in"* ]]
}

@test "deploy: a service that never becomes healthy exits 9" {
  with_env
  STUB_UNHEALTHY=redis run "$setup_sh" "${opts[@]}" --phase deploy
  [ "$status" -eq 9 ]
  [[ $output == *"redis is not healthy"* ]]
}

@test "deploy: a failed migration exits 10" {
  with_env
  STUB_FAIL_MIGRATE=1 run "$setup_sh" "${opts[@]}" --phase deploy
  [ "$status" -eq 10 ]
  [[ $output == *"migrate exited 1"* ]]
}

@test "validate reports every service and the end-to-end job; --json is JSON" {
  with_env
  "$setup_sh" "${opts[@]}" --phase configure >/dev/null
  "$setup_sh" "${opts[@]}" --phase deploy >/dev/null
  run "$setup_sh" "${opts[@]}" --phase validate
  [ "$status" -eq 0 ]
  [[ $output == *"job job-1 completed"*": ok"* ]]
  run --separate-stderr "$setup_sh" "${opts[@]}" --phase validate --json
  [ "$status" -eq 0 ]
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["end_to_end"]["result"]=="ok"; assert len(d["services"])==10' "$output"
}

@test "validate: an unhealthy service or a failed job exits 11" {
  with_env
  "$setup_sh" "${opts[@]}" --phase configure >/dev/null
  "$setup_sh" "${opts[@]}" --phase deploy >/dev/null
  STUB_UNHEALTHY=worker run "$setup_sh" "${opts[@]}" --phase validate
  [ "$status" -eq 11 ]
  [[ $output == *"not healthy: worker"* ]]
  STUB_JOB_STATUS=failed run "$setup_sh" "${opts[@]}" --phase validate
  [ "$status" -eq 11 ]
  [[ $output == *"end-to-end job"* ]]
}

@test "the whole run, then --down" {
  with_env
  run "$setup_sh" "${opts[@]}"
  [ "$status" -eq 0 ]
  run "$setup_sh" "${opts[@]}"
  [ "$status" -eq 0 ]
  [[ $output == *"nothing to change"* ]]
  run "$setup_sh" "${opts[@]}" --down
  [ "$status" -eq 0 ]
  [ -z "$(ls "$STUB_STATE" | grep '^c-')" ]
}

@test "no colour without a terminal; the log file records the run" {
  with_env
  run "$setup_sh" "${opts[@]}" --phase preflight
  [[ $output != *$'\e['* ]]
  grep -q "start: engine=podman phase=preflight" "$proj/logs/setup-environment.log"
}

@test "NO_COLOR disables colour even on a terminal" {
  command -v script >/dev/null || skip "script(1) missing"
  with_env
  out=$(NO_COLOR=1 script -qec "$setup_sh --engine podman --phase preflight" /dev/null)
  [[ $out != *$'\e[32m'* ]]
  out=$(script -qec "$setup_sh --engine podman --phase preflight" /dev/null)
  [[ $out == *$'\e[32m'* ]]
}
