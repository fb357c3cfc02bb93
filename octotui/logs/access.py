"""How to reach a cluster's nodes to fetch their logs: the answers' WinRM settings, nodes and the password.

The wizard has the answers and the password in memory (it builds a ``NodeAccess`` from them);
``octotui logs --node`` reads the answers file (given, or the one the run recorded) and the password the way
``apply`` does (environment, keyring, prompt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from octotui.logs.logfile import LogError

if TYPE_CHECKING:
    from octotui.remote.session import NodeSession
    from octotui.spec.model import NodeSpec, WinRMSettings


@dataclass(frozen=True)
class NodeAccess:
    winrm: WinRMSettings
    nodes: tuple[NodeSpec, ...]
    password: str | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if name.lower() in (spec.name.lower(), spec.host.key):
                return spec
        raise LogError(f"No node {name!r} in the answers (nodes: {', '.join(self.names) or 'none'})",
                       "give one of the answers' node names")

    def home(self, name: str) -> str:
        return str(self.node(name).home)

    def session(self, name: str) -> NodeSession:
        """A new WinRM session to the node (one per thread)."""
        from octotui.remote.session import NodeSession

        return NodeSession.from_spec(self.node(name), self.winrm, self.password, operation_timeout=30)


def access_from_file(answers: Path, *, interactive: bool = True) -> NodeAccess:
    """From an answers file, with the WinRM password from the environment, the keyring or a prompt."""
    from octotui.secrets.store import SecretMissing, Secrets, winrm_password_ref
    from octotui.spec.answers import load_answers

    spec = load_answers(answers)
    password = None
    if spec.winrm.transport != "certificate":
        try:
            password = Secrets(interactive=interactive).get(winrm_password_ref(spec.winrm.logon))
        except SecretMissing as exc:
            raise LogError(str(exc), "set OCTOTUI_WINRM_PASSWORD, or keep the password in the keyring") from exc
    return NodeAccess(spec.winrm, spec.nodes, password)
