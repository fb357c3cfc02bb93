"""What the engine says beside a field reaches the screen as written: square brackets are text, not markup.

Check summaries name answers sections (``[ad]``, ``[winrm]``) and quote values the user typed; with Rich
markup on, ``[ad]`` vanished from "no [ad] settings" and a value such as ``[/x]`` raised a markup error."""

from __future__ import annotations

import asyncio

from octotui.screens.widgets.field import ValidatedField
from textual.app import App, ComposeResult
from textual.widgets import Static

from octotui.checks.result import CheckResult


class _OneField(App[None]):
    def compose(self) -> ComposeResult:
        yield ValidatedField("service_account.username", "Service account", "WORK\\svcOctopus")


def test_a_reason_with_square_brackets_is_shown_as_written() -> None:
    async def scenario() -> str:
        app = _OneField()
        async with app.run_test(size=(100, 10)) as pilot:
            field = app.query_one(ValidatedField)
            field.add_results([CheckResult("ad.account", "skip", "WORK\\svcOctopus",
                                           "Active Directory is not asked from here (no [ad] settings) [/x] [b]")])
            await pilot.pause()
            return str(field.query_one(".field-reason", Static).render())

    assert "(no [ad] settings) [/x] [b]" in asyncio.run(scenario())
