#!/usr/bin/env bash
# Writes the secret files docker-compose.yml and deploy/compose/mongo.yml
# mount as compose secrets: random passwords and keys, and the URLs built
# from them, so every pair stays consistent.
#
#   deploy/compose/secrets.sh [DIR]    # DIR: $INTAKE_SECRETS_DIR, else deploy/compose/secrets
#
# Existing files are kept (rerunning changes nothing); delete a file to
# rotate it, together with the files derived from it (the URLs) and the
# datastore volume that stored the old password. The directory is made
# 0700 and the files 0644: the containers read them as their own users
# (postgres 999, intake 65532, …), which differ from yours.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-${INTAKE_SECRETS_DIR:-$here/secrets}}

mkdir -p "$dir"
chmod 0700 "$dir"
umask 022

# rand N: N random bytes, URL-safe base64 without padding.
rand() {
	head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}

# put NAME VALUE: write the file unless it exists.
put() {
	local f=$dir/$1
	if [[ -e $f ]]; then
		return
	fi
	printf '%s\n' "$2" >"$f.tmp"
	chmod 0644 "$f.tmp"
	mv "$f.tmp" "$f"
	echo "wrote $f"
}

# get NAME: the value of an existing file.
get() {
	head -n 1 "$dir/$1"
}

put postgres_password "$(rand 24)"
put database_url "postgres://intake:$(get postgres_password)@postgres:5432/intake?sslmode=disable"

put mongo_password "$(rand 24)"
put mongo_database_url "mongodb://intake:$(get mongo_password)@mongo:27017/intake?authSource=admin"

put redis_password "$(rand 24)"
put redis.conf "requirepass $(get redis_password)"
put redis_url "redis://:$(get redis_password)@redis:6379/0"

# Azurite account "intake" with a random key (Azure keys are base64 of
# 64 bytes); the well-known development key is not used.
put azurite_key "$(head -c 64 /dev/urandom | base64 | tr -d '\n')"
put azurite_accounts "intake:$(get azurite_key)"
put blob_url "DefaultEndpointsProtocol=http;AccountName=intake;AccountKey=$(get azurite_key);BlobEndpoint=http://azurite:10000/intake;"

put api_keys "$(rand 32)"
put grafana_admin_password "$(rand 18)"

echo "secrets in $dir; API key: $dir/api_keys"
