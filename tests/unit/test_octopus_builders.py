"""octotui.windows.octopus: the argv it builds, the output it parses, the versions it gates on.

Examples of output are shaped after reference/octopus-server.md (DSC's samples, the docs); the lab's own
Octopus.Server.exe is exercised by the remote tests, not here.
"""

from __future__ import annotations

import base64
import json

import pytest

from octotui.secrets.redact import MASK, is_secret_option
from octotui.spec.model import InstallSpec, StorageSpec
from octotui.spec.parsers.accounts import parse_account
from octotui.spec.parsers.connstr import parse_connection_string
from octotui.spec.parsers.winpath import parse_windows_path
from octotui.windows import octopus as oc
from octotui.windows.gates import (
    compare_versions,
    supports,
    supports_cluster_shared,
    supports_database_command,
    supports_home_on_create_instance,
    supports_imports_folder,
    version_tuple,
)
from octotui.windows.installers import choco_install, describe_install, msi_exit_meaning, msiexec_install
from octotui.windows.octopus_output import (
    FOLDER_KEYS,
    KEY_AD_ENABLED,
    KEY_CLUSTER_SHARED,
    KEY_COMMS_PORT,
    KEY_CONNECTION_STRING,
    KEY_FORCE_SSL,
    KEY_NODE_NAME,
    OctopusOutputError,
    config_get,
    find_service,
    instance_names,
    node_settings_match,
    parse_list_instances,
    parse_master_key,
    parse_show_configuration,
    parse_version,
    same_account,
    same_connection,
    same_license,
    storage_matches,
)

KEY = "DVNbYEHJ9hmmH7YsVfLJQw=="


def _option(argv: list[str], name: str) -> str | None:
    """The value after ``name`` in argv (None when absent)."""
    return argv[argv.index(name) + 1] if name in argv else None


# --- names ---------------------------------------------------------------------------------------------


def test_service_name() -> None:
    assert oc.service_name("OctopusServer") == "OctopusDeploy"
    assert oc.service_name("octopusserver") == "OctopusDeploy"
    assert oc.service_name("Default") == "OctopusDeploy: Default"
    assert oc.service_name("HANode") == "OctopusDeploy: HANode"


def test_exe_path_follows_install_location() -> None:
    assert oc.exe_path(None) == oc.DEFAULT_EXE == "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe"
    assert oc.exe_path("C:\\Program Files\\Octopus Deploy\\Octopus\\") == oc.DEFAULT_EXE
    assert oc.exe_path("D:\\Octopus") == "D:\\Octopus\\Octopus.Server.exe"
    assert oc.exe_path("  ") == oc.DEFAULT_EXE


def test_config_path() -> None:
    assert oc.config_path("C:\\Octopus", "Default") == "C:\\Octopus\\OctopusServer-Default.config"
    assert oc.config_path("C:\\Octopus\\", "a/b") == "C:\\Octopus\\OctopusServer-a-b.config"


# --- builders ------------------------------------------------------------------------------------------


def test_create_instance() -> None:
    argv = oc.create_instance("Default", "C:\\Octopus\\OctopusServer-Default.config", "C:\\Octopus", "OCTO1")
    assert argv[0] == "create-instance"
    assert "--console" in argv
    assert _option(argv, "--instance") == "Default"
    assert _option(argv, "--config") == "C:\\Octopus\\OctopusServer-Default.config"
    assert _option(argv, "--home") == "C:\\Octopus"
    assert _option(argv, "--serverNodeName") == "OCTO1"
    bare = oc.create_instance("Default", "C:\\x.config")
    assert "--home" not in bare and "--serverNodeName" not in bare


def test_database_create_and_join() -> None:
    cs = "Data Source=sql;Initial Catalog=OctopusDeploy;Integrated Security=True;"
    create = oc.database_create("Default", cs, "WORK\\svcOctopus")
    assert create[0] == "database" and "--create" in create
    assert _option(create, "--connectionString") == cs
    assert _option(create, "--grant") == "WORK\\svcOctopus"
    assert "--masterKey" not in create
    join = oc.database_join("Default", cs, KEY)
    assert "--create" not in join and "--grant" not in join
    assert _option(join, "--masterKey") == KEY
    upgrade = oc.database("Default", upgrade=True, skip_license_check=True)
    assert "--upgrade" in upgrade and "--skipLicenseCheck" in upgrade and "--connectionString" not in upgrade
    with pytest.raises(ValueError, match="master key is empty"):
        oc.database_join("Default", cs, " ")


