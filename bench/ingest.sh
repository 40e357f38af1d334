#!/usr/bin/env bash
# Ingestion benchmark (SPEC §9): the ~5,600-object reference fabric ingested into an empty fabric, against the
# peers measured in the same run on the same input:
#   - a plain text split into files (awk): the file-system floor;
#   - the same split followed by `sync -f` (syncfs of the target's file system): the durable floor, what any
#     crash-safe ingestion must at least cost;
#   - kubernetes-split-yaml (Debian package; splits without validating), when installed;
#   - the original HNP ingestion service, when HNP_MIRROR names a checkout of the original plugin (run by
#     bench/hnp_ingest.py with Django stubbed out; otherwise reported as not measured);
#   - hhgitops into a plain fabric, and into a fabric inside a Git work tree (ingestion plus its one commit);
#   - re-ingesting the same input (must write no managed file);
#   - `ingest --all` over 8 copies of the fabric against 8 single ingests one after another.
# Every method gets the same scratch-directory treatment: an untimed preparation (fresh directory, fabric
# registered), then a timed run that starts by copying the input in. The methods take turns in each round.
# The machine is usually shared: medians of RUNS rounds are printed, with the load average.
# Prints medians, ratios against the targets and hhgitops's peak memory.
# Usage: bench/ingest.sh [RUNS] (default 7); ALL_RUNS (default 3) rounds of the 8-fabric comparison;
# HHGITOPS_BIN=path measures that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
ALL_RUNS="${ALL_RUNS:-3}"
SHARED="${SHARED:-../shared}"
# HHGITOPS_BIN: a binary to measure instead of this tree's release build (e.g. to compare two builds).
if [ -n "${HHGITOPS_BIN:-}" ]; then BIN="$HHGITOPS_BIN"; else
  cargo build --release -q -p hhgitops-cli
  BIN="$PWD/target/release/hhgitops"
fi
BENCH="$PWD/bench"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
INPUT="$WORK/fabric.yaml"
# The reference fabric in a form that validates (crates/hhgitops-core/benches/validate.rs `fabric_args`): every
# switch within the 48 ports of its `vs` profile, so the ingestion measured is a complete one, not a rejection.
python3 "$SHARED/tools/gen_vlab_wiring.py" --spines 2 --fabric-links 1 \
  --eslag-leaf-groups 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2 --orphan-leafs 16 \
  --eslag-servers 20 --unbundled-servers 20 --bundled-servers 13 --vpcs > "$INPUT"
DOCS=$(grep -c '^kind:' "$INPUT")
echo "input: $DOCS objects, $(wc -c < "$INPUT") bytes; $RUNS runs each; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# median of a list of seconds
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN{print $*}"; }

split_awk() {
  awk -v dir="$1" 'BEGIN{n=0; f=dir "/0.yaml"} /^---$/{close(f); n++; f=dir "/" n ".yaml"; next} {print > f}' "$1/in.yaml"
}
prep_dir() { mkdir -p "$WORK/$1.$2"; }
run_floor() { local d="$WORK/floor.$1"; cp "$INPUT" "$d/in.yaml"; split_awk "$d"; }
run_dfloor() { local d="$WORK/dfloor.$1"; cp "$INPUT" "$d/in.yaml"; split_awk "$d"; sync -f "$d"; }
run_ksy() {
  local d="$WORK/ksy.$1"; cp "$INPUT" "$d/in.yaml"
  kubernetes-split-yaml --outdir "$d/out" "$d/in.yaml" >/dev/null 2>&1
}
prep_hnp() { mkdir -p "$WORK/hnp.$1"/{raw,managed,.hnp}; }
run_hnp() {
  local d="$WORK/hnp.$1"; cp "$INPUT" "$d/raw/fabric.yaml"
  python3 "$BENCH/hnp_ingest.py" "$HNP_MIRROR" "$d" >/dev/null
}
prep_hh() { HHGITOPS_HOME="$WORK/hh.$1/home" "$BIN" -q fabric add bench --path "$WORK/hh.$1/root" >/dev/null; }
run_hh() {
  local d="$WORK/hh.$1"; cp "$INPUT" "$d/root/raw/fabric.yaml"
  HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
}
prep_hg() {
  local d="$WORK/hg.$1"; mkdir -p "$d/repo"; git -C "$d/repo" init -q
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/repo/gitops" >/dev/null
}
run_hg() {
  local d="$WORK/hg.$1"; cp "$INPUT" "$d/repo/gitops/raw/fabric.yaml"
  HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
  [ -z "$(git -C "$d/repo" status --porcelain)" ] || { echo "hg: the work tree is not clean after the commit" >&2; exit 1; }
}

