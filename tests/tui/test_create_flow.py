"""The create flow end to end against the lab, driven with keys through Pilot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from octotui.screens.app import WizardApp

from tests.fixtures.lab import LabProcess
from tests.tui.wizard_driver import current, lab_state, next_screen, wait_until


def test_create_flow_builds_a_healthy_cluster(lab: LabProcess, isolated_home: Path) -> None:
    app = WizardApp(lab_state(lab), start="nodes")
    asyncio.run(_walk(app))
    world = lab.inspect()
    (db,) = world["sql"]["databases"]
    assert [n["name"] for n in db["nodes"]] == ["OCTO1", "OCTO2", "OCTO3"]
    saved = (isolated_home / "wizard" / "answers.toml").read_text()
    assert lab.ready["admin"]["password"] not in saved and lab.ready["service_account"]["password"] not in saved


async def _walk(app: WizardApp) -> None:
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(pilot, lambda: current(app) == "nodes")
        for expect in ("home", "service", "sql", "storage", "install", "review"):
            await next_screen(pilot, app, expect)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MasterKeyDialog", 120, "master key dialog")
        await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "recorded", 10, "focus on the box")
        await pilot.press("space")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "FinishScreen", 120, "finish")
        await wait_until(pilot, lambda: app.screen.healthy is not None, 60, "health")  # type: ignore[attr-defined]
        assert app.screen.healthy is True  # type: ignore[attr-defined]
        assert app.unhandled == []