def test_configure() -> None:
    argv = oc.configure_node("Default", ["http://+:80/", "https://+:443/"], False, 10943)
    assert _option(argv, "--webListenPrefixes") == "http://+:80/,https://+:443/"
    assert _option(argv, "--webForceSSL") == "False"
    assert _option(argv, "--commsListenPort") == "10943"
    assert "--activeDirectoryIsEnabled" not in argv
    ad = oc.configure_active_directory("Default")
    assert _option(ad, "--activeDirectoryIsEnabled") == "True" and "--webListenPrefixes" not in ad
    both = oc.configure("Default", active_directory=True, username_password=False,
                        extra={"webAuthenticationScheme": "Ntlm"})
    assert _option(both, "--usernamePasswordIsEnabled") == "False"
    assert _option(both, "--webAuthenticationScheme") == "Ntlm"
    with pytest.raises(ValueError, match="comma"):
        oc.configure("Default", listen_prefixes=["http://a,b/"])
    with pytest.raises(ValueError, match="65535"):
        oc.configure("Default", comms_port=70000)


def test_path_cluster_shared_from_2020_2_15() -> None:
    storage = StorageSpec(cluster_shared=parse_windows_path("\\\\fs\\OctopusData"))
    [argv] = oc.path_commands("Default", storage, "2020.2.15")
    assert _option(argv, "--clusterShared") == "\\\\fs\\OctopusData"
    assert "--artifacts" not in argv


def test_path_per_folder_before_2020_2_15() -> None:
    storage = StorageSpec(cluster_shared=parse_windows_path("\\\\fs\\OctopusData"))
    [argv] = oc.path_commands("Default", storage, "2020.2.14")
    assert "--clusterShared" not in argv
    assert _option(argv, "--artifacts") == "\\\\fs\\OctopusData\\Artifacts"
    assert _option(argv, "--taskLogs") == "\\\\fs\\OctopusData\\TaskLogs"
    assert _option(argv, "--nugetRepository") == "\\\\fs\\OctopusData\\Packages"
    assert "--imports" not in argv  # the Imports folder came with 2021.1


def test_path_single_folders() -> None:
    storage = StorageSpec(folders={"artifacts": parse_windows_path("\\\\fs\\A"),
                                   "task_logs": parse_windows_path("\\\\fs\\T")})
    [argv] = oc.path_commands("Default", storage, "2025.3.1234")
    assert _option(argv, "--artifacts") == "\\\\fs\\A" and _option(argv, "--taskLogs") == "\\\\fs\\T"
    assert oc.path_commands("Default", StorageSpec(), "2025.3.1234") == []
    with pytest.raises(ValueError, match="unknown folder"):
        oc.path("Default", folders={"logs": "x"})


def test_service_never_carries_a_password() -> None:
    argv = oc.service_install("Default", "WORK\\svcOctopus")
    assert {"--install", "--reconfigure", "--start"} <= set(argv)
    assert _option(argv, "--username") == "WORK\\svcOctopus"
    assert not any(a.lower().startswith(("--password", "--pw")) for a in argv)
    assert "password" not in oc.service.__code__.co_varnames
    assert oc.service_stop("Default")[-1] == "--stop"
    assert "--start" in oc.service_start("Default")
    with pytest.raises(ValueError, match="--username"):
        oc.service("Default", start=True, username="WORK\\x")
    with pytest.raises(ValueError, match="at least one"):
        oc.service("Default")


def test_read_commands_ask_for_json() -> None:
    assert oc.list_instances() == ["list-instances", "--console", "--format", "json"]
    assert _option(oc.show_master_key("Default"), "--format") == "json"
    assert _option(oc.show_configuration("Default"), "--format") == "json"
    assert _option(oc.show_configuration("Default", hierarchical=True), "--format") == "json-hierarchical"
    assert oc.version()[0] == "version"


