"""Who a step that reaches SQL Server or the share with Windows credentials runs as, and how.

The second hop (node to SQL Server or to the share) needs credentials the WinRM session can carry: a CredSSP
session carries them itself; otherwise the step runs as a scheduled task with a password. The plan gives
its steps this identity, and the preflight checks log in to SQL Server as the same account, so the rule is
here, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from octotui.spec.model import ClusterSpec
from octotui.spec.parsers.accounts import Account


@dataclass(frozen=True)
class Identity:
    """Who a credential-needing step runs as, and how."""

    how: Literal["session", "credssp", "become"]
    account: Account | None  # None: a WinRM session signed in by certificate, with no user name

    @property
    def logon(self) -> str:
        return str(self.account) if self.account is not None else ""

    def describe(self) -> str:
        if self.how == "credssp":
            return f"{self.logon} (CredSSP session: credentials delegated)"
        if self.how == "become":
            return f"{self.logon} (scheduled task with its password: carries credentials)"
        return f"{self.logon} (WinRM session)"


def credential_identity(spec: ClusterSpec, have_winrm_password: bool,
                        have_service_password: bool) -> tuple[Identity | None, list[str]]:
    """Choose who runs the steps that reach SQL Server or the share with Windows credentials.

    A CredSSP session carries the WinRM user's credentials itself. Otherwise the step runs as a
    scheduled task with a password, as Ansible's ``become`` does: the WinRM user's own when we have it
    (it is the administrator who may create the database), else the service account's, which can only
    work where a DBA has already given it rights.
    """
    warnings: list[str] = []
    user = spec.winrm.username
    if spec.winrm.transport == "credssp":
        return Identity("credssp", user), warnings
    if spec.winrm.transport == "kerberos":
        warnings.append("Kerberos without delegation cannot reach SQL Server or the share from the node "
                        "(the double hop); the database steps will run as a scheduled task instead.")
    if have_winrm_password and spec.winrm.transport != "certificate":
        return Identity("become", user), warnings
    if have_service_password and not spec.service_account.is_gmsa:
        warnings.append(f"The database and storage steps will run as {spec.service_account.username}: it needs "
                        "CREATE ANY DATABASE (create mode) or db_owner on the database before the run.")
        return Identity("become", spec.service_account.username), warnings
    warnings.append("No identity can carry credentials to SQL Server and the share from the nodes: use "
                    "transport = \"credssp\", or give the WinRM or service account password so the steps can "
                    "run as a scheduled task. The database steps will fail as NT AUTHORITY\\ANONYMOUS LOGON.")
    return None, warnings
