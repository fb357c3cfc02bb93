"""Running processes on a simulated node: their pipes, environment and identity.

WinRS hands a command line to a node and then drains output from it while it runs; programs write to
sinks and read stdin as real ones would. Output is encoded in the shell's code page (437 unless the
shell asked for 65001), so a client that decodes it wrongly sees the same garbage it would see from
Windows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from octotui.lab.identity import Identity
from octotui.lab.settings import LabSettings
from octotui.lab.state import NodeState, ProcessRecord, World


def codec_for(codepage: int) -> str:
    return {437: "cp437", 65001: "utf-8", 1252: "cp1252", 850: "cp850"}.get(codepage, "cp437")


class Env(MutableMapping[str, str]):
    """An environment block whose names compare case-insensitively but keep their spelling."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._d: dict[str, tuple[str, str]] = {}
        for k, v in (initial or {}).items():
            self[k] = v

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._d[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._d[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(v[0] for v in self._d.values())

    def __len__(self) -> int:
        return len(self._d)

    def copy(self) -> Env:
        return Env(dict(self.items()))


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


class NullSink:
    def write(self, data: bytes) -> None:
        return None


class Cancelled(Exception):
    """Raised inside a program when its command was terminated by a WinRS Signal."""


class StdinPipe:
    """What the client sends with WinRS Send, readable by the program until End."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._eof = False
        self._cond = threading.Condition()

    def feed(self, data: bytes, end: bool) -> None:
        with self._cond:
            self._buf += data
            if end:
                self._eof = True
            self._cond.notify_all()

    def close(self) -> None:
        self.feed(b"", True)

    @property
    def at_eof(self) -> bool:
        with self._cond:
            return self._eof and not self._buf

    def read_all(self, cancel: threading.Event | None = None) -> bytes:
        """Block until the client signals End (or the command is cancelled), then return everything."""
        with self._cond:
            while not self._eof:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                self._cond.wait(0.1)
            data = bytes(self._buf)
            self._buf.clear()
            return data

    def read_line(self, cancel: threading.Event | None = None) -> bytes | None:
        """Block until a whole line (ending in LF) or End arrives; None once End came and nothing is left.

        An interactive cmd.exe reads its commands this way: each WinRS Send may carry part of a line,
        one line or several, and the last line may lack its line end.
        """
        with self._cond:
            while b"\n" not in self._buf and not self._eof:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                self._cond.wait(0.1)
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            end = self._buf.find(b"\n")
            if end < 0:
                if not self._buf:
                    return None
                end = len(self._buf) - 1
            line = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            return line

    def read_available(self) -> bytes:
        with self._cond:
            data = bytes(self._buf)
            self._buf.clear()
            return data


class OutputBuffer:
    """stdout and stderr of one command, drained by WinRS Receive."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._err = bytearray()
        self.done = False
        self.exit_code: int | None = None
        self._cond = threading.Condition()

    class _StreamSink:
        def __init__(self, owner: OutputBuffer, which: str) -> None:
            self.owner, self.which = owner, which

        def write(self, data: bytes) -> None:
            self.owner._write(self.which, data)

    @property
    def stdout(self) -> Sink:
        return OutputBuffer._StreamSink(self, "stdout")

    @property
    def stderr(self) -> Sink:
        return OutputBuffer._StreamSink(self, "stderr")

    def _write(self, which: str, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            (self._out if which == "stdout" else self._err).extend(data)
            self._cond.notify_all()

    def finish(self, exit_code: int) -> None:
        with self._cond:
            self.done = True
            self.exit_code = exit_code
            self._cond.notify_all()

    def drain(self, max_bytes: int, timeout: float) -> tuple[bytes, bytes, bool, int | None]:
        """Wait up to ``timeout`` for output or completion; return at most ``max_bytes`` of output.

        ``done`` is only reported once every byte has been handed out, so the final Receive carries
        the exit code after the last of the output.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._out or self._err or self.done):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            out = bytes(self._out[:max_bytes])
            del self._out[: len(out)]
            err = bytes(self._err[: max(0, max_bytes - len(out))])
            del self._err[: len(err)]
            finished = self.done and not self._out and not self._err
            return out, err, finished, (self.exit_code if finished else None)


class NodeHost(Protocol):
    """The node a running program sees: its state, the lab's settings, and the node's own services.

    ``NodeRuntime`` (``runtime``) is the one implementation. Programs reach it through this protocol so
    that this module, which every program imports, does not import the runtime that imports them back.
    """

    world: World
    node: NodeState
    settings: LabSettings

    def new_context(self, identity: Identity, *, env_extra: dict[str, str] | None = None,
                    codepage: int = 437, cwd: str | None = None,
                    delegated_password: str | None = None) -> tuple[ProcessContext, OutputBuffer]:
        """A fresh process context for ``identity`` (a scheduled task's process, say) and its output."""
        ...

    def log_process(self, command_line: str, account: str) -> ProcessRecord:
        """Record a process creation in the node's log."""
        ...

    def resolve_program(self, name: str, ctx: ProcessContext) -> tuple[str, Program] | None:
        """Find an executable the way CreateProcess plus cmd.exe's PATH/PATHEXT search would."""
        ...

    def run_program_line(self, ctx: ProcessContext, command_line: str, argv0_hint: str | None = None) -> int:
        """CreateProcess on a full command line."""
        ...

    def run_cmd_shell(self, ctx: ProcessContext, command_line: str) -> int:
        """``cmd.exe /c LINE``."""
        ...

    def start_service(self, name: str) -> str | None:
        """Start a service; None, or the error text the service control manager reports."""
        ...

    def stop_service(self, name: str) -> None: ...


@dataclass
class ProcessContext:
    """Everything a simulated program sees: its node, who it runs as, its environment and its pipes."""

    runtime: NodeHost
    identity: Identity
    env: Env
    cwd: str
    codepage: int
    stdin: StdinPipe
    stdout: Sink
    stderr: Sink
    cancel: threading.Event = field(default_factory=threading.Event)
    #: Set for a CredSSP session: the account and password the client delegated.
    delegated_password: str | None = None

    @property
    def encoding(self) -> str:
        return codec_for(self.codepage)

    def out(self, text: str) -> None:
        """Write text to stdout as a console program would: CRLF line ends, the shell's code page."""
        self.stdout.write(_to_console(text, self.encoding))

    def err(self, text: str) -> None:
        self.stderr.write(_to_console(text, self.encoding))

    def println(self, text: str = "") -> None:
        self.out(text + "\n")

    def eprintln(self, text: str = "") -> None:
        self.err(text + "\n")

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once if the command is terminated."""
        if self.cancel.wait(seconds):
            raise Cancelled()

    def with_streams(self, stdout: Sink | None = None, stderr: Sink | None = None,
                     stdin: StdinPipe | None = None) -> ProcessContext:
        return replace(self, stdout=stdout or self.stdout, stderr=stderr or self.stderr,
                       stdin=stdin or self.stdin)


def _to_console(text: str, encoding: str) -> bytes:
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode(encoding, errors="replace")


#: A program: given its context, its argv (split by the C runtime rules) and its raw command line,
#: it runs to completion and returns its exit code.
Program = Callable[[ProcessContext, list[str], str], int]
