"""Marks beside fields and steps, with an ASCII fallback for consoles without box-drawing glyphs."""

from __future__ import annotations

import os

UNICODE = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-", "pending": "…", "none": " ",
           "waiting": "·", "running": "▶", "changed": "✓", "unchanged": "=", "failed": "✗", "skipped": "-"}
ASCII = {"pass": "+", "warn": "!", "fail": "x", "skip": "-", "pending": ".", "none": " ",
         "waiting": ".", "running": ">", "changed": "+", "unchanged": "=", "failed": "x", "skipped": "-"}


def ascii_wanted(environ: dict[str, str] | None = None) -> bool:
    """OCTOTUI_ASCII=1, or a console known to lack the glyphs (the Linux VT, vt100, dumb terminals)."""
    env = os.environ if environ is None else environ
    flag = env.get("OCTOTUI_ASCII", "")
    if flag:
        return flag not in ("0", "no", "false")
    return env.get("TERM", "") in ("linux", "vt100", "vt220", "dumb", "cons25")


def glyph(kind: str, ascii_only: bool) -> str:
    return (ASCII if ascii_only else UNICODE).get(kind, "?")
