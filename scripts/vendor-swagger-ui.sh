#!/usr/bin/env bash
# Vendors swagger-ui-dist from npm into internal/api/docsui/dist so that the
# API docs at /docs work with no internet. Only the bundle JS and CSS are
# kept, gzip-compressed (the server sends them with Content-Encoding: gzip),
# plus the licence. The tarball's SHA-256 is pinned: a re-run must produce
# the same files.
#
# Usage: scripts/vendor-swagger-ui.sh   (needs npm, tar, gzip, sha256sum)
set -euo pipefail

version=5.35.0
tarball_sha256=1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$repo/internal/api/docsui/dist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetching swagger-ui-dist@$version"
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tgz=$tmp/swagger-ui-dist-$version.tgz
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [[ $got != "$tarball_sha256" ]]; then
	echo "swagger-ui-dist-$version.tgz: sha256 $got, want $tarball_sha256" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp"

mkdir -p "$dest"
rm -f "$dest"/*
for f in swagger-ui-bundle.js swagger-ui.css; do
	# Drop the source-map comment: the map is not vendored, and browsers
	# would ask for it.
	sed '/^\/[/*]# sourceMappingURL=/d' "$tmp/package/$f" | gzip -9 -n >"$dest/$f.gz"
done
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/swagger-ui-bundle.js.LICENSE.txt" "$dest/swagger-ui-bundle.js.LICENSE.txt"
if [[ -f $tmp/package/NOTICE ]]; then
	cp "$tmp/package/NOTICE" "$dest/NOTICE"
fi
echo "$version" >"$dest/VERSION"
ls -l "$dest"
