"""Run preflight checks concurrently, each within its own deadline, without ever blocking the caller.

Why a runner of its own: ``octotui check`` must take about as long as its slowest check (they are network
round trips, so they overlap well), the wizard must start a check when a field changes and drop it when the
field changes again, and no check may hang either of them. So every check runs on a daemon thread with a
hard deadline (a body still blocked past it is abandoned, and its result says so), a run can be cancelled
at any time, and results are handed to a callback as each becomes final.

Dependencies are *gates*. Every check opens a gate named after each id it produces once it is done (open when
it passed or warned, closed when it failed or was skipped); a check may also open a named gate early, e.g.
``winrm.auth:OCTO1`` as soon as the WinRM logon worked, so that its dependents need not wait for the rest.

- ``needs``: gates that must be open before the body starts. A closed one makes the check a ``skip`` that
  points at the root cause ("not checked: ... (see ad.account)"). This is how a wrong password is tried
  once, not once per check (every refused logon counts towards the account's lockout).
- ``superseded_by``: gates the check does not wait for before starting (it runs speculatively, at full
  concurrency), but whose failure turns this check's own failures into such skips, so a run fails on the
  check concerned and not on every check that stumbled over the same cause.

Callbacks run on worker threads; a UI must hand them over to its own thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from octotui.checks.deadline import DEFAULT_DEADLINE_S, Deadline
from octotui.checks.result import CheckResult

#: How long past its deadline a body may take before it is abandoned: the check functions answer a little
#: after their own deadline with a precise message, which is better than the runner's generic one.
GRACE_S = 0.75

CheckBody = Callable[["CheckContext"], "CheckResult | Sequence[CheckResult]"]
ResultCallback = Callable[[CheckResult], None]


@dataclass(frozen=True)
class Gate:
    """A dependency's outcome: ``source`` is the check to look at, ``reason`` what went wrong there."""

    name: str
    ok: bool
    source: str
    reason: str = ""


@dataclass(frozen=True)
class Check:
    """One unit of work producing the results ``ids`` (usually one; ``check_sql`` produces five)."""

    ids: tuple[str, ...]
    target: str
    body: CheckBody
    needs: tuple[str, ...] = ()
    superseded_by: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()  # extra gates the body may open early with ``ctx.open_gate``
    deadline_s: float = DEFAULT_DEADLINE_S

    @property
    def id(self) -> str:
        return self.ids[0]


class _Board:
    """Gates and facts shared by the checks of one run."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._gates: dict[str, Gate] = {}
        self._facts: dict[str, Any] = {}

    def publish(self, gate: Gate) -> None:
        with self._cond:
            if gate.name not in self._gates:  # the first word on a gate stands
                self._gates[gate.name] = gate
                self._cond.notify_all()

    def wait(self, names: Sequence[str], cancel: threading.Event) -> list[Gate] | None:
        """The gates once all are known, or None when cancelled first."""
        with self._cond:
            while not all(n in self._gates for n in names):
                if cancel.is_set():
                    return None
                self._cond.wait(0.05)
            return [self._gates[n] for n in names]

    def set_fact(self, key: str, value: Any) -> None:
        with self._cond:
            self._facts[key] = value

    def fact(self, key: str) -> Any:
        with self._cond:
            return self._facts.get(key)


class CheckContext:
    """What a body gets: its deadline, a cancel event to honour, and the run's gates and facts."""

    def __init__(self, check: Check, board: _Board, cancel: threading.Event) -> None:
        self.check = check
        self.cancel = cancel
        self.deadline_s = check.deadline_s
        self.deadline = Deadline(check.deadline_s, cancel)
        self.started = self.deadline.started
        self._board = board

    def remaining(self, floor: float = 0.1) -> float:
        return self.deadline.left(floor)

    def open_gate(self, name: str, ok: bool = True, reason: str = "") -> None:
        """Tell dependents early how this check's prerequisite part went (``name`` must be in ``gates``)."""
        if name not in self.check.gates:
            raise ValueError(f"{self.check.id} does not declare the gate {name!r}")
        self._board.publish(Gate(name, ok, self.check.id, reason))

    def set_fact(self, key: str, value: Any) -> None:
        """Share something a dependent needs (set it before the gate that dependent waits for opens)."""
        self._board.set_fact(key, value)

    def fact(self, key: str) -> Any:
        return self._board.fact(key)


