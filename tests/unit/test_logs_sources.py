"""A run's logs as the runner writes them (through its own journal writer): what there is to review, a failed
step's log at its failing line, and which step a node's log line was written during."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.logs.document import LogDocument
from octotui.logs.sources import META_SUFFIX, cached_node_logs, failing_line, run_sources
from octotui.logs.timeline import RunTimeline
from octotui.run.journal import JournalWriter, plan_summary
from octotui.run.store import create_run_dir
from octotui.secrets.redact import Redactor
from tests.fixtures.logs import nlog


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[Path, Clock]]:
    clock = Clock(1_748_772_000.0)  # 2025-06-01 10:00:00 UTC
    run_dir = create_run_dir(tmp_path / "home")
    with JournalWriter(run_dir, Redactor(), clock=clock) as j:
        plan = {"OCTO1": [("install", "Install Octopus"), ("database", "Create the database")],
                "OCTO2": [("install", "Install Octopus")]}
        j.run_started(mode="create", plan=plan_summary(plan))
        j.step_started("OCTO1", "install", "Install Octopus")
        j.step_output("OCTO1", "install", "stdout", "msiexec /i Octopus.msi\nInstalled.\n")
        clock.now += 10
        j.step_done("OCTO1", "install", changed=True, duration_ms=10_000)
        clock.now += 1
        j.step_started("OCTO1", "database", "Create the database")
        j.step_output("OCTO1", "database", "stdout", "Checking the database\nCreating the database\n")
        j.step_output("OCTO1", "database", "stderr", "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'.\n"
                                                     "   at System.Data.SqlClient.SqlConnection.Open()\n"
                                                     "Exit code 100\n")
        clock.now += 5
        j.step_failed("OCTO1", "database", error="OCTO1: Octopus.Server.exe database failed (exit 100): Login "
                      "failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'.", hint="run it as the service account",
                      duration_ms=5000)
        j.run_finished("failed")
    yield run_dir, clock


def test_a_run_offers_its_journal_steps_and_nodes(run: tuple[Path, Clock]) -> None:
    run_dir, _clock = run
    sources = run_sources(run_dir)
    kinds = [(s.kind, s.node, s.step) for s in sources]
    assert kinds[0] == ("journal", None, None)
    assert ("step", "OCTO1", "install") in kinds and ("step", "OCTO1", "database") in kinds
    assert kinds.index(("step", "OCTO1", "install")) < kinds.index(("step", "OCTO1", "database"))
    nodes = [s for s in sources if s.kind == "node"]
    assert [s.node for s in nodes] == ["OCTO1", "OCTO2"] and not any(s.fetched for s in nodes)


def test_a_failed_step_opens_at_its_failing_line(run: tuple[Path, Clock]) -> None:
    run_dir, _clock = run
    step = next(s for s in run_sources(run_dir) if s.step == "database")
    with LogDocument(step.path) as doc:
        doc.build()
        error = ("OCTO1: Octopus.Server.exe database failed (exit 100): Login failed for user "
                 "'NT AUTHORITY\\ANONYMOUS LOGON'.")
        line = failing_line(doc, error)
        assert doc.line(line).text.startswith("Login failed for user")
        # Without words to look for: the last error-looking entry; without one, the last line.
        assert doc.line(failing_line(doc, "")).text.startswith(("Login failed", "Exit code"))


def test_a_node_log_line_points_at_the_step_that_ran(run: tuple[Path, Clock]) -> None:
    run_dir, _clock = run
    timeline = RunTimeline.of_run(run_dir)
    start = 1_748_772_000.0
    assert timeline.step_at("OCTO1", start + 5).step == "install"  # type: ignore[union-attr]
    span = timeline.step_at("octo1", start + 13)
    assert span is not None and (span.step, span.state) == ("database", "failed")
    assert timeline.step_at("OCTO1", start + 60) is None
    assert timeline.step_at("OCTO2", start + 5) is None
    # A node writing local time two hours ahead of UTC: its 12:00:13 is the run's 10:00:13.
    from octotui.logs.formats import FORMATS

    wall = FORMATS["octopus"].classify(nlog(dt.datetime(2025, 6, 1, 12, 0, 13), "ERROR", "Login failed")).wall
    assert wall is not None
    assert timeline.step_at("OCTO1", wall - 7200).step == "database"  # type: ignore[union-attr]


def test_fetched_node_logs_are_listed_with_what_was_fetched(run: tuple[Path, Clock]) -> None:
    run_dir, _clock = run
    folder = run_dir / "node-logs" / "OCTO1"
    folder.mkdir(parents=True)
    (folder / "OctopusServer.txt").write_bytes(b"x\n")
    Path(str(folder / "OctopusServer.txt") + META_SUFFIX).write_text(json.dumps(
        {"remote_path": "C:\\Octopus\\Logs\\OctopusServer.txt", "remote_size": 10 << 20, "start": 9 << 20,
         "utc_offset_s": 3600}))
    (cached,) = cached_node_logs(run_dir, "OCTO1")
    assert cached.remote_path == "C:\\Octopus\\Logs\\OctopusServer.txt" and cached.utc_offset == 3600
    assert "last 1.0 MB of 10.0 MB" in cached.label
    nodes = [s for s in run_sources(run_dir) if s.kind == "node"]
    assert [s.node for s in nodes] == ["OCTO1", "OCTO2"] and nodes[0].fetched
