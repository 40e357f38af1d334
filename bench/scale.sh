#!/usr/bin/env bash
# Scale check (SPEC §9, issue 16 item 5: cost grows linearly with the number of objects). Generated fabrics of
# about 1x, 2x and 4x the reference object count (bench/gen_fabric.py 2, 4, 8: gen_vlab_wiring.py without VPCs,
# 8 spines, 32/64/128 leaf groups of 2 and as many orphan leaves, 16 servers of each kind per leaf group), each
# measured on:
#   - ingest: first ingestion into an empty fabric (durable, validating);
#   - re-ingest of the unchanged input (no managed file written);
#   - validate: offline `validate` of the file;
#   - drift: `drift` against the Kubernetes test API server (hhgitops-testapi) holding the synced fabric;
#   - no-op sync: `sync` when everything is in sync (no write may reach the server);
# with time and peak RSS (medians of RUNS). Prints the table and the cost per object of each operation,
# normalized to the 1x fabric: linear cost keeps every ratio near 1.
#
# The switches of fabrics this large use more ports than any built-in SwitchProfile has (the `vs` profile has
# 48), which the fabric rejects: bench/gen_fabric.py adds a custom SwitchProfile for them, and
# the fabric is added with a controller configuration that sets `allowExtraSwitchProfiles` (CATALOGUE §3b.6) and a
# leaf ASN range for more than 433 leaves;
# `validate` gets the same file with --fabric-config.
# Usage: bench/scale.sh [RUNS] [SIZES] (default 3 runs; SIZES the bench/gen_fabric.py arguments, default "2 4 8"). Needs python3, /usr/bin/time and ../shared (tools, crds).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
SIZES="${2:-2 4 8}"
SHARED="$(cd "${SHARED:-../shared}" && pwd)"
# HHGITOPS_BIN / TESTAPI_BIN: binaries to measure instead of this tree's release build (e.g. a build of the
# commit before a change, for before/after tables).
if [ -n "${HHGITOPS_BIN:-}" ] && [ -n "${TESTAPI_BIN:-}" ]; then
  BIN="$HHGITOPS_BIN"; TESTAPI="$TESTAPI_BIN"
else
  cargo build --release -q -p hhgitops-cli -p hhgitops-testapi
  BIN="$PWD/target/release/hhgitops"
  TESTAPI="$PWD/target/release/hhgitops-testapi"
fi
WORK="$(mktemp -d)"
API_PID=""
cleanup() { [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# timed CMD...: prints "seconds maxrss_kb"; the command's exit code must be 0
timed() { /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >"$WORK/out" 2>&1 || { echo "failed: $*" >&2; cat "$WORK/out" "$WORK/t" >&2; exit 1; }; tail -1 "$WORK/t"; }
# The controller configuration of fabrics this large (bench/gen_fabric.py): custom switch profiles allowed, and a
# leaf ASN range wide enough for their leaves (the default 65101-65533 holds 433; the 7.5 MiB fabric has 480).
printf 'allowExtraSwitchProfiles: true\nleafASNEnd: 65999\n' > "$WORK/fabric-config.yaml"

# gen K: the fabric of K/2 times the reference size, with its switch profile (bench/gen_fabric.py), on stdout.
gen() { python3 bench/gen_fabric.py "$1" "$SHARED"; }

echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each"
printf '%-5s %7s %9s | %8s %7s | %8s | %8s %7s | %8s %7s | %8s %7s\n' \
  size objects bytes ingest MiB re-ingest validate MiB drift MiB no-op MiB
declare -A PER
for k in $SIZES; do
  in="$WORK/in.$k.yaml"
  gen "$k" > "$in"
  objects=$(grep -c '^kind:' "$in")
  ING=""; ING_M=""; RE=""; VAL=""; VAL_M=""; DR=""; DR_M=""; NO=""; NO_M=""
  "$TESTAPI" --crds "$SHARED/crds" --kubeconfig "$WORK/kubeconfig" > /dev/null 2>"$WORK/testapi.log" &
  API_PID=$!
  for _ in $(seq 1 100); do [ -s "$WORK/kubeconfig" ] && break; sleep 0.1; done
  [ -s "$WORK/kubeconfig" ] || { echo "the test API server did not start" >&2; cat "$WORK/testapi.log" >&2; exit 1; }
  for i in $(seq 1 "$RUNS"); do
    d="$WORK/f.$k.$i"
    HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" --kubeconfig "$WORK/kubeconfig" \
      --fabric-config "$WORK/fabric-config.yaml" >/dev/null
    cp "$in" "$d/root/raw/fabric.yaml"; sync
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench)
    ING+="$t "; ING_M+="$m "
    [ "$(find "$d/root/managed" -name '*.yaml' | wc -l)" -eq "$objects" ] || { echo "incomplete ingest" >&2; exit 1; }
    cp "$in" "$d/root/raw/fabric.yaml"
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench)
    RE+="$t "
    read -r t m < <(timed "$BIN" -q validate --fabric-config "$WORK/fabric-config.yaml" "$in")
    VAL+="$t "; VAL_M+="$m "
    if [ "$i" -eq 1 ]; then
      # The first sync creates every object (not timed: the no-op sync and drift are the repeated operations).
      timed env HHGITOPS_HOME="$d/home" "$BIN" -q sync --fabric bench >/dev/null
    fi
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" -q drift --fabric bench)
    DR+="$t "; DR_M+="$m "
    read -r t m < <(timed env HHGITOPS_HOME="$d/home" "$BIN" sync --fabric bench --json)
    NO+="$t "; NO_M+="$m "
    python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['apply']['summary']; sys.exit(0 if s.get('unchanged')==$objects else 'no-op sync found changes: %s' % s)" "$WORK/out"
    rm -rf "$d"
  done
  kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=""; rm -f "$WORK/kubeconfig"
  m() { printf '%s\n' $1 | median; }
  mib() { awk "BEGIN{print $(m "$1")/1024}"; }
  ing=$(m "$ING"); re=$(m "$RE"); val=$(m "$VAL"); dr=$(m "$DR"); no=$(m "$NO")
  printf '%-5s %7d %9d | %7.2fs %7.1f | %7.2fs | %7.2fs %7.1f | %7.2fs %7.1f | %7.2fs %7.1f\n' "$((k / 2))x" \
    "$objects" "$(wc -c < "$in")" "$ing" "$(mib "$ING_M")" "$re" "$val" "$(mib "$VAL_M")" \
    "$dr" "$(mib "$DR_M")" "$no" "$(mib "$NO_M")"
  for op in ing re val dr no; do PER[$op.$k]=$(awk "BEGIN{print ${!op} / $objects}"); done
  for op in ING_M VAL_M DR_M NO_M; do PER[$op.$k]=$(awk "BEGIN{print $(m "${!op}") / $objects}"); done
done

echo
echo "cost per object relative to the first size (1x by default) (linear cost: about 1.0; time, then peak memory):"
printf '%-5s %8s %10s %9s %7s %7s | %8s %9s %7s %7s\n' size ingest re-ingest validate drift no-op \
  ingest validate drift no-op
FIRST="${SIZES%% *}"
for k in $SIZES; do
  r() { awk "BEGIN{printf \"%.2f\", ${PER[$1.$k]} / ${PER[$1.$FIRST]}}"; }
  printf '%-5s %8s %10s %9s %7s %7s | %8s %9s %7s %7s\n' "$((k / 2))x" "$(r ing)" "$(r re)" "$(r val)" \
    "$(r dr)" "$(r no)" "$(r ING_M)" "$(r VAL_M)" "$(r DR_M)" "$(r NO_M)"
done
