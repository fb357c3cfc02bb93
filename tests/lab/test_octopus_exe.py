"""The simulated Octopus.Server.exe, driven through the node runtime exactly as a WinRS command would be.

Each test builds its own small world (domain, SQL Server, share, two nodes with Octopus installed) so
that it depends on no provisioning code, then runs full command lines through
``NodeRuntime.run_program_line`` as a given identity: "network" is a WinRM NTLM session (the double
hop), "delegated" a CredSSP one.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from octotui.lab.identity import Identity
from octotui.lab.octopus import config as cfgmod
from octotui.lab.state import (
    Login,
)
from tests.fixtures.lab_world import (  # noqa: F401
    ADMIN,
    ADMIN_NTLM,
    ADMIN_PW,
    CONFIG,
    CS,
    EXE,
    OLD_VERSION,
    SHARE,
    SVC_PW,
    VERSION,
    Lab,
    Result,
    install_octopus,
    make_world,
)


@pytest.fixture
def lab() -> Lab:
    return Lab(make_world())


# --- start-up, help, exit codes ------------------------------------------------------------------------
def test_version_text_and_json(lab: Lab) -> None:
    r = lab.exe("version")
    assert (r.code, r.out) == (0, VERSION + "\n")
    doc = json.loads(lab.exe("version --format=json").out)
    assert doc["InformationalVersion"] == VERSION and doc["MajorMinorPatch"] == "2025.3.1234"


def test_unknown_command_prints_help_and_exits_2(lab: Lab) -> None:
    r = lab.exe("frobnicate --instance X")
    assert r.code == 2
    assert "Command 'frobnicate' is not supported" in r.err
    assert lab.exe("").code == 2
    assert "Usage: Octopus.Server <command> [<options>]" in lab.exe("").out


def test_command_help_exits_0(lab: Lab) -> None:
    r = lab.exe("create-instance --help")
    assert r.code == 0
    assert "Usage: Octopus.Server create-instance [<options>]" in r.out
    assert "--serverNodeName=VALUE" in r.out
    assert lab.exe("help").code == 0
    assert "--clusterShared=VALUE" in lab.exe("help path").out


def test_not_simulated_command_fails_cleanly(lab: Lab) -> None:
    r = lab.exe("watchdog --create")
    assert r.code == 1 and "not simulated" in r.err


def test_unrecognized_option_is_a_controlled_failure(lab: Lab) -> None:
    lab.create()
    r = lab.exe('configure --instance "Default" --bogus 1')
    assert r.code == 1
    assert r.err.strip() == "Unrecognized command line arguments: --bogus 1"
    r = lab.exe("configure /instance:Default --webForceSSL=false")
    assert r.code == 1 and "/instance:Default" in r.err


def test_option_names_ignore_case_and_take_both_value_forms(lab: Lab) -> None:
    lab.create()
    r = lab.exe('CONFIGURE --INSTANCE=Default --webforcessl "True" --COMMSLISTENPORT=10943')
    assert r.code == 0, r
    cfg = lab.config()
    assert cfg.get(cfgmod.FORCE_SSL) == "True" and cfg.get(cfgmod.SERVICES_PORT) == "10943"


def test_missing_option_value_is_unhandled_100(lab: Lab) -> None:
    r = lab.exe("create-instance --instance")
    assert r.code == 100
    assert "Missing required value for option '--instance'." in r.err
    assert "Terminating process with exit code 100" in r.err


# --- instances -----------------------------------------------------------------------------------------
def test_create_instance_writes_config_and_registration(lab: Lab) -> None:
    r = lab.exe('create-instance --instance "Default" --config "C:\\Octopus\\OctopusServer.config"')
    assert r.code == 0
    assert r.out.splitlines() == [
        "Creating empty configuration file: C:\\Octopus\\OctopusServer.config",
        "Setting home directory to: C:\\Octopus",
        "Saving instance: Default",
    ]
    cfg = lab.config()
    assert cfg.get(cfgmod.HOME) == "C:\\Octopus"
    assert cfg.get(cfgmod.NODE_NAME) == "OCTO1"
    reg = json.loads(lab.node().fs.read_text(cfgmod.INSTANCES_DIR + "\\default.config"))
    assert reg == {"Name": "Default", "ConfigurationFilePath": "C:\\Octopus\\OctopusServer.config"}
    again = lab.exe('create-instance --instance "Default" --config "C:\\Octopus\\OctopusServer.config"')
    assert again.code == 0 and "already exists." in again.out


def test_create_instance_defaults_name_home_and_node_name(lab: Lab) -> None:
    r = lab.exe("create-instance --config C:\\Other\\x.config --serverNodeName NodeA")
    assert r.code == 0
    assert cfgmod.find_instance(lab.node(), "OctopusServer") is not None
    cfg = lab.config(path="C:\\Other\\x.config")
    assert cfg.get(cfgmod.HOME) == "C:\\Other" and cfg.get(cfgmod.NODE_NAME) == "NodeA"


def test_list_instances_text_json_and_empty(lab: Lab) -> None:
    assert lab.exe("list-instances").out == "No instances installed\n"
    assert json.loads(lab.exe("list-instances --format json").out) == []
    lab.exe("create-instance --instance Zeta --config C:\\Z\\z.config")
    lab.exe("create-instance --instance alpha --config C:\\A\\a.config")
    assert lab.exe("list-instances").out.splitlines() == [
        "Instance 'alpha' uses configuration 'C:\\A\\a.config'.",
        "Instance 'Zeta' uses configuration 'C:\\Z\\z.config'.",
    ]
    doc = json.loads(lab.exe('list-instances --format="JSON"').out)
    assert [d["InstanceName"] for d in doc] == ["alpha", "Zeta"]
    assert doc[0]["ConfigurationFilePath"] == "C:\\A\\a.config"


def test_delete_instance_removes_only_the_registration(lab: Lab) -> None:
    lab.create()
    r = lab.exe("delete-instance --instance Default")
    assert r.code == 0 and "Deleted instance: Default" in r.out
    assert cfgmod.list_instances(lab.node()) == []
    assert lab.node().fs.is_file("C:\\Octopus\\OctopusServer.config")


def test_instance_selection_messages(lab: Lab) -> None:
    r = lab.exe("show-master-key")
    assert r.code == 1 and "Unable to find default instance of OctopusServer. Available instances: ." in r.err
    lab.exe("create-instance --instance A --config C:\\A\\a.config")
    lab.exe("create-instance --instance B --config C:\\B\\b.config")
    r = lab.exe("show-configuration")
    assert r.code == 1 and "There is more than one instance of OctopusServer configured" in r.err
    assert "Available instances: A, B." in r.err
    r = lab.exe("show-configuration --instance C")
    assert r.code == 1
    assert r.err.strip() == ("Instance C of OctopusServer has not been configured on this machine. "
                             "Available instances: A, B.")
    lab.node().fs.delete("C:\\A\\a.config")
    r = lab.exe("show-configuration --instance a")
    assert r.code == 1 and "The configuration file for instance A could not be located" in r.err


def test_single_instance_is_the_default(lab: Lab) -> None:
    lab.create()
    r = lab.exe("configure --webListenPrefixes http://localhost:80/")
    assert r.code == 0, r
    assert lab.config().get(cfgmod.LISTEN_PREFIXES) == "http://localhost:80/"


# --- database ----------------------------------------------------------------------------------------
def test_database_from_a_network_logon_meets_the_double_hop(lab: Lab) -> None:
    lab.create()
    r = lab.exe(f'database --instance "Default" --connectionString "{CS}" --create', who=ADMIN_NTLM)
    assert r.code == 100
    assert "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'." in r.err
    assert "SQL Error 18456" in r.err and "Microsoft.Data.SqlClient.SqlException" in r.err
    assert lab.world.sql.databases == {}
    assert lab.config().get(cfgmod.CONNECTION_STRING) is None  # nothing saved on failure
    assert "ANONYMOUS LOGON" in lab.log()


def test_database_create_from_a_delegated_logon(lab: Lab) -> None:
    lab.create()
    r = lab.exe(f'database --instance "Default" --connectionString "{CS}" --create --grant '
                f'"WORK\\svcOctopus"')
    assert r.code == 0, r
    db = lab.world.sql.database("OctopusDeploy")
    assert db is not None and db.octopus is not None
    assert db.octopus.version == VERSION
    key = db.octopus.master_key
    assert len(base64.b64decode(key)) == 16
    assert "WORK\\svcOctopus" in db.owners and "WORK\\labadmin" in db.owners
    assert lab.world.sql.login("WORK\\svcOctopus") is not None  # --grant created the login
    cfg = lab.config()
    assert cfg.get(cfgmod.CONNECTION_STRING) == CS
    stored = cfg.get(cfgmod.MASTER_KEY) or ""
    assert key not in stored and cfgmod.unprotect_master_key("OCTO1", stored) == key
    assert key not in lab.node().fs.read_text("C:\\Octopus\\OctopusServer.config")
    assert key not in r.text and key not in lab.log()
    assert lab.exe('show-master-key --instance "Default"').out == key + "\n"
    assert json.loads(lab.exe("show-master-key --instance Default --format json").out) == {"MasterKey": key}


def test_database_create_with_a_preseeded_key(lab: Lab) -> None:
    lab.create()
    key = "DVNbYEHJ9hmmH7YsVfLJQw=="
    r = lab.exe(f'database --instance Default --connectionString "{CS}" --create --masterKey {key}')
    assert r.code == 0, r
    assert lab.world.sql.databases["octopusdeploy"].octopus.master_key == key  # type: ignore[union-attr]
    assert key not in lab.log()


def test_database_rejects_an_invalid_master_key(lab: Lab) -> None:
    lab.create()
    r = lab.exe(f'database --instance Default --connectionString "{CS}" --create --masterKey not-a-key')
    assert r.code == 1 and "master key provided is not valid" in r.err


def test_second_node_joins_with_the_right_key_only(lab: Lab) -> None:
    key = lab.first_node()
    lab.create("OCTO2")
    wrong = "Nc91+1kfZszMpe7DMne8wg=="
    r = lab.exe(f'database --instance Default --masterKey "{wrong}" --connectionString "{CS}"', node="OCTO2")
    assert r.code == 1
    assert "does not match the master key of the existing database 'OctopusDeploy'" in r.err
    assert "Please enter a valid master key for the existing database." in r.err
    assert lab.config("OCTO2").get(cfgmod.MASTER_KEY) is None
    r = lab.exe(f'database --instance "Default" --connectionString "{CS}"', node="OCTO2")
    assert r.code == 1 and "Provide its master key with --masterKey" in r.err
    r = lab.exe(f'database --instance "Default" --masterKey "{key}" --connectionString "{CS}"', node="OCTO2")
    assert r.code == 0, r
    cfg2 = lab.config("OCTO2")
    assert cfg2.get(cfgmod.CONNECTION_STRING) == CS
    assert cfgmod.unprotect_master_key("OCTO2", cfg2.get(cfgmod.MASTER_KEY) or "") == key
    assert cfg2.get(cfgmod.MASTER_KEY) != lab.config().get(cfgmod.MASTER_KEY)  # "DPAPI": per machine


def test_create_on_an_existing_octopus_database_does_nothing_but_checks_the_key(lab: Lab) -> None:
    key = lab.first_node()
    lab.create("OCTO2")
    r = lab.exe(f'database --instance Default --connectionString "{CS}" --create --masterKey {key}',
                node="OCTO2")
    assert r.code == 0 and "already exists and won't be created again" in r.out
    r = lab.exe(f'database --instance Default --connectionString "{CS}" --create --masterKey '
                f'"Nc91+1kfZszMpe7DMne8wg=="', node="OCTO2")
    assert r.code == 1 and "does not match" in r.err
    assert lab.world.sql.databases["octopusdeploy"].octopus.master_key == key  # type: ignore[union-attr]


def test_a_config_copied_to_another_node_cannot_decrypt_its_key(lab: Lab) -> None:
    lab.first_node()
    lab.create("OCTO2")
    lab.node("OCTO2").fs.write("C:\\Octopus\\OctopusServer.config",
                               lab.node().fs.read("C:\\Octopus\\OctopusServer.config"))
    r = lab.exe("show-master-key --instance Default", node="OCTO2")
    assert r.code == 100 and "Key not valid for use in specified state." in r.err
    r = lab.exe(f'database --instance Default --connectionString "{CS}"', node="OCTO2")
    assert r.code == 100 and "Unable to parse configuration key 'Octopus.Storage.MasterKey'" in r.err


def test_database_with_sql_authentication_and_network_errors(lab: Lab) -> None:
    lab.create()
    bad_pw = "Server=tcp:127.0.0.1,1433;Database=OctopusDeploy;User ID=octo;Password=wrong"
    r = lab.exe(f'database --instance Default --connectionString "{bad_pw}" --create', who=ADMIN_NTLM)
    assert r.code == 100 and "Login failed for user 'octo'." in r.err
    assert "wrong" not in lab.log()  # the connection string's password is masked in the log
    good = "Server=tcp:127.0.0.1,1433;Database=OctopusDeploy;User ID=octo;Password='Sql-Pa55'"
    r = lab.exe(f'database --instance Default --connectionString "{good}" --create', who=ADMIN_NTLM)
    assert r.code == 0, r
    assert "Sql-Pa55" not in lab.log()
    far = "Data Source=sqlfar;Initial Catalog=OctopusDeploy;Integrated Security=SSPI"
    r = lab.exe(f'database --instance Default --connectionString "{far}"')
    assert r.code == 100
    assert "A network-related or instance-specific error occurred while establishing a connection" in r.err
    r = lab.exe('database --instance Default --connectionString "Data '
                'Source=127.0.0.1;IntegratedSecurity=SSPI"')
    assert r.code == 100 and "Keyword not supported: 'integratedsecurity'." in r.err


def test_database_without_access_is_error_4060(lab: Lab) -> None:
    lab.first_node(shared=False)
    lab.world.sql.logins["work\\svcreader"] = Login(name="WORK\\svcReader")
    r = lab.exe(f'database --instance Default --connectionString "{CS}"',
                who=Identity("WORK\\svcReader", "interactive"))
    assert r.code == 100
    assert 'Cannot open database "OctopusDeploy" requested by the login. The login failed.' in r.err


def test_database_upgrade(lab: Lab) -> None:
    lab.first_node(shared=False)
    assert lab.world.sql.databases["octopusdeploy"].octopus is not None
    lab.world.sql.databases["octopusdeploy"].octopus.version = "2024.4.7002"
    r = lab.exe('configure --instance Default --activeDirectoryIsEnabled true')
    assert r.code == 1 and "database --upgrade" in r.err
    r = lab.exe("database --instance Default --upgrade --skipLicenseCheck")
    assert r.code == 0 and "from version 2024.4.7002 to 2025.3.1234" in r.out
    assert lab.world.sql.databases["octopusdeploy"].octopus.version == VERSION
    install_octopus(lab.node(), "2024.4.7002")
    r = lab.exe("database --instance Default --upgrade")
    assert r.code == 1 and "newer than this Octopus Server" in r.err


# --- configure, path, node, admin, license -------------------------------------------------------------
def test_configure_node_settings_need_no_database(lab: Lab) -> None:
    lab.first_node(shared=False)
    r = lab.exe('configure --instance "Default" --webForceSSL "False" --webListenPrefixes '
                '"http://localhost:80/" '
                '--commsListenPort "10943" --upgradeCheck "True" --hstsEnabled False --hstsMaxAge 3600',
                who=ADMIN_NTLM)
    assert r.code == 0, r
    cfg = lab.config()
    assert cfg.get(cfgmod.FORCE_SSL) == "False"
    assert cfg.get(cfgmod.LISTEN_PREFIXES) == "http://localhost:80/"
    assert cfg.get("Octopus.Upgrades.AllowChecking") == "True"
    assert cfg.get("Octopus.WebPortal.HttpStrictTransportSecurityMaxAge") == "3600"


def test_configure_values_are_parsed_as_dotnet_does(lab: Lab) -> None:
    lab.create()
    r = lab.exe("configure --instance Default --webForceSSL yes")
    assert r.code == 100 and "String 'yes' was not recognized as a valid Boolean." in r.err
    r = lab.exe("configure --instance Default --commsListenPort ten")
    assert r.code == 100 and "Input string was not in a correct format." in r.err
    r = lab.exe("configure --instance Default --webServer kestrel")
    assert r.code == 0 and lab.config().get("Octopus.WebPortal.WebServer") == "Kestrel"
    r = lab.exe("configure --instance Default --upgradeNotification Sometimes")
    assert r.code == 100 and "Requested value 'Sometimes' was not found." in r.err
    assert lab.exe("configure --instance Default --maxConcurrentTasks 5").out.startswith(
        "The --maxConcurrentTasks option is deprecated")


def test_configure_cluster_settings_go_to_the_database_as_the_caller(lab: Lab) -> None:
    lab.first_node(shared=False)
    args = ('configure --instance Default --activeDirectoryIsEnabled True --usernamePasswordIsEnabled false '
            '--webAuthenticationScheme ntlm --activeDirectoryContainer "CN=Users,DC=work,DC=lab"')
    r = lab.exe(args, who=ADMIN_NTLM)
    assert r.code == 100 and "ANONYMOUS LOGON" in r.err
    r = lab.exe(args)
    assert r.code == 0, r
    settings = lab.world.sql.databases["octopusdeploy"].octopus.settings  # type: ignore[union-attr]
    assert settings["Octopus.WebPortal.ActiveDirectoryIsEnabled"] == "True"
    assert settings["Octopus.UsernamePassword.IsEnabled"] == "False"
    assert settings["Octopus.WebPortal.AuthenticationScheme"] == "Ntlm"
    assert "restart all Octopus Server nodes" in r.out
    assert lab.config().get("Octopus.WebPortal.ActiveDirectoryIsEnabled") is None
    r = lab.exe("configure --instance Default --ldapPassword S3cret-LDAP")
    assert r.code == 0
    assert "S3cret-LDAP" not in json.dumps(settings) and "S3cret-LDAP" not in r.text + lab.log()


def test_legacy_configure_options_exist_only_in_old_versions(lab: Lab) -> None:
    lab.create()
    r = lab.exe(f'configure --instance Default --storageConnectionString "{CS}"')
    assert r.code == 1 and "Unrecognized command line arguments: --storageConnectionString" in r.err


def test_path_cluster_shared_is_stored_once_in_the_database(lab: Lab) -> None:
    lab.first_node(shared=False)
    r = lab.exe(f"path --instance Default --clusterShared {SHARE}", who=ADMIN_NTLM)
    assert r.code == 100 and "ANONYMOUS LOGON" in r.err
    r = lab.exe(f"path --instance Default --clusterShared {SHARE}")
    assert r.code == 0, r
    settings = lab.world.sql.databases["octopusdeploy"].octopus.settings  # type: ignore[union-attr]
    assert settings == {cfgmod.CLUSTER_SHARED: SHARE}
    r = lab.exe(f"path --instance Default --artifacts {SHARE}\\Art --cacheDirectory D:\\Cache")
    assert r.code == 0
    assert settings["Octopus.Folders.ArtifactsDirectory"] == SHARE + "\\Art"
    assert lab.config().get("Octopus.Node.CacheDirectory") == "D:\\Cache"
    folders = dict((f.sub, p) for f, p in cfgmod.effective_folders(settings, "C:\\Octopus", VERSION))
    assert folders["TaskLogs"] == SHARE + "\\TaskLogs" and folders["Artifacts"] == SHARE + "\\Art"


def test_path_cluster_shared_needs_2020_2_15() -> None:
    old = Lab(make_world(version=OLD_VERSION))
    old.create()
    r = old.exe(f"path --instance Default --clusterShared {SHARE}")
    assert r.code == 1
    assert r.err.strip() == f"Unrecognized command line arguments: --clusterShared {SHARE}"
    assert "--clusterShared" not in old.exe("path --help").out
    r = old.exe(f"path --instance Default --imports {SHARE}\\Imports")
    assert r.code == 1 and "--imports" in r.err


def test_node_task_cap_and_drain(lab: Lab) -> None:
    lab.first_node(shared=False)
    assert lab.exe("node --instance Default --taskCap 20").code == 0
    assert lab.exe("node --instance Default --drain=true --wait=0").code == 0
    row = lab.world.sql.databases["octopusdeploy"].octopus.nodes["OCTO1"]  # type: ignore[union-attr]
    assert (row.max_concurrent_tasks, row.is_in_maintenance_mode) == (20, True)
    assert lab.exe("node --instance Default --drain false").code == 0
    assert row.is_in_maintenance_mode is False


def test_admin_with_password_and_in_active_directory_mode(lab: Lab) -> None:
    lab.first_node(shared=False)
    r = lab.exe("admin --instance Default --username Admin --email a@b.c --password Adm1n-Pw")
    assert r.code == 0, r
    assert "Adm1n-Pw" not in lab.log()
    assert lab.exe("admin --instance Default --username WORK\\labadmin").code == 1
    lab.exe("configure --instance Default --activeDirectoryIsEnabled=true --usernamePasswordIsEnabled=false")
    assert lab.exe("admin --instance Default --username WORK\\labadmin").code == 0
    r = lab.exe("admin --instance Default --username WORK\\nobody")
    assert r.code == 1 and "could not be found" in r.err
    admins = lab.world.sql.databases["octopusdeploy"].octopus.admins  # type: ignore[union-attr]
    assert admins == ["Admin", "WORK\\labadmin"]


LICENSE = "<License Signature=\"x\"><LicensedTo>Lab</LicensedTo><NodeLimit>Unlimited</NodeLimit></License>"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16"])
def test_license_base64_in_utf8_or_utf16(lab: Lab, encoding: str) -> None:
    lab.first_node(shared=False)
    b64 = base64.b64encode(LICENSE.encode(encoding)).decode()
    r = lab.exe(f"license --instance Default --licenseBase64 {b64}")
    assert r.code == 0 and "node limit: Unlimited" in r.out
    stored = lab.world.sql.databases["octopusdeploy"].octopus.settings["Octopus.Server.License"]  # type: ignore
    assert base64.b64decode(stored).decode() == LICENSE


def test_license_file_and_bad_licences(lab: Lab) -> None:
    lab.first_node(shared=False)
    lab.node().fs.write("C:\\Install\\license.xml", LICENSE.encode(), make_parents=True)
    assert lab.exe("license --instance Default --licenseFile C:\\Install\\license.xml").code == 0
    r = lab.exe("license --instance Default --licenseBase64 " + base64.b64encode(b"not xml").decode())
    assert r.code == 1 and "not well-formed XML" in r.err
    assert lab.exe("license --instance Default --licenseBase64 ***").code == 100
    assert lab.exe("license --instance Default").code == 1


# --- show-configuration ----------------------------------------------------------------------------------
def test_show_configuration_has_a_stray_line_before_the_json(lab: Lab) -> None:
    lab.first_node()
    lab.exe("configure --instance Default --commsListenPort 10943 --upgradeCheck true --webForceSSL false")
    r = lab.exe("show-configuration --instance Default --format json --noconsolelogging --console")
    assert r.code == 0
    first = r.out.split("\n", 1)[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{4} Error .*TimeoutException", first)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.out)
    flat = json.loads(r.out[r.out.index("{"):])
    assert flat["Octopus.Communications.ServicesPort"] == "10943"
    assert flat["Octopus.Storage.ExternalDatabaseConnectionString"] == CS
    assert flat[cfgmod.CLUSTER_SHARED] == SHARE  # from the database
    assert not any("MasterKey" in k for k in flat)
    hier = json.loads((s := lab.exe("show-configuration --instance Default --format=json-hierarchical").out)
                      [s.index("{"):])
    octo = hier["Octopus"]
    assert octo["Communications"]["ServicesPort"] == 10943
    assert octo["Upgrades"]["AllowChecking"] is True
    assert octo["WebPortal"]["ForceSsl"] == "False"
    assert octo["Home"] == "C:\\Octopus"


def test_show_configuration_xml_and_file(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe("show-configuration --instance Default")
    assert r.code == 0
    xml = r.out[r.out.index("<"):]
    assert '<set key="Octopus.Home">C:\\Octopus</set>' in xml
    r = lab.exe("show-configuration --instance Default --format json --file C:\\Temp\\cfg.json")
    assert r.code == 0
    assert json.loads(lab.node().fs.read_text("C:\\Temp\\cfg.json"))["Octopus.Home"] == "C:\\Octopus"


# --- service ----------------------------------------------------------------------------------------------
def test_service_stop_on_a_missing_service_is_a_no_op(lab: Lab) -> None:
    lab.create()
    r = lab.exe('service --instance "Default" --stop')
    assert (r.code, r.out, r.err) == (0, "", "")
    assert "Stop requested for service OctopusDeploy: Default, but service controller was not found" \
        in lab.log()
    r = lab.exe("service --instance Default --restart --uninstall")
    assert r.code == 0


def test_service_start_on_a_missing_service_fails_with_1(lab: Lab) -> None:
    lab.create()
    r = lab.exe("service --instance Default --start")
    assert r.code == 1
    assert r.err.strip() == ("Start requested for service OctopusDeploy: Default, but no service with this "
                             "name was found.")


def test_service_install_credentials_and_start_in_the_fixed_order(lab: Lab) -> None:
    lab.first_node()
    # argument order differs from execution order: install -> reconfigure -> credentials -> start
    r = lab.exe('service --start --password "' + SVC_PW + '" --instance "Default" --reconfigure '
                '--user "WORK\\svcOctopus" --install', who=ADMIN_NTLM)
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines.index("Service installed") < lines.index("Service reconfigured") \
        < lines.index("Granting log on as a service right to WORK\\svcOctopus") \
        < lines.index("Service credentials set") < lines.index("Service started")
    svc = lab.service()
    assert svc.state == "Running" and svc.account == "WORK\\svcOctopus" and svc.start_type == "Automatic"
    assert svc.binary_path == f'"{EXE}" run --instance="Default"'
    assert svc.dependencies == ["LanmanWorkstation", "TCPIP"]
    assert lab.node().has_right("SeServiceLogonRight", "WORK\\svcOctopus")
    assert SVC_PW not in r.text + lab.log()
    assert ("OCTO1", True) in lab.web_events
    rows = lab.world.sql.databases["octopusdeploy"].octopus.nodes  # type: ignore[union-attr]
    assert list(rows) == ["OCTO1"]
    # the service created the shared folders as svcOctopus
    share = lab.world.files.shares["octopusdata"]
    assert share.fs.is_dir(SHARE + "\\TaskLogs") and share.fs.is_dir(SHARE + "\\Artifacts")
    log = lab.log()
    assert "INFO  The Octopus Server has started" in log and " ERROR " not in log
    # stop, restart, uninstall
    r = lab.exe("service --instance Default --stop")
    assert r.out.splitlines() == ["Stopping service...", "Service stopped"]
    assert svc.state == "Stopped" and lab.web_events[-1] == ("OCTO1", False)
    r = lab.exe("service --instance Default --restart")
    assert "wasn't restarted as it is not running" in r.out
    assert lab.exe("service --instance Default --start").code == 0
    r = lab.exe("service --instance Default --restart")
    assert r.code == 0 and "Service started" in r.out and svc.state == "Running"
    r = lab.exe("service --instance Default --stop --uninstall")
    assert r.code == 0 and "Service uninstalled" in r.out
    assert lab.service() is None


def test_service_password_from_the_environment(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe("service --instance Default --install --reconfigure --start",
                env={"OCTOPUS_SERVICE_USERNAME": "WORK\\svcOctopus", "OCTOPUS_SERVICE_PASSWORD": SVC_PW})
    assert r.code == 0, r
    assert lab.service().account == "WORK\\svcOctopus"
    assert all(SVC_PW not in p.command_line for p in lab.node().process_log)


def test_service_names_for_default_and_named_instances(lab: Lab) -> None:
    lab.exe("create-instance --config C:\\Octopus\\OctopusServer.config")
    assert lab.exe("service --install").code == 0
    svc = lab.node().service("OctopusDeploy")
    assert svc is not None and svc.binary_path.endswith('run --instance="OctopusServer"')


def test_service_wrong_password_fails_with_windows_words(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe('service --instance Default --install --user "WORK\\svcOctopus" --password "nope"')
    assert r.code == 1
    assert "The account name is invalid or does not exist, or the password is invalid for the account name " \
           "specified." in r.err
    assert not lab.node().has_right("SeServiceLogonRight", "WORK\\svcOctopus")
    assert lab.service().account == "LocalSystem"
    r = lab.exe('service --instance Default --reconfigure --user "WORK\\ghost" --password "x"')
    assert r.code == 1


def test_service_gmsa_needs_no_password(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe('service --instance Default --install --username "WORK\\svcGmsa$"')
    assert r.code == 0 and "Service credentials set" in r.out and "Granting" not in r.out
    assert lab.service().account == "WORK\\svcGmsa$"


def test_service_depend_on_and_star_rules(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe("service --instance Default --install --dependOn MSSQLSERVER")
    assert r.code == 1
    assert "Unable to set dependency on service 'MSSQLSERVER' as no service was found with that name." \
        in r.err
    r = lab.exe("service --instance=* --install")
    assert r.code == 1 and "--instance=* can only be used for --start, --stop, and --restart flags" in r.err
    lab.exe(f'service --instance Default --install --user WORK\\svcOctopus --password "{SVC_PW}"')
    assert lab.exe("service --instance=* --start").code == 0
    assert lab.service().state == "Running"


def test_service_start_without_log_on_as_a_service_right(lab: Lab) -> None:
    lab.first_node()
    lab.exe(f'service --instance Default --install --user WORK\\svcOctopus --password "{SVC_PW}"')
    lab.node().rights["SeServiceLogonRight"] = []  # a GPO took it away
    r = lab.exe("service --instance Default --start")
    assert r.code == 100
    assert r.out.count("Failed to start the windows service. Trying again in...") == 5
    assert "Cannot start service OctopusDeploy: Default on computer '.'." in r.err
    assert "The service did not start due to a logon failure." in r.err
    assert lab.service().state == "Stopped"


def test_service_start_fails_when_the_service_account_has_no_sql_login(lab: Lab) -> None:
    lab.first_node(grant="WORK\\labadmin")
    lab.exe(f'service --instance Default --install --user WORK\\svcOctopus --password "{SVC_PW}"')
    r = lab.exe("service --instance Default --start")
    assert r.code == 100 and "Exceeded max retries" in r.err
    assert "Waiting for service to become Running. Current status: Stopped" in r.out
    log = lab.log()
    assert re.search(r" FATAL  SQL Error 18456 - Login failed for user 'WORK\\svcOctopus'\.", log)
    assert lab.service().state == "Stopped" and ("OCTO1", True) not in lab.web_events


def test_service_as_local_system_reaches_sql_as_the_computer_account(lab: Lab) -> None:
    lab.first_node()
    lab.exe("service --instance Default --install")
    assert lab.exe("service --instance Default --start").code == 100
    assert "Login failed for user 'WORK\\OCTO1$'." in lab.log()
    lab.exe("database --instance Default --grant WORK\\OCTO1$")
    assert lab.exe("service --instance Default --start").code == 0


def test_service_starts_without_share_rights_but_logs_the_error(lab: Lab) -> None:
    lab.first_node(grant="WORK\\svcReader")
    r = lab.exe(f'service --instance Default --install --start --user WORK\\svcReader --password "{SVC_PW}"')
    assert r.code == 0, r
    assert lab.service().state == "Running"
    log = lab.log()
    assert re.search(r" ERROR  The TaskLogs directory '\\\\127\.0\.0\.1\\OctopusData\\TaskLogs' cannot be "
                     r"used: Access to the path '\\\\127\.0\.0\.1\\OctopusData\\TaskLogs' is denied\.", log)
    assert "The Octopus Server has started" in log


def test_service_start_with_a_wrong_master_key_in_the_config(lab: Lab) -> None:
    lab.first_node()
    cfg = lab.config()
    cfg.set(cfgmod.MASTER_KEY, cfgmod.protect_master_key("OCTO1", "Nc91+1kfZszMpe7DMne8wg=="))
    cfg.save(lab.node())
    lab.exe(f'service --instance Default --install --user WORK\\svcOctopus --password "{SVC_PW}"')
    assert lab.exe("service --instance Default --start").code == 100
    assert "cannot decrypt the data in the database" in lab.log()


def test_checkservices_starts_stopped_instances(lab: Lab) -> None:
    lab.first_node()
    lab.exe(f'service --instance Default --install --user WORK\\svcOctopus --password "{SVC_PW}"')
    assert lab.exe("checkservices").code == 1
    r = lab.exe("checkservices --instances *")
    assert r.code == 0 and "Service OctopusDeploy: Default started" in r.out
    assert lab.service().state == "Running"


def test_runtime_boot_restarts_the_service(lab: Lab) -> None:
    lab.first_node()
    lab.exe(f'service --instance Default --install --start --user WORK\\svcOctopus --password "{SVC_PW}"')
    runtime = lab.runtimes["OCTO1"]
    runtime.shutdown()
    assert lab.web_events[-1] == ("OCTO1", False)
    lab.service().state = "Stopped"
    runtime.boot()
    assert lab.service().state == "Running" and lab.web_events[-1] == ("OCTO1", True)


# --- the log file ---------------------------------------------------------------------------------------
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{4}  [ \d]{5}  [ \d]{5} (TRACE|DEBUG| INFO| "
                  r"WARN|ERROR|FATAL)  ")


def test_log_lines_use_the_nlog_layout_and_mask_secrets(lab: Lab) -> None:
    key = lab.first_node()
    lab.exe(f'service --instance Default --install --start --user WORK\\svcOctopus --password "{SVC_PW}"')
    log = lab.log()
    entries = [line for line in log.split("\r\n") if line and not line.startswith(" ")]
    assert entries and all(LINE.match(e) for e in entries), [e for e in entries if not LINE.match(e)][:3]
    assert "==== CreateInstanceCommand ====" in log and "==== DatabaseCommand ====" in log
    assert "CommandLine: " in log
    assert SVC_PW not in log and key not in log
    assert "--password ********" in log or '--password "********"' in log
