"""Reaching SQL Server from Linux through ODBC: finding a driver, and saying in ODBC what ADO.NET said.

Octopus reads its connection string with SqlClient on Windows; the console checks the same server with
pyodbc, so the ADO.NET string must be translated for whichever driver is installed here, with that
driver's keywords and quoting (sql-odbc-tds.md §2-§3). The traps this module exists for:
- FreeTDS 1.3 (Debian 12) ends a braced value at the first ``};`` and does not un-double ``}}``; 1.4+ and
  the Microsoft drivers use the standard ``}}`` escape. Quoting the wrong way logs in with a different
  password than the user typed.
- Integrated Security from Linux means Kerberos (``Trusted_Connection=yes``, needs a ticket) or, with
  FreeTDS only, NTLM with ``UID=DOMAIN\\user;PWD=...``; the Microsoft drivers have no NTLM.
- pyodbc itself fails to import when unixODBC is missing, and a driver can be registered in odbcinst.ini
  while its library is gone. Both must become a message, never a traceback.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Literal

from octotui.spec.parsers.accounts import Account, as_account
from octotui.spec.parsers.connstr import ConnectionString, ServerAddress
from octotui.spec.parsers.errors import ParseError
from octotui.textsafe import shown

DriverKind = Literal["msodbc18", "msodbc17", "freetds"]

INSTALL_HINT = ("install an ODBC driver for SQL Server: on Debian/Ubuntu `sudo apt-get install unixodbc tdsodbc` "
                "(FreeTDS), or Microsoft ODBC Driver 18 for SQL Server from Microsoft's package repository")
_LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu/odbc", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu/odbc",
                 "/usr/lib/aarch64-linux-gnu", "/usr/lib/odbc", "/usr/lib64", "/usr/lib", "/usr/local/lib")
_TRUE = ("true", "yes", "sspi", "mandatory", "strict")


class OdbcUnavailable(Exception):
    """ODBC cannot be used here at all: ``message`` says why, ``hint`` what to install."""

    def __init__(self, message: str, hint: str = INSTALL_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class MappingError(ValueError):
    """The connection string cannot be expressed for the driver found; ``hint`` says what to change."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class OdbcDriver:
    """A registered driver: its odbcinst.ini section name, what it is, and (FreeTDS) its version."""

    name: str
    kind: DriverKind
    library: str = ""
    version: tuple[int, ...] | None = None

    @property
    def legacy_quoting(self) -> bool:
        """FreeTDS before 1.4 (or of unknown version: assume the Debian 12 one) has the old brace rules."""
        return self.kind == "freetds" and (self.version is None or self.version < (1, 4))

    @property
    def supports_ntlm(self) -> bool:
        return self.kind == "freetds"

    def describe(self) -> str:
        if self.kind == "freetds" and self.version:
            return f"{self.name} (FreeTDS {'.'.join(map(str, self.version))})"
        return self.name


def load_pyodbc() -> ModuleType:
    """Import pyodbc, turning "libodbc.so.2: cannot open shared object file" into advice."""
    try:
        import pyodbc
    except ImportError as exc:
        detail = str(exc)
        if "libodbc" in detail:
            raise OdbcUnavailable(f"unixODBC is not installed (pyodbc cannot load it: {detail})",
                                  "install unixODBC and a driver: on Debian/Ubuntu `sudo apt-get install unixodbc "
                                  "tdsodbc`") from None
        raise OdbcUnavailable(f"pyodbc cannot be imported: {detail}",
                              "reinstall octotui so that its pyodbc dependency is present") from None
    module: ModuleType = pyodbc
    return module


def _kind(name: str, library: str) -> DriverKind | None:
    low = name.lower()
    if low == "odbc driver 18 for sql server":
        return "msodbc18"
    if low == "odbc driver 17 for sql server":
        return "msodbc17"
    if "freetds" in low or os.path.basename(library).startswith("libtdsodbc"):
        return "freetds"
    return None


