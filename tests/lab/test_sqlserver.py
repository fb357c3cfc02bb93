"""The lab's ADO.NET connection-string reader and its SQL Server: logins, the double hop, permissions."""

from __future__ import annotations

import pytest

from octotui.lab import adonet, sqlserver
from octotui.lab.identity import Identity
from octotui.lab.sqlserver import SqlError
from octotui.lab.state import Login
from tests.fixtures.lab_world import make_world

CS = "Data Source=127.0.0.1;Initial Catalog=OctopusDeploy;Integrated Security=True"
ADMIN = Identity("WORK\\labadmin", "delegated")


# --- connection strings ------------------------------------------------------------------------------------
def test_keywords_ignore_case_and_accept_synonyms() -> None:
    o = adonet.parse("SERVER=tcp:sql,1433; database = Octo ;trusted_connection=yes;UID=u;PWD=p;app=x")
    assert (o.data_source, o.initial_catalog, o.integrated_security, o.user_id, o.password) == \
           ("tcp:sql,1433", "Octo", True, "u", "p")
    assert o.values["application name"] == "x"
    for value, expected in (("True", True), ("SSPI", True), ("yes", True), ("false", False), ("No", False)):
        assert adonet.parse(f"Integrated Security={value}").integrated_security is expected
    assert adonet.parse("Address=a;Network Address=b;Addr=c").data_source == "c"  # the last one wins


def test_quoting_rules() -> None:
    o = adonet.parse("Password='a;b''c';User ID=\"x\"\"y\";Initial Catalog=a=b=c;Data Source=  h  ")
    assert o.password == "a;b'c"
    assert o.user_id == 'x"y'
    assert o.initial_catalog == "a=b=c"
    assert o.data_source == "h"
    assert adonet.parse("Password=it's;User ID=u").password == "it's"  # a quote inside an unquoted value
    assert adonet.parse("Initial Catalog='';").initial_catalog == ""


@pytest.mark.parametrize(("text", "index"), [
    ("Data Source", 0),
    ("Data Source=x;Initial Catalog='abc", 14),
    ("Data Source=x;Password='a'b", 14),
    ("=x", 0),
])
def test_malformed_strings_fail_with_the_sqlclient_message(text: str, index: int) -> None:
    with pytest.raises(adonet.ConnectionStringError) as err:
        adonet.parse(text)
    assert str(err.value) == (f"Format of the initialization string does not conform to specification "
                              f"starting at index {index}.")


def test_unknown_keyword_and_bad_values() -> None:
    error = adonet.ConnectionStringError
    with pytest.raises(error, match=r"^Keyword not supported: 'integratedsecurity'\.$"):
        adonet.parse("Server=x;IntegratedSecurity=SSPI")
    with pytest.raises(error, match=r"^Invalid value for key 'integrated security'\.$"):
        adonet.parse("Server=x;Integrated Security=maybe")
    with pytest.raises(adonet.ConnectionStringError, match="multi subnet failover"):
        adonet.parse("Server=x;MultiSubnetFailover=perhaps")
    assert adonet.parse("Server=x;MultiSubnetFailover=True;TrustServerCertificate=yes").values


def test_redact_masks_only_passwords() -> None:
    assert adonet.redact("Server=x;User ID=sa;Password='p;w'") == "Server=x;User ID=sa;Password='********'"
    assert adonet.redact("pwd=abc;server=x") == "pwd=********;server=x"
    assert adonet.redact(CS) == CS


def test_split_data_source() -> None:
    ds = adonet.split_data_source("tcp:SQL01\\INST,1444")
    assert (ds.protocol, ds.host, ds.instance, ds.port) == ("tcp", "SQL01", "INST", 1444)
    assert adonet.split_data_source("localhost").port is None


