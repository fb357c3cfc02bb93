"""Where runs live on disk and who is running them.

A run is a folder ``<home>/runs/<id>/``; everything in it is private to the user (folders 0700, files 0600,
by ``octotui.home``'s private-file rule) because even redacted output names hosts, accounts and paths. Run
ids sort by time so that "the latest run" needs no index file that could go stale. Which process executes
a run is recorded (``runner.pid``, with the process's start time so that a reused pid is not mistaken for
it); the locks that say who may run what are ``octotui.run.locks``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from octotui.home import fsync_dir, private_dir, write_private_text

RUNS = "runs"
RUNNER_PID = "runner.pid"
_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


# --- names on disk -------------------------------------------------------------------------------------


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
    root = private_dir(runs_root(home))
    for _ in range(20):
        rid = run_id or new_run_id()
        path = root / rid
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if run_id is not None:
                raise
            continue
        private_dir(path)  # 0700 whatever the umask
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


def discard_unused_run_dir(run_dir: Path) -> None:
    """Remove a run folder that was created for a run that never started (still empty)."""
    with contextlib.suppress(OSError):
        os.rmdir(run_dir)


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
    write_private_text(run_dir / RUNNER_PID, json.dumps({"pid": pid, "start": process_start_token(pid)}) + "\n")


def recorded_runner(run_dir: Path) -> tuple[int, str | None] | None:
    try:
        doc = json.loads((run_dir / RUNNER_PID).read_text(encoding="utf-8"))
        return int(doc["pid"]), doc.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
