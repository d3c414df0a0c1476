#!/usr/bin/env bash
# Install the package with its test extras into .venv, lint, check formatting and types, run every test offline.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then  # the shared-quota tests run against a real Redis
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff format --check cn_embeddings langchain_cn_embeddings llama_index_cn_embeddings tests benchmarks
.venv/bin/ruff check cn_embeddings langchain_cn_embeddings llama_index_cn_embeddings tests benchmarks
.venv/bin/mypy  # strict, on the three packages (pyproject.toml)
exec .venv/bin/python -m pytest -q "$@"
