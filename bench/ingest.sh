#!/usr/bin/env bash
# Ingestion benchmark (SPEC §9): the ~5,600-object reference fabric ingested into an empty fabric, against the
# peers measured in the same run on the same input:
#   - a plain text split into files (awk): the file-system floor;
#   - the same split followed by `sync -f` (syncfs of the target's file system): the durable floor, what any
#     crash-safe ingestion must at least cost;
#   - kubernetes-split-yaml (Debian package; splits without validating), when installed;
#   - the original HNP ingestion service, when HNP_MIRROR names a checkout of the original plugin (run by
#     bench/hnp_ingest.py with Django stubbed out; otherwise reported as not measured);
#   - hhgitops into a plain fabric, and into a fabric inside a Git work tree (ingestion plus its one commit),
#     the commit built by the bulk path (plumbing, the default for large changes) and, as a second Git method,
#     by the simple path (`add` + `commit`, HHGITOPS_GIT_BULK_MIN set above the change's size);
#   - re-ingesting the same input (must write no managed file);
#   - `ingest --all` over 8 copies of the fabric against 8 single ingests one after another.
# Every method gets the same scratch-directory treatment: an untimed preparation (fresh directory, fabric
# registered), then a timed run that starts by copying the input in. The methods take turns in each round,
# each round starting one method further on, so no method always runs right after the same other one.
# The machine is usually shared: medians of RUNS rounds are printed, with the load average. Each method's CPU
# time (user + system of every process it ran) is measured too: on a loaded machine wall times wait for the
# run queue, CPU times do not, so the CPU ratios say what the method itself costs.
# Prints medians, the four ratios of the targets (SPEC §9) with whether each is met, and hhgitops's peak memory.
# Usage: bench/ingest.sh [RUNS] (default 7); ALL_RUNS (default 5) rounds of the 8-fabric comparison, which
# alternate which of the two goes first;
# HHGITOPS_BIN=path measures that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
ALL_RUNS="${ALL_RUNS:-5}"
SHARED="${SHARED:-../shared}"
# HHGITOPS_BIN: a binary to measure instead of this tree's release build (e.g. to compare two builds).
if [ -n "${HHGITOPS_BIN:-}" ]; then BIN="$HHGITOPS_BIN"; else
  cargo build --release -q -p hhgitops-cli
  BIN="$PWD/target/release/hhgitops"
fi
BENCH="$PWD/bench"
WORK="$(mktemp -d)"
# A file system of the benchmark's own (BENCH_FS=private, the default when run as root with mkfs.ext4 and
# losetup at hand): a new ext4 in a file on the same disk, its loop device writing straight to that file
# (--direct-io, so `sync` reaches the disk as on a real fabric), with every inode table written up front. On a
# long-lived shared file system the cost of creating a file swings by 10x with what was deleted before (seen
# here: the same split took 0.16 s and 1.7 s), and a method measured after another's cleanup pays for it;
# on a file system of its own every method meets the same state. BENCH_FS=tmp measures in $TMPDIR instead.
IMG_DIR=""; LOOP=""
cleanup() {
  if [ -n "$LOOP" ]; then umount "$WORK" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; fi
  rm -rf "$WORK"; [ -n "$IMG_DIR" ] && rm -rf "$IMG_DIR"
}
trap cleanup EXIT
if [ "${BENCH_FS:-private}" = private ] && [ "$(id -u)" -eq 0 ] && command -v mkfs.ext4 >/dev/null \
    && command -v losetup >/dev/null; then
  IMG_DIR="$(mktemp -d)"
  truncate -s 16G "$IMG_DIR/fs.img"
  if mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$IMG_DIR/fs.img" \
      && LOOP="$(losetup --direct-io=on -f --show "$IMG_DIR/fs.img")" && mount "$LOOP" "$WORK"; then
    FS_NOTE="a private ext4 on $LOOP (direct I/O to a file on $(df --output=source "$IMG_DIR" | tail -1))"
  else
    [ -n "$LOOP" ] && losetup -d "$LOOP"; LOOP=""
    FS_NOTE="$(df --output=source,fstype "$WORK" | tail -1) (a private file system could not be made)"
  fi
else
  FS_NOTE="$(df --output=source,fstype "$WORK" | tail -1)"
fi
INPUT="$WORK/fabric.yaml"
# The reference fabric in a form that validates (crates/hhgitops-core/benches/validate.rs `fabric_args`): every
# switch within the 48 ports of its `vs` profile, so the ingestion measured is a complete one, not a rejection.
python3 "$SHARED/tools/gen_vlab_wiring.py" --spines 2 --fabric-links 1 \
  --eslag-leaf-groups 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2 --orphan-leafs 16 \
  --eslag-servers 20 --unbundled-servers 20 --bundled-servers 13 --vpcs > "$INPUT"
