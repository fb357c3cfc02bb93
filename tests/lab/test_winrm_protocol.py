"""The lab's WinRM endpoint against the real pywinrm client: auth, sealing, WinRS semantics and limits."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import winrm
import xmltodict  # type: ignore[import-untyped]
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from octotui.lab.winrm import WinRMEndpoint
from tests.fixtures.waiting import wait_until
from tests.fixtures.winrm import (
    ADMIN,
    ADMIN_PW,
    LOCAL_ADMIN,
    LOCAL_ADMIN_PW,
    LOCAL_USER,
    LOCAL_USER_PW,
    SVC,
    SVC_PW,
    UNICODE_TEXT,
    Lab,
    lab_world,
    run,
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_world(tmp_path_factory.mktemp("winrm")) as world:
        yield world


@pytest.fixture(scope="module")
def basic_http(lab: Lab) -> WinRMEndpoint:
    return lab.endpoint(auth="basic", allow_basic_http=True)


@pytest.fixture(scope="module")
def ntlm_http(lab: Lab) -> WinRMEndpoint:
    return lab.endpoint(auth="ntlm")


@pytest.fixture(scope="module")
def ntlm_https(lab: Lab) -> WinRMEndpoint:
    return lab.endpoint(auth="ntlm", tls=True)


def content_types(p: Protocol) -> list[str]:
    """Record the Content-Type of every response pywinrm receives from now on (a requests hook)."""
    seen: list[str] = []
    session = p.transport.build_session()
    session.hooks["response"].append(lambda r, **kw: seen.append(r.headers.get("Content-Type", "")))
    return seen


# --- authentication --------------------------------------------------------------------------------


def test_basic_over_http_is_refused_unless_allowed(lab: Lab, basic_http: WinRMEndpoint) -> None:
    refused = lab.endpoint(auth="basic")
    with pytest.raises(InvalidCredentialsError):
        lab.protocol(refused, "basic").open_shell()
    ntlm_listener = lab.endpoint(auth="ntlm")
    with pytest.raises(InvalidCredentialsError):
        lab.protocol(ntlm_listener, "basic").open_shell()
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell()
    assert run(p, shell, "echo", "hi") == (b"hi\r\n", b"", 0)
    p.close_shell(shell)


def test_basic_over_https_validates_against_the_lab_ca(lab: Lab, ntlm_https: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_https, "ssl")
    shell = p.open_shell()
    assert run(p, shell, "labwho", skip_cmd_shell=True)[0] == b"OCTO1\\Administrator|network|False\r\n"
    p.close_shell(shell)
    with pytest.raises(requests.exceptions.SSLError):
        Protocol(ntlm_https.endpoint_url, transport="ssl", username=LOCAL_ADMIN, password=LOCAL_ADMIN_PW,
                 ca_trust_path=None, proxy=None).open_shell()  # type: ignore[arg-type]


def test_ntlm_over_http_seals_every_message(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_http, "ntlm")
    seen = content_types(p)
    shell = p.open_shell()
    out, err, code = run(p, shell, "labwho", skip_cmd_shell=True)
    assert (out, err, code) == (b"WORK\\labadmin|network|False\r\n", b"", 0)
    p.close_shell(shell)
    sealed = [ct for ct in seen if ct]
    assert sealed and all('protocol="application/HTTP-SPNEGO-session-encrypted"' in ct for ct in sealed)


def test_ntlm_over_https_and_directory_spelling(lab: Lab, ntlm_https: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_https, "ntlm", user="work\\SVCOCTOPUS", password=SVC_PW)
    shell = p.open_shell()
    assert run(p, shell, "labwho", skip_cmd_shell=True)[0] == b"WORK\\svcOctopus|network|False\r\n"
    p.close_shell(shell)


@pytest.mark.parametrize("transport", ["ntlm", "basic"])
def test_wrong_password_is_401(lab: Lab, basic_http: WinRMEndpoint, ntlm_http: WinRMEndpoint,
                               transport: str) -> None:
    ep = basic_http if transport == "basic" else ntlm_http
    with pytest.raises(InvalidCredentialsError):
        lab.protocol(ep, transport, password="wrong").open_shell()


def test_disabled_account_is_refused_even_with_the_right_password(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    acct = lab.world.directory.accounts["svcoctopus"]
    acct.enabled = False
    try:
        with pytest.raises(InvalidCredentialsError):
            lab.protocol(ntlm_http, "ntlm", user=SVC, password=SVC_PW).open_shell()
    finally:
        acct.enabled = True


@pytest.mark.parametrize("tls", [True, False])
def test_credssp_delegates_credentials(lab: Lab, ntlm_http: WinRMEndpoint, ntlm_https: WinRMEndpoint,
                                       tls: bool) -> None:
    ep = ntlm_https if tls else ntlm_http
    p = lab.protocol(ep, "credssp")
    seen = content_types(p)
    shell = p.open_shell()
    assert run(p, shell, "labwho", skip_cmd_shell=True)[0] == b"WORK\\labadmin|delegated|True\r\n"
    # Over 16 KiB each way: the request and the reply travel as multipart/x-multi-encrypted over HTTP.
    cmd = p.run_command(shell, "labcat", skip_cmd_shell=True)
    data = bytes(range(256)) * 160
    p.send_command_input(shell, cmd, data, end=True)
    out, _, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    assert (out, code) == (f"{len(data)} {hashlib.sha256(data).hexdigest()}\r\n".encode(), 0)
    out, _, code = run(p, shell, "labbig", "40000", skip_cmd_shell=True)
    assert (len(out), code) == (40000, 0)
    p.close_shell(shell)
    if not tls:
        assert any(ct.startswith("multipart/x-multi-encrypted") for ct in seen)
        assert all("HTTP-CredSSP-session-encrypted" in ct for ct in seen if ct)


def test_credssp_with_basic_listener(lab: Lab) -> None:
    ep = lab.endpoint(auth="basic", tls=True)
    p = lab.protocol(ep, "credssp", user=SVC, password=SVC_PW)
    shell = p.open_shell()
    assert run(p, shell, "labwho", skip_cmd_shell=True)[0] == b"WORK\\svcOctopus|delegated|True\r\n"
    p.close_shell(shell)


def test_clear_text_soap_over_http_is_refused(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    with pytest.raises(InvalidCredentialsError):
        lab.protocol(ntlm_http, "ntlm", message_encryption="never").open_shell()


def test_sealed_message_on_a_new_connection_gets_400(lab: Lab) -> None:
    ep = lab.endpoint(auth="ntlm", idle_timeout=0.3)
    p = lab.protocol(ep, "ntlm")
    shell = p.open_shell()
    assert ep.open_connections == 1
    # The server closes the idle connection; pywinrm's sealing state lives on.
    wait_until(lambda: ep.open_connections == 0, what="the lab to close the idle keep-alive connection")
    with pytest.raises(WinRMTransportError) as exc:
        p.run_command(shell, "echo", ["hi"])
    assert exc.value.code == 400


# --- WinRS -----------------------------------------------------------------------------------------


def test_one_shell_reused_and_counters(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    before_requests, before_shells = lab.node.http_requests, lab.node.shells_opened
    shell = p.open_shell()
    results = [run(p, shell, "echo", str(i)) for i in range(3)]
    assert results == [(f"{i}\r\n".encode(), b"", 0) for i in range(3)]
    p.close_shell(shell)
    assert lab.node.shells_opened == before_shells + 1
    # Basic: one POST per call: Create, 3 x (Command, Receive, Signal), Delete.
    assert lab.node.http_requests == before_requests + 11


def test_exit_codes_and_separate_streams(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell()
    assert run(p, shell, "exit", "/b", "3") == (b"", b"", 3)
    assert run(p, shell, "laberr", skip_cmd_shell=True) == (b"to stdout\r\n", b"to stderr\r\n", 7)
    assert run(p, shell, "nosuchprogram")[2] == 9009
    p.close_shell(shell)


def test_environment_and_working_directory(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell(env_vars={"OCTO_TEST": "bar baz", "Second": "2"}, working_directory="C:\\Work\\Dir")
    assert run(p, shell, "echo", "%OCTO_TEST%-%SECOND%")[0] == b"bar baz-2\r\n"
    assert run(p, shell, "labcwd", skip_cmd_shell=True)[0] == b"C:\\Work\\Dir\r\n"
    p.close_shell(shell)
    shell = p.open_shell(working_directory="C:\\Nowhere")
    with pytest.raises(WSManFaultError) as exc:
        p.run_command(shell, "echo", ["hi"])
    assert exc.value.wsman_fault_code == 267
    p.close_shell(shell)


def test_code_page_437_by_default_and_65001_on_request(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell()
    assert run(p, shell, "labuni", skip_cmd_shell=True)[0] == (UNICODE_TEXT + "\r\n").encode("cp437")
    p.close_shell(shell)
    shell = p.open_shell(codepage=65001)
    assert run(p, shell, "labuni", skip_cmd_shell=True)[0] == (UNICODE_TEXT + "\r\n").encode("utf-8")
    p.close_shell(shell)


def test_stdin_in_two_chunks(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_http, "ntlm")
    shell = p.open_shell()
    cmd = p.run_command(shell, "labcat", skip_cmd_shell=True)
    first, second = b"a" * 100_000, bytes(range(256)) * 390 + b"z" * 160
    p.send_command_input(shell, cmd, first, end=False)
    p.send_command_input(shell, cmd, second, end=True)
    out, err, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    data = first + second
    assert (out, err, code) == (f"{len(data)} {hashlib.sha256(data).hexdigest()}\r\n".encode(), b"", 0)
    p.close_shell(shell)


def test_operation_timeout_is_retried_by_pywinrm(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic", operation_timeout_sec=1, read_timeout_sec=3)
    shell = p.open_shell()
    cmd = p.run_command(shell, "labsleep", ["2.2", "late", "output"], skip_cmd_shell=True)
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cmd)
    out, err, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    assert (out, err, code) == (b"late output\r\n", b"", 0)
    p.close_shell(shell)


def test_big_output_is_split_under_the_client_envelope(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_http, "ntlm")
    sizes: list[int] = []
    session = p.transport.build_session()
    session.hooks["response"].append(lambda r, **kw: sizes.append(len(r.content)))
    shell = p.open_shell()
    cmd = p.run_command(shell, "labbig", ["500000"], skip_cmd_shell=True)
    sizes.clear()
    out, responses, done = b"", 0, False
    while not done:
        chunk, _err, code, done = p.get_command_output_raw(shell, cmd)
        out += chunk
        responses += 1
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    expected = (bytes(range(256)) * 64 * 31)[:500000]
    assert out == expected and code == 0
    assert responses >= 4
    # Sealing adds a few hundred bytes around each envelope; the envelopes themselves stay under 153600.
    assert max(sizes[:responses]) <= 153600 + 400


def test_signal_terminate_stops_a_running_command(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic", operation_timeout_sec=1, read_timeout_sec=3)
    shell = p.open_shell()
    lab.signals.terminated.clear()
    cmd = p.run_command(shell, "labforever", skip_cmd_shell=True)
    assert lab.signals.started.wait(5)
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cmd)
    p.cleanup_command(shell, cmd)
    assert lab.signals.terminated.wait(5)
    with pytest.raises(WSManFaultError) as exc:
        p.get_command_output_raw(shell, cmd)
    assert exc.value.wsman_fault_code == 2150858843
    p.close_shell(shell)


def test_unknown_shell_is_invalid_selectors(lab: Lab, ntlm_http: WinRMEndpoint) -> None:
    p = lab.protocol(ntlm_http, "ntlm")
    with pytest.raises(WSManFaultError) as exc:
        p.run_command("8C2B0B43-9E5B-4D55-9C7E-5B0F2F5B7A11", "echo", ["hi"])
    assert exc.value.wsman_fault_code == 2150858843
    assert exc.value.code == 500
    assert exc.value.fault_subcode == "w:InvalidSelectors"


def test_oversize_request_is_413(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell()
    cmd = p.run_command(shell, "labcat", skip_cmd_shell=True)
    with pytest.raises(WinRMTransportError) as exc:
        p.send_command_input(shell, cmd, b"x" * 400_000)  # about 533 KB of base64 in one envelope
    assert exc.value.code == 413
    p.send_command_input(shell, cmd, b"x" * 300_000, end=True)  # the connection and shell still work
    out, _, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    assert out.startswith(b"300000 ") and code == 0
    p.close_shell(shell)


def test_max_shells_per_user(lab: Lab) -> None:
    ep = lab.endpoint(auth="basic", allow_basic_http=True, max_shells_per_user=3)
    p = lab.protocol(ep, "basic")
    shells = [p.open_shell() for _ in range(3)]
    with pytest.raises(WSManFaultError) as exc:
        p.open_shell()
    assert exc.value.wsman_fault_code == 2150859173
    assert exc.value.fault_subcode == "w:QuotaLimit"
    other = lab.protocol(ep, "basic", user=LOCAL_USER, password=LOCAL_USER_PW)
    other.close_shell(other.open_shell())  # the quota is per user
    p.close_shell(shells.pop())
    shells.append(p.open_shell())
    for shell in shells:
        p.close_shell(shell)


def test_another_users_shell_is_not_found(lab: Lab, basic_http: WinRMEndpoint) -> None:
    admin = lab.protocol(basic_http, "basic")
    shell = admin.open_shell()
    svc = lab.protocol(basic_http, "basic", user=LOCAL_USER, password=LOCAL_USER_PW)
    with pytest.raises(WSManFaultError) as exc:
        svc.run_command(shell, "echo", ["hi"])
    assert exc.value.wsman_fault_code == 2150858843
    admin.close_shell(shell)


def test_stop_and_restart_listener(tmp_path: Path) -> None:
    with lab_world(tmp_path) as lab:
        ep = lab.endpoint(auth="ntlm")
        port = ep.port
        p = lab.protocol(ep, "ntlm")
        shell = p.open_shell()
        ep.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            lab.protocol(ep, "ntlm").open_shell()
        ep.restart_listener()
        assert ep.port == port
        fresh = lab.protocol(ep, "ntlm")
        with pytest.raises(WSManFaultError) as exc:  # a restart forgets every shell, as a reboot does
            fresh.run_command(shell, "echo", ["hi"])
        assert exc.value.wsman_fault_code == 2150858843
        shell = fresh.open_shell()
        assert run(fresh, shell, "echo", "back")[0] == b"back\r\n"
        fresh.close_shell(shell)



def test_shell_idle_timeout_reclaims_the_shell(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell(idle_timeout="PT0.5S")
    assert run(p, shell, "echo", "alive")[0] == b"alive\r\n"
    # Letting the shell's idle time-out pass IS the behaviour under test (WinRS checks it when the shell
    # is next used, so there is no event to wait on): 0.8 s after the reply, more than 0.5 s have passed
    # since the server last touched the shell, however slow the machine.
    time.sleep(0.8)
    with pytest.raises(WSManFaultError) as exc:
        p.run_command(shell, "echo", ["hi"])
    assert exc.value.wsman_fault_code == 2150858843


def test_ctrl_c_ends_the_command_but_keeps_it_readable(lab: Lab, basic_http: WinRMEndpoint) -> None:
    p = lab.protocol(basic_http, "basic")
    shell = p.open_shell()
    lab.signals.started.clear()
    cmd = p.run_command(shell, "labforever", skip_cmd_shell=True)
    assert lab.signals.started.wait(5)
    envelope = p.build_wsman_header("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
                                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", shell)
    envelope["env:Body"] = {"rsp:Signal": {
        "@CommandId": cmd, "rsp:Code": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"}}
    p.send_message(xmltodict.unparse({"env:Envelope": envelope}))
    _out, _err, code = p.get_command_output(shell, cmd)
    assert code == -1073741510  # STATUS_CONTROL_C_EXIT
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)


@pytest.mark.parametrize("transport", ["ntlm", "credssp"])
def test_session_run_cmd_opens_and_closes_its_own_shell(lab: Lab, ntlm_http: WinRMEndpoint,
                                                       transport: str) -> None:
    session = winrm.Session(ntlm_http.endpoint_url, auth=(ADMIN, ADMIN_PW), transport=transport, proxy=None,
                            ca_trust_path=None)
    before = ntlm_http.winrs.shell_count
    result = session.run_cmd("echo", ["one", "two"])
    assert (result.status_code, result.std_out, result.std_err) == (0, b"one two\r\n", b"")
    assert ntlm_http.winrs.shell_count == before
