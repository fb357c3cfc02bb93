"""The SQL preflight checks against the lab's TDS front, through the real pyodbc + unixODBC + FreeTDS.

Each check id has its pass and each distinct failure here; what cannot happen on this machine for real
(unixODBC missing) is simulated at the import, and what the lab does not model (a database holding other
applications' tables) is fed to the pure result functions.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from octotui.checks import odbc
from octotui.checks import sql as checks
from octotui.checks.odbc import Credentials, MappingError, OdbcDriver, odbc_quote, to_odbc
from octotui.checks.result import CheckResult
from octotui.checks.sql import SqlFacts, SqlIdentity
from octotui.lab import sqlserver
from octotui.lab.identity import Identity
from octotui.lab.state import Account, Directory, Login, OctopusNodeRow, SqlServerState, World
from octotui.lab.tds import TdsServer
from octotui.spec.parsers.accounts import parse_account
from octotui.spec.parsers.connstr import parse_connection_string

ADMIN = SqlIdentity("WORK\\labadmin", "Adm1n-Pa55word")
SVC = SqlIdentity("WORK\\svcOctopus", "Svc;Pa55}word")
READER = SqlIdentity("WORK\\svcReader", "Reader-Pa55")
TODAY = date(2026, 11, 29)
ROOT = Path(__file__).resolve().parents[2]


def build_world() -> World:
    directory = Directory(domain="WORK", dns_name="work.lab")
    for ident in (ADMIN, SVC, READER):
        sam = ident.username.split("\\")[1]
        directory.accounts[sam.lower()] = Account(sam=sam, password=ident.password)
    sql = SqlServerState(host="127.0.0.1", version="15.0.4375.4", edition="Developer Edition (64-bit)")
    sql.logins["work\\labadmin"] = Login(name="WORK\\labadmin", server_roles=["sysadmin"])
    sql.logins["work\\svcreader"] = Login(name="WORK\\svcReader")
    sql.logins["octo"] = Login(name="octo", kind="sql", password="Sql-Pa55", server_roles=["dbcreator"])
    return World(directory=directory, sql=sql)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world()
    store = tmp_path / "ntlm_users"
    store.write_text("".join(f"WORK:{a.sam}:{a.password}\n" for a in w.directory.accounts.values()),
                     encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:  # pyspnego's acceptor reads it; put the old one back afterwards
        mp.setenv("NTLM_USER_FILE", str(store))
        yield w


@pytest.fixture
def front(world: World) -> Iterator[TdsServer]:
    server = TdsServer(world)
    server.start()
    world.sql.port = server.port
    try:
        yield server
    finally:
        server.stop()


def cs_for(front: TdsServer, database: str = "OctopusDeploy", extra: str = "Integrated Security=True") -> str:
    return f"Data Source=127.0.0.1,{front.port};Initial Catalog={database};{extra}"


def make_database(world: World, name: str = "OctopusDeploy", *, octopus: bool = False,
                  owner: str | None = None, collation: str | None = None) -> None:
    """As the lab's Octopus.Server.exe would leave it (through the lab's SQL Server rules)."""
    cs = f"Data Source=127.0.0.1;Initial Catalog={name};Integrated Security=True"
    session = sqlserver.connect(world, cs, Identity("WORK\\labadmin", "delegated"), open_catalog=False)
    db = session.create_database(name)
    if collation:
        with world.lock:
            db.collation = collation
    if octopus:
        schema = session.install_schema("2025.3.1234", "master-key", name)
        with world.lock:
            schema.nodes["OCTO1"] = OctopusNodeRow(name="OCTO1")
            schema.nodes["OCTO2"] = OctopusNodeRow(name="OCTO2")
    if owner:
        session.grant_db_owner(owner, name)


def assert_actionable(result: CheckResult) -> None:
    assert result.summary and result.hint, result


# --- sql.connect -----------------------------------------------------------------------------------------------
def test_connect_passes_as_the_windows_identity_given(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front), ADMIN)
    assert (result.id, result.status) == ("sql.connect", "pass")
    assert "as WORK\\labadmin" in result.summary
    assert "FreeTDS" in result.detail and result.target == f"127.0.0.1,{front.port}"
    assert ADMIN.password not in json.dumps(result.to_json())


def test_connect_passes_with_a_sql_login_and_an_awkward_password(front: TdsServer, world: World) -> None:
    for password in ("p;w", "p}w", "p{w", "ends}", "a'b\"c", " lead and trail ", "x=y", "ümlaut€"):
        with world.lock:
            world.sql.logins["octo"].password = password
        quoted = '"' + password.replace('"', '""') + '"'
        result = checks.check_connect(cs_for(front, extra=f"User ID=octo;Password={quoted}"))
        assert result.status == "pass", (password, result)
        assert "as octo" in result.summary


def test_connect_fails_on_a_wrong_windows_password(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front), SqlIdentity("WORK\\labadmin", "wrong"))
    assert result.status == "fail"
    assert "refused the Windows credentials" in result.summary and "WORK\\labadmin" in result.summary
    assert "18452" not in result.summary and "untrusted domain" in result.detail
    assert "password of WORK\\labadmin" in result.hint


def test_connect_fails_for_a_windows_account_without_a_login(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front), SVC)
    assert result.status == "fail"
    assert "refused the login" in result.summary and "Login failed for user 'WORK\\svcOctopus'" in result.detail
    assert "CREATE LOGIN [WORK\\svcOctopus] FROM WINDOWS" in result.hint


def test_connect_fails_on_a_wrong_sql_password(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front, extra="User ID=octo;Password=nope"))
    assert result.status == "fail" and "SQL login 'octo'" in result.summary
    assert "user name and password" in result.hint and "nope" not in json.dumps(result.to_json())


def test_connect_fails_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = checks.check_connect(f"Data Source=127.0.0.1,{port};Initial Catalog=x;Integrated Security=True", ADMIN)
    assert result.status == "fail" and "refused the connection" in result.summary
    assert_actionable(result)


def test_connect_fails_within_the_deadline_on_a_silent_server() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = checks.check_connect(f"Data Source=127.0.0.1,{port};Initial Catalog=x;Integrated Security=True",
                                      ADMIN, deadline_s=1.5)
        elapsed = time.monotonic() - started
    assert result.status == "fail" and "did not answer in time" in result.summary
    assert_actionable(result)
    assert elapsed < 10  # generous: the point is that it returns, not how fast


def test_connect_fails_on_a_host_that_does_not_resolve() -> None:
    result = checks.check_connect("Data Source=no-such-host.invalid;Initial Catalog=x;Integrated Security=True",
                                  ADMIN)
    assert result.status == "fail" and "cannot find SQL Server host" in result.summary
    assert "no-such-host.invalid" in result.detail and "DNS" in result.hint


def test_connect_fails_on_a_malformed_connection_string() -> None:
    result = checks.check_connect("Data Source=sql01;Password='unclosed", ADMIN)
    assert result.status == "fail" and result.summary == "the connection string is not valid"
    assert "closing" in result.detail and result.hint
    assert "unclosed" not in json.dumps(result.to_json())  # the parser's quote of the text may hold the password


def test_connect_refuses_transports_linux_cannot_use() -> None:
    result = checks.check_connect("Data Source=np:\\\\sql01\\pipe\\sql\\query;Initial Catalog=x;"
                                  "Integrated Security=True", ADMIN)
    assert result.status == "fail" and "cannot be used from this console" in result.summary
    assert "TCP" in result.hint


def test_connect_with_encryption_required_fails_against_a_server_without_tls(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front, extra="Integrated Security=True;Encrypt=True"), ADMIN)
    assert result.status == "fail" and "could not connect" in result.summary
    assert "Encrypt=True" in result.hint


def test_integrated_security_without_a_password_needs_kerberos(front: TdsServer) -> None:
    result = checks.check_connect(cs_for(front))
    assert result.status == "fail" and "Kerberos" in result.detail + result.summary + result.hint
    assert "kinit" in result.hint


def test_a_missing_unixodbc_is_a_result_not_an_import_error(front: TdsServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    class NoUnixOdbc(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "pyodbc":
                raise ImportError("libodbc.so.2: cannot open shared object file: No such file or directory")

    monkeypatch.delitem(sys.modules, "pyodbc")
    monkeypatch.setattr(sys, "meta_path", [NoUnixOdbc(), *sys.meta_path])
    result = checks.check_connect(cs_for(front), ADMIN)
    assert result.status == "fail" and "no usable ODBC driver" in result.summary
    assert "unixODBC is not installed" in result.detail and "apt-get install unixodbc tdsodbc" in result.hint
    assert [r.status for r in checks.check_sql(cs_for(front), ADMIN)[1:]] == ["skip"] * 4


def _check_in_process_with(odbcinst: str, tmp_path: Path, connection_string: str) -> dict[str, str]:
    """unixODBC reads its driver list once per process, so another odbcinst.ini needs another process."""
    (tmp_path / "odbcinst.ini").write_text(odbcinst, encoding="utf-8")
    code = ("import json, sys; from octotui.checks.sql import check_connect, SqlIdentity; "
            "r = check_connect(sys.argv[1], SqlIdentity('WORK\\\\labadmin', sys.argv[2])); "
            "print(json.dumps(r.to_json()))")
    env = {**os.environ, "ODBCSYSINI": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, connection_string, ADMIN.password], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=60, check=True).stdout
    result: dict[str, str] = json.loads(out)
    return result


def test_no_driver_registered(front: TdsServer, tmp_path: Path) -> None:
    result = _check_in_process_with("", tmp_path, cs_for(front))
    assert result["status"] == "fail" and "no usable ODBC driver" in result["summary"]
    assert "no ODBC driver for SQL Server is installed" in result["detail"] and "tdsodbc" in result["hint"]


def test_driver_registered_but_its_library_is_gone(front: TdsServer, tmp_path: Path) -> None:
    result = _check_in_process_with("[FreeTDS]\nDriver=/nonexistent/libtdsodbc.so\n", tmp_path, cs_for(front))
    assert result["status"] == "fail" and "registered but not installed" in result["summary"]
    assert "Can't open lib" in result["detail"] and "reinstall" in result["hint"]


def test_only_the_microsoft_driver_cannot_do_ntlm(front: TdsServer, tmp_path: Path) -> None:
    ini = "[ODBC Driver 18 for SQL Server]\nDriver=/opt/microsoft/msodbcsql18/lib64/libmsodbcsql-18.so\n"
    result = _check_in_process_with(ini, tmp_path, cs_for(front))
    assert result["status"] == "fail" and "no NTLM" in result["detail"]
    assert "tdsodbc" in result["hint"] and "kinit" in result["hint"]


def test_a_check_can_be_cancelled() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        cs = f"Data Source=127.0.0.1,{listener.getsockname()[1]};Initial Catalog=x;Integrated Security=True"
        result = checks.check_connect(cs, ADMIN, deadline_s=30, cancel=cancel)
    assert (result.status, result.summary) == ("skip", "cancelled")


# --- sql.version -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "edition", "status", "words"), [
    ("15.0.4375.4", "Developer Edition (64-bit)", "pass", "SQL Server 2019 (15.0.4375.4, Developer Edition"),
    ("16.0.4135.4", "Standard Edition (64-bit)", "pass", "SQL Server 2022"),
    ("14.0.3465.1", "Enterprise Edition (64-bit)", "warn", "leaves Microsoft's extended support on 2027-10-12"),
    ("13.0.6435.1", "Standard Edition (64-bit)", "warn", "reached the end of Microsoft's extended support"),
    ("12.0.6444.4", "Express Edition (64-bit)", "fail", "SQL Server 2014 (12.0.6444.4, Express Edition (64-bit)) is "
                                                        "too old"),
    ("12.0.2000.8", "SQL Azure", "pass", "Azure SQL"),
])
def test_version(front: TdsServer, world: World, version: str, edition: str, status: str, words: str) -> None:
    with world.lock:
        world.sql.version, world.sql.edition = version, edition
    result = checks.check_version(cs_for(front), ADMIN, today=TODAY)
    assert (result.id, result.status) == ("sql.version", status)
    assert words in result.summary
    if status != "pass":
        assert_actionable(result)


def test_version_is_skipped_when_the_login_fails(front: TdsServer) -> None:
    result = checks.check_version(cs_for(front), SqlIdentity("WORK\\labadmin", "wrong"))
    assert result.status == "skip" and "see sql.connect" in result.summary


# --- sql.collation -----------------------------------------------------------------------------------------------
def test_collation_of_the_server_when_the_database_is_to_be_created(front: TdsServer, world: World) -> None:
    result = checks.check_collation(cs_for(front), ADMIN, mode="create")
    assert (result.id, result.status) == ("sql.collation", "pass")
    assert "SQL_Latin1_General_CP1_CI_AS" in result.summary and "inherit" in result.summary
    with world.lock:
        world.sql.collation = "Latin1_General_CS_AS"
    result = checks.check_collation(cs_for(front), ADMIN, mode="create")
    assert result.status == "fail" and "Latin1_General_CS_AS" in result.summary
    assert "COLLATE SQL_Latin1_General_CP1_CI_AS" in result.hint


def test_collation_of_an_existing_database(front: TdsServer, world: World) -> None:
    make_database(world, octopus=True, owner="WORK\\svcOctopus")
    assert checks.check_collation(cs_for(front), SVC, mode="join").status == "pass"
    make_database(world, "CaseSensitive", collation="Latin1_General_100_BIN2")
    result = checks.check_collation(cs_for(front, "CaseSensitive"), ADMIN, mode="create")
    assert result.status == "fail" and "database CaseSensitive uses Latin1_General_100_BIN2" in result.summary
    assert_actionable(result)


def test_collation_is_skipped_in_join_mode_without_a_database(front: TdsServer) -> None:
    result = checks.check_collation(cs_for(front), ADMIN, mode="join")
    assert result.status == "skip" and "see sql.database" in result.summary


def test_case_insensitivity_reading() -> None:
    assert checks.is_case_insensitive("SQL_Latin1_General_CP1_CI_AS")
    assert checks.is_case_insensitive("Latin1_General_100_CI_AS_SC_UTF8")
    assert not checks.is_case_insensitive("Latin1_General_CS_AS")
    assert not checks.is_case_insensitive("Latin1_General_BIN")
    assert not checks.is_case_insensitive("")


# --- sql.permissions ---------------------------------------------------------------------------------------------
def test_permissions_to_create(front: TdsServer) -> None:
    result = checks.check_permissions(cs_for(front), ADMIN, mode="create")
    assert (result.id, result.status) == ("sql.permissions", "pass") and "(sysadmin)" in result.summary
    result = checks.check_permissions(cs_for(front, extra="User ID=octo;Password=Sql-Pa55"), mode="create")
    assert result.status == "pass" and result.summary == "octo may create database OctopusDeploy (dbcreator)"
    result = checks.check_permissions(cs_for(front), READER, mode="create")
    assert result.status == "fail" and result.summary == "WORK\\svcReader may not create database OctopusDeploy"
    assert "dbcreator" in result.hint and "db_owner" in result.hint


def test_permissions_on_an_existing_database(front: TdsServer, world: World) -> None:
    make_database(world, octopus=True, owner="WORK\\svcOctopus")
    result = checks.check_permissions(cs_for(front), SVC, mode="join")
    assert result.status == "pass" and result.summary == "WORK\\svcOctopus is db_owner of database OctopusDeploy"
    result = checks.check_permissions(cs_for(front), READER, mode="join")
    assert result.status == "fail" and result.summary == "WORK\\svcReader is not db_owner of database OctopusDeploy"
    assert "ALTER ROLE db_owner ADD MEMBER [WORK\\svcReader]" in result.hint


def test_permissions_are_skipped_in_join_mode_without_a_database(front: TdsServer) -> None:
    assert checks.check_permissions(cs_for(front), ADMIN, mode="join").status == "skip"


# --- sql.database ------------------------------------------------------------------------------------------------
def test_database_in_create_mode(front: TdsServer, world: World) -> None:
    result = checks.check_database(cs_for(front), ADMIN, mode="create")
    assert (result.id, result.status) == ("sql.database", "pass") and "will be created" in result.summary
    assert result.target == f"127.0.0.1,{front.port}/OctopusDeploy"
    make_database(world)
    result = checks.check_database(cs_for(front), ADMIN, mode="create")
    assert result.status == "pass" and "exists and is empty" in result.summary


def test_create_mode_refuses_a_database_that_holds_a_cluster(front: TdsServer, world: World) -> None:
    make_database(world, octopus=True)
    result = checks.check_database(cs_for(front), ADMIN, mode="create")
    assert result.status == "fail" and "already holds an Octopus cluster" in result.summary
    assert "OCTO1, OCTO2" in result.detail and "join" in result.hint


def test_database_in_join_mode(front: TdsServer, world: World) -> None:
    result = checks.check_database(cs_for(front), ADMIN, mode="join")
    assert result.status == "fail" and "does not exist" in result.summary
    assert_actionable(result)
    make_database(world, "Empty")
    result = checks.check_database(cs_for(front, "Empty"), ADMIN, mode="join")
    assert result.status == "fail" and "is not an Octopus database (empty)" in result.summary
    make_database(world, octopus=True, owner="WORK\\svcOctopus")
    result = checks.check_database(cs_for(front), SVC, mode="join")
    assert result.status == "pass" and "(nodes: OCTO1, OCTO2)" in result.summary


def test_database_that_cannot_be_opened_is_left_to_permissions(front: TdsServer, world: World) -> None:
    make_database(world, octopus=True)
    result = checks.check_database(cs_for(front), READER, mode="join")
    assert result.status == "skip" and "see sql.permissions" in result.summary


def test_database_must_be_named(front: TdsServer) -> None:
    result = checks.check_database(f"Data Source=127.0.0.1,{front.port};Integrated Security=True", ADMIN)
    assert result.status == "fail" and "names no database" in result.summary and "Initial Catalog" in result.hint


def test_create_mode_refuses_a_database_of_another_application() -> None:
    facts = SqlFacts(server="sql01", database="Shared", database_exists=True, is_db_owner=True, user_tables=12,
                     is_octopus=False)
    result = checks.database_result(facts, "create")
    assert result.status == "fail" and "not empty (12 tables)" in result.summary
    assert "empty database" in result.hint


# --- all five at once ----------------------------------------------------------------------------------------
def test_check_sql_runs_every_check_from_one_probe(front: TdsServer, world: World) -> None:
    results = checks.check_sql(cs_for(front), ADMIN, mode="create", today=TODAY)
    assert [(r.id, r.status) for r in results] == [
        ("sql.connect", "pass"), ("sql.version", "pass"), ("sql.collation", "pass"), ("sql.permissions", "pass"),
        ("sql.database", "pass")]
    make_database(world, octopus=True)
    results = checks.check_sql(cs_for(front), ADMIN, mode="create", today=TODAY)
    assert [r.id for r in results if r.failed] == ["sql.database"]


# --- mapping to ODBC -------------------------------------------------------------------------------------------
FREETDS_13 = OdbcDriver("FreeTDS", "freetds", "libtdsodbc.so", (1, 3, 17))
FREETDS_15 = OdbcDriver("FreeTDS", "freetds", "libtdsodbc.so", (1, 5, 1))
MS18 = OdbcDriver("ODBC Driver 18 for SQL Server", "msodbc18")


def test_quoting_per_driver() -> None:
    assert odbc_quote("plain", legacy_freetds=True) == "plain"
    assert odbc_quote("p;w}", legacy_freetds=True) == "{p;w}}"
    assert odbc_quote("p;w}", legacy_freetds=False) == "{p;w}}}"
    with pytest.raises(MappingError, match=r"FreeTDS before 1\.4"):
        odbc_quote("a};b", legacy_freetds=True)
    assert odbc_quote("a};b", legacy_freetds=False) == "{a}};b}"


def test_mapping_to_freetds_and_microsoft() -> None:
    cs = parse_connection_string("Server=tcp:sql01\\OCTO,1500;Database=Octo;Integrated Security=SSPI;"
                                 "Encrypt=True;TrustServerCertificate=True;MultiSubnetFailover=True;App=octotui")
    ntlm = Credentials("ntlm", "WORK\\svc", "p;w")
    text = to_odbc(cs, FREETDS_13, ntlm, database="master")
    assert text == ("DRIVER={FreeTDS};SERVER=sql01;PORT=1500;TDS_Version=7.4;DATABASE=master;UID=WORK\\svc;"
                    "PWD={p;w};Encryption=require;APP=octotui;")
    text = to_odbc(cs, MS18, Credentials("kerberos"), database="Octo")
    assert text == ("DRIVER={ODBC Driver 18 for SQL Server};SERVER={sql01\\OCTO,1500};DATABASE=Octo;"
                    "Trusted_Connection=yes;Encrypt=yes;TrustServerCertificate=yes;MultiSubnetFailover=yes;"
                    "APP=octotui;")
    named = parse_connection_string("Data Source=sql01\\OCTO;Initial Catalog=Octo;Integrated Security=True")
    assert "SERVER=sql01\\OCTO;TDS_Version" in to_odbc(named, FREETDS_15, ntlm, database="Octo")


def test_ntlm_needs_a_domain() -> None:
    assert odbc.ntlm_user("svc@work.lab") == "work.lab\\svc"
    with pytest.raises(MappingError, match="names no domain"):
        odbc.ntlm_user("svc")
    assert odbc.ntlm_user(parse_account("WORK\\svc")) == "WORK\\svc"  # the spec's account, not parsed again
    with pytest.raises(MappingError, match="not a Windows account name"):
        odbc.ntlm_user("WORK\\a\\b")


def test_driver_preference() -> None:
    both = [MS18, FREETDS_13]
    assert odbc.choose_driver(both, need_ntlm=False) is MS18
    assert odbc.choose_driver(both, need_ntlm=True) is FREETDS_13
    assert FREETDS_13.legacy_quoting and not FREETDS_15.legacy_quoting and not MS18.legacy_quoting


def test_the_installed_freetds_is_found() -> None:
    drivers = odbc.installed_drivers()
    freetds = [d for d in drivers if d.kind == "freetds"]
    assert freetds and freetds[0].version is not None and freetds[0].version >= (1, 0)
