"""The command palette (ctrl+p): every screen and action by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from octotui.screens.wizard import wizard_of
from textual.command import DiscoveryHit, Hit, Hits, Provider


class WizardCommands(Provider):
    def _entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = wizard_of(self.app)
        entries: list[tuple[str, str, Callable[[], object]]] = [
            ("Welcome", "back to the start", app.go_welcome),
            ("Diagnostics", "terminal type, colours, size, key tester", app.action_diagnostics),
            ("Help", "help on this screen", app.action_screen_help),
            ("Save answers", "write the draft answers now (no secrets)", partial(app.save_draft, "")),
            ("Quit", "leave octotui (a run keeps going)", app.action_quit),
        ]
        for name in app.state.flow():
            entries.append((f"Go to {name}", f"the {name} screen", partial(app.jump_to, name)))
        return entries

    async def discover(self) -> Hits:
        for name, help_text, command in self._entries():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, command in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)
