"""A labelled input with a mark and a one-line reason beside it: syntax at once, live checks as they come.

The field holds no rule of its own: the screen gives it the problems the engine found for its value
(``octotui.spec.writer.field_problems``) and the results of the engine's checks (``CheckResult``); the
field only shows them. The mark is the worst of all: a syntax problem or a failed check is ``fail``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from octotui.screens.widgets.glyphs import glyph
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:  # annotations only: the wizard's first screen does not wait for the engine's parser
    from octotui.checks.result import CheckResult
    from octotui.spec.answers import Problem

_ORDER = {"none": 0, "skip": 1, "pass": 2, "pending": 3, "warn": 4, "fail": 5}


def field_id(key: str) -> str:
    """A widget id for an answers key (``nodes[2].home`` -> ``f-nodes-2--home``)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


class ValidatedField(Vertical):
    """``key`` is the answers path (``winrm.username``) or ``secret:<name>`` for a secret held in memory."""

    DEFAULT_CSS = """
    ValidatedField { height: auto; margin: 0 0 0 0; }
    ValidatedField > Horizontal { height: auto; }
    ValidatedField .field-label { width: 20; padding: 1 1 0 0; }
    ValidatedField Input { width: 1fr; }
    ValidatedField .field-mark { width: 3; padding: 1 0 0 1; }
    ValidatedField .field-reason { height: auto; min-height: 1; max-height: 3; padding: 0 0 0 20; color: $text-muted; }
    ValidatedField.-fail .field-reason, ValidatedField.-fail .field-mark { color: $error; }
    ValidatedField.-warn .field-reason, ValidatedField.-warn .field-mark { color: $warning; }
    ValidatedField.-pass .field-mark { color: $success; }
    """

    def __init__(self, key: str, label: str, value: str = "", *, password: bool = False, placeholder: str = "",
                 help_text: str = "", ascii_only: bool = False, restrict: str | None = None) -> None:
        super().__init__(id=field_id(key))
        self.key = key
        self.label = label
        self._value = value
        self.password = password
        self.placeholder = placeholder
        self.help_text = help_text
        self.ascii_only = ascii_only
        self.restrict = restrict
        self.syntax: list[Problem] = []
        self.results: dict[str, CheckResult] = {}
        self.pending: set[str] = set()
        self.state = "none"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="field-label", markup=False)
            yield Input(self._value, placeholder=self.placeholder, password=self.password, id=self.id + "-in",
                        restrict=self.restrict, select_on_focus=False)
            yield Static(glyph("none", self.ascii_only), classes="field-mark", markup=False)
        yield Static("", classes="field-reason", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        try:
            return self.input.value
        except Exception:
            return self._value

    # --- what the screen tells it --------------------------------------------------------------------
    def set_syntax(self, problems: Iterable[Problem]) -> None:
        self.syntax = list(problems)
        if self.syntax:
            self.results.clear()
            self.pending.clear()
        self._refresh()

    def start_checks(self, ids: Iterable[str]) -> None:
        self.results.clear()
        self.pending = set(ids)
        self._refresh()

    def clear_checks(self) -> None:
        self.results.clear()
        self.pending.clear()
        self._refresh()

    def add_results(self, results: Iterable[CheckResult]) -> None:
        for r in results:
            self.results[r.id] = r
            self.pending.discard(r.id)
        self._refresh()

    # --- what it shows -------------------------------------------------------------------------------
    def worst(self) -> tuple[str, str]:
        if self.syntax:
            p = self.syntax[0]
            return "fail", p.message + (f" ({p.fix})" if p.fix else "")
        state, reason = ("pending", "checking…") if self.pending else ("none", "")
        for r in self.results.values():
            if _ORDER[r.status] > _ORDER[state] or (state in ("none", "pass") and r.status == "pass" and not reason):
                state, reason = r.status, r.summary
        if state == "skip" and not reason:
            reason = next((r.summary for r in self.results.values()), "")
        return state, reason

    def _refresh(self) -> None:
        state, reason = self.worst()
        self.state = state
        for cls in ("-fail", "-warn", "-pass", "-pending"):
            self.remove_class(cls)
        if state in ("fail", "warn", "pass", "pending"):
            self.add_class(f"-{state}")
        try:
            self.query_one(".field-mark", Static).update(glyph(state, self.ascii_only))
            self.query_one(".field-reason", Static).update(_one_line(reason))
        except Exception:
            pass

    def detail(self) -> str:
        """Everything known about this field, for the detail dialog."""
        lines = [f"{self.label} ({self.key})"]
        if self.help_text:
            lines += ["", self.help_text]
        for p in self.syntax:
            lines += ["", f"Problem: {p.message}"] + ([f"Fix: {p.fix}"] if p.fix else [])
        for r in self.results.values():
            lines += ["", f"[{r.status}] {r.id}: {r.summary}"]
            if r.target:
                lines.append(f"  target: {r.target}")
            if r.detail:
                lines.append(f"  seen: {r.detail}")
            if r.hint:
                lines.append(f"  do: {r.hint}")
        for pending in sorted(self.pending):
            lines += ["", f"[running] {pending}"]
        return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())
