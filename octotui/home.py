"""Where octotui keeps its own state (runs, journals, logs, the encrypted secrets file), private to the user.

Why one module: every writer must agree on the folder (``OCTOTUI_HOME`` moves all of it, for tests and
portable use) and on its permissions (the journal and logs describe a cluster's accounts and hosts, so they
are the user's alone: folders 0700, files 0600, whatever the umask). Without ``OCTOTUI_HOME`` the platform's
convention applies, as platformdirs knows it (its user *state* folder): ``$XDG_STATE_HOME/octotui`` (default
``~/.local/state/octotui``) on Linux and other Unix systems, ``%LOCALAPPDATA%\\octotui`` on Windows,
``~/Library/Application Support/octotui`` on macOS.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import platformdirs

from octotui.errors import BadInput
from octotui.textsafe import shown

HOME_ENV = "OCTOTUI_HOME"
#: Less free space than this in the state folder's file system and a run would fail part-way through
#: writing its journal and logs: refused before it starts.
MIN_FREE_BYTES = 1 << 20
_PROBE_BYTES = 64 * 1024


def octotui_home() -> Path:
    """The state folder (not created here: reading a path must not have side effects)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().absolute()
    # appauthor=False: no vendor folder above ours on Windows (%LOCALAPPDATA%\octotui, not ...\octotui\octotui).
    return platformdirs.user_state_path("octotui", appauthor=False)


# --- private folders and files: the one rule --------------------------------------------------------------
#
# Everything octotui writes about a cluster (runs, journals, step logs, locks, drafts, answers, the secrets
# file) is the user's alone: folders 0700, files 0600, whatever the umask and whatever was there before.
# These are the only functions in the engine that create a folder or a file with those modes (the lab,
# which imports nothing from here, keeps its own).

#: Not inherited by the processes octotui starts (POSIX; absent elsewhere).
_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700, and make ``path`` itself 0700: an existing folder is
    tightened too, because one left group-readable by an older version or a loose umask would expose what
    is in it. A file where the folder should be raises (``FileExistsError``, ``NotADirectoryError``)."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # made by someone else meanwhile: fine when it is a folder
            if not d.is_dir():
                raise
    if not path.is_dir():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    if os.name == "posix":
        os.chmod(path, 0o700)
    return path


