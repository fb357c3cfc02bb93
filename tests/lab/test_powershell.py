"""The lab's powershell.exe and the twins of the scripts in assets/ps, driven as the engine drives them.

Every script goes the real way: ``runtime.spawn`` of ``powershell.exe -NoProfile -NonInteractive
-ExecutionPolicy Bypass -EncodedCommand <bootstrap>`` through cmd.exe, the script and its JSON
parameters fed on stdin (``<script> NUL NUL NUL NUL <json>``) in WinRS-sized pieces ending with End,
output drained as WinRS Receive drains it, and the result read from the sentinel line on stdout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import winrm
from hypothesis import given
from hypothesis import strategies as st

from octotui.lab import provision, sqlserver
from octotui.lab.faults import FaultPlan
from octotui.lab.identity import Identity
from octotui.lab.process import codec_for
from octotui.lab.programs import powershell, system
from octotui.lab.ps_twins import TWINS, read_header
from octotui.lab.ps_twins.clixml import encode_string
from octotui.lab.ps_twins.common import RESULT_SENTINEL, to_json
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import World

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "ps"
POWERSHELL = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
SHARE = "\\\\127.0.0.1\\OctopusData"
BASE_URL = "http://127.0.0.1:18080/octopus/"
CS_INTEGRATED = "Server=127.0.0.1;Database=OctopusDeploy;Integrated Security=SSPI"

ADMIN_NTLM = Identity("WORK\\labadmin", "network")
ADMIN_CREDSSP = Identity("WORK\\labadmin", "delegated")
SVC_TASK = Identity("WORK\\svcOctopus", "interactive")


# --- a small world and the engine's way of running a script ------------------------------------------

def script(name: str) -> str:
    """The script as the engine sends it: with the shared helpers inserted."""
    from octotui.windows.scripts import ps_script

    return ps_script(name)


def encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-16-le")).decode("ascii")


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def result(self) -> dict[str, Any]:
        lines = [ln for ln in self.out.splitlines() if ln.startswith(RESULT_SENTINEL)]
        assert len(lines) == 1, (self.out, self.err)
        doc: dict[str, Any] = json.loads(lines[0][len(RESULT_SENTINEL):])
        return doc


@pytest.fixture
def world() -> World:
    w = provision.new_world(node_count=2)
    w.directory.accounts["labadmin"].password = "Admin-Pa55word"
    w.directory.accounts["svcoctopus"].password = "Svc-Pa55word!"
    return w


@pytest.fixture
def runtime(world: World) -> NodeRuntime:
    programs = {**system.PROGRAMS, **powershell.PROGRAMS}
    return NodeRuntime(world, world.nodes[0], LabSettings(installer_base_url=BASE_URL), programs=programs,
                       services={})


def spawn(runtime: NodeRuntime, command_line: str, stdin: bytes, *, identity: Identity = ADMIN_NTLM,
          codepage: int = 65001, timeout: float = 30) -> Run:
    proc = runtime.spawn(command_line, identity, codepage=codepage)
    chunk = 150_000
    if not stdin:
        proc.stdin.feed(b"", True)
    for start in range(0, len(stdin), chunk):
        proc.stdin.feed(stdin[start:start + chunk], start + chunk >= len(stdin))
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "the command did not finish"
        o, e, done, code = proc.output.drain(1 << 20, 0.5)
        out += o
        err += e
        if done:
            assert code is not None
            codec = codec_for(codepage)
            return Run(code, out.decode(codec), err.decode(codec))


def run_script(runtime: NodeRuntime, text: str, params: dict[str, Any] | str, *,
               identity: Identity = ADMIN_NTLM, codepage: int = 65001) -> Run:
    body = params if isinstance(params, str) else json.dumps(params)
    stdin = text.encode("utf-8") + b"\0\0\0\0" + body.encode("utf-8")
    line = POWERSHELL + encoded(script("bootstrap"))
    return spawn(runtime, line, stdin, identity=identity, codepage=codepage)


def ps(runtime: NodeRuntime, name: str, params: dict[str, Any], identity: Identity = ADMIN_NTLM) -> Run:
    return run_script(runtime, script(name), params, identity=identity)


def clean_clixml(stderr: str) -> str:
    """What pywinrm makes of it (``Session._clean_error_msg``), as a client of the lab would."""
    session = winrm.Session("http://127.0.0.1:1/wsman", auth=("u", "p"))
    cleaned: str = session._clean_error_msg(stderr.encode("utf-8")).decode("utf-8")
    return cleaned


# --- the assets and the protocol -------------------------------------------------------------------------

def test_bootstrap_command_line_stays_far_below_cmd_limit() -> None:
    line = POWERSHELL + encoded(script("bootstrap"))
    assert len(line) < 3000, len(line)  # cmd.exe allows 8191


def test_every_script_has_a_twin_and_every_twin_a_script() -> None:
    headers = {read_header(p.read_text(encoding="utf-8")) for p in ASSETS.glob("*.ps1") if not p.stem.startswith("_")}
    assert ("bootstrap", 1) in headers
    assert headers - {("bootstrap", 1)} == set(TWINS)


def test_scripts_are_ascii_and_carry_the_one_helper_block_when_sent() -> None:
    helpers = (ASSETS / "_helpers.ps1").read_text(encoding="utf-8")
    assert f"$OctoSentinel = '{RESULT_SENTINEL}'" in helpers
    for path in ASSETS.glob("*.ps1"):
        assert path.read_text(encoding="utf-8").isascii(), path.name
        if path.stem in ("bootstrap", "_helpers"):
            continue
        raw = path.read_text(encoding="utf-8")
        assert raw.count("# ---- octotui shared helpers") == 1, path.name  # the marker, not a copy
        assert "function ConvertFrom-OctoJson" not in raw, path.name
        sent = script(path.stem)
        assert sent.startswith(raw.splitlines()[0])  # the header line stays first
        assert helpers in sent and "$ErrorActionPreference = 'Stop'" in sent
        assert "$ProgressPreference = 'SilentlyContinue'" in sent


def test_readme_documents_every_script() -> None:
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    for name, _version in TWINS:
        assert f"`{name}`" in readme
    assert RESULT_SENTINEL in readme


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12))
def test_result_json_is_ascii_and_round_trips(value: Any) -> None:
    text = to_json(value)
    assert text.isascii()
    assert json.loads(text) == value


def test_clixml_string_escapes() -> None:
    assert encode_string("a\r\nb") == "a_x000D__x000A_b"
    assert encode_string("_x0041_ & <tag>") == "_x005F_x0041_ &amp; &lt;tag&gt;"
    assert encode_string("\U0001F600") == "_xD83D__xDE00_"


# --- unknown scripts and powershell.exe's own command line ---------------------------------------------

def test_unknown_script_through_bootstrap_is_a_clixml_error(runtime: NodeRuntime) -> None:
    run = run_script(runtime, "Get-ChildItem C:\\\n", {})
    assert run.code == 1
    assert run.err.startswith("#< CLIXML\r\n<Objs Version=\"1.1.0.1\"")
    assert '<S S="Error">' in run.err and "Preparing modules for first use." in run.err
    cleaned = clean_clixml(run.err)
    assert "runs only the octotui-ps scripts it knows" in cleaned
    assert "+ Get-ChildItem C:\\" in cleaned
    assert RESULT_SENTINEL not in run.out


def test_unknown_plain_encoded_command_is_the_same_error(runtime: NodeRuntime) -> None:
    run = spawn(runtime, POWERSHELL + encoded("Get-Date"), b"")
    assert run.code == 1
    assert run.err.startswith("#< CLIXML\r\n")
    assert "runs only the octotui-ps scripts it knows" in clean_clixml(run.err)


def test_other_version_of_a_known_script_is_unknown(runtime: NodeRuntime) -> None:
    text = script("get-node-state").replace("get-node-state v1", "get-node-state v7", 1)
    run = run_script(runtime, text, {})
    assert run.code == 1
    assert "no twin for get-node-state v7; it knows get-node-state v1" in clean_clixml(run.err)


def test_plain_command_errors_are_text_not_clixml(runtime: NodeRuntime) -> None:
    run = spawn(runtime, 'powershell.exe -NoProfile -Command "Get-Date"', b"")
    assert run.code == 1
    assert not run.err.startswith("#< CLIXML")
    assert "+ Get-Date" in run.err and "FullyQualifiedErrorId : OctotuiLabUnknownScript" in run.err


def test_output_format_xml_makes_errors_clixml(runtime: NodeRuntime) -> None:
    run = spawn(runtime, "powershell.exe -of xml -c Get-Date", b"")
    assert run.code == 1 and run.err.startswith("#< CLIXML\r\n")


def test_bad_base64_is_a_command_line_error(runtime: NodeRuntime) -> None:
    run = spawn(runtime, "powershell.exe -NoProfile -EncodedCommand not!base64", b"")
    assert run.code == powershell.EXIT_BAD_COMMAND_LINE == -196608
    assert run.err.startswith("Cannot process the command because the value specified with -EncodedCommand")


def test_stdin_without_separator(runtime: NodeRuntime) -> None:
    run = spawn(runtime, POWERSHELL + encoded(script("bootstrap")), script("get-node-state").encode())
    assert run.code == 2
    assert "stdin does not hold <script> NUL NUL NUL NUL <params>" in run.err


@pytest.mark.parametrize("switch", ["-EncodedCommand", "-encodedcommand", "-enc", "-ec", "-e",
                                    "/EncodedCommand", "--encodedCommand", "\u2013enc", "-EnCoDeDc"])
def test_encoded_command_switch_spellings(runtime: NodeRuntime, switch: str) -> None:
    stdin = script("get-node-state").encode() + b"\0\0\0\0{}"
    line = f"powershell.exe -nop -noni -ep Bypass {switch} {encoded(script('bootstrap'))}"
    run = spawn(runtime, line, stdin)
    assert run.code == 0, run.err
    assert run.result["hostname"] == "OCTO1"


def test_command_dash_reads_the_script_from_stdin(runtime: NodeRuntime) -> None:
    run = spawn(runtime, "powershell.exe -NoProfile -Command -", script("get-node-state").encode())
    assert run.code == 0 and run.result["ok"] is True
    run = spawn(runtime, "powershell.exe -File -", script("get-node-state").encode())
    assert run.code == 0 and run.result["ok"] is True


def test_command_line_errors(runtime: NodeRuntime) -> None:
    run = spawn(runtime, "powershell.exe -Command - extra", b"")
    assert run.code == -196608 and "no other arguments to -Command are permitted" in run.err
    run = spawn(runtime, "powershell.exe -ExecutionPolicy", b"")
    assert run.code == -196608 and "A policy name must follow -ExecutionPolicy." in run.err
    run = spawn(runtime, "powershell.exe -InputFormat json -c x", b"")
    assert run.code == -196608 and "'json' is not a valid format" in run.err
    run = spawn(runtime, "powershell.exe -EncodedCommand", b"")
    assert run.code == -196608 and "A command must follow -Command." in run.err
    run = spawn(runtime, "powershell.exe -File C:\\nope.txt", b"")
    assert run.code == -196608 and "does not have a '.ps1' extension" in run.err
    run = spawn(runtime, "powershell.exe -File C:\\nope.ps1", b"")
    assert run.code == -196608 and "is not recognized as the name of a script file" in run.err
    run = spawn(runtime, "powershell.exe -?", b"")
    assert run.code == 0 and "PowerShell[.exe] -Help | -? | /?" in run.out


def test_parser_prefix_rules() -> None:
    parse = powershell.parse_command_line
    inv = parse(["-nop", "-noni", "-ex", "Unrestricted", "-if", "Text", "-o", "XML", "-ec", encoded("x")])
    assert (inv.no_profile, inv.non_interactive, inv.execution_policy) == (True, True, "Unrestricted")
    assert (inv.input_format, inv.output_format, inv.command, inv.encoded) == ("text", "xml", "x", True)
    # Too short to be unambiguous: "-no" and "-non" start the command instead.
    assert parse(["-no", "a"]).command == "-no a"
    assert parse(["-non", "a"]).command == "-non a"
    # The command takes every argument after it, switches included.
    assert parse(["-c", "Write-Host", "-NoProfile"]).command == "Write-Host -NoProfile"
    assert parse(["Get-Date", "-nop"]).command == "Get-Date -nop"
    assert parse(["-e", encoded("a"), "-c", "b"]).error == powershell.MSG_COMMAND_TWICE


def test_file_script_runs_with_its_parameters_and_the_execution_policy(runtime: NodeRuntime) -> None:
    with runtime.world.lock:
        runtime.node.fs.write("C:\\Scripts\\state.ps1", b"\xef\xbb\xbf" + script("get-node-state").encode(),
                              make_parents=True)
    params = json.dumps({"paths": ["C:\\Scripts"]}).replace('"', '\\"')
    run = spawn(runtime, f'powershell.exe -File C:\\Scripts\\state.ps1 -ParamsJson "{params}"', b"")
    assert run.code == 0, run.err
    assert run.result["paths"][0]["kind"] == "directory"
    run = spawn(runtime, "powershell.exe -ExecutionPolicy Restricted -File C:\\Scripts\\state.ps1", b"")
    assert run.code == 1 and "running scripts is disabled on this system" in run.err


# --- parameters --------------------------------------------------------------------------------------------

def test_bad_parameters_exit_2_with_a_result(runtime: NodeRuntime) -> None:
    run = run_script(runtime, script("test-share"), "{not json")
    assert run.code == 2 and run.result["stage"] == "params" and run.result["ok"] is False
    run = ps(runtime, "test-share", {})
    assert run.code == 2 and run.result["error"] == "missing parameter 'paths'"
    run = ps(runtime, "read-file", {"path": "C:\\x", "encoding": "utf16"})
    assert run.code == 2 and "'encoding' must be" in run.result["error"]


def test_non_ascii_parameters_survive_when_sent_as_json_escapes_even_in_cp437(runtime: NodeRuntime) -> None:
    data = base64.b64encode(b"hi").decode()
    params = {"path": "C:\\Install\\caf\u00e9.txt", "data_b64": data,
              "sha256": hashlib.sha256(b"hi").hexdigest()}
    run = run_script(runtime, script("save-file"), json.dumps(params, ensure_ascii=True), codepage=437)
    assert run.code == 0, run.out
    assert run.result["path"] == "C:\\Install\\caf\u00e9.txt"
    assert run.out.isascii()
    with runtime.world.lock:
        assert runtime.node.fs.read("C:\\Install\\caf\u00e9.txt") == b"hi"


# --- get-node-state ----------------------------------------------------------------------------------------

def test_get_node_state_fresh_node(runtime: NodeRuntime) -> None:
    run = ps(runtime, "get-node-state", {"paths": ["C:\\Install", "C:\\Octopus", SHARE]})
    assert run.code == 0, run.err
    r = run.result
    assert (r["hostname"], r["domain"], r["part_of_domain"]) == ("OCTO1", "work.lab", True)
    assert r["os_caption"] == "Microsoft Windows Server 2022 Datacenter" and r["os_version"] == "10.0.20348"
    assert r["identity"] == "WORK\\labadmin"
    assert r["octopus"] == {"installed": False, "version": None, "install_location": None}
    assert r["services"] == [] and r["drives"][0]["name"] == "C:"
    install, octo, share = r["paths"]
    assert (install["exists"], install["kind"]) == (True, "directory")
    assert (octo["exists"], octo["error"]) == (False, None)
    assert (share["exists"], share["error"]) == (False, "Access is denied.")  # the double hop


def test_get_node_state_with_octopus_installed(runtime: NodeRuntime) -> None:
    from octotui.lab.state import Service

    node = runtime.node
    with runtime.world.lock:
        node.reg_set("HKLM\\SOFTWARE\\Octopus\\OctopusServer", "InstallLocation",
                     "C:\\Program Files\\Octopus Deploy\\Octopus\\")
        uninstall = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{OctopusServer}"
        node.reg_set(uninstall, "DisplayName", "Octopus Deploy Server")
        node.reg_set(uninstall, "DisplayVersion", "2025.3.1234")
        node.services["OctopusDeploy"] = Service(
            name="OctopusDeploy", display_name="OctopusDeploy",
            binary_path='"C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" run --instance '
                        '"OctopusServer"', state="Running", account="WORK\\svcOctopus")
    r = ps(runtime, "get-node-state", {}, identity=ADMIN_CREDSSP).result
    assert r["octopus"] == {"installed": True, "version": "2025.3.1234",
                            "install_location": "C:\\Program Files\\Octopus Deploy\\Octopus\\"}
    assert r["services"][0]["name"] == "OctopusDeploy" and r["services"][0]["account"] == "WORK\\svcOctopus"
    assert r["services"][0]["state"] == "Running" and r["services"][0]["start_type"] == "Automatic"


# --- test-share ---------------------------------------------------------------------------------------------

def test_share_probe_from_a_winrm_session_hits_the_double_hop(runtime: NodeRuntime) -> None:
    run = ps(runtime, "test-share", {"paths": [SHARE]})
    assert run.code == 0
    r = run.result
    assert r["ok"] is False and r["identity"] == "WORK\\labadmin"
    entry = r["results"][0]
    assert (entry["stage"], entry["ok"]) == ("write", False)
    probe = re.escape(SHARE) + r"\\octotui-probe-[0-9a-f]{32}\.tmp"
    pattern = f"Access to the path '{probe}' is denied\\."
    assert re.fullmatch(pattern, entry["error"])


def test_share_probe_with_credentials(runtime: NodeRuntime, world: World) -> None:
    paths = [SHARE, SHARE + "\\TaskLogs", "\\\\127.0.0.1\\NoSuchShare", "\\\\fileserver\\OctopusData"]
    r = ps(runtime, "test-share", {"paths": paths}, identity=SVC_TASK).result
    by_path = {e["path"]: e for e in r["results"]}
    assert by_path[SHARE]["ok"] is True and by_path[SHARE]["stage"] == "done"
    assert by_path[SHARE + "\\TaskLogs"]["error"].startswith("Could not find a part of the path")
    assert by_path["\\\\127.0.0.1\\NoSuchShare"]["error"] == "The network name cannot be found."
    assert by_path["\\\\fileserver\\OctopusData"]["error"] == "The network path was not found."
    assert r["ok"] is False
    share = world.files.share("OctopusData")
    assert share is not None
    with world.lock:
        assert share.fs.listdir(SHARE) == []  # no probe left behind


def test_share_probe_with_read_only_rights(runtime: NodeRuntime, world: World) -> None:
    from octotui.lab.state import Account

    share = world.files.share("OctopusData")
    assert share is not None
    with world.lock:
        world.directory.accounts["svcreader"] = Account(sam="svcReader", password="x")
        share.acl["WORK\\svcReader"] = "read"
    reader = Identity("WORK\\svcReader", "interactive")
    r = ps(runtime, "test-share", {"paths": [SHARE]}, identity=reader).result
    assert r["results"][0]["stage"] == "write" and "is denied" in r["results"][0]["error"]


# --- test-sql -----------------------------------------------------------------------------------------------

def test_sql_probe_from_a_winrm_session_is_anonymous(runtime: NodeRuntime) -> None:
    run = ps(runtime, "test-sql", {"connection_string": CS_INTEGRATED})
    assert run.code == 0
    assert run.result == {"ok": False, "stage": "connect", "number": 18456,
                          "message": "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'."}


def test_sql_probe_as_sysadmin_and_as_the_service_account(runtime: NodeRuntime, world: World) -> None:
    r = ps(runtime, "test-sql", {"connection_string": CS_INTEGRATED}, identity=ADMIN_CREDSSP).result
    assert r["ok"] is True and r["login"] == "WORK\\labadmin"
    assert (r["is_sysadmin"], r["can_create_database"], r["database"]) == (True, True, "OctopusDeploy")
    assert (r["database_exists"], r["database_accessible"], r["octopus_schema"]) == (False, None, None)
    assert r["server_version"] == world.sql.version and r["server_collation"] == world.sql.collation

    session = sqlserver.connect(world, CS_INTEGRATED, ADMIN_CREDSSP, open_catalog=False)
    session.create_database("OctopusDeploy")
    r = ps(runtime, "test-sql", {"connection_string": CS_INTEGRATED}, identity=ADMIN_CREDSSP).result
    assert (r["database_exists"], r["database_accessible"], r["is_db_owner"], r["octopus_schema"]) == (
        True, True, True, False)

    session.grant_db_owner("WORK\\svcOctopus", "OctopusDeploy")
    session.install_schema("2025.3.1234", "key", "OctopusDeploy")
    r = ps(runtime, "test-sql", {"connection_string": CS_INTEGRATED}, identity=SVC_TASK).result
    assert (r["login"], r["is_sysadmin"], r["is_db_owner"], r["octopus_schema"]) == (
        "WORK\\svcOctopus", False, True, True)


def test_sql_probe_without_database_access(runtime: NodeRuntime, world: World) -> None:
    from octotui.lab.state import Login

    with world.lock:
        world.sql.logins["work\\svcoctopus"] = Login(name="WORK\\svcOctopus")
    admin = sqlserver.connect(world, CS_INTEGRATED, ADMIN_CREDSSP, open_catalog=False)
    admin.create_database("OctopusDeploy")
    r = ps(runtime, "test-sql", {"connection_string": CS_INTEGRATED}, identity=SVC_TASK).result
    assert (r["database_exists"], r["database_accessible"], r["is_db_owner"]) == (True, False, False)
    assert r["database_error"]["number"] == 916


def test_sql_probe_bad_connection_string(runtime: NodeRuntime) -> None:
    r = ps(runtime, "test-sql", {"connection_string": "Server=127.0.0.1;Colour=blue"}).result
    assert r == {"ok": False, "stage": "connection_string", "number": None,
                 "message": "Keyword not supported: 'colour'."}


# --- invoke-as-user -----------------------------------------------------------------------------------------

def test_invoke_as_user_wrong_password_is_a_logon_failure(runtime: NodeRuntime) -> None:
    before = len(runtime.node.process_log)
    run = ps(runtime, "invoke-as-user", {"username": "WORK\\svcOctopus", "password": "wrong",
                                         "command_line": "whoami"})
    assert run.code == 1
    r = run.result
    assert r["stage"] == "register" and r["hresult"] == "0x8007052E" and r["exit_code"] is None
    assert r["error"] == "The user name or password is incorrect. (Exception from HRESULT: 0x8007052E)"
    accounts = [p.account for p in runtime.node.process_log[before:]]
    assert "WORK\\svcOctopus" not in accounts  # nothing ran as the account
    with runtime.world.lock:
        assert runtime.node.fs.listdir("C:\\ProgramData\\octotui\\tasks") == []


def test_invoke_as_user_unknown_or_disabled_account(runtime: NodeRuntime, world: World) -> None:
    nobody = {"username": "WORK\\nobody", "password": "x", "command_line": "whoami"}
    r = ps(runtime, "invoke-as-user", nobody).result
    assert (r["stage"], r["error"]) == ("prepare", "Some or all identity references could not be translated.")
    with world.lock:
        world.directory.accounts["svcoctopus"].enabled = False
    r = ps(runtime, "invoke-as-user", {"username": "svcOctopus", "password": "Svc-Pa55word!",
                                       "command_line": "whoami"}).result
    assert r["hresult"] == "0x80070533"
    assert r["error"].startswith("The referenced account is currently disabled")


def test_invoke_as_user_runs_the_command_as_the_account(runtime: NodeRuntime) -> None:
    before = len(runtime.node.process_log)
    run = ps(runtime, "invoke-as-user", {"username": "WORK\\svcOctopus", "password": "Svc-Pa55word!",
                                         "command_line": "whoami", "timeout_s": 60})
    assert run.code == 0, run.out
    r = run.result
    assert (r["ok"], r["stage"], r["exit_code"], r["timed_out"]) == (True, "done", 0, False)
    assert r["stdout"] == "work\\svcoctopus\r\n" and r["stderr"] == ""
    records = runtime.node.process_log[before:]
    action = [p for p in records if "-File" in p.command_line and p.command_line.endswith('run.ps1"')]
    assert len(action) == 1 and action[0].account == "WORK\\svcOctopus" and action[0].exit_code == 0
    assert any(p.command_line == "whoami" and p.account == "WORK\\svcOctopus" for p in records)
    assert all("Svc-Pa55word!" not in p.command_line for p in runtime.node.process_log)
    with runtime.world.lock:
        assert runtime.node.fs.listdir("C:\\ProgramData\\octotui\\tasks") == []


def test_invoke_as_user_environment_exit_code_and_cwd(runtime: NodeRuntime) -> None:
    base = {"username": "WORK\\svcOctopus", "password": "Svc-Pa55word!"}
    r = ps(runtime, "invoke-as-user", {**base, "command_line": "echo %OCTO_MARK%& exit 7",
                                       "env": {"OCTO_MARK": "a b=c"}}).result
    assert (r["ok"], r["exit_code"]) == (True, 7)
    assert r["stdout"] == "a b=c\r\n"
    r = ps(runtime, "invoke-as-user", {**base, "command_line": "cd", "cwd": "C:\\Install"}).result
    assert r["stdout"] == "C:\\Install\r\n"
    r = ps(runtime, "invoke-as-user", {**base, "command_line": "cd", "cwd": "C:\\Nowhere"}).result
    assert r["ok"] is False
    assert r["error"] == "the task could not start the command: The directory name is invalid"


def test_invoke_as_user_deadline(runtime: NodeRuntime) -> None:
    runtime.settings.faults = FaultPlan.parse(["slow:match=whoami,seconds=20"])
    t0 = time.monotonic()
    run = ps(runtime, "invoke-as-user", {"username": "WORK\\svcOctopus", "password": "Svc-Pa55word!",
                                         "command_line": "whoami", "timeout_s": 1})
    assert time.monotonic() - t0 < 10
    assert run.code == 1
    r = run.result
    assert (r["timed_out"], r["stage"], r["stdout"]) == (True, "collect", "")
    assert "did not finish within 1 seconds" in r["error"]


# --- save-file / download-file / read-file ------------------------------------------------------------------

def test_save_file_in_chunks_with_a_resend(runtime: NodeRuntime) -> None:
    data = bytes(range(256)) * 8192 * 3  # 6 MiB
    size = 2 * 1024 * 1024
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    target = "C:\\Install\\upload\\Octopus.msi"
    offset = 0
    for n, chunk in enumerate(chunks):
        params: dict[str, Any] = {"path": target, "offset": offset,
                                  "data_b64": base64.b64encode(chunk).decode()}
        if n == 1:  # a retried chunk replaces what followed its offset
            assert ps(runtime, "save-file", params).result["size"] == offset + len(chunk)
        if n == len(chunks) - 1:
            params["sha256"] = hashlib.sha256(data).hexdigest()
        run = ps(runtime, "save-file", params)
        assert run.code == 0, run.out
        offset += len(chunk)
    r = run.result
    assert r == {"ok": True, "path": target, "size": len(data), "complete": True,
                 "sha256": hashlib.sha256(data).hexdigest()}
    with runtime.world.lock:
        assert runtime.node.fs.read(target) == data
        assert not runtime.node.fs.exists(target + ".octotui-part")


def test_save_file_refuses_a_gap_and_a_bad_hash(runtime: NodeRuntime) -> None:
    target = "C:\\Install\\licence.xml"
    first = {"path": target, "data_b64": base64.b64encode(b"abc").decode()}
    assert ps(runtime, "save-file", first).result["size"] == 3
    run = ps(runtime, "save-file", {"path": target, "offset": 10, "data_b64": ""})
    assert run.code == 1
    assert (run.result["stage"], run.result["size"]) == ("offset", 3)
    run = ps(runtime, "save-file", {"path": target, "offset": 3, "data_b64": base64.b64encode(b"d").decode(),
                                    "sha256": "00" * 32})
    assert run.code == 1 and run.result["stage"] == "verify" and "SHA-256 mismatch" in run.result["error"]
    with runtime.world.lock:
        assert not runtime.node.fs.exists(target) and not runtime.node.fs.exists(target + ".octotui-part")
    run = ps(runtime, "save-file", {"path": target, "data_b64": "***"})
    assert run.code == 2 and "not a valid Base-64 string" in run.result["error"]


def test_download_file_from_the_lab_mirror(runtime: NodeRuntime, world: World) -> None:
    version = provision.DEFAULT_VERSIONS[-1]
    staged = world.installers[version]
    target = f"C:\\Downloads\\{staged.file_name}"
    params = {"url": BASE_URL + staged.file_name, "path": target, "sha256": staged.sha256}
    run = ps(runtime, "download-file", params)
    assert run.code == 0, run.out
    assert run.result == {"ok": True, "path": target, "size": staged.size, "sha256": staged.sha256}
    with runtime.world.lock:
        assert runtime.node.fs.read(target).startswith(f"#lab-msi:{version}\n".encode())


@pytest.mark.parametrize(("url", "stage", "error"), [
    ("https://downloads.example.invalid/Octopus.msi", "download",
     "The remote name could not be resolved: 'downloads.example.invalid'"),
    (BASE_URL + "Octopus.9.9.9-x64.msi", "download", "The remote server returned an error: (404) Not Found."),
    ("http://127.0.0.1:1/octopus/x.msi", "download", "Unable to connect to the remote server"),
])
def test_download_file_failures(runtime: NodeRuntime, url: str, stage: str, error: str) -> None:
    run = ps(runtime, "download-file", {"url": url, "path": "C:\\Downloads\\x.msi"})
    assert run.code == 1
    assert (run.result["stage"], run.result["error"]) == (stage, error)


def test_download_file_hash_mismatch_leaves_nothing(runtime: NodeRuntime, world: World) -> None:
    staged = world.installers[provision.DEFAULT_VERSIONS[0]]
    target = "C:\\Downloads\\x.msi"
    params = {"url": BASE_URL + staged.file_name, "path": target, "sha256": "ab" * 32}
    run = ps(runtime, "download-file", params)
    assert run.code == 1 and run.result["stage"] == "verify"
    with runtime.world.lock:
        assert runtime.node.fs.listdir("C:\\Downloads") == []


def test_read_file_slices(runtime: NodeRuntime) -> None:
    log = "C:\\Octopus\\Logs\\OctopusServer.txt"
    content = "line one\nligne d\u00e9ux\n".encode() * 100
    with runtime.world.lock:
        runtime.node.fs.write(log, content, make_parents=True)
    r = ps(runtime, "read-file", {"path": log, "offset": 0, "max_bytes": 100}).result
    assert (r["size"], r["offset"], r["length"], r["eof"]) == (len(content), 0, 100, False)
    assert base64.b64decode(r["data"]) == content[:100]
    r = ps(runtime, "read-file", {"path": log, "offset": -20, "encoding": "text"}).result
    assert r["eof"] is True and r["data"] == content[-20:].decode("utf-8", "replace")
    r = ps(runtime, "read-file", {"path": log, "offset": len(content) + 5}).result
    assert (r["offset"], r["length"], r["data"]) == (len(content), 0, "")


def test_read_file_missing(runtime: NodeRuntime) -> None:
    run = ps(runtime, "read-file", {"path": "C:\\Octopus\\Logs\\OctopusServer.txt"})
    assert run.code == 0
    log = "C:\\Octopus\\Logs\\OctopusServer.txt"
    assert run.result == {"ok": False, "path": log, "exists": False, "size": None,
                          "error": f"Could not find a part of the path '{log}'."}
    run = ps(runtime, "read-file", {"path": "C:\\Install\\none.txt"})
    assert run.result["error"] == "Could not find file 'C:\\Install\\none.txt'."


# --- wait-ping ----------------------------------------------------------------------------------------------

@pytest.fixture
def ping_server(runtime: NodeRuntime) -> Iterator[dict[str, int]]:
    answer = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"Name": "OCTO1", "path": self.path, "host": self.headers["Host"]}).encode()
            self.send_response(answer["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runtime.node.web_port = server.server_address[1]
    try:
        yield answer
    finally:
        server.shutdown()
        server.server_close()


def test_wait_ping_online_and_draining(runtime: NodeRuntime, ping_server: dict[str, int]) -> None:
    r = ps(runtime, "wait-ping", {"listen_prefix": "http://+:8080/octopus", "timeout_s": 5}).result
    assert (r["ok"], r["status"], r["attempts"]) == (True, 200, 1)
    assert r["url"] == "http://localhost:8080/octopus/api/octopusservernodes/ping"
    body = json.loads(r["body"])
    assert body["path"] == "/octopus/api/octopusservernodes/ping" and body["host"] == "localhost:8080"
    ping_server["status"] = 418
    r = ps(runtime, "wait-ping", {"listen_prefix": "http://localhost:80/"}).result
    assert (r["ok"], r["status"], r["error"]) == (True, 418, None)


def test_wait_ping_unhealthy_until_the_deadline(runtime: NodeRuntime, ping_server: dict[str, int]) -> None:
    ping_server["status"] = 503
    r = ps(runtime, "wait-ping", {"listen_prefix": "http://localhost:80/", "timeout_s": 0.5,
                                  "interval_s": 0.1}).result
    assert (r["ok"], r["status"], r["error"]) == (False, 503, "HTTP 503")
    assert r["attempts"] >= 3


def test_wait_ping_nothing_listening(runtime: NodeRuntime) -> None:
    runtime.node.web_port = 0
    run = ps(runtime, "wait-ping", {"listen_prefix": "https://octo.work.lab/", "timeout_s": 0.3,
                                    "interval_s": 0.1})
    assert run.code == 0
    r = run.result
    assert (r["ok"], r["status"], r["body"]) == (False, None, None)
    assert r["error"] == "Unable to connect to the remote server" and r["attempts"] >= 2
    assert r["url"] == "https://localhost:443/api/octopusservernodes/ping"


# --- the whole way: pywinrm, the lab's WinRM endpoint, cmd.exe, powershell.exe ------------------------------

def test_script_over_real_winrm_with_stdin(runtime: NodeRuntime) -> None:
    from winrm.protocol import Protocol

    from octotui.lab.winrm import WinRMEndpoint

    endpoint = WinRMEndpoint(runtime, auth="basic", allow_basic_http=True)
    endpoint.start()
    local_admin = runtime.node.local_accounts["administrator"]  # Basic logs on local accounts only
    try:
        protocol = Protocol(endpoint.endpoint_url, transport="basic", username=local_admin.sam,
                            password=local_admin.password, operation_timeout_sec=5, read_timeout_sec=15)
        shell = protocol.open_shell(codepage=65001)
        try:
            command = protocol.run_command(shell, POWERSHELL + encoded(script("bootstrap")),
                                           console_mode_stdin=False)
            payload = (script("get-node-state").encode() + b"\0\0\0\0"
                       + json.dumps({"paths": ["C:\\Install"]}).encode())
            half = len(payload) // 2
            protocol.send_command_input(shell, command, payload[:half])
            protocol.send_command_input(shell, command, payload[half:], end=True)
            out, err, code, done = b"", b"", -1, False
            deadline = time.monotonic() + 30
            while not done and time.monotonic() < deadline:
                try:
                    o, e, code, done = protocol.get_command_output_raw(shell, command)
                except winrm.exceptions.WinRMOperationTimeoutError:
                    continue
                out, err = out + o, err + e
            protocol.cleanup_command(shell, command)
        finally:
            protocol.close_shell(shell)
    finally:
        endpoint.stop()
    assert (done, code) == (True, 0), err
    r = Run(code, out.decode("utf-8"), err.decode("utf-8")).result
    assert r["hostname"] == "OCTO1" and r["identity"] == "OCTO1\\Administrator"
    assert r["paths"][0]["kind"] == "directory"
