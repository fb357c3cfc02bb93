"""The answers file: the shipped examples and the lab's own file load; every kind of mistake is reported,
all at once, each naming its key and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from octotui.spec.answers import (
    AnswersError,
    Problem,
    format_problems,
    load_answers,
    parse_answers,
    parse_node,
    parse_nodes,
    parse_service_account,
    parse_sql,
    parse_winrm,
)
from octotui.spec.model import ClusterSpec, NodeSpec, ServiceAccountSpec, WinRMSettings
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString
from octotui.spec.parsers.hostnames import Host
from octotui.spec.parsers.prefixes import ListenPrefix
from octotui.spec.parsers.versions import OctopusVersion
from octotui.spec.parsers.winpath import WinPath

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"

BASE: dict[str, Any] = {
    "mode": "create",
    "octopus_version": "2025.3.1234",
    "instance": "Default",
    "winrm": {"username": "CORP\\admin", "transport": "ntlm", "https": True},
    "nodes": [{"host": "octo1.corp.example.com"}, {"host": "octo2.corp.example.com", "home": "D:\\Octopus"}],
    "service_account": {"username": "CORP\\svcOctopus"},
    "sql": {"connection_string": "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"},
    "storage": {"cluster_shared": "\\\\files01\\OctopusShared"},
    "web": {"listen_prefixes": ["http://+:80/"], "force_ssl": False, "comms_port": 10943},
    "install": {"source": "chocolatey"},
    "admin": {"username": "CORP\\jane"},
}


def answers(tmp_path: Path | None = None, **changes: Any) -> dict[str, Any]:
    """BASE with changes: ``section={...}`` merges into a table, ``key=None`` deletes it."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            for k, v in value.items():
                if v is None:
                    data[key].pop(k, None)
                else:
                    data[key][k] = v
        else:
            data[key] = value
    return data


def problems(data: dict[str, Any], tmp_path: Path | None = None) -> list[Problem]:
    with pytest.raises(AnswersError) as info:
        parse_answers(data, base_dir=tmp_path)
    return info.value.problems


def problem(data: dict[str, Any], key: str, tmp_path: Path | None = None) -> Problem:
    found = [p for p in problems(data, tmp_path) if p.key == key]
    assert found, f"no problem for {key}: {problems(data, tmp_path)}"
    return found[0]


# --- files that must load ---------------------------------------------------------------------------------


def test_create_example_loads() -> None:
    spec = load_answers(EXAMPLES / "create-cluster.toml")
    assert spec.mode == "create" and str(spec.octopus_version) == "2025.3.1234" and spec.instance == "Default"
    assert [n.name for n in spec.nodes] == ["OCTO1", "OCTO2", "OCTO3"]
    assert str(spec.nodes[2].home) == "D:\\Octopus" and str(spec.nodes[0].home) == "C:\\Octopus"
    assert str(spec.winrm.username) == "CORP\\octoadmin" and spec.winrm.https and spec.winrm.effective_port == 5986
    assert str(spec.storage.cluster_shared) == "\\\\files01.corp.example.com\\OctopusShared"
    assert spec.install.kind == "url"
    assert str(spec.admin_username) == "CORP\\jane.doe" and spec.license_file is None
    assert spec.source_file and spec.source_file.endswith("create-cluster.toml")


def test_join_example_loads() -> None:
    spec = load_answers(EXAMPLES / "join-nodes.toml")
    assert spec.mode == "join"
    assert [str(n.host) for n in spec.nodes] == ["octo4.corp.example.com", "octo5.corp.example.com"]
    assert spec.install.kind == "node_path" and spec.install.source == "C:\\Install\\Octopus.2025.3.1234-x64.msi"
    assert spec.admin_username is None and spec.storage.cluster_shared is None and not spec.storage.folders


@pytest.mark.slow
def test_the_labs_answers_file_loads(tmp_path: Path) -> None:
    from tests.fixtures.lab import running_lab

    with running_lab(tmp_path / "lab") as lab:
        spec = load_answers(lab.state / "answers.toml")
        assert [n.endpoint for n in spec.nodes] == [n["endpoint"] for n in lab.ready["nodes"]]
        assert str(spec.winrm.username) == lab.ready["admin"]["username"]
        assert str(spec.service_account.username) == lab.ready["service_account"]["username"]


