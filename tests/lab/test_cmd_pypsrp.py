"""The lab's cmd.exe as a client the engine does not use sees it: pypsrp's WinRS ``Process`` over NTLM.

pywinrm is the engine's own client, so these tests drive a fully wired node (every simulated program, as
``lab up`` wires it) with pypsrp instead: its command elements, its Send of stdin in pieces, its Receive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypsrp.shell import Process, WinRS
from pypsrp.wsman import WSMan

from octotui.lab.cmdexe import LAB_LIMIT_EXIT
from octotui.lab.ntlm_users import write_user_file
from octotui.lab.provision import new_world
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import World
from octotui.lab.winrm import WinRMEndpoint
from octotui.lab.wiring import all_programs, all_services

NOT_RECOGNIZED = "is not recognized as an internal or external command"


@dataclass
class Node:
    world: World
    endpoint: WinRMEndpoint
    username: str
    password: str

    def wsman(self) -> WSMan:
        port = int(self.endpoint.endpoint_url.rsplit(":", 1)[1].split("/", 1)[0])
        return WSMan("127.0.0.1", port=port, ssl=False, auth="ntlm", username=self.username,
                     password=self.password, operation_timeout=20, read_timeout=30)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    world = new_world(1)
    runtime = NodeRuntime(world, world.nodes[0], LabSettings(), all_programs(), all_services())
    ntlm = write_user_file(world, Path(tmp_path_factory.mktemp("ntlm")) / "ntlm-users.txt")
    endpoint = WinRMEndpoint(runtime, ntlm_user_file=ntlm)
    endpoint.start()
    admin = world.directory.accounts["labadmin"]
    try:
        yield Node(world, endpoint, f"WORK\\{admin.sam}", admin.password)
    finally:
        endpoint.stop()


def run(node: Node, executable: str, *args: str, stdin: list[bytes] | None = None) -> tuple[int, str, str]:
    """One process in a fresh shell; ``stdin`` is sent in the pieces given, the last one with End."""
    with WinRS(node.wsman()) as shell:
        proc = Process(shell, executable, list(args))
        proc.begin_invoke()
        for i, piece in enumerate(stdin or []):
            proc.send(piece, end=i == len(stdin or []) - 1)
        proc.end_invoke()
        assert proc.rc is not None
        return proc.rc, proc.stdout.decode("cp437"), proc.stderr.decode("cp437")


@pytest.mark.parametrize(("executable", "args"), [
    ("copy", ["C:\\Install\\a.txt", "C:\\Install\\b.txt"]),
    ("findstr", ["/i", "octopus", "C:\\Install\\a.txt"]),
    ("sort", ["C:\\Install\\a.txt"]),
    ("more", ["C:\\Install\\a.txt"]),
    ("ping", ["-n", "1", "octo2.work.lab"]),
    ("sc", ["query", "OctopusDeploy"]),
    ("net", ["user"]),
    ("reg", ["query", "HKLM\\SOFTWARE"]),
    ("C:\\Windows\\System32\\findstr.exe", ["x", "C:\\Install\\a.txt"]),
    ("if", ["exist", "C:\\Install", "echo", "yes"]),
    ("copy/y", ["C:\\Install\\a.txt", "C:\\Install\\b.txt"]),
    ("set", ["/a", "x=1+1"]),
])
def test_a_windows_command_the_lab_does_not_simulate_says_it_is_the_labs_limit(
        node: Node, executable: str, args: list[str]) -> None:
    code, out, err = run(node, executable, *args)
    assert NOT_RECOGNIZED not in err, "Windows has this command: 'not recognized' would be a lie"
    assert code == LAB_LIMIT_EXIT
    assert err.startswith("lab limit:") and out == ""


def test_a_command_windows_does_not_have_is_still_not_recognized(node: Node) -> None:
    code, _out, err = run(node, "frobnicate", "/x")
    assert (code, err) == (9009, f"'frobnicate' {NOT_RECOGNIZED},\r\noperable program or batch file.\r\n")


def test_timeout_refuses_as_it_does_when_winrs_gives_it_a_pipe(node: Node) -> None:
    code, out, err = run(node, "timeout", "/t", "5", "/nobreak")
    assert (code, out) == (1, "")
    assert err == "ERROR: Input redirection is not supported, exiting the process immediately.\r\n"


def test_ping_of_the_loopback_address_answers_as_windows(node: Node) -> None:
    code, out, err = run(node, "ping", "-n", "2", "127.0.0.1")
    assert (code, err) == (0, "")
    assert out.count("Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n") == 2
    assert "Packets: Sent = 2, Received = 2, Lost = 0 (0% loss)," in out


def test_interactive_cmd_runs_the_commands_sent_on_stdin_and_exits_with_exit(node: Node) -> None:
    code, out, err = run(node, "cmd", stdin=[b"echo hi", b"gh\r\ncd C:\\Install\r\n", b"exit 3\r\necho never\r\n"])
    assert code == 3
    assert err == ""
    home = "C:\\Users\\labadmin"
    assert out.endswith("(c) Microsoft Corporation. All rights reserved.\r\n"
                        f"\r\n{home}>echo high\r\nhigh\r\n"
                        f"\r\n{home}>cd C:\\Install\r\n"
                        "\r\nC:\\Install>exit 3\r\n")
    assert "never" not in out


def test_interactive_cmd_ends_at_the_end_of_stdin_with_the_last_errorlevel(node: Node) -> None:
    code, out, err = run(node, "cmd", stdin=[b"echo one\r\nnosuch\r\n"])
    assert code == 9009
    assert f"'nosuch' {NOT_RECOGNIZED}" in err
    assert out.rstrip().endswith("C:\\Users\\labadmin>")  # the prompt it showed before reading the end


def test_interactive_cmd_q_shows_no_prompt(node: Node) -> None:
    code, out, _err = run(node, "cmd", "/q", stdin=[b"echo quiet\r\n"])
    assert code == 0
    assert ">" not in out and out.endswith("quiet\r\n")


def test_ver_and_the_banner_show_the_same_build(node: Node) -> None:
    _code, banner, _err = run(node, "cmd", stdin=[b"ver\r\n"])
    versions = re.findall(r"Microsoft Windows \[Version ([0-9.]+)\]", banner)
    assert len(versions) == 2, banner  # the banner's, then ver's
    assert versions[0] == versions[1]
    assert versions[0].startswith(node.world.nodes[0].os_version + ".")
