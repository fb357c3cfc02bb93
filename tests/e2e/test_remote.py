"""octotui.remote.session against the real lab: a real ``octotui lab up`` process, real pywinrm, real HTTP.

One NTLM lab over plain HTTP (message encryption) and one Basic lab over HTTPS with the lab's own CA,
each started once for the module. Faults are added to the running lab through its control port, aimed at
one node each, so tests do not disturb one another. Round trips are checked against the lab's own count of
HTTP requests per node (``lab inspect``), which is independent of the client's counter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import winrm

from octotui.remote.errors import RemoteError, ScriptError
from octotui.remote.session import STDIN_CHUNK, CommandResult, NodeSession
from octotui.windows import octopus as oc
from octotui.windows.scripts import (
    bootstrap_command_line,
    clixml_to_text,
    find_result_line,
    parse_script_result,
    script_stdin,
)
from tests.fixtures.lab import LabProcess, running_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("ntlm-lab"), "--nodes", "4") as running:
        yield running


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("basic-https-lab"), "--nodes", "1", "--auth", "basic",
                     "--https") as running:
        yield running


def session(lab: LabProcess, node: str, *, transport: str = "ntlm", user: str = "admin", password: str | None = None,
            **kwargs: Any) -> NodeSession:
    creds = lab.ready["admin" if user == "admin" else "service_account"]
    return NodeSession(lab.node(node)["endpoint"], creds["username"],
                       creds["password"] if password is None else password, transport=transport, node=node, **kwargs)


def requests_seen(lab: LabProcess, node: str) -> int:
    found: int = next(n["http_requests"] for n in lab.inspect()["nodes"] if n["name"] == node)
    return found


def add_fault(lab: LabProcess, spec: str) -> None:
    info = json.loads((lab.state / "lab.json").read_text())
    req = urllib.request.Request(f"http://127.0.0.1:{info['control_port']}/fault",
                                 data=json.dumps({"spec": spec}).encode(), method="POST",
                                 headers={"X-Lab-Token": info["token"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


# --- running commands ----------------------------------------------------------------------------------------


def test_commands_reuse_one_shell_with_three_round_trips(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        s.open()
        shells = next(n["shells_opened"] for n in lab.inspect()["nodes"] if n["name"] == "OCTO1")
        for command, out in (("hostname", b"OCTO1\r\n"), ("whoami", b"work\\labadmin\r\n"), ("echo hi", b"hi\r\n")):
            before = requests_seen(lab, "OCTO1")
            res = s.run(command, deadline_s=30)
            seen = requests_seen(lab, "OCTO1") - before
            assert (res.exit_code, res.stdout, res.stderr) == (0, out, b"")
            assert res.round_trips == seen  # our counter agrees with the lab's
            assert seen <= 3  # Command, Receive (output and Done together), Signal
        assert s.run("cmd /c exit 7", deadline_s=30).exit_code == 7
        assert next(n["shells_opened"] for n in lab.inspect()["nodes"] if n["name"] == "OCTO1") == shells


def test_pywinrm_run_cmd_needs_more_round_trips(lab: LabProcess) -> None:
    """The baseline the session is measured against: a new shell and handshake per command."""
    creds = lab.ready["admin"]
    legacy = winrm.Session(lab.node("OCTO1")["endpoint"], auth=(creds["username"], creds["password"]),
                           transport="ntlm", ca_trust_path=None)
    before = requests_seen(lab, "OCTO1")
    assert legacy.run_cmd("hostname").std_out == b"OCTO1\r\n"
    assert requests_seen(lab, "OCTO1") - before >= 5


def test_shell_environment_and_utf8_code_page(lab: LabProcess) -> None:
    with session(lab, "OCTO1", env={oc.SERVICE_PASSWORD_ENV: "pässword%x"}) as s:
        res = s.run(f"echo %{oc.SERVICE_PASSWORD_ENV}%", deadline_s=30)
        assert res.stdout.decode("utf-8") == "pässword%x\r\n"


def test_streaming_callback_gets_output_as_it_arrives(lab: LabProcess) -> None:
    add_fault(lab, "slow@OCTO2:match=hostname,seconds=2")
    chunks: list[tuple[str, bytes]] = []
    with session(lab, "OCTO2") as s:
        res = s.run("echo first & hostname", deadline_s=30, on_output=lambda name, data: chunks.append((name, data)))
    assert res.stdout == b"first \r\nOCTO2\r\n"
    # Two deliveries: "first" came while hostname was still waiting, in a Receive of its own.
    assert chunks == [("stdout", b"first \r\n"), ("stdout", b"OCTO2\r\n")]


def test_deadline_terminates_the_command(lab: LabProcess) -> None:
    add_fault(lab, "slow@OCTO2:match=whoami,seconds=30")
    with session(lab, "OCTO2", operation_timeout=20) as s:
        s.open()
        with pytest.raises(RemoteError) as info:
            s.run("whoami", deadline_s=2)
        assert info.value.kind == "timeout" and info.value.retryable
        assert "2 s" in info.value.message and "terminated" in info.value.message
        # The shell is still good, and the node shows the process ended (terminated), not still waiting.
        assert s.run("hostname", deadline_s=30).stdout == b"OCTO2\r\n"
    log = next(n["process_log"] for n in lab.inspect()["nodes"] if n["name"] == "OCTO2")
    ended = [p for p in log if "whoami" in p["command_line"]]
    assert ended and ended[-1]["exit_code"] is not None


def test_run_argv_quotes_with_windows_rules(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        res = s.run_argv(["cmd", "/c", "echo", "a & b"], deadline_s=30)
    assert res.exit_code == 0 and b"a & b" in res.stdout


def test_command_line_with_line_break_is_refused(lab: LabProcess) -> None:
    s = session(lab, "OCTO1")
    with pytest.raises(ValueError, match="line breaks"):
        s.run("echo a\r\necho b")


# --- scripts -------------------------------------------------------------------------------------------------


def test_run_script_get_node_state(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        state = s.run_script("get-node-state", {"paths": ["C:\\Octopus", lab.ready["share"]]}, deadline_s=60)
    assert state["ok"] is True and state["hostname"] == "OCTO1"
    assert state["identity"].lower() == "work\\labadmin"
    paths = {p["path"]: p for p in state["paths"]}
    assert paths[lab.ready["share"]]["error"] == "Access is denied."  # the double hop from an NTLM session


def test_run_script_test_share_shows_the_double_hop(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        result = s.run_script("test-share", {"paths": [lab.ready["share"]]}, deadline_s=60)
    assert result["ok"] is False  # a finding, not a failure: exit 0
    assert result["results"][0]["stage"] == "write"


def test_large_stdin_goes_in_several_sends(lab: LabProcess) -> None:
    """save-file with ~3 Send envelopes of payload, End on the last; read back to compare."""
    import base64
    import hashlib

    data = bytes(range(256)) * 1200  # 300 KiB -> 400 KiB of base64 in the parameters
    with session(lab, "OCTO1") as s:
        s.open()
        before = s.round_trips
        saved = s.run_script("save-file", {"path": "C:\\Temp\\blob.bin", "data_b64": base64.b64encode(data).decode(),
                                           "offset": 0, "sha256": hashlib.sha256(data).hexdigest()}, deadline_s=120)
        assert s.round_trips - before >= 3 + (400_000 // STDIN_CHUNK)  # Command, Sends..., Receive, Signal
        assert saved["ok"] is True and saved["complete"] is True and saved["size"] == len(data)
        back = s.run_script("read-file", {"path": "C:\\Temp\\blob.bin", "max_bytes": len(data)}, deadline_s=60)
    assert base64.b64decode(back["data"]) == data


def test_script_failure_raises_script_error(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s, pytest.raises(ScriptError) as info:
        s.run_script("save-file", {"path": "C:\\Temp\\x.bin", "data_b64": "QUJD", "offset": 99}, deadline_s=60)
    assert info.value.stage == "offset" and info.value.exit_code == 1
    assert info.value.result.get("ok") is False


def test_script_params_error_raises_script_error(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s, pytest.raises(ScriptError) as info:
        s.run_script("test-share", {"paths": []}, deadline_s=60)
    assert info.value.stage == "params" and info.value.exit_code == 2


def test_become_runs_as_the_service_account(lab: LabProcess) -> None:
    svc = lab.ready["service_account"]
    outputs: list[bytes] = []
    with session(lab, "OCTO3") as s:
        res = s.become(svc["username"], svc["password"], "whoami", deadline_s=60,
                       on_output=lambda _name, data: outputs.append(data))
        assert (res.exit_code, res.stdout.strip()) == (0, b"work\\svcoctopus")
        assert outputs == [res.stdout]
        with pytest.raises(ScriptError) as info:
            s.become(svc["username"], "not-the-password", "whoami", deadline_s=60)
    assert info.value.stage == "register"
    assert "not-the-password" not in str(info.value) and "not-the-password" not in json.dumps(info.value.result)


def test_become_passes_environment_and_working_folder(lab: LabProcess) -> None:
    svc = lab.ready["service_account"]
    with session(lab, "OCTO3") as s:
        res = s.become(svc["username"], svc["password"], "echo %OCTOTUI_PROBE%& cd", deadline_s=60,
                       env={"OCTOTUI_PROBE": "probe-value"}, cwd="C:\\Windows")
    assert (res.exit_code, res.stdout) == (0, b"probe-value\r\nC:\\Windows\r\n")


# --- transports ------------------------------------------------------------------------------------------------


def test_credssp_delegates_credentials(lab: LabProcess) -> None:
    with session(lab, "OCTO4", transport="credssp") as s:
        assert s.run("whoami", deadline_s=30).stdout == b"work\\labadmin\r\n"
        result = s.run_script("test-share", {"paths": [lab.ready["share"]]}, deadline_s=60)
    assert result["ok"] is True and result["results"][0]["stage"] == "done"


def test_basic_over_https_with_the_lab_ca(tls_lab: LabProcess) -> None:
    with session(tls_lab, "OCTO1", transport="basic", ca_cert=tls_lab.ready["ca_cert"]) as s:
        s.open()
        before = requests_seen(tls_lab, "OCTO1")
        res = s.run("hostname", deadline_s=30)
        assert res.stdout == b"OCTO1\r\n"
        assert res.round_trips == requests_seen(tls_lab, "OCTO1") - before <= 3
        assert s.run_script("get-node-state", {}, deadline_s=60)["hostname"] == "OCTO1"
        assert s.run("whoami", deadline_s=30).stdout == b"octo1\\administrator\r\n"  # Basic: a local account


def test_basic_with_a_domain_account_is_refused_as_windows_does(tls_lab: LabProcess) -> None:
    domain = tls_lab.ready["domain_admin"]
    s = NodeSession(tls_lab.node("OCTO1")["endpoint"], domain["username"], domain["password"], transport="basic",
                    node="OCTO1", ca_cert=tls_lab.ready["ca_cert"])
    with pytest.raises(RemoteError) as info:
        s.run("hostname", deadline_s=30)
    assert (info.value.kind, info.value.http_status) == ("auth", 401)


def test_basic_over_plain_http_is_refused_before_connecting(lab: LabProcess) -> None:
    before = requests_seen(lab, "OCTO1")
    with pytest.raises(RemoteError) as info:
        session(lab, "OCTO1", transport="basic")
    assert info.value.kind == "config" and "clear text" in info.value.message
    assert "https" in info.value.hint
    assert requests_seen(lab, "OCTO1") == before


def test_certificate_auth_needs_https_and_files(tls_lab: LabProcess, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="needs HTTPS"):
        NodeSession("http://127.0.0.1:1/wsman", None, None, transport="certificate")
    with pytest.raises(RemoteError, match="cert_pem"):
        NodeSession(tls_lab.node("OCTO1")["endpoint"], None, None, transport="certificate",
                    cert_pem=str(tmp_path / "missing.pem"))
    with pytest.raises(RemoteError, match="transport"):
        NodeSession(tls_lab.node("OCTO1")["endpoint"], "u", "p", transport="telnet")


# --- errors ------------------------------------------------------------------------------------------------------


def test_tls_validation_failure_names_ca_cert(tls_lab: LabProcess) -> None:
    s = session(tls_lab, "OCTO1", transport="basic")  # no ca_cert: the lab's CA is not trusted
    with pytest.raises(RemoteError) as info:
        s.run("hostname", deadline_s=30)
    assert info.value.kind == "tls" and "ca_cert" in info.value.hint
    assert not info.value.retryable


def test_certificate_validation_can_be_turned_off(tls_lab: LabProcess) -> None:
    with session(tls_lab, "OCTO1", transport="basic", server_cert_validation="ignore") as s:
        assert s.run("hostname", deadline_s=30).exit_code == 0


@pytest.mark.parametrize("transport", ["ntlm", "credssp"])
def test_wrong_password_is_401_with_a_hint(lab: LabProcess, transport: str) -> None:
    s = session(lab, "OCTO4", transport=transport, password="wrong-password")
    with pytest.raises(RemoteError) as info:
        s.run("hostname", deadline_s=30)
    assert info.value.kind == "auth"
    assert "password" in info.value.hint and transport in info.value.hint
    assert "wrong-password" not in str(info.value)


def test_basic_wrong_password_over_https(tls_lab: LabProcess) -> None:
    s = session(tls_lab, "OCTO1", transport="basic", password="nope", ca_cert=tls_lab.ready["ca_cert"])
    with pytest.raises(RemoteError) as info:
        s.run("hostname", deadline_s=30)
    assert (info.value.kind, info.value.http_status) == ("auth", 401)


def test_connection_refused(lab: LabProcess) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = NodeSession(f"http://127.0.0.1:{port}/wsman", "WORK\\labadmin", "x", node="GONE")
    with pytest.raises(RemoteError) as info:
        s.run("hostname", deadline_s=30)
    assert info.value.kind == "refused" and info.value.node == "GONE" and info.value.retryable
    assert info.value.transient  # a rebooting node refuses connections for a while
    assert "listener" in info.value.hint


def test_wsman_500_is_a_fault_and_the_session_survives(lab: LabProcess) -> None:
    with session(lab, "OCTO3") as s:
        s.open()
        add_fault(lab, f"wsman500@OCTO3:after={requests_seen(lab, 'OCTO3')}")
        with pytest.raises(RemoteError) as info:
            s.run("hostname", deadline_s=30)
        assert (info.value.kind, info.value.http_status, info.value.fault_code) == ("wsman", 500, 2147943418)
        assert "0x800703FA" in info.value.message
        assert info.value.transient  # ERROR_KEY_DELETED: the WinRM service's passing state, not the request
        assert s.run("hostname", deadline_s=30).stdout == b"OCTO3\r\n"


def test_dropped_connection_reconnects_and_repeats_an_idempotent_command(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        s.open()
        # Request n+1 is the Command; n+2 (the Receive) has its connection closed unanswered.
        add_fault(lab, f"drop@OCTO1:after={requests_seen(lab, 'OCTO1') + 1}")
        res = s.run("hostname", deadline_s=30, idempotent=True)
        assert res.stdout == b"OCTO1\r\n" and s.reconnects == 1


def test_dropped_connection_is_not_repeated_unless_idempotent(lab: LabProcess) -> None:
    with session(lab, "OCTO1") as s:
        s.open()
        add_fault(lab, f"drop@OCTO1:after={requests_seen(lab, 'OCTO1') + 1}")
        with pytest.raises(RemoteError) as info:
            s.run("hostname", deadline_s=30)
        assert info.value.kind == "dropped" and info.value.retryable and info.value.transient
        assert "safe to repeat" not in info.value.hint  # the hint says what happened, not a promise
        assert s.reconnects == 0
        assert s.run("hostname", deadline_s=30).stdout == b"OCTO1\r\n"  # the next command opens a new shell


def test_a_shell_left_by_a_dropped_connection_is_deleted_from_a_new_session(lab: LabProcess) -> None:
    """What the executor does before it runs a cut-off step again: the old session lists the shell it gave
    up on, and a new session deletes it (WinRS ends its processes); a shell already gone is no error."""
    with session(lab, "OCTO4") as old:
        old.open()
        add_fault(lab, f"drop@OCTO4:after={requests_seen(lab, 'OCTO4') + 1}")
        with pytest.raises(RemoteError):
            old.run("hostname", deadline_s=30)
        (left,) = old.abandoned_shells
        with session(lab, "OCTO4") as new:
            new.open()
            assert new.reap([left]) == 1
            assert new.reap([left]) == 0  # the node no longer knows it
            assert new.run("hostname", deadline_s=30).stdout == b"OCTO4\r\n"


def test_http_400_on_an_encrypted_connection_reconnects(lab: LabProcess) -> None:
    """Windows answers 400 to a sealed message that arrives on a fresh, unauthenticated connection (what a
    client sees after the node closed an idle keep-alive connection)."""
    with session(lab, "OCTO1") as s:
        s.open()
        s._protocol.transport.session.close()  # the pooled connection goes; the sealing state stays
        with pytest.raises(RemoteError) as info:
            s.run("hostname", deadline_s=30)
        assert (info.value.kind, info.value.http_status) == ("dropped", 400)
        s.open()
        s._protocol.transport.session.close()
        assert s.run("hostname", deadline_s=30, idempotent=True).stdout == b"OCTO1\r\n"
        assert s.reconnects == 1


def test_one_session_refuses_a_second_thread(lab: LabProcess) -> None:
    import threading

    from tests.fixtures.waiting import wait_until

    # The slow fault holds the first `hostname` for 2 s: the second thread tries the session meanwhile.
    add_fault(lab, "slow@OCTO4:match=hostname,seconds=2")
    errors: list[BaseException] = []
    with session(lab, "OCTO4") as s:
        s.open()
        worker = threading.Thread(target=lambda: s.run("hostname", deadline_s=30))
        worker.start()
        wait_until(lambda: s._busy.locked() or not worker.is_alive(),
                   what="the first thread to be running `hostname` on the session")
        assert s._busy.locked(), "the first `hostname` ended before the second thread tried the session"
        try:
            s.run("whoami", deadline_s=30)
        except RuntimeError as exc:
            errors.append(exc)
        worker.join()
    assert errors and "one session per thread" in str(errors[0])


# --- the script protocol, offline ----------------------------------------------------------------------------


def test_bootstrap_line_and_stdin_framing() -> None:
    line = bootstrap_command_line()
    assert line.startswith("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ")
    assert len(line) < 8191
    payload = script_stdin("test-share", {"paths": ["\\\\fs\\Dätä"]})
    script, params = payload.decode("ascii").split("\0\0\0\0")
    assert script.startswith("# octotui-ps: test-share v")
    assert json.loads(params) == {"paths": ["\\\\fs\\Dätä"]}


def test_result_line_and_clixml() -> None:
    out = 'progress\r\n@@octotui-result@@{"ok": true, "n": 1}\r\nmore\r\n'
    assert find_result_line(out) == {"ok": True, "n": 1}
    assert find_result_line("nothing") is None
    assert parse_script_result(out) == {"ok": True, "n": 1}
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN>'
              '</Obj><S S="Error">Boom _x00E9__x000D__x000A_</S><S S="Error">line two_x000D__x000A_</S></Objs>')
    assert clixml_to_text(clixml) == "Boom é\nline two\n"
    assert clixml_to_text("plain") == "plain"
    assert CommandResult(0, b"", clixml.encode()).stderr_text == "Boom é\nline two\n"
