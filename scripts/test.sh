#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the C++ suite (plain and under
# AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, fuzz
# regression replays included), the Python suite against the installed
# wheel, the installed C++ library with an example program built against it
# (examples/cpp/check.sh), then a fuzz smoke: every fuzz target built with
# clang (ASan + UBSan) and run for HERMETIC_FUZZ_SECONDS (default 60; 0 skips
# it) on a temporary copy of its corpus and regressions, failing on any
# finding. The docs site is built into build/site (mkdocs --strict) between
# the Python tests and the C++ library. Slow tests run only with HERMETIC_SLOW=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${HERMETIC_JOBS:-2}

bash scripts/setup.sh
# The import scanner's whole-of-sympy test (setup.sh pins sympy 1.14.0).
export HERMETIC_SYMPY_DIR
HERMETIC_SYMPY_DIR=$(python3 -c 'import os, sympy; print(os.path.dirname(sympy.__file__))')

echo "== C++ tests (Release, -Werror)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=Release -DHERMETIC_WERROR=ON
cmake --build build/ci -j "$jobs"
ctest --test-dir build/ci --output-on-failure -j "$jobs"

echo "== C++ tests (ASan + UBSan)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHERMETIC_WERROR=ON \
  -DHERMETIC_SANITIZE=address,undefined
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs"

echo "== Python package"
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-build-isolation \
  -C cmake.define.HERMETIC_WERROR=ON .

echo "== Python tests"
# Run from outside the source tree so the installed wheel is what is tested.
cd "$root/tests/python"
HERMETIC_CLI="$(command -v hermetic || true)" python3 -m pytest -q -p no:cacheprovider \
  ${HERMETIC_SLOW:+-m "slow or not slow"} .

echo "== Docs (mkdocs.yml; the CLI reference is the installed hermetic's --help)"
cd "$root"
NO_MKDOCS_2_WARNING=1 HERMETIC_CLI="$(command -v hermetic)" python3 -m mkdocs build --strict --quiet

echo "== C++ library (installed from build/ci; examples/cpp built and run against it)"
bash examples/cpp/check.sh build/ci

fuzz_seconds=${HERMETIC_FUZZ_SECONDS:-60}
if ((fuzz_seconds > 0)); then
  cd "$root"
  echo "== Fuzz smoke (clang, ASan + UBSan, $fuzz_seconds s a target, $jobs at a time)"
  source scripts/fuzz_common.sh
  fuzz_build "$jobs"
  smoke=build/fuzz-smoke  # findings stay here; corpora are removed
  rm -rf "$smoke"
  targets=($(fuzz_targets))
  for target in "${targets[@]}"; do
    fuzz_seed "$target" "$smoke/$target/corpus"
    (
      status=0
      fuzz_run "$target" "$fuzz_seconds" "$smoke/$target/corpus" \
        "$smoke/$target/findings" "$smoke/$target/log" || status=$?
      echo "$status" >"$smoke/$target/status"
    ) &
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  done
  wait
  failed=0
  for target in "${targets[@]}"; do
    status=$(cat "$smoke/$target/status")
    runs=$(fuzz_runs "$smoke/$target/log")
    rm -rf "$smoke/$target/corpus"
    if [ "$status" = 0 ] && [ -z "$(ls -A "$smoke/$target/findings")" ]; then
      echo "fuzz $target: $runs runs in $fuzz_seconds s, no findings"
    else
      echo "fuzz $target: FINDING after $runs runs (libFuzzer status $status)"
      tail -n 60 "$smoke/$target/log"
      ls -l "$smoke/$target/findings"
      failed=1
    fi
  done
  ((failed == 0))
fi
