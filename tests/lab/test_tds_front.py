"""The lab's TDS front with the real client stack: pyodbc -> unixODBC -> FreeTDS (Debian tdsodbc).

SQL logins and Windows logins (NTLM, as FreeTDS sends for ``DOMAIN\\user``) are accepted or refused with
SQL Server's numbers and words, and the preflight's queries are answered from the world's SQL Server
state, which the tests change through ``octotui.lab.sqlserver`` as the simulated Octopus would. The query
texts below are written out here (the lab never imports the engine); they are the ones the engine's SQL
checks send.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from octotui.lab import sqlserver
from octotui.lab.identity import Identity
from octotui.lab.state import Account, Directory, Login, OctopusNodeRow, SqlServerState, World
from octotui.lab.tds import TdsServer

ADMIN_PW = "Adm1n;pa}ss"  # ';' and '}' exercise FreeTDS 1.3's brace rules on the way in
SVC_PW = "Svc-Pa55word!"
SQL_PW = "Sql-Pa55"

SERVER_QUERY = ("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version, "
                "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, "
                "CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, "
                "CAST(SERVERPROPERTY('Collation') AS nvarchar(128)) AS server_collation, "
                "CAST(@@VERSION AS nvarchar(300)) AS version_text")
LOGIN_QUERY = ("SELECT SUSER_SNAME() AS login_name, "
               "CAST(IS_SRVROLEMEMBER('sysadmin') AS int) AS is_sysadmin, "
               "CAST(IS_SRVROLEMEMBER('dbcreator') AS int) AS is_dbcreator, "
               "CAST(HAS_PERMS_BY_NAME(NULL, NULL, 'CREATE ANY DATABASE') AS int) AS can_create_any_db")
DATABASE_QUERY = ("SELECT DB_ID(?) AS database_id, "
                  "CAST(DATABASEPROPERTYEX(?, 'Collation') AS nvarchar(128)) AS collation_name")
IN_DATABASE_QUERY = ("SELECT CAST(IS_ROLEMEMBER('db_owner') AS int) AS is_db_owner, USER_NAME() AS db_user, "
                     "OBJECT_ID(N'dbo.OctopusServerNode', N'U') AS node_table")
USER_TABLES_QUERY = "SELECT COUNT(*) AS user_tables FROM sys.tables WHERE is_ms_shipped = 0"
NODES_QUERY = "SELECT Name FROM dbo.OctopusServerNode ORDER BY Name"


def build_world() -> World:
    directory = Directory(domain="WORK", dns_name="work.lab")
    directory.accounts["labadmin"] = Account(sam="labadmin", password=ADMIN_PW, domain_admin=True)
    directory.accounts["svcoctopus"] = Account(sam="svcOctopus", password=SVC_PW)
    directory.accounts["svcdisabled"] = Account(sam="svcDisabled", password=SVC_PW, enabled=False)
    sql = SqlServerState(host="127.0.0.1", version="15.0.4375.4", edition="Developer Edition (64-bit)")
    sql.logins["work\\labadmin"] = Login(name="WORK\\labadmin", server_roles=["sysadmin"])
    sql.logins["work\\svcdisabled"] = Login(name="WORK\\svcDisabled")
    sql.logins["octo"] = Login(name="octo", kind="sql", password=SQL_PW, server_roles=["dbcreator"])
    sql.logins["plain"] = Login(name="plain", kind="sql", password=SQL_PW)
    return World(directory=directory, sql=sql)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world()
    store = tmp_path / "ntlm_users"
    store.write_text("".join(f"WORK:{a.sam}:{a.password}\n:{a.sam}:{a.password}\n"
                             for a in w.directory.accounts.values()), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:  # pyspnego reads NTLM_USER_FILE; restore it for other tests
        mp.setenv("NTLM_USER_FILE", str(store))
        yield w


@pytest.fixture
def front(world: World) -> Iterator[TdsServer]:
    server = TdsServer(world, host="127.0.0.1", port=0, ntlm_user_file=None)
    server.start()
    world.sql.port = server.port
    try:
        yield server
    finally:
        server.stop()


def odbc(front: TdsServer, user: str, password: str, database: str = "master") -> str:
    return (f"DRIVER={{FreeTDS}};SERVER=127.0.0.1;PORT={front.port};TDS_Version=7.4;DATABASE={database};"
            f"UID={user};PWD={{{password}}};")


def connect(front: TdsServer, user: str, password: str, database: str = "master") -> Any:
    return pyodbc.connect(odbc(front, user, password, database), timeout=5, autocommit=True)


def one(conn: Any, query: str, *params: object) -> Any:
    rows = conn.cursor().execute(query, *params).fetchall()
    assert len(rows) == 1
    return rows[0]


def make_octopus_database(world: World, name: str = "OctopusDeploy", *, octopus: bool = True,
                          owner: str | None = None) -> None:
    """What the first node's ``Octopus.Server.exe database --create`` leaves behind."""
    cs = f"Data Source=127.0.0.1,{world.sql.port};Initial Catalog={name};Integrated Security=True"
    session = sqlserver.connect(world, cs, Identity("WORK\\labadmin", "delegated"), open_catalog=False)
    session.create_database(name)
    if octopus:
        schema = session.install_schema("2025.3.1234", "master-key", name)
        with world.lock:
            schema.nodes["OCTO2"] = OctopusNodeRow(name="OCTO2")
            schema.nodes["OCTO1"] = OctopusNodeRow(name="OCTO1")
    if owner:
        session.grant_db_owner(owner, name)


