#!/usr/bin/env bash
# Installs the cachebust release binary for this machine: the composite action (action.yml) runs
# it on Linux, macOS and Windows runners (bash is there on all three), and so can anyone:
#
#   CACHEBUST_VERSION=0.1.0 bash action/install.sh
#   curl -fsSL https://raw.githubusercontent.com/cachebust/cachebust/v0.1.0/action/install.sh |
#     CACHEBUST_VERSION=0.1.0 CACHEBUST_BIN_DIR="$HOME/.local/bin" bash
#
# It downloads cachebust-<version>-<target>.tar.gz and SHA256SUMS from the release, refuses an
# archive whose SHA-256 is not the one SHA256SUMS lists for it, unpacks it into the tool cache
# (<tool cache>/cachebust/<version>/<arch>, as actions/tool-cache lays it out, so a self-hosted
# runner downloads each version once) and checks that the binary says it is that version.
#
# Environment (all but CACHEBUST_VERSION optional):
#   CACHEBUST_VERSION       the release, e.g. 0.1.0 (a leading v is dropped)
#   CACHEBUST_DOWNLOAD_URL  where the release's assets are (default
#                           https://github.com/cachebust/cachebust/releases/download/v<version>)
#   RUNNER_OS, RUNNER_ARCH  the runner's (Linux/macOS/Windows, X64/ARM64); else from uname
#   RUNNER_TOOL_CACHE       the tool cache (default ~/.cache/cachebust-tools)
#   RUNNER_TEMP             scratch space (default a fresh directory under /tmp)
#   CACHEBUST_BIN_DIR       when set, the binary is also copied there (e.g. ~/.local/bin)
#   GITHUB_PATH             when set, the binary's directory is added to later steps' PATH
#   GITHUB_OUTPUT           when set, the outputs path (the binary) and dir
# Exit status: 0 installed (or already in the tool cache), 1 anything else, with the reason on
# stderr (and as a workflow error annotation).
set -euo pipefail

fail() {
  # the annotation for the run's page, the plain line for a terminal
  if [ -n "${GITHUB_ACTIONS:-}" ]; then echo "::error title=cachebust install::$*"; fi
  echo "cachebust install: $*" >&2
  exit 1
}

version="${CACHEBUST_VERSION:-}"
version="${version#v}"
[ -n "$version" ] || fail "CACHEBUST_VERSION is not set (the release to install, e.g. 0.1.0)"
case "$version" in
  *[!0-9A-Za-z.+-]*) fail "CACHEBUST_VERSION '$version' is not a version" ;;
esac
base_url="${CACHEBUST_DOWNLOAD_URL:-https://github.com/cachebust/cachebust/releases/download/v$version}"
base_url="${base_url%/}"

# --- the release target of this runner
os="${RUNNER_OS:-}"
if [ -z "$os" ]; then
  case "$(uname -s)" in
    Linux) os=Linux ;;
    Darwin) os=macOS ;;
    MINGW* | MSYS* | CYGWIN*) os=Windows ;;
    *) os="$(uname -s)" ;;
  esac
fi
arch="${RUNNER_ARCH:-}"
if [ -z "$arch" ]; then
  case "$(uname -m)" in
    x86_64 | amd64) arch=X64 ;;
    aarch64 | arm64) arch=ARM64 ;;
    *) arch="$(uname -m)" ;;
  esac
fi
exe=cachebust
case "$os/$arch" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc exe=cachebust.exe ;;
  *) fail "no release binary for $os/$arch (there are Linux X64/ARM64, macOS X64/ARM64, Windows X64); use the image ghcr.io/cachebust/cachebust:$version or cargo install cachebust" ;;
esac
asset="cachebust-$version-$target.tar.gz"

