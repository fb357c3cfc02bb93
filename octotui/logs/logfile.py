"""One log file, open for reading by offset, and what happened to it since we last looked.

Why ``pread`` and not ``mmap``: a log we follow can be truncated or replaced under us (a roll, ``logrotate
copytruncate``, a cache being re-fetched). Touching a mapped page past the new end of a file kills the
process with SIGBUS; a read past the end just returns fewer bytes. Reads are positioned, so the index
builder (a worker thread) and the viewer (the UI thread) share one descriptor without seeking it.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from octotui.errors import OctotuiError
from octotui.logs.encoding import SNIFF_BYTES, Encoding, detect


class LogError(OctotuiError):
    """A log that cannot be opened or read; the message names the file (or node) and the reason."""


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


class Change(enum.Enum):
    """What ``LogFile.check`` found."""

    SAME = "same"
    GREW = "grew"
    #: The file at the path is another file now (renamed away and recreated: NLog's archiving), or shorter
    #: than what was read (truncated in place): what was read is no longer its start.
    ROLLED = "rolled"
    #: Nothing at the path any more (deleted, or renamed with nothing new yet).
    GONE = "gone"


@dataclass(frozen=True)
class Identity:
    device: int
    inode: int


class LogFile:
    """A file opened read-only; ``read`` is positioned and thread-safe."""

    def __init__(self, path: str | Path, encoding: Encoding | None = None) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise LogError(f"Cannot open {self.path}: {describe_os_error(exc)}",
                           "check the path and that this user may read it") from exc
        self._fd = fd
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise LogError(f"Cannot read {self.path}: {describe_os_error(exc)}") from exc
        if not _is_regular(st.st_mode):
            os.close(fd)
            raise LogError(f"{self.path} is not a regular file", "give the path of a log file")
        self.identity = Identity(st.st_dev, st.st_ino)
        self._lock = threading.Lock()  # only where there is no pread (Windows)
        self._fixed_encoding = encoding
        self.encoding = encoding or detect(self.read(0, SNIFF_BYTES))
        self._sniffed = st.st_size >= SNIFF_BYTES or encoding is not None

    # --- reading ---------------------------------------------------------------------------------------
    def size(self) -> int:
        try:
            return os.fstat(self._fd).st_size
        except OSError as exc:
            raise LogError(f"Cannot read {self.path}: {describe_os_error(exc)}") from exc

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer at the end of the file)."""
        if length <= 0:
            return b""
        try:
            if hasattr(os, "pread"):
                return os.pread(self._fd, length, offset)
            with self._lock:  # pragma: no cover - Windows consoles
                os.lseek(self._fd, offset, os.SEEK_SET)
                return os.read(self._fd, length)
        except OSError as exc:
            raise LogError(f"Cannot read {self.path}: {describe_os_error(exc)}") from exc

    def read_into(self, offset: int, buffer: bytearray, length: int) -> int:
        """Read up to ``length`` bytes from ``offset`` into the start of ``buffer``; the count read."""
        length = min(length, len(buffer))
        if length <= 0:
            return 0
        try:
            if hasattr(os, "preadv"):
                view = memoryview(buffer)[:length]
                try:
                    return os.preadv(self._fd, [view], offset)
                finally:
                    view.release()
            data = self.read(offset, length)  # pragma: no cover - no preadv (Windows)
            buffer[: len(data)] = data  # pragma: no cover
            return len(data)  # pragma: no cover
        except OSError as exc:
            raise LogError(f"Cannot read {self.path}: {describe_os_error(exc)}") from exc

    def resniff(self) -> bool:
        """Guess the encoding again once a file that was nearly empty when opened has some text; True when
        it changed (the index must then be rebuilt)."""
        if self._sniffed:
            return False
        head = self.read(0, SNIFF_BYTES)
        if len(head) >= SNIFF_BYTES:
            self._sniffed = True
        found = detect(head)
        if found != self.encoding and head:
            self.encoding = found
            return True
        return False

    # --- watching --------------------------------------------------------------------------------------
    def check(self, known_size: int) -> Change:
        """Compare the file behind the path with what was read so far (``known_size`` bytes)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return Change.GONE
        except OSError as exc:
            raise LogError(f"Cannot read {self.path}: {describe_os_error(exc)}") from exc
        if Identity(st.st_dev, st.st_ino) != self.identity and _is_regular(st.st_mode):
            return Change.ROLLED
        size = self.size()
        if size < known_size:
            return Change.ROLLED
        return Change.GREW if size > known_size else Change.SAME

    def reopen(self) -> LogFile:
        """The file now at this path, as a new ``LogFile`` (after a roll)."""
        return LogFile(self.path, self._fixed_encoding)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
