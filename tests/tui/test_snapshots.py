"""Every screen at 80x24 and 120x40 (pytest-textual-snapshot); no network, no secret in any picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from octotui.screens.app import WizardApp

from tests.tui.screens_fixture import SECRETS, example_state, recorded_run
from tests.tui.wizard_driver import wait_until

SIZES = [(80, 24), (120, 40)]
FLOW_SCREENS = ["nodes", "home", "service", "sql", "storage", "install", "review"]


@pytest.fixture(autouse=True)
def fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)


def _no_secret(app: WizardApp) -> None:
    text = app.export_screenshot()
    assert not any(v in text for v in SECRETS.values())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_welcome(snap_compare: Any, size: tuple[int, int]) -> None:
    app = WizardApp(example_state(), offline=True)
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", FLOW_SCREENS)
def test_wizard_screen(snap_compare: Any, size: tuple[int, int], screen: str) -> None:
    app = WizardApp(example_state(), start=screen, offline=True)

    async def ready(pilot: Any) -> None:
        await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == screen)
        await pilot.pause()
        _no_secret(app)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_join_key_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    app = WizardApp(example_state("join"), start="join_key", offline=True)

    async def ready(pilot: Any) -> None:
        await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "join_key")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_progress_failed_run(snap_compare: Any, size: tuple[int, int], isolated_home: Path) -> None:
    run_dir = recorded_run(isolated_home)
    app = WizardApp(example_state(), attach=run_dir, offline=True)

    async def ready(pilot: Any) -> None:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
        await wait_until(pilot, lambda: app.screen.view.finished)  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finish_healthy(snap_compare: Any, size: tuple[int, int]) -> None:
    from octotui.screens.messages import TaskDone

    from octotui.run.cluster_facts import ClusterHealth, NodeHealth

    app = WizardApp(example_state(), offline=True)
    health = ClusterHealth(nodes=[NodeHealth(f"OCTO{i}", f"http://octo{i}.corp.example.com:80/", 200, True,
                                             "\\\\files01\\OctopusShared", "Running") for i in (1, 2, 3)],
                           registered=["OCTO1", "OCTO2", "OCTO3"], expected_storage="\\\\files01\\OctopusShared")

    async def ready(pilot: Any) -> None:
        app.open_finish(None)
        await wait_until(pilot, lambda: type(app.screen).__name__ == "FinishScreen")
        app.screen.post_message(TaskDone("health", health))
        await wait_until(pilot, lambda: app.screen.healthy is True)  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_master_key_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    from octotui.screens.master_key import MasterKeyDialog

    app = WizardApp(example_state(), offline=True)
    key = "6EdU6IWsCtMEwk0kPKflQQ=="

    async def ready(pilot: Any) -> None:
        app.push_screen(MasterKeyDialog(key, "OCTO1"))
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MasterKeyDialog")
        await pilot.pause()
        assert key not in app.export_screenshot()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_guided_join_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    app = WizardApp(example_state("join"), offline=True)

    async def ready(pilot: Any) -> None:
        await pilot.press("g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "GuidedJoinScreen")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_error_dialog(snap_compare: Any, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    from octotui.errors import OctotuiError

    monkeypatch.setenv("OCTOTUI_HOME", "/tmp/octotui-snapshot-home")  # the dialog names the log file
    app = WizardApp(example_state(), offline=True)

    async def ready(pilot: Any) -> None:
        app.report_error(OctotuiError("another apply is already driving this cluster (run 20250101-120000-0001)",
                                      "attach to that run from the welcome screen"), "Starting the run")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ErrorDialog")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_diagnostics_screen(snap_compare: Any, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    import textual

    import octotui

    # The screen names the versions in use and the state folder: fixed here, so the picture shows the layout.
    monkeypatch.setattr(textual, "__version__", "8.x")
    monkeypatch.setattr(octotui, "__version__", "0.x")
    monkeypatch.setenv("OCTOTUI_HOME", "/tmp/octotui-snapshot-home")
    app = WizardApp(example_state(), offline=True)

    async def ready(pilot: Any) -> None:
        from octotui.screens.diagnostics import DiagnosticsScreen

        app.push_screen(DiagnosticsScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, DiagnosticsScreen))
        await pilot.press("x")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)
