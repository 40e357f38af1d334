#!/usr/bin/env bash
# The Git side of `sync` (issue "one pipeline, named stages"): how many fetches one sync makes and what it costs,
# for a fabric in a Git repository (`--git-url`, a local bare remote), with the ~5,600-object reference fabric.
# Each binary given is measured in the same run on the same input: a first sync (layout + ingest + commit + push),
# then RUNS syncs of the unchanged input dropped into raw/ again (median), each with GIT_TRACE counting the
# `git fetch` commands it ran. No Kubernetes target: the apply stage is skipped, only the Git half is measured.
# Usage: bench/sync_git.sh [RUNS] BINARY...   (default: target/release/hhgitops)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then RUNS=$1; shift; fi
BINS=("$@")
if [ ${#BINS[@]} -eq 0 ]; then
  cargo build --release -q -p hhgitops-cli
  BINS=("$PWD/target/release/hhgitops")
fi
SHARED="${SHARED:-../shared}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
INPUT="$WORK/fabric.yaml"
python3 "$SHARED/tools/gen_vlab_wiring.py" --spines 2 --fabric-links 1 \
  --eslag-leaf-groups 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2 --orphan-leafs 16 \
  --eslag-servers 20 --unbundled-servers 20 --bundled-servers 13 --vpcs > "$INPUT"
echo "input: $(grep -c '^kind:' "$INPUT") objects; $RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
printf '%-28s %10s %8s %14s %8s\n' binary "first sync" fetches "re-sync (med)" fetches
for i in "${!BINS[@]}"; do
  bin="${BINS[$i]}"; d="$WORK/b$i"; mkdir -p "$d"
  git init -q --bare -b main "$d/remote.git"
  git clone -q "$d/remote.git" "$d/seed" 2>/dev/null
  git -C "$d/seed" commit -q --allow-empty -m init && git -C "$d/seed" push -q origin HEAD:main
  export HHGITOPS_HOME="$d/home"
  "$bin" -q fabric add bench --git-url "file://$d/remote.git" --branch main --git-path gitops >/dev/null
  clone=$(find "$d/home/repos" -mindepth 1 -maxdepth 1 -type d | head -1)
  cp "$INPUT" "$clone/gitops/raw/fabric.yaml"
  t0=$(now); GIT_TRACE="$d/trace.first" "$bin" -q sync --fabric bench >/dev/null; t1=$(now)
  first=$(awk "BEGIN{print $t1 - $t0}")
  first_fetches=$(grep -c "trace: built-in: git fetch" "$d/trace.first" || true)
  T=""; F=""
  for r in $(seq 1 "$RUNS"); do
    cp "$INPUT" "$clone/gitops/raw/fabric.yaml"
    t0=$(now); GIT_TRACE="$d/trace.$r" "$bin" -q sync --fabric bench >/dev/null; t1=$(now)
    T+="$(awk "BEGIN{print $t1 - $t0}") "
    F+="$(grep -c "trace: built-in: git fetch" "$d/trace.$r" || true) "
  done
  [ -z "$(git -C "$clone" status --porcelain)" ] || { echo "$bin: the clone is not clean after the syncs" >&2; exit 1; }
  printf '%-28s %9.3fs %8s %13.3fs %8s\n' "$(basename "$(dirname "$(dirname "$(dirname "$bin")")")")/$(basename "$bin")" \
    "$first" "$first_fetches" "$(printf '%s\n' $T | median)" "$(printf '%s\n' $F | median)"
  unset HHGITOPS_HOME
done