DOCS=$(grep -c '^kind:' "$INPUT")
echo "input: $DOCS objects, $(wc -c < "$INPUT") bytes; $RUNS runs each; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file system: $FS_NOTE"

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
prep_hgs() {
  local d="$WORK/hgs.$1"; mkdir -p "$d/repo"; git -C "$d/repo" init -q
  HHGITOPS_HOME="$d/home" "$BIN" -q fabric add bench --path "$d/repo/gitops" >/dev/null
}
run_hgs() {
  local d="$WORK/hgs.$1"; cp "$INPUT" "$d/repo/gitops/raw/fabric.yaml"
  HHGITOPS_GIT_BULK_MIN=1000000000 HHGITOPS_HOME="$d/home" "$BIN" -q ingest --fabric bench >/dev/null
  [ -z "$(git -C "$d/repo" status --porcelain)" ] || { echo "hgs: the work tree is not clean after the commit" >&2; exit 1; }
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

declare -A TIMES CPUS
METHODS=(floor dfloor hh)
command -v kubernetes-split-yaml >/dev/null && METHODS+=(ksy)
git --version >/dev/null 2>&1 && METHODS+=(hg hgs)
[ -n "$HNP_OK" ] && METHODS+=(hnp)
N=${#METHODS[@]}
# Runs a call in this shell, leaving its wall, user and system seconds in $WORK/time.out (bash's `time` counts
# the CPU of every child process).
timed() {
  local TIMEFORMAT='%3R %3U %3S'
  { time "$@" >/dev/null 2>&3; } 3>&2 2>"$WORK/time.out"
}
for i in $(seq 1 "$RUNS"); do
  for m in "${METHODS[@]}"; do
    if declare -F "prep_$m" >/dev/null; then "prep_$m" "$i"; else prep_dir "$m" "$i"; fi
  done
  # The methods take turns so that all of them meet the same file-system state (inode allocation, for one,
  # slows down where many files were just deleted); a sync before each keeps one method's dirty pages from
  # being flushed in the next one's time.
  for k in $(seq 0 $((N - 1))); do
    m=${METHODS[$(((k + i) % N))]}
    sync
    timed "run_$m" "$i"
    read -r wall user sys < "$WORK/time.out"
    TIMES[$m]+="$wall "
    CPUS[$m]+="$(calc "$user + $sys") "
  done
  rm -rf "$WORK"/*.[0-9]*
done
med() { printf '%s\n' ${TIMES[$1]} | median; }
cpu() { printf '%s\n' ${CPUS[$1]} | median; }
line() { printf '%-44s %8.3f s   (CPU %6.3f s)\n' "$1" "$(med "$2")" "$(cpu "$2")"; }
FLOOR=$(med floor); DFLOOR=$(med dfloor); HH=$(med hh)
line "plain text split (floor)" floor
line "plain text split + sync (durable floor)" dfloor
if [ -n "${TIMES[ksy]:-}" ]; then KSY=$(med ksy); line "kubernetes-split-yaml" ksy; fi
if [ -n "${TIMES[hnp]:-}" ]; then HNP=$(med hnp); line "HNP ingestion service" hnp; fi
line "hhgitops ingest (validating, durable)" hh
if [ -n "${TIMES[hg]:-}" ]; then
  HG=$(med hg); HGS=$(med hgs)
  line "hhgitops ingest in a Git work tree (bulk)" hg
  line "hhgitops ingest in a Git work tree (simple)" hgs
fi

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
run_seq() {
  sync
  local t0 t1; t0=$(now)
  for n in 1 2 3 4 5 6 7 8; do cp "$INPUT" "$WORK/seq.$1/f$n/raw/fabric.yaml"; done
  for n in 1 2 3 4 5 6 7 8; do HHGITOPS_HOME="$WORK/seq.$1/home" "$BIN" -q ingest --fabric "f$n" >/dev/null; done
  t1=$(now); SEQ_T+="$(calc "$t1 - $t0") "
}
run_all() {
  sync
  local t0 t1; t0=$(now)
  for n in 1 2 3 4 5 6 7 8; do cp "$INPUT" "$WORK/all.$1/f$n/raw/fabric.yaml"; done
  HHGITOPS_HOME="$WORK/all.$1/home" "$BIN" -q ingest --all >/dev/null
  t1=$(now); ALL_T+="$(calc "$t1 - $t0") "
}
for i in $(seq 1 "$ALL_RUNS"); do
  prep_many "$WORK/all.$i"; prep_many "$WORK/seq.$i"
  # Which of the two goes first alternates from round to round.
  if [ $((i % 2)) -eq 1 ]; then run_seq "$i"; run_all "$i"; else run_all "$i"; run_seq "$i"; fi
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
# verdict RATIO OP LIMIT: "met" or "MISSED"
verdict() { awk -v r="$1" -v l="$3" -v op="$2" 'BEGIN{ok = (op == "<=") ? (r <= l) : (r < l); print ok ? "met" : "MISSED"}'; }
ratio() {
  local label="$1" a="$2" b="$3" op="$4" limit="$5" r rc
  r=$(calc "$(med "$a") / $(med "$b")"); rc=$(calc "$(cpu "$a") / $(cpu "$b")")
  printf '  %-36s %6.2fx  %-6s  (CPU %5.2fx; target %s %sx)\n' "$label" "$r" "$(verdict "$r" "$op" "$limit")" "$rc" "$op" "$limit"
}
ratio "hhgitops / durable floor" hh dfloor "<=" 1.2
ratio "hhgitops / plain floor" hh floor "<=" 1.5
if [ -n "${KSY:-}" ]; then
  ratio "hhgitops / kubernetes-split-yaml" hh ksy "<" 1
else
  echo "  hhgitops / kubernetes-split-yaml         -     (not installed: apt-get install kubernetes-split-yaml)"
fi
if [ -n "${HNP:-}" ]; then
  printf '  HNP / hhgitops                       %6.1fx   (target >= 10x)\n' "$(calc "$HNP / $HH")"
else
  echo "  HNP / hhgitops                           -     (not measured: set HNP_MIRROR to a checkout of the original plugin)"
fi
if [ -n "${HG:-}" ]; then
  ratio "with Git (bulk) / without" hg hh "<=" 1.3
  ratio "with Git (simple) / without" hgs hh "<=" 1.3
fi
r=$(calc "$ALL / $SEQ")
printf '  %-36s %6.2fx  %-6s  (target < 1x)\n' "ingest --all / 8 single ingests" "$r" "$(verdict "$r" "<" 1)"
