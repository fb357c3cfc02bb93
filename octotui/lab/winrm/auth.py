"""Who is calling: Basic and certificate per request, NTLM/Negotiate and CredSSP per TCP connection, as WinRM does it.

Basic travels with every request (pywinrm sends it pre-emptively), so nothing is remembered. As on Windows,
Basic logs on the node's LOCAL accounts only (``NodeState.local_accounts``: ``Administrator``, ``.\\Administrator``
or ``OCTO1\\Administrator``); a domain account over Basic is answered 401, so an answers file that pairs
``transport = "basic"`` with a domain user fails here as it would on a real node. NTLM and
CredSSP authenticate the connection: the handshake runs over a few 401 round trips, after which requests
on that connection carry no Authorization header and are sealed with the context the handshake produced.
NTLM is checked by pyspnego's acceptor against ``NTLM_USER_FILE``; every scheme is then also checked against
the lab's directory, so a disabled or locked account is refused however it authenticates.

Kerberos (with ``lab up --dc``, which sets the keytab of the nodes' ``HTTP/<fqdn>`` keys): a raw AP-REQ under
``Negotiate`` or ``Kerberos`` (pywinrm, the engine) or SPNEGO with Kerberos first (pypsrp, Windows clients), told
apart from NTLM by the token (``octotui.lab.kerberos``). A refused ticket is answered with the KRB-ERROR
GSSAPI made (clock skew ...), as Windows does, so the client can say why. ``ConnectionAuth.method`` names the
method each request was carried by, for ``lab inspect``. The NTLM CHALLENGE names the node and its domain
(``octotui.lab.ntlm_names``), not the Linux host.

Certificate authentication (``Authorization: <wsman secprofile/https/mutual>``, HTTPS only) takes the client
certificate the TLS layer already verified against the lab CA and maps it to an account the way Windows'
certificate mapping table does (MS-WSMV 3.1.4.1.35; see ``CertMapping``). The mapping holds the account's
password, which Windows checks at each use, so a mapping goes stale when the password changes. Two lab
simplifications: a mapping names a directory account (Windows maps local accounts only; the lab's nodes have
one, used by Basic, but its mappings stay on the domain admin); and the logon is a NETWORK logon, so the session
carries no credentials for a second hop.
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
from octotui.lab.kerberos import KerberosAcceptor, token_mechanism
from octotui.lab.ntlm_names import Names, challenge_names
from octotui.lab.state import Directory, NodeState, account_logon_error
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


def token_is_spnego(token: bytes) -> bool:
    """A GSS-API InitialContextToken for SPNEGO (as opposed to a raw Kerberos AP-REQ)."""
    from octotui.lab.kerberos import OID_SPNEGO

    return token[:1] == b"\x60" and OID_SPNEGO in token[2:16]


def _error_token(exc: BaseException) -> bytes | None:
    """The error token GSSAPI made for the client (a KRB-ERROR such as KRB_AP_ERR_SKEW), if any."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not e for e in seen):
        seen.append(cur)
        token = getattr(cur, "token", None)
        if isinstance(token, bytes) and token:
            return token
        base = getattr(cur, "base_error", None)
        cur = base if isinstance(base, BaseException) else (cur.__cause__ or cur.__context__)
    return None


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
    kerberos: bool = False  # Kerberos accepted (inside Negotiate, or the Kerberos scheme): a keytab is set
    names: Names | None = None  # what the NTLM CHALLENGE names: this node and its domain
    node: NodeState | None = None  # whose local accounts Basic logs on (none: Basic refuses everyone)

    def challenges(self) -> list[str]:
        schemes = []
        if self.negotiate or self.kerberos:
            schemes.append("Negotiate")
        if self.kerberos:
            schemes.append("Kerberos")
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
        #: The authentication method the last request was carried by, as ``lab inspect`` counts it.
        self.method = "none"
        self._mechanism = ""  # ntlm | kerberos | credssp: what the connection's handshake uses

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
                self.method = self._mechanism
                return AuthStep(True)
            self.method = "none"
            return self._reject()
        if header.strip().lower() == MUTUAL_PROFILE:
            self.method = "certificate"
            return self._certificate(peer_cert)
        scheme, _, value = header.strip().partition(" ")
        lowered = scheme.lower()
        self.method = lowered if lowered in ("basic", "credssp") else "none"
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return self._reject()
        if lowered == "basic" and self.policy.basic:
            return self._basic(token)
        if lowered in ("negotiate", "ntlm", "kerberos"):
            return self._negotiate(scheme, token)
        if lowered == "credssp":
            return self._handshake(scheme, token, "credssp")
        return self._reject()

    def _negotiate(self, scheme: str, token: bytes) -> AuthStep:
        """Negotiate (NTLM or Kerberos, told apart by the token), NTLM, or Kerberos: each only when enabled."""
        mechanism = token_mechanism(token)
        if mechanism == "continue":
            mechanism = self._mechanism if self._ctx is not None and not self._bound else "unknown"
        self.method = mechanism if mechanism in ("ntlm", "kerberos") else "none"
        wanted = scheme.lower()
        if mechanism == "kerberos" and self.policy.kerberos and wanted in ("negotiate", "kerberos"):
            return self._handshake(scheme, token, "negotiate" if token[:1] == b"\xa1" or
                                   token_is_spnego(token) else "kerberos")
        if mechanism == "ntlm" and self.policy.negotiate and wanted in ("negotiate", "ntlm"):
            return self._handshake(scheme, token, "negotiate")
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
        account = self._local_logon(user, password)
        if account is None:
            return self._reject()
        self._reset()
        self.identity = Identity(account, "network")
        return AuthStep(True)

    def _local_logon(self, name: str, password: str) -> str | None:
        """``NODE\\user`` when ``name`` is one of this node's local accounts and the logon would succeed. A
        domain account is refused even with the right password: Windows' WinRM takes Basic for local
        accounts only (``winrm/config/service/auth Basic``)."""
        node = self.policy.node
        acct = node.local_account(name) if node is not None else None
        if node is None or acct is None or account_logon_error(acct, password) is not None:
            return None
        return node.qualified_local(acct.sam)

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
                self._ctx = KerberosAcceptor() if protocol == "kerberos" else spnego.server(protocol=protocol)
            except Exception:
                return self._reject()
            self._scheme = protocol
            self._mechanism = "credssp" if protocol == "credssp" else self.method
        ctx = self._ctx
        try:
            if self.policy.names is not None:
                with challenge_names(self.policy.names):
                    out = ctx.step(token)
            else:
                out = ctx.step(token)
        except Exception as exc:  # SpnegoError for a wrong password; anything else for a garbled token
            error_token = _error_token(exc)
            if error_token:  # a Kerberos KRB-ERROR (clock skew ...): Windows sends it back with the 401
                self._reset()
                return AuthStep(False, [("WWW-Authenticate", f"{scheme} {base64.b64encode(error_token).decode()}")])
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
            if ctx.negotiated_protocol in ("kerberos", "ntlm"):
                self._mechanism = self.method = str(ctx.negotiated_protocol)
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
