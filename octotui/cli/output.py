"""What the ``octotui`` command writes to the terminal besides a command's own output: errors and notes.

One printer for every command, so an error always reads ``octotui: <message>`` (and its hint) on stderr.
Messages embed untrusted values (answers, paths, node output): as a last safety net, control characters are
escaped and long lines shortened here (``octotui.textsafe``).
"""

from __future__ import annotations

import sys

from octotui.errors import OctotuiError


def err(message: str) -> None:
    """``octotui: <message>`` on stderr, safe for a terminal."""
    from octotui.textsafe import safe_message

    print(f"octotui: {safe_message(message)}", file=sys.stderr)


def note(message: str) -> None:
    """A line for the person at the terminal (what started, where its log is), on stderr: stdout carries
    the command's output (a plan, a script, JSON)."""
    print(message, file=sys.stderr)


def report_error(exc: OctotuiError) -> int:
    """Say what ended a command and return its exit code: every problem of an answers file (one per
    paragraph, each naming its key and fix), else the message and its hint."""
    from octotui.spec.answers import AnswersError, format_problems

    if isinstance(exc, AnswersError):
        print(format_problems(exc), file=sys.stderr)
    else:
        err(str(exc))
    return int(exc.exit_code)
