"""The run's journal: the one source of truth about a run, written by the runner (here), read by everyone else
(``octotui.run.journal_read``).

``runs/<id>/journal.jsonl`` is append-only, one JSON object per line. Every event is
``{"seq": int, "ts": float (Unix seconds, ms precision), "type": str, ...}``; ``seq`` grows by one per event
and keeps growing when a resumed run appends to the same journal. Types and their fields:

====================  ==========================================================================================
``run_started``       ``run_id``, ``mode``, ``nodes`` [names], ``plan`` {node: [{"step", "title"}]}, ``pid``,
                      ``pid_start``, ``octotui``; never the command line (it may hold paths or values we do
                      not want copied around). A resumed run writes another ``run_started`` (``resumed: true``).
``step_started``      ``node``, ``step``, ``title``
``step_output``       ``node``, ``step``, ``stream`` (stdout|stderr), ``text`` (a redacted chunk; capped, the
                      whole output is in ``<node>/<step>.log``), ``truncated`` when capped
``step_done``         ``node``, ``step``, ``changed`` (bool), ``duration_ms``
``step_failed``       ``node``, ``step``, ``error``, ``hint``, ``duration_ms``
``step_retried``      ``node``, ``step``, ``attempt`` (the one about to start: 2, 3, ...), ``attempts`` (at most),
                      ``cause`` (the transport fault that cut the previous attempt off), ``kind``: the step is
                      run again from its read on a new connection
``note``              ``text``, optional ``node``/``step``/``level``
``master_key_stored`` ``node`` (read from), ``where`` (the keyring or the encrypted file, and the entry), only
                      when the key was stored and read back — never the key. Otherwise
                      ``master_key_not_stored``: ``node``, ``reason``, ``hint`` (how to read it again to record it)
``cancel_requested``  ``reason``
``run_finished``      ``status`` (done|failed|cancelled|busy), ``exit_code`` (0|1|3|4, ``octotui.errors.ExitCode``),
                      optional ``message`` and ``hint``; ``busy``: another run holds the cluster's lease,
                      nothing was changed. A run that ends without one, its runner gone, is ``crashed`` and
                      its code is 5 (``RUNNER_LOST``)
====================  ==========================================================================================

Every string in an event, keys included, passes the redactor before it is serialised, and every output
chunk passes a (streaming) redactor before it reaches a log. Each event is one ``write`` on an ``O_APPEND``
descriptor followed by ``fsync``: a kill -9 loses at most the event being written, and a reader skips a
torn last line (and any undecodable line) instead of failing.

A full disk must not leave a run without its end: the writer keeps a small reserve file in the run folder
(``.space-reserve``) and gives that space back the moment a write finds the disk full, so the failure, the
end of the run and the detail in ``runner.log`` can still be written. From then on step output is refused
(``JournalWriteError``, which names the file) and only events are written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from octotui import __version__
from octotui.errors import RUN_EXIT_CODES
from octotui.home import fsync_dir, open_private, private_dir
from octotui.run.journal_read import FINAL_STATUSES, JOURNAL, Event, read_events
from octotui.run.store import process_start_token, safe_component

#: The exit code each way a run can end (``run_finished`` may carry another, e.g. 2 for bad answers), from
#: the one mapping in ``octotui.errors``.
EXIT_CODES = {status: int(RUN_EXIT_CODES[status]) for status in FINAL_STATUSES}
#: A journal event carries at most this much of one output chunk; the step log has all of it.
MAX_EVENT_TEXT = 8192
#: Space held back in each run folder while the run writes, given back when the disk fills up so that the
#: failure can still be recorded (a few events and a detail in runner.log need far less).
SPACE_RESERVE = ".space-reserve"
SPACE_RESERVE_BYTES = 64 * 1024
_FULL = (errno.ENOSPC, errno.EDQUOT)


class JournalWriteError(OSError):
    """Writing the run's journal, a step log or a file beside them failed (most often: the disk is full).
    ``filename`` is the file, ``folder`` the run folder, ``errno``/``strerror`` what the system said."""

    def __init__(self, code: int | None, strerror: str | None, filename: Path, folder: Path) -> None:
        super().__init__(code, strerror or "write failed", str(filename))
        self.folder = folder

    @property
    def disk_full(self) -> bool:
        return self.errno in _FULL


class Redactor(Protocol):
    """Anything that masks the registered secrets in a text (``octotui.secrets.redact.Redactor`` is one)."""

    def redact(self, text: str) -> str: ...


class StreamRedactor(Protocol):
    """A redactor for a stream cut into chunks: holds back a tail that might be the start of a secret
    split across two chunks, and releases it on ``flush``."""

    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...


class _ChunkRedactor:
    """Fallback when no streaming redactor is given: redacts each chunk on its own."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor

    def feed(self, text: str) -> str:
        return self._redactor.redact(text)

    def flush(self) -> str:
        return ""


