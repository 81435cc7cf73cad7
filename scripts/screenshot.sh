#!/usr/bin/env bash
# Screenshots perpsim HTML reports with headless Chromium, to look at them as a reader would.
#
#   scripts/screenshot.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]
#
# Needs Debian's `chromium` package (apt-get install chromium). Without it the script says
# so and exits 0, so it can sit in a pipeline on machines without a browser. The flags keep
# Chromium off the network: reports must render with no network at all.
set -euo pipefail
page=${1:?usage: scripts/screenshot.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]}
out=${2:-${page%.html}.png}
width=${3:-1280}
height=${4:-4000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "screenshot: skipped, no Chromium found (Debian: apt-get install chromium)"
  exit 0
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars \
  --window-size="$width,$height" --screenshot="$(realpath -m "$out")" \
  "file://$(realpath "$page")" 2>/dev/null
echo "screenshot: $out"
