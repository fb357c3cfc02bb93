"""The progress display, from recorded events and from a journal being written."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from octotui.cli.progress import LiveProgress, render_progress
from octotui.run.cancel import cancel_requested
from octotui.run.journal import JournalWriter, plan_summary
from octotui.run.journal_read import JOURNAL
from octotui.run.locks import lock_run
from octotui.run.progress import clean_text, fmt_duration
from octotui.run.store import create_run_dir

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

PLAN = plan_summary({
    "OCTO1": [("install", "Install Octopus 2025.3"), ("instance", "Create the instance"), ("database", "Create DB")],
    "OCTO2": [("install", "Install Octopus 2025.3"), ("instance", "Create the instance")],
    "OCTO3": [("install", "Install Octopus 2025.3"), ("instance", "Create the instance")],
})


def ev(seq: int, ts: float, type_: str, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "type": type_, **fields}


RECORDED = [
    ev(1, 1000.0, "run_started", run_id="20250101-120000-abcd", mode="create", nodes=list(PLAN), plan=PLAN, pid=1),
    ev(2, 1001.0, "step_started", node="OCTO1", step="install", title="Install Octopus 2025.3"),
    ev(3, 1005.0, "step_output", node="OCTO1", step="install", stream="stdout", text="Installing\n\x1b[31mred\x1b[0m "
       "part 1\n\n"),
    ev(4, 1030.0, "step_done", node="OCTO1", step="install", changed=True, duration_ms=29000),
    ev(5, 1031.0, "step_started", node="OCTO1", step="instance", title="Create the instance"),
    ev(6, 1032.0, "step_output", node="OCTO1", step="instance", stream="stdout", text="Creating instance Default"),
    ev(7, 1002.0, "step_started", node="OCTO2", step="install", title="Install Octopus 2025.3"),
    ev(8, 1040.0, "step_failed", node="OCTO2", step="install", error="msiexec exited with 1603",
       hint="read C:\\Octopus\\install.log on OCTO2; free disk space, then apply again"),
]


def test_render_from_recorded_events() -> None:
    lines = render_progress(RECORDED, width=200, now=1100.0)
    text = "\n".join(lines)
    assert lines[0] == "Run 20250101-120000-abcd  create  running  1m40s"
    octo1 = next(line for line in lines if "OCTO1" in line)
    assert "running" in octo1 and "1/3" in octo1 and "instance: Create the instance" in octo1
    assert "> Creating instance Default" in octo1 and "1m39s" in octo1
    octo2 = next(line for line in lines if "OCTO2" in line)
    assert "failed" in octo2 and "0/2" in octo2 and "0m38s" in octo2
    assert "install failed: msiexec exited with 1603" in text
    assert "hint: read C:\\Octopus\\install.log on OCTO2" in text
    octo3 = next(line for line in lines if "OCTO3" in line)
    assert "waiting" in octo3 and "0/2" in octo3
    assert "\x1b" not in text


def test_last_output_line_is_cleaned_of_escape_sequences() -> None:
    lines = render_progress(RECORDED[:3], width=200, now=1010.0)
    octo1 = next(line for line in lines if "OCTO1" in line)
    assert octo1.endswith("> red part 1")
    # Colour and title sequences are dropped; a lone control character is shown, not obeyed nor hidden.
    assert clean_text("\x1b[2J\x1b]0;title\x07ok\r\x1b[1;31m!") == "ok\\r!"


CONTROL_BYTES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _node_output_events(text: str) -> list[dict[str, Any]]:
    return [*RECORDED[:2],
            ev(3, 1005.0, "step_output", node="OCTO1", step="install", stream="stdout", text=text),
            ev(4, 1006.0, "step_failed", node="OCTO1", step="install", error=f"it said: {text}", hint=text)]


def test_node_output_with_control_characters_cannot_drive_the_terminal() -> None:
    # ESC c resets the terminal, ESC 7/8 save and restore the cursor, BEL rings, CR rewrites the line, a
    # C1 CSI (U+009B) moves the cursor on terminals that read C1 controls.
    hostile = "ok\x1bc\x1b7 ding\x07 \x00zero\rFAKE DONE\x9b2J\x1b8\x7f end"
    events = _node_output_events(hostile)
    for lines in (render_progress(events, width=300, now=1010.0),
                  render_progress(events, width=300, color=True, now=1010.0)):
        text = "\n".join(ANSI.sub("", line) for line in lines)
        assert not CONTROL_BYTES.search(text)
        assert "\\x1bc\\x1b7 ding\\x07 \\x00zero\\rFAKE DONE\\x9b2J\\x1b8\\x7f end" in text


def test_appended_progress_lines_escape_node_output_and_stay_short(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    huge = "A" * 1_000_000
    with JournalWriter(run, Redactor()) as journal:
        journal.run_started(mode="create", plan=plan_summary({"OCTO1": [("svc", "Start the service")]}))
        journal.step_started("OCTO1", "svc", "Start the service")
        journal.step_failed("OCTO1", "svc", error=f"bad\x1b]0;owned\x07\x1b[2J {huge}", hint="beep\x07\rX")
        journal.run_finished("failed", exit_code=1)
    out = io.StringIO()
    code = LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False).run()
    lock.release()
    text = out.getvalue()
    assert code == 1
    assert not CONTROL_BYTES.search(text)
    assert "OCTO1  hint: beep\\x07\\rX" in text.splitlines()
    assert "OCTO1  svc FAILED: bad A" in text and "characters in all]…AAA" in text and len(text) < 10_000


def test_width_and_color() -> None:
    narrow = render_progress(RECORDED, width=40, now=1100.0)
    assert all(len(line) <= 40 for line in narrow)
    colored = render_progress(RECORDED, width=200, color=True, now=1100.0)
    assert any("\x1b[31mfailed\x1b[0m" in line for line in colored)
    assert [ANSI.sub("", line) for line in colored] == render_progress(RECORDED, width=200, now=1100.0)


def test_finished_runs_say_how_they_ended() -> None:
    done = [*RECORDED,
            ev(9, 1050.0, "step_done", node="OCTO1", step="instance", changed=False, duration_ms=10),
            ev(10, 1060.0, "run_finished", status="failed", exit_code=1)]
    text = "\n".join(render_progress(done, width=200))
    assert "Failed (OCTO2 install) (exit 1)" in text and "apply` again" in text
    assert "stopped" in next(line for line in text.splitlines() if "OCTO1" in line)
    assert "not run" in next(line for line in text.splitlines() if "OCTO3" in line)
    cancelled = [*RECORDED[:2], ev(3, 1003.0, "cancel_requested", reason="x")]
    assert any("stops at the next safe point" in line for line in render_progress(cancelled, now=1004.0))
    cancelled.append(ev(4, 1004.0, "run_finished", status="cancelled", exit_code=3))
    assert "Cancelled at a safe point (exit 3)" in render_progress(cancelled)[-1]


def test_a_resumed_run_starts_a_fresh_display() -> None:
    resumed = [*RECORDED, ev(9, 1200.0, "run_finished", status="failed", exit_code=1),
               ev(10, 1300.0, "run_started", run_id="20250101-120000-abcd", mode="create", nodes=list(PLAN),
                  plan=PLAN, pid=2, resumed=True)]
    text = "\n".join(render_progress(resumed, now=1310.0))
    assert "failed" not in text and "running" in text.splitlines()[0]


def test_fmt_duration() -> None:
    assert [fmt_duration(s) for s in (0, 59.9, 61, 3600 + 120)] == ["0m00s", "0m59s", "1m01s", "1h02m"]


class Redactor:
    def redact(self, text: str) -> str:
        return text.replace("pw-secret", "****")


def produce(run: Path, *, status: str = "done", wait_cancel: bool = False, delay: float = 0.01) -> threading.Thread:
    """A runner writing its journal over time: ``delay`` is how long each step takes (the behaviour the
    display follows), not a wait for anything."""

    def body() -> None:
        with JournalWriter(run, Redactor()) as j:
            j.run_started(mode="create", plan=plan_summary({"OCTO1": [("install", "Install"), ("svc", "Service")]}))
            j.step_started("OCTO1", "install", "Install")
            time.sleep(delay)
            j.step_output("OCTO1", "install", "stdout", "progress pw-secret 50%\n")
            j.step_done("OCTO1", "install", changed=True, duration_ms=1500)
            if wait_cancel:
                deadline = time.monotonic() + 30
                while not cancel_requested(run) and time.monotonic() < deadline:
                    time.sleep(0.01)
                j.cancel_requested("requested from the terminal")
                j.run_finished("cancelled")
                return
            j.step_started("OCTO1", "svc", "Service")
            time.sleep(delay)
            if status == "failed":
                j.step_failed("OCTO1", "svc", error="service did not start", hint="look at the event log")
            else:
                j.step_done("OCTO1", "svc", changed=False, duration_ms=10)
            j.run_finished(status)  # type: ignore[arg-type]

    t = threading.Thread(target=body)
    t.start()
    return t


def test_live_progress_plain_lines_for_logs(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    t = produce(run, status="failed")
    code = LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False).run()
    t.join()
    lock.release()
    text = out.getvalue()
    assert code == 1
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith(f"Run {run.name} started (create; nodes: OCTO1)")
    assert "OCTO1  [1/2] install: Install" in lines
    assert "OCTO1  install changed (1.5 s)" in lines
    assert "OCTO1  svc FAILED: service did not start" in lines
    assert "OCTO1  hint: look at the event log" in lines
    assert lines[-1].startswith("Failed (OCTO1 svc) (exit 1)")
    assert "pw-secret" not in text


#: Every CSI sequence (colours, cursor moves, Rich's show/hide cursor ``\x1b[?25l``).
CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def test_live_progress_redraws_in_place_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # Rich redraws nothing on a "dumb" terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    t = produce(run, delay=0.05)
    code = LiveProgress(run, out=out, tty=True, color=True, width=80, poll=0.01, redraw_every=0.01,
                        handle_sigint=False).run()
    t.join()
    lock.release()
    assert code == 0
    text = out.getvalue()
    # Rich's Live: each redraw goes back up over the last one (cursor up, erase line), nothing appended.
    assert re.search(r"\x1b\[\d*A", text) and "\x1b[2K" in text
    assert "\x1b[32mdone" in text  # coloured where the terminal has colour
    final = CSI.sub("", text.rsplit("\x1b[2K", 1)[1])
    assert final.splitlines()[0].startswith(f"Run {run.name}  create  done")
    assert "Done (exit 0)" in final
    assert all(len(line) <= 80 for line in CSI.sub("", text).splitlines())


def test_no_color_on_a_terminal_that_asks_for_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("NO_COLOR", "1")
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    t = produce(run)
    code = LiveProgress(run, out=out, tty=True, width=80, poll=0.01, redraw_every=0.01, handle_sigint=False).run()
    t.join()
    lock.release()
    assert code == 0
    text = out.getvalue()
    assert "\x1b[2K" in text and not re.search(r"\x1b\[(?:[0-9;]*;)?[349][0-9]m", text)  # no colour


def test_a_pipe_gets_plain_lines_whatever_rich_finds(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()  # not a terminal: tty and colour come from Rich's detection
    t = produce(run)
    code = LiveProgress(run, out=out, poll=0.01, handle_sigint=False).run()
    t.join()
    lock.release()
    assert code == 0
    assert "\x1b" not in out.getvalue() and out.getvalue().splitlines()[-1].startswith("Done (exit 0)")


def test_first_ctrl_c_asks_the_run_to_stop(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    t = produce(run, wait_cancel=True)
    live = LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False)
    threading.Timer(0.2, live.interrupt).start()
    code = live.run()
    t.join()
    lock.release()
    assert code == 3
    text = out.getvalue()
    assert "Stopping the run at the next safe point" in text
    assert "Stop requested: the run stops at the next safe point" in text
    assert "Cancelled at a safe point (exit 3)" in text


def test_second_ctrl_c_stops_watching(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    live = LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False)
    live.interrupt()
    live.interrupt()
    assert live.run() == 3
    lock.release()
    assert cancel_requested(run)
    assert f"octotui attach {run.name}" in out.getvalue()


def test_sigint_handler_is_installed_and_restored(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    lock = lock_run(run)
    out = io.StringIO()
    live = LiveProgress(run, out=out, tty=False, poll=0.01)
    threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    threading.Timer(0.4, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    before = signal.getsignal(signal.SIGINT)
    assert live.run() == 3
    assert signal.getsignal(signal.SIGINT) is before
    lock.release()


def test_a_runner_that_died_ends_the_display_with_a_clear_message(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    started = {"seq": 1, "ts": 1.0, "type": "run_started", "run_id": "x", "mode": "create", "nodes": ["OCTO1"],
               "pid": dead.pid}
    (run / JOURNAL).write_text(json.dumps(started) + "\n")
    out = io.StringIO()
    code = LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False).run()
    assert code == 5  # ExitCode.RUNNER_LOST: not 1, which says a step failed
    assert "stopped without finishing" in out.getvalue() and f"--resume {run.name}" in out.getvalue()
    assert "exit 5" in out.getvalue()


def test_a_busy_cluster_ends_the_display_with_the_holder_and_how_to_take_over(tmp_path: Path) -> None:
    events = [ev(1, 1000.0, "run_started", run_id="r2", mode="create", nodes=["OCTO1"],
                 plan={"OCTO1": [{"step": "install", "title": "Install"}]}),
              ev(2, 1001.5, "run_finished", status="busy", exit_code=4,
                 message="the cluster is busy: OCTO1 is leased to run r1 (console build01, user alice, process 7) "
                         "since 2025-06-01 10:00:00 UTC (3 min ago); this run changed nothing",
                 hint="follow that run on build01 with `octotui attach r1`; ... `octotui apply a.toml --take-over`")]
    lines = render_progress(events, width=60)
    text = " ".join(lines)
    assert all(len(line) <= 60 for line in lines)
    assert "Not started (exit 4)" in text and "console build01" in text and "--take-over" in text
    assert "OCTO1  not run" in text
    run = create_run_dir(tmp_path)
    (run / JOURNAL).write_text("".join(json.dumps(e) + "\n" for e in events))
    out = io.StringIO()
    assert LiveProgress(run, out=out, tty=False, poll=0.01, handle_sigint=False).run() == 4
    assert "Not started (exit 4)" in out.getvalue() and "hint: follow that run on build01" in out.getvalue()
