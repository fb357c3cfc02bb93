"""``octotui lab up --dc``: the lab's domain as a real Samba AD DC, and its share as a real SMB share.

One lab with its DC serves the whole session (``lab_with_dc``, tests/fixtures/lab_dc.py: provisioning a DC takes tens
of seconds); the restart test leaves a restarted lab behind. In CI (``CI=true``) a DC that cannot start fails these
tests, never skips them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import smbclient
import winrm
from smbprotocol.exceptions import SMBOSError

from tests.fixtures.cli import octotui, octotui_env
from tests.fixtures.lab import LabProcess, run, start_lab
from tests.fixtures.lab_dc import DcLab

pytestmark = pytest.mark.slow


def _smb(path: str, account: dict[str, str], *, write: bytes | None = None) -> bytes:
    """Read (or write) one file over real SMB as ``account``, with a fresh session for that account."""
    smbclient.reset_connection_cache()
    try:
        if write is not None:
            with smbclient.open_file(path, mode="wb", username=account["username"], password=account["password"],
                                     auth_protocol="ntlm") as out:
                out.write(write)
            return write
        with smbclient.open_file(path, mode="rb", username=account["username"], password=account["password"],
                                 auth_protocol="ntlm") as source:
            data: bytes = source.read()
            return data
    finally:
        smbclient.reset_connection_cache()


def _node_script(lab: LabProcess, node: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one of the engine's node scripts on ``node`` over WinRM as the lab admin, as the engine sends it."""
    from octotui.windows import scripts

    boot = base64.b64encode(scripts.ps_script("bootstrap").encode("utf-16-le")).decode()
    line = f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {boot}"
    p: winrm.Protocol = lab.protocol(node)
    shell = p.open_shell(codepage=65001)
    try:
        payload = (scripts.ps_script(name) + "\0\0\0\0" + json.dumps(params)).encode()
        _code, out, _err = run(p, shell, line, stdin=payload)
    finally:
        p.close_shell(shell)
    (result,) = [ln for ln in out.splitlines() if ln.startswith("@@octotui-result@@")]
    doc: dict[str, Any] = json.loads(result[len("@@octotui-result@@"):])
    return doc


def _as_service(lab: LabProcess, node: str, command_line: str) -> dict[str, Any]:
    """``command_line`` on ``node`` as the service account (a scheduled task with its password: no double hop)."""
    svc = lab.ready["service_account"]
    return _node_script(lab, node, "invoke-as-user", {"username": svc["username"], "password": svc["password"],
                                                      "command_line": command_line, "timeout_s": 60})


def test_ready_line_and_answers_name_the_domain_its_dc_and_the_kerberos_files(lab_with_dc: DcLab) -> None:
    ready, state = lab_with_dc.lab.ready, lab_with_dc.lab.state
    dc = ready["dc"]
    assert (dc["realm"], dc["netbios_domain"], dc["dns_domain"]) == ("WORK.LAB", "WORK", "work.lab")
    # 127.0.0.2 unless another lab's DC holds it; never 127.0.0.1, the test suite's own DC.
    assert dc["address"].startswith("127.0.0.") and dc["address"] != "127.0.0.1"
    assert ready["share"] == f"\\\\{dc['address']}\\OctopusData"
    assert [n["host"] for n in ready["nodes"]] == ["octo1.work.lab", "octo2.work.lab"]
    answers = (state / "answers.toml").read_text()
    assert f'[ad]\ndomain_controller = "{dc["address"]}"\ndns_domain = "work.lab"\n' in answers
    assert 'host = "octo1.work.lab"\nendpoint = "http://127.0.0.1:' in answers
    keytab = state / "dc" / "lab.keytab"
    assert Path(dc["keytab"]) == keytab and stat.S_IMODE(keytab.stat().st_mode) == 0o600
    keys = keytab.read_bytes()
    sql_port = ready["sql"]["connection_string"].split(",")[1].split(";")[0]
    for component in (b"octo1.work.lab", b"octo2.work.lab", b"sql1.work.lab", f"sql1.work.lab:{sql_port}".encode()):
        assert component in keys, component
    krb5 = (state / "dc" / "krb5.conf").read_text()
    assert "default_realm = WORK.LAB" in krb5 and f"kdc = {dc['address']}\n" in krb5


