#!/usr/bin/env bash
# Runs site.yml against this machine (ansible_connection=local) with the
# podman engine, a throwaway install directory and a throwaway vault:
#
#   1. ansible-lint (production profile) and --syntax-check
#   2. check mode on the fresh directory (nothing may change)
#   3. a real run: the bundle unpacked and verified, .env and the secrets
#      written from the vault, the stack started by setup-environment.sh
#      (every service healthy, a job through nginx)
#   4. a second run, which must report changed=0
#   5. a run with a changed .env (log level): the handler stops the stack,
#      which comes up again with the new setting; then check mode (changed=0)
#   6. teardown: setup-environment.sh --down, the project's volumes removed
#
# usage: deploy/ansible/test.sh [--fast]
#   --fast   steps 1 and 2 only (seconds; no stack is started)
# Environment: INTAKE_BUNDLE_DIR, an existing bundle directory (made by
# scripts/make-bundle.sh) to reuse; else one is made in the temp directory
# (needs the images locally). INTAKE_ANSIBLE_TEST_LOGS=DIR keeps the output
# of every ansible-playbook run there (play-N.log). Needs root and rootful podman with the stand-in
# images (CI: deploy/compose/standins/build.sh); refuses to run while a
# stack of the Compose project "intake" is up, because it binds the same
# loopback ports (8080, 9090, 9093, 3000), and removes that project's
# volumes (test data) before and after.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
fast=0
[[ ${1:-} == --fast ]] && fast=1

