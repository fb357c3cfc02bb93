"""Stopping a run at a safe point.

A follower (``apply``'s progress display, ``attach``, the TUI) is a different process from the runner, in a
different session, so Ctrl+C at the terminal never reaches the runner. ``request_cancel`` leaves a marker
file in the run folder (it survives the runner starting late or being between polls) and, once the runner
has said it handles signals, sends it SIGTERM to wake it from a wait. The runner's ``CancelToken`` sees
either; the executor checks it between steps only, so a remote command is never cut in half.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType

from octotui.home import write_private_text
from octotui.run.store import process_alive, process_start_token

CANCEL_MARKER = "cancel"
#: Written by a runner whose signal handlers are installed: only then is it safe to signal it (before
#: that, SIGTERM would kill it outright instead of stopping it at a safe point).
SIGNAL_READY = "runner.signals"


class Cancelled(Exception):
    """Raised by ``CancelToken.raise_if_requested`` at a safe point."""


def request_cancel(run_dir: Path, *, reason: str = "requested from the terminal") -> bool:
    """Ask the run to stop at its next safe point. Returns whether a live runner was signalled (the
    marker alone also works; the signal only makes it prompt)."""
    write_private_text(run_dir / CANCEL_MARKER, json.dumps({"ts": round(time.time(), 3), "reason": reason}) + "\n")
    try:
        doc = json.loads((run_dir / SIGNAL_READY).read_text(encoding="utf-8"))
        pid, token = int(doc["pid"]), doc.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not process_alive(pid, token):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def cancel_requested(run_dir: Path) -> bool:
    return (run_dir / CANCEL_MARKER).exists()


def clear_cancel_request(run_dir: Path) -> None:
    """Forget an old request: a resumed run must not stop because of the cancel that ended the last one."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(run_dir / CANCEL_MARKER)


class CancelToken:
    """Inside the runner: set by the marker file, a signal, or ``request()``; read at safe points.

    ``requested`` looks at the marker lazily, so no watcher thread is needed; ``wait`` sleeps in short
    slices so that a marker written without a signal still ends the wait promptly."""

    def __init__(self, run_dir: Path | None = None, *, poll: float = 0.2) -> None:
        self.run_dir = run_dir
        self._poll = poll
        self._event = threading.Event()
        self._reason: str | None = None

    @property
    def requested(self) -> bool:
        if not self._event.is_set() and self.run_dir is not None and cancel_requested(self.run_dir):
            self._set(self._marker_reason())
        return self._event.is_set()

    @property
    def reason(self) -> str | None:
        return self._reason

    def _marker_reason(self) -> str:
        assert self.run_dir is not None
        try:
            reason = json.loads((self.run_dir / CANCEL_MARKER).read_text(encoding="utf-8")).get("reason")
            return str(reason) if reason else "requested"
        except (OSError, ValueError, AttributeError):
            return "requested"

    def _set(self, reason: str) -> None:
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    def request(self, reason: str = "requested") -> None:
        self._set(reason)

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, ending early on a cancel request; returns ``requested``."""
        deadline = time.monotonic() + timeout
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, self._poll))
        return True

    def raise_if_requested(self) -> None:
        if self.requested:
            raise Cancelled(self._reason or "requested")

    def install_signal_handlers(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
                                ) -> Callable[[], None]:
        """Turn the signals into cancel requests (main thread only) and tell ``request_cancel`` that this
        process may now be signalled. Returns a function restoring the previous handlers. The handler only
        sets an event: it must not touch the journal, whose lock the interrupted code may hold."""
        previous: dict[signal.Signals, object] = {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            self._set(f"signal {signal.Signals(signum).name}")

        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
        if self.run_dir is not None:
            pid = os.getpid()
            write_private_text(self.run_dir / SIGNAL_READY,
                               json.dumps({"pid": pid, "start": process_start_token(pid)}) + "\n")

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)  # type: ignore[arg-type]
            if self.run_dir is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.run_dir / SIGNAL_READY)

        return restore
