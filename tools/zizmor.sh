#!/usr/bin/env bash
# zizmor (GitHub Actions security linter), pedantic, over the workflows, action.yml and the
# README's example workflow: any finding fails. CI's zizmor job and .ci/run both run this.
# zizmor is pinned and installed into a virtual environment of its own when it is not on PATH
# at that version (PyPI; Debian's python3-venv is installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.33.1
venv="${CACHEBUST_ZIZMOR_VENV:-${TMPDIR:-/tmp}/cachebust-zizmor-$version}"
zizmor=""
if command -v zizmor >/dev/null 2>&1 && [ "$(zizmor --version)" = "zizmor $version" ]; then
  zizmor=zizmor
elif [ -x "$venv/bin/zizmor" ]; then
  zizmor="$venv/bin/zizmor"
else
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "zizmor==$version"
  zizmor="$venv/bin/zizmor"
fi
# offline: the online audits (impostor commits, known-vulnerable actions) need a token and ask
# about cachebust/cachebust@v0.1.0 before that tag exists
"$zizmor" --offline --no-progress --persona pedantic \
  .github/workflows/*.yml action.yml docs/action-example.yml
