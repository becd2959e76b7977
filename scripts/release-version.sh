#!/usr/bin/env bash
# Prints the release version of the commit being built and the image
# repositories, as KEY=VALUE lines for $GITHUB_OUTPUT (deploy.yml's build
# job). The version is the images' tag, the chart's version and its
# appVersion alike:
#
#   tag vX.Y.Z[-pre]        X.Y.Z[-pre]
#   push to a branch        <next patch>-<branch>.<run>.g<sha7>   e.g. 1.4.3-main.57.g1a2b3c4
#   pull request N          <next patch>-pr.N.<run>.g<sha7>
#
# where <next patch> follows the newest vX.Y.Z tag reachable from HEAD
# (0.0.1 without one), so a build sorts after the release it follows and
# before the next one (SemVer 2.0 pre-release precedence). "g" keeps the
# short SHA a valid identifier when it is all digits; a branch name made
# only of digits gets a "branch-" prefix for the same reason.
#
# Reads GITHUB_REF, GITHUB_REF_NAME, GITHUB_SHA, GITHUB_RUN_NUMBER,
# GITHUB_REPOSITORY_OWNER and REGISTRY (default ghcr.io). Exits 1 with one
# line on a tag that is not SemVer.
set -euo pipefail

ref=${GITHUB_REF:?GITHUB_REF is not set}
sha=${GITHUB_SHA:-$(git rev-parse HEAD)}
run=${GITHUB_RUN_NUMBER:-0}
owner=${GITHUB_REPOSITORY_OWNER:?GITHUB_REPOSITORY_OWNER is not set}
registry=${REGISTRY:-ghcr.io}
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'

case $ref in
  refs/tags/v*)
    version=${ref#refs/tags/v}
    if ! [[ $version =~ $semver ]]; then
      echo "release-version: tag v$version is not vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
      exit 1
    fi
    ;;
  *)
    last=$(git describe --tags --abbrev=0 --match 'v[0-9]*.[0-9]*.[0-9]*' "$sha" 2>/dev/null || echo v0.0.0)
    last=${last#v}
    last=${last%%-*}
    IFS=. read -r major minor patch <<<"$last"
    case $ref in
      refs/pull/*) channel="pr.$(cut -d/ -f3 <<<"$ref")" ;;
      refs/heads/*)
        # A branch name as dot-separated SemVer identifiers: lower case,
        # runs of other characters as one hyphen.
        channel=$(sed -e 's/^refs\/heads\///' -e 's/[^0-9A-Za-z]\{1,\}/-/g' -e 's/^-//; s/-$//' <<<"$ref")
        channel=${channel,,}
        # A numeric identifier may not have leading zeros; a name is safer.
        [[ $channel =~ ^[0-9]*$ ]] && channel="branch-$channel"
        ;;
      *) channel=build ;;
    esac
    version="$major.$minor.$((patch + 1))-$channel.$run.g${sha:0:7}"
    ;;
esac

owner=${owner,,}
echo "version=$version"
echo "api=$registry/$owner/intake-api"
echo "worker=$registry/$owner/intake-worker"
echo "created=$(git log -1 --format=%cI "$sha" 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
