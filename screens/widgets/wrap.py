"""Text wrapped to the screen with a hanging indent."""

from __future__ import annotations

import textwrap


def hanging(text: str, width: int, extra: int = 4) -> str:
    """Each line of ``text`` wrapped to ``width``, its continuation lines indented ``extra`` columns past the
    line's own indent: a long plan step or list item stays inside its item instead of running back to the
    left edge, where it reads as the start of the next one."""
    out: list[str] = []
    for line in text.splitlines():
        lead = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(line, width, initial_indent="", subsequent_indent=lead + " " * extra,
                             break_long_words=True, break_on_hyphens=False, drop_whitespace=True) or [""]
    return "\n".join(out)