HNP_OK=""
if [ -n "${HNP_MIRROR:-}" ]; then
  if python3 -c 'import yaml' 2>/dev/null && [ -f "$HNP_MIRROR/netbox_hedgehog/services/gitops_ingestion_service.py" ]; then
    HNP_OK=1
  else
    echo "HNP_MIRROR=$HNP_MIRROR: no netbox_hedgehog/services/gitops_ingestion_service.py there, or no PyYAML: HNP not measured"
  fi
fi

# kubernetes-split-yaml is a Debian package: installed here when missing and apt-get is at hand (as root).
if ! command -v kubernetes-split-yaml >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing kubernetes-split-yaml (Debian package) for the comparison"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-split-yaml) >/dev/null 2>&1 \
    || echo "could not install kubernetes-split-yaml: not measured"
fi

declare -A TIMES
METHODS=(floor dfloor hh)
command -v kubernetes-split-yaml >/dev/null && METHODS+=(ksy)
git --version >/dev/null 2>&1 && METHODS+=(hg)
[ -n "$HNP_OK" ] && METHODS+=(hnp)
for i in $(seq 1 "$RUNS"); do
  for m in "${METHODS[@]}"; do
    if declare -F "prep_$m" >/dev/null; then "prep_$m" "$i"; else prep_dir "$m" "$i"; fi
  done
  # The methods take turns so that all of them meet the same file-system state (inode allocation, for one,
  # slows down where many files were just deleted); a sync before each keeps one method's dirty pages from
  # being flushed in the next one's time.
  for m in "${METHODS[@]}"; do
    sync
    t0=$(now); "run_$m" "$i"; t1=$(now)
    TIMES[$m]+="$(calc "$t1 - $t0") "
  done
  rm -rf "$WORK"/*.[0-9]*
done
med() { printf '%s\n' ${TIMES[$1]} | median; }
FLOOR=$(med floor); DFLOOR=$(med dfloor); HH=$(med hh)
printf '%-40s %8.3f s\n' "plain text split (floor)" "$FLOOR"
printf '%-40s %8.3f s\n' "plain text split + sync (durable floor)" "$DFLOOR"
if [ -n "${TIMES[ksy]:-}" ]; then KSY=$(med ksy); printf '%-40s %8.3f s\n' "kubernetes-split-yaml" "$KSY"; fi
if [ -n "${TIMES[hnp]:-}" ]; then HNP=$(med hnp); printf '%-40s %8.3f s\n' "HNP ingestion service" "$HNP"; fi
printf '%-40s %8.3f s\n' "hhgitops ingest (validating, durable)" "$HH"
if [ -n "${TIMES[hg]:-}" ]; then HG=$(med hg); printf '%-40s %8.3f s\n' "hhgitops ingest in a Git work tree" "$HG"; fi

# Re-ingest of unchanged input, and peak memory of a first ingest.
d="$WORK/re"; HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" >/dev/null
cp "$INPUT" "$d/root/raw/fabric.yaml"
/usr/bin/time -f '%M' -o "$WORK/maxrss" env HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
RSS_KB=$(cat "$WORK/maxrss")
snap() { find "$d/root/managed" -type f -printf '%p %T@\n' | sort | sha256sum; }
before=$(snap)
cp "$INPUT" "$d/root/raw/fabric.yaml"
t0=$(now); HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null; t1=$(now)
after=$(snap)
RE=$(calc "$t1 - $t0")
printf '%-40s %8.3f s  (managed files rewritten: %s)\n' "hhgitops re-ingest (unchanged)" "$RE" "$([ "$before" = "$after" ] && echo none || echo SOME)"
printf '%-40s %8.1f MiB\n' "hhgitops peak RSS (first ingest)" "$(calc "$RSS_KB / 1024")"
rm -rf "$d"

# Many fabrics: 8 copies registered in one home, `ingest --all` against 8 `ingest --fabric` one after another.
prep_many() {
  local d="$1"
  for n in 1 2 3 4 5 6 7 8; do
    HHGITOPS_HOME="$d/home" "$BIN" -q fabric add "f$n" --path "$d/f$n" >/dev/null
  done
}
ALL_T=""; SEQ_T=""
for i in $(seq 1 "$ALL_RUNS"); do
  prep_many "$WORK/all.$i"; prep_many "$WORK/seq.$i"
  sync
  t0=$(now)
  for n in 1 2 3 4 5 6 7 8; do cp "$INPUT" "$WORK/seq.$i/f$n/raw/fabric.yaml"; done
  for n in 1 2 3 4 5 6 7 8; do HHGITOPS_HOME="$WORK/seq.$i/home" "$BIN" -q ingest --fabric "f$n" >/dev/null; done
  t1=$(now); SEQ_T+="$(calc "$t1 - $t0") "
  sync
  t0=$(now)
  for n in 1 2 3 4 5 6 7 8; do cp "$INPUT" "$WORK/all.$i/f$n/raw/fabric.yaml"; done
  HHGITOPS_HOME="$WORK/all.$i/home" "$BIN" -q ingest --all >/dev/null
  t1=$(now); ALL_T+="$(calc "$t1 - $t0") "
  for n in 1 2 3 4 5 6 7 8; do
    [ "$(find "$WORK/all.$i/f$n/managed" -name '*.yaml' | wc -l)" -eq "$DOCS" ] \
      || { echo "ingest --all: fabric f$n is incomplete" >&2; exit 1; }
  done
  rm -rf "$WORK/all.$i" "$WORK/seq.$i"
done
SEQ=$(printf '%s\n' $SEQ_T | median); ALL=$(printf '%s\n' $ALL_T | median)
printf '%-40s %8.3f s\n' "8 fabrics: 8 single ingests in a row" "$SEQ"
printf '%-40s %8.3f s  (HHGITOPS_JOBS=%s)\n' "8 fabrics: ingest --all" "$ALL" "${HHGITOPS_JOBS:-default}"

echo
echo "ratios (lower is better for hhgitops; load average now $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '  hhgitops / durable floor           %6.2fx   (target <= 1.2x)\n' "$(calc "$HH / $DFLOOR")"
printf '  hhgitops / plain floor             %6.2fx   (target <= 1.5x)\n' "$(calc "$HH / $FLOOR")"
if [ -n "${KSY:-}" ]; then
  printf '  hhgitops / kubernetes-split-yaml   %6.2fx   (target < 1x)\n' "$(calc "$HH / $KSY")"
else
  echo "  hhgitops / kubernetes-split-yaml       -     (not installed: apt-get install kubernetes-split-yaml)"
fi
if [ -n "${HNP:-}" ]; then
  printf '  HNP / hhgitops                     %6.1fx   (target >= 10x)\n' "$(calc "$HNP / $HH")"
else
  echo "  HNP / hhgitops                         -     (not measured: set HNP_MIRROR to a checkout of the original plugin)"
fi
[ -n "${HG:-}" ] && printf '  with Git / without                 %6.2fx   (target <= 1.3x)\n' "$(calc "$HG / $HH")"
printf '  ingest --all / 8 single ingests    %6.2fx   (target < 1x)\n' "$(calc "$ALL / $SEQ")"
