"""Running a plan: node 1's chain, then its master key, then every other node in parallel.

The executor owns ordering, parallelism, cancellation at safe points and turning failures into journal
events; what a step does lives in ``octotui.plan.steps``. It runs inside the detached runner process, so a
dropped terminal does not stop an install; everything it reports goes to the journal.

Transport faults: every step reads the node's state before it changes anything, so a step cut off by a
transport fault (``RemoteError.transient``: the connection dropped or refused because the node rebooted, a
stalled connection, a passing WS-Man 500) is run again from its read on a new connection, after the shells
the old one left behind are deleted. That is bounded per node: at most ``max_step_attempts`` tries of one
step, and ``retry_patience_s`` in all spent waiting for the node to come back. Each repeat is a
``step_retried`` event. Nothing else is repeated: a script error, a non-zero exit, bad credentials or TLS
fail the step at once.

Failures of our own side are reported against the step that was running, never as ``connect``: above all
a journal or step log that cannot be written (a full disk, ``JournalWriteError``), whose failure names the
folder and puts the detail in ``runner.log``; the other nodes then stop before their next step.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from octotui.errors import RUN_EXIT_CODES
from octotui.plan.build import Plan, PlannedStep
from octotui.plan.steps import NodeContext, Remote, StepFailed, run_step
from octotui.remote.connect import CONNECT_PATIENCE_S
from octotui.remote.errors import RemoteError
from octotui.run.journal import JournalWriteError
from octotui.secrets.master_key import MasterKeyKept
from octotui.spec.model import NodeSpec

#: How often one step may be tried when transport faults cut it off (the first try included).
MAX_STEP_ATTEMPTS = 4
#: Per node, how long a run waits in all (across every repeat) for the node to take connections again
#: after transport faults: the same patience a run has for a node at its first connect.
RETRY_PATIENCE_S = CONNECT_PATIENCE_S
#: The first pause before connecting again after a transport fault; it doubles with each repeat (up to 4 s).
RETRY_PAUSE_S = 0.5
#: The facts a step reads from the node, forgotten before the step is run again.
_READ_FACTS = ("node_state", "instances", "configuration")


class EventSink(Protocol):
    def emit(self, type: str, /, **fields: Any) -> Any: ...

    def step_output(self, node: str, step: str, stream: str, text: str) -> Any: ...


class CancelCheck(Protocol):
    @property
    def requested(self) -> bool: ...


@dataclass
class Outcome:
    status: Literal["done", "failed", "cancelled"] = "done"
    failures: list[dict[str, str]] = field(default_factory=list)
    changed_steps: int = 0

    @property
    def exit_code(self) -> int:
        return int(RUN_EXIT_CODES[self.status])


class RemoteFactory(Protocol):
    """Connects to a node, waiting up to ``patience_s`` (None: the factory's own) for a node that refuses
    connections or does not answer yet, as a rebooting one does."""

    def __call__(self, node: NodeSpec, /, *, patience_s: float | None = None) -> Any: ...


@dataclass
class _Chain:
    """One node's connection, what its steps have read, and what is left of its patience for faults."""

    node: NodeSpec
    patience_s: float
    remote: Any = None
    facts: dict[str, Any] = field(default_factory=dict)


def transport_fault(exc: BaseException) -> RemoteError | None:
    """The transport fault in ``exc``, when the step it cut off can be run again from its read."""
    return exc if isinstance(exc, RemoteError) and exc.transient else None


def _close(remote: Any) -> None:
    close = getattr(remote, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def _describe_error(exc: BaseException) -> tuple[str, str]:
    """A failure as (message, hint) without a traceback: remote errors carry their own hint."""
    if isinstance(exc, StepFailed):
        return exc.message, exc.hint
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    hint = getattr(exc, "hint", "") or "see runner.log in the run folder for details"
    return str(message), str(hint)


class Executor:
    def __init__(self, plan: Plan, remote_factory: RemoteFactory, sink: EventSink, cancel: CancelCheck,
                 passwords: dict[str, str], master_key: str | None,
                 on_master_key: Callable[[str], MasterKeyKept] | None = None,
                 before_joins: Callable[[], bool] | None = None, *,
                 max_step_attempts: int = MAX_STEP_ATTEMPTS, retry_patience_s: float = RETRY_PATIENCE_S,
                 retry_pause_s: float = RETRY_PAUSE_S) -> None:
        self.plan = plan
        self.before_joins = before_joins  # create mode: False stops the run before any join (cancelled)
        self.remote_factory = remote_factory
        self.sink = sink
        self.cancel = cancel
        self.passwords = passwords
        self.master_key = master_key
        self.on_master_key = on_master_key
        self.max_step_attempts = max(1, max_step_attempts)
        self.retry_patience_s = retry_patience_s
        self.retry_pause_s = retry_pause_s
        self._lock = threading.Lock()
        self._cancel_noted = False
        #: Why every node stops before its next step (our own side failed: the run folder is full).
        self._halt: str | None = None
        self.outcome = Outcome()

    def run(self) -> Outcome:
        spec = self.plan.spec
        if self.plan.first:
            ok = self._chain(spec.nodes[0], self.plan.first, first=True)
            if not ok:
                return self._finish()
        joins = {n.name: n for n in spec.nodes}
        if self.plan.first and self.plan.joins and self.before_joins is not None and not self.before_joins():
            self.outcome.status = "cancelled"
            return self._finish()
        if self.plan.joins:
            if self.master_key is None:
                self._fail("cluster", "master-key", "no master key to join the other nodes with",
                           "set OCTOTUI_MASTER_KEY or store the key in the keyring")
                return self._finish()
            with ThreadPoolExecutor(max_workers=min(32, len(self.plan.joins)),
                                    thread_name_prefix="join") as pool:
                futures = [pool.submit(self._chain, joins[name], steps, False)
                           for name, steps in self.plan.joins.items()]
                for f in futures:
                    f.result()
        return self._finish()

    def _finish(self) -> Outcome:
        if self.outcome.status == "done" and self.cancel.requested:
            self.outcome.status = "cancelled"
        return self.outcome

    def _fail(self, node: str, step: str, message: str, hint: str, **extra: Any) -> None:
        with self._lock:
            self.outcome.status = "failed"
            self.outcome.failures.append({"node": node, "step": step, "error": message, "hint": hint})
        try:
            self.sink.emit("step_failed", node=node, step=step, error=message, hint=hint, **extra)
        except Exception as exc:  # the journal cannot take it: the runner's own log still can
            self._runner_log(f"{node} {step} failed: {message}\n  hint: {hint}\n"
                             f"  (not in the journal: {_describe_error(exc)[0]})\n")

    def _runner_log(self, text: str) -> str | None:
        """Append a detail to the run's runner.log; the file's path when it is there."""
        write = getattr(self.sink, "runner_log", None)
        if write is None:
            return None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            where = write(f"[{stamp}] {text}")
        except Exception:
            return None
        return str(where) if where else None

    def _fail_step(self, node: str, step: str, exc: BaseException, started: float) -> None:
        """Report what stopped a step; the traceback of an unexpected error goes to the step log and to
        runner.log (never to the screen)."""
        duration_ms = int((time.monotonic() - started) * 1000)
        if isinstance(exc, JournalWriteError):
            message, hint = self._local_write_failure(node, step, exc)
        else:
            message, hint = _describe_error(exc)
            if not isinstance(exc, StepFailed) and not hasattr(exc, "hint"):
                trace = "".join(traceback.format_exception(exc))
                with contextlib.suppress(Exception):
                    self.sink.step_output(node, step, "trace", trace)
                if self._runner_log(f"{node} {step}: unexpected error\n{trace}") is None:
                    hint = f"see the step's log ({node}/{step}.log in the run folder) for the traceback"
        self._fail(node, step, message, hint, duration_ms=duration_ms)

    def _local_write_failure(self, node: str, step: str, exc: JournalWriteError) -> tuple[str, str]:
        """The run folder could not be written: name the file and the folder, stop the other nodes, and put
        the detail where it can still be read."""
        folder = exc.folder
        reason = exc.strerror or "write failed"
        message = f"cannot write {exc.filename}: {reason}"
        with self._lock:
            if self._halt is None:
                self._halt = f"octotui cannot write its run folder {folder} ({reason})"
        detail = "".join(traceback.format_exception(exc))
        log = self._runner_log(f"{node} {step}: {message} (errno {exc.errno}); the step was stopped here and "
                               f"the other nodes stop before their next step\n{detail}")
        if exc.disk_full:
            hint = (f"the disk that holds {folder} is full: free space on it (or set OCTOTUI_HOME to a folder "
                    f"on a disk with room), then run `octotui apply` again to continue")
        else:
            hint = (f"octotui could not write in {folder} ({reason}): check the disk, its permissions and "
                    f"limits (ulimit -f), then run `octotui apply` again to continue")
        if log is not None:
            hint += f"; the detail is in {log}"
        return message, hint

    def _chain(self, node: NodeSpec, steps: list[PlannedStep], first: bool) -> bool:
        """Run one node's steps in order; False when it stopped on a failure or a cancel."""
        chain = _Chain(node, self.retry_patience_s)
        where, started = "connect", time.monotonic()
        try:
            for step in steps:
                where, started = step.step, time.monotonic()
                if self._stops_before(node, step):
                    return False
                if chain.remote is None:
                    try:
                        chain.remote = self.remote_factory(node)
                    except Exception as exc:  # the node cannot be reached at all: nothing of this chain ran
                        message, hint = _describe_error(exc)
                        self._fail(node.name, "connect", message, hint)
                        return False
                if not self._step(chain, step, first):
                    return False
            return True
        except Exception as exc:  # our own side failed around the step (the journal, a bug): report it there
            self._fail_step(node.name, where, exc, started)
            return False
        finally:
            _close(chain.remote)

    def _stops_before(self, node: NodeSpec, step: PlannedStep) -> bool:
        """The safe point between two steps: stop here when the run was cancelled or cannot go on."""
        if self._halt is not None:
            self.sink.emit("note", node=node.name, text=f"stopped before {step.step}: {self._halt}",
                           level="warning")
            return True
        if not self.cancel.requested:
            return False
        with self._lock:
            first_notice = not self._cancel_noted
            self._cancel_noted = True
            if self.outcome.status == "done":
                self.outcome.status = "cancelled"
        if first_notice:
            reason = getattr(self.cancel, "reason", None) or "asked to stop"
            self.sink.emit("cancel_requested", reason=str(reason))
        self.sink.emit("note", node=node.name, text=f"stopped before {step.step}: the run was cancelled")
        return True

    def _step(self, chain: _Chain, step: PlannedStep, first: bool) -> bool:
        """Run one step, again from its read after a transport fault (bounded); False when it failed."""
        node = chain.node
        started = time.monotonic()
        self.sink.emit("step_started", node=node.name, step=step.step, title=step.title,
                       identity=step.identity.describe())
        attempt = 1
        while True:
            ctx = self._context(node, chain.remote, step.step, chain.facts)
            try:
                changed = run_step(ctx, step, first)
                break
            except Exception as exc:  # every failure becomes a journal event, never a traceback on screen
                fault = transport_fault(exc)
                if fault is None:
                    self._fail_step(node.name, step.step, exc, started)
                    return False
                if attempt >= self.max_step_attempts or chain.patience_s <= 0:
                    self._fail_transport(chain, step.step, fault, attempt, started)
                    return False
                attempt += 1
                if not self._reconnect(chain, step.step, fault, attempt, started):
                    return False
        if ctx.master_key and ctx.master_key != self.master_key:
            self.master_key = ctx.master_key
        with self._lock:
            self.outcome.changed_steps += int(changed)
        self.sink.emit("step_done", node=node.name, step=step.step, changed=changed,
                       duration_ms=int((time.monotonic() - started) * 1000),
                       **({"attempts": attempt} if attempt > 1 else {}))
        return True

    def _reconnect(self, chain: _Chain, step: str, fault: RemoteError, attempt: int, started: float) -> bool:
        """Say that the step runs again, drop the connection and what the step read, wait for the node
        within the chain's patience, delete the shells the old connection left behind; False when the node
        did not come back (the step has then failed)."""
        node = chain.node.name
        self.sink.emit("step_retried", node=node, step=step, attempt=attempt, attempts=self.max_step_attempts,
                       cause=fault.message, kind=fault.kind)
        self.sink.step_output(node, step, "note", f"\n--- {fault.message}: connecting again and running "
                              f"{step} again from its read (attempt {attempt} of {self.max_step_attempts})\n")
        waited_from = time.monotonic()
        abandoned = list(getattr(chain.remote, "abandoned_shells", None) or [])
        _close(chain.remote)  # deletes its shell when the node still answers: a cut-off command ends there
        chain.remote = None
        for key in _READ_FACTS:
            chain.facts.pop(key, None)
        # A short pause first: a node that answered 500 or cut a connection is often busy for a moment.
        time.sleep(max(0.0, min(self.retry_pause_s * 2 ** (attempt - 2), 4.0, chain.patience_s)))
        try:
            chain.remote = self.remote_factory(chain.node, patience_s=max(0.0, chain.patience_s -
                                                                          (time.monotonic() - waited_from)))
        except Exception as exc:
            chain.patience_s -= time.monotonic() - waited_from
            again = transport_fault(exc)
            if again is None:
                self._fail_step(node, step, exc, started)
            else:
                self._fail_transport(chain, step, again, attempt - 1, started, reconnecting=True)
            return False
        chain.patience_s -= time.monotonic() - waited_from
        reap = getattr(chain.remote, "reap", None)
        if abandoned and reap is not None:
            # Best effort: a shell the node has forgotten (it rebooted) is gone already.
            with contextlib.suppress(RemoteError):
                reap(abandoned)
        return True

    def _fail_transport(self, chain: _Chain, step: str, fault: RemoteError, attempts: int, started: float,
                        *, reconnecting: bool = False) -> None:
        """A transport fault the patience did not outlast: say what was tried and what to check."""
        node = chain.node.name
        waited = self.retry_patience_s - max(chain.patience_s, 0.0)
        patience = f"{self.retry_patience_s:.0f} s"
        tried = f"tried {attempts} time{'s' if attempts > 1 else ''}"
        if reconnecting:
            message = f"{fault.message} (connecting again after the step was cut off; the step was {tried})"
            did = f"octotui waited {waited:.0f} s (its patience for {node} is {patience}) for it to take connections"
        elif attempts > 1:
            message = f"{fault.message} (the step was {tried})"
            did = (f"octotui connected again and ran the step again from its read {attempts - 1} "
                   f"time{'s' if attempts > 2 else ''}, waiting {waited:.0f} s of its {patience} patience for {node}")
        else:
            message = fault.message
            did = f"earlier faults had used up octotui's {patience} patience for {node}, so the step was not run again"
        hint = (f"{fault.hint + '; ' if fault.hint else ''}{did}; once {node} answers again, run `octotui apply` "
                "again: it continues from the node's state")
        self._fail(node, step, message, hint, duration_ms=int((time.monotonic() - started) * 1000))

    def _context(self, node: NodeSpec, remote: Remote, step_name: str, facts: dict[str, Any]) -> NodeContext:
        def output(stream: str, text: str) -> None:
            self.sink.step_output(node.name, step_name, stream, text)

        ctx = NodeContext(spec=self.plan.spec, node=node, remote=remote, credential=self.plan.credential_identity,
                          passwords=self.passwords, output=output, master_key=self.master_key,
                          on_master_key=self._store_master_key, facts=facts)
        return ctx

    def _store_master_key(self, key: str) -> None:
        """Hand the key read from node 1 to ``on_master_key`` and journal what really happened to it:
        ``master_key_stored`` with the place only when it was stored, else ``master_key_not_stored``."""
        self.master_key = key
        node = self.plan.spec.nodes[0].name
        kept = self.on_master_key(key) if self.on_master_key is not None else None
        if kept is not None and kept.where:
            self.sink.emit("master_key_stored", node=node, where=kept.where)
            return
        self.sink.emit("master_key_not_stored", node=node,
                       reason=kept.reason if kept is not None else "nothing was set up to keep it",
                       hint=kept.hint if kept is not None and kept.hint else
                       f"record it now: run `Octopus.Server.exe show-master-key` on {node}")
