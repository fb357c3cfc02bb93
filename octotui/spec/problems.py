"""What is wrong with an answers file, as values: each ``Problem`` names its key the way a user finds it
(``nodes[2].home``: the second ``[[nodes]]`` table, counting from 1), says what is wrong and what to write
instead. The reader collects them, the wizard shows each at its field, the CLI prints them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from octotui.errors import BadInput
from octotui.textsafe import safe_message, shown

#: How many problems ``format_problems`` lists (a generated file can hold thousands of the same mistake).
PROBLEMS_SHOWN = 50
#: How much of a key a problem shows (a quoted TOML key can be any text, of any length).
KEY_LIMIT = 80


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str = ""


class AnswersError(BadInput):
    """Every problem found in one answers file, as values (``problems``: the wizard shows each at its field).
    A ``BadInput``, so it ends a command with exit 2; the CLI prints ``format_problems(err)`` for it."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"{len(self.problems)} problem(s){where}: "
                         + "; ".join(f"{p.key}: {p.message}" for p in self.problems))


def format_problems(err: AnswersError) -> str:
    """Human-readable, one problem per paragraph, each naming the key and the fix; at most
    ``PROBLEMS_SHOWN`` of them, every text safe for a terminal (see ``octotui.textsafe``)."""
    count = len(err.problems)
    head = f"{shown(err.source)}: " if err.source else ""
    lines = [f"{head}{count} problem{'s' if count != 1 else ''} in the answers file:"]
    for p in err.problems[:PROBLEMS_SHOWN]:
        lines.append(f"  {shown(p.key, KEY_LIMIT)}: {safe_message(p.message)}")
        if p.fix:
            lines.append(f"      fix: {safe_message(p.fix)}")
    if count > PROBLEMS_SHOWN:
        lines.append(f"  ... and {count - PROBLEMS_SHOWN} more: fix these first, then check the file again")
    return "\n".join(lines)
