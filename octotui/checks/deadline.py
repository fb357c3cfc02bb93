"""The time a live check may take: one default, one time-budget type, one way to run a body within it.

Why one module: every check promises an answer by its deadline whatever the network does (the wizard shows
it as a field is typed; ``octotui check`` runs many at once), and each used to count its time its own way.
Here a ``Deadline`` is the time left for one check: each network call takes its timeout from it, and
``run_within`` runs a check's body in a daemon thread so the caller has an answer by the deadline, or soon
after ``cancel`` is set, even when the body is stuck in a call that ignores its timeout.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

#: How long one check may take unless told otherwise (``octotui check --deadline``, the wizard's checks).
DEFAULT_DEADLINE_S = 5.0

T = TypeVar("T")


class Deadline:
    """The time left for one check; every network call takes its timeout from here."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None) -> None:
        self.started = time.monotonic()
        self.end = self.started + seconds
        self.seconds = seconds
        self.cancel = cancel
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def on_abort(self, closer: Callable[[], object]) -> None:
        """Register how to close something the body opened, so an abandoned body stops blocking on it."""
        with self._lock:
            self._closers.append(closer)

    def abort(self) -> None:
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in closers:
            with contextlib.suppress(Exception):
                closer()

    def left(self, floor: float = 0.05) -> float:
        """Seconds left, never less than ``floor``: a timeout of 0 means "wait forever" to many libraries."""
        return max(floor, self.end - time.monotonic())

    def whole_seconds(self) -> int:
        """Seconds left, rounded down, at least 1: for libraries that take whole seconds (pyodbc, where 0
        would mean "wait forever" to FreeTDS)."""
        return max(1, math.floor(self.left(0.0)))

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end or (self.cancel is not None and self.cancel.is_set())


def run_within(body: Callable[[Deadline], T], deadline_s: float, cancel: threading.Event | None,
               on_timeout: Callable[[], T], on_cancel: Callable[[], T]) -> T:
    """Run ``body`` so that the caller has an answer within ``deadline_s`` (plus a little), or soon after
    ``cancel`` is set. A body still blocked in a network call is abandoned, after closing what it registered
    with ``Deadline.on_abort``."""
    deadline = Deadline(deadline_s, cancel)
    box: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            box.append(body(deadline))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=worker, name=f"check-{uuid.uuid4().hex[:6]}", daemon=True)
    thread.start()
    grace = deadline.end + 0.25
    while thread.is_alive():
        if cancel is not None and cancel.is_set():
            deadline.abort()
            return on_cancel()
        if time.monotonic() >= grace:
            deadline.abort()
            return on_timeout()
        thread.join(0.05)
    if errors:
        raise errors[0]
    return box[0]
