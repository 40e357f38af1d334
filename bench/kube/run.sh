#!/usr/bin/env bash
# Kubernetes benchmark (SPEC §9): first sync, no-op sync (with the write requests the server received) and
# drift of the ~5,600-object reference fabric against the in-process test API server. See bench/kube/main.rs.
# Usage: bench/kube/run.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-5}"
SHARED="${SHARED:-../shared}"
cargo build --release -q -p hhgitops-cli
exec cargo run --release -q -p hhgitops-cli --example kube-bench -- \
  --runs "$RUNS" --binary target/release/hhgitops --shared "$SHARED"