# --- logins ------------------------------------------------------------------------------------------------
def test_integrated_security_from_a_network_logon_is_anonymous() -> None:
    world = make_world()
    with pytest.raises(SqlError) as err:
        sqlserver.connect(world, CS, Identity("WORK\\labadmin", "network"), open_catalog=False)
    assert (err.value.number, err.value.message) == (18456, "Login failed for user 'NT AUTHORITY\\ANONYMOUS "
                                                            "LOGON'.")
    session = sqlserver.connect(world, CS, ADMIN, open_catalog=False)
    assert session.login.name == "WORK\\labadmin" and session.is_sysadmin


def test_unknown_windows_login_and_sql_logins() -> None:
    world = make_world()
    with pytest.raises(SqlError, match=r"Login failed for user 'WORK\\svcOctopus'\."):
        sqlserver.connect(world, CS, Identity("WORK\\svcOctopus", "service"), open_catalog=False)
    sql_cs = "Server=127.0.0.1;Database=OctopusDeploy;User Id=octo;Password=Sql-Pa55"
    assert sqlserver.connect(world, sql_cs, Identity("x", "network"), open_catalog=False).login.name == "octo"
    with pytest.raises(SqlError, match=r"Login failed for user 'octo'\."):
        sqlserver.connect(world, sql_cs.replace("Sql-Pa55", "nope"), ADMIN, open_catalog=False)
    world.sql.logins["octo"].disabled = True
    with pytest.raises(SqlError, match=r"Login failed"):
        sqlserver.connect(world, sql_cs, ADMIN, open_catalog=False)


def test_local_system_goes_out_as_the_computer_account() -> None:
    world = make_world()
    with pytest.raises(SqlError, match=r"'WORK\\OCTO1\$'"):
        sqlserver.connect(world, CS, Identity("LocalSystem", "service"), machine="OCTO1", open_catalog=False)
    world.sql.logins["work\\octo1$"] = Login(name="WORK\\OCTO1$", server_roles=["sysadmin"])
    assert sqlserver.connect(world, CS, Identity("NT AUTHORITY\\SYSTEM", "service"), machine="OCTO1",
                             open_catalog=False).is_sysadmin


@pytest.mark.parametrize(("source", "number", "provider"), [
    ("sqlfar", 53, "Named Pipes Provider, error: 40"),
    ("tcp:sqlfar", 11001, "No such host is known."),
    ("127.0.0.1,1500", 10061, "actively refused it."),
    ("127.0.0.1\\NAMED", -1, "error: 26 - Error Locating Server/Instance Specified"),
])
def test_network_errors(source: str, number: int, provider: str) -> None:
    world = make_world()
    with pytest.raises(SqlError) as err:
        sqlserver.connect(world, f"Data Source={source};Integrated Security=SSPI", ADMIN)
    assert err.value.number == number
    assert err.value.message.startswith("A network-related or instance-specific error occurred while "
                                        "establishing a connection to SQL Server.")
    assert provider in err.value.message


@pytest.mark.parametrize("source", ["127.0.0.1", "localhost", "tcp:127.0.0.1,1433", "LOCALHOST,1433",
                                    "tcp:localhost"])
def test_the_lab_server_answers_to_its_names(source: str) -> None:
    world = make_world()
    session = sqlserver.connect(world, f"Data Source={source};Integrated Security=SSPI", ADMIN)
    # Reached the lab's server, logged in as the caller (integrated security), in no named database.
    assert session.world is world
    assert session.login.name == "WORK\\labadmin" and session.is_sysadmin
    assert session.catalog == ""
    # The same name with a catalog opens it, once it exists: the session is a working one.
    sqlserver.connect(world, CS, ADMIN, open_catalog=False).create_database()
    opened = sqlserver.connect(world, f"Data Source={source};Initial Catalog=OctopusDeploy;Integrated Security=SSPI",
                               ADMIN)
    assert opened.catalog == "OctopusDeploy" and opened.has_access()


