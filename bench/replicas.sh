#!/usr/bin/env bash
# Replicas benchmark (issue 13): builds the release binary and runs bench/replicas/run.py against PostgreSQL
# (HHGITOPS_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test): jobs per second through 1, 2 and
# 3 `serve` replicas, and the takeover time of a killed replica's fabrics. HHGITOPS_BIN skips the build.
# Usage: bench/replicas.sh [--fabrics N] [--jobs J]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${HHGITOPS_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -q -p hhgitops-cli
    bin=target/release/hhgitops
fi
exec python3 bench/replicas/run.py --binary "$bin" "$@"
