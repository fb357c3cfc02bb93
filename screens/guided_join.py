"""Guided join: point at one node of the existing cluster (or an earlier run's answers); the version, SQL,
storage and web settings are read from it, so the administrator adds the new hosts and the key."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import BaseScreen
from octotui.screens.messages import TaskDone
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Footer, Input, Label, Static


def node_row(where: str) -> dict[str, str]:
    """A ``[[nodes]]`` row for one node of a cluster given as a host or a WinRM URL. A node given by its IP
    address gets a name made of it (127-0-0-1): no Windows name can be derived from an address, and the
    answers' rules would drop the row."""
    import ipaddress
    import urllib.parse

    where = where.strip()
    row = {"host": urllib.parse.urlsplit(where).hostname or "", "endpoint": where} if "://" in where \
        else {"host": where}
    try:
        address = ipaddress.ip_address(row["host"])
    except ValueError:
        return row
    row["name"] = str(address).replace(".", "-") if address.version == 4 else "NODE"
    return row


class GuidedJoinScreen(BaseScreen):
    TITLE_TEXT = "Guided join"
    HELP = """
Give one node of the existing cluster (its host, or its WinRM URL) and the WinRM account: octotui reads
the installed version, the instance, the database connection string, the shared storage and the web
settings from it. Or give the answers file of the run that created the cluster. Then add the new hosts
and the master key (it can be read from the same node). ctrl+n reads; ctrl+b goes back.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+n", "read", "Read settings", id="next", priority=True),
        Binding("ctrl+b", "back", "Back", id="back", priority=True),
        Binding("ctrl+r", "reveal", "Reveal", id="reveal"),
        Binding("f1", "help", "Help", id="help"),
    ]

    def compose(self) -> ComposeResult:
        winrm = self.state.data.get("winrm") if isinstance(self.state.data.get("winrm"), dict) else {}
        yield Label("Guided join: read the cluster's settings from one of its nodes", classes="screen-title",
                    markup=False)
        with VerticalScroll(id="form"):
            yield Label("Existing node (host or WinRM URL)", markup=False)
            yield Input(placeholder="octo1.corp.example.com or http://host:5985/wsman", id="g-node")
            yield Label("WinRM account", markup=False)
            yield Input(str(winrm.get("username", "")), placeholder="DOMAIN\\admin", id="g-user")
            yield Label("WinRM password", markup=False)
            yield Input(self.state.secrets.get("winrm", ""), password=True, id="g-pass")
            yield Checkbox("HTTPS", value=bool(winrm.get("https", True)), id="g-https")
            yield Label("or: the answers file of an earlier run", markup=False)
            yield Input(placeholder="/path/to/answers.toml", id="g-answers")
        yield Static("", id="status", classes="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#g-node", Input).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reveal(self) -> None:
        box = self.query_one("#g-pass", Input)
        box.password = not box.password

    def action_read(self) -> None:
        answers = self.query_one("#g-answers", Input).value.strip()
        node = self.query_one("#g-node", Input).value.strip()
        user = self.query_one("#g-user", Input).value.strip()
        password = self.query_one("#g-pass", Input).value
        if not answers and not (node and user):
            self.set_status("Give a node and the WinRM account, or an answers file", "fail")
            return
        if password:
            self.state.secrets["winrm"] = password
        self.set_status("Reading the cluster's settings…")
        self.read(node, user, password, self.query_one("#g-https", Checkbox).value, answers)

    @work(thread=True, exclusive=True, group="guided", exit_on_error=False)
    def read(self, where: str, user: str, password: str, https: bool, answers: str) -> None:
        from pathlib import Path

        from octotui.checks.live import node_specs, winrm_settings
        from octotui.errors import OctotuiError
        from octotui.run.cluster_facts import read_existing_cluster
        from octotui.spec.writer import read_answers_data

        try:
            if answers:
                data = read_answers_data(Path(answers).expanduser())
                data = {k: v for k, v in data.items() if k not in ("storage", "admin", "license")}
                data["mode"] = "join"
                data["nodes"] = []
                self.post_message(TaskDone("guided", (data, None)))
                return
            winrm_table = dict(self.state.data.get("winrm") or {}) if isinstance(self.state.data.get("winrm"),
                                                                                 dict) else {}
            winrm_table.update({"username": user, "https": https})
            winrm = winrm_settings({"winrm": winrm_table})
            if winrm is None:
                raise OctotuiError(f"the WinRM settings are not valid (account '{user}')",
                                   "write the account as DOMAIN\\user")
            nodes = node_specs({"nodes": [node_row(where)]}, winrm)
            if not nodes:
                raise OctotuiError(f"'{where}' is not a host name or a WinRM URL")
            existing = read_existing_cluster(nodes[0][1], winrm, password or None)
            data = existing.answers()
            data["winrm"] = winrm_table
            data["nodes"] = []
            self.post_message(TaskDone("guided", (data, existing)))
        except Exception as exc:
            self.post_message(TaskDone("guided", error=exc))

    def on_task_done(self, message: TaskDone) -> None:
        if message.name != "guided":
            return
        if message.error is not None:
            self.set_status(f"Could not read the settings: {message.error}", "fail")
            return
        data, existing = message.value
        old = self.state.data
        if isinstance(old.get("install"), dict) and "install" not in data:
            data["install"] = old["install"]
        if isinstance(old.get("service_account"), dict) and "service_account" not in data:
            data["service_account"] = old["service_account"]
        if existing is not None:
            self.state.secrets["key_node"] = self.query_one("#g-node", Input).value.strip()
            note = (f"Read from {existing.node}: Octopus {existing.version}, instance {existing.instance}, "
                    f"storage {existing.cluster_shared or '-'}")
        else:
            note = "Read from the answers file"
        self.wizard.start_guided(data, note)