def test_defaults() -> None:
    data = answers(instance=None, web=None, winrm={"transport": None, "https": None})
    spec = parse_answers(data)
    assert isinstance(spec, ClusterSpec)
    assert spec.instance == "OctopusServer"
    assert tuple(map(str, spec.web.listen_prefixes)) == ("http://+:80/",) and spec.web.comms_port == 10943
    assert spec.winrm.transport == "ntlm" and spec.winrm.https is True


def test_values_are_normalised() -> None:
    spec = parse_answers(answers(nodes=[{"host": "octo1.corp", "home": "d:/octopus/"}],
                                 web={"listen_prefixes": ["https://octo.corp/"], "force_ssl": True},
                                 storage={"cluster_shared": "//files01/share/"}))
    assert str(spec.nodes[0].home) == "D:\\octopus"
    assert tuple(map(str, spec.web.listen_prefixes)) == ("https://octo.corp:443/",)
    assert str(spec.storage.cluster_shared) == "\\\\files01\\share"


# --- every problem at once --------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = r"""
mode = "creat"
octopus_version = "latest"
colour = "blue"

[winrm]
usernmae = 'CORP\admin'
password = "hunter2"
https = "yes"
transport = "basic"

[[nodes]]
host = "octo_1"

[[nodes]]
host = "OCTO2"
home = '\\files\share\octopus'

[[nodes]]
host = "octo2"

[service_account]
username = "svcOctopus"

[sql]
connection_string = "Data Source=sql01;Initial Catalog=Octopus;User ID=sa;Password=p4ss"

[storage]
cluster_shared = '\\files01\Octopus'
artifacts = '\\files01\Octopus\Artifacts'

[web]
listen_prefixes = "http://+:80/"
comms_port = "10943"

