"""Nodes: the Windows hosts, how to reach them over WinRM, and the account that logs on to them."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Checkbox, Label, Select

from octotui.spec.answers import Problem
from octotui.spec.writer import get_value

TRANSPORTS = ["ntlm", "kerberos", "credssp", "basic", "certificate"]


class NodesScreen(WizardScreen):
    NAME = "nodes"
    SECTION = "nodes"
    TITLE_TEXT = "Nodes and WinRM"
    OWNS: ClassVar[tuple[str, ...]] = (r"winrm(\..*)?", r"nodes", r"nodes\[\d+\](\.(host|name|endpoint))?",
                                       r"secret:winrm")
    HELP = """
Every Windows node of the cluster, and how octotui reaches it over WinRM.

Host: the node's DNS name (or IP address with NTLM). Endpoint: optional, a full WinRM URL that overrides
host, port and scheme (the lab uses it). The first node is the one that creates the cluster.

WinRM account: an administrator on every node (DOMAIN\\user). Its password stays in memory; tick
"Remember" to keep it in the keyring. Transport: ntlm (default), kerberos, credssp (carries credentials to
SQL Server and the share), basic (HTTPS only), certificate. HTTPS validates the node's certificate against
the CA file given (or the system's).

Each node is checked as you type: it answers, and the logon works (mark beside its host).
Keys: F3 add a node, F4 remove the last one, ctrl+r reveal passwords, F2 the detail of a field.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        *WizardScreen.BINDINGS,
        Binding("f3", "add_node", "Add node", id="add-node"),
        Binding("f4", "remove_node", "Remove node", id="remove-node"),
    ]

    def nodes(self) -> list[dict[str, object]]:
        rows = self.state.data.get("nodes")
        if not isinstance(rows, list) or not rows:
            rows = [{}]
            self.state.data["nodes"] = rows
        return rows

    def form(self) -> ComposeResult:
        winrm = self.state.data.setdefault("winrm", {})
        yield self.field("winrm.username", "WinRM account", placeholder="DOMAIN\\admin",
                         help_text="An administrator on every node, DOMAIN\\user or user@domain.")
        yield self.field("secret:winrm", "WinRM password", password=True,
                         help_text="Held in memory only; never written to the answers file or a log.")
        yield Checkbox("Remember the password in the keyring", value="winrm" in self.state.remember,
                       id="remember-winrm")
        transport = str(winrm.get("transport") or "ntlm")
        yield Label("Transport", markup=False)
        yield Select([(t, t) for t in TRANSPORTS], value=transport if transport in TRANSPORTS else "ntlm",
                     allow_blank=False, name="winrm.transport", id="transport")
        yield Checkbox("HTTPS (port 5986)", value=bool(get_value(self.state.data, "winrm.https", True)),
                       name="winrm.https", id="https")
        yield self.field("winrm.port", "Port", placeholder="5986 with HTTPS, 5985 without")
        yield self.field("winrm.ca_cert", "CA certificate", placeholder="/path/to/ca.pem (HTTPS)")
        for i, _row in enumerate(self.nodes(), start=1):
            yield Label(f"Node {i}" + (" (creates the cluster)" if i == 1 and self.state.mode == "create" else ""),
                        classes="group-title", markup=False)
            yield self.field(f"nodes[{i}].host", "Host", placeholder="octo1.corp.example.com")
            yield self.field(f"nodes[{i}].endpoint", "Endpoint", placeholder="optional: https://host:5986/wsman")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "remember-winrm":
            (self.state.remember.add if event.value else self.state.remember.discard)("winrm")

    def extra_problems(self) -> list[Problem]:
        transport = str(get_value(self.state.data, "winrm.transport", "ntlm"))
        if transport not in ("certificate", "kerberos") and not self.state.secrets.get("winrm"):
            return [Problem("secret:winrm", "is empty", "type the password of the WinRM account")]
        return []

    def action_add_node(self) -> None:
        self.nodes().append({})
        self.wizard.save_draft(self.NAME)
        self.refresh(recompose=True)
        self.call_after_refresh(self._after_recompose)

    def action_remove_node(self) -> None:
        rows = self.nodes()
        if len(rows) > 1:
            rows.pop()
            self.wizard.save_draft(self.NAME)
            self.refresh(recompose=True)
            self.call_after_refresh(self._after_recompose)

    def _after_recompose(self) -> None:
        self.validate_syntax()
        self.schedule_checks(0.05)
