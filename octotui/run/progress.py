"""The live per-node progress display of ``apply`` and ``attach``, for a plain terminal.

Everything is computed from journal events, so the display can start late, restart, or run on a recorded
journal in a test and show the same thing. On a terminal the block of lines is redrawn in place (ANSI
cursor movement); elsewhere (CI logs, a pipe) each milestone is one appended line, since cursor movement
there would only leave garbage.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from octotui.errors import ExitCode
from octotui.run.cancel import request_cancel
from octotui.run.journal import Event, JournalTail, run_status
from octotui.textsafe import LINE_LIMIT, shown

# Whole escape sequences a tool writes for looks: colours and cursor moves (CSI), window titles and
# hyperlinks (OSC). Dropped; any other control character is shown escaped (``octotui.textsafe``).
_ANSI_RE = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, terminated
                      r"|\x1b\[[0-?]*[ -/]*[@-~]")  # CSI
_COLORS = {"done": "32", "running": "36", "failed": "31", "stopped": "33", "waiting": "2", "cancel": "33"}
EXIT_FAILED, EXIT_CANCELLED = 1, 3


def clean_text(text: str, limit: int = LINE_LIMIT) -> str:
    """Output or an error from a node as one line that cannot drive the terminal: colour and title
    sequences dropped, every other control character (ESC, BEL, CR, NUL, a newline ...) shown escaped
    (``\\x1b``, ``\\r``), tabs as spaces, and at most ``limit`` characters (head and tail)."""
    return shown(_ANSI_RE.sub("", text.replace("\t", " ")).strip(), limit)


def _label(value: object) -> str:
    """A node name, step id or run id from the journal, safe to print."""
    return shown(str(value), 80)


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class NodeProgress:
    name: str
    steps: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    changed: int = 0
    current: str | None = None
    started: float | None = None
    last_ts: float | None = None
    last_output: str = ""
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    retries: int = 0  # steps run again after a transport fault

    @property
    def total(self) -> int:
        return max(len(self.steps), len(self.done))

    def state(self, run_final: str | None) -> str:
        if self.failures:
            return "failed"
        if self.total and len(self.done) >= self.total and self.current is None:
            return "done"
        if run_final == "done":
            return "done"
        if run_final is not None:
            return "stopped" if self.started is not None else "not run"
        return "running" if self.current is not None else "waiting"


@dataclass
class RunProgress:
    """What the journal says so far, folded event by event (``apply``)."""

    run_id: str = ""
    mode: str = ""
    started: float | None = None
    nodes: dict[str, NodeProgress] = field(default_factory=dict)
    cancel_requested: bool = False
    final_status: str | None = None
    exit_code: int | None = None
    message: str = ""
    #: What to do about how the run ended (a busy cluster: how to follow the holder or take over).
    hint: str = ""
    notes: list[str] = field(default_factory=list)
    last_ts: float | None = None
    #: Set when the master key read from the first node was NOT stored: what to tell the administrator.
    master_key_warning: list[str] = field(default_factory=list)

    def node(self, name: str) -> NodeProgress:
        if name not in self.nodes:
            self.nodes[name] = NodeProgress(name)
        return self.nodes[name]

    def apply(self, event: Event) -> None:
        kind = event.get("type")
        ts = event.get("ts") if isinstance(event.get("ts"), int | float) else None
        self.last_ts = ts or self.last_ts
        name = _label(event.get("node", ""))
        step = _label(event.get("step", ""))
        if kind == "run_started":
            self._start(event, ts)
        elif kind == "step_started":
            node = self.node(name)
            node.current = step
            node.titles.setdefault(step, clean_text(str(event.get("title", ""))))
            if step not in node.steps:
                node.steps.append(step)
            node.started = node.started if node.started is not None else ts
            node.last_ts = ts
        elif kind == "step_output":
            lines = [clean_text(x) for x in str(event.get("text", "")).splitlines()]
            lines = [x for x in lines if x]
            if lines:
                self.node(name).last_output = lines[-1]
        elif kind in ("step_done", "step_failed"):
            node = self.node(name)
            node.last_ts = ts
            if node.current == step:
                node.current = None
            if kind == "step_done":
                node.done.add(step)
                node.changed += bool(event.get("changed"))
            else:
                node.failures.append((step, str(event.get("error", "")), str(event.get("hint", ""))))
        elif kind == "note":
            prefix = f"{name}: " if name else ""
            self.notes.append(prefix + clean_text(str(event.get("text", ""))))
        elif kind == "step_retried":
            self.node(name).retries += 1
            of = f" of {event['attempts']}" if event.get("attempts") else ""
            self.notes.append(f"{name}: {step} was cut off ({clean_text(str(event.get('cause', '')))}); running it "
                              f"again from its read (attempt {event.get('attempt', '?')}{of})")
        elif kind == "master_key_stored":
            self.notes.append(f"master key read from {name or 'the first node'} and stored in "
                              f"{clean_text(str(event.get('where', '?')))}; back it up somewhere safe as well")
        elif kind == "master_key_not_stored":
            self.master_key_warning = [
                f"WARNING: the master key read from {name or 'the first node'} was NOT stored: "
                f"{clean_text(str(event.get('reason', '')))}.",
                f"Record it now, before that node is lost: {clean_text(str(event.get('hint', '')))}"]
        elif kind == "cancel_requested":
            self.cancel_requested = True
        elif kind == "run_finished":
            self.final_status = str(event.get("status", "failed"))
            code = event.get("exit_code")
            self.exit_code = code if isinstance(code, int) else EXIT_FAILED
            self.message = clean_text(str(event.get("message", "")))
            self.hint = clean_text(str(event.get("hint", "") or ""))

    def _start(self, event: Event, ts: float | None) -> None:
        self.run_id = _label(event.get("run_id", self.run_id))
        self.mode = _label(event.get("mode", ""))
        self.started = ts if self.started is None else self.started
        self.nodes, self.cancel_requested, self.final_status, self.exit_code = {}, False, None, None
        plan = event.get("plan") or {}
        names = list(event.get("nodes") or plan)
        for name in names:
            node = self.node(_label(name))
            for item in plan.get(name, []) if isinstance(plan, dict) else []:
                sid, title = (item.get("step"), item.get("title", "")) if isinstance(item, dict) else (item, "")
                node.steps.append(_label(sid))
                node.titles[_label(sid)] = clean_text(str(title))


def fold(events: Iterable[Event]) -> RunProgress:
    progress = RunProgress()
    for event in events:
        progress.apply(event)
    return progress


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _paint(text: str, code: str | None, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def render(progress: RunProgress, *, width: int = 100, color: bool = False, now: float | None = None) -> list[str]:
    """The display as lines, each at most ``width`` visible characters."""
    now = now if now is not None else (progress.last_ts if progress.final_status else time.time())
    run_state = progress.final_status or ("stopping" if progress.cancel_requested else "running")
    elapsed = fmt_duration((now or 0) - progress.started) if progress.started is not None else "-"
    head = f"Run {progress.run_id or '?'}" + (f"  {progress.mode}" if progress.mode else "")
    lines = [_fit(f"{head}  {run_state}  {elapsed}", width)]
    name_w = max((len(n) for n in progress.nodes), default=4)
    for node in progress.nodes.values():
        state = node.state(progress.final_status)
        end = node.last_ts if state in ("done", "failed", "stopped") else now
        took = fmt_duration((end or 0) - node.started) if node.started is not None else "-"
        parts = [f"  {node.name:<{name_w}}", f"{state:<8}", f"{len(node.done)}/{node.total}", f"{took:>6}"]
        if node.current:
            title = node.titles.get(node.current) or ""
            parts.append(f"{node.current}" + (f": {title}" if title else ""))
            if node.last_output:
                parts.append(f"> {node.last_output}")
        plain = _fit("  ".join(parts), width)
        at = len(parts[0]) + 2
        if color and len(plain) >= at + len(state):
            plain = plain[:at] + _paint(state, _COLORS.get(state), True) + plain[at + len(state):]
        lines.append(plain)
        for step, error, hint in node.failures:
            lines.append(_paint(_fit(f"      {step} failed: {clean_text(error)}", width), "31", color))
            if hint:
                lines.append(_fit(f"      hint: {clean_text(hint)}", width))
    for note in progress.notes[-3:]:
        lines.append(_fit(f"  note: {note}", width))
    for text in progress.master_key_warning:  # stays on screen: the one secret whose loss cannot be undone
        for part in textwrap.wrap(text, max(20, width - 4), break_on_hyphens=False):
            lines.append(_paint(f"  {part}", "33", color))
    if progress.cancel_requested and not progress.final_status:
        lines.append(_paint(_fit("  stop requested: the run stops at the next safe point", width), "33", color))
    if progress.final_status == "busy":  # the whole refusal matters (who holds it, how to take over): wrap it
        lines += textwrap.wrap(final_message(progress), max(20, width))
        if progress.hint:
            lines += textwrap.wrap(f"hint: {progress.hint}", max(20, width), initial_indent="  ",
                                   subsequent_indent="    ")
    elif progress.final_status:
        lines.append(_fit(final_message(progress), width))
    return lines


def render_progress(events: Iterable[Event], *, width: int = 100, color: bool = False,
                    now: float | None = None) -> list[str]:
    """Lines for a plain terminal from a list of events (recorded or live)."""
    return render(fold(events), width=width, color=color, now=now)


def final_message(progress: RunProgress) -> str:
    status, code = progress.final_status, progress.exit_code
    extra = f": {progress.message}" if progress.message else ""
    if status == "done":
        return f"Done (exit {code}){extra}"
    if status == "cancelled":
        return (f"Cancelled at a safe point (exit {code}){extra}; `octotui apply` again (or --resume "
                f"{progress.run_id}) continues")
    if status == "busy":
        return f"Not started (exit {code}){extra}"
    failed = [(n.name, s, e) for n in progress.nodes.values() for s, e, _ in n.failures]
    where = f" ({', '.join(f'{n} {s}' for n, s, _ in failed)})" if failed else ""
    return f"Failed{where} (exit {code}){extra}; fix the cause, then `octotui apply` again to continue"


def describe(event: Event, progress: RunProgress) -> list[str]:
    """One appended line (or two) per milestone, for logs; ``progress`` already includes ``event``."""
    kind = event.get("type")
    name, step = _label(event.get("node", "")), _label(event.get("step", ""))
    if kind == "run_started":
        nodes = ", ".join(progress.nodes)
        return [f"Run {progress.run_id} started ({progress.mode}; nodes: {nodes})"]
    if kind == "step_started":
        node = progress.node(name)
        index = node.steps.index(step) + 1 if step in node.steps else len(node.done) + 1
        title = clean_text(str(event.get("title", "")))
        return [f"{name}  [{index}/{node.total}] {step}" + (f": {title}" if title else "")]
    if kind == "step_done":
        took = int(event.get("duration_ms", 0) or 0) / 1000
        return [f"{name}  {step} {'changed' if event.get('changed') else 'already as wanted'} ({took:.1f} s)"]
    if kind == "step_failed":
        lines = [f"{name}  {step} FAILED: {clean_text(str(event.get('error', '')))}"]
        if event.get("hint"):
            lines.append(f"{name}  hint: {clean_text(str(event['hint']))}")
        return lines
    if kind in ("note", "master_key_stored", "step_retried"):
        return [f"note: {progress.notes[-1]}"] if progress.notes else []
    if kind == "master_key_not_stored":
        return list(progress.master_key_warning)
    if kind == "cancel_requested":
        return ["Stop requested: the run stops at the next safe point"]
    if kind == "run_finished":
        hint = [f"hint: {progress.hint}"] if progress.final_status == "busy" and progress.hint else []
        return [*progress.master_key_warning, final_message(progress), *hint]
    return []


class LiveProgress:
    """Follows a run's journal and shows its progress until ``run_finished``; ``run()`` returns the exit
    code. The first Ctrl+C asks the run to stop at a safe point (and says so); a second one stops watching,
    leaving the run to finish stopping in the background."""

    def __init__(self, run_dir: Path, *, out: TextIO | None = None, tty: bool | None = None,
                 color: bool | None = None, width: int | None = None, poll: float = 0.1,
                 redraw_every: float = 0.5, handle_sigint: bool = True,
                 clock: Callable[[], float] = time.time, after_seq: int = 0) -> None:
        self.run_dir = run_dir
        #: Follow only events after this one: a resumed run appends to a journal that already ended once.
        self.after_seq = after_seq
        self.out = out if out is not None else sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.color = (self.tty and "NO_COLOR" not in os.environ) if color is None else color
        self._width = width
        self.poll = poll
        self.redraw_every = redraw_every
        self.handle_sigint = handle_sigint
        self.clock = clock
        self.progress = RunProgress(run_id=run_dir.name)
        self._interrupts = 0
        self._handled_interrupts = 0
        self._cancel_sent = False
        self._drawn = 0
        self._lock = threading.Lock()

    @property
    def width(self) -> int:
        if self._width is not None:
            return self._width
        return max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def interrupt(self) -> None:
        """What Ctrl+C does; safe to call from a signal handler or another thread."""
        with self._lock:
            self._interrupts += 1

    def _say(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def _redraw(self) -> None:
        lines = render(self.progress, width=self.width, color=self.color, now=self.clock())
        buf = f"\x1b[{self._drawn}F" if self._drawn else ""
        buf += "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J"
        self.out.write(buf)
        self.out.flush()
        self._drawn = len(lines)

    def _print_above(self, lines: Sequence[str]) -> None:
        if self.tty and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0
        self._say(lines)

    def _take_interrupts(self) -> bool:
        """Act on pending Ctrl+C presses; True means stop watching."""
        with self._lock:
            pending, self._handled_interrupts = self._interrupts - self._handled_interrupts, self._interrupts
        if pending and not self._cancel_sent:
            self._cancel_sent = True
            pending -= 1
            request_cancel(self.run_dir)
            self._print_above(["Stopping the run at the next safe point (the current steps finish first). "
                               "Press Ctrl+C again to stop watching; the run then finishes stopping in the "
                               "background."])
        if pending:
            self._print_above([f"Stopped watching; the run finishes stopping in the background. Follow it "
                               f"with `octotui attach {self.run_dir.name}`."])
            return True
        return False

    def run(self) -> int:
        restore = self._install_sigint()
        try:
            return self._loop()
        finally:
            restore()

    def _install_sigint(self) -> Callable[[], None]:
        if not self.handle_sigint or threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.interrupt()

        previous = signal.signal(signal.SIGINT, handler)

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)

        return restore

    def _loop(self) -> int:
        tail = JournalTail(self.run_dir, after_seq=self.after_seq)
        last_draw, next_alive_check = 0.0, time.monotonic() + 1.0
        while True:
            new = tail.poll()
            for event in new:
                self.progress.apply(event)
                if not self.tty:
                    self._say(describe(event, self.progress))
            if self.tty and (new or time.monotonic() - last_draw >= self.redraw_every):
                self._redraw()
                last_draw = time.monotonic()
            if self.progress.final_status is not None:
                return self.progress.exit_code if self.progress.exit_code is not None else EXIT_FAILED
            if self._take_interrupts():
                return EXIT_CANCELLED
            if not new and time.monotonic() >= next_alive_check:
                next_alive_check = time.monotonic() + 1.0
                if run_status(self.run_dir) == "crashed":
                    for event in tail.poll():
                        self.progress.apply(event)
                    if self.tty:
                        self._redraw()
                    if self.progress.final_status is not None:
                        continue
                    self._drawn = 0
                    code = int(ExitCode.RUNNER_LOST)
                    self._say([f"The run stopped without finishing: its process is gone (killed, crashed, or "
                               f"the machine went down) (exit {code}). `octotui apply` again, or --resume "
                               f"{self.run_dir.name}, continues where it stopped."])
                    return code
            time.sleep(self.poll)


def follow_progress(run_dir: Path, **kwargs: Any) -> int:
    """``LiveProgress(run_dir, **kwargs).run()``: follow a run on the terminal, return its exit code."""
    return LiveProgress(run_dir, **kwargs).run()
