"""Where octotui keeps its own state (runs, journals, logs, the encrypted secrets file), private to the user.

Why one module: every writer must agree on the folder (``OCTOTUI_HOME`` moves all of it, for tests and
portable use) and on its permissions (the journal and logs describe a cluster's accounts and hosts, so they
are the user's alone: folders 0700, files 0600, whatever the umask). Without ``OCTOTUI_HOME`` the platform's
convention applies: ``$XDG_STATE_HOME/octotui`` (default ``~/.local/state/octotui``) on Linux and other
Unix systems, ``%LOCALAPPDATA%\\octotui`` on Windows, ``~/Library/Application Support/octotui`` on macOS.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "OCTOTUI_HOME"


def octotui_home() -> Path:
    """The state folder (not created here: reading a path must not have side effects)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().absolute()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "octotui"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "octotui"
    xdg = os.environ.get("XDG_STATE_HOME")
    base_path = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base_path / "octotui"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make ``path`` itself 0700. Existing folders are tightened
    too: a folder left group-readable by an older run or a loose umask must not stay so."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing (its folder private too) and make it 0600. The file is created with
    0600 from the start (``O_CREAT`` with that mode), so there is no moment when others could open it."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    if os.name == "posix":
        os.chmod(path, 0o600)
    return path


def write_private_text(path: Path, text: str) -> Path:
    """Replace a private file's content atomically (write a private temporary file, then rename)."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        os.chmod(path, 0o600)
    return path


def home_dir() -> Path:
    """The state folder, created private."""
    return private_dir(octotui_home())


def runs_dir() -> Path:
    """``<home>/runs``, where each run keeps its journal and per-step logs; created private."""
    home_dir()
    return private_dir(octotui_home() / "runs")