# --- logins -------------------------------------------------------------------------------------------------
def test_sql_login_is_accepted_and_sees_the_server(front: TdsServer) -> None:
    conn = connect(front, "octo", SQL_PW)
    row = one(conn, SERVER_QUERY)
    assert row.product_version == "15.0.4375.4"
    assert row.edition == "Developer Edition (64-bit)"
    assert row.engine_edition == 3
    assert row.server_collation == "SQL_Latin1_General_CP1_CI_AS"
    assert row.version_text.startswith("Microsoft SQL Server 2019 (RTM-CU27) - 15.0.4375.4")
    login = one(conn, LOGIN_QUERY)
    flags = (login.login_name, login.is_sysadmin, login.is_dbcreator, login.can_create_any_db)
    assert flags == ("octo", 0, 1, 1)
    assert one(conn, "SELECT DB_NAME() AS db").db == "master"


def test_sql_login_with_a_wrong_password_gets_18456(front: TdsServer) -> None:
    with pytest.raises(pyodbc.Error) as err:
        connect(front, "octo", "wrong")
    assert "Login failed for user 'octo'. (18456)" in str(err.value)
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'nobody'\. \(18456\)"):
        connect(front, "nobody", SQL_PW)


def test_windows_login_over_ntlm_is_the_account_itself(front: TdsServer) -> None:
    conn = connect(front, "WORK\\labadmin", ADMIN_PW)
    login = one(conn, LOGIN_QUERY)
    assert (login.login_name, login.is_sysadmin, login.can_create_any_db) == ("WORK\\labadmin", 1, 1)


def test_windows_login_with_a_wrong_password_is_refused(front: TdsServer) -> None:
    with pytest.raises(pyodbc.Error) as err:
        connect(front, "WORK\\labadmin", "not-the-password")
    assert ("Login failed. The login is from an untrusted domain and cannot be used with Integrated "
            "authentication. (18452)") in str(err.value)


def test_disabled_account_is_refused_by_the_domain(front: TdsServer) -> None:
    with pytest.raises(pyodbc.Error, match=r"untrusted domain.*\(18452\)"):
        connect(front, "WORK\\svcDisabled", SVC_PW)


def test_windows_account_without_a_sql_login_gets_18456(front: TdsServer) -> None:
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'WORK\\\\svcOctopus'\. \(18456\)"):
        connect(front, "WORK\\svcOctopus", SVC_PW)


# --- databases ----------------------------------------------------------------------------------------------
def test_unknown_database_at_login_fails_like_sql_server(front: TdsServer) -> None:
    # FreeTDS shows the 18456 that follows SQL Server's 4060; the wire carries both (see the raw test below).
    with pytest.raises(pyodbc.Error, match=r"Login failed for user 'octo'\. \(18456\)"):
        connect(front, "octo", SQL_PW, database="NoSuchDb")
    errors = raw_login_errors(front.port, "octo", SQL_PW, "NoSuchDb")
    assert errors == [(4060, 11, 'Cannot open database "NoSuchDb" requested by the login. The login failed.'),
                      (18456, 14, "Login failed for user 'octo'.")]


