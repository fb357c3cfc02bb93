"""What an administrator waits for, against a lab whose programs take Windows' time (``--timing realistic``).

One run measures, each with the process starts per node (the lab's process log, as ``lab inspect``
shows it) and a breakdown of the time by step:

- create: a 3-node ``octotui apply`` on fresh nodes;
- no-op apply: a second ``apply`` of the same answers, which changes nothing. Aim: at most 15% of create;
- resume: a second lab's create fails at OCTO2's ``database`` step (OCTO2 reboots during that step and
  stays down longer than the run's patience), then, once OCTO2 is back, ``apply --resume`` continues
  that run.

    python bench/realistic_waits.py [--timing realistic] [--skip-resume]

``--timing realistic:0.25`` runs the same at a quarter of the time (same proportions, for a quick look).
The lab's figures and their sources are in ``octotui/lab/timing.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from octotui.lab.timing import parse_timing
from octotui.remote.connect import CONNECT_PATIENCE_S
from tests.fixtures.cli import journal, octotui, octotui_env, wait_for, write_answers
from tests.fixtures.lab import LabProcess, running_lab

NODES = ["OCTO1", "OCTO2", "OCTO3"]


def process_log(lab: LabProcess) -> dict[str, list[str]]:
    return {n["name"]: [p["command_line"] for p in n["process_log"]] for n in lab.inspect()["nodes"]}


def image(command_line: str) -> str:
    """The program a logged command line started, by its file name (``cmd.exe``, ``powershell.exe``, ...)."""
    text = command_line.strip()
    first = text[1:text.find('"', 1)] if text.startswith('"') else text.split(" ", 1)[0]
    return first.replace("/", "\\").rsplit("\\", 1)[-1].lower().removesuffix(".exe") + ".exe"


def starts_between(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in NODES:
        new = after.get(name, [])[len(before.get(name, [])):]
        out[name] = {"total": len(new), "by_program": dict(Counter(image(c) for c in new).most_common())}
    return out


def step_seconds(events: list[dict[str, Any]], since_seq: int = 0) -> dict[str, dict[str, float]]:
    """Per node, per step: seconds from step_started to step_done/step_failed (events after ``since_seq``)."""
    open_: dict[tuple[str, str], float] = {}
    out: dict[str, dict[str, float]] = {}
    for e in events:
        if e.get("seq", 0) < since_seq:
            continue
        key = (e.get("node", ""), e.get("step", ""))
        if e["type"] == "step_started":
            open_[key] = e["ts"]
        elif e["type"] in ("step_done", "step_failed") and key in open_:
            out.setdefault(key[0], {})[key[1]] = round(e["ts"] - open_.pop(key), 2)
    return out


def run_wall(events: list[dict[str, Any]], since_seq: int = 0) -> float:
    mine = [e for e in events if e.get("seq", 0) >= since_seq]
    start = next(e["ts"] for e in mine if e["type"] == "run_started")
    end = next(e["ts"] for e in mine if e["type"] == "run_finished")
    return round(float(end) - float(start), 2)


def apply(env: dict[str, str], answers: Path, *extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    out = octotui(env, "apply", str(answers), "--yes", *extra, timeout=7200)
    return round(time.perf_counter() - started, 2), out


def create_and_noop(tmp: Path, timing: str) -> dict[str, Any]:
    with running_lab(tmp / "lab-a", "--nodes", "3", "--timing", timing) as lab:
        env = octotui_env(lab, tmp / "home-a")
        answers = write_answers(lab, tmp / "a.toml", NODES)
        before = process_log(lab)
        create_s, out = apply(env, answers)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        events = journal(env)
        after_create = process_log(lab)
        noop_s, out = apply(env, answers)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        noop_events = journal(env)
        after_noop = process_log(lab)
        changed = [e for e in noop_events if e["type"] == "step_done" and e.get("changed")]
    return {
        "create": {"apply_command_s": create_s, "run_wall_s": run_wall(events),
                   "process_starts": starts_between(before, after_create), "steps_s": step_seconds(events)},
        "noop_apply": {"apply_command_s": noop_s, "run_wall_s": run_wall(noop_events),
                       "steps_that_changed_something": [(e["node"], e["step"]) for e in changed],
                       "process_starts": starts_between(after_create, after_noop),
                       "steps_s": step_seconds(noop_events)},
        "noop_over_create": round(noop_s / create_s, 3),
    }


def fail_then_resume(tmp: Path, timing: str) -> dict[str, Any]:
    down_s = CONNECT_PATIENCE_S + 15
    # At full scale OCTO2's database step lasts ~10 s (two commands run as the service account), so the
    # reboot injected when the step is seen to start lands inside it. Scaled down, the step can end before
    # the next request reaches OCTO2, so its database command is held 30 s (longer than the engine's 20 s
    # Receive long poll); the hold may then fire in the resume instead, which adds 30 s to it.
    hold = [] if parse_timing(timing).scale >= 0.5 else ["--fault", "slow@OCTO2:match=database --masterKey,seconds=30"]
    with running_lab(tmp / "lab-b", "--nodes", "3", "--timing", timing, *hold) as lab:
        env = octotui_env(lab, tmp / "home-b")
        answers = write_answers(lab, tmp / "b.toml", NODES)
        started = time.perf_counter()
        first = subprocess.Popen([sys.executable, "-m", "octotui", "apply", str(answers), "--yes"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 stdin=subprocess.DEVNULL)

        def octo2_database_started() -> bool:
            try:
                events = journal(env)
            except (FileNotFoundError, StopIteration):  # the run folder or its journal is not there yet
                return False
            return any(e["type"] == "step_started" and e.get("node") == "OCTO2" and e.get("step") == "database"
                       for e in events)

        wait_for(octo2_database_started, timeout=7200, interval=0.05)
        seen = next(n["http_requests"] for n in lab.inspect()["nodes"] if n["name"] == "OCTO2")
        lab.add_fault(f"reboot@OCTO2:after={seen},down={down_s:g}")
        out, _err = first.communicate(timeout=7200)
        failed_s = round(time.perf_counter() - started, 2)
        events = journal(env)
        failures = [(e["node"], e["step"]) for e in events if e["type"] == "step_failed"]
        run_id = events[0]["run_id"]
        assert first.returncode != 0, "the run should have failed at OCTO2's database step\n" + out[-2000:]
        # Wait for OCTO2 to be back (its endpoint answers again) before resuming, as an administrator would.
        wait_for(lambda: next(n for n in lab.inspect()["nodes"] if n["name"] == "OCTO2")["boot_count"] >= 1,
                 timeout=down_s + 60)
        node2 = lab.node("OCTO2")["endpoint"]
        host, port = node2.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)

        def listening() -> bool:
            import socket

            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(listening, timeout=down_s + 60, interval=0.2)
        before = process_log(lab)
        seq = events[-1]["seq"] + 1
        resume_s, res = apply(env, answers, "--resume", run_id)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        after = process_log(lab)
        resumed = journal(env, run_id)
    return {
        "failed_run": {"apply_command_s": failed_s, "failures": failures,
                       "octo2_steps": [(e["type"], e.get("step"), str(e.get("error", ""))[:160]) for e in events
                                       if e.get("node") == "OCTO2" and e["type"].startswith("step_")
                                       and e["type"] != "step_output"]},
        "resume": {"apply_command_s": resume_s, "run_wall_s": run_wall(resumed, seq),
                   "process_starts": starts_between(before, after), "steps_s": step_seconds(resumed, seq)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timing", default="realistic", help="the lab's --timing (default realistic)")
    ap.add_argument("--skip-resume", action="store_true", help="only the create and the no-op apply")
    ap.add_argument("--only-resume", action="store_true", help="only the failed create and its resume")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        result: dict[str, Any] = {"timing": args.timing}
        if not args.only_resume:
            result.update(create_and_noop(tmp, args.timing))
            print(json.dumps(result), file=sys.stderr, flush=True)  # kept even if the resume part fails
        if not args.skip_resume:
            result.update(fail_then_resume(tmp, args.timing))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
