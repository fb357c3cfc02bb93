"""Untrusted text made safe to show: control characters escaped, long values shortened.

Why: values from an answers file (perhaps written by someone else) and output from a node end up in our
messages. A value holding ESC, BEL, CR or NUL, echoed as it is, drives the terminal that shows it (moves the
cursor, rewrites the line, changes the window title, hides what came before); a 1 MB value echoed whole buries
the message around it. Every message that embeds such a value passes it through ``shown`` (one value) or, as
a last safety net where whole messages reach the terminal, ``safe_message``.

Escapes stay readable: ``\\x1b``, ``\\r``, ``\\n``, ``\\t``, ``\\x00``, ``\\x9b``, ``\\u202e``. Backslashes
are left alone, so a Windows path still reads as one.
"""

from __future__ import annotations

import re

#: What ``shown`` keeps of a value, in characters, before it shortens it.
VALUE_LIMIT = 200
#: What ``safe_message`` keeps of one line of a message.
LINE_LIMIT = 1000
#: How many lines of a message ``safe_message`` keeps.
MAX_LINES = 200

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls, DEL, C1 controls, and the Unicode characters that break or reorder a line on display
# (line/paragraph separators, bidirectional embeddings, overrides and isolates).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same less C0, which ``json.dumps`` escapes in strings itself (raw ones are its own line breaks).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep: str = "") -> str:
    """``text`` with every control character written as a visible escape; characters in ``keep`` (e.g.
    ``"\\n"`` for multi-line text) stay as they are."""
    if keep:
        return "".join(escape_controls(part) if i % 2 == 0 else part
                       for i, part in enumerate(re.split(f"([{re.escape(keep)}])", text)))
    return _CONTROL.sub(_escape, text)


def json_controls_escaped(text: str) -> str:
    """JSON text (from ``json.dumps``) with the control characters ``json`` leaves raw (DEL, C1, line
    separators, bidirectional controls: only ever inside strings) written as ``\\uXXXX`` escapes: the same
    value for a program, nothing for a terminal to act on."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def has_controls(text: str) -> bool:
    """Does ``text`` hold a character that ``escape_controls`` would escape?"""
    return _CONTROL.search(text) is not None


def shorten(text: str, limit: int = VALUE_LIMIT) -> str:
    """``text`` unchanged when at most ``limit`` characters, else its head and tail around a marker giving
    the whole length: ``abc…[1048576 characters in all]…xyz``."""
    if len(text) <= limit:
        return text
    keep = max(2, limit - 30)
    head = keep - keep // 3
    tail = keep - head
    return f"{text[:head]}…[{len(text)} characters in all]…{text[len(text) - tail:]}"


def shown(value: object, limit: int = VALUE_LIMIT) -> str:
    """One untrusted value as it may appear in a message: shortened to about ``limit`` characters (head and
    tail, with the full length), every control character escaped."""
    text = value if isinstance(value, str) else str(value)
    return escape_controls(shorten(text, limit))


def safe_message(text: str, *, line_limit: int = LINE_LIMIT, max_lines: int = MAX_LINES) -> str:
    """A whole message, possibly of several lines, as it may reach a terminal: control characters other
    than newline escaped, each line shortened to ``line_limit`` and at most ``max_lines`` lines kept."""
    lines = text.split("\n")
    more = len(lines) - max_lines
    if more > 0:
        lines = lines[:max_lines]
    out = [shown(line, line_limit) for line in lines]
    if more > 0:
        out.append(f"… ({more} more line{'s' if more != 1 else ''} not shown)")
    return "\n".join(out)