def test_database_queries_follow_the_world(front: TdsServer, world: World) -> None:
    admin = connect(front, "WORK\\labadmin", ADMIN_PW)
    assert tuple(one(admin, DATABASE_QUERY, "OctopusDeploy", "OctopusDeploy")) == (None, None)
    make_octopus_database(world, owner="WORK\\svcOctopus")
    db_id, collation = one(admin, DATABASE_QUERY, "OctopusDeploy", "OctopusDeploy")
    assert db_id is not None and db_id > 4 and collation == "SQL_Latin1_General_CP1_CI_AS"
    assert tuple(one(admin, DATABASE_QUERY, "master", "master")) == (1, "SQL_Latin1_General_CP1_CI_AS")

    svc = connect(front, "WORK\\svcOctopus", SVC_PW, database="OctopusDeploy")
    inside = one(svc, IN_DATABASE_QUERY)
    assert inside.is_db_owner == 1 and inside.db_user == "WORK\\svcOctopus" and inside.node_table is not None
    assert one(svc, USER_TABLES_QUERY).user_tables > 0
    assert [r.Name for r in svc.cursor().execute(NODES_QUERY).fetchall()] == ["OCTO1", "OCTO2"]
    svc_login = one(svc, LOGIN_QUERY)
    assert (svc_login.is_sysadmin, svc_login.is_dbcreator, svc_login.can_create_any_db) == (0, 0, 0)


def test_an_empty_database_is_empty_and_not_octopus(front: TdsServer, world: World) -> None:
    make_octopus_database(world, "Fresh", octopus=False)
    conn = connect(front, "WORK\\labadmin", ADMIN_PW, database="Fresh")
    inside = one(conn, IN_DATABASE_QUERY)
    assert (inside.is_db_owner, inside.db_user, inside.node_table) == (1, "dbo", None)
    assert one(conn, USER_TABLES_QUERY).user_tables == 0
    with pytest.raises(pyodbc.Error, match=r"Invalid object name 'dbo\.octopusservernode'\. \(208\)"):
        conn.cursor().execute(NODES_QUERY)


def test_a_login_without_a_user_in_the_database_is_refused_there(front: TdsServer, world: World) -> None:
    make_octopus_database(world)
    with pytest.raises(pyodbc.Error, match=r"\(18456\)"):
        connect(front, "octo", SQL_PW, database="OctopusDeploy")
    conn = connect(front, "octo", SQL_PW)
    with pytest.raises(pyodbc.Error) as err:
        conn.cursor().execute("USE [OctopusDeploy]")
    assert ('The server principal "octo" is not able to access the database "OctopusDeploy" under the '
            'current security context. (916)') in str(err.value)
    with pytest.raises(pyodbc.Error, match=r"Database 'Nope' does not exist.*\(911\)"):
        conn.cursor().execute("USE Nope")
    assert one(conn, "SELECT CAST(IS_ROLEMEMBER('db_owner') AS int) AS o").o == 0


def test_use_switches_database_for_an_owner(front: TdsServer, world: World) -> None:
    make_octopus_database(world)
    conn = connect(front, "WORK\\labadmin", ADMIN_PW)
    conn.cursor().execute("USE [OctopusDeploy]")
    assert one(conn, "SELECT DB_NAME() AS db").db == "OctopusDeploy"
    assert one(conn, IN_DATABASE_QUERY).node_table is not None


def test_create_database_needs_permission(front: TdsServer, world: World) -> None:
    plain = connect(front, "plain", SQL_PW)
    assert one(plain, LOGIN_QUERY).can_create_any_db == 0
    with pytest.raises(pyodbc.Error) as err:
        plain.cursor().execute("CREATE DATABASE [Made]")
    assert "CREATE DATABASE permission denied in database 'master'. (262)" in str(err.value)
    octo = connect(front, "octo", SQL_PW)
    octo.cursor().execute("CREATE DATABASE [Made] COLLATE Latin1_General_CS_AS")
    with world.lock:
        made = world.sql.database("Made")
        assert made is not None and made.owners == ["octo"] and made.collation == "Latin1_General_CS_AS"
    assert one(octo, DATABASE_QUERY, "Made", "Made").collation_name == "Latin1_General_CS_AS"


# --- the rest of the conversation ---------------------------------------------------------------------------
def test_connect_time_chatter_and_transactions(front: TdsServer) -> None:
    conn = pyodbc.connect(odbc(front, "octo", SQL_PW), timeout=5)  # autocommit off: FreeTDS sends BEGIN
    cur = conn.cursor()
    cur.execute("SET NOCOUNT ON; SET TEXTSIZE 2147483647; SET ANSI_NULLS ON")
    assert one(conn, "SELECT @@SPID AS spid, @@SERVERNAME AS name").spid >= 51
    conn.commit()
    conn.rollback()
    conn.close()


