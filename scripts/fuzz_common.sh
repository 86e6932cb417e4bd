# Sourced by test.sh (the fuzz smoke of CI) and fuzz.sh (long campaigns),
# from the repository root: builds the libFuzzer targets with clang (ASan +
# UBSan, see fuzz/CMakeLists.txt) and runs one.

fuzz_build_dir=build/fuzz

# Every fuzz/<target>_fuzz.cc is a target, picked up without listing it.
fuzz_targets() {
  local src
  for src in fuzz/*_fuzz.cc; do
    src=${src##*/}
    echo "${src%_fuzz.cc}"
  done
}

# fuzz_build JOBS. Campaigns started together share the build: a lock keeps
# their builds from running at once.
fuzz_build() {
  mkdir -p build
  (
    flock 9
    cmake -S . -B "$fuzz_build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERMETIC_FUZZ=ON -DHERMETIC_WERROR=ON \
      -DHERMETIC_BUILD_TESTS=ON -DHERMETIC_BUILD_PYTHON=OFF >/dev/null
    cmake --build "$fuzz_build_dir" -j "$1" --target hermetic_fuzzers
  ) 9>build/.fuzz-build.lock
}

# fuzz_seed TARGET DIR: copies the target's corpus and regressions into DIR
# (existing files are kept, so a work corpus only gains).
fuzz_seed() {
  mkdir -p "$2"
  local d
  for d in "fuzz/corpus/$1" "fuzz/regressions/$1"; do
    if [ -d "$d" ]; then cp -n "$d"/* "$2"/ 2>/dev/null || true; fi
  done
}

# fuzz_run TARGET SECONDS CORPUS FINDINGS LOG [libFuzzer flags...]: fuzzes
# for SECONDS, growing CORPUS and writing crash, leak, timeout and OOM
# inputs into FINDINGS; returns libFuzzer's status (non-zero on a finding).
# An input may be as large as the largest seed, at least 8 KiB; one taking
# over 10 s or 2 GiB is a finding.
fuzz_run() {
  local target=$1 seconds=$2 corpus=$3 findings=$4 log=$5
  shift 5
  local max_len=8192 size f
  for f in "fuzz/corpus/$target"/* "fuzz/regressions/$target"/*; do
    [ -f "$f" ] || continue
    size=$(stat -c %s "$f")
    if ((size > max_len)); then max_len=$size; fi
  done
  mkdir -p "$findings"
  # A target's dictionary, if it has one, steers mutations to its keywords.
  local dict=()
  if [ -f "fuzz/$target.dict" ]; then dict=(-dict="fuzz/$target.dict"); fi
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$fuzz_build_dir/fuzz/${target}_fuzz" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" -print_final_stats=1 \
    -artifact_prefix="$findings/" "${dict[@]}" "$@" "$corpus" >"$log" 2>&1
}

# fuzz_runs LOG: the number of inputs the run executed (the final count in
# one process; the last progress line in fork mode).
fuzz_runs() {
  local n
  n=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$1" | tail -n 1 |
    grep -oE '[0-9]+$' || true)
  [ -n "$n" ] || n=$(grep -oE '^#[0-9]+' "$1" | tail -n 1 | tr -d '#' || true)
  echo "${n:-0}"
}
