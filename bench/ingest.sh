#!/usr/bin/env bash
# Ingestion benchmark (SPEC §9): the ~5,600-object reference fabric ingested into an empty fabric, against the
# peers measured in the same run on the same input:
#   - kubernetes-split-yaml (Debian package; splits without validating), when installed;
#   - a plain text split into files (awk): the file-system floor;
#   - re-ingesting the same input (must write no managed file);
#   - with Git: the same ingest into a fabric inside a Git work tree, plus the commit (issue 6).
# Each measured command includes the same scratch-directory setup (fresh directory, input copied in).
# Prints medians, ratios and hhgitops's peak memory. Usage: bench/ingest.sh [RUNS] (default 7).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
SHARED="${SHARED:-../shared}"
cargo build --release -q -p hhgitops-cli
BIN="$PWD/target/release/hhgitops"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
INPUT="$WORK/fabric.yaml"
python3 "$SHARED/tools/gen_vlab_wiring.py" --spines 8 --eslag-leaf-groups 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2 \
  --orphan-leafs 16 --eslag-servers 16 --unbundled-servers 16 --bundled-servers 16 --vpcs > "$INPUT"
DOCS=$(grep -c '^kind:' "$INPUT")
echo "input: $DOCS objects, $(wc -c < "$INPUT") bytes; $RUNS runs each"

# median of a list of seconds
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN{print $*}"; }

run_split_floor() {
  local d="$WORK/floor.$1"; mkdir -p "$d"; cp "$INPUT" "$d/in.yaml"
  awk -v dir="$d" 'BEGIN{n=0; f=dir "/0.yaml"} /^---$/{close(f); n++; f=dir "/" n ".yaml"; next} {print > f}' "$d/in.yaml"
}
run_ksy() {
  local d="$WORK/ksy.$1"; mkdir -p "$d"; cp "$INPUT" "$d/in.yaml"
  kubernetes-split-yaml --outdir "$d/out" "$d/in.yaml" >/dev/null 2>&1
}
run_hhgitops() {
  local d="$WORK/hh.$1"; mkdir -p "$d/raw"
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/root" >/dev/null
  cp "$INPUT" "$d/root/raw/fabric.yaml"
  HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
}
run_hhgitops_git() {
  local d="$WORK/hg.$1"; mkdir -p "$d/repo"
  git -C "$d/repo" init -q
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/repo/gitops" >/dev/null
  cp "$INPUT" "$d/repo/gitops/raw/fabric.yaml"
  HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
}

# The methods take turns (floor, peer, hhgitops, hhgitops+git in each round) so that all of them meet the same
# file-system state: inode allocation, for one, slows down where many files were just deleted.
declare -A TIMES
METHODS=(floor hh)
command -v kubernetes-split-yaml >/dev/null && METHODS+=(ksy)
git --version >/dev/null 2>&1 && METHODS+=(hg)
fn_of() { case $1 in floor) echo run_split_floor;; ksy) echo run_ksy;; hh) echo run_hhgitops;; hg) echo run_hhgitops_git;; esac; }
for i in $(seq 1 "$RUNS"); do
  for m in "${METHODS[@]}"; do
    t0=$(now); "$(fn_of "$m")" "$i"; t1=$(now)
    TIMES[$m]+="$(calc "$t1 - $t0") "
  done
done
med() { printf '%s\n' ${TIMES[$1]} | median; }
FLOOR=$(med floor); HH=$(med hh)
printf '%-34s %8.3f s\n' "plain text split (floor)" "$FLOOR"
if [ -n "${TIMES[ksy]:-}" ]; then KSY=$(med ksy); printf '%-34s %8.3f s\n' "kubernetes-split-yaml" "$KSY"; fi
printf '%-34s %8.3f s\n' "hhgitops ingest (validating)" "$HH"
if [ -n "${TIMES[hg]:-}" ]; then HG=$(med hg); printf '%-34s %8.3f s\n' "hhgitops ingest in a Git work tree" "$HG"; fi

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
printf '%-34s %8.3f s  (managed files rewritten: %s)\n' "hhgitops re-ingest (unchanged)" "$RE" "$([ "$before" = "$after" ] && echo none || echo SOME)"
printf '%-34s %8.1f MiB\n' "hhgitops peak RSS (first ingest)" "$(calc "$RSS_KB / 1024")"

echo
echo "ratios (lower is better for hhgitops):"
printf '  hhgitops / floor                 %6.2fx   (target <= 1.5x)\n' "$(calc "$HH / $FLOOR")"
[ -n "${KSY:-}" ] && printf '  hhgitops / kubernetes-split-yaml %6.2fx   (target < 1x)\n' "$(calc "$HH / $KSY")"
printf '  HNP reference 8.4 s / hhgitops   %6.1fx   (target >= 10x; HNP not runnable here, SPEC §9 figure)\n' "$(calc "8.4 / $HH")"
[ -n "${HG:-}" ] && printf '  with Git / without               %6.2fx\n' "$(calc "$HG / $HH")"
