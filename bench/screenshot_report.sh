#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a screenshot, to look at.
# Usage: bench/screenshot_report.sh runs/demo [out.png]   (needs Debian's chromium)
set -euo pipefail
run=${1:?run folder}; out=${2:-$run/report.png}
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1100,2600 \
  --screenshot="$out" "file://$(realpath "$run")/report.html" 2>/dev/null
rm -rf "$profile"
echo "wrote $out"