def test_admin_and_license() -> None:
    argv = oc.admin("Default", "WORK\\labadmin")
    assert _option(argv, "--username") == "WORK\\labadmin" and "--password" not in argv
    assert _option(oc.license_file("Default", "C:\\l.xml"), "--licenseFile") == "C:\\l.xml"
    assert _option(oc.license_base64("Default", "PExpY2Vuc2U+"), "--licenseBase64") == "PExpY2Vuc2U+"


def test_installers() -> None:
    msi = msiexec_install("C:\\Install\\Octopus.2025.3.1234-x64.msi", "C:\\Windows\\Temp\\m.log")
    assert msi[:3] == ["msiexec.exe", "/i", "C:\\Install\\Octopus.2025.3.1234-x64.msi"]
    assert "/quiet" in msi and "/norestart" in msi and "RUNMANAGERONEXIT=no" in msi
    assert _option(msi, "/l*v") == "C:\\Windows\\Temp\\m.log"
    choco = choco_install("2025.3.1234")
    assert choco[1:3] == ["install", "OctopusDeploy"] and _option(choco, "--version") == "2025.3.1234"
    assert "-y" in choco
    lines = describe_install(InstallSpec("https://mirror/x.msi", "url"), "2025.3.1234")
    assert "download-file" in lines[0] and lines[1].startswith("msiexec.exe /i")


# --- secrets -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--masterKey", "--masterkey", "--masterKey=abc", "masterKey", "--password",
                                    "--licenseBase64", "--apiKey", "--pfx-password", "--proxyPassword"])
def test_secret_options(option: str) -> None:
    assert is_secret_option(option)


@pytest.mark.parametrize("option", ["--instance", "--connectionString", "--username", "--grant", "--config"])
def test_not_secret_options(option: str) -> None:
    assert not is_secret_option(option)


def test_preview_masks_secrets() -> None:
    cs = "Server=sql;Database=Octo;User ID=octo;Password=s3cr;et"
    argv = oc.database_join("Default", cs + ";", KEY)
    shown = oc.preview(argv)
    assert KEY not in shown and "s3cr" not in shown
    assert "Server=sql" in shown and MASK in shown
    inline = oc.masked_argv(["license", "--licenseBase64=PExpY2Vuc2U+", "--connectionString=Pwd='a;b';X=1"])
    assert inline == ["license", f"--licenseBase64={MASK}", f"--connectionString=Pwd={MASK};X=1"]
    assert oc.masked_argv(["--masterKey", "--looks-like-an-option"]) == ["--masterKey", MASK]


# --- versions ------------------------------------------------------------------------------------------


def test_version_parsing_and_comparison() -> None:
    assert version_tuple("2025.3.1234") == (2025, 3, 1234)
    assert version_tuple("v2020.2.15") == (2020, 2, 15)
    assert version_tuple("2020.2.0") == version_tuple("2020.2")
    assert version_tuple("2024.1.5-preview.3") == (2024, 1, 5)
    assert compare_versions("2020.10.1", "2020.9.99") == 1
    assert compare_versions("3.16.4", "3.16.4.0") == 0
    with pytest.raises(ValueError, match="not an Octopus version"):
        version_tuple("latest")


@pytest.mark.parametrize(("version", "expected"), [
    ("2020.2.14", False), ("2020.2.15", True), ("2020.3", True), ("2019.13.7", False), ("2025.3.1234", True),
])
def test_cluster_shared_gate(version: str, expected: bool) -> None:
    assert supports_cluster_shared(version) is expected


def test_other_gates() -> None:
    assert supports_imports_folder("2021.1") and not supports_imports_folder("2020.6.4")
    assert supports_home_on_create_instance("3.16.4") and not supports_home_on_create_instance("3.16.3")
    assert supports_database_command("4.0") and not supports_database_command("3.17.14")
    assert supports("rotate_master_key", "2022.4.1")


