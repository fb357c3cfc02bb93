"""The one result type every check returns, so that the CLI, the TUI and the plan read them alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """``id`` is stable (``sql.connect``, ``winrm.reach:OCTO1``); ``summary`` is one line a user reads first;
    ``detail`` is what was seen; ``hint`` says what to do about it (empty when nothing is to be done)."""

    id: str
    status: Status
    target: str
    summary: str
    detail: str = ""
    hint: str = ""
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


class CheckFailure(Exception):
    """A check's body found something the user must act on: raised from deep in a body (a DNS lookup, a
    bind), caught where the body becomes a ``CheckResult``; it carries that result's text."""

    def __init__(self, summary: str, detail: str = "", hint: str = "", status: Status = "fail") -> None:
        super().__init__(summary)
        self.summary, self.detail, self.hint, self.status = summary, detail, hint, status
