"""Check results as people and programs read them: a table for the terminal, one JSON array for scripts.

The table leads with what needs doing: every result gets one line (status, id, summary); a result that did
not pass also gets what was seen and what to do, indented under it, so the fix is next to the problem.

Results carry what nodes, servers and the answers said (error text, names, paths): in both forms control
characters are escaped and very long texts shortened (``octotui.textsafe``), so a result can neither drive
the terminal nor bury the table.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections import Counter
from collections.abc import Sequence

from octotui.checks.result import CheckResult
from octotui.textsafe import json_controls_escaped, shorten, shown

LABELS = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}
#: How much of one text of a result the table shows (what was seen gets more room).
TEXT_LIMIT, DETAIL_LIMIT = 400, 1000
#: How much of one text of a result the JSON holds.
JSON_LIMIT = 4000


def counts(results: Sequence[CheckResult]) -> Counter[str]:
    return Counter(r.status for r in results)


def summary_line(results: Sequence[CheckResult], wall_s: float | None = None) -> str:
    c = counts(results)
    took = f" in {wall_s:.1f} s" if wall_s is not None else ""
    parts = [f"{c['pass']} passed", f"{c['warn']} warning{'s' if c['warn'] != 1 else ''}", f"{c['fail']} failed",
             f"{c['skip']} skipped"]
    return f"{len(results)} checks{took}: " + ", ".join(parts)


def format_table(results: Sequence[CheckResult], wall_s: float | None = None, *, width: int | None = None) -> str:
    """One line per check, then detail, hint and target under each one that did not pass."""
    cols = width or shutil.get_terminal_size((120, 24)).columns
    cols = max(60, cols)
    id_width = min(max((len(r.id) for r in results), default=8), 28)
    lead = 2 + 4 + 2 + id_width + 2
    lines: list[str] = []
    for r in results:
        head = f"  {LABELS.get(r.status, r.status):<4}  {shown(r.id, 80):<{id_width}}  "
        lines.extend(_wrap(r.summary, head, " " * lead, cols))
        explain = r.status in ("warn", "fail") or (r.status == "skip" and bool(r.detail))
        if not explain:
            continue
        pad = " " * (lead + 2)
        for label, text in (("target", r.target), ("seen", r.detail), ("do", r.hint)):
            if text:
                lines.extend(_wrap(text, f"{pad}{label + ':':<8}", pad + " " * 8, cols,
                                   limit=DETAIL_LIMIT if label == "seen" else TEXT_LIMIT))
    lines.append("")
    lines.append(summary_line(results, wall_s))
    return "\n".join(lines) + "\n"


def _wrap(text: str, first: str, rest: str, cols: int, *, limit: int = TEXT_LIMIT) -> list[str]:
    return textwrap.wrap(shown(" ".join(text.split()), limit), width=cols, initial_indent=first,
                         subsequent_indent=rest, break_on_hyphens=False, break_long_words=False) or [first.rstrip()]


def to_json(results: Sequence[CheckResult]) -> str:
    """One JSON array of result objects (id, status, target, summary, detail, hint, duration_ms). Texts over
    ``JSON_LIMIT`` characters are shortened; every control character is a JSON escape (``json`` escapes
    C0 itself, but leaves DEL and C1 controls such as CSI raw)."""
    items = [{k: shorten(v, JSON_LIMIT) if isinstance(v, str) else v for k, v in r.to_json().items()}
             for r in results]
    return json_controls_escaped(json.dumps(items, indent=2, ensure_ascii=False)) + "\n"
