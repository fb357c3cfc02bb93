"""The one error type every parser raises, so that callers can attach it to a key without knowing the parser."""

from __future__ import annotations


class ParseError(ValueError):
    """``message`` says what is wrong with the value; ``fix`` says what to write instead (may be empty)."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message