def test_column_types_reach_python_as_their_own_types(front: TdsServer) -> None:
    conn = connect(front, "octo", SQL_PW)
    row = one(conn, "SELECT CAST(1 AS bit) AS b, CAST(5000000000 AS bigint) AS big, CAST(7 AS int) AS i, "
                    "N'ü€' AS s, CAST(NULL AS int) AS n, ? AS p", "it's")
    assert (row.b, row.big, row.i, row.s, row.n, row.p) == (True, 5000000000, 7, "ü€", None, "it's")
    names = [r.name for r in conn.cursor().execute("SELECT name FROM sys.databases WHERE name = ?", "MSDB")]
    assert names == ["msdb"]


def test_anything_else_is_a_clear_error(front: TdsServer) -> None:
    conn = connect(front, "octo", SQL_PW)
    with pytest.raises(pyodbc.Error, match=r"octotui lab does not model this statement: .*\(50001\)"):
        conn.cursor().execute("SELECT name FROM sys.objects WHERE type = 'U' OR 1 = 1")
    with pytest.raises(pyodbc.Error, match=r"does not model this statement: EXEC sp_lock .*\(50001\)"):
        conn.cursor().execute("EXEC sp_lock")
    assert one(conn, "SELECT 1 AS still_alive").still_alive == 1  # the connection survives errors


def test_stop_drops_connections(front: TdsServer) -> None:
    conn = connect(front, "octo", SQL_PW)
    front.stop()
    with pytest.raises(pyodbc.Error):
        conn.cursor().execute("SELECT 1 AS x").fetchall()
    with pytest.raises(pyodbc.Error):
        connect(front, "octo", SQL_PW)


# --- a raw client, to see every error token SQL Server sends at login (FreeTDS shows only one) --------------
def _packet(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBHHBB", kind, 1, len(payload) + 8, 0, 1, 0) + payload


def _read_message(sock: socket.socket) -> bytes:
    body = b""
    while True:
        header = b""
        while len(header) < 8:
            chunk = sock.recv(8 - len(header))
            assert chunk, "server closed the connection"
            header += chunk
        _, status, length, _, _, _ = struct.unpack(">BBHHBB", header)
        need = length - 8
        while need:
            chunk = sock.recv(need)
            assert chunk
            body += chunk
            need -= len(chunk)
        if status & 1:
            return body


def _login7(user: str, password: str, database: str) -> bytes:
    def scramble(text: str) -> bytes:
        return bytes((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5 for b in text.encode("utf-16-le"))

    fields = [("rawhost", b""), ("u", user.encode("utf-16-le")), ("p", scramble(password)), ("app", b""),
              ("srv", b""), ("ext", b""), ("lib", b""), ("lang", b""), ("db", database.encode("utf-16-le"))]
    offset, table, data = 94, b"", b""
    for _, raw in fields:
        table += struct.pack("<HH", offset + len(data), len(raw) // 2)
        data += raw
    fixed = struct.pack("<IIIIII", 0, 0x74000004, 4096, 7, 1, 0) + bytes([0xE0, 0x03, 0, 0])
    fixed += struct.pack("<ii", 0, 0x409)
    end = offset + len(data)
    # ClientID, then empty SSPI, attach-file and change-password fields, and cbSSPILong
    tail = b"\x00" * 6 + struct.pack("<HHHHHHI", end, 0, end, 0, end, 0, 0)
    body = fixed + table + tail + data
    return struct.pack("<I", len(body)) + body[4:]


def raw_login_errors(port: int, user: str, password: str, database: str) -> list[tuple[int, int, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        prelogin = bytes([0, 0, 6, 0, 1, 0xFF]) + bytes([15, 0, 0, 0, 0, 0])
        sock.sendall(_packet(0x12, prelogin))
        _read_message(sock)
        sock.sendall(_packet(0x10, _login7(user, password, database)))
        reply = _read_message(sock)
    errors, pos = [], 0
    while pos < len(reply):
        token = reply[pos]
        if token in (0xAA, 0xAB, 0xE3, 0xAD):
            (length,) = struct.unpack_from("<H", reply, pos + 1)
            if token == 0xAA:
                number, _state, severity, chars = struct.unpack_from("<iBBH", reply, pos + 3)
                text = reply[pos + 11:pos + 11 + 2 * chars].decode("utf-16-le")
                errors.append((number, severity, text))
            pos += 3 + length
        elif token == 0xFD:
            assert struct.unpack_from("<H", reply, pos + 1)[0] & 0x02  # DONE_ERROR
            pos += 13
        else:
            raise AssertionError(f"unexpected token 0x{token:02X}")
    return errors
