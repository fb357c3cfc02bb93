"""The plan builder (octotui.plan.build): the whole plan a user reviews, exactly, and who runs each step.

``octotui plan`` prints this text and the wizard shows the same steps for review before anything runs, so
the tests compare the whole of it: every step of every node in order, its title, who it runs as and every
command. Then the rules that choose the steps and identities, one case each: create and join mode, the
optional administrator and licence, CredSSP, a missing password, the certificate warning that comes first.
Written against the mutants that survived without tests of the builder's own (bench/mutation.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from octotui.plan.build import (
    BASIC_DOMAIN_ACCOUNT,
    CERT_NOT_VALIDATED,
    NEEDS_CREDENTIALS,
    Plan,
    PlannedStep,
    build_plan,
    format_plan,
)
from octotui.spec.answers import load_answers
from octotui.spec.model import ClusterSpec

ANSWERS = r"""
mode = "create"
octopus_version = "2024.2.100"
instance = "Main"

[winrm]
username = 'WORK\admin'
https = true
server_cert_validation = "ignore"
transport = "kerberos"

[[nodes]]
host = "octo1.work.lab"

[[nodes]]
host = "octo2.work.lab"
home = 'D:\Octopus'

[service_account]
username = 'WORK\svcOctopus'

[sql]
connection_string = "Data Source=sql01;Initial Catalog=Octo;Integrated Security=True;"

[web]
listen_prefixes = ["https://+:443/", "http://+:80/"]
force_ssl = true
comms_port = 10944

[install]
source = 'C:\Install\Octopus.2024.2.100-x64.msi'

[storage]
cluster_shared = '\\files\Octopus'

[admin]
username = 'WORK\jane'
"""


EXPECTED_CREATE = """\
Plan: create cluster, Octopus 2024.2.100, instance 'Main', 2 node(s)
WARNING: [winrm] server_cert_validation = "ignore": the nodes' TLS certificates are NOT validated, so anyone on the path can pose as a node and receive the passwords octotui sends it. Set [winrm] ca_cert to the CA's PEM file and server_cert_validation = "validate" ("ignore" is for a test lab only).
WARNING: Kerberos without delegation cannot reach SQL Server or the share from the node (the double hop); the database steps will run as a scheduled task instead.
WARNING: No identity can carry credentials to SQL Server and the share from the nodes: use transport = "credssp", or give the WinRM or service account password so the steps can run as a scheduled task. The database steps will fail as NT AUTHORITY\\ANONYMOUS LOGON.

1) OCTO1 (first node, alone):
   1. guard-database   refuse a database that already holds another Octopus cluster
      as WORK\\admin (WinRM session)
      $ test-sql.ps1 (reads the database state)
   2. install          install Octopus Server 2024.2.100 (node_path)
      as WORK\\admin (WinRM session)
      $ msiexec.exe /i C:\\Install\\Octopus.2024.2.100-x64.msi /quiet /norestart RUNMANAGERONEXIT=no /l*v C:\\Windows\\Temp\\octotui-msi-2024.2.100.log
   3. create-instance  create instance Main with home C:\\Octopus
      as WORK\\admin (WinRM session)
      $ create-instance --console --instance Main --config C:\\Octopus\\OctopusServer-Main.config --home C:\\Octopus --serverNodeName OCTO1
   4. database         create the database and grant the service account db_owner
      as WORK\\admin (WinRM session)
      $ database --console --instance Main --connectionString "Data Source=sql01;Initial Catalog=Octo;Integrated Security=True;" --create --grant WORK\\svcOctopus
   5. configure        listen prefixes, SSL, comms port
      as WORK\\admin (WinRM session)
      $ configure --console --instance Main --webListenPrefixes https://+:443/,http://+:80/ --webForceSSL True --commsListenPort 10944
   6. authentication   Active Directory authentication on (cluster-wide)
      as WORK\\admin (WinRM session)
      $ configure --console --instance Main --activeDirectoryIsEnabled True
   7. admin            first administrator WORK\\jane
      as WORK\\admin (WinRM session)
      $ admin --console --instance Main --username WORK\\jane
   8. license          licence from C:\\lic.xml
      as WORK\\admin (WinRM session)
      $ license --console --instance Main --licenseBase64 ********
   9. path             shared storage, once for the cluster
      as WORK\\admin (WinRM session)
      $ path --console --instance Main --clusterShared \\\\files\\Octopus
  10. service          service runs as WORK\\svcOctopus and is started
      as WORK\\admin (WinRM session)
      $ service --console --instance Main --stop
      $ service --console --instance Main --install --reconfigure --start --username WORK\\svcOctopus  (password via OCTOPUS_SERVICE_PASSWORD)
  11. ping             wait for /api/octopusservernodes/ping to answer 200
      as WORK\\admin (WinRM session)
      $ wait-ping.ps1
  12. master-key       read the master key; keep it in the keyring or the encrypted file (--master-key-store)
      as WORK\\admin (WinRM session)
      $ show-master-key --console --instance Main --format json --noconsolelogging

