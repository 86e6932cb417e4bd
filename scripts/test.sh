#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the C++ suite (plain and under
# AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, fuzz
# regression replays included) and the Python suite against the installed
# wheel. Slow tests run only with HERMETIC_SLOW=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${HERMETIC_JOBS:-2}

bash scripts/setup.sh

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