def odbcinst_path() -> Path | None:
    """Where unixODBC keeps its driver list: ``$ODBCSYSINI``, else what ``odbcinst -j`` reports."""
    sysini = os.environ.get("ODBCSYSINI")
    if sysini:
        return Path(sysini) / "odbcinst.ini"
    exe = shutil.which("odbcinst")
    if exe:
        try:
            out = subprocess.run([exe, "-j"], capture_output=True, text=True, timeout=2, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        m = re.search(r"^DRIVERS\.*:\s*(\S+)", out, re.MULTILINE)
        if m:
            return Path(m.group(1))
    default = Path("/etc/odbcinst.ini")
    return default if default.exists() else None


def _libraries() -> dict[str, str]:
    """Driver section name (lower case) -> its ``Driver=`` library, as odbcinst.ini says."""
    path = odbcinst_path()
    if path is None:
        return {}
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    return {s.lower(): parser.get(s, "Driver", fallback="").strip() for s in parser.sections()}


def resolve_library(library: str) -> Path | None:
    """The library file itself: ``Driver=libtdsodbc.so`` is a bare name the loader finds in its paths."""
    if not library:
        return None
    path = Path(library)
    if path.is_absolute():
        return path if path.exists() else None
    for folder in _LIBRARY_DIRS:
        candidate = Path(folder) / library
        if candidate.exists():
            return candidate
    return None


def freetds_version(library: str) -> tuple[int, ...] | None:
    """The version FreeTDS embeds in its library (``freetds v1.3.17``), read without connecting."""
    path = resolve_library(library)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    m = re.search(rb"freetds v(\d+)\.(\d+)(?:\.(\d+))?", data)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def installed_drivers() -> list[OdbcDriver]:
    """The SQL Server drivers registered with unixODBC, best first. Raises OdbcUnavailable."""
    pyodbc = load_pyodbc()
    libraries = _libraries()
    found: list[OdbcDriver] = []
    for name in pyodbc.drivers():
        library = libraries.get(str(name).lower(), "")
        kind = _kind(str(name), library)
        if kind is None:
            continue
        version = freetds_version(library) if kind == "freetds" else None
        found.append(OdbcDriver(str(name), kind, library, version))
    order = {"msodbc18": 0, "msodbc17": 1, "freetds": 2}
    return sorted(found, key=lambda d: order[d.kind])


def choose_driver(drivers: list[OdbcDriver], *, need_ntlm: bool) -> OdbcDriver:
    """Microsoft 18 > 17 > FreeTDS, except that NTLM (a Windows login with a password) needs FreeTDS."""
    if not drivers:
        raise OdbcUnavailable("no ODBC driver for SQL Server is installed")
    if need_ntlm:
        for driver in drivers:
            if driver.supports_ntlm:
                return driver
        raise OdbcUnavailable(
            f"only {drivers[0].name} is installed, and it cannot log in to Windows authentication with a password "
            "from Linux (it has no NTLM; it needs a Kerberos ticket)",
            "install FreeTDS (`sudo apt-get install tdsodbc`), which logs in with NTLM as DOMAIN\\user, or run "
            "`kinit` for the account and check without its password")
    return drivers[0]


# --- quoting and mapping ----------------------------------------------------------------------------------
_SPECIAL = re.compile(r"[;{}=\s\[\](),?*!@'\"]")


def odbc_quote(value: str, *, legacy_freetds: bool) -> str:
    """A value as an ODBC connection string needs it: bare when harmless, else in braces."""
    if value == "" or (not _SPECIAL.search(value) and value == value.strip()):
        return value
    if legacy_freetds:
        if "};" in value:
            raise MappingError("a value contains '};', which FreeTDS before 1.4 cannot pass (it ends the value "
                               "there)", "change that password, or install FreeTDS 1.4+ or Microsoft ODBC Driver 18")
        return "{" + value + "}"
    return "{" + value.replace("}", "}}") + "}"


@dataclass(frozen=True)
class Credentials:
    """How to log in: ``ntlm`` (Windows account and password, FreeTDS), ``kerberos`` (a ticket: this
    console's, or one got from ``password``; ``realm`` is the service principal's realm when known), or
    ``sql`` (a SQL login)."""

    method: Literal["ntlm", "kerberos", "sql"]
    user: str = ""
    password: str = field(default="", repr=False)
    realm: str = ""


def ntlm_user(username: Account | str) -> str:
    """FreeTDS uses NTLM only for ``DOMAIN\\user``; ``user@domain`` becomes ``domain\\user``."""
    try:
        account = as_account(username)
    except ParseError as exc:
        raise MappingError(f"'{shown(username)}' is not a Windows account name: {exc.message}", exc.fix) from None
    if account.form == "upn":
        return f"{account.domain}\\{account.name}"
    if account.domain:
        return str(account)
    raise MappingError(f"the account '{username}' names no domain, and Windows authentication from Linux needs one",
                       "write the account as DOMAIN\\user (or user@domain)")


def _truthy(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in _TRUE


def server_parts(server: ServerAddress) -> tuple[str, str | None, int | None]:
    """(host, instance, port) usable from Linux; named pipes and shared memory are refused."""
    if server.protocol in ("np", "lpc"):
        raise MappingError(f"Data Source '{server}' uses {server.protocol}: (a Windows-only transport)",
                           "use TCP: write the host name, optionally with ,port")
    host = server.host
    if host.lower() in ("(local)", ".", "(localdb)"):
        host = "localhost"
    return host, server.instance, server.port


def to_odbc(cs: ConnectionString, driver: OdbcDriver, credentials: Credentials, *, database: str) -> str:
    """The ODBC connection string for ``driver``, logging in as ``credentials`` into ``database``.

    Always ends with ``;`` (FreeTDS 1.3 keeps the closing brace of a braced value at the very end).
    Timeouts are not mapped: the caller passes its deadline to pyodbc instead.
    """
    server = cs.server
    if server is None:
        raise MappingError("the connection string has no Data Source", "add Data Source=<SQL Server host>")
    host, instance, port = server_parts(server)
    legacy = driver.legacy_quoting

    def q(value: str) -> str:
        return odbc_quote(value, legacy_freetds=legacy)

    parts = [f"DRIVER={{{driver.name}}}"]
    if driver.kind == "freetds":
        if port is not None:
            parts += [f"SERVER={q(host)}", f"PORT={port}"]  # FreeTDS 1.3 cannot split host\inst,port
        elif instance:
            parts.append(f"SERVER={q(host + chr(92) + instance)}")
        else:
            parts += [f"SERVER={q(host)}", "PORT=1433"]
        parts.append("TDS_Version=7.4")
    else:
        text = host + (f"\\{instance}" if instance else "") + (f",{port}" if port is not None else "")
        parts.append(f"SERVER={q(text)}")
    parts.append(f"DATABASE={q(database)}")
    if credentials.method == "kerberos":
        parts.append("Trusted_Connection=yes")
    else:
        parts += [f"UID={q(credentials.user)}", f"PWD={q(credentials.password)}"]
    encrypt = cs.get("Encrypt")
    app = cs.get("Application Name")
    spn = cs.get("Server SPN")
    intent = cs.get("Application Intent")
    if driver.kind == "freetds":
        if encrypt is not None:
            parts.append("Encryption=require" if _truthy(encrypt) else "Encryption=request")
    else:
        if encrypt is not None:
            low = encrypt.strip().lower()
            parts.append("Encrypt=" + ("strict" if low == "strict" else "yes" if _truthy(encrypt) else "no"))
        if _truthy(cs.get("Trust Server Certificate")):
            parts.append("TrustServerCertificate=yes")
        if _truthy(cs.get("Multi Subnet Failover")):
            parts.append("MultiSubnetFailover=yes")
        hostname = cs.get("Host Name In Certificate")
        if hostname and driver.kind == "msodbc18":
            parts.append(f"HostNameInCertificate={q(hostname)}")
    if app:
        parts.append(f"APP={q(app)}")
    if credentials.method == "kerberos" and credentials.realm and driver.kind == "freetds":
        # FreeTDS names the service principal without a realm (the default realm's, often none): give it. REALM
        # applies to the SPN FreeTDS derives; a ServerSPN is taken as written.
        if spn and "@" not in spn:
            spn = f"{spn}@{credentials.realm}"
        elif not spn:
            parts.append(f"REALM={q(credentials.realm)}")
    if spn:
        parts.append(f"ServerSPN={q(spn)}")
    if intent:
        parts.append(f"ApplicationIntent={q(intent)}")
    return ";".join(parts) + ";"

