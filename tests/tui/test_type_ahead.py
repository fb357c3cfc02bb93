"""Keys that arrive together land where the user meant them.

A terminal read can hold many keys: a password manager's auto-type ("user", Tab, "password"), a paste, or
keys typed ahead over a slow SSH link. Textual hands each to the widget that has focus when the key is read,
so a key that moves focus must do so at once, before the keys behind it are handed out. Here the keys are
posted to the app in one go, as Textual's driver posts the keys of one read."""

from __future__ import annotations

import asyncio

from octotui.screens.app import WizardApp
from textual import events
from textual.widgets import Input

from tests.tui.screens_fixture import example_state


def _burst(app: WizardApp, keys: list[str]) -> None:
    for key in keys:
        character = {"tab": "\t", "shift+tab": None, "backslash": "\\"}.get(key, key)
        app.post_message(events.Key(key, character))


def test_auto_type_of_user_tab_password_fills_both_fields_and_never_shows_the_password() -> None:
    async def scenario() -> tuple[str, str, str]:
        app = WizardApp(example_state(), start="service", offline=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            user, password = list(app.screen.query(Input))[:2]
            user.value = password.value = ""
            app.screen.set_focus(user)
            await pilot.pause()
            _burst(app, [*"WORK", "backslash", *"svcOctopus", "tab", *"S3cret-pw"])
            await pilot.pause(0.3)
            return user.value, password.value, app.export_screenshot()

    user, password, shown = asyncio.run(scenario())
    assert (user, password) == ("WORK\\svcOctopus", "S3cret-pw")
    assert "S3cret-pw" not in shown  # the password field masks it; in the user field it would show in clear


def test_shift_tab_typed_ahead_goes_back_before_the_keys_behind_it() -> None:
    async def scenario() -> tuple[str, str]:
        app = WizardApp(example_state(), start="service", offline=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            user, password = list(app.screen.query(Input))[:2]
            user.value = password.value = ""
            app.screen.set_focus(password)
            await pilot.pause()
            _burst(app, [*"pw", "shift+tab", *"me"])
            await pilot.pause(0.3)
            return user.value, password.value

    assert asyncio.run(scenario()) == ("me", "pw")
