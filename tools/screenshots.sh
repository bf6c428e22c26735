#!/usr/bin/env bash
# Renders, for the README, what a reviewer sees of the bundled example pull request, as GitHub
# shows it: the summary comment, the review (its body and every inline comment, suggestions
# in GitHub's "Suggested change" box, <details> closed as GitHub leaves them), and the
# `cachebust history --format html` plot. Markdown goes through comrak with GitHub's extensions
# and a GitHub-like stylesheet (tools/gfm_html.rs); Mermaid graphs are drawn by mermaid.js from
# the npm registry (pinned below; skipped when npm is missing); headless Chromium takes the
# pictures. Writes docs/screenshots/{summary,review-comment,history}.png.
#
#   bash tools/screenshots.sh            (needs git, cargo, /usr/bin/chromium; npm optional)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/docs/screenshots"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build -q --bin cachebust --example gfm-html --example review-bodies
bin="$CARGO_TARGET_DIR/debug/cachebust"
gfm="$CARGO_TARGET_DIR/debug/examples/gfm-html"

# the example pull request as a git repository (the edits are those of tests/integration/action.rs)
repo="$work/repo"
mkdir -p "$repo"
git -C "$repo" init -q -b main
git -C "$repo" config user.email screenshots@example.invalid
git -C "$repo" config user.name screenshots
cp -R examples/base/. "$repo/"
git -C "$repo" add -A && git -C "$repo" commit -qm "base"
base=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" rm -rq .
cp -R examples/head/. "$repo/"
sed -i 's/RUN npm ci --omit=dev/RUN npm ci --omit=dev --no-audit/' "$repo/api/Dockerfile"
sed -i '0,/^FROM python:3.12-slim$/s//FROM python:3.12-slim\nARG BUILD_DATE/' "$repo/pyapp/Dockerfile"
git -C "$repo" add -A && git -C "$repo" commit -qm "head"
head=$(git -C "$repo" rev-parse HEAD)

# the review as the Action would post it (tools/review_bodies.rs)
"$CARGO_TARGET_DIR/debug/examples/review-bodies" "$repo" "$base" "$head" "$work"

mermaid_args=()
if command -v npm > /dev/null; then
  if npm install -s --no-audit --no-fund --prefix "$work/npm" mermaid@11.12.1 > /dev/null 2>&1; then
    mermaid_args=(--mermaid "$work/npm/node_modules/mermaid/dist/mermaid.min.js")
  fi
fi
"$gfm" "$work/summary.md" --title "<b>github-actions</b> commented" "$work/summary.html" "${mermaid_args[@]}"
# the review: its body, then each inline comment as GitHub frames it (a suggestion as its box)
review_args=("$work/review-body.md" --title "<b>github-actions</b> reviewed these changes")
for md in "$work"/comment-*.md; do
  i=${md##*/comment-}; i=${i%.md}
  review_args+=("$md" --title "$(cat "$work/comment-$i.txt")" --original "$work/original-$i.txt")
done
"$gfm" "${review_args[@]}" "$work/review.html"

# a short history: the example's commits and two more
echo "more notes" >> "$repo/gosvc/README.md"; git -C "$repo" commit -qam "docs: gosvc notes"
echo "export const v = 2;" >> "$repo/web/src/App.jsx"; git -C "$repo" commit -qam "web: v2"
sed -i 's/9b7e0aa/1c2d3e4/' "$repo/compose.yaml" 2> /dev/null || true
git -C "$repo" commit -qam "bump GIT_SHA" 2> /dev/null || true
echo "flask==3.1" >> "$repo/pyapp/requirements.txt"; git -C "$repo" commit -qam "pyapp: flask 3.1"
"$bin" history --repo "$repo" --last 10 --format html > "$work/history.html"

shot() { # html png width height
  local profile
  profile=$(mktemp -d "$work/chromium.XXXX")
  /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-quic --no-first-run --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1 \
    --virtual-time-budget=5000 --window-size="$3,$4" --screenshot="$2" "file://$1" > /dev/null 2>&1
}
shot "$work/summary.html" "$out/summary.png" 940 "${SUMMARY_HEIGHT:-1250}"
shot "$work/review.html" "$out/review-comment.png" 940 "${COMMENT_HEIGHT:-860}"
shot "$work/history.html" "$out/history.png" 1000 "${HISTORY_HEIGHT:-900}"
cp "$work/history.html" "$out/history.html"
ls -l "$out"
