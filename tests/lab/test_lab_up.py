"""``octotui lab up`` as a user runs it: one ready line, served until a signal, the world kept on disk."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import winrm

from tests.fixtures.lab import run, running_lab, start_lab
from tests.fixtures.waiting import wait_until


def test_ready_line_then_nothing_else_on_stdout_and_sigint_saves(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lab = start_lab(state, "--nodes", "2")
    try:
        ready = lab.ready
        assert ready["domain"] == "WORK"
        assert ready["admin"]["username"] == "WORK\\labadmin" and ready["admin"]["password"]
        assert ready["service_account"]["username"] == "WORK\\svcOctopus"
        assert [n["name"] for n in ready["nodes"]] == ["OCTO1", "OCTO2"]
        for n in ready["nodes"]:
            assert n["endpoint"].startswith("http://127.0.0.1:") and n["endpoint"].endswith("/wsman")
            assert isinstance(n["web_port"], int)
        assert "ca_cert" not in ready
        for version, inst in ready["installers"].items():
            assert inst["node_path"] == f"C:\\Install\\Octopus.{version}-x64.msi"
            assert requests.get(inst["url"], timeout=5).status_code == 200
        assert ready["share"] == "\\\\127.0.0.1\\OctopusData"
        assert "Integrated Security=True" in ready["sql"]["connection_string"]
        assert ready["state_dir"] == str(state.resolve())
        answers = (state / "answers.toml").read_text()
        assert 'mode = "create"' in answers and ready["admin"]["password"] not in answers
    finally:
        lab.proc.send_signal(signal.SIGINT)
        out, _ = lab.proc.communicate(timeout=30)
    assert lab.proc.returncode == 0
    assert out == ""  # nothing after the ready line
    assert (state / "world.json").exists()
    assert stat.S_IMODE(os.stat(state / "world.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700


def test_https_lab_validates_against_its_own_ca(tmp_path: Path) -> None:
    with running_lab(tmp_path / "s", "--nodes", "1", "--https") as lab:
        ca = lab.ready["ca_cert"]
        assert Path(ca).read_text().startswith("-----BEGIN CERTIFICATE-----")
        ep = lab.ready["nodes"][0]["endpoint"]
        assert ep.startswith("https://")
        admin = lab.ready["admin"]
        good = winrm.Protocol(ep, transport="ntlm", username=admin["username"], password=admin["password"],
                              ca_trust_path=ca)
        shell = good.open_shell()
        assert run(good, shell, "hostname")[1].strip() == "OCTO1"
        good.close_shell(shell)
        untrusting = winrm.Protocol(ep, transport="ntlm", username=admin["username"],
                                    password=admin["password"], ca_trust_path=None)
        with pytest.raises(requests.exceptions.SSLError):
            untrusting.open_shell()


def test_basic_lab_needs_https_or_explicit_permission(tmp_path: Path) -> None:
    with running_lab(tmp_path / "s", "--nodes", "1", "--auth", "basic", "--allow-unencrypted") as lab:
        admin = lab.ready["admin"]
        p = winrm.Protocol(lab.ready["nodes"][0]["endpoint"], transport="basic", username=admin["username"],
                           password=admin["password"])
        shell = p.open_shell()
        assert run(p, shell, "whoami")[1].strip() == "octo1\\administrator"
        p.close_shell(shell)


def test_basic_lab_hands_out_the_nodes_local_administrator(tmp_path: Path) -> None:
    """Windows' WinRM takes Basic for local accounts only: a basic lab's WinRM admin and answers file name
    the nodes' local Administrator, the domain admin gets 401 over Basic, and the password survives a restart."""
    state = tmp_path / "s"
    with running_lab(state, "--nodes", "2", "--auth", "basic", "--allow-unencrypted") as lab:
        ready = lab.ready
        local, domain = ready["local_admin"], ready["domain_admin"]
        assert ready["admin"] == local and local["username"] == "Administrator" and local["password"]
        assert domain["username"] == "WORK\\labadmin"
        answers = (state / "answers.toml").read_text()
        winrm_table = answers.split("[winrm]", 1)[1].split("\n\n", 1)[0]
        assert 'username = "Administrator"' in winrm_table and 'transport = "basic"' in winrm_table
        assert 'username = "WORK\\\\labadmin"' in answers.split("[admin]", 1)[1]  # Octopus's admin: the domain's
        assert local["password"] not in answers
        for node in ready["nodes"]:
            port = int(node["endpoint"].split(":")[2].split("/")[0])
            assert basic_status(port, local["username"], local["password"]) != 401
            assert basic_status(port, domain["username"], domain["password"]) == 401
    with running_lab(state, "--auth", "basic", "--allow-unencrypted") as again:
        assert again.ready["local_admin"] == local


def basic_status(port: int, username: str, password: str) -> int:
    """The status of a POST to /wsman with a hand-made Basic header (an empty body: only the logon matters)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/wsman", body=b"", headers={"Authorization": f"Basic {token}",
                                                          "Content-Type": "application/soap+xml;charset=UTF-8"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_sigterm_with_a_command_running_still_exits_zero(tmp_path: Path) -> None:
    lab = start_lab(tmp_path / "s", "--nodes", "1", "--fault", "slow:match=hostname,seconds=30")
    admin = lab.ready["admin"]
    p = winrm.Protocol(lab.ready["nodes"][0]["endpoint"], transport="ntlm", username=admin["username"],
                       password=admin["password"], operation_timeout_sec=1, read_timeout_sec=5)
    shell = p.open_shell()
    p.run_command(shell, "hostname")
    wait_until(lambda: any(c.endswith("cmd.exe /c hostname") for c in lab.running_commands("OCTO1")),
               what="the lab to be running `hostname` on OCTO1 (held there by the slow fault)")
    started = time.monotonic()
    assert lab.stop() == 0
    assert time.monotonic() - started < 15


def test_nodes_option_and_resume_keeps_node_count(tmp_path: Path) -> None:
    state = tmp_path / "s"
    with running_lab(state, "--nodes", "4") as lab:
        assert len(lab.ready["nodes"]) == 4
        ports = [n["endpoint"] for n in lab.ready["nodes"]]
    with running_lab(state) as again:
        assert len(again.ready["nodes"]) == 4
        assert [n["endpoint"] for n in again.ready["nodes"]] == ports  # same ports: the answers stay valid


def test_inspect_works_on_a_stopped_lab(tmp_path: Path) -> None:
    state = tmp_path / "s"
    with running_lab(state, "--nodes", "1"):
        pass
    out = subprocess.run([sys.executable, "-m", "octotui", "lab", "inspect", "--state", str(state)],
                         capture_output=True, text=True, check=True, timeout=60)
    doc = json.loads(out.stdout)
    assert [n["name"] for n in doc["nodes"]] == ["OCTO1"]
    assert doc["sql"]["databases"] == []
