#!/usr/bin/env bash
# Packs one release binary the way action/install.sh and the README's install line expect it:
#
#   bash tools/release-archive.sh BINARY VERSION TARGET OUTDIR
#
# writes OUTDIR/cachebust-VERSION-TARGET.tar.gz holding the directory cachebust-VERSION-TARGET/
# with the binary (cachebust, or cachebust.exe for a Windows target), the licences, README.md and
# CHANGELOG.md, and prints the archive's path. The release workflow runs it for each target, and
# the install tests run it on this build's binary, so both read the same layout.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BINARY VERSION TARGET OUTDIR" >&2; exit 2; }
binary="$1" version="${2#v}" target="$3" out="$4"
root="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$binary" ] || { echo "$0: no binary at $binary" >&2; exit 1; }
exe=cachebust
case "$target" in *windows*) exe=cachebust.exe ;; esac
name="cachebust-$version-$target"
stage="$(mktemp -d "${TMPDIR:-/tmp}/cachebust-archive.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
cp "$binary" "$stage/$name/$exe"
chmod 0755 "$stage/$name/$exe"
for f in LICENSE-MIT LICENSE-APACHE README.md CHANGELOG.md; do
  cp "$root/$f" "$stage/$name/$f"
done
out="$(cd "$out" && pwd)"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
