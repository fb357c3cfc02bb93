"""Who is calling: Basic and certificate per request, NTLM/Negotiate and CredSSP per TCP connection, as WinRM does it.

Basic travels with every request (pywinrm sends it pre-emptively), so nothing is remembered. NTLM and
CredSSP authenticate the connection: the handshake runs over a few 401 round trips, after which requests
on that connection carry no Authorization header and are sealed with the context the handshake produced.
NTLM is checked by pyspnego's acceptor against ``NTLM_USER_FILE``; every scheme is then also checked against
the lab's directory, so a disabled or locked account is refused however it authenticates.

Certificate authentication (``Authorization: <wsman secprofile/https/mutual>``, HTTPS only) takes the client
certificate the TLS layer already verified against the lab CA and maps it to an account the way Windows'
certificate mapping table does (MS-WSMV 3.1.4.1.35; see ``CertMapping``). The mapping holds the account's
password, which Windows checks at each use, so a mapping goes stale when the password changes. Two lab
simplifications: the lab has no local SAM, so a mapping names a directory account (Windows only maps local
accounts); and the logon is a NETWORK logon, so the session carries no credentials for a second hop.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spnego
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from octotui.lab.certs import certificate_upns, thumbprint
from octotui.lab.identity import Identity
from octotui.lab.state import Directory
from octotui.lab.winrm import soap
from octotui.lab.winrm.crypto import Sealer

BASIC_CHALLENGE = 'Basic realm="WSMAN"'
#: The whole Authorization header a certificate-authenticating client sends (WS-Man's mutual TLS profile).
MUTUAL_PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


@dataclass(frozen=True)
class CertMapping:
    """One entry of ``winrm/config/service/certmapping`` (MS-WSMV 2.2.4.3).

    ``issuer``: thumbprint of the certificate that signed the client certificate. ``subject``: a pattern
    matched, case-insensitively, against the UPN in the client certificate's subjectAltName; at most one
    ``*``, first or last. ``uri``: the resource URI or a prefix ending in ``*``. ``username``/``password``:
    the account the request runs as, checked against the directory at each use.
    """

    issuer: str
    subject: str
    username: str
    password: str
    uri: str = "*"
    enabled: bool = True


def _pattern_match(pattern: str, value: str) -> bool:
    p, v = pattern.lower(), value.lower()
    if p == "*":
        return True
    if p.startswith("*"):
        return v.endswith(p[1:])
    if p.endswith("*"):
        return v.startswith(p[:-1])
    return p == v


class CertificatePolicy:
    """The trusted issuers (the file the TLS layer verifies clients against) and the certificate mappings."""

    def __init__(self, ca_file: str | Path, mappings: Sequence[CertMapping]) -> None:
        self.issuers = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        self.mappings = list(mappings)

    def _issuer_thumbprint(self, cert: x509.Certificate) -> str | None:
        for ca in self.issuers:
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return thumbprint(ca)
        return None

    def mapped_user(self, der: bytes, resource_uri: str = soap.RESOURCE_CMD) -> CertMapping | None:
        """The single mapping chosen for this certificate, by Windows' rule: issuer, URI and subject must
        match; the longest subject wins, then the longest URI; no match or a tie maps nothing."""
        try:
            cert = x509.load_der_x509_certificate(der)
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, x509.ExtensionNotFound):
            return None
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return None
        issuer = self._issuer_thumbprint(cert)
        upns = certificate_upns(cert)
        if issuer is None or not upns:
            return None
        candidates = [m for m in self.mappings
                      if m.enabled and m.issuer.upper() == issuer and _pattern_match(m.uri, resource_uri)
                      and any(_pattern_match(m.subject, upn) for upn in upns)]
        if not candidates:
            return None
        longest = max(len(m.subject) for m in candidates)
        candidates = [m for m in candidates if len(m.subject) == longest]
        longest = max(len(m.uri) for m in candidates)
        candidates = [m for m in candidates if len(m.uri) == longest]
        return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class AuthPolicy:
    """What the listener accepts. CredSSP is always on, as on a host with ``Service\\Auth\\CredSSP=true``."""

    directory: Directory
    negotiate: bool  # NTLM/Negotiate accepted (auth="ntlm")
    basic: bool  # Basic accepted on this listener (HTTPS, or HTTP with AllowUnencrypted)
    certificates: CertificatePolicy | None = None  # certificate auth (HTTPS listeners given a client CA)

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
        self._cert_der: bytes | None = None
        self._cert_mapping: CertMapping | None = None

    def _reject(self) -> AuthStep:
        self._reset()
        return AuthStep(False, [("WWW-Authenticate", c) for c in self.policy.challenges()])

    def _reset(self) -> None:
        self.identity = None
        self.delegated_password = None
        self.sealer = None
        self._ctx = None
        self._bound = False

    def authorize(self, header: str | None, peer_cert: bytes | None = None) -> AuthStep:
        """``peer_cert``: the DER of the client certificate the TLS layer verified, if any."""
        if not header:
            if self._bound and self.identity is not None:
                return AuthStep(True)
            return self._reject()
        if header.strip().lower() == MUTUAL_PROFILE:
            return self._certificate(peer_cert)
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

    # --- certificate -----------------------------------------------------------------------------
    def _certificate(self, peer_cert: bytes | None) -> AuthStep:
        """Like Basic, the proof comes with every request (the header, on a TLS connection with a client
        certificate), so nothing binds to the connection; the mapping looked up for it is cached."""
        certificates = self.policy.certificates
        if certificates is None or peer_cert is None:
            return self._reject()
        if self._cert_der != peer_cert:
            self._cert_der, self._cert_mapping = peer_cert, certificates.mapped_user(peer_cert)
        mapping = self._cert_mapping
        account = self._logon(mapping.username, mapping.password) if mapping is not None else None
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
