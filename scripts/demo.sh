#!/usr/bin/env bash
# Install the package with both frameworks into .venv and run the main job.
# Offline on the built-in emulator unless TENCENTCLOUD_SECRET_ID/_KEY, QIANFAN_API_KEY or ARK_API_KEY are set.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[all]'
exec .venv/bin/cn-embeddings demo "$@"
