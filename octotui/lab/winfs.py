"""A case-insensitive Windows file system held in memory, for one node or one share.

Windows paths compare without regard to case but keep the case they were created with; this keeps
both, so that ``dir`` shows what was written and lookups behave as NTFS does.
"""

from __future__ import annotations

import base64
import ntpath
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class FsError(Exception):
    """A file-system failure carrying the Win32 error number and the text Windows prints for it."""

    def __init__(self, winerror: int, message: str) -> None:
        super().__init__(message)
        self.winerror = winerror
        self.message = message


ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5


def normalize(path: str) -> str:
    """Return the canonical spelling used as a key: backslashes, no trailing separator, no ``..``."""
    p = path.replace("/", "\\")
    if p.startswith("\\\\"):
        body = ntpath.normpath(p)
    else:
        body = ntpath.normpath(p)
        if len(body) >= 2 and body[1] == ":":
            body = body[0].upper() + body[1:]
    if len(body) > 3 and body.endswith("\\"):
        body = body.rstrip("\\")
    return body


def key(path: str) -> str:
    return normalize(path).lower()


@dataclass
class FileEntry:
    path: str
    data: bytes
    #: Last write time (Unix seconds); not saved with the world (a resumed lab's files date from its start).
    mtime: float = field(default_factory=time.time)


class WinFS:
    """Files and directories keyed case-insensitively; every method is safe to call from many threads."""

    def __init__(self, drives: tuple[str, ...] = ("C:",)) -> None:
        self._lock = threading.RLock()
        self.files: dict[str, FileEntry] = {}
        self.dirs: dict[str, str] = {}
        for d in drives:
            root = normalize(d + "\\")
            self.dirs[root.lower()] = root

    # --- queries -------------------------------------------------------------------------------
    def is_dir(self, path: str) -> bool:
        with self._lock:
            return key(path) in self.dirs

    def is_file(self, path: str) -> bool:
        with self._lock:
            return key(path) in self.files

    def exists(self, path: str) -> bool:
        return self.is_dir(path) or self.is_file(path)

    def drive_exists(self, path: str) -> bool:
        p = normalize(path)
        if len(p) >= 2 and p[1] == ":":
            return self.is_dir(p[:2] + "\\")
        return False

    def read(self, path: str) -> bytes:
        with self._lock:
            entry = self.files.get(key(path))
            if entry is None:
                if key(path) in self.dirs:
                    raise FsError(ERROR_ACCESS_DENIED, "Access is denied.")
                raise FsError(ERROR_FILE_NOT_FOUND, "The system cannot find the file specified.")
            return entry.data

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding, errors="replace")

    def modified(self, path: str) -> float:
        """The file's last write time (Unix seconds)."""
        with self._lock:
            entry = self.files.get(key(path))
            if entry is None:
                raise FsError(ERROR_FILE_NOT_FOUND, "The system cannot find the file specified.")
            return entry.mtime

    def real_path(self, path: str) -> str:
        """The spelling the path was created with."""
        with self._lock:
            k = key(path)
            if k in self.files:
                return self.files[k].path
            return self.dirs.get(k, normalize(path))

    def listdir(self, path: str) -> list[str]:
        with self._lock:
            k = key(path)
            if k not in self.dirs:
                raise FsError(ERROR_PATH_NOT_FOUND, "The system cannot find the path specified.")
            prefix = k.rstrip("\\") + "\\"
            names: list[str] = []
            for table in (self.dirs, self.files):
                for child_key, entry in table.items():
                    if child_key.startswith(prefix) and "\\" not in child_key[len(prefix):] and child_key != k:
                        real = entry.path if isinstance(entry, FileEntry) else entry
                        names.append(ntpath.basename(real))
            return sorted(names, key=str.lower)

    def walk_files(self, path: str) -> Iterator[FileEntry]:
        with self._lock:
            prefix = key(path).rstrip("\\") + "\\"
            return iter([e for k, e in self.files.items() if k.startswith(prefix)])

    # --- changes -------------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        with self._lock:
            p = normalize(path)
            parent = ntpath.dirname(p)
            if key(p) in self.files:
                raise FsError(183, "Cannot create a file when that file already exists.")
            if parent and parent != p and key(parent) not in self.dirs:
                if len(p) <= 3 or (p.startswith("\\\\") and parent.count("\\") <= 3):
                    raise FsError(ERROR_PATH_NOT_FOUND, "The system cannot find the path specified.")
                self.makedirs(parent)
            self.dirs.setdefault(key(p), p)

    def write(self, path: str, data: bytes, append: bool = False, make_parents: bool = False) -> None:
        with self._lock:
            p = normalize(path)
            k = key(p)
            if k in self.dirs:
                raise FsError(ERROR_ACCESS_DENIED, "Access is denied.")
            parent = ntpath.dirname(p)
            if key(parent) not in self.dirs:
                if not make_parents:
                    raise FsError(ERROR_PATH_NOT_FOUND, "The system cannot find the path specified.")
                self.makedirs(parent)
            if append and k in self.files:
                self.files[k].data += data
                self.files[k].mtime = time.time()
            else:
                real = self.files[k].path if k in self.files else p
                self.files[k] = FileEntry(real, data)

    def append_text(self, path: str, text: str) -> None:
        self.write(path, text.encode("utf-8"), append=True, make_parents=True)

    def delete(self, path: str) -> None:
        with self._lock:
            k = key(path)
            if k not in self.files:
                raise FsError(ERROR_FILE_NOT_FOUND, "Could Not Find " + normalize(path))
            del self.files[k]

    def rmtree(self, path: str) -> None:
        with self._lock:
            k = key(path)
            prefix = k.rstrip("\\") + "\\"
            for table in (self.files, self.dirs):
                for child in [c for c in table if c == k or c.startswith(prefix)]:
                    del table[child]

    # --- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "dirs": sorted(self.dirs.values(), key=str.lower),
                "files": {e.path: base64.b64encode(e.data).decode("ascii") for e in self.files.values()},
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WinFS:
        fs = cls(drives=())
        for d in data.get("dirs", []):
            fs.dirs[key(d)] = d
        for path, b64 in data.get("files", {}).items():
            fs.files[key(path)] = FileEntry(path, base64.b64decode(b64))
        return fs
