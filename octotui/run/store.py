"""Where runs live on disk, who is running them, and who may drive a cluster.

A run is a folder ``<home>/runs/<id>/``; everything in it is private to the user (folders 0700, files 0600)
because even redacted output names hosts, accounts and paths. Run ids sort by time so that "the latest run"
needs no index file that could go stale.

Two kinds of lock, both ``fcntl.flock`` so that the kernel drops them when the holder dies (a kill -9 never
leaves a stale lock behind):

- the *run lock* (``runs/<id>/lock``): held by the process executing the run; "is the lock held?" is how a
  reader tells a running run from a crashed one without trusting a pid that may have been reused;
- the *cluster lock* (``<home>/locks/<key>.lock``, keyed by the answers file): a fast local guard, so that a
  second ``apply`` of the same answers from the same home is refused at once, naming the running run (whose
  folder exists before the lock is taken) and ``octotui attach``. It cannot see a copy of the answers file,
  another ``OCTOTUI_HOME`` or another console: what keeps those off the cluster is the lease the runner takes
  on the nodes themselves (``octotui.run.lease``). The runner adopts the lock it inherits, and empties and frees
  it when it releases that lease, so a lock file never names a run that has ended.

A lock can be handed to a detached child (``octotui.run.detach.start_detached(handover=...)``): flock locks belong
to the open file, so the child's inherited descriptor keeps it held after the parent closes its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

RUNS = "runs"
LOCKS = "locks"
RUN_LOCK = "lock"
RUNNER_PID = "runner.pid"
_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


# --- private files and folders -------------------------------------------------------------------------


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; an existing folder is tightened to 0700 too, because
    a folder left group-readable by an old version or a loose umask would expose every run in it."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
    os.chmod(path, 0o700)
    return path


def open_private(path: Path, flags: int) -> int:
    """Open (creating as 0600) a file descriptor. ``fchmod`` afterwards, since the mode given to ``open``
    is filtered by the umask and ignored for a file that already exists."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, text: str) -> None:
    """Replace a small file's content durably (write to a temporary name, fsync, rename), 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable; without it a crash can lose a freshly created file entirely."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def safe_component(name: str) -> str:
    """A node or step name as one harmless path component (no separators, no ``..``, never empty)."""
    cleaned = _SAFE_RE.sub("_", name).strip("._") or "_"
    return cleaned[:100]


# --- run ids and folders -------------------------------------------------------------------------------


def new_run_id(now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-mmmx`` in UTC: sorts by start time, short enough to type after ``attach``.

    The last four hex digits are the milliseconds (three decimal digits) and one random digit, so two runs
    started in the same second still sort in the order they started ("the latest run" must be the latest)."""
    total_ms = round((time.time() if now is None else now) * 1000)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(total_ms // 1000))
    millis = total_ms % 1000
    return f"{stamp}-{millis:03d}{secrets.token_hex(1)[0]}"


def is_run_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def runs_root(home: Path) -> Path:
    return home / RUNS


def create_run_dir(home: Path, run_id: str | None = None) -> Path:
    """A new, empty, private run folder. Refuses an existing id rather than mixing two runs' journals."""
    root = ensure_private_dir(runs_root(home))
    for _ in range(20):
        rid = run_id or new_run_id()
        path = root / rid
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if run_id is not None:
                raise
            continue
        os.chmod(path, 0o700)
        fsync_dir(root)
        return path
    raise RuntimeError("could not allocate a new run id; is the clock stuck?")


def list_run_dirs(home: Path) -> list[Path]:
    """Every run folder, oldest first (ids sort by start time)."""
    root = runs_root(home)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and is_run_id(p.name)), key=lambda p: p.name)


class RunNotFound(LookupError):
    """``attach``/``--resume`` named a run that does not exist or is ambiguous; the message says what to do."""


def resolve_run(home: Path, ref: str | None) -> Path:
    """A run folder from what a user typed: nothing or ``latest`` (the newest run), a full id, a unique
    prefix of one, or a path to a run folder."""
    dirs = list_run_dirs(home)
    if ref in (None, "", "latest"):
        if not dirs:
            raise RunNotFound(f"no runs yet under {runs_root(home)}; start one with `octotui apply ANSWERS`")
        return dirs[-1]
    assert ref is not None
    candidate = Path(ref)
    if os.sep in ref and (candidate / "journal.jsonl").exists():
        return candidate
    exact = [d for d in dirs if d.name == ref]
    if exact:
        return exact[0]
    matches = [d for d in dirs if d.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(f"no run {ref!r} under {runs_root(home)}; `octotui runs` lists them")
    names = ", ".join(d.name for d in matches[:5])
    raise RunNotFound(f"{ref!r} matches several runs ({names}); give more of the id")


# --- processes -----------------------------------------------------------------------------------------


def process_start_token(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux ``/proc/<pid>/stat`` field 22), so that a recorded pid
    reused later by an unrelated process is not mistaken for our runner. ``None`` where not available."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start_token: str | None = None) -> bool:
    """Whether ``pid`` is a live process (zombies count as dead: in a container nothing may reap an
    orphaned runner) and, when a start token was recorded, still the same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    fields = raw[raw.rfind(")") + 2:].split()
    if fields and fields[0] in ("Z", "X"):
        return False
    return start_token is None or (len(fields) > 19 and fields[19] == start_token)


def record_runner_pid(run_dir: Path, pid: int) -> None:
    """Note which process executes the run, before it has written anything (``runner.pid``)."""
    write_private(run_dir / RUNNER_PID, json.dumps({"pid": pid, "start": process_start_token(pid)}) + "\n")


def recorded_runner(run_dir: Path) -> tuple[int, str | None] | None:
    try:
        doc = json.loads((run_dir / RUNNER_PID).read_text(encoding="utf-8"))
        return int(doc["pid"]), doc.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- locks ---------------------------------------------------------------------------------------------


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
    ensure_private_dir(path.parent)
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


def discard_unused_run_dir(run_dir: Path) -> None:
    """Remove a run folder that was created for a run that never started (still empty)."""
    with contextlib.suppress(OSError):
        os.rmdir(run_dir)


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
