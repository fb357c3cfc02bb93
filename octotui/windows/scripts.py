"""The script protocol (assets/ps/README.md): how a PowerShell script from ``assets/ps`` reaches a node and
how its answer comes back, as text and bytes only.

Why here and not in the WinRM session: the protocol is a fact about the node's side (powershell.exe, the
bootstrap, what the scripts print), and more than the session speaks it: ``become`` hands the same stdin to
a scheduled task, the lab's tests send it by hand. The session (``octotui.remote.session``) only carries it.

The parts: the bootstrap command line (``bootstrap.ps1`` as ``-EncodedCommand``, far below cmd.exe's 8191
characters), the stdin framing (``<script> NUL NUL NUL NUL <params JSON>``, pure ASCII), the shared helpers
each script carries, the ``@@octotui-result@@`` JSON line a script ends with, and PowerShell's CLIXML
stderr turned back into the text people read.
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from octotui.resources import ps_script_source

RESULT_SENTINEL = "@@octotui-result@@"
SCRIPT_SEPARATOR = "\0\0\0\0"
#: The line in a script where the shared helpers (``assets/ps/_helpers.ps1``) go. Each script travels to
#: the node alone, so it must carry the helpers; keeping them in one file keeps them from drifting apart.
HELPERS_MARKER = "# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----"


def ps_script(name: str) -> str:
    """The text of ``assets/ps/<name>.ps1`` as it is sent: with the shared helpers in place."""
    text = ps_script_source(name)
    if HELPERS_MARKER in text:
        text = text.replace(HELPERS_MARKER + "\n", ps_script_source("_helpers"), 1)
    return text


def bootstrap_command_line() -> str:
    """The loader: ``powershell.exe ... -EncodedCommand <bootstrap.ps1 as base64 of UTF-16LE>``."""
    encoded = base64.b64encode(ps_script("bootstrap").encode("utf-16-le")).decode("ascii")
    return f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {encoded}"


def script_stdin(name: str, params: Mapping[str, Any]) -> bytes:
    """``<script> NUL NUL NUL NUL <params JSON>``, pure ASCII: powershell.exe reads stdin in the console code
    page before the bootstrap can switch it, and ASCII reads the same in every code page."""
    text = ps_script(name)
    body = json.dumps(dict(params), ensure_ascii=True, separators=(",", ":"))
    try:
        return (text + SCRIPT_SEPARATOR + body).encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"assets/ps/{name}.ps1 is not pure ASCII; the stdin protocol needs it to be") from None


def find_result_line(stdout: str) -> dict[str, Any] | None:
    """The JSON object behind the ``@@octotui-result@@`` sentinel (the last one if several), or None."""
    found: dict[str, Any] | None = None
    for line in stdout.splitlines():
        idx = line.find(RESULT_SENTINEL)
        if idx == -1:
            continue
        try:
            value = json.loads(line[idx + len(RESULT_SENTINEL):])
        except ValueError:
            continue
        if isinstance(value, dict):
            found = value
    return found


def parse_script_result(stdout: str, fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``@@octotui-result@@`` JSON in ``stdout``; without one, ``fallback`` (or an ``ok: false`` record)."""
    found = find_result_line(stdout)
    if found is not None:
        return found
    return dict(fallback) if fallback is not None else {"ok": False, "stage": "result",
                                                          "error": "the script printed no result line"}


# --- PowerShell's stderr ------------------------------------------------------------------------------------

_XML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _decode_clixml_string(text: str) -> str:
    """Undo PowerShell's ``_xHHHH_`` escapes (UTF-16 code units; surrogate pairs recombined)."""
    units: list[int] = []
    pos = 0
    for m in _XML_ESCAPE.finditer(text):
        units.extend(ord(c) for c in text[pos:m.start()])  # BMP characters are one unit each here
        units.append(int(m.group(1), 16))
        pos = m.end()
    units.extend(ord(c) for c in text[pos:])
    raw = b"".join(u.to_bytes(2, "little") if u <= 0xFFFF else chr(u).encode("utf-16-le") for u in units)
    return raw.decode("utf-16-le", "replace")


def clixml_to_text(stderr: str) -> str:
    """stderr as people read it: the error records of a ``#< CLIXML`` block joined, progress records dropped.
    Text that is not CLIXML comes back unchanged."""
    stripped = stderr.lstrip("\ufeff")
    if not stripped.startswith("#< CLIXML"):
        return stderr
    lines: list[str] = []
    for block in re.findall(r"<Objs\b.*?</Objs>", stripped, flags=re.S):
        try:
            root = ET.fromstring(re.sub(r'\sxmlns="[^"]*"', "", block, count=1))
        except ET.ParseError:
            continue
        for el in root:
            if el.tag == "S" and (el.get("S") or "").lower() in ("error", "warning", "verbose", "debug", "information"):
                lines.append(_decode_clixml_string(el.text or ""))
    return "".join(lines).replace("\r\n", "\n").rstrip("\n") + ("\n" if lines else "")
