#!/usr/bin/env bash
# Prepare this checkout: the Debian packages octotui and its tests use, and a virtual environment in .venv
# with octotui installed (editable) and its test tools. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# libkrb5-dev (+gcc) builds python-gssapi; krb5-user gives kinit; faketime makes the clock-skew test's skew.
for pkg in python3-venv unixodbc tdsodbc freetds-bin tmux samba-ad-dc samba-ad-provision libkrb5-dev krb5-user gcc \
    faketime; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need_apt[*]} (run as root, or install them first)" >&2
    exit 1
  fi
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The tests start their own throw-away domain controller on 127.0.0.1. On a machine with systemd,
  # installing Samba also starts the distribution's own daemons on the same ports: stop the ones this
  # script just installed (a Samba that was there before is left alone).
  if printf '%s\n' "${need_apt[@]}" | grep -q '^samba-ad-dc$' && command -v systemctl >/dev/null 2>&1 \
      && [ -d /run/systemd/system ]; then
    systemctl disable --now smbd nmbd winbind samba-ad-dc >/dev/null 2>&1 || true
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