# --- parsers -------------------------------------------------------------------------------------------


def test_parse_list_instances_json_and_text() -> None:
    js = json.dumps([{"InstanceName": "Default", "ConfigurationFilePath": "C:\\Octopus\\OctopusServer-Default.config"},
                     {"InstanceName": "Other", "ConfigurationFilePath": "D:\\o.config"}], indent=2)
    parsed = parse_list_instances("Migrating OctopusServer instance from registry - Old [x]\r\n" + js)
    assert instance_names(parsed) == ["Default", "Other"]
    assert parsed[0]["ConfigurationFilePath"] == "C:\\Octopus\\OctopusServer-Default.config"
    assert parse_list_instances("[]\r\n") == []
    text = "Instance 'MyNewInstance' uses configuration 'C:\\MyNewInstance\\MyNewInstance.config'.\r\n"
    assert parse_list_instances(text) == [
        {"InstanceName": "MyNewInstance", "ConfigurationFilePath": "C:\\MyNewInstance\\MyNewInstance.config"}]
    assert parse_list_instances("No instances installed\r\n") == []
    with pytest.raises(OctopusOutputError):
        parse_list_instances("Unhandled exception\r\n")


def test_parse_master_key() -> None:
    assert parse_master_key('{\r\n  "MasterKey": "' + KEY + '"\r\n}\r\n') == KEY
    assert parse_master_key(KEY + "\r\n") == KEY
    old = "Octopus Deploy: Server version 3.14.1\r\nMaster key:\r\n" + KEY + "\r\n"
    assert parse_master_key(old) == KEY
    assert parse_master_key("No master key has been configured\r\n") is None
    assert parse_master_key('{"MasterKey": ""}') is None


def test_parse_show_configuration_flat_with_stray_text() -> None:
    stray = ("2024-01-15 10:30:45.1234 Error Error has been raised. Exception: System.TimeoutException: "
             "The operation has timed out. {0}\r\n")
    doc = {"Octopus.Communications.ServicesPort": "10943", "Octopus.Home": "C:\\Octopus",
           "Octopus.WebPortal.ForceSSL": "False", "Octopus.WebPortal.ListenPrefixes": "http://+:80/"}
    conf = parse_show_configuration(stray + json.dumps(doc, indent=2))
    assert conf[KEY_COMMS_PORT] == "10943"
    assert conf[KEY_FORCE_SSL] == "False"  # filed under the canonical spelling
    assert node_settings_match(conf, ["http://+:80/"], False, 10943)
    assert not node_settings_match(conf, ["http://+:80/"], True, 10943)
    assert not node_settings_match(conf, ["http://+:8080/"], False, 10943)
    with pytest.raises(OctopusOutputError):
        parse_show_configuration("no json at all")


def test_parse_show_configuration_hierarchical() -> None:
    doc = {"Octopus": {
        "Communications": {"ServicesPort": 10943},
        "Home": "C:\\Octopus",
        "Server": {"NodeName": "OCTO1", "TaskCap": 5, "MaintenanceMode": False},
        "Storage": {"ExternalDatabaseConnectionString": "Server=sql;Database=Octo;Trusted_Connection=True"},
        "WebPortal": {"ListenPrefixes": "http://+:80/;https://+:443/", "ForceSSL": "True",
                      "ActiveDirectoryIsEnabled": True},
        "Folders": {"LogDirectory": "\\\\fs\\D\\TaskLogs"},
    }}
    conf = parse_show_configuration(json.dumps(doc))
    assert conf[KEY_NODE_NAME] == "OCTO1"
    assert conf["Octopus.Server.TaskCap"] == "5"
    assert conf["Octopus.Server.MaintenanceMode"] == "False"
    assert conf[KEY_AD_ENABLED] == "True"
    assert node_settings_match(conf, ["https://+:443/", "http://+:80"], True, 10943)
    assert same_connection(conf[KEY_CONNECTION_STRING],
                              "Data Source=SQL;Initial Catalog=Octo;Integrated Security=SSPI;")
    assert config_get(conf, "octopus.folders.logdirectory") == "\\\\fs\\D\\TaskLogs"


