"""Starting the runner as its own process, so that the run outlives the terminal that started it.

The runner gets a new session (``setsid``): it has no controlling terminal, so a closed terminal window or a
dropped SSH connection, which sends SIGHUP to the terminal's session and foreground process group, does not
reach it. Its stdout and stderr go to ``runner.log`` in the run folder (0600) rather than to the terminal
that may disappear.

Secrets reach it through a pipe on its stdin, one JSON line, then EOF: not on the command line (any user can
read ``ps``), not in its environment (``/proc/<pid>/environ``, inherited by every child it starts), not in a
file (it would outlive the run). Environment variables of the parent that hold a secret value are removed
from the child's environment for the same reason.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from octotui.home import open_private, private_dir
from octotui.run.journal import Redactor
from octotui.run.locks import HeldLock
from octotui.run.store import record_runner_pid

RUNNER_LOG = "runner.log"
#: Environment variables that carry secrets into ``octotui`` (issue 3); never passed on to the runner.
SECRET_ENV = ("OCTOTUI_WINRM_PASSWORD", "OCTOTUI_SERVICE_PASSWORD", "OCTOTUI_MASTER_KEY")


class HandoverError(RuntimeError):
    """The runner did not receive its secrets; the message says why and what to do."""


def child_environment(secrets: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without the known secret variables and without any
    variable whose value contains a secret."""
    values = [v for v in secrets.values() if v]
    env = dict(os.environ if base is None else base)
    return {k: v for k, v in env.items() if k not in SECRET_ENV and not any(s in v for s in values)}


def start_detached(argv: Sequence[str], secrets: Mapping[str, str], run_dir: Path, *,
                   env: Mapping[str, str] | None = None, cwd: Path | None = None,
                   handover: Sequence[HeldLock] = ()) -> int:
    """Start ``argv`` in its own session with ``secrets`` on its stdin; returns its pid (also recorded in
    ``runner.pid``). Locks in ``handover`` pass to the child: it inherits their descriptors and this
    process closes its own copies, so the locks stay held exactly as long as the child lives."""
    for key, value in secrets.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("secrets must map names to strings")
    if any(s and s in arg for arg in argv for s in secrets.values()):
        raise ValueError("a secret value appears in the runner's command line; secrets go over stdin only")
    private_dir(run_dir)
    log_fd = open_private(run_dir / RUNNER_LOG, os.O_WRONLY | os.O_APPEND)
    payload = (json.dumps(dict(secrets), separators=(",", ":")) + "\n").encode("utf-8")
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=log_fd, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, pass_fds=tuple(lock.fileno() for lock in handover),
            env=child_environment(secrets, env), cwd=cwd,
        )
    finally:
        os.close(log_fd)
    assert proc.stdin is not None
    try:
        # Far below a pipe's buffer, so this never waits on the child; a child that died at once is
        # reported by the journal (no run_started, runner not alive: "crashed"), not here.
        proc.stdin.write(payload)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    record_runner_pid(run_dir, proc.pid)
    for lock in handover:
        lock.close_handle()
    return proc.pid


def read_handed_secrets(*, timeout: float = 30.0, stdin_fd: int = 0) -> dict[str, str]:
    """In the runner: read the secrets line from stdin, then point stdin at ``/dev/null`` so that nothing
    started later inherits the pipe. Raises ``HandoverError`` instead of waiting forever."""
    if os.isatty(stdin_fd):
        raise HandoverError("the runner reads its secrets from a pipe; start it with `octotui apply`, "
                            "not directly from a terminal")
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandoverError(f"no secrets arrived on stdin within {timeout:.0f} s; start the run again")
        ready, _, _ = select.select([stdin_fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(stdin_fd, 65536)
        if not chunk:
            break
        data += chunk
    _detach_stdin(stdin_fd)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HandoverError("the secrets handed to the runner were not one JSON line; start the run "
                            "again") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise HandoverError("the secrets handed to the runner must be a JSON object of strings")
    return doc


def _detach_stdin(stdin_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, stdin_fd)
    finally:
        os.close(null)


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets before passing text on: the runner's stdout/stderr (tracebacks
    included) end up in ``runner.log``, which must hold no secret either."""

    def __init__(self, inner: TextIO, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        # Whole lines only: a secret cut by two write() calls is then still seen whole.
        self._pending += text
        if "\n" in self._pending:
            done, self._pending = self._pending.rsplit("\n", 1)
            self._inner.write(self._redactor.redact(done + "\n"))
            self._inner.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._inner.write(self._redactor.redact(self._pending))
            self._pending = ""
        self._inner.flush()

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return False


def protect_std_streams(redactor: Redactor) -> None:
    """In the runner, once the secrets are known: route ``sys.stdout``/``sys.stderr`` through the redactor."""
    sys.stdout = RedactingStream(sys.stdout, redactor)
    sys.stderr = RedactingStream(sys.stderr, redactor)
