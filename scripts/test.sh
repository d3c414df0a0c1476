#!/usr/bin/env bash
# Install the package with its test extras into .venv, lint and type-check the core, run every test offline.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check cn_embeddings langchain_cn_embeddings llama_index_cn_embeddings
.venv/bin/mypy cn_embeddings
exec .venv/bin/python -m pytest -q "$@"
