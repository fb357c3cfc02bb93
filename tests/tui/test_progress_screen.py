"""The progress screen following a journal as the runner writes it, and its step table.

No lab: the journal is written here with the engine's own ``JournalWriter``, as the detached runner writes
it, while the wizard follows it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from octotui.screens.app import WizardApp
from octotui.screens.widgets.step_table import StepTable
from textual.app import App, ComposeResult
from textual.strip import Strip

from octotui.run.journal import JournalWriter, plan_summary
from octotui.secrets.redact import Redactor
from tests.tui.screens_fixture import example_state
from tests.tui.wizard_driver import wait_until

STEPS = ["install", "create-instance", "database"]
NODES = ["OCTO1", "OCTO2"]


def _plan() -> dict[str, list[dict[str, str]]]:
    return plan_summary({n: [(s, f"{s} on {n}") for s in STEPS] for n in NODES})


def _progress(app: WizardApp) -> Any:
    return app.screen if type(app.screen).__name__ == "ProgressScreen" else None


def _cells(app: WizardApp, node: str, step: str) -> tuple[str, ...]:
    table = app.screen.query_one("#steps", StepTable)
    cells = table.cells(f"{node}\x1f{step}")
    assert cells is not None, (node, step)
    return cells


def test_progress_follows_a_live_run_to_the_finish(isolated_home: Path) -> None:
    run_dir = isolated_home / "runs" / "20250101-120000-0001"
    journal = JournalWriter(run_dir, Redactor())
    journal.run_started(mode="create", plan=_plan())  # this process is the runner: alive
    app = WizardApp(example_state(), attach=run_dir, offline=True)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: _progress(app) is not None and len(_progress(app).view.rows) == 6,
                             20, "the planned steps")
            assert _cells(app, "OCTO1", "install")[2].endswith("waiting")
            journal.step_started("OCTO1", "install", "install on OCTO1")
            journal.step_output("OCTO1", "install", "stdout", "".join(f"line {i} [bold]not markup[/]\n"
                                                                      for i in range(200)))
            await wait_until(pilot, lambda: _cells(app, "OCTO1", "install")[2].endswith("running"), 20, "running")
            log: Any = app.screen.query_one("#output")
            await wait_until(pilot, lambda: log.line_count >= 200, 20, "the output")
            assert "OCTO1| line 199 [bold]not markup[/]" in log.lines
            journal.step_done("OCTO1", "install", changed=True, duration_ms=1500)
            await wait_until(pilot, lambda: _cells(app, "OCTO1", "install")[2].endswith("changed"), 20, "done")
            assert _cells(app, "OCTO1", "install")[3] == "1.5s"
            for node in NODES:
                for step in STEPS:
                    if (node, step) != ("OCTO1", "install"):
                        journal.step_started(node, step, f"{step} on {node}")
                        journal.step_done(node, step, changed=False, duration_ms=100)
            journal.run_finished("done")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "FinishScreen", 20, "the finish screen")
            assert app.unhandled == []

    try:
        asyncio.run(body())
    finally:
        journal.close()


def test_progress_says_when_the_runner_died(isolated_home: Path) -> None:
    """A journal without its end whose runner is gone: crashed, with what to do, and no wait on it."""
    run_dir = isolated_home / "runs" / "20250101-120000-0002"
    with JournalWriter(run_dir, Redactor()) as journal:
        # A runner that is no longer the process it was (its start token differs): gone.
        journal.emit("run_started", run_id=run_dir.name, mode="create", nodes=NODES, plan=_plan(),
                     pid=os.getpid(), pid_start="0")
        journal.step_started("OCTO1", "install", "install on OCTO1")
    app = WizardApp(example_state(), attach=run_dir, offline=True)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: _progress(app) is not None and _progress(app).status == "crashed",
                             20, "the crashed status")
            title = str(app.screen.query_one("#run-title").render())
            assert "stopped unexpectedly" in title, title
            failure = str(app.screen.query_one("#failure-text").render())
            assert "ended without finishing" in failure and "Retry resumes it" in failure, failure
            assert app.screen.query_one("#failure").display
            assert app.unhandled == []

    asyncio.run(body())


class _Table(App[None]):
    def compose(self) -> ComposeResult:
        yield StepTable([("Node", 6), ("State", 8), ("Title", None)], id="t")


def test_step_table_repaints_only_what_changed() -> None:
    painted: list[int] = []
    original = StepTable.render_line

    def counting(self: StepTable, y: int) -> Strip:
        painted.append(y)
        return original(self, y)

    app = _Table()

    async def body() -> None:
        async with app.run_test(size=(60, 12)) as pilot:
            table = app.query_one(StepTable)
            for i in range(30):
                table.add_row(f"r{i}", (f"N{i}", "waiting", f"step {i} [b]x[/b]"))
            table.focus()
            await pilot.pause()
            StepTable.render_line = counting  # type: ignore[method-assign]
            try:
                painted.clear()
                assert table.update_row("r3", (f"N{3}", "waiting", "step 3 [b]x[/b]")) is True  # the same
                await pilot.pause()
                assert painted == []
                table.update_row("r3", ("N3", "running", "step 3 [b]x[/b]"))
                await pilot.pause()
                assert painted == [4]  # the header is line 0
                assert table.update_row("nope", ("a", "b", "c")) is False

                painted.clear()
                await pilot.press("down")
                assert table.cursor_row == 1 and sorted(painted) == [1, 2]
                await pilot.press("end")
                assert table.cursor_row == 29 and table.scroll_offset.y > 0
                await pilot.press("home")
                assert table.cursor_row == 0 and table.scroll_offset.y == 0
                await pilot.press("pagedown")
                assert table.cursor_row > 1
            finally:
                StepTable.render_line = original  # type: ignore[method-assign]
            await pilot.press("home")
            assert table.render_line(4).text.startswith(" N3      running   step 3 [b]x[/b]")  # as given

    asyncio.run(body())
