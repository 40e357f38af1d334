#!/usr/bin/env bash
# Server benchmark (SPEC §9): GET …/status and a page of 100 objects with 64 concurrent clients (p50/p99,
# throughput), idle and during an ingestion of the whole ~5,600-object reference fabric; resident memory of a
# server watching 10 such fabrics; time from a signed webhook to its sync starting. See bench/serve/main.rs.
# Usage: bench/serve.sh [REQUESTS_PER_CLIENT] (default 50). PROFILE=debug measures a debug build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-50}"
SHARED="${SHARED:-../shared}"
PROFILE="${PROFILE:-release}"
flag=(--release); [ "$PROFILE" = debug ] && flag=()
cargo build "${flag[@]}" -q -p hhgitops-cli
exec cargo run "${flag[@]}" -q -p hhgitops-cli --example serve-bench -- \
  --requests "$REQUESTS" --binary "target/$PROFILE/hhgitops" --shared "$SHARED"
