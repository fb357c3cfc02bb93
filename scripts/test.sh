#!/usr/bin/env bash
# Set up the checkout (Debian packages, .venv), then run the whole test suite, the linters and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check octotui screens tests bench
echo "== mypy --strict (engine)" >&2
.venv/bin/mypy
echo "== lint-imports (layer contracts, pyproject.toml)" >&2
.venv/bin/python scripts/lint_imports.py
echo "== pytest" >&2
exec .venv/bin/python -m pytest -q "$@"