def test_check_on_the_labs_answers_passes_in_full(lab_with_dc: DcLab, tmp_path: Path) -> None:
    lab = lab_with_dc.lab
    out = octotui(octotui_env(lab, tmp_path), "check", str(lab.state / "answers.toml"), "--json", timeout=120)
    results = {r["id"]: r for r in json.loads(out.stdout)}
    assert out.returncode == 0, out.stdout + out.stderr
    assert {i for i, r in results.items() if r["status"] != "pass"} == {"cluster.version"}, out.stdout
    assert results["cluster.version"]["status"] == "skip"  # create mode: no cluster yet to compare with
    assert results["ad.account"]["summary"].startswith("WORK\\svcOctopus logs on")
    assert results["share.write"]["summary"].endswith(lab.ready["share"])


def test_a_file_written_over_smb_is_in_the_nodes_share_and_back(lab_with_dc: DcLab) -> None:
    lab = lab_with_dc.lab
    svc, share = lab.ready["service_account"], lab.ready["share"]
    name = f"from-smb-{uuid.uuid4().hex[:8]}.txt"
    _smb(f"{share}\\{name}", svc, write=b"written over SMB")
    assert (Path(lab.ready["dc"]["share_folder"]) / name).read_bytes() == b"written over SMB"
    seen = _as_service(lab, "OCTO1", f"type {share}\\{name}")
    assert seen["ok"] is True and seen["stdout"].strip() == "written over SMB", seen

    back = f"from-node-{uuid.uuid4().hex[:8]}.txt"
    wrote = _as_service(lab, "OCTO2", f"echo written by OCTO2>{share}\\{back}")
    assert wrote["ok"] is True, wrote
    assert _smb(f"{share}\\{back}", svc).strip() == b"written by OCTO2"


def test_the_winrm_admin_may_not_write_to_the_share(lab_with_dc: DcLab) -> None:
    lab = lab_with_dc.lab
    admin, share = lab.ready["admin"], lab.ready["share"]
    with pytest.raises(SMBOSError) as refused:
        _smb(f"{share}\\admin-{uuid.uuid4().hex[:8]}.txt", admin, write=b"no")
    assert "STATUS_ACCESS_DENIED" in str(refused.value)
    # From a node the WinRM session reaches the share as ANONYMOUS LOGON (the double hop): refused too.
    probe = _node_script(lab, "OCTO1", "test-share", {"paths": [lab.ready["share"]]})
    (only,) = probe["results"]
    assert only["ok"] is False and "denied" in only["error"].lower()


def _listening(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((address, port)) == 0


def test_stopping_the_lab_stops_the_dc_and_a_restart_reuses_it(lab_with_dc: DcLab) -> None:
    first = lab_with_dc.lab
    svc, share = first.ready["service_account"], first.ready["share"]
    name = f"kept-{uuid.uuid4().hex[:8]}.txt"
    _smb(f"{share}\\{name}", svc, write=b"kept across a restart")
    assert first.stop() == 0
    address = first.ready["dc"]["address"]
    assert not _listening(address, 445) and not _listening(address, 389)

    lab_with_dc.lab = start_lab(first.state, "--dc", timeout=120)
    again = lab_with_dc.lab.ready
    assert again["dc"]["realm"] == "WORK.LAB" and again["service_account"] == svc and again["share"] == share
    assert again["dc"]["timings"]["provisioned_now"] is False
    assert again["dc"]["timings"]["provision_s"] < 1.0
    assert _smb(f"{share}\\{name}", svc) == b"kept across a restart"


def _lab_up_refused(tmp_path: Path, env: dict[str, str], prefix: list[str]) -> subprocess.CompletedProcess[str]:
    state = tmp_path / "state"
    return subprocess.run([*prefix, sys.executable, "-m", "octotui", "lab", "up", "--dc", "--nodes", "1",
                           "--state", str(state)], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_dc_without_samba_says_what_to_install(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), OCTOTUI_HOME=str(tmp_path / "home"))
    out = _lab_up_refused(tmp_path, env, [])
    assert out.returncode == 1 and out.stdout == ""
    assert "Samba is not installed here" in out.stderr and "samba-ad-dc" in out.stderr, out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a non-root run is itself the case test_dc_without_samba covers")
def test_dc_without_root_says_it_needs_root(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run lab up as another user"
    folder = Path(tempfile.mkdtemp(prefix="octotui-lab-dc-nonroot-", dir="/tmp"))
    try:
        folder.chmod(0o777)
        env = dict(os.environ, OCTOTUI_HOME=str(folder / "home"), HOME=str(folder))
        out = _lab_up_refused(folder, env, [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"])
        assert out.returncode == 1 and out.stdout == "", out.stderr
        assert "needs root" in out.stderr, out.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
