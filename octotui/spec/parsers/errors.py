"""The one error type every parser raises, so that callers can attach it to a key without knowing the parser."""

from __future__ import annotations

import datetime

from octotui.textsafe import safe_message, shown


class ParseError(ValueError):
    """``message`` says what is wrong with the value; ``fix`` says what to write instead (may be empty).

    Parsers embed the values they refuse through ``octotui.textsafe.shown``; as a safety net for one that
    does not, both texts are made safe here too (control characters escaped, long lines shortened)."""

    def __init__(self, message: str, fix: str = "") -> None:
        message, fix = safe_message(message), safe_message(fix)
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


def written(value: object) -> str:
    """A value that is not what a key takes, as the user wrote it (in TOML terms, never a Python type name):
    ``'ten'``, ``true``, ``10.5``, ``a list``, ``a table``, ``a date or time``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{shown(value)}'"
    if isinstance(value, int | float):
        return shown(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date or time"
    return "nothing" if value is None else "a value of another kind"
