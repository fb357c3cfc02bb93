"""The live per-node progress of ``apply`` and ``attach`` at a terminal, drawn with Rich.

The words come from the progress model (``octotui.run.progress``); this module lays them out and decides
how they reach the terminal. On a terminal the block of lines is redrawn in place (``rich.live.Live``),
as wide as Rich finds the terminal, coloured only where Rich finds colour (``NO_COLOR`` turns it off).
Elsewhere (CI logs, a pipe) each milestone is one appended plain line, since redrawing there would only
leave garbage. Ctrl+C asks the run to stop at a safe point; a second one stops watching.
"""

from __future__ import annotations

import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from octotui.errors import RUN_EXIT_CODES, ExitCode
from octotui.run.cancel import request_cancel
from octotui.run.journal_read import Event, JournalTail, run_status
from octotui.run.progress import RunProgress, clean_text, describe, final_message, fmt_duration, fold

#: Rich styles: a node's state, and the lines that need attention.
_STATE_STYLES = {"done": "green", "running": "cyan", "failed": "red", "stopped": "yellow", "waiting": "dim"}
_FAILURE_STYLE, _WARNING_STYLE = "red", "yellow"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _line(text: str, style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def display(progress: RunProgress, *, width: int = 100, now: float | None = None) -> list[Text]:
    """The display as styled lines, each at most ``width`` characters."""
    now = now if now is not None else (progress.last_ts if progress.final_status else time.time())
    run_state = progress.final_status or ("stopping" if progress.cancel_requested else "running")
    elapsed = fmt_duration((now or 0) - progress.started) if progress.started is not None else "-"
    head = f"Run {progress.run_id or '?'}" + (f"  {progress.mode}" if progress.mode else "")
    lines = [_line(_fit(f"{head}  {run_state}  {elapsed}", width))]
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
        line = _line(_fit("  ".join(parts), width))
        at = len(parts[0]) + 2
        if len(line.plain) >= at + len(state) and state in _STATE_STYLES:
            line.stylize(_STATE_STYLES[state], at, at + len(state))
        lines.append(line)
        for step, error, hint in node.failures:
            lines.append(_line(_fit(f"      {step} failed: {clean_text(error)}", width), _FAILURE_STYLE))
            if hint:
                lines.append(_line(_fit(f"      hint: {clean_text(hint)}", width)))
    for note in progress.notes[-3:]:
        lines.append(_line(_fit(f"  note: {note}", width)))
    for text in progress.master_key_warning:  # stays on screen: the one secret whose loss cannot be undone
        for part in textwrap.wrap(text, max(20, width - 4), break_on_hyphens=False):
            lines.append(_line(f"  {part}", _WARNING_STYLE))
    if progress.cancel_requested and not progress.final_status:
        lines.append(_line(_fit("  stop requested: the run stops at the next safe point", width), _WARNING_STYLE))
    if progress.final_status == "busy":  # the whole refusal matters (who holds it, how to take over): wrap it
        lines += [_line(t) for t in textwrap.wrap(final_message(progress), max(20, width))]
        if progress.hint:
            lines += [_line(t) for t in textwrap.wrap(f"hint: {progress.hint}", max(20, width),
                                                      initial_indent="  ", subsequent_indent="    ")]
    elif progress.final_status:
        lines.append(_line(_fit(final_message(progress), width)))
    return lines


def render(progress: RunProgress, *, width: int = 100, color: bool = False, now: float | None = None) -> list[str]:
    """The display as text lines; with ``color``, as a colour terminal receives them (from Rich)."""
    lines = display(progress, width=width, now=now)
    if not color:
        return [line.plain for line in lines]
    console = Console(force_terminal=True, color_system="standard", no_color=False, width=max(width, 1) + 1,
                      highlight=False, emoji=False, legacy_windows=False)
    painted = []
    for line in lines:
        with console.capture() as captured:
            console.print(line, soft_wrap=True)
        painted.append(captured.get().removesuffix("\n"))
    return painted


def render_progress(events: Iterable[Event], *, width: int = 100, color: bool = False,
                    now: float | None = None) -> list[str]:
    """Lines for a terminal from a list of events (recorded or live)."""
    return render(fold(events), width=width, color=color, now=now)


def runner_lost_message(run_id: str) -> str:
    code = int(RUN_EXIT_CODES["crashed"])
    return (f"The run stopped without finishing: its process is gone (killed, crashed, or the machine went "
            f"down) (exit {code}). `octotui apply` again, or --resume {run_id}, continues where it stopped.")


class LiveProgress:
    """Follows a run's journal and shows its progress until ``run_finished``; ``run()`` returns the exit
    code. The first Ctrl+C asks the run to stop at a safe point (and says so); a second one stops watching,
    leaving the run to finish stopping in the background.

    ``tty``, ``color`` and ``width`` default to what Rich finds for ``out``."""

    def __init__(self, run_dir: Path, *, out: TextIO | None = None, tty: bool | None = None,
                 color: bool | None = None, width: int | None = None, poll: float = 0.1,
                 redraw_every: float = 0.5, handle_sigint: bool = True,
                 clock: Callable[[], float] = time.time, after_seq: int = 0) -> None:
        self.run_dir = run_dir
        #: Follow only events after this one: a resumed run appends to a journal that already ended once.
        self.after_seq = after_seq
        self.out = out if out is not None else sys.stdout
        self.console = Console(file=self.out, force_terminal=tty, width=width, highlight=False, emoji=False,
                               no_color=None if color is None else not color,
                               color_system="auto" if color is None else "standard" if color else None)
        self.tty = tty if tty is not None else self.console.is_terminal and not self.console.is_dumb_terminal
        self.poll = poll
        self.redraw_every = redraw_every
        self.handle_sigint = handle_sigint
        self.clock = clock
        self.progress = RunProgress(run_id=run_dir.name)
        self._interrupts = 0
        self._handled_interrupts = 0
        self._cancel_sent = False
        self._live: Live | None = None
        self._lock = threading.Lock()

    @property
    def width(self) -> int:
        return max(20, self.console.width)

    def interrupt(self) -> None:
        """What Ctrl+C does; safe to call from a signal handler or another thread."""
        with self._lock:
            self._interrupts += 1

    def _say(self, lines: Sequence[str]) -> None:
        """Appended plain lines: the whole output where there is no terminal, and what follows the display."""
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def _redraw(self) -> None:
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.start()
        self._live.update(Group(*display(self.progress, width=self.width, now=self.clock())), refresh=True)

    def _end_display(self) -> None:
        """Leave the last drawing on the terminal, below which anything else is appended."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _print_above(self, lines: Sequence[str]) -> None:
        if self._live is not None:
            for line in lines:
                self.console.print(_line(line), soft_wrap=True)
        else:
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
            self._end_display()
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
                code = self.progress.exit_code
                return code if code is not None else int(ExitCode.FAILED)
            if self._take_interrupts():
                return int(ExitCode.CANCELLED)
            if not new and time.monotonic() >= next_alive_check:
                next_alive_check = time.monotonic() + 1.0
                if run_status(self.run_dir) == "crashed":
                    for event in tail.poll():
                        self.progress.apply(event)
                    if self.tty:
                        self._redraw()
                    if self.progress.final_status is not None:
                        continue
                    self._end_display()
                    self._say([runner_lost_message(self.run_dir.name)])
                    return int(RUN_EXIT_CODES["crashed"])
            time.sleep(self.poll)
