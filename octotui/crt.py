"""How the Microsoft C runtime reads an escaped argument: the one statement of that rule.

Two layers need it: the Windows quoting that builds command lines (``octotui.windows.quoting``), and the
redactor below it, which must recognise a secret in the form it takes inside a quoted argument. Keeping the
rule at the bottom lets both import it, so the two can never drift apart.
"""

from __future__ import annotations


def crt_escape(value: str, *, closing_quote: bool) -> str:
    """``value`` as the C runtime needs it written: every ``"`` as ``\\"`` with the backslashes before it
    doubled, and trailing backslashes doubled when a closing quote follows (elsewhere they are literal)."""
    out: list[str] = []
    backslashes = 0
    for c in value:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + c)
        backslashes = 0
    out.append("\\" * (2 * backslashes if closing_quote else backslashes))
    return "".join(out)