def open_private(path: Path, flags: int) -> int:
    """Open a file descriptor on ``path`` (``flags`` | ``O_CREAT``), created as 0600. The mode is set again
    with ``fchmod`` afterwards, since the one given to ``open`` is filtered by the umask and ignored for a
    file that already exists. The folder must exist (``private_dir``)."""
    fd = os.open(path, flags | os.O_CREAT | _CLOEXEC, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    """Write every byte: ``os.write`` may write less than it is given (a signal, a full pipe)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing (its folder private too) and make it 0600; what is in it is kept.
    Created 0600 from the start, so there is no moment when others could open it."""
    path = Path(path)
    private_dir(path.parent)
    os.close(open_private(path, os.O_WRONLY | os.O_APPEND))
    return path


def write_private_text(path: Path, text: str, *, own_folder: bool = True) -> Path:
    """Replace a private file's content atomically and durably: a private temporary file beside it, written
    and fsynced, renamed over ``path``, and the folder fsynced, so that a crash leaves the old content or
    the new one, never a part or nothing.

    ``own_folder``: the folder is octotui's (under OCTOTUI_HOME) and is made private too. A file the user
    saves into a folder of their own (an answers file beside their project) passes False: a missing folder
    is created private, an existing one is left as the user has it."""
    path = Path(path)
    if own_folder:
        private_dir(path.parent)
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        try:
            write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable; without it a crash can lose a freshly created file entirely.
    Best effort (and nothing where folders cannot be opened, as on Windows)."""
    directory = getattr(os, "O_DIRECTORY", None)
    if directory is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | directory)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def home_dir() -> Path:
    """The state folder, created private."""
    return private_dir(octotui_home())


def runs_dir() -> Path:
    """``<home>/runs``, where each run keeps its journal and per-step logs; created private."""
    home_dir()
    return private_dir(octotui_home() / "runs")


# --- preflight: is the folder usable? -------------------------------------------------------------------


def ensure_home_writable(home: Path | None = None) -> Path:
    """The state folder (``home``, default ``octotui_home()``), created private, once it is known that a run
    can write there: a folder (not a file), writable, on a writable file system with room for a run's
    journal and logs. Commands call it before they change anything, so a bad ``OCTOTUI_HOME`` is one clear
    message (raised as ``BadInput``: what is wrong, with which folder, and what to do) instead of a
    traceback half-way through starting a run."""
    folder = Path(home) if home is not None else octotui_home()
    return ensure_writable_folder(folder, what=_home_name(home),
                                  elsewhere=f"set {HOME_ENV} to a writable folder, e.g. "
                                            f"{HOME_ENV}=$HOME/octotui-state")


def ensure_home_readable(home: Path | None = None) -> Path:
    """The state folder for commands that only read it (``runs``, ``attach``): a missing folder is fine
    (there are no runs yet), but a file where the folder should be is ``BadInput``."""
    folder = Path(home) if home is not None else octotui_home()
    blocker = _file_in_the_way(folder)
    if blocker is not None:
        raise BadInput(_not_a_folder(folder, blocker, _home_name(home)),
                       f"set {HOME_ENV} to a folder, or move that file away")
    return folder


def _home_name(home: Path | None) -> str:
    """How messages name the state folder: by the variable that chose it, when one did."""
    return HOME_ENV if home is None and os.environ.get(HOME_ENV) else "octotui's state folder"


def ensure_writable_folder(folder: Path, *, what: str, elsewhere: str) -> Path:
    """Create ``folder`` private and prove it takes a file of some size; ``BadInput`` names ``what`` and the
    folder, the cause (read-only file system, no space left, not a folder, permission denied) and the
    fix (``elsewhere`` says how to choose another folder)."""
    folder = Path(folder)
    try:
        private_dir(folder)
        _probe_write(folder)
        free = _free_bytes(folder)
    except OSError as exc:
        raise _unwritable(folder, exc, what, elsewhere) from None
    if free is not None and free < MIN_FREE_BYTES:
        raise BadInput(f"no space left for a run in {what} {shown(str(folder))}: only {free // 1024} KiB free",
                       f"free some space on that disk, or {elsewhere}")
    return folder


def _probe_write(folder: Path) -> None:
    """Write, flush and remove a small private file: the only reliable test (permission bits say nothing
    for root, and a full or read-only file system shows only when written to)."""
    probe = folder / f".write-test.{os.getpid()}"
    fd = open_private(probe, os.O_WRONLY | os.O_TRUNC)
    try:
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        probe.unlink(missing_ok=True)


def _free_bytes(folder: Path) -> int | None:
    if not hasattr(os, "statvfs"):
        return None
    st = os.statvfs(folder)
    # root may also write into the blocks a file system keeps in reserve for it.
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def _file_in_the_way(folder: Path) -> Path | None:
    """The file that stands where ``folder`` or one of its parents should be a folder, if any."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def _not_a_folder(folder: Path, blocker: Path, what: str) -> str:
    if blocker == folder:
        return f"{what} {shown(str(folder))} is not a folder: it is a file"
    return f"{what} {shown(str(folder))} cannot be a folder: {shown(str(blocker))} is a file"


def _unwritable(folder: Path, exc: OSError, what: str, elsewhere: str) -> BadInput:
    where = f"{what} {shown(str(folder))}"
    # Name the folder that refused when it is a parent (creating the state folder failed there).
    failed = f" (at {shown(str(exc.filename))})" if exc.filename and Path(str(exc.filename)) in folder.parents \
        else ""
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(folder) or folder
        return BadInput(_not_a_folder(folder, blocker, what), f"move that file away, or {elsewhere}")
    if code == errno.EROFS:
        return BadInput(f"{where} is on a read-only file system{failed}", elsewhere)
    if code in (errno.ENOSPC, errno.EDQUOT):
        cause = "no space left on the disk" if code == errno.ENOSPC else "the disk quota is used up"
        return BadInput(f"{where} cannot take a run: {cause}{failed}",
                        f"free some space on that disk, or {elsewhere}")
    if code in (errno.EACCES, errno.EPERM):
        return BadInput(f"{where} is not writable: permission denied{failed}",
                        f"give your user write access to it, or {elsewhere}")
    return BadInput(f"{where} cannot be written: {exc.strerror or exc}{failed}", elsewhere)
