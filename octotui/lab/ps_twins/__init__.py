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

__all__ = ["BOOTSTRAP", "RESULT_SENTINEL", "SCRIPT_DIGESTS", "TWINS", "Twin", "find_twin", "first_line", "read_header"]

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

#: (name, version) -> SHA-256 of the script's whole text as the engine sends it (``assets/ps/<name>.ps1``
#: with ``_helpers.ps1`` inserted at its marker, UTF-8), the text the twin was last reviewed against.
#: A twin stands in for a script the lab never runs, so any change to that text (a fix in its body, not
#: only a new version) must be looked at against the twin: the test suite (tests/unit/test_ps_static.py)
#: fails naming the script until the twin has been reviewed and this digest updated.
SCRIPT_DIGESTS: dict[tuple[str, int], str] = {
    ("bootstrap", 1): "99959a345a880a6d38b4c329730406db59dbe199f01b2e345d9695c145e7f9a9",
    ("download-file", 1): "2c937c3cf621115f700029c4f06b6c3f09e7edeb053d1279e2827ad338a76536",
    ("get-node-state", 1): "c2a44b3d88a15bc6076cfb10040ef0536c982466e52adda6f01e537649ff4e4a",
    ("invoke-as-user", 1): "f73e89272b2891811330786eb20d0916ca3bc66e1786c9b4ac7b9a48bc64688c",
    ("list-files", 1): "1dfcd630ae7c496b2987d85788c315747d4b6b892370c177f098bc2e9d28aaad",
    ("node-lease", 1): "f56ee1c7a3b595e9a316035f48510549a5f3cb125f994172d535183cc9ef822b",
    ("read-file", 1): "4f1ff91bae4f414a28c1a7f82c017c54c0df043effbc0096117b1619f7915d19",
    ("save-file", 1): "3ac6b7b5285d9573b3a1e07c997dc72a058ee4b0aaa6be6f540a65e9a91ff22e",
    ("test-share", 1): "f83c29459dd7939305ed2fc9fc45c17f67b5d8f851594ebb6f1726227ed7b124",
    ("test-sql", 2): "1eed59eb5cacc392858713b760b2239fbc82cecc54633355acfa247c26b7d660",
    ("wait-ping", 1): "e7cdfeb62f14603b8f950324cdd5bbc94bdd8732b95bae1ce4742b4ca07e60e5",
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
