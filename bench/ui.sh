#!/usr/bin/env bash
# Web UI benchmark (SPEC §9): server time and HTML size of the overview, the fabric page, an objects page and the
# drift page (100 drifted objects) of the ~5,600-object reference fabric, beside the JSON API answering the same
# question; the objects and fabric pages under 64 concurrent clients; first contentful paint in headless Chromium.
# See bench/ui/main.rs. Usage: bench/ui.sh [RUNS] (default 30). PROFILE=debug measures a debug build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
SHARED="${SHARED:-../shared}"
PROFILE="${PROFILE:-release}"
flag=(--release); [ "$PROFILE" = debug ] && flag=()
cargo build "${flag[@]}" -q -p hhgitops-cli
exec cargo run "${flag[@]}" -q -p hhgitops-cli --example ui-bench -- \
  --runs "$RUNS" --binary "target/$PROFILE/hhgitops" --shared "$SHARED"
