"""The log viewer as a picture (pytest-textual-snapshot): levels in their colours, a stack trace under its
ERROR entry, and a search's matches highlighted with the cursor on the first one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from octotui.screens.logs import LogLines, LogScreen
from textual.app import App

from octotui.logs.sources import Source
from tests.fixtures.logs import TRACE, nlog, write_lines
from tests.tui.wizard_driver import wait_until


class Viewer(App[None]):
    def __init__(self, screen: LogScreen) -> None:
        super().__init__()
        self.log_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.log_screen)


@pytest.fixture(autouse=True)
def fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)


def _log(path: Path) -> Path:
    start = dt.datetime(2025, 6, 1, 8, 0, 0)

    def at(seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    lines = [
        nlog(at(0), "INFO", "Octopus Server version 2025.2.1234 starting"),
        nlog(at(0.5), "DEBUG", "Reading configuration from C:\\Octopus\\OctopusServer.config"),
        nlog(at(1), "INFO", "Listening for HTTP requests on: http://+:80/"),
        nlog(at(2), "WARN", "Task ServerTasks-17 is taking longer than expected"),
        nlog(at(3), "ERROR", "Task ServerTasks-17 failed: Sequence contains no elements"),
        *TRACE,
        nlog(at(4), "INFO", "Executing Health check for machine Machines-42"),
        nlog(at(5), "TRACE", "Node heartbeat recorded for OCTO1"),
        nlog(at(6), "FATAL", "The task queue stopped: ServerTasks-17 left it locked"),
        nlog(at(7), "INFO", "Cleaning up old task logs in C:\\Octopus\\TaskLogs"),
    ]
    return write_lines(path / "OctopusServer.txt", lines)


def test_log_viewer_with_levels_a_stack_trace_and_a_search(snap_compare: Any, tmp_path: Path) -> None:
    path = _log(tmp_path)
    # A fixed label: the title would otherwise show the temporary folder's path.
    screen = LogScreen([Source("file", "OctopusServer.txt", path)])
    app = Viewer(screen)

    async def ready(pilot: Any) -> None:
        view = screen.query_one(LogLines)
        await wait_until(pilot, lambda: screen.review is not None and screen.review.doc.complete)
        await pilot.press("g", "slash", *"ServerTasks-17", "enter")
        await wait_until(pilot, lambda: view.cursor == 3)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 18), run_before=ready)
