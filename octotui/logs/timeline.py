"""Which install step was running on a node when a log line was written.

lnav can merge files by time; it cannot say that the ERROR in a node's ``OctopusServer.txt`` at 10:31:02
was written while octotui ran that node's ``database`` step. The run's journal knows when each step of
each node started and ended; a node's log line knows when it was written (in the node's local time,
turned into Unix time with the node's UTC offset, which ``list-files`` reports). Put together, a line
points at its step, and a step at the lines written while it ran.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StepSpan:
    node: str
    step: str
    title: str
    start: float  # Unix time
    end: float | None  # None: still running (or the run died in it)
    state: str  # running | done | failed


class RunTimeline:
    """Every step's time span per node, from a run's journal events."""

    def __init__(self, events: Iterable[dict[str, Any]], run_id: str = "") -> None:
        self.run_id = run_id
        open_steps: dict[tuple[str, str], tuple[str, float]] = {}
        spans: dict[str, list[StepSpan]] = {}
        for event in events:
            kind = event.get("type")
            ts = event.get("ts")
            node, step = event.get("node"), event.get("step")
            if not isinstance(ts, int | float) or not isinstance(node, str) or not isinstance(step, str):
                if kind == "run_finished" and isinstance(ts, int | float):
                    for (n, s), (title, start) in open_steps.items():
                        spans.setdefault(n, []).append(StepSpan(n, s, title, start, float(ts), "failed"))
                    open_steps.clear()
                continue
            if kind == "step_started":
                open_steps[(node, step)] = (str(event.get("title", "")), float(ts))
            elif kind in ("step_done", "step_failed") and (node, step) in open_steps:
                title, start = open_steps.pop((node, step))
                state = "done" if kind == "step_done" else "failed"
                spans.setdefault(node, []).append(StepSpan(node, step, title, start, float(ts), state))
        for (node, step), (title, start) in open_steps.items():
            spans.setdefault(node, []).append(StepSpan(node, step, title, start, None, "running"))
        self.spans = {node: sorted(items, key=lambda s: s.start) for node, items in spans.items()}
        self._starts = {node: [s.start for s in items] for node, items in self.spans.items()}

    @classmethod
    def of_run(cls, run_dir: Path) -> RunTimeline:
        from octotui.logs.sources import journal_events

        return cls(journal_events(Path(run_dir)), Path(run_dir).name)

    @property
    def nodes(self) -> list[str]:
        return sorted(self.spans)

    def step_at(self, node: str, when: float, slack: float = 1.0) -> StepSpan | None:
        """The step of ``node`` running at Unix time ``when`` (``slack`` seconds either side, for a clock
        that is a little off and for what a step's command logs just after it returns)."""
        key = next((n for n in self.spans if n.lower() == node.lower()), None)
        if key is None:
            return None
        items, starts = self.spans[key], self._starts[key]
        i = bisect.bisect_right(starts, when + slack) - 1
        while i >= 0:
            span = items[i]
            if span.end is None or when <= span.end + slack:
                return span
            if span.end + slack < when:
                return None
            i -= 1
        return None

    def span_of(self, node: str, step: str) -> StepSpan | None:
        key = next((n for n in self.spans if n.lower() == node.lower()), None)
        for span in self.spans.get(key or "", []):
            if span.step == step:
                return span
        return None
