#!/usr/bin/env bash
# Build the documentation site into site/ (strict: a broken link, anchor or reference fails the build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/mkdocs ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[all,docs]'
fi
export NO_MKDOCS_2_WARNING=1  # the banner about MkDocs 2; the site pins MkDocs 1
exec .venv/bin/mkdocs build --strict "$@"
