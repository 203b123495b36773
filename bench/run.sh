#!/usr/bin/env bash
# The cohort benchmark: Covenant `batch` against a hand-written Rust program and OpenFisca,
# on the same generated cohorts and the same rules. One command:
#
#   bench/run.sh                 # 100,000 and 1,000,000 rows, both models
#   bench/run.sh 100000          # chosen sizes only
#
# It builds in release mode, creates bench/.venv (pinned OpenFisca) if missing, generates
# the cohorts under bench/data/ (gitignored), runs every system one at a time under
# bench/measure.py (the command's own wall time, its peak RSS, a time limit), compares every
# output row against `covenant batch`, and prints the results tables (also written to
# bench/data/results.md).
#
# Settings (environment):
#   BENCH_TIME_LIMIT   seconds before a run is stopped (default 300)
#   BENCH_MEM_CAP_KB   address-space cap of each run, in KiB (default 8 GiB): a run that
#                      needs more fails instead of pushing a shared machine into the OOM killer
#   BENCH_REPEAT       end-to-end runs of each system up to 100,000 rows, median reported (default 3)
#   BENCH_SAMPLE_ROWS  rows of the small cohort used to time --explain on every model (default 500)
#   BENCH_QUIET_BUSY   before each run, wait (up to 5 minutes) until other processes use less
#                      than this share of the machine's CPU, in percent (default 25)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH=$ROOT/bench
DATA=$BENCH/data
OUT=$DATA/out
mkdir -p "$OUT"

if [ "$#" -gt 0 ]; then SIZES=("$@"); else SIZES=(100000 1000000); fi
LIMIT=${BENCH_TIME_LIMIT:-300}
MEM_CAP_KB=${BENCH_MEM_CAP_KB:-8388608}
REPEAT=${BENCH_REPEAT:-3}
SAMPLE_ROWS=${BENCH_SAMPLE_ROWS:-500}
QUIET_BUSY=${BENCH_QUIET_BUSY:-25}
RESULTS=$DATA/results.tsv
COMPARE=$DATA/compare.tsv
: > "$RESULTS"
: > "$COMPARE"

# The binaries are copied once built, so that a rebuild of target/ while the benchmark runs
# (another checkout's `cargo build`, say) cannot change what is measured half-way.
BIN=$DATA/bin
COV=$BIN/covenant
GEN=$BIN/covenant-bench-generate
BASE=$BIN/covenant-bench-baseline
ENGINE=$BIN/covenant-bench-engine
PY=$BENCH/.venv/bin/python
# Where `covenant batch --compiled` keeps the programs it builds for the two models (set for
# every run, rather than by `env` in the measured command, whose start-up would be timed).
COMPILED_CACHE=$DATA/compiled
export COVENANT_CACHE=$COMPILED_CACHE
OF=$BENCH/openfisca/run.py

say() { printf '\n== %s\n' "$*" >&2; }

say "build (release)"
cargo build --release -p covenant-cli -p covenant-bench-generate -p covenant-bench-baseline -p covenant-bench-engine
mkdir -p "$BIN"
for b in covenant covenant-bench-generate covenant-bench-baseline covenant-bench-engine; do
  cp "$ROOT/target/release/$b" "$BIN/$b"
done

say "python environment (bench/.venv, bench/requirements.txt)"
if [ ! -x "$PY" ]; then python3 -m venv "$BENCH/.venv"; fi
"$PY" -m pip install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt"

# The machine, for the record.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "python: $("$PY" --version 2>&1), openfisca-core $("$PY" -c 'import importlib.metadata as m; print(m.version("openfisca-core"))'), numpy $("$PY" -c 'import numpy; print(numpy.__version__)')"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- compiler stdlib examples 2>/dev/null || echo ' + uncommitted changes in compiler/, stdlib/ or examples/')"
  echo "covenant binary: sha256 $(sha256sum "$COV" | cut -c1-16)…"
} > "$DATA/machine.txt"
cat "$DATA/machine.txt" >&2