2) then in parallel:

   OCTO2:
   1. install          install Octopus Server 2024.2.100 (node_path)
      as WORK\\admin (WinRM session)
      $ msiexec.exe /i C:\\Install\\Octopus.2024.2.100-x64.msi /quiet /norestart RUNMANAGERONEXIT=no /l*v C:\\Windows\\Temp\\octotui-msi-2024.2.100.log
   2. create-instance  create instance Main with home D:\\Octopus
      as WORK\\admin (WinRM session)
      $ create-instance --console --instance Main --config D:\\Octopus\\OctopusServer-Main.config --home D:\\Octopus --serverNodeName OCTO2
   3. database         connect to the cluster database with the master key
      as WORK\\admin (WinRM session)
      $ database --console --instance Main --connectionString "Data Source=sql01;Initial Catalog=Octo;Integrated Security=True;" --masterKey ********
   4. configure        listen prefixes, SSL, comms port
      as WORK\\admin (WinRM session)
      $ configure --console --instance Main --webListenPrefixes https://+:443/,http://+:80/ --webForceSSL True --commsListenPort 10944
   5. service          service runs as WORK\\svcOctopus and is started
      as WORK\\admin (WinRM session)
      $ service --console --instance Main --stop
      $ service --console --instance Main --install --reconfigure --start --username WORK\\svcOctopus  (password via OCTOPUS_SERVICE_PASSWORD)
   6. ping             wait for /api/octopusservernodes/ping to answer 200
      as WORK\\admin (WinRM session)
      $ wait-ping.ps1
