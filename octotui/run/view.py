"""A run's journal folded per step, for a display that lists every step of every node.

``octotui.run.progress.RunProgress`` folds the journal per node (what ``apply`` prints); a step list needs each
step's own state and timing: waiting, running, done (changed or unchanged), failed, or skipped (the run
ended before it). Like ``RunProgress`` it is computed from events only, so a display that starts late, or
attaches to a run started elsewhere, shows the same thing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octotui.run.progress import RunProgress, clean_text

#: Live output lines kept per node for display (the whole output is in the step logs).
KEEP_LINES = 400


@dataclass
class StepRow:
    node: str
    step: str
    title: str
    state: str = "waiting"  # waiting | running | changed | unchanged | failed | skipped
    started: float | None = None
    duration_ms: int | None = None
    identity: str = ""
    error: str = ""
    hint: str = ""


@dataclass
class RunView:
    progress: RunProgress = field(default_factory=RunProgress)
    rows: dict[tuple[str, str], StepRow] = field(default_factory=dict)
    output: dict[str, deque[str]] = field(default_factory=dict)
    waiting_for_key: bool = False
    key_confirmed: bool = False
    events_seen: int = 0

    def apply(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """Fold one event; returns new output lines as (node, line)."""
        self.events_seen += 1
        self.progress.apply(event)
        kind = event.get("type")
        node, step = str(event.get("node", "")), str(event.get("step", ""))
        ts = event.get("ts") if isinstance(event.get("ts"), int | float) else None
        new: list[tuple[str, str]] = []
        if kind == "run_started":
            plan = event.get("plan") or {}
            self.rows = {}
            self.waiting_for_key = False
            for name, steps in (plan.items() if isinstance(plan, dict) else []):
                for item in steps if isinstance(steps, list) else []:
                    if isinstance(item, dict):
                        sid = str(item.get("step", ""))
                        self.rows[(str(name), sid)] = StepRow(str(name), sid, str(item.get("title", "")))
        elif kind == "step_started":
            row = self._row(node, step, str(event.get("title", "")))
            row.state, row.started, row.error, row.hint = "running", ts, "", ""
            row.identity = str(event.get("identity", ""))
        elif kind == "step_done":
            row = self._row(node, step)
            row.state = "changed" if event.get("changed") else "unchanged"
            row.duration_ms = int(event.get("duration_ms") or 0)
        elif kind == "step_failed":
            row = self._row(node, step)
            row.state = "failed"
            row.error, row.hint = str(event.get("error", "")), str(event.get("hint", ""))
            if event.get("duration_ms") is not None:
                row.duration_ms = int(event.get("duration_ms") or 0)
            elif row.started is not None and ts is not None:
                row.duration_ms = int((ts - row.started) * 1000)
        elif kind == "step_output":
            lines = [clean_text(x) for x in str(event.get("text", "")).splitlines()]
            buf = self.output.setdefault(node, deque(maxlen=KEEP_LINES))
            for line in lines:
                if line:
                    buf.append(line)
                    new.append((node, line))
        elif kind == "master_key_waiting":
            self.waiting_for_key = True
        elif kind == "master_key_confirmed":
            self.waiting_for_key, self.key_confirmed = False, True
        elif kind == "run_finished":
            self.waiting_for_key = False
            for row in self.rows.values():
                if row.state in ("waiting", "running"):
                    row.state = "skipped"
        return new

    def _row(self, node: str, step: str, title: str = "") -> StepRow:
        if (node, step) not in self.rows:
            self.rows[(node, step)] = StepRow(node, step, title)
        return self.rows[(node, step)]

    @property
    def finished(self) -> bool:
        return self.progress.final_status is not None

    def totals(self) -> tuple[int, int]:
        """(steps finished, steps planned)."""
        done = sum(1 for r in self.rows.values() if r.state in ("changed", "unchanged", "failed", "skipped"))
        return done, len(self.rows)

    def failures(self) -> list[StepRow]:
        return [r for r in self.rows.values() if r.state == "failed"]

    def running(self) -> list[StepRow]:
        return [r for r in self.rows.values() if r.state == "running"]


def step_log_tail(run_dir: Path, node: str, step: str, lines: int = 12) -> list[str]:
    """The last lines of a step's log (already redacted by the runner)."""
    from octotui.run.store import safe_component

    path = Path(run_dir) / safe_component(node) / f"{safe_component(step)}.log"
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    out = [clean_text(x) for x in text.splitlines()]
    return [x for x in out if x][-lines:]


def step_log_path(run_dir: Path, node: str, step: str) -> Path:
    from octotui.run.store import safe_component

    return Path(run_dir) / safe_component(node) / f"{safe_component(step)}.log"
