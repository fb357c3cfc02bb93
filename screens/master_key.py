"""The master key: shown once in create mode before the joins start; given (keyring, node, typed) to join."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from octotui.screens.messages import TaskDone
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from octotui.spec.answers import Problem


def masked(key: str) -> str:
    return "•" * min(len(key), 44) if key else ""


class MasterKeyDialog(ModalScreen[bool]):
    """Create mode: the key read from node 1, masked, with reveal and copy; the joins wait for the
    administrator to confirm it is recorded somewhere safe."""

    DEFAULT_CSS = """
    MasterKeyDialog { align: center middle; }
    MasterKeyDialog > Vertical { width: 78; max-width: 100%; height: auto; border: round $warning;
                                 background: $surface; padding: 0 1; }
    MasterKeyDialog #key { padding: 1 0; text-style: bold; }
    MasterKeyDialog Horizontal { height: auto; align-horizontal: right; }
    MasterKeyDialog Button { margin: 0 0 0 1; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+r", "reveal", "Reveal", id="reveal"),
        Binding("ctrl+y", "copy", "Copy", id="copy"),
        Binding("ctrl+n", "confirm", "Continue joins", id="next", priority=True),
        Binding("escape", "later", "Later", id="later"),
    ]

    def __init__(self, key: str, node: str) -> None:
        super().__init__()
        self.key = key
        self.node = node
        self.revealed = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Master key of the new cluster (read from {self.node})", classes="dialog-title", markup=False)
            yield Static("Without it no node can join the cluster and the database cannot be decrypted. "
                         "Record it in your password manager now; octotui also keeps it in the keyring "
                         "when one works.", markup=False)
            yield Static(masked(self.key), id="key", markup=False)
            yield Checkbox("I have recorded the master key somewhere safe", id="recorded")
            yield Static("", id="key-status", markup=False)
            with Horizontal():
                yield Button("Reveal (ctrl+r)", id="reveal")
                yield Button("Copy (ctrl+y)", id="copy")
                yield Button("Continue joins (ctrl+n)", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#recorded", Checkbox).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"reveal": self.action_reveal, "copy": self.action_copy, "confirm": self.action_confirm}[
            str(event.button.id)]()

    def action_reveal(self) -> None:
        self.revealed = not self.revealed
        self.query_one("#key", Static).update(self.key if self.revealed else masked(self.key))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.key)
        self.query_one("#key-status", Static).update(
            "Sent to the clipboard (OSC 52): works where the terminal allows it; check before relying on it.")

    def action_confirm(self) -> None:
        if not self.query_one("#recorded", Checkbox).value:
            self.query_one("#key-status", Static).update("Tick the box once the key is recorded.")
            self.app.bell()
            return
        self.dismiss(True)

    def action_later(self) -> None:
        self.dismiss(False)


class JoinKeyScreen(WizardScreen):
    """Join mode: the cluster's master key, from the keyring, from a node of the cluster, or typed."""

    NAME = "join_key"
    SECTION = ""
    TITLE_TEXT = "Master key"
    OWNS: ClassVar[tuple[str, ...]] = (r"secret:master_key",)
    HELP = """
Joining nodes need the cluster's master key (base64 of 16 or 32 bytes, as show-master-key prints it).
ctrl+k takes it from the keyring (octotui keeps it there after creating a cluster); ctrl+o reads it over
WinRM from a node of the existing cluster (host below, same WinRM account); or type or paste it.
It is held in memory and handed to the run over a pipe, never written to a file or a log.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        *WizardScreen.BINDINGS,
        Binding("ctrl+k", "from_keyring", "From keyring", id="from-keyring"),
        Binding("ctrl+o", "from_node", "From node", id="from-node"),
    ]

    def form(self) -> ComposeResult:
        yield self.field("secret:master_key", "Master key", password=True,
                         placeholder="base64, e.g. from the keyring")
        yield self.field("secret:key_node", "Read from node",
                         placeholder="host or WinRM endpoint URL of a cluster node")
        with Horizontal(classes="buttons"):
            yield Button("From keyring (ctrl+k)", id="from-keyring")
            yield Button("From node (ctrl+o)", id="from-node")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "from-keyring":
            self.action_from_keyring()
        elif event.button.id == "from-node":
            self.action_from_node()

    def store(self, key: str, value: object) -> None:
        if key == "secret:key_node":
            self.state.secrets["key_node"] = str(value)
            return
        super().store(key, value)

    def extra_problems(self) -> list[Problem]:
        from octotui.secrets.store import valid_master_key

        key = self.state.secrets.get("master_key", "")
        if not key:
            return [Problem("secret:master_key", "is empty", "take it from the keyring, a node, or type it")]
        if not valid_master_key(key):
            return [Problem("secret:master_key", "is not a master key", "base64 of 16 or 32 bytes")]
        return []

    def action_from_keyring(self) -> None:
        self.set_status("Reading the keyring…")
        self.keyring_key()

    @work(thread=True, exclusive=True, group="key", exit_on_error=False)
    def keyring_key(self) -> None:
        from octotui.secrets.store import Secrets, master_key_ref

        try:
            cs = str((self.state.data.get("sql") or {}).get("connection_string", ""))
            value = Secrets(interactive=False).get(master_key_ref(cs))
            self.post_message(TaskDone("key", value))
        except Exception as exc:
            self.post_message(TaskDone("key", error=exc))

    def action_from_node(self) -> None:
        self.set_status("Reading the key from the node…")
        self.node_key(self.state.secrets.get("key_node", "").strip())

    @work(thread=True, exclusive=True, group="key", exit_on_error=False)
    def node_key(self, where: str) -> None:
        from octotui.checks.live import node_specs, winrm_settings
        from octotui.errors import OctotuiError
        from octotui.run.cluster_facts import read_master_key

        try:
            winrm = winrm_settings(self.state.data)
            if winrm is None or not where:
                raise OctotuiError("give the node's host (and the WinRM settings on the Nodes screen)")
            from octotui.screens.guided_join import node_row

            nodes = node_specs({"nodes": [node_row(where)]}, winrm)
            if not nodes:
                raise OctotuiError(f"'{where}' is not a host name or a WinRM URL")
            instance = str(self.state.data.get("instance") or "OctopusServer")
            self.post_message(TaskDone("key", read_master_key(nodes[0][1], winrm, self.state.secrets.get("winrm"),
                                                              instance)))
        except Exception as exc:
            self.post_message(TaskDone("key", error=exc))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name != "key":
            return
        if message.error is not None:
            self.set_status(f"Could not get the key: {message.error}", "fail")
            return
        value = str(message.value or "")
        self.store("secret:master_key", value)
        for f in self.fields():
            if f.key == "secret:master_key":
                with f.input.prevent(Input.Changed):  # stored above; a change would clear the status below
                    f.input.value = value
        self.validate_syntax()
        self.set_status("Master key loaded (masked; ctrl+r reveals it)", "pass")