[install]
source = "ftp://example.com/Octopus.msi"
"""
    path = tmp_path / "answers.toml"
    path.write_text(text)
    with pytest.raises(AnswersError) as info:
        load_answers(path)
    keys = [p.key for p in info.value.problems]
    for expected in ["mode", "octopus_version", "colour", "winrm.usernmae", "winrm.password", "winrm.https",
                     "nodes[1].host", "nodes[3].host", "service_account.username",
                     "sql.connection_string", "storage", "web.listen_prefixes", "web.comms_port",
                     "install.source", "winrm.username"]:
        assert expected in keys, (expected, keys)
    home = next(p for p in info.value.problems if p.key == "nodes[2].home")
    assert "must be local" in home.message
    assert all(p.message for p in info.value.problems)
    assert info.value.source == str(path)
    text_out = format_problems(info.value)
    assert text_out.startswith(f"{path}: {len(keys)} problems in the answers file:")
    assert "winrm.usernmae: is not a known key" in text_out and "fix: did you mean 'username'?" in text_out
    assert "hunter2" not in text_out and "p4ss" not in text_out


def test_unknown_keys_get_a_did_you_mean() -> None:
    assert problem(answers(sql={"connectionstring": "x"}), "sql.connectionstring").fix == \
        "did you mean 'connection_string'?"
    assert "move it under [winrm]" in problem(answers(transport="ntlm"), "transport").fix
    assert "move it under [[nodes]]" in problem(answers(winrm={"home": "C:\\x"}), "winrm.home").fix
    assert "known keys" in problem(answers(storage={"zzz": 1}), "storage.zzz").fix
    assert "did you mean 'host'" in problem(answers(nodes=[{"hots": "a", "host": "b"}]), "nodes[1].hots").fix


@pytest.mark.parametrize(("changes", "key", "needle"), [
    ({"winrm": {"password": "x"}}, "winrm.password", "OCTOTUI_WINRM_PASSWORD"),
    ({"service_account": {"password": "x"}}, "service_account.password", "OCTOTUI_SERVICE_PASSWORD"),
    ({"master_key": "x"}, "master_key", "OCTOTUI_MASTER_KEY"),
    ({"sql": {"pwd": "x"}}, "sql.pwd", "Integrated Security"),
    ({"admin": {"password": "x"}}, "admin.password", "own domain password"),
    ({"nodes": [{"host": "a", "password": "x"}]}, "nodes[1].password", "OCTOTUI_WINRM_PASSWORD"),
    ({"api_key": "x"}, "api_key", "keyring"),
])
def test_keys_that_hold_secrets_are_refused(changes: dict[str, Any], key: str, needle: str) -> None:
    p = problem(answers(**changes), key)
    assert "secret" in p.message and needle in p.fix


def test_secret_values_are_refused() -> None:
    p = problem(answers(sql={"connection_string": "Data Source=s;Initial Catalog=o;Integrated Security=True;"
                                                  "PWD=x"}), "sql.connection_string")
    assert "password" in p.message
    assert "user information" in problem(answers(install={"source": "https://u:p@example.com/Octopus.msi"}),
                                         "install.source").message
    assert "user information" in problem(answers(nodes=[{"host": "a", "endpoint": "https://u:p@a:5986/wsman"}]),
                                         "nodes[1].endpoint").message


@pytest.mark.parametrize(("changes", "key", "needle"), [
    ({"winrm": {"https": "true"}}, "winrm.https", "without quotes"),
    ({"winrm": {"port": "5986"}}, "winrm.port", "whole number"),
    ({"winrm": {"port": 0}}, "winrm.port", "outside"),
    ({"web": {"comms_port": True}}, "web.comms_port", "whole number"),
    ({"web": {"listen_prefixes": []}}, "web.listen_prefixes", "non-empty"),
    ({"web": {"listen_prefixes": [80]}}, "web.listen_prefixes[1]", "must be a string"),
    ({"web": {"force_ssl": 1}}, "web.force_ssl", "boolean"),
    ({"nodes": {"host": "a"}}, "nodes", "[[nodes]]"),
    ({"nodes": []}, "nodes", "at least one"),
    ({"nodes": ["octo1"]}, "nodes[1]", "must be a table"),
    ({"winrm": "CORP\\admin"}, "winrm", "must be a table"),
    ({"octopus_version": 2025.3}, "octopus_version", "string"),
    ({"mode": "joint"}, "mode", "did you mean 'join'"),
    ({"instance": "My:Instance"}, "instance", "cannot be an Octopus instance name"),
    ({"instance": ""}, "instance", "empty"),
])
def test_wrong_types_and_values(changes: dict[str, Any], key: str, needle: str) -> None:
    p = problem(answers(**changes), key)
    assert needle in p.message + p.fix


@pytest.mark.parametrize("missing", ["mode", "octopus_version", "winrm", "nodes", "service_account", "sql",
                                     "install", "admin", "storage"])
def test_required_keys(missing: str) -> None:
    p = problem(answers(**{missing: None}), missing)
    assert p.fix


def test_required_keys_inside_tables() -> None:
    assert problem(answers(winrm={"username": None}), "winrm.username").message == "is missing"
    assert problem(answers(nodes=[{"home": "C:\\x"}]), "nodes[1].host").message == "is missing"
    assert problem(answers(sql={"connection_string": None}), "sql.connection_string").fix


def test_join_mode_refuses_cluster_wide_tables(tmp_path: Path) -> None:
    (tmp_path / "lic.xml").write_text("<License/>")
    data = answers(mode="join", license={"file": "lic.xml"})
    keys = {p.key for p in problems(data, tmp_path)}
    assert {"admin", "license", "storage"} <= keys
    spec = parse_answers(answers(mode="join", admin=None, storage=None))
    assert spec.mode == "join" and spec.admin_username is None


def test_create_mode_takes_a_licence_file_relative_to_the_answers(tmp_path: Path) -> None:
    (tmp_path / "lic.xml").write_text("<License/>")
    spec = parse_answers(answers(license={"file": "lic.xml"}), base_dir=tmp_path)
    assert spec.license_file == str((tmp_path / "lic.xml").resolve())
    assert "does not exist" in problem(answers(license={"file": "nope.xml"}), "license.file", tmp_path).message


def test_admin_must_be_a_person() -> None:
    assert "managed service account" in problem(answers(admin={"username": "CORP\\gmsa$"}), "admin.username").message
    assert "no domain" in problem(answers(admin={"username": "jane"}), "admin.username").message


# --- nodes ------------------------------------------------------------------------------------------------


def test_duplicate_nodes() -> None:
    data = answers(nodes=[{"host": "octo1.corp"}, {"host": "OCTO1.corp."}, {"host": "octo3", "name": "OCTO1"},
                          {"host": "10.0.0.4", "name": "X4", "endpoint": "https://h:1/wsman"},
                          {"host": "10.0.0.5", "name": "X5", "endpoint": "https://h:1/wsman"}])
    found = {p.key: p for p in problems(data)}
    assert "nodes[1]" in found["nodes[2].host"].message
    assert "nodes[2].name" not in found and "nodes[3].name" in found  # one problem for a repeated host
    assert "nodes[5].endpoint" in found


def test_node_names() -> None:
    spec = parse_answers(answers(nodes=[{"host": "octo1.corp"}, {"host": "10.0.0.2", "name": "OCTO2"}]))
    assert [n.name for n in spec.nodes] == ["OCTO1", "OCTO2"]
    assert "derived" in problem(answers(nodes=[{"host": "10.0.0.2"}]), "nodes[1].name").message
    assert "15" in problem(answers(nodes=[{"host": "a", "name": "A" * 16}]), "nodes[1].name").message


@pytest.mark.parametrize(("home", "needle"), [
    ("\\\\files\\share\\Octopus", "must be local"),
    ("C:\\", "drive root"),
    ("Octopus", "relative"),
    ("C:\\Octo|pus", "does not allow"),
    ("\\\\?\\C:\\Octopus", "verbatim"),
])
def test_homes_must_be_local_folders(home: str, needle: str) -> None:
    p = problem(answers(nodes=[{"host": "a", "home": home}]), "nodes[1].home")
    assert needle in p.message and p.fix


def test_endpoints() -> None:
    spec = parse_answers(answers(winrm={"https": False}, nodes=[{"host": "OCTO1",
                                                                 "endpoint": "http://127.0.0.1:5985/wsman"}]))
    assert spec.nodes[0].endpoint == "http://127.0.0.1:5985/wsman"
    assert "make them agree" in problem(answers(nodes=[{"host": "a", "endpoint": "http://a:5985/wsman"}]),
                                        "nodes[1].endpoint").fix
    assert "not an http(s) URL" in problem(answers(nodes=[{"host": "a", "endpoint": "a:5985"}]),
                                           "nodes[1].endpoint").message


# --- WinRM ------------------------------------------------------------------------------------------------


def test_basic_over_http_is_refused() -> None:
    p = problem(answers(winrm={"transport": "basic", "https": False}), "winrm.transport")
    assert "unprotected" in p.message and "https = true" in p.fix
    assert parse_answers(answers(winrm={"transport": "basic"})).winrm.transport == "basic"


def test_transport_specific_rules(tmp_path: Path) -> None:
    assert "one of" in problem(answers(winrm={"transport": "digest"}), "winrm.transport").fix
    assert "Kerberos" in problem(answers(winrm={"transport": "kerberos"}, nodes=[{"host": "10.0.0.1", "name": "A"}]),
                                 "nodes[1].host").message
    assert "domain account" in problem(answers(winrm={"transport": "kerberos", "username": "admin"}),
                                       "winrm.username").message
    keys = {p.key for p in problems(answers(winrm={"transport": "certificate", "https": False}), tmp_path)}
    assert {"winrm.cert_pem", "winrm.cert_key_pem", "winrm.https"} <= keys
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    spec = parse_answers(answers(winrm={"transport": "certificate", "username": None, "cert_pem": "c.pem",
                                        "cert_key_pem": "k.pem"}), base_dir=tmp_path)
    assert spec.winrm.cert_pem == str(tmp_path / "c.pem")
    assert "only applies" in problem(answers(winrm={"cert_pem": "c.pem"}), "winrm.cert_pem", tmp_path).message


def test_ca_cert_and_validation(tmp_path: Path) -> None:
    import certifi

    (tmp_path / "ca.pem").write_bytes(Path(certifi.where()).read_bytes())
    spec = parse_answers(answers(winrm={"ca_cert": "ca.pem", "port": 15986}), base_dir=tmp_path)
    assert spec.winrm.ca_cert == str(tmp_path / "ca.pem") and spec.winrm.effective_port == 15986
    assert "HTTPS" in problem(answers(winrm={"ca_cert": "ca.pem", "https": False}), "winrm.ca_cert", tmp_path).message
    assert "does not exist" in problem(answers(winrm={"ca_cert": "no.pem"}), "winrm.ca_cert", tmp_path).message
    assert "validate" in problem(answers(winrm={"server_cert_validation": "off"}),
                                 "winrm.server_cert_validation").fix
    assert parse_answers(answers(winrm={"username": ".\\Administrator"})).winrm.logon == ".\\Administrator"


# --- storage, web, install, version -----------------------------------------------------------------------


def test_storage_rules() -> None:
    assert "either cluster_shared" in problem(answers(storage={"artifacts": "\\\\f\\s\\A"}), "storage").fix
    folders = {"artifacts": "\\\\f\\s\\Artifacts", "task_logs": "\\\\f\\s\\TaskLogs",
               "nuget_repository": "\\\\f\\s\\Packages"}
    data = answers(storage=None)
    data["storage"] = dict(folders)
    assert "imports" in problem(data, "storage").message
    old = parse_answers({**data, "octopus_version": "2020.1.18"})
    assert {k: str(v) for k, v in old.storage.folders.items()} == folders and old.storage.cluster_shared is None
    data["storage"] = {**folders, "imports": "\\\\f\\s\\Artifacts", "event_exports": "\\\\f\\s\\E",
                       "telemetry": "\\\\f\\s\\T"}
    assert "same folder" in problem(data, "storage.imports").message
    assert "names no shared folder" in problem({**data, "storage": {}}, "storage").message
    inside = answers(storage={"cluster_shared": "C:\\Octopus\\Shared"})
    assert "home folder" in problem(inside, "storage.cluster_shared").message
    assert str(parse_answers(answers(storage={"cluster_shared": "S:\\Octopus"})).storage.cluster_shared) == "S:\\Octopus"


def test_web_rules() -> None:
    assert "https" in problem(answers(web={"force_ssl": True}), "web.force_ssl").message
    assert "listed twice" in problem(answers(web={"listen_prefixes": ["http://+:80/", "HTTP://+:80"]}),
                                     "web.listen_prefixes[2]").message
    assert "web listen port" in problem(answers(web={"comms_port": 80}), "web.comms_port").message
    assert "WinRM" in problem(answers(web={"comms_port": 5986}), "web.comms_port").message
    assert "wildcard" in problem(answers(web={"listen_prefixes": ["http://+x:80/"]}),
                                 "web.listen_prefixes[1]").message


def test_install_sources(tmp_path: Path) -> None:
    msi = tmp_path / "Octopus.2025.3.1234-x64.msi"
    msi.write_text("x")

    def kind(source: str, **winrm: Any) -> tuple[str, str]:
        spec = parse_answers(answers(install={"source": source}, winrm=winrm or {}), base_dir=tmp_path)
        return spec.install.kind, spec.install.source

    assert kind("chocolatey") == ("chocolatey", "chocolatey")
    assert kind("Chocolatey")[0] == "chocolatey"
    assert kind("https://download.octopusdeploy.com/octopus/Octopus.2025.3.1234-x64.msi")[0] == "url"
    assert kind("C:\\Install\\Octopus.2025.3.1234-x64.msi") == ("node_path", "C:\\Install\\Octopus.2025.3.1234-x64.msi")
    assert kind(msi.name) == ("local_file", str(msi))
    assert kind(str(msi)) == ("local_file", str(msi))
    assert kind("\\\\files\\share\\Octopus.msi", transport="credssp")[0] == "node_path"

    def why(source: str) -> str:
        p = problem(answers(install={"source": source}), "install.source", tmp_path)
        return p.message + " " + p.fix

    assert "double hop" in why("\\\\files\\share\\Octopus.msi")
    assert "not an .msi" in why("C:\\Install\\setup.exe")
    assert "does not exist" in why("missing.msi")
    assert "'ftp' URLs" in why("ftp://x/Octopus.msi")
    assert "is version 2024.4.7002" in why("https://x/Octopus.2024.4.7002-x64.msi")
    assert "does not allow" in why("C:\\Install\\Oct|opus.msi")


def test_version_problems() -> None:
    assert "exact" in problem(answers(octopus_version="2025.3"), "octopus_version").fix


# --- file-level errors ------------------------------------------------------------------------------------


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(AnswersError) as info:
        load_answers(tmp_path / "nope.toml")
    assert info.value.problems[0].key == "(file)" and "does not exist" in info.value.problems[0].message
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "create"\nhome = "C:\\Octopus"\n')
    with pytest.raises(AnswersError) as info:
        load_answers(bad)
    assert "not valid TOML" in info.value.problems[0].message and "single quotes" in info.value.problems[0].fix
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(AnswersError, match="UTF-8"):
        load_answers(binary)


# --- files that must be what their key says (issue 7, item 10) -------------------------------------------

CA_FIX = ("give the PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the certificates, "
          "relative to the answers file's folder or absolute")


@pytest.mark.parametrize(("section", "key"), [("winrm", "winrm.ca_cert"), ("ad", "ad.ca_cert")])
@pytest.mark.parametrize("content", [
    "garbage, not a certificate\n",
    "",
    "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIB2hWbr7tB/8VqYqvd8kUS8EB/0CCr6LDsuZ3Wx4kXTN\n"
    "-----END PRIVATE KEY-----\n",
], ids=["garbage", "empty", "bad-base64", "a-key-not-a-certificate"])
def test_a_ca_cert_that_is_not_a_pem_certificate_is_refused_naming_the_key(
        tmp_path: Path, section: str, key: str, content: str) -> None:
    (tmp_path / "ca.pem").write_text(content)
    p = problem(answers(**{section: {"ca_cert": "ca.pem"}}), key, tmp_path)
    assert p.message == f"the CA certificate file '{tmp_path / 'ca.pem'}' holds no PEM certificate"
    assert p.fix == CA_FIX


@pytest.mark.parametrize("section", ["winrm", "ad"])
def test_a_real_pem_ca_bundle_is_taken(section: str) -> None:
    import certifi

    spec = parse_answers(answers(**{section: {"ca_cert": certifi.where()}}))
    assert getattr(spec, section).ca_cert == str(Path(certifi.where()).resolve())


LICENCE_FIX = ("give the licence file Octopus Deploy sent you (an XML file whose root element is <License>), "
               "or remove the [license] table")


def test_a_licence_file_that_is_not_xml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    p = problem(answers(license={"file": "passwd"}), "license.file", tmp_path)
    assert p.message == (f"the licence file '{tmp_path / 'passwd'}' is not an Octopus licence: it is not XML "
                         "(not well-formed (invalid token): line 1, column 16)")
    assert p.fix == LICENCE_FIX


def test_a_licence_file_of_other_xml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "web.config").write_text('<?xml version="1.0"?>\n<configuration><appSettings/></configuration>\n')
    p = problem(answers(license={"file": "web.config"}), "license.file", tmp_path)
    assert p.message == (f"the licence file '{tmp_path / 'web.config'}' is not an Octopus licence: its root "
                         "element is <configuration>, not <License>")
    assert p.fix == LICENCE_FIX


def test_a_huge_licence_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "Octopus.2025.3.1234-x64.msi"
    big.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(2 * 1024 * 1024))
    p = problem(answers(license={"file": big.name}), "license.file", tmp_path)
    assert p.message == (f"the licence file '{big}' is not an Octopus licence: it is 2.0 MB, and licences are "
                         "a few kilobytes")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_an_octopus_licence_is_taken(tmp_path: Path, encoding: str) -> None:
    licence = ('<?xml version="1.0" encoding="{}"?>\n<License Signature="c2lnbmF0dXJl">\n'
               "  <LicensedTo>Acme</LicensedTo>\n  <LicenseKey>12345-67890</LicenseKey>\n"
               "  <NodeLimit>Unlimited</NodeLimit>\n</License>\n")
    declared = "utf-16" if encoding == "utf-16" else "utf-8"
    (tmp_path / "octopus-license.xml").write_bytes(licence.format(declared).encode(encoding))
    spec = parse_answers(answers(license={"file": "octopus-license.xml"}), base_dir=tmp_path)
    assert spec.license_file == str((tmp_path / "octopus-license.xml").resolve())


# --- messages speak TOML, not Python ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [("ten", "'ten'"), (True, "true"), (10.5, "10.5"),
                                              ([10943], "a list")])
def test_a_comms_port_that_is_not_a_number_says_what_was_written(value: object, shown: str) -> None:
    p = problem(answers(web={"comms_port": value}), "web.comms_port")
    assert p.message == f"the comms port must be a whole number from 1 to 65535, not {shown}"
    assert p.fix == "write a number between 1 and 65535"


def test_a_quoted_port_gets_the_number_to_write() -> None:
    p = problem(answers(winrm={"port": "5986"}), "winrm.port")
    assert p.message == "the WinRM port must be a whole number from 1 to 65535, not '5986'"
    assert p.fix == "write the number without quotes: 5986"


def test_no_message_names_a_python_type() -> None:
    import datetime
    import re

    data = answers(octopus_version=datetime.date(2025, 3, 1), instance=5,
                   winrm={"port": "x", "https": "yes", "transport": 3},
                   web={"comms_port": datetime.datetime(2025, 1, 1, 10, 0), "force_ssl": 1.5,
                        "listen_prefixes": [80]},
                   ad={"nameservers": [datetime.time(10, 0)]})
    found = problems(data)
    text = format_problems(AnswersError(found))
    assert len(found) >= 8, text
    python_names = re.compile(r"\b(str|int|bool|float|dict|NoneType|datetime|date|time)\b")
    assert not python_names.search(text.replace("a date or time", "")), text
    assert "must be a string, not a date or time" in text


# --- typed values, parsed once ----------------------------------------------------------------------------


def test_the_spec_holds_parsed_values() -> None:
    spec = parse_answers(answers(web={"listen_prefixes": ["https://octo.corp/"]},
                                 sql={"connection_string": "Server=sql01;Database=Octopus;Trusted_Connection=yes"}))
    assert isinstance(spec.octopus_version, OctopusVersion) and spec.octopus_version.parts == (2025, 3, 1234)
    assert isinstance(spec.winrm.username, Account) and spec.winrm.username.netbios_domain == "CORP"
    assert spec.service_account.username.name == "svcOctopus" and spec.admin_username is not None
    assert isinstance(spec.nodes[0].host, Host) and isinstance(spec.nodes[0].home, WinPath)
    assert isinstance(spec.storage.cluster_shared, WinPath) and spec.storage.cluster_shared.is_unc
    assert spec.storage.cluster_shared.share == "OctopusShared"
    [prefix] = spec.web.listen_prefixes
    assert isinstance(prefix, ListenPrefix) and prefix.port == 443
    # The connection string is kept as written (it goes verbatim to --connectionString), read by SqlClient's rules.
    assert isinstance(spec.connection_string, ConnectionString)
    assert str(spec.connection_string) == "Server=sql01;Database=Octopus;Trusted_Connection=yes"
    assert spec.connection_string.database == "Octopus" and spec.connection_string.integrated_security is True
    assert str(spec.nodes[1].home) == "D:\\Octopus" and str(spec.nodes[0].home) == "C:\\Octopus"


def test_an_ipv6_node_gets_a_bracketed_url() -> None:
    spec = parse_answers(answers(nodes=[{"host": "fe80::1", "name": "OCTO1"}]))
    assert spec.nodes[0].url(spec.winrm) == "https://[fe80::1]:5986/wsman"
    assert str(spec.nodes[0].host) == "fe80::1"


def test_one_section_at_a_time_for_the_wizard(tmp_path: Path) -> None:
    data = answers()
    winrm = parse_winrm(data, base_dir=tmp_path)
    assert isinstance(winrm, WinRMSettings) and winrm.logon == "CORP\\admin"
    node = parse_node({"host": "octo2.corp.example.com", "home": "D:/Octopus/"}, 2, winrm)
    assert isinstance(node, NodeSpec) and (node.name, str(node.home)) == ("OCTO2", "D:\\Octopus")
    rows = {"nodes": [{"host": "a.corp"}, {"host": ""}, {"host": "b_c"}, {"host": "d.corp", "home": ""}, "junk"]}
    assert [(i, n.name, str(n.home)) for i, n in parse_nodes(rows, winrm)] == [(1, "A", "C:\\Octopus"),
                                                                              (4, "D", "C:\\Octopus")]
    service = parse_service_account(data)
    assert isinstance(service, ServiceAccountSpec) and str(service.username) == "CORP\\svcOctopus"
    cs = parse_sql(data)
    assert isinstance(cs, ConnectionString) and cs.database == "Octopus"
    # A section with a problem gives its problems, keyed as in a whole file; the rest of the file is not read.
    bad_winrm = parse_winrm({"winrm": {"username": "CORP\\a\\b", "transport": "ntlm"}, "nodes": "junk"})
    assert isinstance(bad_winrm, list) and [p.key for p in bad_winrm] == ["winrm.username"]
    bad_node = parse_node({"host": "octo_1", "home": "\\\\srv\\share"}, 3, winrm)
    assert isinstance(bad_node, list) and {p.key for p in bad_node} == {"nodes[3].host", "nodes[3].home"}
    no_service = parse_service_account({})
    assert isinstance(no_service, list) and [p.key for p in no_service] == ["service_account"]
    bad_sql = parse_sql({"sql": {"connection_string": "Data Source=s;Password=x;Initial Catalog=d"}})
    assert isinstance(bad_sql, list) and "secret" in bad_sql[0].message