def test_same_connection() -> None:
    a = "Data Source=sql01;Initial Catalog=OctopusDeploy;Integrated Security=True;"
    assert same_connection(a, "server=SQL01; database=OctopusDeploy; trusted_connection=yes")
    assert not same_connection(a, "Data Source=sql01;Initial Catalog=Other;Integrated Security=True;")
    assert not same_connection("", a)
    assert same_connection("Server=s;Password=\"a;b\"", "Server=s;Pwd=\"a;b\";")
    assert not same_connection("Server=s;Password=Ab", "Server=s;Password=ab")
    # The wanted side is the spec's, parsed once; the node's side is read by the same SqlClient rules.
    assert same_connection("server=SQL01;database=OctopusDeploy;trusted_connection=SSPI", parse_connection_string(a))
    assert not same_connection("Data Source=sql01;Initial Catalog", parse_connection_string(a))


def test_storage_matches() -> None:
    root = "\\\\fs\\OctopusData"
    storage = StorageSpec(cluster_shared=parse_windows_path(root))
    assert storage_matches({KEY_CLUSTER_SHARED: root + "\\"}, storage, "2025.3.1234")
    assert not storage_matches({}, storage, "2025.3.1234")
    per_folder = {FOLDER_KEYS[k][0]: f"{root}\\{sub}" for k, (_, sub) in FOLDER_KEYS.items()}
    assert storage_matches(per_folder, storage, "2020.1.5")
    folders = StorageSpec(folders={"artifacts": parse_windows_path("\\\\fs\\A")})
    assert storage_matches({"Octopus.Folders.ArtifactsDirectory": "\\\\FS\\a"}, folders, "2025.3.1234")


def test_same_license() -> None:
    xml = "<License>\r\n  <Key>abc</Key>\r\n</License>"
    utf8 = base64.b64encode(xml.encode()).decode()
    utf16 = base64.b64encode(xml.encode("utf-16")).decode()
    assert same_license(utf8, utf8)
    assert same_license(utf16, utf8)
    assert same_license(xml, utf8)
    assert not same_license("", utf8)
    assert not same_license(base64.b64encode(b"<License/>").decode(), utf8)


def test_accounts_and_services() -> None:
    assert same_account("WORK\\svcOctopus", "work\\SVCOCTOPUS")
    assert same_account("svcOctopus@work.lab", "WORK\\svcOctopus")
    assert same_account(".\\svcOctopus", "WORK\\svcOctopus")
    assert not same_account("OTHER\\svcOctopus", "WORK\\svcOctopus")
    assert same_account("LocalSystem", "NT AUTHORITY\\SYSTEM")
    assert same_account("work\\SVCOCTOPUS", parse_account("WORK\\svcOctopus"))
    assert not same_account("NT AUTHORITY\\NETWORK SERVICE", parse_account("WORK\\svcOctopus"))
    state = {"services": [{"name": "OctopusDeploy: Default", "state": "Running"}]}
    assert find_service(state, "octopusdeploy: default") == state["services"][0]
    assert find_service(state, "OctopusDeploy") is None


@pytest.mark.parametrize(("code", "ok", "reboot", "retry"), [
    (0, True, False, False), (3010, True, True, False), (1641, True, True, False), (1603, False, False, False),
    (1618, False, False, True), (1619, False, False, False), (12345, False, False, False),
])
def test_installer_exit_codes(code: int, ok: bool, reboot: bool, retry: bool) -> None:
    meaning = msi_exit_meaning(code)
    assert (meaning.ok, meaning.reboot_required, meaning.retryable) == (ok, reboot, retry)
    assert meaning.text
    if not ok:
        assert meaning.hint


def test_parse_version_output() -> None:
    assert parse_version("2025.3.1234\r\n") == "2025.3.1234"
    assert parse_version('{"InformationalVersion": "2025.3.1234+Branch.main", "MajorMinorPatch": "2025.3.1234"}') \
        == "2025.3.1234"
    with pytest.raises(OctopusOutputError):
        parse_version("nothing")
