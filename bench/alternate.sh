#!/usr/bin/env bash
# Two `covenant` builds timed against each other on one cohort of bench/run.sh, alternated run
# by run, on both cores and pinned to one: the speed of this machine drifts by a third from
# minute to minute, more than most changes move a 0.05-0.5 s run, so only runs made side by
# side, many times, tell two builds (or two cores and one) apart.
#
#   bench/alternate.sh MODEL ROWS RUNS COVENANT_A COVENANT_B [batch options...]
#   bench/alternate.sh housing 100000 15 /tmp/covenant-before target/release/covenant --compiled
#
# MODEL is suffolk or housing; the cohort bench/data/MODEL-ROWS.csv must exist (bench/run.sh
# makes it). Each build runs once untimed first (with --compiled, that builds its program,
# kept in bench/data/compiled unless COVENANT_CACHE is set). A copy of a build keeps its
# program only if it keeps the file's size and time (`cp -p`). For each build it prints the
# least and the median wall time on two cores and on one (core 1 alone), and the ratio of
# the medians, the speed-up from one core to two. BENCH_PAUSE=2 waits 2 seconds before each
# run, as bench/run.sh does (it samples the machine's load first): runs then start on idle
# cores, which on this machine makes short runs on two cores slower.
set -euo pipefail

if [ "$#" -lt 5 ]; then
  sed -n "2,18p" "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
MODEL=$1 ROWS=$2 RUNS=$3 A=$4 B=$5
shift 5
cd "$(dirname "$0")/.."
case "$MODEL" in
  suffolk)
    FILE=examples/suffolk-personal-budget/allocation.cov
    DECISIONS=(points indicative_budget moderated_budget eligible budget_from_formula) ;;
  housing)
    FILE=examples/housing-support-tariff/tariff.cov
    DECISIONS=(weekly_cost within_limits) ;;
  *) echo "MODEL is suffolk or housing" >&2; exit 2 ;;
esac
INPUT=bench/data/$MODEL-$ROWS.csv
[ -f "$INPUT" ] || { echo "no cohort $INPUT: run bench/run.sh $ROWS first" >&2; exit 2; }
export COVENANT_CACHE=${COVENANT_CACHE:-$PWD/bench/data/compiled}
OUTPUT=$(mktemp -d)
trap 'rm -rf "$OUTPUT"' EXIT
ARGS=("$FILE" --input "$INPUT" --output "$OUTPUT/out.csv" --errors "$OUTPUT/out.err")
for d in "${DECISIONS[@]}"; do ARGS+=(--decision "$d"); done
ARGS+=("$@")

# Milliseconds, to a tenth, that the command took: timed CORE COMMAND..., on that core alone
# if CORE is not empty. The clock is bash's own ($EPOCHREALTIME), and the subshell is pinned
# before the clock starts, so that neither `date` nor `taskset` starting up is timed.
timed() {
  local core=$1
  shift
  (
    if [ -n "$core" ]; then taskset -pc "$core" "$BASHPID" > /dev/null; fi
    sleep "${BENCH_PAUSE:-0}"
    started=$EPOCHREALTIME
    "$@" > /dev/null 2>&1 || true
    ended=$EPOCHREALTIME
    awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f\n", (b - a) * 1e3 }'
  )
}

for build in "$A" "$B"; do "$build" batch "${ARGS[@]}" > /dev/null 2>&1 || true; done
declare -A times
for _ in $(seq "$RUNS"); do
  for build in "$A" "$B"; do
    times["$build|two"]+="$(timed "" "$build" batch "${ARGS[@]}") "
    times["$build|one"]+="$(timed 1 "$build" batch "${ARGS[@]}") "
  done
done

# "least median" of a list of times.
summary() {
  tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{ t[NR] = $1 } END { print t[1], t[int((NR + 1) / 2)] }'
}
echo "$MODEL, $ROWS rows, $RUNS runs each, alternated, ${BENCH_PAUSE:-0} s before each; batch ${*:-}"
for build in "$A" "$B"; do
  read -r two_least two_median <<< "$(summary "${times["$build|two"]}")"
  read -r one_least one_median <<< "$(summary "${times["$build|one"]}")"
  awk -v b="$build" -v tl="$two_least" -v tm="$two_median" -v ol="$one_least" -v om="$one_median" 'BEGIN {
    printf "%s: two cores %.1f ms least, %.1f median; one core %.1f least, %.1f median; one to two %.2fx\n", b, tl, tm, ol, om, om / tm
  }'
done
