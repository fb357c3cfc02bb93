"""The lab's SQL Server with clients it was not written for: pytds, pymssql (its defaults) and FreeTDS ``tsql``.

pyodbc over Debian's FreeTDS is the engine's own client; these are independent implementations (pytds is
pure Python, pymssql bundles its own FreeTDS through DB-Library, ``tsql`` is FreeTDS's command line), so
what they get is what any tool an administrator points at the lab would get: transactions opened at
connect, PRINT messages, catalog views and system procedures answered from the lab's state, a clean
stream at TDS 7.0, and, for what the lab does not model, error 50001 saying so instead of an error a real
SQL Server would give for another reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pymssql
import pytds
import pytest

from octotui.lab import sqlserver
from octotui.lab.identity import Identity
from octotui.lab.state import Account, Directory, Login, OctopusNodeRow, SqlServerState, World
from octotui.lab.tds import TdsServer
from tests.fixtures.waiting import wait_until

SQL_PW = "Sql-Pa55"
ADMIN_PW = "Adm1n-Pa55"


@pytest.fixture
def world() -> World:
    directory = Directory(domain="WORK", dns_name="work.lab")
    directory.accounts["labadmin"] = Account(sam="labadmin", password=ADMIN_PW, domain_admin=True)
    directory.accounts["svcoctopus"] = Account(sam="svcOctopus", password=ADMIN_PW)
    sql = SqlServerState(host="127.0.0.1", version="15.0.4375.4", edition="Developer Edition (64-bit)")
    sql.logins["work\\labadmin"] = Login(name="WORK\\labadmin", server_roles=["sysadmin"])
    sql.logins["octo"] = Login(name="octo", kind="sql", password=SQL_PW, server_roles=["dbcreator"])
    sql.logins["admin"] = Login(name="admin", kind="sql", password=SQL_PW, server_roles=["sysadmin"])
    sql.logins["gone"] = Login(name="gone", kind="sql", password=SQL_PW, disabled=True)
    return World(directory=directory, sql=sql)


@pytest.fixture
def front(world: World, tmp_path: Any) -> Iterator[TdsServer]:
    server = TdsServer(world, host="127.0.0.1", port=0, ntlm_user_file=str(tmp_path / "ntlm_users"))
    server.start()
    world.sql.port = server.port
    try:
        yield server
    finally:
        server.stop()


def make_octopus_database(world: World, name: str = "OctopusDeploy") -> None:
    """What ``Octopus.Server.exe database --create`` leaves: a database octo created, with the schema."""
    cs = f"Data Source=127.0.0.1,{world.sql.port};Initial Catalog={name};User ID=octo;Password={SQL_PW}"
    session = sqlserver.connect(world, cs, Identity("octo", "interactive"), open_catalog=False)
    session.create_database(name)
    schema = session.install_schema("2025.3.1234", "master-key", name)
    with world.lock:
        schema.nodes["OCTO1"] = OctopusNodeRow(name="OCTO1")
    admin = sqlserver.connect(world, cs.replace("User ID=octo", "User ID=admin"), Identity("admin", "interactive"),
                              open_catalog=False)
    admin.grant_db_owner("WORK\\svcOctopus", name)


def mssql(front: TdsServer, user: str = "octo", **options: Any) -> Any:
    """pymssql as a user calls it: no autocommit (a transaction from the start), its default TDS version."""
    return pymssql.connect(server="127.0.0.1", port=str(front.port), user=user, password=SQL_PW,
                           login_timeout=5, timeout=10, **options)


def tds(front: TdsServer, user: str = "octo", **options: Any) -> Any:
    options.setdefault("autocommit", False)
    return pytds.connect("127.0.0.1", port=front.port, user=user, password=SQL_PW, database="master",
                         login_timeout=5, timeout=10, **options)


def scalar(conn: Any, query: str) -> Any:
    cur = conn.cursor()
    cur.execute(query)
    rows = cur.fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def rows_of(conn: Any, query: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(query)
    return [tuple(r) for r in cur.fetchall()]


def columns_of(conn: Any, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = conn.cursor()
    cur.execute(query)
    rows = [tuple(r) for r in cur.fetchall()]
    return [d[0] for d in cur.description], rows


def tsql_path() -> str:
    path = shutil.which("tsql")
    if path is None:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail("FreeTDS tsql is missing in CI (Debian package freetds-bin, scripts/setup.sh)",
                        pytrace=False)
        pytest.skip("FreeTDS tsql is not installed (Debian package freetds-bin)")
    return path


def run_tsql(front: TdsServer, script: str, tds_version: str = "7.4") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TDSVER=tds_version)
    env.pop("TDSDUMP", None)
    return subprocess.run([tsql_path(), "-H", "127.0.0.1", "-p", str(front.port), "-U", "octo", "-P", SQL_PW],
                          input=script + "exit\n", capture_output=True, text=True, timeout=30, env=env, check=False)


# --- transactions at connect ------------------------------------------------------------------------------
def test_pymssql_with_its_defaults_connects_and_works_in_a_transaction(front: TdsServer) -> None:
    conn = mssql(front)  # sends BEGIN TRAN at connect and after each commit
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1
    conn.commit()
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1  # pymssql opened the next one
    conn.rollback()
    assert scalar(conn, "SELECT SUSER_SNAME()") == "octo"
    conn.close()


def test_create_database_inside_pymssqls_transaction_is_refused_as_sql_server_does(
        front: TdsServer, world: World) -> None:
    conn = mssql(front)
    with pytest.raises(pymssql.OperationalError) as err:
        conn.cursor().execute("CREATE DATABASE Made")
    assert err.value.args[0] == 226
    assert world.sql.database("Made") is None
    conn.autocommit(True)
    conn.cursor().execute("CREATE DATABASE Made")
    assert world.sql.database("Made") is not None


def test_transactions_in_sql_move_trancount_and_tell_pytds(front: TdsServer) -> None:
    conn = tds(front, autocommit=True)  # a pytds cursor closes when the next one runs: one per statement
    conn.cursor().execute("BEGIN TRANSACTION; BEGIN TRAN inner_one")
    assert scalar(conn, "SELECT @@TRANCOUNT") == 2
    conn.cursor().execute("COMMIT")
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1
    conn.cursor().execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
    assert scalar(conn, "SELECT @@TRANCOUNT") == 0
    conn.cursor().execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")  # nothing to roll back: the guard skips it
    with pytest.raises(pytds.Error) as err:
        conn.cursor().execute("COMMIT TRAN")
    assert err.value.msg_no == 3902


def test_a_rollback_in_sql_ends_pytds_transaction_through_envchange(front: TdsServer) -> None:
    conn = tds(front)  # autocommit off: pytds begins through the transaction manager
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1
    conn.cursor().execute("ROLLBACK")
    # pytds saw ENVCHANGE 10, so it knows the transaction ended and opens a new one for the next query;
    # without it pytds would think it still had one and this would count 0.
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1
    conn.commit()
    conn.rollback()
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1


def test_connect_time_settings_and_session_functions_answer(front: TdsServer) -> None:
    conn = mssql(front, autocommit=True)
    cur = conn.cursor()
    cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SET XACT_ABORT ON; SET DATEFORMAT mdy; "
                "SET LOCK_TIMEOUT 5000; SET IMPLICIT_TRANSACTIONS OFF")
    row = rows_of(conn, "SELECT @@SPID, @@TRANCOUNT, DB_NAME(), SCHEMA_NAME(), SUSER_SNAME(), "
                        "IS_SRVROLEMEMBER('dbcreator'), IS_SRVROLEMEMBER('sysadmin'), @@SERVICENAME")[0]
    assert row[0] >= 51 and row[1:] == (0, "master", "dbo", "octo", 1, 0, "MSSQLSERVER")
    assert rows_of(conn, "SELECT @@LOCK_TIMEOUT, @@DATEFIRST") == [(5000, 7)]


def test_implicit_transactions_open_one_at_the_first_select_from_a_table(front: TdsServer) -> None:
    conn = tds(front, autocommit=True)
    conn.cursor().execute("SET IMPLICIT_TRANSACTIONS ON")
    assert scalar(conn, "SELECT @@TRANCOUNT") == 0
    rows_of(conn, "SELECT name FROM sys.databases")
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1


# --- PRINT --------------------------------------------------------------------------------------------------
def test_print_reaches_the_client_as_a_message(front: TdsServer) -> None:
    conn = tds(front, autocommit=True)
    cur = conn.cursor()
    cur.execute("PRINT 'checking ' ; PRINT N'the lab'")
    texts = [str(exc) for _, exc in cur.messages or []]
    assert any("checking" in t for t in texts) and any("the lab" in t for t in texts), texts
    result = run_tsql(front, "PRINT 'hello from tsql'\ngo\nSELECT 7 AS seven\ngo\n")
    assert "hello from tsql" in result.stderr + result.stdout
    assert "seven\n7" in result.stdout


# --- what the lab does not model ----------------------------------------------------------------------------
def test_what_the_lab_does_not_model_is_error_50001_naming_the_statement(front: TdsServer) -> None:
    conn = mssql(front, autocommit=True)
    for statement in ("SELECT name FROM sys.objects", "EXEC sp_lock", "SELECT SYSDATETIME()",
                      "WAITFOR DELAY '00:00:01'", "SELECT name FROM sys.databases WHERE name LIKE 'm%'",
                      "DBCC CHECKDB"):
        with pytest.raises(pymssql.OperationalError) as err:
            conn.cursor().execute(statement)
        number, text = err.value.args[0], err.value.args[1].decode()
        assert number == 50001, (statement, text)
        assert f"The octotui lab does not model this statement: {statement}" in text
    assert scalar(conn, "SELECT 1") == 1  # the connection survives
    result = run_tsql(front, "EXEC sp_helpfile\ngo\n")
    assert "Msg 50001 (severity 16" in result.stderr + result.stdout
    assert "does not model this statement: EXEC sp_helpfile" in result.stderr + result.stdout


def test_a_missing_table_in_a_database_the_lab_models_fully_is_still_208(front: TdsServer) -> None:
    conn = mssql(front, autocommit=True)
    with pytest.raises(pymssql.ProgrammingError) as err:
        conn.cursor().execute("SELECT Name FROM dbo.OctopusServerNode")
    assert err.value.args[0] == 208  # master has no Octopus tables, in the lab as on a real server


# --- catalog views and procedures ---------------------------------------------------------------------------
def test_server_principals_and_role_members_follow_the_logins(front: TdsServer, world: World) -> None:
    conn = tds(front, user="admin", autocommit=True)
    principals = rows_of(conn, "SELECT name, type_desc, is_disabled FROM sys.server_principals "
                               "WHERE type_desc = 'SQL_LOGIN'")
    assert sorted(principals) == [("admin", "SQL_LOGIN", False), ("gone", "SQL_LOGIN", True),
                                  ("octo", "SQL_LOGIN", False)]
    octo_id = scalar(conn, "SELECT principal_id FROM sys.server_principals WHERE name = 'octo'")
    dbcreator_id = scalar(conn, "SELECT principal_id FROM sys.server_principals WHERE name = 'dbcreator'")
    roles = rows_of(conn, f"SELECT role_principal_id FROM sys.server_role_members "
                          f"WHERE member_principal_id = {octo_id}")
    assert roles == [(dbcreator_id,)]
    with world.lock:
        world.sql.logins["octo"].server_roles.append("sysadmin")
    assert len(rows_of(conn, f"SELECT role_principal_id FROM sys.server_role_members "
                             f"WHERE member_principal_id = {octo_id}")) == 2
    assert scalar(conn, "SELECT IS_SRVROLEMEMBER('sysadmin', 'octo')") == 1


def test_database_principals_show_the_octopus_database_users(front: TdsServer, world: World) -> None:
    make_octopus_database(world)
    conn = mssql(front, user="admin", autocommit=True, database="OctopusDeploy")
    users = rows_of(conn, "SELECT name, type_desc FROM sys.database_principals WHERE type_desc = 'WINDOWS_USER'")
    assert users == [("WORK\\svcOctopus", "WINDOWS_USER")]
    user_id = scalar(conn, "SELECT principal_id FROM sys.database_principals WHERE name = 'WORK\\svcOctopus'")
    owner_role = scalar(conn, "SELECT principal_id FROM sys.database_principals WHERE name = 'db_owner'")
    members = rows_of(conn, f"SELECT role_principal_id FROM sys.database_role_members "
                            f"WHERE member_principal_id = {user_id}")
    assert members == [(owner_role,)]
    rows = rows_of(conn, "SELECT name, compatibility_level, recovery_model_desc FROM sys.databases "
                         "WHERE name = 'OctopusDeploy'")
    assert rows == [("OctopusDeploy", 150, "FULL")]


def test_sp_who_lists_the_open_sessions(front: TdsServer) -> None:
    admin = mssql(front, user="admin", autocommit=True)
    other = tds(front, autocommit=True)
    # The server finishes registering a session just after its LOGINACK has left, so wait for it to show.
    wait_until(lambda: sorted(r[3] for r in rows_of(admin, "EXEC sp_who")) == ["admin", "octo"],
               what="sp_who lists both the pymssql and the pytds session")
    names, rows = columns_of(admin, "EXEC sp_who")
    assert names[:4] == ["spid", "ecid", "status", "loginame"] and "dbname" in names
    mine = [r for r in rows if r[names.index("spid")] == scalar(admin, "SELECT @@SPID")]
    assert mine[0][names.index("status")] == "runnable"
    other.close()  # the server notices the hang-up on its own thread
    wait_until(lambda: [r[3] for r in rows_of(admin, "EXEC sp_who")] == ["admin"],
               what="sp_who no longer lists the closed pytds session")
    assert rows_of(admin, "EXEC sp_who @loginame = 'nobody'") == []
    result = run_tsql(front, "EXEC sp_who 'octo'\ngo\n")  # a procedure's own return status, as on SQL Server
    assert "\tocto\t" in result.stdout and "(return status = 0)" in result.stdout, result.stdout + result.stderr


def test_sp_helpdb_and_sp_databases_list_the_databases(front: TdsServer, world: World) -> None:
    make_octopus_database(world)
    admin = mssql(front, user="admin", autocommit=True)
    names, rows = columns_of(admin, "EXEC sp_helpdb")
    assert names == ["name", "db_size", "owner", "dbid", "created", "status", "compatibility_level"]
    by_name = {r[0]: r for r in rows}
    assert set(by_name) == {"master", "tempdb", "model", "msdb", "OctopusDeploy"}
    assert by_name["OctopusDeploy"][2] == "octo" and "Collation=SQL_Latin1_General_CP1_CI_AS" in by_name[
        "OctopusDeploy"][5]
    assert [r[0] for r in rows_of(admin, "EXEC sp_helpdb master")] == ["master"]  # a bare word is a string
    with pytest.raises(pymssql.OperationalError) as err:
        admin.cursor().execute("EXEC sp_helpdb 'Nope'")
    assert err.value.args[0] == 15010
    octo = tds(front, autocommit=True)
    cur = octo.cursor()
    cur.callproc("sp_databases", ())  # by RPC, as callproc sends it
    assert [r[0] for r in cur.fetchall()] == ["master", "msdb", "OctopusDeploy", "tempdb"]


# --- TDS 7.0 and the version banner -------------------------------------------------------------------------
def test_tds_70_clients_get_a_stream_they_can_read(front: TdsServer) -> None:
    # TDS 7.0 has no collation in NVARCHAR's type info (7.1 added it): FreeTDS read those bytes as data.
    conn = mssql(front, tds_version="7.0", autocommit=True)
    row = rows_of(conn, "SELECT SUSER_SNAME(), DB_NAME(), CAST(SERVERPROPERTY('Collation') AS nvarchar(128))")[0]
    assert row == ("octo", "master", "SQL_Latin1_General_CP1_CI_AS")
    assert [r[0] for r in rows_of(conn, "SELECT name FROM sys.databases ORDER BY name")] == [
        "master", "model", "msdb", "tempdb"]
    result = run_tsql(front, "SELECT name FROM sys.databases WHERE name = 'msdb'\ngo\n", tds_version="7.0")
    assert "name\nmsdb\n" in result.stdout, result.stdout + result.stderr


def test_tds_70_parameters_arrive_without_a_collation(front: TdsServer) -> None:
    # pytds sends a parameterised query as sp_executesql by RPC; at 7.0 its NVARCHAR values have no collation.
    conn = tds(front, autocommit=True, tds_version=pytds.tds_base.TDS70)
    cur = conn.cursor()
    cur.execute("SELECT SUSER_SNAME() AS who, %s AS echoed", ("it's 7.0",))
    assert [tuple(r) for r in cur.fetchall()] == [("octo", "it's 7.0")]


def test_pymssql_defaults_at_tds_70_keep_their_transaction_in_sql(front: TdsServer) -> None:
    conn = mssql(front, tds_version="7.0")  # BEGIN TRAN in SQL; no ENVCHANGE 8-10 before TDS 7.2
    assert rows_of(conn, "SELECT @@TRANCOUNT, SUSER_SNAME()") == [(1, "octo")]
    conn.commit()
    conn.rollback()
    assert scalar(conn, "SELECT @@TRANCOUNT") == 1


def test_the_version_names_the_cumulative_update(front: TdsServer) -> None:
    conn = mssql(front, autocommit=True)
    banner = scalar(conn, "SELECT @@VERSION")
    assert banner.startswith("Microsoft SQL Server 2019 (RTM-CU27) - 15.0.4375.4 (X64)")
    row = rows_of(conn, "SELECT CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(20)), "
                        "CAST(SERVERPROPERTY('ProductUpdateLevel') AS nvarchar(20))")[0]
    assert row == ("RTM", "CU27")
