#!/usr/bin/env bash
# Install the package with its test extras into .venv, lint, check formatting and types, run every test offline.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use for real: Redis (shared quotas), Chromium and a CJK font (the docs
# site seen in a browser), a Java runtime (local Spark); installed when missing
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff format --check cn_embeddings langchain_cn_embeddings llama_index_cn_embeddings tests benchmarks scripts
.venv/bin/ruff check cn_embeddings langchain_cn_embeddings llama_index_cn_embeddings tests benchmarks scripts
.venv/bin/mypy  # strict, on the three packages (pyproject.toml)
.venv/bin/python scripts/spellings.py --check  # the typed spellings of the options are what their declarations give
exec .venv/bin/python -m pytest -q "$@"
