"""Who may drive a run, and a cluster, from this console: two kinds of lock, both ``fcntl.flock`` so that the
kernel drops them when the holder dies (a kill -9 never leaves a stale lock behind).

- the *run lock* (``runs/<id>/lock``): held by the process executing the run; "is the lock held?" is how a
  reader tells a running run from a crashed one without trusting a pid that may have been reused;
- the *cluster lock* (``<home>/locks/<key>.lock``, keyed by the answers file): a fast local guard, so that a
  second ``apply`` of the same answers from the same home is refused at once, naming the running run (whose
  folder exists before the lock is taken) and ``octotui attach``. It cannot see a copy of the answers file,
  another ``OCTOTUI_HOME`` or another console: what keeps those off the cluster is the lease the runner takes
  on the nodes themselves (``octotui.run.lease``). The runner adopts the lock it inherits, and empties and frees
  it when it releases that lease, so a lock file never names a run that has ended.

A lock can be handed to a detached child (``octotui.run.detach.start_detached(handover=...)``): flock locks belong
to the open file, so the child's inherited descriptor keeps it held after the parent closes its own. Lock
files are private like everything else under the state folder (``octotui.home``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from octotui.home import open_private, private_dir

LOCKS = "locks"
RUN_LOCK = "lock"


@dataclass(frozen=True)
class LockHolder:
    """What the holder of a lock wrote into it, for the "already running" message."""

    run_id: str | None
    pid: int | None
    answers: str | None


class LockBusy(RuntimeError):
    """Another process holds the lock. ``str()`` is the message for the user."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


class HeldLock:
    """An acquired flock. ``release()`` unlocks; ``close_handle()`` only closes this process's descriptor,
    which is what a parent does after handing the lock to a child (unlocking would free it for the child
    too, since both descriptors share one open file)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError(f"lock {self.path} is no longer held by this process")
        return self._fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def close_handle(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _try_flock(path: Path, wait: float) -> int | None:
    fd = open_private(path, os.O_RDWR)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            return None
        time.sleep(0.02)


def _write_holder(fd: int, holder: dict[str, object]) -> None:
    data = (json.dumps(holder) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _read_holder(path: Path) -> LockHolder | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    pid = doc.get("pid")
    return LockHolder(run_id=doc.get("run_id"), pid=pid if isinstance(pid, int) else None,
                      answers=doc.get("answers"))


def lock_held(path: Path) -> bool:
    """Whether some process holds the flock on ``path``. Probes with a shared lock for an instant; an
    acquirer retries for a moment (``wait``), so the probe never makes it fail."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)
    return False


def lock_run(run_dir: Path, *, wait: float = 2.0) -> HeldLock:
    """Take the run lock: this process now executes the run. Held until release or process exit."""
    path = run_dir / RUN_LOCK
    fd = _try_flock(path, wait)
    if fd is None:
        holder = _read_holder(path)
        raise LockBusy(f"run {run_dir.name} is already being executed"
                       f"{f' by process {holder.pid}' if holder and holder.pid else ''}; "
                       f"follow it with `octotui attach {run_dir.name}`", holder)
    _write_holder(fd, {"run_id": run_dir.name, "pid": os.getpid()})
    return HeldLock(path, fd)


def run_lock_held(run_dir: Path) -> bool:
    return lock_held(run_dir / RUN_LOCK)


def run_lock_exists(run_dir: Path) -> bool:
    return (run_dir / RUN_LOCK).exists()


def cluster_lock_path(home: Path, answers: Path) -> Path:
    """The cluster lock for an answers file: keyed by its resolved path, so ``./a.toml`` and the absolute
    path of the same file are one cluster."""
    key = hashlib.sha256(str(answers.expanduser().resolve()).encode("utf-8")).hexdigest()[:32]
    return home / LOCKS / f"{key}.lock"


def lock_cluster(home: Path, answers: Path, run_id: str, *, wait: float = 0.0) -> HeldLock:
    """Take the cluster lock for ``answers`` on behalf of ``run_id``, or raise ``LockBusy`` naming the run
    that holds it and how to follow it."""
    path = cluster_lock_path(home, answers)
    private_dir(path.parent)
    fd = _try_flock(path, wait)
    if fd is None:
        holder = _read_holder(path)
        raise LockBusy(cluster_busy_message(answers, holder), holder)
    _write_holder(fd, {"run_id": run_id, "pid": os.getpid(), "answers": str(answers.expanduser().resolve())})
    return HeldLock(path, fd)


def inherited_cluster_lock(home: Path, answers: Path, run_id: str) -> HeldLock | None:
    """In the runner: the cluster lock ``apply`` handed over (an inherited descriptor of the lock file), now
    naming ``run_id`` and this process; ``None`` when this process was started without it. Found by the
    file's identity among this process's descriptors (Linux ``/proc/self/fd``)."""
    path = cluster_lock_path(home, answers)
    try:
        wanted = os.stat(path)
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return None
    for fd in fds:
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) != (wanted.st_dev, wanted.st_ino):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours: this only confirms it
        except OSError:
            continue
        os.set_inheritable(fd, False)  # nothing the runner starts may keep the cluster locked
        _write_holder(fd, {"run_id": run_id, "pid": os.getpid(), "answers": str(answers.expanduser().resolve())})
        return HeldLock(path, fd)
    return None


def end_cluster_lock(lock: HeldLock | None) -> None:
    """Empty the lock file (it must not go on naming a run that has ended) and free it. Never raises."""
    if lock is None or not lock.held:
        return
    with contextlib.suppress(OSError):
        os.ftruncate(lock.fileno(), 0)
    with contextlib.suppress(OSError):
        lock.release()


def cluster_lock_holder(home: Path, answers: Path) -> LockHolder | None:
    """Who drives the cluster of ``answers`` right now (``None``: nobody)."""
    path = cluster_lock_path(home, answers)
    if not lock_held(path):
        return None
    return _read_holder(path) or LockHolder(None, None, str(answers))


#: What older versions wrote into a cluster lock before their run had an id; never a run to attach to.
_NO_RUN_ID = ("", "pending")


def cluster_busy_message(answers: Path, holder: LockHolder | None) -> str:
    if holder and holder.run_id and holder.run_id not in _NO_RUN_ID:
        return (f"another apply of {answers} is already running from this console (run {holder.run_id}"
                f"{f', process {holder.pid}' if holder.pid else ''}); nothing was started: follow it with "
                f"`octotui attach {holder.run_id}`, or wait for it to finish")
    return (f"another apply of {answers} is already running from this console; nothing was started: "
            f"`octotui runs` lists the runs, `octotui attach` follows the latest")
