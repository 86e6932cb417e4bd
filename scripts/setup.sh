#!/usr/bin/env bash
# Installs what building and testing hermetic needs on a fresh Debian machine:
# system libraries from Debian's packages, Python tools from PyPI. Idempotent.
set -euo pipefail

need_apt=()
# clang-14 and its runtimes build the fuzz targets (libFuzzer, ASan, UBSan);
# zlib1g-dev is for the reader; graphviz's dot draws `hermetic deps --format
# svg` (optional at run time, tested when present).
for pkg in g++ pkg-config libdeflate-dev libsodium-dev libgtest-dev libgmock-dev \
  clang-14 libclang-rt-14-dev zlib1g-dev graphviz; do
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
  "scikit-build-core>=0.10" "nanobind==3.1.0" cmake ninja pytest numpy mypy "basedpyright==1.40.2" \
  "sympy==1.14.0" \
  "mkdocs==1.6.1" "mkdocs-material==9.8.2" "mkdocstrings==1.0.8" "mkdocstrings-python==2.0.11" \
  "tqdm==4.70.1" "requests==2.34.2" \
  "fsspec==2026.9.0" "aiohttp==3.14.5"
# basedpyright: pyright's checker with its own node, for tests/python/test_typing.py;
# mkdocs*: the docs site; tqdm and requests: what the tutorial's model
# imports (docs/tutorial.md mocks one and denies the other); fsspec and
# aiohttp: remote packages (optional; tests/python/test_remote.py).
# torch is optional for hermetic; tests and benchmarks compare against it.
# Pinned: the CPU build of 2.13 is the reference (a bare "torch" pulls CUDA).
if [ "${HERMETIC_WITH_TORCH:-1}" = "1" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "torch==2.13.0"
fi
