"""Kerberos for the lab's acceptors (WinRM and TDS): which mechanism a token carries, and the keytab.

With ``lab up --dc`` the DC exports one keytab holding every node's ``HTTP/<fqdn>`` and the SQL host's
``MSSQLSvc/...`` keys (``LabSettings.kerberos_keytab``). GSSAPI acceptors read their keys from the keytab
named by ``KRB5_KTNAME``, which is process-wide: the lab is one process for every node, and Windows nodes
each hold their own computer account's keys, so one keytab for the lab's SPNs is the same set of keys.
A token for Kerberos reaching a lab without a keytab is refused like any unknown mechanism.

Mechanisms are told apart by the token itself, as Windows' Negotiate package does: ``NTLMSSP\\0`` is raw
NTLM, a GSS-API InitialContextToken names its mechanism (Kerberos directly, or SPNEGO whose first proposed
mechanism decides), and a bare ``NegTokenResp`` continues whatever the connection began.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

#: DER of the OIDs that matter: Kerberos 5 (RFC 1964), Microsoft's Kerberos OID, SPNEGO, NTLMSSP.
OID_KRB5 = bytes.fromhex("2a864886f712010202")
OID_MS_KRB5 = bytes.fromhex("2a864882f712010202")
OID_SPNEGO = bytes.fromhex("2b0601050502")
OID_NTLM = bytes.fromhex("2b06010401823702020a")

_lock = threading.Lock()


def enable_keytab(keytab: Path) -> None:
    """Point this process's GSSAPI acceptors at ``keytab`` (idempotent)."""
    with _lock:
        os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"
        # One lab runs many handshakes a second on loopback: no replay cache file on disk for them.
        os.environ.setdefault("KRB5RCACHETYPE", "none")


def gssapi_missing() -> str | None:
    """Why Kerberos cannot be accepted here (None when it can), with what to install."""
    try:
        import gssapi  # noqa: F401
    except ImportError as exc:
        return (f"python-gssapi is not importable ({exc}): apt-get install libkrb5-dev krb5-user, then "
                "pip install gssapi krb5 (scripts/setup.sh does both)")
    return None


def _der_len(data: bytes, pos: int) -> tuple[int, int]:
    """(length, position after the length octets) of the DER element whose length starts at ``pos``."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        raise ValueError("bad DER length")
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def _element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the content of the element with ``tag`` at ``pos``."""
    if pos >= len(data) or data[pos] != tag:
        raise ValueError(f"expected tag {tag:#x}")
    length, start = _der_len(data, pos + 1)
    return start, start + length


def token_mechanism(token: bytes) -> str:
    """``ntlm``, ``kerberos``, ``continue`` (a NegTokenResp) or ``unknown``: what a client's first or next
    token carries, judged from the token alone."""
    if token.startswith(b"NTLMSSP\0"):
        return "ntlm"
    try:
        if token[:1] == b"\xa1":
            return "continue"
        if token[:1] != b"\x60":
            return "unknown"
        start, _ = _element(token, 0, 0x60)
        oid_start, oid_end = _element(token, start, 0x06)
        oid = token[oid_start:oid_end]
        if oid in (OID_KRB5, OID_MS_KRB5):
            return "kerberos"
        if oid != OID_SPNEGO:
            return "unknown"
        # NegotiationToken ::= [0] NegTokenInit ::= SEQUENCE { [0] mechTypes SEQUENCE OF OID, ... }
        a0_start, _ = _element(token, oid_end, 0xA0)
        seq_start, _ = _element(token, a0_start, 0x30)
        types_start, _ = _element(token, seq_start, 0xA0)
        list_start, _ = _element(token, types_start, 0x30)
        first_start, first_end = _element(token, list_start, 0x06)
        first = token[first_start:first_end]
    except (ValueError, IndexError):
        return "unknown"
    if first in (OID_KRB5, OID_MS_KRB5):
        return "kerberos"
    if first == OID_NTLM:
        return "ntlm"
    return "unknown"


class KerberosRefused(Exception):
    """The acceptor refused the AP-REQ; ``token`` is the KRB-ERROR for the client (e.g. clock skew), if any."""

    def __init__(self, message: str, token: bytes | None) -> None:
        super().__init__(message)
        self.token = token


class KerberosAcceptor:
    """A raw Kerberos (not SPNEGO) acceptor with pyspnego's interface (``step``, ``complete``,
    ``client_principal``, ``wrap_winrm``/``unwrap_winrm`` for WinRM sealing).

    The first step is made on the GSSAPI context directly: when MIT's acceptor answers a ticket with a
    KRB-ERROR (KRB_AP_ERR_SKEW, which it may return as "continue needed"), pyspnego loses that token while
    reading the flags of a context that was never established, and the client would see a bare 401
    instead of the error Windows sends it."""

    def __init__(self) -> None:
        import spnego

        self._proxy = spnego.server(protocol="kerberos")

    def step(self, token: bytes) -> bytes | None:
        import gssapi
        from gssapi.raw.misc import GSSError

        proxy: Any = self._proxy
        ctx = gssapi.SecurityContext(creds=proxy._credential, usage="accept")
        try:
            out = ctx.step(token)
        except GSSError as exc:
            raise KerberosRefused(str(exc), getattr(exc, "token", None)) from exc
        if not ctx.complete:
            raise KerberosRefused("the ticket was refused", out)
        proxy._context = ctx
        proxy._context_attr = int(ctx.actual_flags)
        return bytes(out) if out else None

    @property
    def complete(self) -> bool:
        return bool(self._proxy.complete)

    @property
    def negotiated_protocol(self) -> str:
        return "kerberos"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proxy, name)
