"""Running a plan: node 1's chain, then its master key, then every other node in parallel.

The executor owns ordering, parallelism, cancellation at safe points and turning failures into journal
events; what a step does lives in ``octotui.steps``. It runs inside the detached runner process, so a
dropped terminal does not stop an install; everything it reports goes to the journal.
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

from octotui.plan import Plan, PlannedStep
from octotui.spec import NodeSpec
from octotui.steps import NodeContext, Remote, StepFailed, run_step


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
        return {"done": 0, "failed": 1, "cancelled": 3}[self.status]


RemoteFactory = Callable[[NodeSpec], Any]


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
                 on_master_key: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.remote_factory = remote_factory
        self.sink = sink
        self.cancel = cancel
        self.passwords = passwords
        self.master_key = master_key
        self.on_master_key = on_master_key
        self._lock = threading.Lock()
        self._cancel_noted = False
        self.outcome = Outcome()

    def run(self) -> Outcome:
        spec = self.plan.spec
        if self.plan.first:
            ok = self._chain(spec.nodes[0], self.plan.first, first=True)
            if not ok:
                return self._finish()
        joins = {n.name: n for n in spec.nodes}
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

    def _fail(self, node: str, step: str, message: str, hint: str) -> None:
        with self._lock:
            self.outcome.status = "failed"
            self.outcome.failures.append({"node": node, "step": step, "error": message, "hint": hint})
        self.sink.emit("step_failed", node=node, step=step, error=message, hint=hint)

    def _chain(self, node: NodeSpec, steps: list[PlannedStep], first: bool) -> bool:
        """Run one node's steps in order; False when it stopped on a failure or a cancel."""
        remote: Any = None
        facts: dict[str, Any] = {}  # what the node's steps have read so far (shared down the chain)
        try:
            for step in steps:
                if self.cancel.requested:
                    with self._lock:
                        first_notice = not self._cancel_noted
                        self._cancel_noted = True
                        if self.outcome.status == "done":
                            self.outcome.status = "cancelled"
                    if first_notice:
                        reason = getattr(self.cancel, "reason", None) or "asked to stop"
                        self.sink.emit("cancel_requested", reason=str(reason))
                    self.sink.emit("note", node=node.name, text=f"stopped before {step.step}: the run was cancelled")
                    return False
                if remote is None:
                    remote = self.remote_factory(node)
                ctx = self._context(node, remote, step.step, facts)
                started = time.monotonic()
                self.sink.emit("step_started", node=node.name, step=step.step, title=step.title,
                               identity=step.identity.describe())
                try:
                    changed = run_step(ctx, step, first)
                except Exception as exc:  # every failure becomes a journal event, never a traceback on screen
                    message, hint = _describe_error(exc)
                    if not isinstance(exc, StepFailed) and not hasattr(exc, "hint"):
                        self.sink.step_output(node.name, step.step, "trace", traceback.format_exc())
                    self._fail(node.name, step.step, message, hint)
                    return False
                if ctx.master_key and ctx.master_key != self.master_key:
                    self.master_key = ctx.master_key
                with self._lock:
                    self.outcome.changed_steps += int(changed)
                self.sink.emit("step_done", node=node.name, step=step.step, changed=changed,
                               duration_ms=int((time.monotonic() - started) * 1000))
            return True
        except Exception as exc:  # connecting failed
            message, hint = _describe_error(exc)
            self._fail(node.name, "connect", message, hint)
            return False
        finally:
            close = getattr(remote, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _context(self, node: NodeSpec, remote: Remote, step_name: str, facts: dict[str, Any]) -> NodeContext:
        def output(stream: str, text: str) -> None:
            self.sink.step_output(node.name, step_name, stream, text)

        ctx = NodeContext(spec=self.plan.spec, node=node, remote=remote, credential=self.plan.credential_identity,
                          passwords=self.passwords, output=output, master_key=self.master_key,
                          on_master_key=self._store_master_key, facts=facts)
        return ctx

    def _store_master_key(self, key: str) -> None:
        self.master_key = key
        if self.on_master_key is not None:
            self.on_master_key(key)
        self.sink.emit("master_key_stored", node=self.plan.spec.nodes[0].name)
