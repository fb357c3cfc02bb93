"""WinRM over Kerberos: a ticket from the WinRM password (or the ticket cache), for ``HTTP/<node host>``.

Why not pywinrm's own Kerberos transport: it only takes a ticket cache (``kinit`` first) and asks for the
service ticket of the name in the endpoint URL. Here the service principal is built from the node's host
name in the answers (``HTTP/octo1.corp.example.com``) while the connection goes to the endpoint's address,
and the ticket comes from the ticket cache when one holds the user's ticket, otherwise from the WinRM
password (pyspnego asks the KDC through python-gssapi into a private in-memory cache: no ``kinit``).

Where the KDC is: ``[ad] domain_controller`` when the answers give one (a private krb5.conf for this
process names it for the realm, on top of the system's /etc/krb5.conf), otherwise the system's Kerberos
configuration and DNS. Kerberos libraries are imported only when this transport is used, and their absence
is reported with what to install.

Failures are said for a user with their fix (clock skew, no such service principal, an unknown realm, an
unreachable KDC, a bad password): ``KerberosFailure``, which ``errors.map_error`` turns into a RemoteError.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import requests.auth

#: What a Debian/Ubuntu machine needs for Kerberos (the set-up script installs it).
INSTALL_HINT = ("install the Kerberos libraries: apt-get install libkrb5-dev krb5-user, then "
                "pip install gssapi krb5 (scripts/setup.sh does both); or use transport = \"ntlm\"")


class KerberosFailure(Exception):
    """Kerberos could not authenticate; ``message`` says why, ``hint`` what fixes it."""

    def __init__(self, message: str, hint: str, *, config: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.config = config  # a problem of this machine's set-up, found before anything was sent


def require_gssapi() -> None:
    """Raise ``KerberosFailure`` naming what to install when python-gssapi cannot be used here."""
    try:
        import gssapi  # noqa: F401
        import spnego._gss as gss
    except ImportError as exc:
        raise KerberosFailure(f"Kerberos is not available on this machine ({exc})", INSTALL_HINT,
                              config=True) from exc
    if not gss.HAS_GSSAPI:
        raise KerberosFailure("Kerberos is not available on this machine (pyspnego cannot load gssapi)",
                              INSTALL_HINT, config=True)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def principal_for(username: str, realm: str) -> str:
    """``DOMAIN\\user`` or ``user@dns.domain`` as a Kerberos principal ``user@REALM``.

    A NetBIOS domain says nothing about the realm, so the realm comes from the caller (the [ad] DNS domain or
    the node's own DNS suffix); a UPN keeps its suffix, upper-cased as AD realms are."""
    if "\\" in username:
        return f"{username.split(chr(92), 1)[1]}@{realm.upper()}"
    if "@" in username:
        user, _, domain = username.rpartition("@")
        return f"{user}@{domain.upper()}"
    return f"{username}@{realm.upper()}"


def realm_for(spn_host: str, dns_domain: str | None) -> str:
    """The realm: the AD DNS domain when given, else the node's DNS suffix (AD realm = its DNS domain)."""
    if dns_domain:
        return dns_domain.strip().rstrip(".").upper()
    _, _, suffix = spn_host.partition(".")
    return suffix.upper()


# --- the KDC for a realm: a private krb5.conf --------------------------------------------------------------

_conf_lock = threading.Lock()
_kdcs: dict[str, str] = {}
SYSTEM_CONF = Path("/etc/krb5.conf")


def _kdc_entry(kdc: str) -> str:
    host = kdc.strip()
    if is_ip(host) and ":" in host.strip("[]"):
        return f"[{host.strip('[]')}]"
    return host


def use_kdc(realm: str, kdc: str, folder: Path) -> Path:
    """Make this process's Kerberos library find ``realm``'s KDC at ``kdc`` (``[ad] domain_controller``).

    KRB5_CONFIG is process-wide, so every realm named so far goes into one file (named by its content, so
    processes with the same answers share it), followed by the system's /etc/krb5.conf when there is one."""
    from octotui.home import write_private_text

    with _conf_lock:
        _kdcs[realm.upper()] = _kdc_entry(kdc)
        realms = "".join(f"\t{r} = {{\n\t\tkdc = {k}\n\t}}\n" for r, k in sorted(_kdcs.items()))
        domains = "".join(f"\t.{r.lower()} = {r}\n\t{r.lower()} = {r}\n" for r in sorted(_kdcs))
        text = ("# written by octotui for [ad] domain_controller; the system's krb5.conf follows\n"
                "[libdefaults]\n\tdns_lookup_kdc = true\n\tdns_lookup_realm = false\n\trdns = false\n"
                "\tdns_canonicalize_hostname = false\n\tudp_preference_limit = 1\n"
                f"[realms]\n{realms}[domain_realm]\n{domains}")
        path = folder / f"krb5-{hashlib.sha256(text.encode()).hexdigest()[:12]}.conf"
        if not path.exists() or path.read_text() != text:
            write_private_text(path, text)
        files = [str(path)] + ([str(SYSTEM_CONF)] if SYSTEM_CONF.exists() else [])
        os.environ["KRB5_CONFIG"] = ":".join(files)
        return path


# --- failures, said for a user ---------------------------------------------------------------------------

def explain(exc: BaseException, *, principal: str, spn: str, realm: str, kdc: str | None, target: str = "the node",
            user_setting: str = "[winrm] username", password_env: str = "OCTOTUI_WINRM_PASSWORD",
            password_name: str = "the WinRM password") -> KerberosFailure:
    """A GSSAPI/pyspnego failure (getting a ticket or using it) as a message with its fix.

    ``target``, ``user_setting``, ``password_env`` and ``password_name`` name what the ticket was for and whose
    password it came from: WinRM by default; the SQL checks name the SQL Server and their identity."""
    text = " ".join(str(e) for e in _chain(exc))
    low = text.lower()
    where = f"the KDC {kdc}" if kdc else f"a KDC for {realm}"
    if "clock skew" in low:
        return KerberosFailure(
            f"Kerberos refused the logon: clock skew too great between this machine, {where} and the node",
            "Kerberos allows 5 minutes: synchronise the clocks (timedatectl set-ntp true, or chronyc makestep), "
            "and check the node's time (w32tm /resync)")
    if re.search(r"server\b.*?not found in kerberos database", low) or "s_principal_unknown" in low:
        return KerberosFailure(
            f"no service principal {spn} in realm {realm}: the domain does not know this name for {target}",
            (f"use the node's fully qualified name as registered in AD as host, or register the name: "
             f"setspn -S {spn} <node computer account>") if target == "the node" else
            (f"name {target} as AD knows it (for SQL Server: its fully qualified name in Data Source, or Server "
             f"SPN in the connection string), or register the name: setspn -S {spn} <its computer or service "
             "account>"))
    if "cannot find kdc for realm" in low or "cannot find kdc for requested realm" in low \
            or "realm not local to kdc" in low or "wrong realm" in low or "cannot resolve network address for kdc" \
            in low:
        return KerberosFailure(
            f"Kerberos realm {realm} is not known here or not served by {where}",
            "check the realm: it is the AD DNS domain in upper case (set [ad] dns_domain and "
            "[ad] domain_controller, or the user as user@dns.domain); check /etc/krb5.conf")
    if "cannot contact any kdc" in low or "unable to reach any kdc" in low:
        return KerberosFailure(
            f"cannot contact {where} (Kerberos port 88)",
            "check [ad] domain_controller and that this machine reaches it on TCP/UDP 88 (firewall), or "
            "the DNS SRV records _kerberos._tcp.<domain>")
    if re.search(r"client\b.*?not found in kerberos database", low) or "c_principal_unknown" in low:
        return KerberosFailure(
            f"{where} knows no {principal}: the realm {principal.rpartition('@')[2]} or the user name is wrong",
            "check the realm (the AD DNS domain in upper case: [ad] dns_domain, or the user as "
            f"user@dns.domain) and {user_setting}")
    if "preauthentication failed" in low or "password incorrect" in low or "decrypt integrity" in low:
        return KerberosFailure(f"the KDC rejected the password of {principal}",
                               f"check {password_name} ({password_env} or the keyring)")
    if "revoked" in low or "locked" in low or "disabled" in low:
        return KerberosFailure(f"the domain refuses {principal}: the account is disabled or locked out",
                               "enable or unlock the account in Active Directory")
    if "password has expired" in low or "key has expired" in low:
        return KerberosFailure(f"the password of {principal} has expired",
                               f"change the account's password, then update {password_env}")
    if "no kerberos credentials available" in low or "no credentials cache" in low \
            or "can't find client principal" in low or "no credentials were supplied" in low:
        return KerberosFailure(f"no Kerberos ticket for {principal} and no password to get one",
                               f"set {password_env} (or kinit first)")
    return KerberosFailure(f"Kerberos authentication to {spn} failed: {_short(text)}",
                           "check the clocks, the node's service principal and the KDC; or use transport = \"ntlm\"")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not s for s in seen):
        seen.append(cur)
        base = getattr(cur, "base_error", None)
        cur = base if isinstance(base, BaseException) else (cur.__cause__ or cur.__context__)
    return seen


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "..."


