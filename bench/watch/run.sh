#!/usr/bin/env bash
# Watcher latency benchmark (SPEC §9): builds the release binary and runs bench/watch/latency.py, which prints
# median and p95 latency from a file landing in raw/ to its managed files and manifest being written, in event
# mode and in polling mode (100 ms), against a one-shot `ingest` measured in the same run.
# Usage: bench/watch/run.sh [--drops N] [--objects K]   (default 50 drops of 3 objects)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p hhgitops-cli
exec python3 bench/watch/latency.py --binary target/release/hhgitops "$@"
