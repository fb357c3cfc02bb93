"""Windows logins: NTLM inside LOGIN7/SSPI, checked by pyspnego's acceptor as the WinRM endpoint does.

FreeTDS sends a raw NTLM NEGOTIATE in LOGIN7 when its UID is ``DOMAIN\\user``; the server answers with a
CHALLENGE in an SSPI token and the client sends AUTHENTICATE in an SSPI packet. pyspnego checks the
response against the NTLM_USER_FILE credential store; the lab's directory then decides whether the
account may log on (disabled, locked, expired), since a domain controller would refuse those too.
"""

from __future__ import annotations

from typing import Any

import spnego

from octotui.lab.state import World


class NtlmRefused(Exception):
    """The handshake failed: wrong password, unknown or unusable account, or a garbled token."""


class NtlmAcceptor:
    """One connection's NTLM handshake."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._ctx: Any = None

    def first(self, negotiate: bytes) -> bytes:
        """NEGOTIATE in, CHALLENGE out."""
        try:
            self._ctx = spnego.server(protocol="ntlm")
            out = self._ctx.step(negotiate)
        except Exception as exc:  # pyspnego raises several types for a bad token or a missing store
            raise NtlmRefused(str(exc)) from exc
        if not out:
            raise NtlmRefused("no challenge produced")
        return bytes(out)

    def finish(self, authenticate: bytes) -> str:
        """AUTHENTICATE in; the account as ``DOMAIN\\sam`` when it may log on."""
        if self._ctx is None:
            raise NtlmRefused("AUTHENTICATE before NEGOTIATE")
        try:
            self._ctx.step(authenticate)
        except Exception as exc:
            raise NtlmRefused(str(exc)) from exc
        if not self._ctx.complete:
            raise NtlmRefused("handshake incomplete")
        principal = str(self._ctx.client_principal or "")
        directory = self.world.directory
        with self.world.lock:
            acct = directory.find(principal)
            if acct is None or directory.logon_error(principal, acct.password) is not None:
                raise NtlmRefused(f"{principal}: the directory refuses this logon")
            return directory.qualified(acct.sam)
