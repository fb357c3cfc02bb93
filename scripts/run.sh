#!/usr/bin/env bash
# Set up the checkout if needed, then run octotui with the given arguments (default: `lab up`).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/setup.sh"
if [ "$#" -eq 0 ]; then set -- lab up; fi
exec "$here/.venv/bin/octotui" "$@"
