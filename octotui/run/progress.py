"""The progress of a run, folded from its journal: per node, what is done, running, failed; how it ended.

Everything is computed from journal events, so a display can start late, restart, or run on a recorded
journal in a test and show the same thing. Two faces show it: the terminal (``octotui.cli.progress``,
for ``apply`` and ``attach``) and the wizard's progress screen (through ``octotui.run.view``). Nothing
here prints: ``describe`` and ``final_message`` are the words, the faces decide where they go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from octotui.errors import ExitCode
from octotui.run.journal_read import Event
from octotui.textsafe import LINE_LIMIT, shown

# Whole escape sequences a tool writes for looks: colours and cursor moves (CSI), window titles and
# hyperlinks (OSC). Dropped; any other control character is shown escaped (``octotui.textsafe``).
_ANSI_RE = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, terminated
                      r"|\x1b\[[0-?]*[ -/]*[@-~]")  # CSI


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
            self.exit_code = code if isinstance(code, int) else int(ExitCode.FAILED)
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