def redact_value(value: Any, redactor: Redactor) -> Any:
    """``value`` with every string inside it (dict keys too) passed through ``redactor``."""
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, Mapping):
        return {redactor.redact(str(k)): redact_value(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, redactor) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redactor.redact(str(value))


def plan_summary(steps_by_node: Mapping[str, Sequence[tuple[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """The ``plan`` field of ``run_started`` from ``{node: [(step id, title), ...]}`` in execution order."""
    return {node: [{"step": s, "title": t} for s, t in steps] for node, steps in steps_by_node.items()}


# --- writer --------------------------------------------------------------------------------------------


class _StepLog:
    def __init__(self, path: Path, redactor: Redactor, stream_factory: Callable[[], StreamRedactor] | None) -> None:
        self.path = path
        self.fd = open_private(path, os.O_WRONLY | os.O_APPEND)
        self._redactor = redactor
        self._factory = stream_factory
        self.streams: dict[str, StreamRedactor] = {}

    def redactor_for(self, stream: str) -> StreamRedactor:
        if stream not in self.streams:
            self.streams[stream] = self._factory() if self._factory else _ChunkRedactor(self._redactor)
        return self.streams[stream]


class JournalWriter:
    """Appends events to one run's journal and output to its step logs. Thread-safe: nodes run in parallel
    threads and share one writer. Do not call it from a signal handler (it takes a lock)."""

    def __init__(self, run_dir: Path, redactor: Redactor, *,
                 stream_redactor: Callable[[], StreamRedactor] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.run_dir = private_dir(run_dir)
        self.path = run_dir / JOURNAL
        self._redactor = redactor
        self._stream_factory = stream_redactor
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str], _StepLog] = {}
        #: Set once a write found the disk full: step output is refused from then on.
        self.full: JournalWriteError | None = None
        existed = self.path.exists()
        self._fd: int | None = open_private(self.path, os.O_RDWR | os.O_APPEND)
        self._seq = self._recover()
        if not existed:
            fsync_dir(run_dir)
        self._reserve = self._hold_reserve()

    # --- writing, and what a full disk does to it

    def _hold_reserve(self) -> Path | None:
        """Set ``SPACE_RESERVE_BYTES`` aside in the run folder (best effort: none when there is no room)."""
        path = self.run_dir / SPACE_RESERVE
        try:
            fd = open_private(path, os.O_WRONLY)
        except OSError:
            return None
        try:
            os.posix_fallocate(fd, 0, SPACE_RESERVE_BYTES)
            return path
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        finally:
            os.close(fd)

    def _release_reserve(self) -> bool:
        path, self._reserve = self._reserve, None
        if path is None:
            return False
        with contextlib.suppress(OSError):
            path.unlink()
        return True

    def _write(self, fd: int, data: bytes, path: Path, *, use_reserve: bool = True) -> None:
        """Write all of ``data``. The first time the disk is full the reserve is given back; a journal
        event (``use_reserve``) then goes on into that space, so it is not left torn, while step output
        fails. Any failure is a ``JournalWriteError`` naming ``path``."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except OSError as exc:
                if exc.errno in _FULL:
                    self._note_full(exc, path)
                    if self._release_reserve() and use_reserve:
                        continue
                raise JournalWriteError(exc.errno, exc.strerror, path, self.run_dir) from exc
            view = view[written:]

    def _sync(self, fd: int, path: Path) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno in _FULL:
                self._note_full(exc, path)
            raise JournalWriteError(exc.errno, exc.strerror, path, self.run_dir) from exc

    def _note_full(self, exc: OSError, path: Path) -> None:
        if self.full is None:
            self.full = JournalWriteError(exc.errno, exc.strerror, path, self.run_dir)

    def runner_log(self, text: str) -> Path | None:
        """Append ``text`` (redacted) to the run's ``runner.log``, beside the runner's own output: where the
        detail of a failure goes that the journal cannot hold, or when the journal cannot be written. Best
        effort; returns the file when the text is in it."""
        path = self.run_dir / "runner.log"  # detach.RUNNER_LOG: the runner's stdout and stderr
        try:
            fd = open_private(path, os.O_WRONLY | os.O_APPEND)
        except OSError:
            return None
        try:
            with self._lock:
                self._write(fd, self._redactor.redact(text).encode("utf-8", errors="replace"), path)
            return path
        except OSError:
            return None
        finally:
            os.close(fd)

    def _recover(self) -> int:
        """Continue after what is there: the last good ``seq``; a torn last line is closed with a newline
        so that it stays one skippable bad line instead of corrupting the next event."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        if os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")
            os.fsync(self._fd)
        last = 0
        for event in read_events(self.run_dir):
            last = max(last, int(event.get("seq", 0)))
        return last

    @property
    def seq(self) -> int:
        return self._seq

    def emit(self, type_: str, /, **fields: Any) -> Event:
        """Append one event (redacted, flushed and fsynced) and return it as written. A generic caller
        gets the same behaviour as the typed helpers: ``step_output`` also goes to the step log, and the
        end of a step (or of the run) first releases what the streaming redactors held back (a failure
        or the end of the run is recorded even when that last bit of output cannot be)."""
        if type_ == "step_output" and {"node", "step", "stream", "text"} <= fields.keys():
            event = self.step_output(str(fields["node"]), str(fields["step"]), str(fields["stream"]),
                                     str(fields["text"]))
            return event if event is not None else {"type": type_, "seq": self._seq, "held_back": True}
        with self._lock:
            if type_ in ("step_done", "step_failed") and "node" in fields and "step" in fields:
                self._end_output_locked(str(fields["node"]), str(fields["step"]),
                                        best_effort=type_ == "step_failed")
            elif type_ == "run_finished":
                for node, step in list(self._logs):
                    self._end_output_locked(node, step, best_effort=True)
            return self._emit_locked(type_, fields)

    def _emit_locked(self, type_: str, fields: Mapping[str, Any]) -> Event:
        if self._fd is None:
            raise ValueError(f"journal {self.path} is closed")
        self._seq += 1
        event: Event = {"seq": self._seq, "ts": round(self._clock(), 3), "type": type_}
        for key, value in fields.items():
            if key not in event:
                event[key] = value
        event = redact_value(event, self._redactor)
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._write(self._fd, line.encode("utf-8", errors="replace"), self.path)
        self._sync(self._fd, self.path)
        return event

    # typed helpers: the schema in one place

    def run_started(self, *, mode: str, plan: Mapping[str, Sequence[Mapping[str, str]]], **extra: Any) -> Event:
        pid = os.getpid()
        return self.emit("run_started", run_id=self.run_dir.name, mode=mode, nodes=list(plan), plan=plan,
                         pid=pid, pid_start=process_start_token(pid), octotui=__version__, **extra)

    def step_started(self, node: str, step: str, title: str, **extra: Any) -> Event:
        return self.emit("step_started", node=node, step=step, title=title, **extra)

    def step_output(self, node: str, step: str, stream: str, text: str) -> Event | None:
        """Stream a chunk of a step's output into ``<node>/<step>.log`` and the journal, both redacted by one
        streaming redactor per stream, so a secret split across chunks is caught. Returns the event, or
        ``None`` when the redactor held the whole chunk back for now."""
        with self._lock:
            log = self._log(node, step)
            clean = log.redactor_for(stream).feed(text)
            return self._output_locked(log, node, step, stream, clean)

    def _output_locked(self, log: _StepLog, node: str, step: str, stream: str, clean: str) -> Event | None:
        if not clean:
            return None
        if self.full is not None:  # what is left of the disk is kept for the run's events
            raise JournalWriteError(self.full.errno, self.full.strerror, log.path, self.run_dir)
        self._write(log.fd, self._redactor.redact(clean).encode("utf-8", errors="replace"), log.path,
                    use_reserve=False)
        extra: dict[str, Any] = {}
        if len(clean) > MAX_EVENT_TEXT:
            clean, extra["truncated"] = clean[-MAX_EVENT_TEXT:], True
        return self._emit_locked("step_output", {"node": node, "step": step, "stream": stream, "text": clean,
                                                 **extra})

    def end_output(self, node: str, step: str) -> None:
        """Release what the streaming redactors held back and close the step's log (fsynced)."""
        with self._lock:
            self._end_output_locked(node, step)

    def _end_output_locked(self, node: str, step: str, *, best_effort: bool = False) -> None:
        """``best_effort``: a step log that cannot be completed (a full disk) does not stop what comes
        next, i.e. recording a failure or the end of the run."""
        log = self._logs.pop((node, step), None)
        if log is None:
            return
        try:
            for stream, red in log.streams.items():
                self._output_locked(log, node, step, stream, red.flush())
            self._sync(log.fd, log.path)
        except OSError:
            if not best_effort:
                raise
        finally:
            os.close(log.fd)

    def step_done(self, node: str, step: str, *, changed: bool, duration_ms: int, **extra: Any) -> Event:
        with self._lock:
            self._end_output_locked(node, step)
            return self._emit_locked("step_done", {"node": node, "step": step, "changed": bool(changed),
                                                   "duration_ms": int(duration_ms), **extra})

    def step_failed(self, node: str, step: str, *, error: str, hint: str, duration_ms: int | None = None,
                    **extra: Any) -> Event:
        with self._lock:
            self._end_output_locked(node, step, best_effort=True)
            fields: dict[str, Any] = {"node": node, "step": step, "error": error, "hint": hint, **extra}
            if duration_ms is not None:
                fields["duration_ms"] = int(duration_ms)
            return self._emit_locked("step_failed", fields)

    def note(self, text: str, **extra: Any) -> Event:
        return self.emit("note", text=text, **extra)

    def master_key_stored(self, *, node: str, where: str, **extra: Any) -> Event:
        """Record that the master key was read and stored; the key itself is never an argument here."""
        return self.emit("master_key_stored", node=node, where=where, **extra)

    def master_key_not_stored(self, *, node: str, reason: str, hint: str, **extra: Any) -> Event:
        """Record that the master key read from ``node`` was NOT stored, why, and how to read it again."""
        return self.emit("master_key_not_stored", node=node, reason=reason, hint=hint, **extra)

    def cancel_requested(self, reason: str = "requested") -> Event:
        return self.emit("cancel_requested", reason=reason)

    def run_finished(self, status: Literal["done", "failed", "cancelled", "busy"], *, exit_code: int | None = None,
                     **extra: Any) -> Event:
        if status not in EXIT_CODES:
            raise ValueError(f"run status must be one of {', '.join(EXIT_CODES)}, not {status!r}")
        with self._lock:
            for node, step in list(self._logs):
                self._end_output_locked(node, step, best_effort=True)
            code = EXIT_CODES[status] if exit_code is None else exit_code
            return self._emit_locked("run_finished", {"status": status, "exit_code": code, **extra})

    def step_log_path(self, node: str, step: str) -> Path:
        step_file = safe_component(self._redactor.redact(step)) + ".log"
        return self.run_dir / safe_component(self._redactor.redact(node)) / step_file

    def _log(self, node: str, step: str) -> _StepLog:
        key = (node, step)
        if key not in self._logs:
            path = self.step_log_path(node, step)
            try:
                private_dir(path.parent)
                self._logs[key] = _StepLog(path, self._redactor, self._stream_factory)
            except OSError as exc:
                if exc.errno in _FULL:
                    self._note_full(exc, path)
                raise JournalWriteError(exc.errno, exc.strerror, path, self.run_dir) from exc
        return self._logs[key]

    def close(self) -> None:
        with self._lock:
            try:
                for node, step in list(self._logs):
                    self._end_output_locked(node, step, best_effort=self.full is not None)
            finally:
                if self._fd is not None:
                    fd, self._fd = self._fd, None
                    os.close(fd)
                self._release_reserve()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