start=$SECONDS t0=$SECONDS
step() {
  printf 'ansible-test: %-44s %4ds\n' "${STEP:-start}" "$((SECONDS - t0))"
  STEP=$1 t0=$SECONDS
}
fail() { echo "ansible-test: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d)
project=""
cleanup() {
  if [[ -n $project && -x $project/scripts/setup-environment.sh ]]; then
    NO_COLOR=1 "$project/scripts/setup-environment.sh" --bundle "$project" --engine podman --down >/dev/null 2>&1 || true
  fi
  if ((!fast)); then
    podman volume ls -q --filter label=io.podman.compose.project=intake | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step "ansible-lint --profile production, syntax-check"
(cd "$repo" && ansible-lint -q --profile production deploy/ansible)

# The bundle: reuse one, or make one (then archive it as an operator would
# receive it, without a previous install's state).
if ((fast)); then
  mkdir -p "$tmp/bundle/intake-bundle-test"
  printf 'placeholder\n' >"$tmp/bundle/intake-bundle-test/SHA256SUMS"
  bundle_dir=$tmp/bundle/intake-bundle-test
elif [[ -n ${INTAKE_BUNDLE_DIR:-} ]]; then
  bundle_dir=$(cd "$INTAKE_BUNDLE_DIR" && pwd)
else
  step "scripts/make-bundle.sh"
  "$repo/scripts/make-bundle.sh" "$tmp/bundle" >/dev/null
  bundle_dir=$(find "$tmp/bundle" -mindepth 1 -maxdepth 1 -type d -name 'intake-bundle-*' | head -n1)
fi
[[ -f $bundle_dir/SHA256SUMS ]] || fail "no bundle in ${bundle_dir:-$tmp/bundle}"
name=$(basename "$bundle_dir")
((fast)) || step "archive the bundle ($name)"
tar -C "$(dirname "$bundle_dir")" -cf "$tmp/$name.tar" \
  --exclude="$name/.env" --exclude="$name/.setup" --exclude="$name/logs" \
  --exclude="$name/deploy/compose/secrets/*" "$name"

# A throwaway vault: random secrets, encrypted with a random password.
rand() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }
head -c 32 /dev/urandom | base64 >"$tmp/vault-pass"
cat >"$tmp/vault.yml" <<EOV
vault_intake_postgres_password: $(rand 24)
vault_intake_mongo_password: $(rand 24)
vault_intake_redis_password: $(rand 24)
vault_intake_azurite_key: $(head -c 64 /dev/urandom | base64 | tr -d '\n')
vault_intake_api_key: $(rand 32)
vault_intake_grafana_admin_password: $(rand 18)
EOV
ansible-vault encrypt --vault-password-file "$tmp/vault-pass" "$tmp/vault.yml" >/dev/null
head -n1 "$tmp/vault.yml" | grep -q '^.ANSIBLE_VAULT;' || fail "the vault was not encrypted"

project=$tmp/opt/$name
cat >"$tmp/inventory.yml" <<EOI
intake:
  hosts:
    intake-test:
      ansible_host: 127.0.0.1
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
  vars:
    intake_bundle_archive: $tmp/$name.tar
    intake_bundle_archive_sha256: $(sha256sum "$tmp/$name.tar" | cut -d' ' -f1)
    intake_install_dir: $tmp/opt
    intake_engine: podman
    intake_allow_standins: true
    intake_setup_timeout: 240
    intake_filings_delay: "0"
EOI

export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0
play() {
  local rc=0
  ansible-playbook -i "$tmp/inventory.yml" -e "@$tmp/vault.yml" --vault-password-file "$tmp/vault-pass" \
    -e ansible_become=false "$here/site.yml" "$@" >"$tmp/play.log" 2>&1 || rc=$?
  { grep -A1 '^PLAY RECAP' "$tmp/play.log" || true; } | sed -n 2p >"$tmp/recap"
  ((rc == 0)) || tail -n 40 "$tmp/play.log" >&2
  if [[ -n ${INTAKE_ANSIBLE_TEST_LOGS:-} ]]; then
    mkdir -p "$INTAKE_ANSIBLE_TEST_LOGS"
    plays=$((${plays:-0} + 1))
    cp "$tmp/play.log" "$INTAKE_ANSIBLE_TEST_LOGS/play-$plays.log"
  fi
  return "$rc"
}
# expect_recap REGEX: the last run's recap line matches.
expect_recap() {
  if ! grep -Eq "$1" "$tmp/recap"; then
    grep -E '^(TASK|RUNNING HANDLER) |^changed:' "$tmp/play.log" | grep -B1 '^changed:' >&2 || true
    fail "PLAY RECAP $(cat "$tmp/recap"), want $1"
  fi
  echo "ansible-test: PLAY RECAP $(tr -s ' ' <"$tmp/recap")"
}

play --syntax-check || fail "syntax-check failed"

if ((fast)); then
  step "check mode (fresh directory)"
  play --check || fail "check mode failed"
  expect_recap 'unreachable=0 +failed=0'
  [[ ! -e $tmp/opt ]] || fail "check mode created $tmp/opt"
  step "done"
  echo "ansible-test: total $((SECONDS - start))s"
  exit 0
fi

[[ -z $(podman ps -q --filter label=io.podman.compose.project=intake) ]] ||
  fail "a stack of the Compose project intake is up (podman ps): stop it first"
podman volume ls -q --filter label=io.podman.compose.project=intake | xargs -r podman volume rm -f >/dev/null

step "check mode (fresh directory)"
play --check || fail "check mode failed"
expect_recap 'unreachable=0 +failed=0'
[[ ! -e $tmp/opt ]] || fail "check mode created $tmp/opt"

step "real run"
play || fail "the real run failed"
expect_recap 'changed=[1-9][0-9]* +unreachable=0 +failed=0'
grep -q 'a job completed through nginx and its document was fetched' "$tmp/play.log" || fail "no job completed through nginx"
[[ $(stat -c %a "$project/.env") == 600 && $(stat -c %a "$project/deploy/compose/secrets") == 700 ]] ||
  fail "modes of .env or the secrets directory"
! grep -rqF "$(ansible-vault view --vault-password-file "$tmp/vault-pass" "$tmp/vault.yml" | sed -n 's/^vault_intake_api_key: //p')" \
  "$tmp/play.log" || fail "the API key appears in Ansible's output"

step "second run (changed=0)"
play || fail "the second run failed"
expect_recap 'changed=0 +unreachable=0 +failed=0'

step "config change: the handler recreates the stack"
play -e intake_log_level=debug || fail "the run with a changed .env failed"
expect_recap 'changed=[1-9][0-9]* +unreachable=0 +failed=0'
grep -A1 '^RUNNING HANDLER \[intake_compose : Stop the intake stack' "$tmp/play.log" | grep -q '^changed:' ||
  fail "the handler did not run"
grep -q 'a job completed through nginx and its document was fetched' "$tmp/play.log" || fail "no job completed through nginx"
api=$(podman ps -q --filter label=com.docker.compose.service=api | head -n1)
podman inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$api" | grep -qx 'INTAKE_LOG_LEVEL=debug' ||
  fail "the api container does not have the new INTAKE_LOG_LEVEL"

step "check mode (installed)"
play --check -e intake_log_level=debug || fail "check mode failed"
expect_recap 'changed=0 +unreachable=0 +failed=0'

step "teardown (setup-environment.sh --down)"
NO_COLOR=1 "$project/scripts/setup-environment.sh" --bundle "$project" --engine podman --down
[[ -z $(podman ps -aq --filter label=io.podman.compose.project=intake) ]] || fail "--down left containers"
project=""
step "done"
echo "ansible-test: total $((SECONDS - start))s"
