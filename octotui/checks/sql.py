"""SQL Server preflight: can we log in, is the server new enough, is the collation case-insensitive, may this
identity create or own the database, and is the database fit for the chosen mode.

The installer finds out before it changes anything what would otherwise fail late inside
``Octopus.Server.exe database``: a login SQL Server refuses, SQL Server 2014, a case-sensitive collation,
a service account that is not db_owner, or, worst, "create a cluster" pointed at a database that already
holds one (the fail here protects it). With Integrated Security the checks log in as the identity that
step will use (a ``SqlIdentity``: from Linux that is NTLM through FreeTDS as ``DOMAIN\\user``).

Each ``check_*`` function returns one ``CheckResult`` within ``deadline_s`` whatever the network does: the
work runs in a daemon thread, pyodbc gets the remaining time as its login and query timeout, and the
caller stops waiting at the deadline (or when ``cancel`` is set). ``check_sql`` logs in once and returns
all five results.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from octotui.checks.deadline import DEFAULT_DEADLINE_S, Deadline
from octotui.checks.odbc import (
    Credentials,
    MappingError,
    OdbcDriver,
    OdbcUnavailable,
    choose_driver,
    installed_drivers,
    load_pyodbc,
    ntlm_user,
    server_parts,
    to_odbc,
)
from octotui.checks.result import CheckResult, Status
from octotui.checks.sql_kerberos import SqlKerberos, connect_with, realm_of, service_principal, ticket
from octotui.remote.kerberos import KerberosFailure
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString, as_connection_string
from octotui.spec.parsers.errors import ParseError

Mode = Literal["create", "join"]
Depth = Literal["login", "server", "database"]

MIN_MAJOR = 13  # SQL Server 2016
#: ProductMajorVersion -> (name, end of extended support). Octopus supports versions with at least two years
#: of support left (sql-odbc-tds.md §7.1); 17 (2025) has no published end date yet.
VERSIONS: dict[int, tuple[str, date | None]] = {
    10: ("2008", date(2019, 7, 9)), 11: ("2012", date(2022, 7, 12)), 12: ("2014", date(2024, 7, 9)),
    13: ("2016", date(2026, 7, 14)), 14: ("2017", date(2027, 10, 12)), 15: ("2019", date(2030, 1, 8)),
    16: ("2022", date(2033, 1, 11)), 17: ("2025", None),
}
SUPPORT_MARGIN_DAYS = 730

# The exact statements the checks send (the lab's TDS front answers these).
QUERY_SERVER = ("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version, "
                "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, "
                "CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, "
                "CAST(SERVERPROPERTY('Collation') AS nvarchar(128)) AS server_collation, "
                "CAST(@@VERSION AS nvarchar(300)) AS version_text")
QUERY_LOGIN = ("SELECT SUSER_SNAME() AS login_name, "
               "CAST(IS_SRVROLEMEMBER('sysadmin') AS int) AS is_sysadmin, "
               "CAST(IS_SRVROLEMEMBER('dbcreator') AS int) AS is_dbcreator, "
               "CAST(HAS_PERMS_BY_NAME(NULL, NULL, 'CREATE ANY DATABASE') AS int) AS can_create_any_db")
QUERY_DATABASE = ("SELECT DB_ID(?) AS database_id, "
                  "CAST(DATABASEPROPERTYEX(?, 'Collation') AS nvarchar(128)) AS collation_name")
QUERY_IN_DATABASE = ("SELECT CAST(IS_ROLEMEMBER('db_owner') AS int) AS is_db_owner, USER_NAME() AS db_user, "
                     "OBJECT_ID(N'dbo.OctopusServerNode', N'U') AS node_table")
QUERY_USER_TABLES = "SELECT COUNT(*) AS user_tables FROM sys.tables WHERE is_ms_shipped = 0"
QUERY_NODES = "SELECT Name FROM dbo.OctopusServerNode ORDER BY Name"

FailureKind = Literal["parse", "odbc", "mapping", "resolve", "refused", "unreachable", "timeout", "login",
                      "windows_login", "database", "tls", "connect", "driver_missing", "query", "kerberos"]


@dataclass(frozen=True)
class SqlIdentity:
    """The Windows account (``DOMAIN\\user``) an Integrated Security login runs as, with its password.

    ``kerberos`` set (the answers' domain is a Kerberos domain): the login gets a Kerberos ticket with the
    password (``octotui.checks.sql_kerberos``) instead of using NTLM, which such a domain may refuse."""

    username: Account | str  # the spec's account, or the name as typed in the wizard
    password: str = field(repr=False)
    kerberos: SqlKerberos | None = None


@dataclass(frozen=True)
class SqlFailure:
    kind: FailureKind
    message: str
    hint: str = ""
    number: int | None = None


@dataclass
class SqlFacts:
    """What one probe learnt; ``failure`` set means it stopped there."""

    server: str = ""
    database: str = ""
    driver: OdbcDriver | None = None
    auth: str = ""
    failure: SqlFailure | None = None
    login_name: str = ""
    product_version: str = ""
    edition: str = ""
    engine_edition: int | None = None
    server_collation: str = ""
    is_sysadmin: bool = False
    is_dbcreator: bool = False
    can_create_database: bool = False
    database_exists: bool | None = None
    database_collation: str | None = None
    open_failure: SqlFailure | None = None  # the login could not open the database
    is_db_owner: bool | None = None
    user_tables: int | None = None
    is_octopus: bool | None = None
    octopus_nodes: list[str] = field(default_factory=list)


# --- failures ----------------------------------------------------------------------------------------------
def _server_text(raw: str) -> tuple[str, int | None]:
    """``[42000] [FreeTDS][SQL Server]Login failed ... (18456) (SQLDriverConnect)`` -> (text, 18456)."""
    text = re.sub(r"\s*\(SQL\w+\)\s*$", "", raw.strip())
    number = None
    m = re.search(r"\((-?\d+)\)\s*$", text)
    if m:
        number = int(m.group(1))
        text = text[:m.start()].rstrip()
    text = re.sub(r"^(\[[^\]]*\]\s*)+", "", text)
    return text, number


def classify(exc: BaseException, *, server: str, at_login: bool) -> SqlFailure:
    """Sort a pyodbc error into what went wrong; the server's own words are kept as the message."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    sqlstate = str(args[0]) if len(args) > 1 else ""
    raw = str(args[-1]) if args else str(exc)
    text, number = _server_text(raw)
    low = raw.lower()
    if "can't open lib" in low or "data source name not found" in low:
        return SqlFailure("driver_missing", text, "the ODBC driver is registered in odbcinst.ini but its library is "
                                                  "missing: reinstall it (e.g. `sudo apt-get install --reinstall "
                                                  "tdsodbc`)")
    if number in (18456, 18486, 18487, 18488, 18470):
        return SqlFailure("login", text, number=number)
    if number == 18452:
        return SqlFailure("windows_login", text, number=number)
    if number in (4060, 916, 911):
        return SqlFailure("database", text, number=number)
    if sqlstate == "HYT00" or "timeout expired" in low:
        return SqlFailure("timeout", f"SQL Server at {server} did not answer in time ({text})")
    if sqlstate == "08S01" or number == 20009:
        return SqlFailure("unreachable", text)
    if "ssl" in low or "certificate" in low or "encryption not supported" in low:
        return SqlFailure("tls", text)
    if at_login:
        return SqlFailure("connect", text, number=number)
    return SqlFailure("query", text, number=number)


# --- probing -----------------------------------------------------------------------------------------------
def _credentials(cs: ConnectionString, identity: SqlIdentity | None) -> tuple[Credentials, str]:
    """How to log in, and a description of it for messages (never the password)."""
    if cs.integrated_security:
        if identity is None:
            return Credentials("kerberos"), "Windows authentication (Kerberos ticket of this console)"
        user = ntlm_user(identity.username)
        if identity.kerberos is not None:
            return (Credentials("kerberos", str(identity.username), identity.password),
                    f"Windows authentication by Kerberos as {user}")
        return Credentials("ntlm", user, identity.password), f"Windows authentication as {user}"
    user = cs.get("User ID") or ""
    password = cs.get("Password")
    if password is None:
        password = identity.password if identity is not None else ""
    return Credentials("sql", user, password), f"SQL login '{user}'"


def _tcp_probe(host: str, port: int, clock: Deadline, server: str) -> SqlFailure | None:
    """Tell "no such host", "refused", "unreachable" and "silent" apart before the driver blurs them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return SqlFailure("resolve", f"the host name '{host}' does not resolve ({exc})",
                          "check the Data Source host name and this console's DNS")
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(clock.left(0.1))
        try:
            sock.connect(address)
            return None
        except TimeoutError:
            return SqlFailure("timeout", f"nothing answered on {server} within the deadline",
                              "check the host and port, and that a firewall lets TCP through to SQL Server")
        except ConnectionRefusedError as exc:
            last = exc
        except OSError as exc:
            last = exc
        finally:
            sock.close()
    if isinstance(last, ConnectionRefusedError):
        return SqlFailure("refused", f"{server} refused the connection (nothing listens on port {port})",
                          "check the port, and that SQL Server has TCP/IP enabled and is running")
    return SqlFailure("unreachable", f"{server} cannot be reached ({last})",
                      "check the host name, routing and firewalls between this console and SQL Server")


def _rows(conn: Any, sql: str, *params: object) -> list[Any]:
    cursor = conn.cursor()
    try:
        return list(cursor.execute(sql, *params).fetchall())
    finally:
        cursor.close()


def _probe(text: ConnectionString | str, identity: SqlIdentity | None, depth: Depth,
           clock: Deadline) -> SqlFacts:
    facts = SqlFacts()
    try:
        cs = as_connection_string(text)
        server = cs.server
        facts.server = str(server) if server is not None else "(no Data Source)"
        facts.database = cs.database or ""
        credentials, facts.auth = _credentials(cs, identity)
        drivers = installed_drivers()
        facts.driver = driver = choose_driver(drivers, need_ntlm=credentials.method == "ntlm")
        odbc_master = to_odbc(cs, driver, credentials, database="master")
        if server is None:
            raise MappingError("the connection string has no Data Source", "add Data Source=<SQL Server host>")
        host, instance, port = server_parts(server)
    except ParseError as exc:
        facts.failure = SqlFailure("parse", _without_snippet(str(text), exc.message), exc.fix)
        return facts
    except (OdbcUnavailable, MappingError) as exc:
        facts.failure = _setup_failure(exc)
        return facts
    if port is not None or not instance:
        facts.failure = _tcp_probe(host, port or 1433, clock, facts.server)
        if facts.failure is not None:
            return facts
    pyodbc = load_pyodbc()
    with ExitStack() as stack:
        connect = _plain_connect(pyodbc, clock)
        kerberos = identity.kerberos if identity is not None and credentials.method == "kerberos" else None
        if kerberos is not None:
            spn = service_principal(cs.get("Server SPN"), host, port)
            credentials = replace(credentials, realm=realm_of(credentials.user, kerberos, spn))
            try:
                odbc_master = to_odbc(cs, driver, credentials, database="master")
                ccache = stack.enter_context(ticket(credentials.user, credentials.password, kerberos, spn))
            except (MappingError, KerberosFailure) as exc:
                facts.failure = _setup_failure(exc)
                return facts
            connect = _ticket_connect(pyodbc, clock, ccache)
        return _login_and_ask(pyodbc, connect, cs, driver, credentials, odbc_master, facts, depth, clock)


def _setup_failure(exc: OdbcUnavailable | MappingError | KerberosFailure) -> SqlFailure:
    """What stopped the probe before it reached SQL Server, as its failure: the exception's own words and fix."""
    kind: FailureKind = "odbc" if isinstance(exc, OdbcUnavailable) else \
        "mapping" if isinstance(exc, MappingError) else "kerberos"
    return SqlFailure(kind, exc.message, exc.hint)


def _plain_connect(pyodbc: Any, clock: Deadline) -> Callable[[str], Any]:
    return lambda odbc: pyodbc.connect(odbc, timeout=clock.whole_seconds(), autocommit=True)


def _ticket_connect(pyodbc: Any, clock: Deadline, ccache: Path) -> Callable[[str], Any]:
    """Logins that read their Kerberos ticket from ``ccache`` (one at a time: KRB5CCNAME is process-wide)."""
    plain = _plain_connect(pyodbc, clock)
    return lambda odbc: connect_with(ccache, lambda: plain(odbc))


def _login_and_ask(pyodbc: Any, connect: Callable[[str], Any], cs: ConnectionString, driver: OdbcDriver,
                   credentials: Credentials, odbc_master: str, facts: SqlFacts, depth: Depth,
                   clock: Deadline) -> SqlFacts:
    """Log in to master and ask the server-wide questions, then (when the database exists) the database's."""
    try:
        conn = connect(odbc_master)
    except pyodbc.Error as exc:
        facts.failure = classify(exc, server=facts.server, at_login=True)
        return facts
    try:
        conn.timeout = clock.whole_seconds()
        (row,) = _rows(conn, QUERY_LOGIN)
        facts.login_name = str(row.login_name or "")
        facts.is_sysadmin, facts.is_dbcreator = bool(row.is_sysadmin), bool(row.is_dbcreator)
        facts.can_create_database = bool(row.can_create_any_db)
        if depth == "login":
            return facts
        (row,) = _rows(conn, QUERY_SERVER)
        facts.product_version = str(row.product_version or "")
        facts.edition = str(row.edition or "")
        facts.engine_edition = row.engine_edition
        facts.server_collation = str(row.server_collation or "")
        if depth == "server" or not facts.database:
            return facts
        (row,) = _rows(conn, QUERY_DATABASE, facts.database, facts.database)
        facts.database_exists = row.database_id is not None
        facts.database_collation = row.collation_name
    except pyodbc.Error as exc:
        facts.failure = classify(exc, server=facts.server, at_login=False)
        return facts
    finally:
        conn.close()
    if facts.database_exists:
        _probe_inside(pyodbc, connect, cs, driver, credentials, facts, clock)
    return facts


def _without_snippet(text: str, message: str) -> str:
    """The parser quotes the text near a mistake; when a password may be there, leave the quote out."""
    if re.search(r"(?i)password|pwd", text):
        return re.sub(r"\s*\(near '.*'\)", "", message, flags=re.DOTALL)
    return message


def _probe_inside(pyodbc: Any, connect: Callable[[str], Any], cs: ConnectionString, driver: OdbcDriver,
                  credentials: Credentials, facts: SqlFacts, clock: Deadline) -> None:
    """Log in to the database itself (as Octopus will): refused means this login has no user there."""
    try:
        odbc_db = to_odbc(cs, driver, credentials, database=facts.database)
    except MappingError as exc:
        facts.failure = _setup_failure(exc)
        return
    try:
        conn = connect(odbc_db)
    except pyodbc.Error as exc:
        failure = classify(exc, server=facts.server, at_login=True)
        if failure.kind in ("login", "database"):
            # The same credentials just logged in to master, so a refusal here is about the database (FreeTDS
            # reports SQL Server's 18456 that follows 4060 "Cannot open database").
            facts.open_failure = replace(failure, kind="database")
        else:
            facts.failure = failure
        return
    try:
        conn.timeout = clock.whole_seconds()
        (row,) = _rows(conn, QUERY_IN_DATABASE)
        facts.is_db_owner = bool(row.is_db_owner)
        facts.is_octopus = row.node_table is not None
        (row,) = _rows(conn, QUERY_USER_TABLES)
        facts.user_tables = int(row.user_tables)
        if facts.is_octopus:
            facts.octopus_nodes = [str(r.Name) for r in _rows(conn, QUERY_NODES)]
    except pyodbc.Error as exc:
        facts.failure = classify(exc, server=facts.server, at_login=False)
    finally:
        conn.close()


def probe(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
          depth: Depth = "database", deadline_s: float = DEFAULT_DEADLINE_S,
          cancel: threading.Event | None = None) -> SqlFacts:
    """Gather facts within ``deadline_s``; never raises, never waits longer (the worker may linger)."""
    clock = Deadline(deadline_s)
    box: list[SqlFacts] = []

    def work() -> None:
        try:
            box.append(_probe(connection_string, identity, depth, clock))
        except Exception as exc:  # a bug must become a result, not a dead thread and a hung caller
            box.append(SqlFacts(failure=SqlFailure("connect", f"unexpected error: {type(exc).__name__}: {exc}")))

    worker = threading.Thread(target=work, name="sql-check", daemon=True)
    worker.start()
    while worker.is_alive() and not clock.expired:
        if cancel is not None and cancel.is_set():
            facts = _named(connection_string)
            facts.failure = SqlFailure("timeout", "cancelled")
            return facts
        worker.join(min(0.05, clock.left(0.0)))
    if box:
        return box[0]
    facts = _named(connection_string)
    facts.failure = SqlFailure("timeout", f"no answer within {deadline_s:g} s",
                               "check that SQL Server is up and reachable from this console")
    return facts


def _named(text: ConnectionString | str) -> SqlFacts:
    """Facts holding only the server and database names, for a result that has nothing else."""
    try:
        cs = as_connection_string(text)
        server = cs.server
    except ParseError:
        return SqlFacts()
    return SqlFacts(server=str(server) if server is not None else "", database=cs.database or "")


# --- results -----------------------------------------------------------------------------------------------
def _target(facts: SqlFacts, with_db: bool) -> str:
    server = facts.server or "(SQL Server)"
    return f"{server}/{facts.database}" if with_db and facts.database else server


def _result(check_id: str, status: Status, facts: SqlFacts, summary: str, detail: str = "", hint: str = "", *,
            with_db: bool = True) -> CheckResult:
    return CheckResult(check_id, status, _target(facts, with_db), summary, detail, hint)


def _skipped(check_id: str, facts: SqlFacts, with_db: bool = True) -> CheckResult:
    failure = facts.failure
    assert failure is not None
    return _result(check_id, "skip", facts, "not checked: SQL Server could not be queried (see sql.connect)",
                   failure.message, with_db=with_db)


def _login_hint(facts: SqlFacts, failure: SqlFailure) -> str:
    if failure.kind == "windows_login":
        return (f"check the password of {facts.auth.rsplit(' as ', 1)[-1]}, that the account is enabled, not locked "
                "and its password not expired, and that SQL Server trusts its domain")
    if facts.auth.startswith("Windows"):
        who = facts.auth.rsplit(" as ", 1)[-1]
        return (f"give {who} a login on SQL Server (CREATE LOGIN [{who}] FROM WINDOWS), or check that it is "
                "enabled")
    return ("check the user name and password, that the login is enabled, and that SQL Server allows SQL Server "
            "authentication (mixed mode)")


def connect_result(facts: SqlFacts) -> CheckResult:
    f = facts.failure
    if f is None:
        driver = facts.driver.describe() if facts.driver else "?"
        return _result("sql.connect", "pass", facts, f"logged in to {facts.server} as {facts.login_name}",
                       f"{facts.auth}; ODBC driver {driver}", with_db=False)
    summaries: dict[str, tuple[str, str]] = {
        "parse": ("the connection string is not valid", ""),
        "odbc": ("cannot check SQL Server: no usable ODBC driver on this console", ""),
        "driver_missing": ("cannot check SQL Server: the ODBC driver is registered but not installed", ""),
        "mapping": ("the connection string cannot be used from this console", ""),
        "resolve": (f"cannot find SQL Server host of {facts.server}", ""),
        "refused": (f"SQL Server at {facts.server} refused the connection", ""),
        "unreachable": (f"SQL Server at {facts.server} cannot be reached", ""),
        "timeout": (f"SQL Server at {facts.server} did not answer in time",
                    "check the host and port, firewalls, and that SQL Server is running"),
        "login": (f"SQL Server refused the login ({facts.auth})", _login_hint(facts, f)),
        "windows_login": (f"SQL Server refused the Windows credentials ({facts.auth})", _login_hint(facts, f)),
        "database": ("SQL Server refused to open the master database", "check the login's default database"),
        "tls": ("the encrypted connection to SQL Server failed",
                "install a certificate the console trusts on SQL Server, or set TrustServerCertificate=True"),
        "connect": (f"the ODBC driver could not connect to {facts.server}", _connect_hint(facts)),
        "query": ("SQL Server answered a check query with an error", "see the detail"),
        "kerberos": (f"no Kerberos ticket to log in to SQL Server ({facts.auth})", ""),
    }
    summary, default_hint = summaries[f.kind]
    if f.message == "cancelled":
        return _result("sql.connect", "skip", facts, "cancelled", with_db=False)
    return _result("sql.connect", "fail", facts, summary, f.message, f.hint or default_hint, with_db=False)


def _connect_hint(facts: SqlFacts) -> str:
    if facts.auth.startswith("Windows authentication (Kerberos"):
        return ("Integrated Security from Linux needs a Kerberos ticket (`kinit account@REALM`) or the account's "
                "password (give it, and the check logs in with NTLM through FreeTDS)")
    return ("if the connection string says Encrypt=True, SQL Server must offer TLS; otherwise check the host name "
            "and port")


def version_result(facts: SqlFacts, today: date | None = None) -> CheckResult:
    if facts.failure is not None:
        return _skipped("sql.version", facts, with_db=False)
    today = today or date.today()
    version, edition = facts.product_version, facts.edition
    if facts.engine_edition in (5, 8):
        return _result("sql.version", "pass", facts, f"Azure SQL ({edition}, {version}) is always current",
                       with_db=False)
    head = version.split(".", 1)[0]
    if not head.isdigit():
        return _result("sql.version", "warn", facts, f"SQL Server reported an unreadable version '{version}'",
                       hint="check that the server is SQL Server 2016 or newer", with_db=False)
    major = int(head)
    name, end = VERSIONS.get(major, (f"(major version {major})", None))
    described = f"SQL Server {name} ({version}, {edition})"
    if major < MIN_MAJOR:
        return _result("sql.version", "fail", facts, f"{described} is too old: Octopus needs SQL Server 2016 or newer",
                       hint="upgrade SQL Server, or use a server running SQL Server 2019 or newer", with_db=False)
    if end is not None and (end - today).days < SUPPORT_MARGIN_DAYS:
        when = (f"reached the end of Microsoft's extended support on {end.isoformat()}" if end <= today
                else f"leaves Microsoft's extended support on {end.isoformat()}")
        return _result("sql.version", "warn", facts, f"{described} {when}",
                       "Octopus supports SQL Server versions with at least two years of support remaining",
                       "plan an upgrade to SQL Server 2019 or newer; the installation can proceed", with_db=False)
    return _result("sql.version", "pass", facts, f"{described} is supported", with_db=False)


def is_case_insensitive(collation: str) -> bool:
    parts = collation.upper().split("_")
    return "CI" in parts and not any(p.startswith("BIN") for p in parts)


def collation_result(facts: SqlFacts, mode: Mode) -> CheckResult:
    if facts.failure is not None:
        return _skipped("sql.collation", facts)
    if not facts.database:
        return _result("sql.collation", "skip", facts, "not checked: the connection string names no database")
    if facts.database_exists:
        collation, whose = facts.database_collation or "", f"database {facts.database}"
    elif mode == "join":
        return _result("sql.collation", "skip", facts,
                       f"not checked: database {facts.database} does not exist (see sql.database)")
    else:
        collation, whose = facts.server_collation, f"the server (database {facts.database} will inherit it)"
    if is_case_insensitive(collation):
        return _result("sql.collation", "pass", facts, f"{whose} uses {collation}, which is case-insensitive")
    if facts.database_exists:
        hint = (f"recreate the database with a case-insensitive collation: CREATE DATABASE [{facts.database}] COLLATE "
                "SQL_Latin1_General_CP1_CI_AS (or ALTER DATABASE ... COLLATE while it is empty)")
    else:
        hint = (f"create the database yourself first: CREATE DATABASE [{facts.database}] COLLATE "
                "SQL_Latin1_General_CP1_CI_AS, and make the installing account its db_owner")
    return _result("sql.collation", "fail", facts,
                   f"{whose} uses {collation or '(unknown)'}, which is not case-insensitive",
                   "Octopus needs a case-insensitive (_CI_) collation", hint)


def permissions_result(facts: SqlFacts, mode: Mode) -> CheckResult:
    if facts.failure is not None:
        return _skipped("sql.permissions", facts)
    who, db = facts.login_name or facts.auth, facts.database
    if not db:
        return _result("sql.permissions", "skip", facts, "not checked: the connection string names no database")
    if facts.database_exists:
        if facts.open_failure is not None or not facts.is_db_owner:
            detail = facts.open_failure.message if facts.open_failure else f"{who} is a user of {db} but not db_owner"
            return _result("sql.permissions", "fail", facts, f"{who} is not db_owner of database {db}", detail,
                           f"make it db_owner: USE [{db}]; CREATE USER [{who}] FOR LOGIN [{who}]; ALTER ROLE "
                           f"db_owner ADD MEMBER [{who}]")
        return _result("sql.permissions", "pass", facts, f"{who} is db_owner of database {db}")
    if mode == "join":
        return _result("sql.permissions", "skip", facts,
                       f"not checked: database {db} does not exist (see sql.database)")
    if facts.can_create_database or facts.is_sysadmin or facts.is_dbcreator:
        how = "sysadmin" if facts.is_sysadmin else "dbcreator" if facts.is_dbcreator else "CREATE ANY DATABASE"
        return _result("sql.permissions", "pass", facts, f"{who} may create database {db} ({how})")
    return _result("sql.permissions", "fail", facts, f"{who} may not create database {db}",
                   "it has neither CREATE ANY DATABASE nor the dbcreator or sysadmin role",
                   f"grant it: ALTER SERVER ROLE dbcreator ADD MEMBER [{who}]; or create database {db} yourself and "
                   "make this account its db_owner")


def database_result(facts: SqlFacts, mode: Mode) -> CheckResult:
    if facts.failure is not None:
        return _skipped("sql.database", facts)
    db = facts.database
    if not db:
        return _result("sql.database", "fail", facts, "the connection string names no database",
                       hint="add Initial Catalog=<database name> to the connection string")
    nodes = ", ".join(facts.octopus_nodes) or "none registered yet"
    if not facts.database_exists:
        if mode == "create":
            return _result("sql.database", "pass", facts, f"database {db} does not exist yet; it will be created")
        return _result("sql.database", "fail", facts, f"database {db} does not exist",
                       "joining needs the existing cluster's database",
                       "check Initial Catalog (it must name the cluster's database), or choose to create a cluster")
    if facts.open_failure is not None:
        return _result("sql.database", "skip", facts,
                       f"not checked: database {db} exists but this login cannot open it (see sql.permissions)",
                       facts.open_failure.message)
    if mode == "create":
        if facts.is_octopus:
            return _result("sql.database", "fail", facts, f"database {db} already holds an Octopus cluster",
                           f"its nodes: {nodes}; creating a cluster here would take over its data",
                           "to add nodes to that cluster choose join mode; to create a new cluster name another "
                           "database in Initial Catalog")
        if facts.user_tables:
            return _result("sql.database", "fail", facts,
                           f"database {db} is not empty ({facts.user_tables} tables) and is not an Octopus database",
                           "Octopus needs a database of its own",
                           "name a new or empty database in Initial Catalog")
        return _result("sql.database", "pass", facts, f"database {db} exists and is empty; Octopus will use it")
    if facts.is_octopus:
        return _result("sql.database", "pass", facts, f"database {db} holds an Octopus cluster (nodes: {nodes})")
    what = "empty" if not facts.user_tables else f"holds {facts.user_tables} tables but no Octopus schema"
    return _result("sql.database", "fail", facts, f"database {db} is not an Octopus database ({what})",
                   "joining needs the database of an existing cluster",
                   "check Initial Catalog, or choose to create a cluster")


# --- the checks --------------------------------------------------------------------------------------------
def _timed(make: Callable[[], CheckResult], started: float) -> CheckResult:
    result = make()
    return replace(result, duration_ms=int((time.monotonic() - started) * 1000))


def check_connect(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
                  deadline_s: float = DEFAULT_DEADLINE_S, cancel: threading.Event | None = None) -> CheckResult:
    """``sql.connect``: the login succeeds (as ``identity`` with Integrated Security)."""
    started = time.monotonic()
    facts = probe(connection_string, identity, depth="login", deadline_s=deadline_s, cancel=cancel)
    return _timed(lambda: connect_result(facts), started)


def check_version(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
                  deadline_s: float = DEFAULT_DEADLINE_S, cancel: threading.Event | None = None,
                  today: date | None = None) -> CheckResult:
    """``sql.version``: SQL Server 2016 or newer; a warning when support ends within two years."""
    started = time.monotonic()
    facts = probe(connection_string, identity, depth="server", deadline_s=deadline_s, cancel=cancel)
    return _timed(lambda: version_result(facts, today), started)


def check_collation(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
                    mode: Mode = "create", deadline_s: float = DEFAULT_DEADLINE_S,
                    cancel: threading.Event | None = None) -> CheckResult:
    """``sql.collation``: the database's (or, before it exists, the server's) collation is case-insensitive."""
    started = time.monotonic()
    facts = probe(connection_string, identity, deadline_s=deadline_s, cancel=cancel)
    return _timed(lambda: collation_result(facts, mode), started)


def check_permissions(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
                      mode: Mode = "create", deadline_s: float = DEFAULT_DEADLINE_S,
                      cancel: threading.Event | None = None) -> CheckResult:
    """``sql.permissions``: db_owner of an existing database, or allowed to create it."""
    started = time.monotonic()
    facts = probe(connection_string, identity, deadline_s=deadline_s, cancel=cancel)
    return _timed(lambda: permissions_result(facts, mode), started)


def check_database(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
                   mode: Mode = "create", deadline_s: float = DEFAULT_DEADLINE_S,
                   cancel: threading.Event | None = None) -> CheckResult:
    """``sql.database``: create mode wants it absent or empty (never an Octopus one); join mode wants Octopus's."""
    started = time.monotonic()
    facts = probe(connection_string, identity, deadline_s=deadline_s, cancel=cancel)
    return _timed(lambda: database_result(facts, mode), started)


def check_sql(connection_string: ConnectionString | str, identity: SqlIdentity | None = None, *,
              mode: Mode = "create", deadline_s: float = DEFAULT_DEADLINE_S,
              cancel: threading.Event | None = None, today: date | None = None) -> list[CheckResult]:
    """All five SQL checks from one probe (two logins: master, then the database)."""
    started = time.monotonic()
    facts = probe(connection_string, identity, deadline_s=deadline_s, cancel=cancel)
    makers: list[Callable[[], CheckResult]] = [
        lambda: connect_result(facts), lambda: version_result(facts, today), lambda: collation_result(facts, mode),
        lambda: permissions_result(facts, mode), lambda: database_result(facts, mode),
    ]
    return [_timed(make, started) for make in makers]
