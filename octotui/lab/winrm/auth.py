"""Who is calling: Basic per request, NTLM/Negotiate and CredSSP per TCP connection, as WinRM does it.

Basic travels with every request (pywinrm sends it pre-emptively), so nothing is remembered. NTLM and
CredSSP authenticate the connection: the handshake runs over a few 401 round trips, after which requests
on that connection carry no Authorization header and are sealed with the context the handshake produced.
NTLM is checked by pyspnego's acceptor against ``NTLM_USER_FILE``; every scheme is then also checked against
the lab's directory, so a disabled or locked account is refused however it authenticates.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import spnego

from octotui.lab.identity import Identity
from octotui.lab.state import Directory
from octotui.lab.winrm.crypto import Sealer

BASIC_CHALLENGE = 'Basic realm="WSMAN"'


@dataclass(frozen=True)
class AuthPolicy:
    """What the listener accepts. CredSSP is always on, as on a host with ``Service\\Auth\\CredSSP=true``."""

    directory: Directory
    negotiate: bool  # NTLM/Negotiate accepted (auth="ntlm")
    basic: bool  # Basic accepted on this listener (HTTPS, or HTTP with AllowUnencrypted)

    def challenges(self) -> list[str]:
        schemes = []
        if self.negotiate:
            schemes.append("Negotiate")
        if self.basic:
            schemes.append(BASIC_CHALLENGE)
        schemes.append("CredSSP")
        return schemes


@dataclass
class AuthStep:
    """The verdict on one request: ``ok`` to serve it, else answer 401 with ``headers``."""

    ok: bool
    headers: list[tuple[str, str]] = field(default_factory=list)


class ConnectionAuth:
    """The authentication state of one TCP connection."""

    def __init__(self, policy: AuthPolicy) -> None:
        self.policy = policy
        self.identity: Identity | None = None
        self.delegated_password: str | None = None
        self.sealer: Sealer | None = None
        self._ctx: Any = None
        self._scheme = ""
        self._bound = False  # the identity belongs to the connection (NTLM, CredSSP), not one request

    def _reject(self) -> AuthStep:
        self._reset()
        return AuthStep(False, [("WWW-Authenticate", c) for c in self.policy.challenges()])

    def _reset(self) -> None:
        self.identity = None
        self.delegated_password = None
        self.sealer = None
        self._ctx = None
        self._bound = False

    def authorize(self, header: str | None) -> AuthStep:
        if not header:
            if self._bound and self.identity is not None:
                return AuthStep(True)
            return self._reject()
        scheme, _, value = header.strip().partition(" ")
        lowered = scheme.lower()
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return self._reject()
        if lowered == "basic" and self.policy.basic:
            return self._basic(token)
        if lowered in ("negotiate", "ntlm") and self.policy.negotiate:
            return self._handshake(scheme, token, "negotiate")
        if lowered == "credssp":
            return self._handshake(scheme, token, "credssp")
        return self._reject()

    # --- Basic -----------------------------------------------------------------------------------
    def _basic(self, token: bytes) -> AuthStep:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            text = token.decode("latin-1")
        user, sep, password = text.partition(":")
        if not sep:
            return self._reject()
        account = self._logon(user, password)
        if account is None:
            return self._reject()
        self._reset()
        self.identity = Identity(account, "network")
        return AuthStep(True)

    def _logon(self, name: str, password: str) -> str | None:
        """The directory's spelling ``DOMAIN\\sam`` when this logon would succeed, else None."""
        directory = self.policy.directory
        if directory.logon_error(name, password) is not None:
            return None
        acct = directory.find(name)
        return directory.qualified(acct.sam) if acct is not None else None

    # --- NTLM / Negotiate / CredSSP --------------------------------------------------------------
    def _handshake(self, scheme: str, token: bytes, protocol: str) -> AuthStep:
        if self._ctx is None or self._scheme != protocol or self._bound:
            self._reset()
            try:
                self._ctx = spnego.server(protocol=protocol)
            except Exception:
                return self._reject()
            self._scheme = protocol
        ctx = self._ctx
        try:
            out = ctx.step(token)
        except Exception:  # SpnegoError for a wrong password; anything else for a garbled token
            return self._reject()
        if not ctx.complete:
            if out is None:
                return self._reject()
            step = AuthStep(False, [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")])
            if protocol == "credssp" and ctx.get_extra_info("auth_stage") == "Authentication failure":
                self._reset()  # the token carries the NTSTATUS for the client; the handshake is over
            return step
        if protocol == "credssp":
            account, password = self._credssp_account(ctx)
        else:
            account, password = self._ntlm_account(ctx), None
        if account is None:
            return self._reject()
        self.identity = Identity(account, "delegated" if protocol == "credssp" else "network")
        self.delegated_password = password
        self.sealer = Sealer("credssp" if protocol == "credssp" else "spnego", ctx)
        self._bound = True
        headers = [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")] if out else []
        return AuthStep(True, headers)

    def _ntlm_account(self, ctx: Any) -> str | None:
        principal = str(ctx.client_principal or "")
        acct = self.policy.directory.find(principal)
        if acct is None:
            return None
        return self._logon(principal, acct.password)

    def _credssp_account(self, ctx: Any) -> tuple[str | None, str | None]:
        cred = ctx.get_extra_info("client_credential")
        if cred is None or not hasattr(cred, "password"):
            return None, None
        domain = str(getattr(cred, "domain_name", "") or "")
        user = str(getattr(cred, "username", "") or "")
        name = f"{domain}\\{user}" if domain and "\\" not in user and "@" not in user else user
        password = str(cred.password)
        account = self._logon(name, password)
        return account, (password if account else None)
