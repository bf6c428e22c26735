#!/usr/bin/env bash
# The release's first step: refuses a tag that is not vX.Y.Z of the version Cargo.toml, Cargo.lock,
# action.yml's `version` input (the binary the composite action installs) and CHANGELOG.md (a
# section `## [X.Y.Z]`) all name. Prints `version=X.Y.Z` (for GITHUB_OUTPUT).
#
#   bash tools/release-check.sh v0.1.0
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 vX.Y.Z" >&2; exit 2; }
cd "$(dirname "$0")/.."
tag="$1"
fail() { echo "release $tag: $*" >&2; exit 1; }
[[ "$tag" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || fail "the tag is not vX.Y.Z"
version="${tag#v}"
cargo="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ "$cargo" = "$version" ] || fail "Cargo.toml is at $cargo"
lock="$(awk '/^name = "cachebust"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ "$lock" = "$version" ] || fail "Cargo.lock has cachebust $lock (run cargo update -p cachebust)"
action="$(awk '/^  version:$/ { inside = 1; next } inside && /^    default:/ { gsub(/^    default: *|"/, ""); print; exit } /^  [a-z_]+:$/ { inside = 0 }' action.yml)"
[ "$action" = "$version" ] || fail "action.yml installs $action (its input version's default)"
grep -q "^## \[$version\]" CHANGELOG.md || fail "CHANGELOG.md has no section ## [$version]"
echo "version=$version"