# Share of the machine's CPU in use over two seconds, in percent.
busy() {
  local a b
  a=($(head -1 /proc/stat))
  sleep 2
  b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Waits until the machine is quiet (other work below QUIET_BUSY%), at most 5 minutes;
# prints the last reading.
wait_quiet() {
  local b tries=0
  b=$(busy)
  while [ "$b" -ge "$QUIET_BUSY" ] && [ "$tries" -lt 30 ]; do
    echo "   machine busy (${b}% CPU in use by other work), waiting" >&2
    sleep 8
    b=$(busy)
    tries=$((tries + 1))
  done
  echo "$b"
}

# measure MODEL ROWS SYSTEM MODE LOG [--cpu N] -- COMMAND...: one run, appended to
# results.tsv as model, rows, system, mode, wall seconds, peak RSS KiB, exit status, CPU busy
# before, log. With --cpu, the command runs on that core alone.
measure() {
  local model=$1 rows=$2 system=$3 mode=$4 log=$5
  local -a pin=()
  shift 5
  if [ "$1" = --cpu ]; then pin=(--cpu "$2"); shift 2; fi
  shift
  local quiet rc wall rss
  quiet=$(wait_quiet)
  echo "   $system $mode ($model, $rows rows)" >&2
  wall=0 rss=0 rc=127
  read -r wall rss rc < <("$PY" "$BENCH/measure.py" "$LIMIT" "$MEM_CAP_KB" "$log.stdout" "$log" "${pin[@]}" -- "$@") || true
  wall=$(awk -v s="$wall" 'BEGIN { printf "%.4f", s }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$rows" "$system" "$mode" "$wall" "${rss:-0}" "$rc" "$quiet" "$log" >> "$RESULTS"
  echo "   -> ${wall} s, peak RSS ${rss:-?} KiB, exit ${rc}$([ "$rc" = 124 ] && echo " (stopped after ${LIMIT} s)")" >&2
}

# compare MODEL ROWS PAIR REF.csv REF.err OTHER.csv OTHER.err [--money COLS]
compare() {
  local model=$1 rows=$2 pair=$3
  shift 3
  local line
  line=$("$PY" "$BENCH/compare.py" "$@" | tail -1 || true)
  printf '%s\t%s\t%s\t%s\n' "$model" "$rows" "$pair" "$line" >> "$COMPARE"
  echo "   compare $pair: $line" >&2
}

# explained MODEL ROWS FILE.jsonl [LAYOUT]: records the size and the number of rows of an
# explained output (a run stopped at the time limit has written only some rows), then deletes
# it. LAYOUT is empty for full explanations, `_compact` for compact traces.
explained() {
  local bytes lines
  bytes=$(stat -c %s "$3" 2>/dev/null || echo 0)
  lines=$( (wc -l < "$3") 2>/dev/null || echo 0)
  printf '%s\t%s\texplain%s_bytes\t%s\n' "$1" "$2" "${4:-}" "$bytes" >> "$COMPARE"
  printf '%s\t%s\texplain%s_rows\t%s\n' "$1" "$2" "${4:-}" "$lines" >> "$COMPARE"
  rm -f "$3"
}

# The first core this script may run on, for the one-core runs.
ONE_CORE=$("$PY" -c 'import os; print(min(os.sched_getaffinity(0)))' 2>/dev/null || true)

suffolk_decisions=(points indicative_budget moderated_budget eligible budget_from_formula)
housing_decisions=(weekly_cost within_limits)

run_model() {
  local model=$1 rows=$2 input=$3 cov_file money reps r
  local -a decisions flags
  if [ "$model" = suffolk ]; then
    cov_file=$ROOT/examples/suffolk-personal-budget/allocation.cov
    decisions=("${suffolk_decisions[@]}")
    money=indicative_budget,moderated_budget
  else
    cov_file=$ROOT/examples/housing-support-tariff/tariff.cov
    decisions=("${housing_decisions[@]}")
    money=weekly_cost
  fi
  flags=()
  for d in "${decisions[@]}"; do flags+=(--decision "$d"); done
  reps=1
  if [ "$rows" -le 100000 ]; then reps=$REPEAT; fi
  local o=$OUT/$model-$rows

  say "$model, $rows rows"
  # `batch --compiled` builds its program of the rules once (bench/data/compiled); that build
  # is not timed: this run makes sure it is done.
  "$COV" batch "$cov_file" --input "$input" --output "$o-compiled.csv" --errors "$o-compiled.err" --compiled "${flags[@]}" 2>/dev/null || true
  for r in $(seq "$reps"); do
    measure "$model" "$rows" covenant "end-to-end" "$o-covenant.log" -- \
      "$COV" batch "$cov_file" --input "$input" --output "$o-covenant.csv" --errors "$o-covenant.err" "${flags[@]}"
    measure "$model" "$rows" covenant "end-to-end, 1 thread" "$o-covenant1.log" -- \
      "$COV" batch "$cov_file" --input "$input" --output "$o-covenant1.csv" --errors "$o-covenant1.err" --threads 1 "${flags[@]}"
    # One core, not just one worker: with one worker, the start-up's second thread and the
    # kernel's writing of the files can still use a second core.
    if [ -n "$ONE_CORE" ]; then
      measure "$model" "$rows" covenant "end-to-end, 1 core" "$o-covenant1core.log" --cpu "$ONE_CORE" -- \
        "$COV" batch "$cov_file" --input "$input" --output "$o-covenant1core.csv" --errors "$o-covenant1core.err" "${flags[@]}"
    fi
    measure "$model" "$rows" covenant "end-to-end, --compiled" "$o-compiled.log" -- \
      "$COV" batch "$cov_file" --input "$input" --output "$o-compiled.csv" --errors "$o-compiled.err" --compiled "${flags[@]}"
    if [ -n "$ONE_CORE" ]; then
      measure "$model" "$rows" covenant "end-to-end, --compiled, 1 core" "$o-compiled1core.log" --cpu "$ONE_CORE" -- \
        "$COV" batch "$cov_file" --input "$input" --output "$o-compiled1core.csv" --errors "$o-compiled1core.err" --compiled "${flags[@]}"
    fi
    measure "$model" "$rows" baseline "end-to-end" "$o-baseline.log" -- \
      "$BASE" "$model" --input "$input" --output "$o-baseline.csv" --errors "$o-baseline.err"
    measure "$model" "$rows" openfisca "end-to-end" "$o-openfisca.log" -- \
      "$PY" "$OF" "$model" --input "$input" --output "$o-openfisca.csv" --errors "$o-openfisca.err"
  done
  measure "$model" "$rows" baseline "compute-only" "$o-baseline-compute.log" -- \
    "$BASE" "$model" --input "$input" --output "$o-baseline-compute.csv" --errors "$o-baseline-compute.err" --compute-only --repeat 5
  measure "$model" "$rows" openfisca "compute-only" "$o-openfisca-compute.log" -- \
    "$PY" "$OF" "$model" --input "$input" --output "$o-openfisca-compute.csv" --errors "$o-openfisca-compute.err" --compute-only --repeat 3
  # Best of 5 passes at every size, as the hand-written program's compute-only figure (one
  # pass at 1,000,000 rows made the compiled rules look twice as slow as they are).
  measure "$model" "$rows" covenant "compute-only (library)" "$o-engine.log" -- \
    "$ENGINE" "$cov_file" --input "$input" --output "$o-engine.csv" --errors "$o-engine.err" --repeat 5 "${flags[@]}"
  # The same harness with the rules compiled to Rust (`covenant emit-rust`, the modules in
  # tests/emitted/src), handing the rows it cannot compute to the interpreter.
  measure "$model" "$rows" covenant "compute-only (emit-rust)" "$o-native.log" -- \
    "$ENGINE" "$cov_file" --native --input "$input" --output "$o-native.csv" --errors "$o-native.err" --repeat 5 "${flags[@]}"
  # With explanations, for every row, written to disk and deleted after timing.
  measure "$model" "$rows" covenant "end-to-end, --explain" "$o-explain.log" -- \
    "$COV" batch "$cov_file" --input "$input" --output "$o-explain.jsonl" --errors "$o-explain.err" --explain "${flags[@]}"
  explained "$model" "$rows" "$o-explain.jsonl"
  measure "$model" "$rows" covenant "end-to-end, --explain=compact" "$o-compact.log" -- \
    "$COV" batch "$cov_file" --input "$input" --output "$o-compact.jsonl" --errors "$o-compact.err" --explain=compact "${flags[@]}"
  explained "$model" "$rows" "$o-compact.jsonl" _compact

  compare "$model" "$rows" "covenant/baseline" "$o-covenant.csv" "$o-covenant.err" "$o-baseline.csv" "$o-baseline.err"
  compare "$model" "$rows" "covenant/baseline-compute" "$o-covenant.csv" "$o-covenant.err" "$o-baseline-compute.csv" "$o-baseline-compute.err"
  compare "$model" "$rows" "covenant/covenant-1-thread" "$o-covenant.csv" "$o-covenant.err" "$o-covenant1.csv" "$o-covenant1.err"
  if [ -n "$ONE_CORE" ]; then
    compare "$model" "$rows" "covenant/covenant-1-core" "$o-covenant.csv" "$o-covenant.err" "$o-covenant1core.csv" "$o-covenant1core.err"
  fi
  compare "$model" "$rows" "covenant/library" "$o-covenant.csv" "$o-covenant.err" "$o-engine.csv" "$o-engine.err"
  compare "$model" "$rows" "covenant/emit-rust" "$o-covenant.csv" "$o-covenant.err" "$o-native.csv" "$o-native.err"
  compare "$model" "$rows" "covenant/compiled" "$o-covenant.csv" "$o-covenant.err" "$o-compiled.csv" "$o-compiled.err"
  if [ -n "$ONE_CORE" ]; then
    compare "$model" "$rows" "covenant/compiled-1-core" "$o-covenant.csv" "$o-covenant.err" "$o-compiled1core.csv" "$o-compiled1core.err"
  fi
  compare "$model" "$rows" "covenant/openfisca" "$o-covenant.csv" "$o-covenant.err" "$o-openfisca.csv" "$o-openfisca.err" --money "$money"
  compare "$model" "$rows" "covenant/openfisca-compute" "$o-covenant.csv" "$o-covenant.err" "$o-openfisca-compute.csv" "$o-openfisca-compute.err" --money "$money"
}

# A small cohort on which --explain is timed for every model, whatever happens at full size.
run_sample() {
  local model=$1 input=$2 cov_file
  local -a flags=()
  if [ "$model" = suffolk ]; then
    cov_file=$ROOT/examples/suffolk-personal-budget/allocation.cov
    for d in "${suffolk_decisions[@]}"; do flags+=(--decision "$d"); done
  else
    cov_file=$ROOT/examples/housing-support-tariff/tariff.cov
    for d in "${housing_decisions[@]}"; do flags+=(--decision "$d"); done
  fi
  local o=$OUT/$model-$SAMPLE_ROWS
  say "$model, $SAMPLE_ROWS rows: --explain against no explanations"
  measure "$model" "$SAMPLE_ROWS" covenant "end-to-end" "$o-covenant.log" -- \
    "$COV" batch "$cov_file" --input "$input" --output "$o-covenant.csv" --errors "$o-covenant.err" "${flags[@]}"
  measure "$model" "$SAMPLE_ROWS" covenant "end-to-end, --explain" "$o-explain.log" -- \
    "$COV" batch "$cov_file" --input "$input" --output "$o-explain.jsonl" --errors "$o-explain.err" --explain "${flags[@]}"
  explained "$model" "$SAMPLE_ROWS" "$o-explain.jsonl"
  measure "$model" "$SAMPLE_ROWS" covenant "end-to-end, --explain=compact" "$o-compact.log" -- \
    "$COV" batch "$cov_file" --input "$input" --output "$o-compact.jsonl" --errors "$o-compact.err" --explain=compact "${flags[@]}"
  explained "$model" "$SAMPLE_ROWS" "$o-compact.jsonl" _compact
  rm -f "$o-covenant.csv"
}

for model in suffolk housing; do
  say "generate $model cohorts"
  for rows in "${SIZES[@]}"; do
    "$GEN" "$model" "$rows" "$DATA/$model-$rows.csv"
  done
  "$GEN" "$model" "$SAMPLE_ROWS" "$DATA/$model-$SAMPLE_ROWS.csv"
  run_sample "$model" "$DATA/$model-$SAMPLE_ROWS.csv"
  for rows in "${SIZES[@]}"; do
    run_model "$model" "$rows" "$DATA/$model-$rows.csv"
  done
done

"$PY" "$BENCH/report.py" "$RESULTS" "$COMPARE" "$DATA/machine.txt" | tee "$DATA/results.md"
