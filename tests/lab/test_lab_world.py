"""The lab as a whole, through its real endpoints: identity and the double hop, SQL rights, the service
log, the ping endpoint, and the faults that are injected into a running lab."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import winrm

from tests.fixtures.lab import LabProcess, run, running_lab
from tests.fixtures.waiting import wait_until

EXE = r'"C:\Program Files\Octopus Deploy\Octopus\Octopus.Server.exe"'
VERSION = "2025.3.1234"
#: NLog's default layout in OctopusServer.txt; ``padding=5`` right-aligns pid, thread id and level.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{4}  [ \d]{5}  [ \d]{5} (TRACE|DEBUG| INFO| WARN|ERROR|FATAL)  \S")


def octo(args: str) -> str:
    return f'"{EXE} {args}"'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("world") / "state", "--nodes", "2") as lab:
        yield lab


def ping(lab: LabProcess, name: str) -> int | str:
    url = f"http://127.0.0.1:{lab.node(name)['web_port']}/api/octopusservernodes/ping"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError:
        return "refused"


def live_node(lab: LabProcess, name: str) -> dict[str, Any]:
    """The node as the running lab sees it now (its control endpoint, not the world saved on disk)."""
    return next(n for n in lab.inspect_live()["nodes"] if n["name"] == name)


def test_octopus_is_not_there_until_installed_and_the_msi_fault_fires_once(lab: LabProcess) -> None:
    p = lab.protocol("OCTO2")
    shell = p.open_shell()
    try:
        code, _, err = run(p, shell, octo("version"))
        assert code == 3 or code == 9009
        assert "cannot find the path" in err or "is not recognized" in err
        lab.add_fault("msi@OCTO2:exit=1603")
        code, _, _ = run(p, shell, rf"msiexec /i C:\Install\Octopus.{VERSION}-x64.msi /quiet /l*v C:\Install\a.log")
        assert code == 1603
        code, out, _ = run(p, shell, r"type C:\Install\a.log")
        assert "1603" in out
        code, _, _ = run(p, shell, octo("version"))
        assert code != 0  # a failed install leaves nothing behind
        code, _, _ = run(p, shell, rf"msiexec /i C:\Install\Octopus.{VERSION}-x64.msi /quiet")
        assert code == 0
        code, out, _ = run(p, shell, octo("version"))
        assert code == 0 and VERSION in out
    finally:
        p.close_shell(shell)
    products = {n["name"]: n["products"] for n in lab.inspect()["nodes"]}
    assert products["OCTO2"] == [{"name": "Octopus Deploy Server", "version": VERSION}]
    assert products["OCTO1"] == []


def test_double_hop_share_and_sql_from_a_winrm_session(lab: LabProcess) -> None:
    """From NTLM, UNC and SQL see ANONYMOUS LOGON; as the service account with its password, they work."""
    import base64
    import json

    from octotui.windows import scripts
    share = lab.ready["share"]
    boot = base64.b64encode(scripts.ps_script("bootstrap").encode("utf-16-le")).decode()
    line = f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {boot}"

    def script(p: winrm.Protocol, shell: str, name: str, params: dict[str, object]) -> dict[str, object]:
        payload = (scripts.ps_script(name) + "\0\0\0\0" + json.dumps(params)).encode()
        _code, out, _err = run(p, shell, line, stdin=payload)
        (result,) = [ln for ln in out.splitlines() if ln.startswith("@@octotui-result@@")]
        doc: dict[str, object] = json.loads(result[len("@@octotui-result@@"):])
        return doc

    p = lab.protocol("OCTO1")
    shell = p.open_shell(codepage=65001)
    try:
        probe = script(p, shell, "test-share", {"paths": [share]})
        (only,) = probe["results"]  # type: ignore[misc]
        assert only["ok"] is False and "denied" in only["error"].lower()
        sql = script(p, shell, "test-sql", {"connection_string": lab.ready["sql"]["connection_string"]})
        assert sql["ok"] is False and "ANONYMOUS LOGON" in str(sql["message"])

        svc = lab.ready["service_account"]
        as_svc = script(p, shell, "invoke-as-user", {"username": svc["username"], "password": svc["password"],
                                                      "command_line": "whoami", "timeout_s": 60})
        assert as_svc["ok"] is True and as_svc["stdout"].strip() == "work\\svcoctopus"  # type: ignore[union-attr]
        wrong = script(p, shell, "invoke-as-user", {"username": svc["username"], "password": "nope",
                                                     "command_line": "whoami", "timeout_s": 60})
        assert wrong["ok"] is False and "0x8007052E" in str(wrong["error"])
    finally:
        p.close_shell(shell)


def test_service_account_without_sql_rights_cannot_start_the_service(lab: LabProcess) -> None:
    """The lab admin is sysadmin; the service account has no rights until `database --grant` gives them."""
    cs = lab.ready["sql"]["connection_string"].replace("OctopusDeploy", "OctopusNoGrant")
    svc = lab.ready["service_account"]
    p = lab.protocol("OCTO2")
    cred = lab.protocol("OCTO2", transport="credssp")
    shell = p.open_shell(env_vars={"OCTOPUS_SERVICE_PASSWORD": svc["password"]})
    cshell = cred.open_shell()
    try:
        assert run(p, shell, octo(r'create-instance --instance "NoGrant" --config "C:\NoGrant\OctopusServer.config"'))[0] == 0
        code, out, err = run(cred, cshell, octo(f'database --instance "NoGrant" --connectionString "{cs}" --create'))
        assert code == 0, (out, err)
        code, out, err = run(p, shell, octo(f'service --instance "NoGrant" --user "{svc["username"]}" '
                                            "--install --reconfigure --start"))
        assert code != 0
        code, log, _ = run(p, shell, r"type C:\NoGrant\Logs\OctopusServer.txt")
        assert "Login failed for user 'WORK\\svcOctopus'" in log
        entries = [ln for ln in log.splitlines() if ln and not ln.startswith(" ")]
        assert entries and all(LOG_LINE.match(ln) for ln in entries if ln[:2] == "20")
        assert svc["password"] not in log
    finally:
        p.close_shell(shell)
        cred.close_shell(cshell)


def test_ping_follows_the_service_drain_and_stop(lab: LabProcess) -> None:
    cs = lab.ready["sql"]["connection_string"]
    svc = lab.ready["service_account"]
    p = lab.protocol("OCTO1")
    cred = lab.protocol("OCTO1", transport="credssp")
    shell = p.open_shell(env_vars={"OCTOPUS_SERVICE_PASSWORD": svc["password"]})
    cshell = cred.open_shell()
    try:
        assert run(p, shell, rf"msiexec /i C:\Install\Octopus.{VERSION}-x64.msi /qn")[0] == 0
        assert run(p, shell, octo(r'create-instance --instance "Default" --config "C:\Octopus\OctopusServer.config"'))[0] == 0
        code, out, err = run(cred, cshell, octo(f'database --instance "Default" --connectionString "{cs}" '
                                                f'--create --grant "{svc["username"]}"'))
        assert code == 0, (out, err)
        assert run(p, shell, octo('configure --instance "Default" --webListenPrefixes "http://localhost:80/"'))[0] == 0
        assert ping(lab, "OCTO1") == "refused"
        code, out, err = run(p, shell, octo(f'service --instance "Default" --user "{svc["username"]}" '
                                            "--install --reconfigure --start"))
        assert code == 0, (out, err)
        assert ping(lab, "OCTO1") == 200
        body = requests.get(f"http://127.0.0.1:{lab.node('OCTO1')['web_port']}/api", timeout=5).json()
        assert body["Version"] == VERSION
        assert run(cred, cshell, octo('node --instance "Default" --drain true'))[0] == 0
        assert ping(lab, "OCTO1") == 418
        assert run(cred, cshell, octo('node --instance "Default" --drain false'))[0] == 0
        assert ping(lab, "OCTO1") == 200
        assert run(p, shell, octo('service --instance "Default" --stop'))[0] == 0
        assert ping(lab, "OCTO1") == "refused"
        assert run(p, shell, octo('service --instance "Default" --start'))[0] == 0
        assert ping(lab, "OCTO1") == 200
    finally:
        p.close_shell(shell)
        cred.close_shell(cshell)


def test_reboot_fault_takes_the_endpoint_away_and_restarts_services(lab: LabProcess) -> None:
    """Runs after the ping test: OCTO1's service is installed and running, and comes back after a reboot."""
    before = {n["name"]: n for n in lab.inspect()["nodes"]}["OCTO1"]
    assert [s["state"] for s in before["services"]] == ["Running"]
    lab.add_fault("reboot@OCTO1:after=0,down=2")
    p = lab.protocol("OCTO1")
    with pytest.raises((requests.exceptions.ConnectionError, winrm.exceptions.WinRMTransportError)):
        p.open_shell()  # this request triggers the reboot: the connection is dropped unanswered
    # The lab counts the boot once the endpoint is stopped and the node shut down, then keeps it down
    # for 2 s: from here the node is down, without guessing how long the reboot takes to begin.
    wait_until(lambda: live_node(lab, "OCTO1")["boot_count"] == before["boot_count"] + 1,
               what="OCTO1 to go down for its reboot (its boot count to rise)")
    assert ping(lab, "OCTO1") == "refused"
    with pytest.raises(requests.exceptions.ConnectionError):
        lab.protocol("OCTO1").open_shell()

    def shell_opens() -> tuple[winrm.Protocol, str] | None:
        try:
            fresh = lab.protocol("OCTO1")
            return fresh, fresh.open_shell()
        except requests.exceptions.ConnectionError:
            return None

    p, shell = wait_until(shell_opens, timeout=20, what="OCTO1 to come back and open a WinRM shell")
    assert run(p, shell, "hostname")[1].strip() == "OCTO1"
    p.close_shell(shell)
    after = {n["name"]: n for n in lab.inspect()["nodes"]}["OCTO1"]
    assert after["boot_count"] == before["boot_count"] + 1
    assert [s["state"] for s in after["services"]] == ["Running"]
    assert ping(lab, "OCTO1") == 200


def test_slow_command_fault_makes_receive_time_out_and_pywinrm_retry(lab: LabProcess) -> None:
    lab.add_fault("slow@OCTO2:match=hostname,seconds=3")
    p = lab.protocol("OCTO2", operation_timeout_sec=1)
    shell = p.open_shell()
    try:
        started = time.monotonic()
        out, _err, code = p.get_command_output(shell, p.run_command(shell, "hostname"))
        assert code == 0 and out.strip() == b"OCTO2"
        assert time.monotonic() - started >= 2.5
    finally:
        p.close_shell(shell)


def test_wsman_500_and_dropped_connections_are_injected(lab: LabProcess) -> None:
    p = lab.protocol("OCTO2")
    shell = p.open_shell()
    lab.add_fault("wsman500@OCTO2:after=0")
    with pytest.raises(winrm.exceptions.WSManFaultError) as info:
        p.run_command(shell, "hostname")
    assert info.value.code == 500
    assert run(p, shell, "hostname")[1].strip() == "OCTO2"  # fired once
    lab.add_fault("drop@OCTO2:after=0")
    with pytest.raises(requests.exceptions.ConnectionError):
        p.run_command(shell, "hostname")
