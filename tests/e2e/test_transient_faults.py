"""``octotui apply`` against the lab when the transport fails under a step, and when the console's own disk
fills up mid-run: one command, a clear end, nothing on screen but what the journal says."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octotui.errors import ExitCode
from tests.fixtures.cli import journal, octotui_env, write_answers
from tests.fixtures.lab import LabProcess, running_lab

NODES = ["OCTO1", "OCTO2"]


def requests_seen(lab: LabProcess, node: str) -> int:
    """HTTP requests ``node`` has had so far, from the lab's control endpoint (cheap enough to poll)."""
    info = json.loads((lab.state / "lab.json").read_text())
    req = urllib.request.Request(f"http://127.0.0.1:{info['control_port']}/inspect",
                                 headers={"X-Lab-Token": info["token"]})
    with urllib.request.urlopen(req, timeout=10) as resp:
        world = json.loads(resp.read())
    return int(next(n["http_requests"] for n in world["nodes"] if n["name"] == node))


def read_journal(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    return read_journal(run_dir / "journal.jsonl")


def until(predicate: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_reboot_and_a_wsman_500_mid_create_are_ridden_out_by_one_apply(tmp_path: Path) -> None:
    """OCTO1 reboots in the middle of node 1's chain (the call in flight is cut, then the endpoint refuses
    connections for 3 s) and OCTO2, while it joins, answers one request in the middle of a step with a
    WS-Man 500. One ``apply`` ends with exit 0: each interrupted step ran again from its read, and the
    journal and the screen say so.

    Where the 500 lands is chosen from the node's own pace, not from a request count (which moves whenever
    the engine sends one more request): OCTO2's ``database --masterKey`` is slowed down, so that its
    Receive waits at the node for seconds; the 500 is then set for the request after the Signal that ends
    that command, i.e. the first call of whatever comes next."""
    faults = ["--fault", "reboot@OCTO1:after=40,down=3", "--fault", "slow@OCTO2:match=--masterKey,seconds=6"]
    with running_lab(tmp_path / "state", "--nodes", "2", "--latency-ms", "10", *faults) as lab:
        env = octotui_env(lab, tmp_path)
        answers = write_answers(lab, tmp_path / "create.toml", NODES)
        apply = subprocess.Popen([sys.executable, "-m", "octotui", "apply", str(answers), "--yes"], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            runs = Path(env["OCTOTUI_HOME"]) / "runs"

            def started(node: str, step: str) -> bool:
                assert apply.poll() is None, apply.communicate()
                return any(e["type"] == "step_started" and (e.get("node"), e.get("step")) == (node, step)
                           for r in (runs.iterdir() if runs.exists() else ()) for e in events_of(r))

            until(lambda: started("OCTO2", "database"), "OCTO2 to start its database step")
            # The slowed command is running once the node's request count stands still.
            seen = [(time.monotonic(), requests_seen(lab, "OCTO2"))]

            def quiet() -> bool:
                now, count = time.monotonic(), requests_seen(lab, "OCTO2")
                if count != seen[-1][1]:
                    seen.append((now, count))
                return now - seen[-1][0] >= 1.0

            until(quiet, "OCTO2's slowed command", timeout=60)
            lab.add_fault(f"wsman500@OCTO2:after={seen[-1][1] + 1},times=1")
            out, err = apply.communicate(timeout=300)
        finally:
            if apply.poll() is None:
                apply.kill()
                apply.communicate()

        assert apply.returncode == ExitCode.OK, out + err
        assert "Traceback" not in out + err
        events = journal(env)
        assert not [e for e in events if e["type"] == "step_failed"]
        retried = {e["node"]: e for e in events if e["type"] == "step_retried"}
        assert set(retried) == {"OCTO1", "OCTO2"}, retried
        for name, event in retried.items():
            assert event["attempt"] == 2 and event["cause"] and event["step"], event
            # The step that was cut off went on to finish, after its repeat.
            later = [e for e in events if e["seq"] > event["seq"] and e.get("node") == name
                     and e.get("step") == event["step"] and e["type"] in ("step_done", "step_failed")]
            assert later and later[0]["type"] == "step_done" and later[0]["attempts"] == 2, later
        assert retried["OCTO2"]["kind"] == "wsman" and "0x800703FA" in retried["OCTO2"]["cause"]
        assert retried["OCTO1"]["kind"] in ("dropped", "refused", "unreachable", "timeout", "wsman")
        # What the person at the terminal saw.
        for name, event in retried.items():
            assert f"{name}: {event['step']} was cut off" in out
        assert "again from its read" in out

        world = lab.inspect()
        octo1 = next(n for n in world["nodes"] if n["name"] == "OCTO1")
        assert octo1["boot_count"] >= 2, "the reboot fault did not fire"
        (db,) = world["sql"]["databases"]
        assert [n["name"] for n in db["nodes"]] == NODES
        assert db["settings"]["Octopus.Folders.ClusterSharedDirectory"] == lab.ready["share"]
        assert db["admins"] == [lab.ready["admin"]["username"]]
        for node in world["nodes"]:
            assert [(s["state"], s["account"]) for s in node["services"]] == \
                [("Running", lab.ready["service_account"]["username"])], node["name"]


# --- a full disk on the console --------------------------------------------------------------------------


class PrivateDisk:
    """A small tmpfs over ``mount_point`` in a mount namespace of its own, held open by a keeper process:
    nothing outside that namespace sees the mount, and it goes away with the namespace's last process (even
    if this test dies, since the keeper ends when its stdin closes). Commands run inside with ``run``; the
    test reaches the files through ``/proc/<keeper>/root``."""

    def __init__(self, mount_point: Path, size: str) -> None:
        mount_point.mkdir(parents=True, exist_ok=True)
        self.mount_point = mount_point
        self.keeper = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o "size=$2,mode=0700" octotui-test "$1" && echo ready && read _', "sh",
             str(mount_point), size],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.keeper.stdout is not None
        line = self.keeper.stdout.readline().strip()
        if line != "ready":
            err = self.keeper.stderr.read() if self.keeper.stderr else ""
            self.keeper.wait(timeout=10)
            pytest.skip(f"cannot mount a private tmpfs here (needs root and CAP_SYS_ADMIN): {err.strip()}")

    def path(self, inside: Path) -> Path:
        """``inside`` (a path as processes in the namespace see it) as this test can open it."""
        return Path(f"/proc/{self.keeper.pid}/root") / inside.relative_to("/")

    def popen(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(["nsenter", "-t", str(self.keeper.pid), "-m", f"--wd={os.getcwd()}", "--", *argv], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def fill(self) -> int:
        """Write until the file system says it is full; how many bytes went in."""
        total = 0
        with open(self.path(self.mount_point / "filler"), "wb", buffering=0) as fh:
            for size in (1 << 16, 1 << 12, 1):
                with contextlib.suppress(OSError):
                    while True:
                        total += fh.write(b"\0" * size)
        return total

    def close(self) -> None:
        if self.keeper.poll() is None:
            assert self.keeper.stdin is not None
            self.keeper.stdin.close()
            try:
                self.keeper.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.keeper.kill()
                self.keeper.wait()


@contextlib.contextmanager
def private_disk(mount_point: Path, size: str) -> Iterator[PrivateDisk]:
    disk = PrivateDisk(mount_point, size)
    try:
        yield disk
    finally:
        disk.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a private tmpfs needs root")
def test_a_disk_that_fills_mid_run_fails_the_running_step_and_points_at_a_log_with_content(tmp_path: Path) -> None:
    """OCTOTUI_HOME on a small disk that fills up while ``admin`` runs on OCTO1 (its command is slowed down
    so that the disk fills under it): the failure is reported against ``admin`` (not ``connect``), names the
    folder whose disk is full, and points at runner.log, which holds the detail; the run still ends in the
    journal and ``apply`` exits 1 without a traceback."""
    slow = "slow@OCTO1:match=admin --instance,seconds=4"
    with running_lab(tmp_path / "state", "--nodes", "2", "--fault", slow) as lab, \
            private_disk(tmp_path / "disk", "8m") as disk:
        home = tmp_path / "disk" / "octotui"
        env = octotui_env(lab, tmp_path, OCTOTUI_HOME=str(home))
        answers = write_answers(lab, tmp_path / "create.toml", NODES)
        apply = disk.popen([sys.executable, "-m", "octotui", "apply", str(answers), "--yes"], env)
        try:
            runs = disk.path(home / "runs")

            def admin_started() -> bool:
                for run in runs.glob("*/journal.jsonl") if runs.exists() else ():
                    if any(e["type"] == "step_started" and e.get("step") == "admin" for e in read_journal(run)):
                        return True
                if apply.poll() is not None:
                    raise AssertionError(f"apply ended before admin started: {apply.communicate()}")
                return False

            deadline = time.monotonic() + 120
            while not admin_started():
                assert time.monotonic() < deadline, "admin did not start in time"
                time.sleep(0.02)
            assert disk.fill() > 0
            out, err = apply.communicate(timeout=180)
        finally:
            if apply.poll() is None:
                apply.kill()
                apply.communicate()

        assert apply.returncode == ExitCode.FAILED, out + err
        assert "Traceback" not in out + err
        (run_dir,) = [p.parent for p in runs.glob("*/journal.jsonl")]
        events = read_journal(run_dir / "journal.jsonl")
        failed = [e for e in events if e["type"] == "step_failed"]
        assert [(e["node"], e["step"]) for e in failed] == [("OCTO1", "admin")], failed
        (f,) = failed
        assert "No space left on device" in f["error"]
        inside_run = home / "runs" / run_dir.name  # the run folder as the runner saw it
        assert str(inside_run) in f["hint"] and "full" in f["hint"]
        log_named = inside_run / "runner.log"
        assert str(log_named) in f["hint"]
        detail = disk.path(log_named).read_text()
        assert "No space left on device" in detail and "OCTO1 admin" in detail
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "failed"
        # On screen: the failure and its hint, as the journal has them.
        assert "OCTO1  admin FAILED" in out and str(log_named) in out
        assert lab.ready["admin"]["password"] not in detail + out + err


JOURNAL_ON_A_FULL_DISK = r"""
import json, os, sys
from pathlib import Path
from octotui.run.journal import SPACE_RESERVE, JournalWriteError, JournalWriter
from octotui.run.journal_read import read_events
from octotui.secrets.redact import Redactor

disk, run = Path(sys.argv[1]), Path(sys.argv[2])
report = {}
with JournalWriter(run, Redactor()) as j:
    j.step_started("OCTO1", "admin", "first administrator")
    report["reserve_held"] = (run / SPACE_RESERVE).exists()
    # Fill the disk, then the last page of the journal itself (blank lines, which readers skip).
    with open(disk / "filler", "wb", buffering=0) as fh:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass
    with open(run / "journal.jsonl", "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\n")
        except OSError:
            pass
    try:
        j.step_output("OCTO1", "admin", "stdout", "Creating the administrator\n")
        report["output"] = "written"
    except JournalWriteError as exc:
        report["output"] = [exc.errno, exc.filename, exc.disk_full]
    try:
        j.step_output("OCTO1", "admin", "stdout", "more\n")
        report["more_output"] = "written"
    except JournalWriteError as exc:
        report["more_output"] = exc.filename
    j.step_failed("OCTO1", "admin", error="cannot write the step log", hint="free space")
    report["runner_log"] = str(j.runner_log("the detail\n"))
    j.run_finished("failed", message="1 step(s) failed")
report["reserve_after"] = (run / SPACE_RESERVE).exists()
report["events"] = [e["type"] for e in read_events(run)]
print(json.dumps(report))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a private tmpfs needs root")
def test_the_journal_records_a_failure_and_the_end_of_the_run_on_a_full_disk(tmp_path: Path) -> None:
    """Not one free byte left, not even in the journal's last page: step output is refused with an error
    naming the file, and the failure, the detail in runner.log and the end of the run still go in, into
    the space the writer held back; the reserve is gone once the journal is closed."""
    with private_disk(tmp_path / "disk", "1m") as disk:
        run = tmp_path / "disk" / "runs" / "20260101-000000-0000"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOTUI_")}
        proc = disk.popen([sys.executable, "-c", JOURNAL_ON_A_FULL_DISK, str(tmp_path / "disk"), str(run)], env)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        report = json.loads(out)
        assert report["reserve_held"]
        code, filename, full = report["output"]
        assert code == errno.ENOSPC and full and filename == str(run / "OCTO1" / "admin.log")
        assert report["more_output"] == str(run / "OCTO1" / "admin.log")
        assert report["events"] == ["step_started", "step_failed", "run_finished"]
        assert report["runner_log"] == str(run / "runner.log")
        assert disk.path(run / "runner.log").read_text() == "the detail\n"
        assert not report["reserve_after"]
