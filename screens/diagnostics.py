"""Diagnostics: what this terminal is (type, colours, size), a key tester, the versions in use."""

from __future__ import annotations

import os
from typing import ClassVar

from octotui.screens.base import BaseScreen
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Label, Static


class DiagnosticsScreen(BaseScreen):
    TITLE_TEXT = "Diagnostics"
    HELP = """
What octotui sees of this terminal. Colours: TERM=xterm gives 16 colours (PuTTY's default), xterm-256color
256. If boxes show as odd characters, start octotui with OCTOTUI_ASCII=1 (ASCII marks and borders).
Press any key to see what the terminal sends for it (useful when a binding does not work: tmux and some
consoles eat or change keys). Escape or ctrl+b goes back.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,ctrl+b", "back", "Back", id="back", priority=True),
        Binding("f1", "help", "Help", id="help"),
    ]

    def compose(self) -> ComposeResult:
        yield Label("Diagnostics", classes="screen-title", markup=False)
        with VerticalScroll(id="form"):
            yield Static("", id="terminal-info", markup=False)
            yield Label("Key tester: press keys", markup=False)
            yield Static("(no key yet)", id="key-seen", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_info()

    def refresh_info(self) -> None:
        import textual

        from octotui import __version__
        console = self.app.console
        info = [
            f"TERM={os.environ.get('TERM', '')}  COLORTERM={os.environ.get('COLORTERM', '')}",
            f"colour system: {console.color_system or 'none'}   size: {self.app.size.width}x{self.app.size.height}",
            f"ASCII marks: {'yes' if self.wizard.ascii_only else 'no'}",
            f"octotui {__version__}, textual {textual.__version__}",
            f"OCTOTUI_HOME: {self.wizard.home}",
        ]
        self.query_one("#terminal-info", Static).update("\n".join(info))

    def on_key(self, event: events.Key) -> None:
        self.query_one("#key-seen", Static).update(f"key={event.key!r} character={event.character!r}")

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_info()

    def action_back(self) -> None:
        self.app.pop_screen()
