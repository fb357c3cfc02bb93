"""A share's file system kept in a real folder, so that the simulated nodes and real SMB clients see one share.

With ``lab up --dc`` the Samba DC serves the cluster's share from a folder on disk; the nodes reach the same
share through ``octotui.lab.shares``, which asks the share's ``fs``. This class is that ``fs``: the WinFS
interface (case-insensitive lookups that keep the case written, Windows' error texts) over the folder, so a file
a node writes is at once visible over SMB and the other way round. Paths arrive in the share's canonical UNC
form ``\\\\host\\share\\...``; the host and share parts name the folder itself.

Files the lab writes here are created by this (root) process; the folder's inheritable POSIX ACL, which Samba
set with the share's NT ACL, gives the service account its rights on them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from octotui.lab.winfs import (
    ERROR_ACCESS_DENIED,
    ERROR_FILE_NOT_FOUND,
    ERROR_PATH_NOT_FOUND,
    FileEntry,
    FsError,
    WinFS,
    key,
    normalize,
)

_NOT_FOUND = "The system cannot find the file specified."
_PATH_NOT_FOUND = "The system cannot find the path specified."


class DiskFS(WinFS):
    """The share rooted at ``root`` (a folder that exists); ``unc_root`` is ``\\\\host\\share`` for listings."""

    def __init__(self, root: Path, unc_root: str) -> None:
        self._lock = threading.RLock()
        self.root = root
        self.unc_root = normalize(unc_root)

    # --- the memory tables, as views of the disk (``lab inspect`` lists ``files``) ----------------
    @property
    def files(self) -> dict[str, FileEntry]:
        return {key(e.path): e for e in self._entries(files=True)}

    @files.setter
    def files(self, value: dict[str, FileEntry]) -> None:
        raise AttributeError("a DiskFS keeps its files on disk")

    @property
    def dirs(self) -> dict[str, str]:
        return {key(p): p for p in self._dir_paths()}

    @dirs.setter
    def dirs(self, value: dict[str, str]) -> None:
        raise AttributeError("a DiskFS keeps its folders on disk")

    # --- path mapping --------------------------------------------------------------------------
    def _parts(self, path: str) -> list[str] | None:
        """The components below the share root, or None for a path above it (``\\\\host`` alone)."""
        p = normalize(path)
        if not p.startswith("\\\\"):
            return None
        parts = [x for x in p[2:].split("\\") if x]
        if len(parts) < 2:
            return None
        return parts[2:]

    def _find(self, path: str) -> Path | None:
        """The existing disk path whose components match ``path``'s without regard to case."""
        parts = self._parts(path)
        if parts is None:
            return None
        here = self.root
        for part in parts:
            exact = here / part
            if exact.exists() or exact.is_symlink():
                here = exact
                continue
            low = part.lower()
            try:
                match = next((here / n for n in sorted(os.listdir(here)) if n.lower() == low), None)
            except (NotADirectoryError, FileNotFoundError):
                return None
            if match is None:
                return None
            here = match
        return here

    def _target(self, path: str) -> Path | None:
        """Where ``path`` is or would be: its parent as it exists on disk, its last part as typed."""
        parts = self._parts(path)
        if parts is None or not parts:
            return self.root if parts == [] else None
        parent = self._find(self._unc(parts[:-1]))
        return None if parent is None else parent / parts[-1]

    def _unc(self, parts: list[str]) -> str:
        return "\\".join([self.unc_root, *parts])

    def _to_unc(self, disk: Path) -> str:
        rel = disk.relative_to(self.root).parts
        return self._unc(list(rel))

    def _entries(self, files: bool, below: Path | None = None) -> list[FileEntry]:
        found: list[FileEntry] = []
        for folder, _dirs, names in os.walk(below or self.root):
            for name in names if files else ():
                disk = Path(folder) / name
                with contextlib.suppress(OSError):
                    found.append(FileEntry(self._to_unc(disk), disk.read_bytes(), disk.stat().st_mtime))
        return found

    def _dir_paths(self) -> list[str]:
        return [self._to_unc(Path(folder)) for folder, _dirs, _names in os.walk(self.root)]

    # --- queries -------------------------------------------------------------------------------
    def is_dir(self, path: str) -> bool:
        found = self._find(path)
        return found is not None and found.is_dir()

    def is_file(self, path: str) -> bool:
        found = self._find(path)
        return found is not None and found.is_file()

    def drive_exists(self, path: str) -> bool:
        return False

    def read(self, path: str) -> bytes:
        found = self._find(path)
        if found is None:
            raise FsError(ERROR_FILE_NOT_FOUND, _NOT_FOUND)
        if found.is_dir():
            raise FsError(ERROR_ACCESS_DENIED, "Access is denied.")
        with _as_fs_error():
            return found.read_bytes()

    def modified(self, path: str) -> float:
        found = self._find(path)
        if found is None or not found.is_file():
            raise FsError(ERROR_FILE_NOT_FOUND, _NOT_FOUND)
        return found.stat().st_mtime

    def real_path(self, path: str) -> str:
        found = self._find(path)
        return self._to_unc(found) if found is not None else normalize(path)

    def listdir(self, path: str) -> list[str]:
        found = self._find(path)
        if found is None or not found.is_dir():
            raise FsError(ERROR_PATH_NOT_FOUND, _PATH_NOT_FOUND)
        with _as_fs_error():
            return sorted(os.listdir(found), key=str.lower)

    def walk_files(self, path: str) -> Iterator[FileEntry]:
        found = self._find(path)
        if found is None or not found.is_dir():
            return iter([])
        return iter(self._entries(files=True, below=found))

    # --- changes -------------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        with self._lock:
            parts = self._parts(path)
            if parts is None:
                raise FsError(ERROR_PATH_NOT_FOUND, _PATH_NOT_FOUND)
            for depth in range(1, len(parts) + 1):
                prefix = self._unc(parts[:depth])
                found = self._find(prefix)
                if found is None:
                    target = self._target(prefix)
                    if target is None:
                        raise FsError(ERROR_PATH_NOT_FOUND, _PATH_NOT_FOUND)
                    target.mkdir()
                elif not found.is_dir():
                    raise FsError(183, "Cannot create a file when that file already exists.")

    def write(self, path: str, data: bytes, append: bool = False, make_parents: bool = False) -> None:
        with self._lock:
            parts = self._parts(path)
            if not parts:
                raise FsError(ERROR_ACCESS_DENIED, "Access is denied.")
            if make_parents:
                self.makedirs(self._unc(parts[:-1]))
            found = self._find(path)
            if found is not None and found.is_dir():
                raise FsError(ERROR_ACCESS_DENIED, "Access is denied.")
            target = found or self._target(path)
            if target is None or not target.parent.is_dir():
                raise FsError(ERROR_PATH_NOT_FOUND, _PATH_NOT_FOUND)
            with _as_fs_error(), open(target, "ab" if append else "wb") as out:
                out.write(data)

    def delete(self, path: str) -> None:
        with self._lock:
            found = self._find(path)
            if found is None or not found.is_file():
                raise FsError(ERROR_FILE_NOT_FOUND, "Could Not Find " + normalize(path))
            with _as_fs_error():
                found.unlink()

    def rmtree(self, path: str) -> None:
        with self._lock:
            found = self._find(path)
            if found is None:
                return
            if found == self.root:
                for child in list(found.iterdir()):
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            elif found.is_dir() and not found.is_symlink():
                shutil.rmtree(found)
            else:
                found.unlink()

    # --- persistence: the world file keeps a copy, so a lab started later without --dc has the same files ---
    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            memory = WinFS(drives=())
            for folder in self._dir_paths():
                memory.dirs[key(folder)] = folder
            for entry in self._entries(files=True):
                memory.files[key(entry.path)] = entry
            return memory.to_dict()

    def load_from(self, saved: WinFS) -> None:
        """Make the folder hold exactly ``saved``'s folders and files (the world as it was last saved)."""
        with self._lock:
            keep_files = {key(self._rebase(e.path)) for e in saved.files.values()}
            keep_dirs = {key(self._rebase(d)) for d in saved.dirs.values()}
            for entry in self._entries(files=True):
                if key(entry.path) not in keep_files:
                    self.delete(entry.path)
            for folder in sorted(self._dir_paths(), key=len, reverse=True):
                if key(folder) not in keep_dirs and key(folder) != key(self.unc_root):
                    self.rmtree(folder)
            for folder in sorted(saved.dirs.values(), key=len):
                self.makedirs(self._rebase(folder))
            for entry in saved.files.values():
                target = self._rebase(entry.path)
                with contextlib.suppress(FsError):
                    if self.is_file(target) and self.read(target) == entry.data:
                        continue
                self.write(target, entry.data, make_parents=True)

    def _rebase(self, path: str) -> str:
        """A path saved under any ``\\\\host\\share`` spelling, under this share's root."""
        parts = [x for x in normalize(path)[2:].split("\\") if x]
        return self._unc(parts[2:])


@contextlib.contextmanager
def _as_fs_error() -> Iterator[None]:
    """An SMB client may change the folder between a lookup and its use (or hold a file open): the node sees
    what Windows would say, never a Python exception."""
    try:
        yield
    except FileNotFoundError as exc:
        raise FsError(ERROR_FILE_NOT_FOUND, _NOT_FOUND) from exc
    except PermissionError as exc:
        raise FsError(ERROR_ACCESS_DENIED, "Access is denied.") from exc
    except OSError as exc:
        raise FsError(ERROR_ACCESS_DENIED, f"Access is denied. ({exc.strerror})") from exc
