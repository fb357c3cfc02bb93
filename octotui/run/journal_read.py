"""Reading a run's journal: its events (all, or as they come), the run's status, and the list of runs.

The journal (``runs/<id>/journal.jsonl``, its events described in ``octotui.run.journal``, which writes it) is
read by the progress views, ``attach``, ``runs`` and the log viewer, and by the runner itself when it resumes
a run. A reader never fails on what a crash leaves behind: a torn last line (and any line that does not
decode) is skipped, and a line still without its newline is kept back until it is complete.

A run's status comes from its last ``run_finished`` since its last ``run_started`` (a resumed run appends
another); without one, the run is ``running`` while a process executes it (it holds the run lock, or the
pid it recorded is still the same live process) and ``crashed`` when none does.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from octotui.errors import RUN_EXIT_CODES
from octotui.run.locks import run_lock_exists, run_lock_held
from octotui.run.store import list_run_dirs, process_alive, recorded_runner

JOURNAL = "journal.jsonl"
Event = dict[str, Any]
RunStatus = Literal["running", "done", "failed", "cancelled", "busy", "crashed"]
FINAL_STATUSES = ("done", "failed", "cancelled", "busy")


def _decode(line: bytes) -> Event | None:
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event


class JournalTail:
    """Reads a journal incrementally: ``poll()`` returns the complete events added since the last call.
    A line without its newline yet is kept back (it may still be being written, or torn by a crash)."""

    def __init__(self, run_dir: Path, *, after_seq: int = 0) -> None:
        self.path = run_dir / JOURNAL
        self._offset = 0
        self._partial = b""
        self.after_seq = after_seq

    def poll(self) -> list[Event]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        events = []
        for line in lines:
            event = _decode(line)
            if event is not None and int(event.get("seq", 0)) > self.after_seq:
                self.after_seq = int(event.get("seq", 0))
                events.append(event)
        return events


def read_events(run_dir: Path) -> list[Event]:
    """Every complete, decodable event of a run, in order."""
    return JournalTail(run_dir).poll()


def follow_events(run_dir: Path, *, stop_when: Collection[str] | Callable[[Event], bool] = ("run_finished",),
                  poll: float = 0.1, after_seq: int = 0, timeout: float | None = None,
                  liveness_every: float = 1.0) -> Iterator[Event]:
    """Yield the run's events as they are written, starting after ``after_seq``. Ends after yielding an
    event matching ``stop_when``, when ``timeout`` runs out, or when the runner is gone without finishing
    (status ``crashed``, checked every ``liveness_every`` seconds) so that a follower never hangs on a dead
    run; the caller asks ``run_status`` which it was."""
    stop: Callable[[Event], bool] = stop_when if callable(stop_when) else (lambda e: e["type"] in stop_when)
    tail = JournalTail(run_dir, after_seq=after_seq)
    deadline = None if timeout is None else time.monotonic() + timeout
    next_check = time.monotonic() + liveness_every
    while True:
        for event in tail.poll():
            yield event
            if stop(event):
                return
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if now >= next_check:
            next_check = now + liveness_every
            if run_status(run_dir) == "crashed":
                yield from tail.poll()
                return
        time.sleep(poll)


def last_run_started(events: Sequence[Event]) -> tuple[int, Event | None]:
    """Index and event of the latest ``run_started`` (a resumed run appends another)."""
    for i in range(len(events) - 1, -1, -1):
        if events[i]["type"] == "run_started":
            return i, events[i]
    return -1, None


def runner_alive(run_dir: Path, events: Sequence[Event] | None = None) -> bool:
    """Whether a process is executing the run: it holds the run lock, or (before it has taken the lock,
    or for a runner that takes none) the pid it recorded is still the same live process."""
    if run_lock_held(run_dir):
        return True
    events = read_events(run_dir) if events is None else events
    _, started = last_run_started(events)
    candidates: list[tuple[int, str | None]] = []
    recorded = recorded_runner(run_dir)
    if recorded:
        candidates.append(recorded)
    if started and isinstance(started.get("pid"), int) and not run_lock_exists(run_dir):
        candidates.append((started["pid"], started.get("pid_start")))
    return any(process_alive(pid, token) for pid, token in candidates)


def status_of(events: Sequence[Event], alive: bool) -> RunStatus:
    """The status from the events since the last ``run_started`` and whether the runner lives."""
    index, _ = last_run_started(events)
    for event in reversed(events[max(index, 0):]):
        if event["type"] == "run_finished":
            status = event.get("status")
            if status in FINAL_STATUSES:
                return status  # type: ignore[no-any-return]
            return "failed"
    return "running" if alive else "crashed"


def run_status(run_dir: Path) -> RunStatus:
    """running / done / failed / cancelled / busy / crashed (no ``run_finished`` and nobody executing it)."""
    events = read_events(run_dir)
    index, _ = last_run_started(events)
    if any(e["type"] == "run_finished" for e in events[max(index, 0):]):
        return status_of(events, alive=False)
    return status_of(events, runner_alive(run_dir, events))


@dataclass(frozen=True)
class RunSummary:
    """One line of ``octotui runs``."""

    id: str
    path: Path
    started: float | None
    finished: float | None
    status: RunStatus
    mode: str | None
    nodes: tuple[str, ...]
    exit_code: int | None


def summarize_run(run_dir: Path) -> RunSummary:
    events = read_events(run_dir)
    _, started = last_run_started(events)
    first = next((e for e in events if e["type"] == "run_started"), None)
    finished = next((e for e in reversed(events) if e["type"] == "run_finished"), None)
    status = run_status(run_dir)
    if status in ("running", "crashed"):
        finished = None
    exit_code = finished.get("exit_code") if finished else None
    if status == "crashed":
        exit_code = int(RUN_EXIT_CODES["crashed"])
    return RunSummary(
        id=run_dir.name, path=run_dir,
        started=first.get("ts") if first else None,
        finished=finished.get("ts") if finished else None,
        status=status,
        mode=started.get("mode") if started else None,
        nodes=tuple(str(n) for n in (started.get("nodes") or ())) if started else (),
        exit_code=exit_code,
    )


def list_runs(home: Path) -> list[RunSummary]:
    """Every run under ``home``, oldest first."""
    out = []
    for d in list_run_dirs(home):
        with contextlib.suppress(OSError):
            out.append(summarize_run(d))
    return out


def latest_run(home: Path) -> Path | None:
    """The newest run folder, or ``None`` when there is none."""
    dirs = list_run_dirs(home)
    return dirs[-1] if dirs else None
