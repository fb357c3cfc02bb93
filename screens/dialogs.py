"""Modal dialogs: errors (message and hint, never a traceback), confirmations, help, text, passphrase."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static


class _Dialog(ModalScreen[bool]):
    DEFAULT_CSS = """
    _Dialog { align: center middle; }
    _Dialog > Vertical { width: 76; max-width: 100%; height: auto; max-height: 90%; border: round $primary;
                         background: $surface; padding: 0 1; }
    _Dialog .dialog-title { text-style: bold; padding: 0 0 1 0; }
    _Dialog VerticalScroll { height: auto; max-height: 16; }
    _Dialog Horizontal { height: auto; align-horizontal: right; padding: 1 0 0 0; }
    _Dialog Button { margin: 0 0 0 1; min-width: 10; }
    """


class ErrorDialog(_Dialog):
    """What went wrong and what to do; the detail (redacted) is in the log file named at the bottom."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,enter", "close", "Close", id="close")]

    def __init__(self, title: str, message: str, hint: str = "", log_path: str = "") -> None:
        super().__init__(classes="error-dialog")
        self.title_text = title
        self.message = message
        self.hint = hint
        self.log_path = log_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(self.message, id="error-message", markup=False)
                if self.hint:
                    yield Static(f"\nWhat to do: {self.hint}", id="error-hint", markup=False)
                if self.log_path:
                    yield Static(f"\nDetails: {self.log_path}", markup=False)
            with Horizontal():
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(True)


class ConfirmDialog(_Dialog):
    """A yes/no question; ``y``/``n`` answer it from the keyboard."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("y", "yes", "Yes", id="yes"), Binding("n,escape", "no", "No", id="no")]

    def __init__(self, title: str, message: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="confirm-dialog")
        self.title_text = title
        self.message = message
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(self.message, markup=False)
            with Horizontal():
                yield Button(f"{self.no_label} (n)", id="no")
                yield Button(f"{self.yes_label} (y)", id="yes", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class TextDialog(_Dialog):
    """A block of text to read (help, a field's detail, a log's tail)."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,enter,q", "close", "Close", id="close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="text-dialog")
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(self.text, markup=False)
            with Horizontal():
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(True)


class PassphraseDialog(ModalScreen[str | None]):
    """Consent to an encrypted secrets file, with its passphrase (asked twice). Dismisses with the
    passphrase, or None when declined."""

    DEFAULT_CSS = _Dialog.DEFAULT_CSS.replace("_Dialog", "PassphraseDialog")
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("No keyring works here", classes="dialog-title", markup=False)
            yield Static(self.why, markup=False)
            yield Static("\noctotui can keep the secrets in a file encrypted with a passphrase "
                         "(Argon2id + AES-GCM). It never stores them as plain text.", markup=False)
            yield Checkbox("I agree to keep secrets in the encrypted file", id="consent")
            yield Input(placeholder="passphrase", password=True, id="pass1")
            yield Input(placeholder="passphrase again", password=True, id="pass2")
            yield Static("", id="pass-problem", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Use the encrypted file", id="ok", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        consent = self.query_one("#consent", Checkbox).value
        p1, p2 = self.query_one("#pass1", Input).value, self.query_one("#pass2", Input).value
        problem = "" if consent else "tick the box to agree first"
        if consent and (not p1.strip() or p1 != p2):
            problem = "the two passphrases differ" if p1 != p2 else "the passphrase is empty"
        if problem:
            self.query_one("#pass-problem", Static).update(problem)
            return
        self.dismiss(p1)

    def action_cancel(self) -> None:
        self.dismiss(None)
