"""Windows authentication to SQL Server by Kerberos with the identity's password: no ``kinit``, no NTLM.

In a domain that refuses NTLM (the answers say so with ``[winrm] transport = "kerberos"``), the SQL checks
cannot log in as ``DOMAIN\\user`` with a password through FreeTDS's NTLM. Instead a ticket is got for the
identity from its password (as ``octotui.remote.kerberos`` does for WinRM: python-gssapi, the KDC from
``[ad] domain_controller`` through a private krb5.conf), stored into a private FILE: ticket cache under
OCTOTUI_HOME (0600, deleted after the probe), and the ODBC driver logs in with ``Trusted_Connection=yes``
reading that cache through ``KRB5CCNAME``.

``KRB5CCNAME`` is one variable for the whole process, and checks run in threads: every such login holds one
lock while the variable points at its cache, and puts the old value back after ``pyodbc.connect`` returns
(the driver reads the cache only while it logs in).

The service principal is what FreeTDS asks for: ``Server SPN`` from the connection string, else
``MSSQLSvc/<host>:<port>``. It is asked for once before the driver runs, so that "no such service principal"
or a wrong password arrives as ``KerberosFailure`` with its fix, named for the SQL check's identity.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from octotui.remote.kerberos import KerberosFailure, explain, principal_for, realm_for, require_gssapi, use_kdc

T = TypeVar("T")

#: Held while KRB5CCNAME names one login's ticket cache (see the module docstring).
_login_lock = threading.Lock()

#: The answers' settings that name an identity, and where its password comes from.
_PASSWORD_OF = {
    "winrm": ("[winrm] username", "OCTOTUI_WINRM_PASSWORD", "the WinRM password"),
    "service_account": ("[service_account] username", "OCTOTUI_SERVICE_PASSWORD", "the service account's password"),
}


@dataclass(frozen=True)
class SqlKerberos:
    """Log in by Kerberos with the identity's password: the answers' domain is a Kerberos domain.

    ``kdc`` and ``dns_domain`` are ``[ad] domain_controller``/``dns_domain``; ``setting`` says whose password
    it is (``winrm`` or ``service_account``), for the messages."""

    kdc: str | None = None
    dns_domain: str | None = None
    setting: str = "winrm"


def for_transport(transport: str | None, kdc: str | None, dns_domain: str | None, setting: str) -> SqlKerberos | None:
    """Kerberos logins for the SQL checks exactly when WinRM uses Kerberos (``[winrm] transport``)."""
    if transport != "kerberos":
        return None
    return SqlKerberos(kdc or None, dns_domain or None, setting)


def service_principal(server_spn: str | None, host: str, port: int | None) -> str:
    """The SPN FreeTDS asks a ticket for: ``Server SPN`` when given, else ``MSSQLSvc/<host>:<port>``."""
    return server_spn.strip() if server_spn and server_spn.strip() else f"MSSQLSvc/{host}:{port or 1433}"


def realm_of(username: str, kerberos: SqlKerberos, spn: str) -> str:
    """The realm: ``[ad] dns_domain``, else a UPN's suffix, else the realm in or the host of the SPN."""
    if kerberos.dns_domain:
        return realm_for("", kerberos.dns_domain)
    if "@" in username and "\\" not in username:
        return username.rpartition("@")[2].upper()
    name, _, realm = spn.partition("@")
    if realm:
        return realm.upper()
    host = name.partition("/")[2].partition(":")[0]
    return realm_for(host, None)


def _home_folder() -> Path:
    from octotui.home import octotui_home

    return octotui_home() / "kerberos"


@contextmanager
def ticket(username: str, password: str, kerberos: SqlKerberos, spn: str) -> Iterator[Path]:
    """A private FILE: ticket cache holding ``username``'s tickets (and the service ticket for ``spn``),
    removed when the block ends. Raises ``KerberosFailure`` (with the identity named) when none can be got."""
    realm = realm_of(username, kerberos, spn)
    principal = principal_for(username, realm)
    who, env, what = _PASSWORD_OF.get(kerberos.setting, _PASSWORD_OF["winrm"])
    target = spn if "@" in spn else f"{spn}@{realm}"

    def fail(exc: BaseException) -> KerberosFailure:
        return explain(exc, principal=principal, spn=target, realm=realm, kdc=kerberos.kdc,
                       target="the SQL Server", user_setting=who, password_env=env, password_name=what)

    require_gssapi()
    folder = _home_folder()
    try:
        from octotui.home import private_dir

        private_dir(folder)
        if kerberos.kdc:
            use_kdc(realm, kerberos.kdc, folder)
    except OSError as exc:
        raise KerberosFailure(f"cannot write the Kerberos configuration: {exc}",
                              "check that OCTOTUI_HOME is writable", config=True) from exc
    import gssapi
    import gssapi.raw
    from gssapi.raw.misc import GSSError

    path = folder / f"sql-{secrets.token_hex(8)}.ccache"
    try:
        try:
            name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
            krb5 = gssapi.MechType.kerberos
            # gssapi.Credentials(base) takes the handle over from ``base``: wrap once, use the wrapper throughout.
            creds = gssapi.Credentials(gssapi.raw.acquire_cred_with_password(name, password.encode(),
                                                                             usage="initiate", mechs=[krb5]).creds)
            host = spn.partition("@")[0].partition("/")[2].partition(":")[0]
            if "@" in spn or "." in host:  # FreeTDS canonicalises a short host name itself: not asked here
                service = gssapi.Name(target, gssapi.NameType.kerberos_principal)
                gssapi.SecurityContext(name=service, creds=creds, usage="initiate",
                                       mech=krb5).step()
            gssapi.raw.store_cred_into({b"ccache": f"FILE:{path}".encode()}, creds, usage="initiate", mech=krb5,
                                       overwrite=True)
            path.chmod(0o600)
        except GSSError as exc:
            raise fail(exc) from exc
        yield path
    finally:
        path.unlink(missing_ok=True)


def connect_with(ccache: Path, connect: Callable[[], T]) -> T:
    """Run ``connect`` (``pyodbc.connect``) with KRB5CCNAME naming ``ccache``, one login at a time."""
    with _login_lock:
        old = os.environ.get("KRB5CCNAME")
        os.environ["KRB5CCNAME"] = f"FILE:{ccache}"
        try:
            return connect()
        finally:
            if old is None:
                os.environ.pop("KRB5CCNAME", None)
            else:
                os.environ["KRB5CCNAME"] = old

