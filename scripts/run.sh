#!/usr/bin/env bash
# Set up the checkout if needed, then run octotui with the given arguments (default: `demo`, the wizard on a lab).
# Run as root, the demo's lab has a real Samba domain controller (`lab up --dc`, Samba installed by setup.sh),
# so every check can pass; otherwise the demo runs the lab without one and says why.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/setup.sh"
if [ "$#" -eq 0 ]; then set -- demo; fi
exec "$here/.venv/bin/octotui" "$@"
