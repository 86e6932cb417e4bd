#!/usr/bin/env bash
# Installs what building and testing hermetic needs on a fresh Debian machine:
# system libraries from Debian's packages, Python tools from PyPI. Idempotent.
set -euo pipefail

need_apt=()
# clang-14 and its runtimes build the fuzz targets (libFuzzer, ASan, UBSan);
# zlib1g-dev is for the reader.
for pkg in g++ pkg-config libdeflate-dev libsodium-dev libgtest-dev libgmock-dev \
  clang-14 libclang-rt-14-dev zlib1g-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  "scikit-build-core>=0.10" "nanobind==3.1.0" cmake ninja pytest numpy mypy "sympy==1.14.0" \
  "fsspec==2026.9.0" "aiohttp==3.14.5"  # optional: remote packages (tests/python/test_remote.py)
# torch is optional for hermetic; tests and benchmarks compare against it.
# Pinned: the CPU build of 2.13 is the reference (a bare "torch" pulls CUDA).
if [ "${HERMETIC_WITH_TORCH:-1}" = "1" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "torch==2.13.0"
fi
