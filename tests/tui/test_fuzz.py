"""Random input into every field of every screen: the wizard never fails (no unhandled exception, no
internal-error dialog), offline so that only the wizard and the engine's rules are exercised."""

from __future__ import annotations

import asyncio
import random

import pytest
from octotui.screens.app import WizardApp
from textual.widgets import Input

from tests.tui.screens_fixture import example_state
from tests.tui.wizard_driver import wait_until

ALPHABET = ("abcXYZ019 ._-:/\\\\$@%+*?\"'[]{}=;,\t\u00e9\u00df\u4e2d\U0001f600\x00\x1b" + "C:\\Octopus"
            + "\\\\server\\share" + "http://+:80/" + "Data Source=x;Initial Catalog=y;")
SCREENS = ["nodes", "home", "service", "sql", "storage", "install", "review"]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))


@pytest.mark.parametrize("mode", ["create", "join"])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_input_in_every_field(mode: str, seed: int) -> None:
    rng = random.Random(seed)
    flow = [s for s in SCREENS if not (mode == "join" and s == "storage")] + (["join_key"] if mode == "join" else [])

    async def main() -> None:
        app = WizardApp(example_state(mode), offline=True)
        async with app.run_test(size=(80, 24)) as pilot:
            for name in flow:
                app.jump_to(name)
                await wait_until(pilot, lambda name=name: getattr(app.screen, "NAME", "") == name)
                for _round in range(2):
                    for box in list(app.screen.query(Input)):
                        box.focus()
                        box.value = _random_text(rng)
                        await pilot.press("end", "backspace", "a")
                    await pilot.press("ctrl+n")
                    await pilot.pause()
                    if getattr(app.screen, "NAME", "") != name or type(app.screen).__name__.endswith("Dialog"):
                        if type(app.screen).__name__ == "ErrorDialog":
                            raise AssertionError(f"error dialog on {name}: {app.errors_shown}")
                        app.jump_to(name)
                        await wait_until(pilot, lambda name=name: getattr(app.screen, "NAME", "") == name)
                assert app.unhandled == [], app.unhandled
            assert app.unhandled == []
            assert not [e for e in app.errors_shown]

    asyncio.run(main())
