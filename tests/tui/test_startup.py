"""What the wizard's first screen needs, and what it leaves for later: the engine's answers parser, the runs
and the draft are read after the first paint; the palette's provider loads when the palette opens."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from octotui.screens.app import WizardApp
from octotui.screens.state import WizardState
from textual.widgets import OptionList

from tests.tui.screens_fixture import EXAMPLE
from tests.tui.wizard_driver import wait_until

FIRST_PAINT = """
import json, sys
from octotui.screens.app import WizardApp
seen = {}
class First(WizardApp):
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is not None and type(screen).__name__ == "WelcomeScreen" and not seen:
            seen["modules"] = sorted(m for m in sys.modules if m.startswith("octotui"))
            self.exit()
First(offline=True).run(headless=True, size=(80, 24))
print(json.dumps(seen["modules"]))
"""


def test_the_first_paint_needs_neither_the_answers_parser_nor_the_runs(isolated_home: Path) -> None:
    out = subprocess.run([sys.executable, "-c", FIRST_PAINT], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, check=True)
    modules = set(json.loads(out.stdout.splitlines()[-1]))
    assert "octotui.screens.welcome" in modules
    late = {"octotui.spec.answers", "octotui.spec.writer", "octotui.spec.draft", "octotui.run.journal",
            "octotui.run.journal_read", "octotui.checks.live", "octotui.screens.commands"}
    assert modules.isdisjoint(late), sorted(modules & late)


def test_a_saved_draft_is_offered_first_once_read(isolated_home: Path) -> None:
    from octotui.spec.draft import save_draft

    save_draft(EXAMPLE, "sql", None, home=isolated_home)
    app = WizardApp(WizardState(), offline=True)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen", 10, "welcome")
            options = app.screen.query_one("#actions", OptionList)
            await wait_until(pilot, lambda: options.get_option_at_index(0).id == "draft", 10, "the draft offered")
            assert options.highlighted == 0
            assert "Continue where you left off (sql)" in str(options.get_option_at_index(0).prompt)
            assert app.state.data["nodes"] == EXAMPLE["nodes"]  # "Create" keeps what the draft typed
            await pilot.press("enter")
            await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "sql", 10, "the draft's screen")

    asyncio.run(body())


def test_the_palette_offers_the_wizard_commands(isolated_home: Path) -> None:
    app = WizardApp(WizardState(), offline=True)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen", 10, "welcome")
            await pilot.press("ctrl+p")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", 10, "the palette")
            await pilot.press(*"diagnostics")
            await wait_until(pilot, lambda: "Diagnostics" in str(app.screen.query_one(OptionList)
                                                                 .get_option_at_index(0).prompt)
                             if app.screen.query_one(OptionList).option_count else False, 10, "the hit")
            await pilot.press("enter")
            await wait_until(pilot, lambda: type(app.screen).__name__ == "DiagnosticsScreen", 10, "diagnostics")

    asyncio.run(body())
