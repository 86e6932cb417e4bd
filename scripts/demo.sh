#!/usr/bin/env bash
# Sets up a fresh machine, installs hermetic, and runs the main job: package a
# model together with its code, then load and run it in a fresh process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-build-isolation .
cd examples
python3 demo.py