# --- already in the tool cache
tool_cache="${RUNNER_TOOL_CACHE:-${HOME:-/tmp}/.cache/cachebust-tools}"
dir="$tool_cache/cachebust/$version/$arch"
publish() {
  # Windows runners: the runner reads GITHUB_PATH and the outputs as Windows paths
  local native="$dir"
  if [ "$os" = Windows ] && command -v cygpath >/dev/null 2>&1; then native="$(cygpath -w "$dir")"; fi
  if [ -n "${GITHUB_PATH:-}" ]; then echo "$native" >>"$GITHUB_PATH"; fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "path=$native/$exe"
      echo "dir=$native"
    } >>"$GITHUB_OUTPUT"
  fi
  echo "cachebust $version ($target): $native/$exe"
  if [ -n "${CACHEBUST_BIN_DIR:-}" ]; then
    mkdir -p "$CACHEBUST_BIN_DIR"
    cp "$dir/$exe" "$CACHEBUST_BIN_DIR/$exe.tmp.$$"
    mv -f "$CACHEBUST_BIN_DIR/$exe.tmp.$$" "$CACHEBUST_BIN_DIR/$exe"
    echo "copied to $CACHEBUST_BIN_DIR/$exe"
  fi
}
if [ -f "$dir.complete" ] && [ -x "$dir/$exe" ]; then
  echo "cachebust $version is in the tool cache"
  publish
  exit 0
fi

# --- download into scratch space
if [ -n "${RUNNER_TEMP:-}" ]; then
  mkdir -p "$RUNNER_TEMP"
  work="$(mktemp -d "$RUNNER_TEMP/cachebust-install.XXXXXX")"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/cachebust-install.XXXXXX")"
fi
trap 'rm -rf "$work"' EXIT
fetch() {
  # $1 URL, $2 file
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 3 --retry-delay 2 \
      --connect-timeout 20 --max-time 300 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --timeout=60 --output-document="$2" "$1"
  else
    fail "neither curl nor wget is installed"
  fi
}
fetch "$base_url/SHA256SUMS" "$work/SHA256SUMS" ||
  fail "could not download $base_url/SHA256SUMS (is $version released?)"
fetch "$base_url/$asset" "$work/$asset" ||
  fail "could not download $base_url/$asset"

# --- the archive's SHA-256 must be the one the release lists for it
expected="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$work/SHA256SUMS")"
[ -n "$expected" ] || fail "SHA256SUMS of $version lists no checksum for $asset"
case "$expected" in
  *[!0-9a-fA-F]* | "") fail "SHA256SUMS of $version has a malformed checksum for $asset" ;;
esac
[ "${#expected}" -eq 64 ] || fail "SHA256SUMS of $version has a malformed checksum for $asset"
if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$work/$asset" | awk '{print $1}')"
elif command -v shasum >/dev/null 2>&1; then
  actual="$(shasum -a 256 "$work/$asset" | awk '{print $1}')"
elif command -v openssl >/dev/null 2>&1; then
  actual="$(openssl dgst -sha256 -r "$work/$asset" | awk '{print $1}')"
else
  fail "no sha256sum, shasum or openssl to check $asset with"
fi
expected="$(printf '%s' "$expected" | tr 'A-F' 'a-f')"
if [ "$actual" != "$expected" ]; then
  fail "checksum mismatch for $asset: SHA256SUMS lists $expected, the download is $actual; nothing was installed"
fi

# --- unpack beside the tool cache entry, check it, then move it in place
mkdir -p "$work/unpacked"
tar -xzf "$work/$asset" -C "$work/unpacked" || fail "$asset is not a readable tar.gz"
found="$(find "$work/unpacked" -type f -name "$exe" | head -n 1)"
[ -n "$found" ] || fail "$asset holds no $exe"
chmod +x "$found"
said="$("$found" --version 2>&1)" || fail "the downloaded $exe does not run on this machine: $said"
[ "$said" = "cachebust $version" ] || fail "the downloaded $exe says '$said', not 'cachebust $version'"
mkdir -p "$tool_cache/cachebust/$version"
rm -rf "$dir" "$dir.complete"
mkdir -p "$dir"
mv "$found" "$dir/$exe"
# the licences travel with the binary
for f in "$(dirname "$found")"/LICENSE-*; do
  if [ -f "$f" ]; then mv "$f" "$dir/"; fi
done
: >"$dir.complete"
publish
