"""Runs that are killed, interrupted by faults, or pointed at the wrong thing: each ends in a clear message
and a world from which ``apply`` converges, with nothing already configured lost."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import journal, octotui, octotui_env, wait_for, world_shape, write_answers
from tests.fixtures.lab import LabProcess, running_lab

NODES = ["OCTO1", "OCTO2"]


def create(lab: LabProcess, home: Path, **env_extra: str) -> tuple[dict[str, str], Path]:
    env = octotui_env(lab, home, **env_extra)
    return env, write_answers(lab, home / "create.toml", NODES)


def events_in(run_dir: Path) -> int:
    try:
        return sum(1 for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.endswith("}"))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A create run without interruptions: the world every interrupted run must converge to."""
    base = tmp_path_factory.mktemp("reference")
    with running_lab(base / "state", "--nodes", "2", "--latency-ms", "10") as lab:
        env, answers = create(lab, base)
        out = octotui(env, "apply", str(answers), "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        return {"shape": world_shape(lab.inspect()), "events": len(journal(env))}


def test_kill_9_at_many_points_then_apply_converges(reference: dict[str, Any], tmp_path: Path) -> None:
    total = reference["events"]
    points = sorted({max(2, round(total * i / 13)) for i in range(1, 13)})
    assert len(points) >= 10
    killed_at: list[int] = []
    for k in points:
        base = tmp_path / f"kill{k}"
        with running_lab(base / "state", "--nodes", "2", "--latency-ms", "10") as lab:
            env, answers = create(lab, base)
            started = octotui(env, "apply", str(answers), "--yes", "--detach")
            assert started.returncode == 0, started.stderr
            run_dir = next((Path(env["OCTOTUI_HOME"]) / "runs").iterdir())
            pid = _runner_pid(run_dir)
            try:
                wait_for(lambda r=run_dir, k=k, p=pid: events_in(r) >= k or not _alive(p), timeout=60,  # type: ignore[misc]
                         interval=0.005)
            finally:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            killed_at.append(events_in(run_dir))
            wait_for(lambda p=pid: not _alive(p), timeout=10)  # type: ignore[misc]
            status = octotui(env, "runs")
            assert run_dir.name in status.stdout
            again = octotui(env, "apply", str(answers), "--yes")
            assert again.returncode == 0, f"after a kill at event {k}: " + again.stdout + again.stderr
            assert world_shape(lab.inspect()) == reference["shape"], f"kill at event {k}"
    assert len(set(killed_at)) >= 10, killed_at


def _runner_pid(run_dir: Path) -> int:
    text = (run_dir / "runner.pid").read_text().strip()
    return int(json.loads(text)["pid"]) if text.startswith("{") else int(text.split()[0])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("fault", "failing_node", "failing_step", "message"),
    [
        ("msi@OCTO2:exit=1603", "OCTO2", "install", "1603"),
        ("wsman500@OCTO1:after=25", "OCTO1", None, "WS-Man"),
        ("reboot@OCTO2:after=12,down=2", "OCTO2", None, ""),
        ("drop@OCTO1:after=30", None, None, ""),
        ("drop@OCTO2:after=15,times=2", None, None, ""),
    ],
    ids=["msi-1603", "wsman-500", "reboot", "drop", "drop-twice"],
)
def test_faults_end_clearly_and_apply_converges(fault: str, failing_node: str | None, failing_step: str | None,
                                               message: str, reference: dict[str, Any], tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "2", "--latency-ms", "10", "--fault", fault) as lab:
        env, answers = create(lab, tmp_path)
        first = octotui(env, "apply", str(answers), "--yes")
        assert "Traceback" not in first.stdout + first.stderr
        if first.returncode != 0:
            assert first.returncode == 1
            failures = [e for e in journal(env) if e["type"] == "step_failed"]
            assert failures, first.stdout
            f = failures[0]
            if failing_node:
                assert f["node"] == failing_node
            if failing_step:
                assert f["step"] == failing_step
            assert message in f["error"] + first.stdout
            assert f["hint"]
            assert f"{f['node']}" in first.stdout and "FAILED" in first.stdout
        else:
            assert failing_step is None, "the fault should have failed the run"
        again = octotui(env, "apply", str(answers), "--yes")
        assert again.returncode == 0, again.stdout + again.stderr
        assert world_shape(lab.inspect()) == reference["shape"]


