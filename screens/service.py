"""Service account: the domain account the Octopus service runs as (it reaches SQL Server and the share)."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from octotui.screens.messages import TaskDone
from textual import work
from textual.app import ComposeResult
from textual.widgets import Checkbox, Static

from octotui.spec.answers import Problem
from octotui.spec.writer import get_value


class ServiceScreen(WizardScreen):
    NAME = "service"
    SECTION = "service_account"
    TITLE_TEXT = "Service account"
    OWNS: ClassVar[tuple[str, ...]] = (r"service_account(\..*)?", r"secret:service")
    HELP = """
The Octopus service on every node runs as this domain account, because every node reaches the shared
database (Integrated Security) and the shared storage as it. A gMSA (DOMAIN\\name$) needs no password.

The password stays in memory; tick "Remember" to keep it in the keyring. Where no keyring works (a
headless SSH session) octotui offers a file encrypted with a passphrase, with your consent; never plain text.
The account is proven on the nodes by the SQL and storage checks (they log on as it), and in Active
Directory when the answers have an [ad] table.
"""

    def form(self) -> ComposeResult:
        yield self.field("service_account.username", "Service account", placeholder="DOMAIN\\svcOctopus")
        yield self.field("secret:service", "Password", password=True,
                         help_text="Held in memory only; a gMSA (name ending in $) needs none.")
        yield Checkbox("Remember the password in the keyring", value="service" in self.state.remember,
                       id="remember-service")
        yield Static("Keyring: looking…", id="keyring-status", markup=False)

    def on_mount(self) -> None:
        if not self.wizard.offline:
            self.detect_keyring()

    @work(thread=True, exclusive=True, group="keyring", exit_on_error=False)
    def detect_keyring(self) -> None:
        from octotui.secrets.store import detect_keyring

        status, _store = detect_keyring()
        self.post_message(TaskDone("keyring", status))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name == "keyring" and message.value is not None:
            status = message.value
            text = f"Keyring: {status.summary}" if status.usable else \
                f"Keyring: none works here ({status.detail}); ticking Remember offers an encrypted file"
            self.query_one("#keyring-status", Static).update(text)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "remember-service":
            (self.state.remember.add if event.value else self.state.remember.discard)("service")

    def extra_problems(self) -> list[Problem]:
        user = str(get_value(self.state.data, "service_account.username", "")).strip()
        if user and not user.endswith("$") and not self.state.secrets.get("service"):
            return [Problem("secret:service", "is empty", "type the service account's password")]
        return []

    def advance(self) -> None:
        self.wizard.keep_secrets(then=lambda: self.wizard.go_next(self.NAME))