# --- what Octopus does with a session -----------------------------------------------------------------------
def test_create_database_needs_sysadmin_or_dbcreator_and_makes_the_creator_owner() -> None:
    world = make_world()
    world.sql.logins["work\\svcoctopus"] = Login(name="WORK\\svcOctopus")
    svc = sqlserver.connect(world, CS, Identity("WORK\\svcOctopus", "service"), open_catalog=False)
    with pytest.raises(SqlError) as err:
        svc.create_database()
    assert (err.value.number, err.value.message) == (262, "CREATE DATABASE permission denied in database "
                                                          "'master'.")
    octo = sqlserver.connect(world, "Server=127.0.0.1;Database=OctopusDeploy;UID=octo;PWD=Sql-Pa55", ADMIN,
                             open_catalog=False)
    db = octo.create_database()
    assert db.owners == ["octo"] and octo.has_access() and not svc.has_access()
    with pytest.raises(SqlError, match="already exists"):
        octo.create_database()


def test_opening_a_database_without_access_is_4060() -> None:
    world = make_world()
    with pytest.raises(SqlError) as err:
        sqlserver.connect(world, CS, ADMIN)
    assert err.value.number == 4060
    sqlserver.connect(world, CS, ADMIN, open_catalog=False).create_database()
    world.sql.logins["work\\svcoctopus"] = Login(name="WORK\\svcOctopus")
    with pytest.raises(SqlError, match='Cannot open database "OctopusDeploy" requested by the login'):
        sqlserver.connect(world, CS, Identity("WORK\\svcOctopus", "service"))


def test_grant_db_owner_creates_the_login_when_allowed() -> None:
    world = make_world()
    admin = sqlserver.connect(world, CS, ADMIN, open_catalog=False)
    admin.create_database()
    assert admin.grant_db_owner("work\\SVCOCTOPUS") == "WORK\\svcOctopus"
    assert world.sql.login("WORK\\svcOctopus") is not None
    assert "WORK\\svcOctopus" in world.sql.databases["octopusdeploy"].owners
    assert sqlserver.connect(world, CS, Identity("WORK\\svcOctopus", "service")).has_access()
    admin.grant_db_owner("WORK\\svcOctopus")  # twice is harmless
    assert world.sql.databases["octopusdeploy"].owners.count("WORK\\svcOctopus") == 1
    assert admin.grant_db_owner("NT AUTHORITY\\SYSTEM") == "NT AUTHORITY\\SYSTEM"
    assert admin.grant_db_owner("WORK\\OCTO2$") == "WORK\\OCTO2$"
    with pytest.raises(SqlError) as err:
        admin.grant_db_owner("WORK\\ghost")
    assert (err.value.number, err.value.message) == (15401, "Windows NT user or group 'WORK\\ghost' not "
                                                            "found. Check the name again.")


def test_grant_by_a_db_owner_cannot_create_logins() -> None:
    world = make_world()
    sqlserver.connect(world, CS, ADMIN, open_catalog=False).create_database()
    world.sql.logins["work\\svcoctopus"] = Login(name="WORK\\svcOctopus")
    world.sql.databases["octopusdeploy"].owners.append("WORK\\svcOctopus")
    owner = sqlserver.connect(world, CS, Identity("WORK\\svcOctopus", "service"))
    with pytest.raises(SqlError) as err:
        owner.grant_db_owner("WORK\\svcReader")
    assert err.value.number == 15247
    world.sql.logins["work\\svcreader"] = Login(name="WORK\\svcReader")
    owner.grant_db_owner("WORK\\svcReader")


def test_octopus_schema_install_and_upgrade() -> None:
    world = make_world()
    admin = sqlserver.connect(world, CS, ADMIN, open_catalog=False)
    admin.create_database()
    assert admin.schema() is None and not admin.is_octopus()
    schema = admin.install_schema("2024.4.7002", "DVNbYEHJ9hmmH7YsVfLJQw==")
    assert admin.is_octopus() and admin.schema() is schema
    with pytest.raises(SqlError):
        admin.install_schema("2024.4.7002", "x")
    assert admin.upgrade_schema("2025.3.1234").version == "2025.3.1234"
    admin.drop_database()
    assert not admin.database_exists()
