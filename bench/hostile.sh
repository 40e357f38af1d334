#!/usr/bin/env bash
# Bounded cost (issue 10, item 4): peak memory and time of hhgitops on hostile and on accepted inputs, against
# peers measured in the same run on the same input:
#   - `wc -l` over the file (the floor: reading it once);
#   - python3's json.loads of the same data as JSON, when the input has a JSON twin (a flow list, a map).
# Hostile inputs (rejected by the YAML budgets before they are built): 64 MiB of SwitchGroups (one document
# each), a 64 MiB flow list, a map of 2.1M keys.
# Accepted inputs (the budget is 8x the input plus a fixed base):
#   - fabric-1m, fabric-8m: generated fabrics (bench/gen_fabric.py 1 and 10) of 0.75 and 7.5 MiB, ~3,000 and
#     ~30,000 small objects: wiring as people write it;
#   - servers-64m: 64 MiB of Servers with long descriptions. A 64 MiB file of small objects holds more YAML
#     nodes than the budget (it is the SwitchGroups case above), so the largest accepted input has few nodes
#     and long strings.
# The fixed base is the peak of the same command on a one-object file. For each input: `hhgitops validate`
# (inputs under the default 8 MiB limit) and `hhgitops ingest` (with --max-file-size raised, so that the YAML
# budgets, not the size limit, decide), exit code, seconds, peak RSS (MiB), RSS / input and (RSS - base) / input.
# Usage: bench/hostile.sh   (needs /usr/bin/time; a few minutes in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="$(cd "${SHARED:-../shared}" && pwd)"
# HHGITOPS_BIN: a binary to measure instead of this tree's release build.
if [ -n "${HHGITOPS_BIN:-}" ]; then BIN="$HHGITOPS_BIN"; else
  cargo build --release -q -p hhgitops-cli
  BIN="$PWD/target/release/hhgitops"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# `validate` runs against a home of its own, never the operator's.
export HHGITOPS_HOME="$WORK/validate-home"
MIB=$(((64 << 20) - 4096))

python3 - "$WORK" "$MIB" <<'EOF'
import sys, json
work, size = sys.argv[1], int(sys.argv[2])
def fill(path, unit, head=""):
    with open(path, "w") as f:
        f.write(head)
        n = len(head)
        i = 0
        while n < size:
            s = unit(i); f.write(s); n += len(s); i += 1
    return i
