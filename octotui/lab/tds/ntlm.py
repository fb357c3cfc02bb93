"""Windows logins: NTLM, SPNEGO (NTLM or Kerberos inside) or raw Kerberos in LOGIN7/SSPI, as SQL Server takes them.

FreeTDS sends a raw NTLM NEGOTIATE in LOGIN7 when its UID is ``DOMAIN\\user`` and a raw Kerberos AP-REQ (GSSAPI)
for a trusted connection; SqlClient and python-tds's ``SpnegoAuth`` send SPNEGO (Negotiate). The server answers
each leg in an SSPI token and the client sends its next token in a packet of type SSPI (0x11), or, as python-tds
does and SQL Server accepts, in one more packet of type LOGIN7 (0x10). pyspnego checks NTLM responses against
the NTLM_USER_FILE credential store and Kerberos tickets against the keytab of ``lab up --dc``
(``LabSettings.kerberos_keytab``); without a keytab a Kerberos token is refused. The lab's directory then
decides whether the account may log on (disabled, locked, expired), since a domain controller would refuse
those too.
"""

from __future__ import annotations

from typing import Any

import spnego

from octotui.lab.kerberos import KerberosAcceptor, enable_keytab, token_mechanism
from octotui.lab.state import World


class NtlmRefused(Exception):
    """The handshake failed: wrong password, unknown or unusable account, or a garbled token."""


class SspiAcceptor:
    """One connection's Windows-login handshake, whatever mechanism the client's first token names."""

    def __init__(self, world: World, keytab: Any = None) -> None:
        self.world = world
        self.keytab = keytab
        self._ctx: Any = None
        #: ntlm or kerberos, once the first token has been read.
        self.mechanism = ""

    @property
    def complete(self) -> bool:
        return self._ctx is not None and bool(self._ctx.complete)

    def step(self, token: bytes) -> bytes | None:
        """The next client token in; the server's answer out (None when it has nothing to send)."""
        try:
            if self._ctx is None:
                self._ctx = self._new(token)
            out = self._ctx.step(token)
        except NtlmRefused:
            raise
        except Exception as exc:  # pyspnego raises several types for a bad token or a missing store
            raise NtlmRefused(str(exc)) from exc
        if self._ctx.complete and self._ctx.negotiated_protocol in ("ntlm", "kerberos"):
            self.mechanism = str(self._ctx.negotiated_protocol)
        return bytes(out) if out else None

    def _new(self, token: bytes) -> Any:
        mechanism = token_mechanism(token)
        self.mechanism = mechanism
        raw_kerberos = mechanism == "kerberos" and token[:1] == b"\x60" and not _is_spnego(token)
        if mechanism == "kerberos":
            if self.keytab is None:
                raise NtlmRefused("Kerberos is not enabled on this lab (no keytab: lab up --dc)")
            enable_keytab(self.keytab)
        if raw_kerberos:
            return KerberosAcceptor()
        if token.startswith(b"NTLMSSP\0"):
            return spnego.server(protocol="ntlm")
        if mechanism in ("ntlm", "kerberos"):
            return spnego.server(protocol="negotiate")
        raise NtlmRefused("not an NTLM, Negotiate or Kerberos token")

    def account(self) -> str:
        """The account as ``DOMAIN\\sam`` when it may log on."""
        if not self.complete:
            raise NtlmRefused("handshake incomplete")
        principal = str(self._ctx.client_principal or "")
        directory = self.world.directory
        with self.world.lock:
            acct = directory.find(principal)
            if acct is None or directory.logon_error(principal, acct.password) is not None:
                raise NtlmRefused(f"{principal}: the directory refuses this logon")
            return directory.qualified(acct.sam)


def _is_spnego(token: bytes) -> bool:
    from octotui.lab.kerberos import OID_SPNEGO

    return OID_SPNEGO in token[2:16]


class NtlmAcceptor:
    """One connection's NTLM handshake (NEGOTIATE, then AUTHENTICATE), over ``SspiAcceptor``."""

    def __init__(self, world: World) -> None:
        self._sspi = SspiAcceptor(world)

    def first(self, negotiate: bytes) -> bytes:
        """NEGOTIATE in, CHALLENGE out."""
        out = self._sspi.step(negotiate)
        if not out:
            raise NtlmRefused("no challenge produced")
        return out

    def finish(self, authenticate: bytes) -> str:
        """AUTHENTICATE in; the account as ``DOMAIN\\sam`` when it may log on."""
        self._sspi.step(authenticate)
        return self._sspi.account()
