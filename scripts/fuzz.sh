#!/usr/bin/env bash
# Long fuzz campaign: scripts/fuzz.sh TARGET SECONDS [JOBS]
#
# Builds the libFuzzer targets (clang, ASan + UBSan) and fuzzes
# fuzz/TARGET_fuzz.cc for SECONDS on a persistent work corpus,
# build/fuzz-work/TARGET/corpus, seeded from fuzz/corpus/TARGET and
# fuzz/regressions/TARGET and kept between campaigns. Findings (crash, leak,
# timeout, OOM inputs) are kept in build/fuzz-work/TARGET/findings; turn each
# into a fix and a file in fuzz/regressions/TARGET. JOBS=1 (the default)
# fuzzes in one process and stops at the first finding; more use libFuzzer's
# fork mode, which records findings and goes on. Prints the runs of this
# campaign and of all campaigns so far (build/fuzz-work/TARGET/runs.log);
# exits non-zero if the findings folder is not empty. Run it in the
# background, e.g.
#   nohup scripts/fuzz.sh import_scan 3600 > build/fuzz-import_scan.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fuzz_common.sh

if (($# < 2 || $# > 3)); then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [JOBS]; targets: $(fuzz_targets | tr '\n' ' ')" >&2
  exit 2
fi
target=$1 seconds=$2 jobs=${3:-1}
if [ ! -f "fuzz/${target}_fuzz.cc" ]; then
  echo "no fuzz target $target; targets: $(fuzz_targets | tr '\n' ' ')" >&2
  exit 2
fi

fuzz_build "${HERMETIC_JOBS:-2}"
work=build/fuzz-work/$target
fuzz_seed "$target" "$work/corpus"
mkdir -p "$work/findings"
log=$work/last.log
flags=()
if ((jobs > 1)); then
  flags=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
echo "fuzzing $target for $seconds s with $jobs job(s); log: $log"
started=$(date -u +%FT%TZ)
status=0
fuzz_run "$target" "$seconds" "$work/corpus" "$work/findings" "$log" "${flags[@]}" ||
  status=$?
runs=$(fuzz_runs "$log")
echo "$started $seconds s $jobs job(s) $runs runs status $status" >>"$work/runs.log"
total=$(awk '{ sum += $6 } END { print sum + 0 }' "$work/runs.log")
findings=$(find "$work/findings" -type f | wc -l)
echo "$target: $runs runs in this campaign, $total in all; corpus $(ls "$work/corpus" | wc -l) inputs; $findings finding(s) in $work/findings"
if ((status != 0 || findings > 0)); then
  tail -n 40 "$log"
  exit 1
fi
