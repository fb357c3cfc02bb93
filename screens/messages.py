"""Typed messages from background workers to the screens (workers never touch widgets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from octotui.checks.result import CheckResult


class ChecksStarted(Message):
    """A screen's live checks started for generation ``token`` on these fields."""

    def __init__(self, token: int, fields: list[str]) -> None:
        super().__init__()
        self.token = token
        self.fields = fields


class CheckDone(Message):
    """Results of one live check for one field, from generation ``token`` (older ones are ignored)."""

    def __init__(self, token: int, field: str, results: list[CheckResult]) -> None:
        super().__init__()
        self.token = token
        self.field = field
        self.results = results


class RunEvents(Message):
    """A batch of journal events read from the run (in order)."""

    def __init__(self, events: list[dict[str, Any]], status: str) -> None:
        super().__init__()
        self.events = events
        self.status = status


class TaskDone(Message):
    """A one-shot background task finished: ``name`` says which, ``value`` its result or ``error`` why not."""

    def __init__(self, name: str, value: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.name = name
        self.value = value
        self.error = error
