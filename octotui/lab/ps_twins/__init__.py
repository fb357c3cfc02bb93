"""Python twins of the PowerShell scripts in ``assets/ps``: what each script would do on a Windows node.

The lab does not interpret PowerShell. A script is recognised by its first line,
``# octotui-ps: <name> v<N>``, and its twin runs instead; a script the lab has no twin for (another
name, or another version of a known one) is refused as unknown, so an engine that sends a script the
lab has not been taught about finds out in tests rather than on a customer's node.
"""

from __future__ import annotations

import re

from octotui.lab.ps_twins import files, invoke_as_user, lease, node_state, ping, share_probe, sql_probe
from octotui.lab.ps_twins.common import RESULT_SENTINEL, Twin

__all__ = ["BOOTSTRAP", "RESULT_SENTINEL", "TWINS", "Twin", "find_twin", "first_line", "read_header"]

#: The loader given as -EncodedCommand; powershell.exe handles it itself (it reads stdin).
BOOTSTRAP = ("bootstrap", 1)

#: (name, version) -> twin.
TWINS: dict[tuple[str, int], Twin] = {
    ("get-node-state", 1): node_state.twin,
    ("invoke-as-user", 1): invoke_as_user.twin,
    ("test-share", 1): share_probe.twin,
    ("test-sql", 2): sql_probe.twin,
    ("save-file", 1): files.save_file,
    ("download-file", 1): files.download_file,
    ("read-file", 1): files.read_file,
    ("list-files", 1): files.list_files,
    ("wait-ping", 1): ping.twin,
    ("node-lease", 1): lease.twin,
}

_HEADER = re.compile(r"^# octotui-ps: (?P<name>[a-z0-9][a-z0-9-]*) v(?P<version>\d+)\s*$")


def first_line(script: str) -> str:
    """The script's first line, without a byte-order mark."""
    return re.split(r"\r\n|\r|\n", script.lstrip("\ufeff"), maxsplit=1)[0]


def read_header(script: str) -> tuple[str, int] | None:
    """``(name, version)`` from the header line, or None when the script has none."""
    m = _HEADER.match(first_line(script))
    if m is None:
        return None
    return m.group("name"), int(m.group("version"))


def find_twin(script: str) -> Twin | None:
    header = read_header(script)
    return TWINS.get(header) if header is not None else None
