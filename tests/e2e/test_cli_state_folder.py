"""A state folder (OCTOTUI_HOME) octotui cannot write is bad input: one message naming the folder, what is
wrong and what to do, exit 2, before a run starts; never a traceback.

The suite runs as root, for whom permission bits mean nothing, so the folders here are made unwritable the
way root meets them: a read-only mount, a full file system (small tmpfs mounts), a file where the folder
should be; and, for "permission denied", a child process that gives up root first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.errors import BadInput, ExitCode
from octotui.home import ensure_home_writable

EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "create-cluster.toml"
WRITABLE_HINT = "hint: set OCTOTUI_HOME to a writable folder"


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` for the test's duration (unmounted whatever happens)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(folder: Path) -> None:
    """Write into ``folder`` until its file system has no space left."""
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with contextlib.suppress(OSError):
        (folder / "filler2").write_bytes(b"\0")  # the last part-block, if any


def octotui(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OCTOTUI_HOME=str(home), OCTOTUI_WINRM_PASSWORD="winrm-pw",
               OCTOTUI_SERVICE_PASSWORD="service-pw")
    return subprocess.run([sys.executable, "-m", "octotui", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def apply(home: Path) -> subprocess.CompletedProcess[str]:
    return octotui(home, "apply", "--yes", "--detach", str(EXAMPLE))


def lab_up(home: Path) -> subprocess.CompletedProcess[str]:
    return octotui(home, "lab", "up", "--nodes", "1")


def refused(result: subprocess.CompletedProcess[str], *, says: str, hint: str = WRITABLE_HINT) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert result.stderr.startswith("octotui: ") and says in result.stderr, result.stderr
    assert hint in result.stderr, result.stderr
    assert "started" not in result.stderr


@pytest.mark.parametrize("inside", ["", "state/octotui"], ids=["the-mount-itself", "a-folder-to-create-in-it"])
def test_a_read_only_state_folder_is_refused_before_a_run_starts(tmp_path: Path, inside: str) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mount:
        home = mount / inside if inside else mount
        refused(apply(home), says=f"OCTOTUI_HOME {home} is on a read-only file system")
        refused(lab_up(home), says=f"OCTOTUI_HOME {home} is on a read-only file system")
        # Commands that only read the folder still work on it.
        runs = octotui(home, "runs")
        assert runs.returncode == 0 and "no runs yet" in runs.stdout


@pytest.mark.parametrize("free", ["none", "some"], ids=["full", "nearly-full"])
def test_a_full_state_folder_is_refused_before_a_run_starts(tmp_path: Path, free: str) -> None:
    with tmpfs(tmp_path / "full", "size=512k") as mount:
        home = mount / "octotui"
        home.mkdir()
        if free == "none":
            fill(mount)
        for result in (apply(home), lab_up(home)):
            refused(result, says=f"OCTOTUI_HOME {home}", hint="hint: free some space on that disk, or set "
                                                              "OCTOTUI_HOME to a writable folder")
            assert "no space left" in result.stderr
        assert list(home.iterdir()) == []  # no run folder, no lock, no probe left behind


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_a_file_where_the_state_folder_should_be_is_named(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    home = blocker if where == "file" else blocker / "octotui"
    says = (f"OCTOTUI_HOME {home} is not a folder: it is a file" if where == "file"
            else f"OCTOTUI_HOME {home} cannot be a folder: {blocker} is a file")
    refused(apply(home), says=says, hint="hint: move that file away, or set OCTOTUI_HOME to a writable folder")
    refused(lab_up(home), says=says, hint="hint: move that file away, or set OCTOTUI_HOME to a writable folder")
    for words in (["runs"], ["attach"]):  # readers too: "no runs yet" would hide the mistake
        refused(octotui(home, *words), says=says, hint="hint: set OCTOTUI_HOME to a folder, or move that file away")


def test_a_folder_without_write_permission_is_named() -> None:
    with tempfile.TemporaryDirectory() as top:  # not under pytest's tmp_path: that is root's alone (0700)
        Path(top).chmod(0o755)
        home = Path(top) / "locked"
        home.mkdir(mode=0o755)
        message = _as_nobody(home)
    assert message.startswith(f"octotui's state folder {home} is not writable: permission denied"), message
    assert "hint: give your user write access to it, or set OCTOTUI_HOME to a writable folder" in message


def _as_nobody(home: Path) -> str:
    """``ensure_home_writable(home)`` in a child process that has given up root; what it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child gives up root, so permission bits apply to it
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                ensure_home_writable(home)
                message = "accepted"
            except BadInput as exc:
                message = str(exc)
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        message = fh.read().decode()
    os.waitpid(pid, 0)
    return message


def test_a_writable_state_folder_is_made_private_and_left_clean(tmp_path: Path) -> None:
    home = ensure_home_writable(tmp_path / "a" / "b")
    assert home == tmp_path / "a" / "b"
    assert home.stat().st_mode & 0o777 == 0o700
    assert list(home.iterdir()) == []
