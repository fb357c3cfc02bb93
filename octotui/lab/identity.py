"""Who a simulated process runs as, and whether that identity can reach a second machine.

Windows only lets a process authenticate onward (to SQL Server with Integrated Security, or to a UNC
share) when its logon holds reusable credentials. A WinRM session authenticated with NTLM or Basic does
not (the double hop); CredSSP, a scheduled task run with a password, and a service do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ANONYMOUS = "NT AUTHORITY\\ANONYMOUS LOGON"
LOCAL_SYSTEM = "NT AUTHORITY\\SYSTEM"

LogonKind = Literal["network", "delegated", "interactive", "service"]


@dataclass(frozen=True)
class Identity:
    """An account name in ``DOMAIN\\user`` form and the kind of logon that produced it."""

    account: str
    logon: LogonKind = "network"

    @property
    def carries_credentials(self) -> bool:
        """True when the logon holds credentials a second machine will accept."""
        return self.logon != "network"

    @property
    def outbound_account(self) -> str:
        """The name a remote SQL Server or share sees when this process connects to it."""
        return self.account if self.carries_credentials else ANONYMOUS


def same_account(a: str, b: str) -> bool:
    """Compare account names the way Windows does: case-insensitively, ``user`` matching ``DOMAIN\\user``."""
    a_l, b_l = a.lower(), b.lower()
    if a_l == b_l:
        return True
    return a_l.rsplit("\\", 1)[-1] == b_l.rsplit("\\", 1)[-1] and ("\\" not in a_l or "\\" not in b_l)