def adapt(fn: Callable[..., CheckResult | Sequence[CheckResult]], *args: Any, **kwargs: Any) -> CheckBody:
    """A body from a check function that takes ``deadline_s=`` and ``cancel=`` (every ``check_*`` here does)."""
    def body(ctx: CheckContext) -> CheckResult | Sequence[CheckResult]:
        return fn(*args, deadline_s=ctx.remaining(), cancel=ctx.cancel, **kwargs)
    return body


def _skipped(check: Check, summary: str, detail: str = "") -> list[CheckResult]:
    return [CheckResult(i, "skip", check.target, summary, detail) for i in check.ids]


def _pointer(gate: Gate) -> str:
    reason = gate.reason.rstrip(".") or "it did not pass"
    return f"not checked: {reason} (see {gate.source})"


class CheckRun:
    """A started set of checks. Nothing here blocks unless asked to (``wait``)."""

    def __init__(self, checks: Sequence[Check], on_result: ResultCallback | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.checks = list(checks)
        _validate(self.checks)
        self._on_result = on_result
        self._cancel = cancel or threading.Event()
        self._board = _Board()
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._results: dict[str, CheckResult] = {}
        self._events: list[threading.Event] = []
        self._remaining = len(self.checks)
        self._done = threading.Event()
        self.started = time.monotonic()
        self.finished: float | None = None
        if not self.checks:
            self._finish()
        for check in self.checks:
            threading.Thread(target=self._run_one, args=(check,), name=f"check:{check.id}", daemon=True).start()

    # --- the caller's side -----------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop waiting for every unfinished check: each reports a ``skip`` ("cancelled") at once."""
        self._cancel.set()
        with self._lock:
            events = list(self._events)
        for event in events:
            event.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def results(self) -> list[CheckResult]:
        """The results known so far, in the order the checks were given."""
        with self._lock:
            return [self._results[i] for c in self.checks for i in c.ids if i in self._results]

    @property
    def wall_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    # --- one check -------------------------------------------------------------------------------
    def _run_one(self, check: Check) -> None:
        cancel = threading.Event()
        with self._lock:
            self._events.append(cancel)
        if self._cancel.is_set():
            cancel.set()
        try:
            results, root = self._execute(check, cancel)
        except BaseException as exc:  # the runner itself must never lose a check
            results, root = [CheckResult(i, "fail", check.target, "The check could not run",
                                         f"{type(exc).__name__}: {exc}") for i in check.ids], None
        self._conclude(check, results, root)

    def _execute(self, check: Check, cancel: threading.Event) -> tuple[list[CheckResult], Gate | None]:
        """The check's results, and the gate that made it skip (if one did)."""
        if check.needs:
            gates = self._board.wait(check.needs, cancel)
            if gates is None:
                return _skipped(check, "cancelled"), None
            closed = next((g for g in gates if not g.ok), None)
            if closed is not None:
                return _skipped(check, _pointer(closed)), closed
        ctx = CheckContext(check, self._board, cancel)
        results = _normalise(check, _within(check, ctx))
        elapsed = int((time.monotonic() - ctx.started) * 1000)
        results = [replace(r, duration_ms=elapsed) for r in results]
        if check.superseded_by and any(r.status == "fail" for r in results):
            gates = self._board.wait(check.superseded_by, cancel) or []
            closed = next((g for g in gates if not g.ok), None)
            if closed is not None:
                results = [replace(r, status="skip", summary=_pointer(closed), detail=r.summary, hint="")
                           if r.status == "fail" else r for r in results]
                return results, closed
        return results, None

    def _conclude(self, check: Check, results: list[CheckResult], root: Gate | None) -> None:
        by_id = {r.id: r for r in results}
        first = results[0]
        for name in (*check.ids, *check.gates):
            own = by_id.get(name, first)
            ok = own.status in ("pass", "warn")
            if root is not None and not ok:
                gate = Gate(name, False, root.source, root.reason)  # point at the root cause, not at the relay
            else:
                gate = Gate(name, ok, check.id if name in check.gates else name, own.summary)
            self._board.publish(gate)
        with self._deliver_lock:
            with self._lock:
                for result in results:
                    self._results[result.id] = result
            if self._on_result is not None:
                for result in results:
                    with contextlib.suppress(Exception):  # a failing callback must not stall the run
                        self._on_result(result)
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._finish()

    def _finish(self) -> None:
        self.finished = time.monotonic()
        self._done.set()


def _within(check: Check, ctx: CheckContext) -> CheckResult | Sequence[CheckResult]:
    """Run the body on its own thread; answer by the hard deadline or soon after cancellation."""
    box: list[CheckResult | Sequence[CheckResult]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            box.append(check.body(ctx))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work, name=f"check-body-{uuid.uuid4().hex[:6]}", daemon=True)
    worker.start()
    hard = ctx.started + check.deadline_s + GRACE_S
    while worker.is_alive():
        if ctx.cancel.is_set():
            return _skipped(check, "cancelled")
        left = hard - time.monotonic()
        if left <= 0:
            ctx.cancel.set()  # tell the abandoned body to stop at its next chance
            return [CheckResult(i, "fail", check.target, f"No answer within {check.deadline_s:g} s",
                                f"the check of {check.target} was abandoned at its deadline",
                                "Check that the target is up and reachable from this machine, then check again.")
                    for i in check.ids]
        worker.join(min(0.05, left))
    if ctx.cancel.is_set():  # cancelled while the body was finishing: the caller has moved on
        return _skipped(check, "cancelled")
    if errors:
        exc = errors[0]
        return [CheckResult(i, "fail", check.target, "The check failed unexpectedly",
                            f"{type(exc).__name__}: {exc}",
                            "Run the check again; if it persists, report it with this detail.") for i in check.ids]
    return box[0]


def _normalise(check: Check, produced: CheckResult | Sequence[CheckResult]) -> list[CheckResult]:
    """Exactly one result per declared id, in the declared order."""
    given = [produced] if isinstance(produced, CheckResult) else list(produced)
    by_id = {r.id: r for r in given}
    out = []
    for i in check.ids:
        out.append(by_id.get(i) or CheckResult(i, "fail", check.target, "The check returned no result for this id",
                                               hint="Report this; it is a bug in octotui."))
    return out


def _validate(checks: Iterable[Check]) -> None:
    """Every gate waited for must have a producer, or a check would wait for ever."""
    produced: set[str] = set()
    for check in checks:
        if not check.ids:
            raise ValueError("a check needs at least one id")
        produced.update(check.ids)
        produced.update(check.gates)
    for check in checks:
        missing = [g for g in (*check.needs, *check.superseded_by) if g not in produced]
        if missing:
            raise ValueError(f"{check.id} waits for {', '.join(missing)}, which no check in this run produces")


def run_checks(checks: Sequence[Check], on_result: ResultCallback | None = None,
               cancel: threading.Event | None = None) -> CheckRun:
    """Start every check at once and return; ``on_result`` gets each result when it is final."""
    return CheckRun(checks, on_result, cancel)


class CheckHandle:
    """A single check started for one field of the wizard."""

    def __init__(self, run: CheckRun) -> None:
        self._run = run

    def cancel(self) -> None:
        self._run.cancel()

    @property
    def done(self) -> bool:
        return self._run.done

    def wait(self, timeout: float | None = None) -> list[CheckResult] | None:
        return self._run.results() if self._run.wait(timeout) else None


def start_check(body: CheckBody, on_done: Callable[[list[CheckResult]], None] | None = None, *,
                ids: str | Sequence[str] = "check", target: str = "",
                deadline_s: float = DEFAULT_DEADLINE_S) -> CheckHandle:
    """Start one check (e.g. ``adapt(check_node_home, node, winrm, password, instance=...)``) and return at once.

    ``on_done`` is called exactly once, on a worker thread, with the check's results: its own, a ``fail`` at
    the deadline, or ``skip`` "cancelled" after ``handle.cancel()`` (a UI that moved on simply ignores it)."""
    names = (ids,) if isinstance(ids, str) else tuple(ids)
    check = Check(names, target, body, deadline_s=deadline_s)
    collected: list[CheckResult] = []
    lock = threading.Lock()

    def each(result: CheckResult) -> None:
        with lock:
            collected.append(result)
            complete = len(collected) == len(names)
        if complete and on_done is not None:
            on_done(list(collected))

    return CheckHandle(CheckRun([check], each))