def test_msi_3010_installs_and_says_a_reboot_is_due(reference: dict[str, Any], tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "2", "--fault", "msi@OCTO1:exit=3010") as lab:
        env, answers = create(lab, tmp_path)
        out = octotui(env, "apply", str(answers), "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "reboot" in " ".join(e.get("text", "") for e in journal(env) if e["type"] == "step_output")
        assert world_shape(lab.inspect()) == reference["shape"]


def test_slow_command_is_waited_for(reference: dict[str, Any], tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "2", "--fault", "slow@OCTO1:match=--create,seconds=4") as lab:
        env, answers = create(lab, tmp_path)
        out = octotui(env, "apply", str(answers), "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        assert world_shape(lab.inspect()) == reference["shape"]


def test_wrong_master_key_fails_the_join_and_loses_nothing(tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "3") as lab:
        env = octotui_env(lab, tmp_path)
        answers = write_answers(lab, tmp_path / "create.toml", ["OCTO1", "OCTO2"])
        assert octotui(env, "apply", str(answers), "--yes").returncode == 0
        before = world_shape(lab.inspect())
        join = write_answers(lab, tmp_path / "join.toml", ["OCTO3"], mode="join")
        wrong = octotui(env, "apply", str(join), "--yes", _env_extra := None) if False else \
            octotui({**env, "OCTOTUI_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAA=="}, "apply", str(join), "--yes")
        assert wrong.returncode == 1
        (failed,) = [e for e in journal(env) if e["type"] == "step_failed"]
        assert (failed["node"], failed["step"]) == ("OCTO3", "database")
        assert "master key" in (failed["error"] + failed["hint"]).lower()
        after = world_shape(lab.inspect())
        assert after["databases"] == before["databases"]
        for name in ("OCTO1", "OCTO2"):
            assert after["nodes"][name] == before["nodes"][name]
        right = octotui(env, "apply", str(join), "--yes")  # the key from the keyring
        assert right.returncode == 0, right.stdout + right.stderr
        (db,) = lab.inspect()["sql"]["databases"]
        assert [n["name"] for n in db["nodes"]] == ["OCTO1", "OCTO2", "OCTO3"]


def test_create_refuses_a_database_that_holds_another_cluster_before_any_change(tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "3") as lab:
        env = octotui_env(lab, tmp_path)
        first = write_answers(lab, tmp_path / "first.toml", ["OCTO1"])
        assert octotui(env, "apply", str(first), "--yes").returncode == 0
        before = lab.inspect()
        other = write_answers(lab, tmp_path / "other.toml", ["OCTO2", "OCTO3"])
        out = octotui(env, "apply", str(other), "--yes")
        assert out.returncode == 1
        (failed,) = [e for e in journal(env) if e["type"] == "step_failed"]
        assert (failed["node"], failed["step"]) == ("OCTO2", "guard-database")
        assert "already holds an Octopus cluster" in failed["error"] and "join" in failed["hint"]
        after = lab.inspect()
        assert world_shape(after) == world_shape(before)
        octo2 = next(n for n in after["nodes"] if n["name"] == "OCTO2")
        assert not [p for p in octo2["process_log"] if re.search(r"msiexec|Octopus\.Server", p["command_line"])]


def test_ctrl_c_stops_at_a_safe_point_and_resume_continues_the_same_run(reference: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    import subprocess
    import sys

    with running_lab(tmp_path / "state", "--nodes", "2", "--latency-ms", "30") as lab:
        env, answers = create(lab, tmp_path)
        follower = subprocess.Popen([sys.executable, "-m", "octotui", "apply", str(answers), "--yes"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runs = Path(env["OCTOTUI_HOME"]) / "runs"
        wait_for(lambda: runs.exists() and any(events_in(r) >= 4 for r in runs.iterdir()), timeout=60)
        follower.send_signal(signal.SIGINT)  # what Ctrl+C in the terminal sends
        out, err = follower.communicate(timeout=120)
        assert follower.returncode == 3, out + err
        events = journal(env)
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "cancelled"
        assert any(e["type"] == "cancel_requested" for e in events)
        # Stopped between steps: every started step finished or failed cleanly; nothing runs on.
        started = [(e["node"], e["step"]) for e in events if e["type"] == "step_started"]
        ended = [(e["node"], e["step"]) for e in events if e["type"] in ("step_done", "step_failed")]
        assert started == ended
        run_id = events[0]["run_id"]
        resumed = octotui(env, "apply", str(answers), "--yes", "--resume", run_id)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        events = journal(env, run_id)
        assert [e.get("resumed", False) for e in events if e["type"] == "run_started"] == [False, True]
        assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + len(events)))
        assert world_shape(lab.inspect()) == reference["shape"]