"""

KERBEROS = ("Kerberos without delegation cannot reach SQL Server or the share from the node (the double hop); the "
            "database steps will run as a scheduled task instead.")
NO_IDENTITY = ("No identity can carry credentials to SQL Server and the share from the nodes: use transport = "
               "\"credssp\", or give the WinRM or service account password so the steps can run as a scheduled "
               "task. The database steps will fail as NT AUTHORITY\\ANONYMOUS LOGON.")
SERVICE_BECOMES = ("The database and storage steps will run as WORK\\svcOctopus: it needs CREATE ANY DATABASE (create "
                   "mode) or db_owner on the database before the run.")
CREATE_STEPS = ["guard-database", "install", "create-instance", "database", "configure", "authentication", "admin",
                "license", "path", "service", "ping", "master-key"]
JOIN_STEPS = ["install", "create-instance", "database", "configure", "service", "ping"]
NOT_CHANGING = {"guard-database", "ping", "master-key"}


def spec_of(tmp_path: Path, text: str = ANSWERS, **changes: Any) -> ClusterSpec:
    (tmp_path / "answers.toml").write_text(text, encoding="utf-8")
    spec = load_answers(str(tmp_path / "answers.toml"))
    return dataclasses.replace(spec, **changes) if changes else spec


def steps(chain: list[PlannedStep]) -> list[tuple[str, str, str, bool]]:
    """Each step as (node, step, who it runs as, whether it changes the node)."""
    return [(s.node, s.step, s.identity.describe(), s.changing) for s in chain]


def test_the_whole_create_plan(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, license_file="C:\\lic.xml")
    plan = build_plan(spec, have_winrm_password=False, have_service_password=False)
    assert format_plan(plan) == EXPECTED_CREATE
    assert plan.credential_identity is None
    assert plan.spec is spec
    assert plan.all_steps() == plan.first + plan.joins["OCTO2"]


def test_credential_steps_run_as_whoever_can_carry_credentials(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, license_file="C:\\lic.xml")
    become = "WORK\\admin (scheduled task with its password: carries credentials)"
    session = "WORK\\admin (WinRM session)"
    plan = build_plan(spec)  # both passwords: the WinRM user's, as a scheduled task
    assert plan.warnings == [CERT_NOT_VALIDATED, KERBEROS]
    assert plan.credential_identity is not None and plan.credential_identity.describe() == become
    assert steps(plan.first) == [("OCTO1", s, become if s in NEEDS_CREDENTIALS else session, s not in NOT_CHANGING)
                                 for s in CREATE_STEPS]
    assert steps(plan.joins["OCTO2"]) == [
        ("OCTO2", s, become if s in NEEDS_CREDENTIALS else session, s != "ping") for s in JOIN_STEPS]
    # Without the WinRM password, the service account's (not a gMSA) carries them, with a warning.
    plan = build_plan(spec, have_winrm_password=False, have_service_password=True)
    assert plan.warnings == [CERT_NOT_VALIDATED, KERBEROS, SERVICE_BECOMES]
    service = "WORK\\svcOctopus (scheduled task with its password: carries credentials)"
    assert [s.identity.describe() for s in plan.first if s.step in NEEDS_CREDENTIALS] == [service] * 6
    assert {s.identity.describe() for s in plan.first if s.step not in NEEDS_CREDENTIALS} == {session}
    assert {s.identity.how for s in plan.first if s.step not in NEEDS_CREDENTIALS} == {"session"}
    # The service password counts as given unless the caller says otherwise.
    assert build_plan(spec, have_winrm_password=False).warnings == [CERT_NOT_VALIDATED, KERBEROS, SERVICE_BECOMES]


def test_credssp_sessions_carry_credentials_for_every_step(tmp_path: Path) -> None:
    text = ANSWERS.replace('transport = "kerberos"', 'transport = "credssp"')
    plan = build_plan(spec_of(tmp_path, text))
    credssp = "WORK\\admin (CredSSP session: credentials delegated)"
    assert plan.warnings == [CERT_NOT_VALIDATED]
    assert {s.identity.describe() for s in plan.all_steps()} == {credssp}
    assert {s.identity.how for s in plan.all_steps()} == {"credssp"}


def test_the_certificate_warning_only_for_https_without_validation(tmp_path: Path) -> None:
    validated = ANSWERS.replace('server_cert_validation = "ignore"', 'server_cert_validation = "validate"')
    assert build_plan(spec_of(tmp_path, validated)).warnings == [KERBEROS]
    # Over plain HTTP the answers cannot say "ignore"; a spec built otherwise still gets no certificate warning.
    plain_http = spec_of(tmp_path, validated)
    plain_http = dataclasses.replace(plain_http, winrm=dataclasses.replace(plain_http.winrm, https=False,
                                                                            server_cert_validation="ignore"))
    assert build_plan(plain_http).warnings == [KERBEROS]
    ntlm = ANSWERS.replace('transport = "kerberos"', 'transport = "ntlm"')
    assert build_plan(spec_of(tmp_path, ntlm)).warnings == [CERT_NOT_VALIDATED]


def test_no_admin_and_no_licence_steps_when_not_asked_for(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, admin_username=None)
    assert spec.license_file is None
    plan = build_plan(spec)
    assert [s.step for s in plan.first] == [s for s in CREATE_STEPS if s not in ("admin", "license")]


def test_join_mode_every_node_joins_in_parallel(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, mode="join")
    plan = build_plan(spec)
    assert plan.first == []
    assert list(plan.joins) == ["OCTO1", "OCTO2"]
    for name, chain in plan.joins.items():
        assert [(s.node, s.step) for s in chain] == [(name, s) for s in JOIN_STEPS]
    text = format_plan(plan)
    assert text.startswith("Plan: join cluster, Octopus 2024.2.100, instance 'Main', 2 node(s)\n")
    assert "\n1) every node in parallel, with the given master key:\n\n   OCTO1:\n   1. install          " in text
    assert "2) then in parallel" not in text and "(first node, alone)" not in text
    assert text.count("--masterKey ********") == 2 and "--create" not in text


def test_a_plan_without_steps_formats_as_its_header(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    assert format_plan(Plan(spec=spec)) == "Plan: create cluster, Octopus 2024.2.100, instance 'Main', 2 node(s)\n"
    assert Plan(spec=spec).all_steps() == []


@pytest.mark.parametrize("count", [1, 3])
def test_the_first_node_alone_then_the_rest(tmp_path: Path, count: int) -> None:
    spec = spec_of(tmp_path)
    nodes = tuple(dataclasses.replace(spec.nodes[0], name=f"N{i}") for i in range(1, count + 1))
    plan = build_plan(dataclasses.replace(spec, nodes=nodes))
    assert {s.node for s in plan.first} == {"N1"}
    assert list(plan.joins) == [f"N{i}" for i in range(2, count + 1)]
    text = format_plan(plan)
    assert ("2) then in parallel:" in text) is (count > 1)


def test_basic_with_a_domain_account_is_warned_first(tmp_path: Path) -> None:
    basic = ANSWERS.replace('transport = "kerberos"', 'transport = "basic"')
    plan = build_plan(spec_of(tmp_path, basic))
    assert plan.warnings == [BASIC_DOMAIN_ACCOUNT.format(user="WORK\\admin"), CERT_NOT_VALIDATED]
    assert "WORK\\admin: Windows' WinRM accepts Basic authentication for LOCAL accounts only" in plan.warnings[0]
    local = basic.replace("username = 'WORK\\admin'", "username = '.\\admin'")
    assert build_plan(spec_of(tmp_path, local)).warnings == [CERT_NOT_VALIDATED]
