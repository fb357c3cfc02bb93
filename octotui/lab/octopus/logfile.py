"""``OctopusServer.txt``: the node log Octopus writes under ``<Home>\\Logs``, in its NLog layout.

Users and the installer read this file when a command or the service fails (the console only says
"see the log"), so every line the simulated exe and service print also lands here, in the layout of
Octopus's ``normalLayout``: ``yyyy-MM-dd HH:mm:ss.ffff  PID  TID LEVEL  message`` with the ids and the
level right-aligned in five columns. An entry that spans lines (an exception) continues unprefixed.

Values an option marks as sensitive are masked before they are written, as Octopus's log-file-only
logger does; the lab's rule is that no secret reaches a log.
"""

from __future__ import annotations

import datetime as _dt
import ntpath
from collections.abc import Iterable

from octotui.lab.state import NodeState, World

LOG_FILE_NAME = "OctopusServer.txt"
#: Where a command logs before it knows the instance's home (Octopus falls back to ProgramData).
FALLBACK_LOG_DIR = "C:\\ProgramData\\Octopus\\Logs"
MASK = "********"


def format_entry(when: _dt.datetime, pid: int, tid: int, level: str, message: str) -> str:
    """One log entry with CRLF line ends, as NLog writes it on Windows."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 100:04d}"
    lines = message.replace("\r\n", "\n").split("\n")
    head = f"{stamp}  {pid:>5}  {tid:>5} {level.upper():>5}  {lines[0]}"
    return "\r\n".join([head, *lines[1:]]) + "\r\n"


def log_dir(home: str | None) -> str:
    return ntpath.join(home, "Logs") if home else FALLBACK_LOG_DIR


def new_pid(node: NodeState, salt: int = 0) -> int:
    """A Windows-looking process id (a multiple of 4) that differs from one process to the next.

    ``salt`` separates processes started in the same moment (a service started by a command)."""
    return 4 * (1100 + (37 * len(node.process_log) + 1009 * salt) % 6000)


class ServerLog:
    """The log of one simulated process: buffered until the instance's home is known, then appended."""

    def __init__(self, world: World, node: NodeState, pid: int, tid: int = 1,
                 sensitive: Iterable[str] = ()) -> None:
        self.world = world
        self.node = node
        self.pid = pid
        self.tid = tid
        self.home: str | None = None
        self._sensitive = [s for s in sensitive if s]
        self._pending: list[str] = []

    @property
    def path(self) -> str:
        return ntpath.join(log_dir(self.home), LOG_FILE_NAME)

    def add_sensitive(self, *values: str) -> None:
        self._sensitive.extend(v for v in values if v and len(v) > 1)

    def mask(self, text: str) -> str:
        for secret in sorted(self._sensitive, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def set_home(self, home: str | None) -> None:
        """From now on write to ``<home>\\Logs``; entries logged so far follow them there."""
        self.home = home or None
        if self.home is not None:
            self.flush()

    def write(self, level: str, message: str, tid: int | None = None) -> None:
        entry = format_entry(_dt.datetime.now(), self.pid, self.tid if tid is None else tid, level,
                             self.mask(message))
        self._pending.append(entry)
        if self.home is not None:
            self.flush()

    def flush(self, fallback: bool = False) -> None:
        """Append what is buffered; without a home only when ``fallback`` (the process is ending)."""
        if not self._pending or (self.home is None and not fallback):
            return
        data = "".join(self._pending).encode("utf-8")
        self._pending.clear()
        with self.world.lock:
            self.node.fs.write(self.path, data, append=True, make_parents=True)