n = fill(f"{work}/switchgroups.yaml", lambda i: f"---\napiVersion: wiring.githedgehog.com/v1beta1\nkind: SwitchGroup\nmetadata:\n  name: sg-{i}\n")
print(f"switchgroups.yaml: {n} SwitchGroups")
with open(f"{work}/flow.yaml", "w") as f:
    f.write("apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: v\nspec:\n  permit: [")
    f.write("1," * ((size - 100) // 2)); f.write("1]\n")
with open(f"{work}/flow.json", "w") as f:
    f.write("["); f.write("1," * ((size - 100) // 2)); f.write("1]")
with open(f"{work}/map.yaml", "w") as f:
    f.write("apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: v\n  labels:\n")
    for i in range(2_100_000): f.write(f"    k{i}: v\n")
with open(f"{work}/map.json", "w") as f:
    json.dump({f"k{i}": "v" for i in range(2_100_000)}, f)
# Servers with long descriptions: few nodes, many bytes.
note = "rack notes: " + "cabled to the top-of-rack pair, dual PSU, BMC on the management VLAN; " * 24
with open(f"{work}/servers-64m.yaml", "w") as f:
    n, i = 0, 0
    while n < size:
        s = (f"---\napiVersion: wiring.githedgehog.com/v1beta1\nkind: Server\nmetadata:\n  name: server-{i}\n"
             f"spec:\n  description: '{note}{i}'\n")
        f.write(s); n += len(s); i += 1
print(f"servers-64m.yaml: {i} Servers")
with open(f"{work}/one.yaml", "w") as f:
    f.write("apiVersion: wiring.githedgehog.com/v1beta1\nkind: SwitchGroup\nmetadata:\n  name: one\n")
EOF
python3 bench/gen_fabric.py 1 "$SHARED" > "$WORK/fabric-1m.yaml"
python3 bench/gen_fabric.py 10 "$SHARED" > "$WORK/fabric-8m.yaml"
for f in fabric-1m fabric-8m; do echo "$f.yaml: $(grep -c '^kind:' "$WORK/$f.yaml") objects"; done
# The controller configuration of fabrics this large (bench/gen_fabric.py): custom switch profiles allowed, and a
# leaf ASN range wide enough for their leaves (the default 65101-65533 holds 433; the 7.5 MiB fabric has 480).
printf 'allowExtraSwitchProfiles: true\nleafASNEnd: 65999\n' > "$WORK/fabric-config.yaml"

measure() { # label, command... -> "label  exit  seconds  peakMiB  ratios"
  local label="$1"; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  set +e
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  awk -v l="$label" -v rc="$rc" -v s="$(awk "BEGIN{print $t1-$t0}")" -v k="$(tail -1 "$WORK/rss")" \
    -v in_bytes="$INPUT_BYTES" -v base="${BASE_KB:-0}" 'BEGIN{m=k/1024; r=(k*1024)/in_bytes; b=((k-base)*1024)/in_bytes;
      printf "%-34s exit %d  %7.2fs  %8.1f MiB  %6.1fx input", l, rc, s, m, r;
      if (base > 0) printf "  %6.1fx above the base", b; printf "\n"}'
}
rss_kb() { tail -1 "$WORK/rss"; }

# The fixed base: the same commands on a one-object file.
INPUT_BYTES=$(wc -c < "$WORK/one.yaml")
echo "== one.yaml: the fixed base"
measure "hhgitops validate" "$BIN" -q validate "$WORK/one.yaml"
BASE_VALIDATE=$(rss_kb)
d="$WORK/fab-one"
HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" >/dev/null
cp "$WORK/one.yaml" "$d/root/raw/"
measure "hhgitops ingest" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench
BASE_INGEST=$(rss_kb)
echo "base: validate $((BASE_VALIDATE / 1024)) MiB, ingest $((BASE_INGEST / 1024)) MiB"

for input in switchgroups flow map fabric-1m fabric-8m servers-64m; do
  f="$WORK/$input.yaml"
  INPUT_BYTES=$(wc -c < "$f")
  echo "== $input.yaml: $(awk "BEGIN{printf \"%.1f\", $INPUT_BYTES / 1048576}") MiB"
  BASE_KB=""
  measure "floor: wc -l" wc -l "$f"
  if [ -f "$WORK/$input.json" ]; then
    measure "peer: python3 json.loads" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$WORK/$input.json"
  fi
  cfg=()
  case "$input" in fabric-*) cfg=(--fabric-config "$WORK/fabric-config.yaml") ;; esac
  if [ "$INPUT_BYTES" -le $((8 << 20)) ] || [ "$input" = switchgroups ] || [ "$input" = flow ] || [ "$input" = map ]; then
    BASE_KB=$BASE_VALIDATE
    measure "hhgitops validate" "$BIN" -q validate "${cfg[@]}" "$f"
  fi
  d="$WORK/fab-$input"
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" "${cfg[@]}" >/dev/null
  cp "$f" "$d/root/raw/"
  BASE_KB=$BASE_INGEST
  measure "hhgitops ingest" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench --max-file-size $((128 << 20))
  case "$input" in
    fabric-*|servers-*)
      n=$(find "$d/root/managed" -name '*.yaml' | wc -l)
      [ "$n" -eq "$(grep -c '^kind:' "$f")" ] || echo "   (not accepted: $n managed files)"
      ;;
  esac
  measure "hhgitops ingest (again, no-op)" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench
  rm -rf "$d"
done
