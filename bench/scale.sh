#!/usr/bin/env bash
# Scale check (SPEC §9: cost grows linearly with the number of objects). Generated fabrics of about 1×, 2× and 4×
# the reference object count (gen_vlab_wiring.py without VPCs, 32/64/128 leaf groups: the VPC generator stops at
# the 1,999 VPCs one VLAN namespace holds), each: first ingest into an empty fabric, re-ingest of the unchanged
# input (no writes), offline `validate` of the file, with peak memory; medians of RUNS. Prints the table and the
# time per object, which stays flat when the cost is linear. Drift and no-op sync need the Kubernetes test API
# server: bench/kube/run.sh measures them on the reference fabric only.
# Usage: bench/scale.sh [RUNS] (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
SHARED="${SHARED:-../shared}"
cargo build --release -q -p hhgitops-cli
BIN="$PWD/target/release/hhgitops"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# timed CMD...: prints "seconds maxrss_kb"
timed() { /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$WORK/t" >&2; exit 1; }; tail -1 "$WORK/t"; }
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each"
printf '%-6s %8s %10s | %9s %8s | %10s | %9s %8s | %12s\n' size objects bytes ingest "MiB" re-ingest validate "MiB" "µs/object"
for k in 2 4 8; do
  groups=$(python3 -c "print(','.join(['2'] * (16 * $k)))")
  in="$WORK/in.$k.yaml"
  python3 "$SHARED/tools/gen_vlab_wiring.py" --spines 8 --eslag-leaf-groups "$groups" --orphan-leafs $((16 * k)) \
    --eslag-servers 16 --unbundled-servers 16 --bundled-servers 16 > "$in"
  objects=$(grep -c '^kind:' "$in")
  ING=""; ING_M=""; RE=""; VAL=""; VAL_M=""
  for i in $(seq 1 "$RUNS"); do
    d="$WORK/f.$k.$i"
    HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" >/dev/null
    cp "$in" "$d/root/raw/fabric.yaml"; sync
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench)
    ING+="$t "; ING_M+="$m "
    [ "$(find "$d/root/managed" -name '*.yaml' | wc -l)" -eq "$objects" ] || { echo "incomplete ingest" >&2; exit 1; }
    cp "$in" "$d/root/raw/fabric.yaml"
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench)
    RE+="$t "
    read -r t m < <(timed "$BIN" -q validate "$in")
    VAL+="$t "; VAL_M+="$m "
    rm -rf "$d"
  done
  ing=$(printf '%s\n' $ING | median); re=$(printf '%s\n' $RE | median); val=$(printf '%s\n' $VAL | median)
  ingm=$(printf '%s\n' $ING_M | median); valm=$(printf '%s\n' $VAL_M | median)
  printf '%-6s %8d %10d | %8.2fs %8.1f | %9.2fs | %8.2fs %8.1f | %12.1f\n' "$((k / 2))x" "$objects" "$(wc -c < "$in")" \
    "$ing" "$(awk "BEGIN{print $ingm/1024}")" "$re" "$val" "$(awk "BEGIN{print $valm/1024}")" \
    "$(awk "BEGIN{print $ing * 1e6 / $objects}")"
done
