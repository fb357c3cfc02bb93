#!/usr/bin/env bash
# Set up the checkout if needed, then run octotui with the given arguments (default: `demo`, the wizard on a lab).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/setup.sh"
if [ "$#" -eq 0 ]; then set -- demo; fi
exec "$here/.venv/bin/octotui" "$@"