# --- the requests auth handler ---------------------------------------------------------------------------

class KerberosAuth(requests.auth.AuthBase):
    """Authenticates a WinRM connection with Kerberos (``Authorization: Negotiate <AP-REQ>``, sent with the
    first request, no empty round trip) and seals messages for pywinrm's ``Encryption`` (``wrap_winrm``).

    Like NTLM in WinRM, the context belongs to the TCP connection: later requests carry no header."""

    def __init__(self, username: str, password: str | None, spn_host: str, *, realm: str,
                 kdc: str | None = None, service: str = "HTTP") -> None:
        self.principal = principal_for(username, realm)
        self.password = password
        self.spn_host = spn_host
        self.realm = realm.upper()
        self.kdc = kdc
        self.service = service
        self.spn = f"{service}/{spn_host}"
        self._ctx: Any = None
        #: pywinrm checks this to turn message encryption on over HTTP.
        self.winrm_encryption_available = True

    def _fail(self, exc: BaseException) -> KerberosFailure:
        return explain(exc, principal=self.principal, spn=self.spn, realm=self.realm, kdc=self.kdc)

    def _new_context(self) -> Any:
        import spnego

        require_gssapi()
        flags = (spnego.ContextReq.mutual_auth | spnego.ContextReq.sequence_detect
                 | spnego.ContextReq.integrity | spnego.ContextReq.confidentiality)
        attempts: list[str | None] = [None, self.password] if self.password is not None else [None]
        last: BaseException | None = None
        for password in attempts:  # the ticket cache first (a kinit'ed user), then the password
            try:
                ctx = spnego.client(self.principal, password, hostname=self.spn_host, service=self.service,
                                    protocol="kerberos", context_req=flags)
                token = ctx.step()
            except Exception as exc:  # SpnegoError and friends; GSSError underneath
                last = exc
                continue
            return ctx, token
        assert last is not None  # the password's failure when there was one: it says more than the cache's
        raise self._fail(last) from last

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        if self._ctx is not None and self._ctx.complete:
            return r  # the connection is authenticated: no header (a new connection's 401 is answered below)
        ctx, token = self._new_context()
        self._ctx = ctx
        r.headers["Authorization"] = f"Negotiate {base64.b64encode(token).decode()}"
        return r

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code == 401 and "Authorization" not in response.request.headers:
            return self._authenticate_again(response, **kwargs)
        ctx = self._ctx
        header = response.headers.get("WWW-Authenticate", "")
        token = _negotiate_token(header)
        if response.status_code == 401:
            self._ctx = None
            if token is not None and ctx is not None:
                try:
                    ctx.step(token)  # a KRB-ERROR from the node (e.g. clock skew) surfaces here
                except Exception as exc:
                    raise self._fail(exc) from exc
            raise KerberosFailure(
                f"the node refused the Kerberos ticket for {self.spn} (HTTP 401)",
                "check that the node's computer account holds this service principal and that its WinRM "
                "service accepts Kerberos (winrm get winrm/config/service/auth); the node may know "
                "itself by another name")
        if token is not None and ctx is not None and not ctx.complete:
            try:
                ctx.step(token)  # mutual authentication: the node proved it holds the service key
            except Exception as exc:
                self._ctx = None
                raise self._fail(exc) from exc
        return response

    def _authenticate_again(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """A request sent without a header (the context was made) came back 401: it went out on a new TCP
        connection (the old one closed while idle), which knows no context. Authenticate that connection and
        send the request again, once, as requests_ntlm does for NTLM."""
        _ = response.content
        response.close()
        prepared = response.request.copy()
        ctx, token = self._new_context()
        self._ctx = ctx
        prepared.headers["Authorization"] = f"Negotiate {base64.b64encode(token).decode()}"
        connection: Any = response.connection
        again: requests.Response = connection.send(prepared, **kwargs)
        again.history.append(response)
        again.request = prepared
        return self._on_response(again, **kwargs)

    # pywinrm's Encryption("kerberos") calls these two.
    def wrap_winrm(self, host: Any, message: bytes) -> tuple[bytes, bytes]:
        result = self._ctx.wrap_winrm(message)
        return bytes(result.data), bytes(result.header)

    def unwrap_winrm(self, host: Any, message: bytes, signature: bytes) -> bytes:
        return bytes(self._ctx.unwrap_winrm(signature, message))


def _negotiate_token(header: str) -> bytes | None:
    for part in header.split(","):
        scheme, _, value = part.strip().partition(" ")
        if scheme.lower() in ("negotiate", "kerberos") and value.strip():
            try:
                return base64.b64decode(value.strip())
            except ValueError:
                return None
    return None


def install(transport: Any, build: Callable[[], requests.Session], auth: KerberosAuth) -> requests.Session:
    """Build pywinrm's session as for a password transport, then put Kerberos in its place (and message
    encryption on over HTTP, as pywinrm does for its own Kerberos)."""
    transport.auth_method = "plaintext"  # pywinrm builds the session (proxies, TLS) without an auth of its own
    try:
        session = build()
    finally:
        transport.auth_method = "kerberos"
    session.auth = auth
    if transport.message_encryption != "never" and not transport.endpoint.lower().startswith("https"):
        transport.setup_encryption(session)
    return session
