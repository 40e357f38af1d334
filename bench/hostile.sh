#!/usr/bin/env bash
# Bounded cost (issue 10, item 4): peak memory and time of hhgitops on the hostile 64 MiB inputs of the
# security review, against peers measured in the same run on the same input:
#   - `wc -l` over the file (the floor: reading it once);
#   - python3's json.loads of the same data as JSON, when the input has a JSON twin (a flow list, a map).
# Inputs: 64 MiB of SwitchGroups (one document each), a 64 MiB flow list, a map of 2.1M keys, and a
# legitimate raw file at the default raw-file limit (16 MiB of VPCs) for the "8x the raw input" budget.
# For each: `hhgitops validate` and `hhgitops ingest` (raised --max-file-size so that the YAML budgets, not the
# size limit, decide), exit code, seconds, peak RSS (MiB) and RSS / input size.
# Usage: bench/hostile.sh   (needs /usr/bin/time; about a minute in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p hhgitops-cli
BIN="$PWD/target/release/hhgitops"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
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
# A legitimate file at the default raw-file limit: VPCs with one subnet each.
vpc = lambda i: (f"---\napiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: vpc-{i}\nspec:\n"
                 f"  subnets:\n    default:\n      subnet: 10.{i // 256 % 256}.{i % 256}.0/24\n      vlan: {1000 + i % 2000}\n")
with open(f"{work}/vpcs.yaml", "w") as f:
    n, i = 0, 0
    while n < (16 << 20) and i < 65536:
        s = vpc(i); f.write(s); n += len(s); i += 1
print(f"vpcs.yaml: {i} VPCs")
EOF

measure() { # label, command... -> "label  exit  seconds  peakMiB"
  local label="$1"; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  set +e
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  awk -v l="$label" -v rc="$rc" -v s="$(awk "BEGIN{print $t1-$t0}")" -v k="$(cat "$WORK/rss")" \
    -v in_bytes="$INPUT_BYTES" 'BEGIN{m=k/1024; printf "%-34s exit %d  %7.2fs  %8.1f MiB  %5.1fx input\n", l, rc, s, m, (k*1024)/in_bytes}'
}

for input in switchgroups flow map vpcs; do
  f="$WORK/$input.yaml"
  INPUT_BYTES=$(wc -c < "$f")
  echo "== $input.yaml: $((INPUT_BYTES >> 20)) MiB"
  measure "floor: wc -l" wc -l "$f"
  if [ -f "$WORK/$input.json" ]; then
    measure "peer: python3 json.loads" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$WORK/$input.json"
  fi
  measure "hhgitops validate" "$BIN" -q validate "$f"
  d="$WORK/fab-$input"
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" >/dev/null
  cp "$f" "$d/root/raw/"
  measure "hhgitops ingest" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench --max-file-size $((128 << 20))
  measure "hhgitops ingest (again, no-op)" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench
done
