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


def _type_together(start_in: str, keys: list[str]) -> tuple[str, str, str]:
    """On the service account screen with both fields empty, focus the user name field ("user") or the
    password ("password"), post ``keys`` at once: what each field then holds, and the screen as drawn."""
    async def scenario() -> tuple[str, str, str]:
        app = WizardApp(example_state(), start="service", offline=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            user, password = list(app.screen.query(Input))[:2]
            user.value = password.value = ""
            app.screen.set_focus(user if start_in == "user" else password)
            await pilot.pause()
            for key in keys:
                app.post_message(events.Key(key, {"tab": "\t", "shift+tab": None, "backslash": "\\"}.get(key, key)))
            await pilot.pause(0.3)
            return user.value, password.value, app.export_screenshot()

    return asyncio.run(scenario())


def test_auto_type_of_user_tab_password_fills_both_fields_and_never_shows_the_password() -> None:
    user, password, shown = _type_together("user", [*"WORK", "backslash", *"svcOctopus", "tab", *"S3cret-pw"])
    assert (user, password) == ("WORK\\svcOctopus", "S3cret-pw")
    assert "S3cret-pw" not in shown  # the password field masks it; in the user field it would show in clear


def test_shift_tab_typed_ahead_goes_back_before_the_keys_behind_it() -> None:
    user, password, _shown = _type_together("password", [*"pw", "shift+tab", *"me"])
    assert (user, password) == ("me", "pw")
