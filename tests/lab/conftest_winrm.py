"""A tiny world behind real WinRM endpoints for the WinRM tests: one node, two accounts, test programs.

The test programs stand in for real executables (files on the node's disk with a ``#lab-program:`` marker)
so each test can make a command that is slow, loud, reads stdin or shows who it runs as. Everything else
is real: the lab's cmd.exe, HTTP on loopback, pywinrm, NTLM, CredSSP and TLS.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from winrm.protocol import Protocol

from octotui.lab.certs import LabCertificates, ensure_certificates
from octotui.lab.faults import FaultPlan
from octotui.lab.process import Cancelled, ProcessContext, Program
from octotui.lab.runtime import PROGRAM_MARKER, LabSettings, NodeRuntime
from octotui.lab.state import Account, Directory, NodeState, World
from octotui.lab.winfs import WinFS
from octotui.lab.winrm import WinRMEndpoint

ADMIN = "WORK\\labadmin"
ADMIN_PW = "Lab-Admin-Pw-1"
SVC = "WORK\\svcOctopus"
SVC_PW = "Lab-Svc-Pw-2"
UNICODE_TEXT = "héllo wörld"


class Signals:
    """What test programs report back to the test: set when a program saw its command terminated."""

    def __init__(self) -> None:
        self.terminated = threading.Event()
        self.started = threading.Event()


def make_programs(signals: Signals) -> dict[str, Program]:
    def labwho(ctx: ProcessContext, argv: list[str], line: str) -> int:
        ctx.println(f"{ctx.identity.account}|{ctx.identity.logon}|{ctx.delegated_password is not None}")
        return 0

    def labsleep(ctx: ProcessContext, argv: list[str], line: str) -> int:
        ctx.sleep(float(argv[1]))
        ctx.println(" ".join(argv[2:]))
        return 0

    def labbig(ctx: ProcessContext, argv: list[str], line: str) -> int:
        size = int(argv[1])
        block = bytes(range(256)) * 64
        while size > 0:
            ctx.stdout.write(block[:min(size, len(block))])
            size -= len(block)
        return 0

    def labcat(ctx: ProcessContext, argv: list[str], line: str) -> int:
        data = ctx.stdin.read_all(ctx.cancel)
        ctx.println(f"{len(data)} {hashlib.sha256(data).hexdigest()}")
        return 0

    def labuni(ctx: ProcessContext, argv: list[str], line: str) -> int:
        ctx.println(UNICODE_TEXT)
        return 0

    def laberr(ctx: ProcessContext, argv: list[str], line: str) -> int:
        ctx.println("to stdout")
        ctx.eprintln("to stderr")
        return 7

    def labcwd(ctx: ProcessContext, argv: list[str], line: str) -> int:
        ctx.println(ctx.cwd)
        return 0

    def labforever(ctx: ProcessContext, argv: list[str], line: str) -> int:
        signals.started.set()
        try:
            while True:
                ctx.sleep(0.05)
        except Cancelled:
            signals.terminated.set()
            raise

    return {"labwho": labwho, "labsleep": labsleep, "labbig": labbig, "labcat": labcat, "labuni": labuni,
            "laberr": laberr, "labcwd": labcwd, "labforever": labforever}


class Lab:
    """One node's world and runtime; endpoints are made per test with the options the test needs."""

    def __init__(self, ntlm_file: Path, certs: LabCertificates) -> None:
        self.signals = Signals()
        self.world = World(directory=Directory(domain="WORK", dns_name="work.lab", accounts={
            "labadmin": Account("labadmin", ADMIN_PW, domain_admin=True),
            "svcoctopus": Account("svcOctopus", SVC_PW),
        }))
        fs = WinFS()
        programs = make_programs(self.signals)
        fs.write("C:\\Windows\\System32\\cmd.exe", PROGRAM_MARKER + b"cmd\n", make_parents=True)
        for name in programs:
            fs.write(f"C:\\Windows\\System32\\{name}.exe", PROGRAM_MARKER + name.encode() + b"\n")
        fs.makedirs("C:\\Work\\Dir")
        self.node = NodeState(name="OCTO1", fs=fs)
        self.world.nodes.append(self.node)
        self.faults = FaultPlan()
        self.runtime = NodeRuntime(self.world, self.node, LabSettings(faults=self.faults), programs, {})
        self.ntlm_file = ntlm_file
        self.certs = certs
        self.endpoints: list[WinRMEndpoint] = []

    def endpoint(self, **kwargs: Any) -> WinRMEndpoint:
        if kwargs.pop("tls", False):
            kwargs["https"] = (str(self.certs.server_cert), str(self.certs.server_key))
        ep = WinRMEndpoint(self.runtime, ntlm_user_file=str(self.ntlm_file), **kwargs)
        ep.start()
        self.endpoints.append(ep)
        return ep

    def protocol(self, ep: WinRMEndpoint, transport: str = "ntlm", *, user: str = ADMIN,
                 password: str = ADMIN_PW, **kwargs: Any) -> Protocol:
        kwargs.setdefault("ca_trust_path", str(self.certs.ca_cert) if ep.https is not None else None)
        kwargs.setdefault("proxy", None)
        return Protocol(ep.endpoint_url, transport=transport, username=user,  # type: ignore[arg-type]
                              password=password, **kwargs)

    def close(self) -> None:
        for ep in self.endpoints:
            ep.stop()


def write_ntlm_file(path: Path) -> Path:
    lines = []
    for sam, pw in (("labadmin", ADMIN_PW), ("svcOctopus", SVC_PW)):
        lines += [f"WORK:{sam}:{pw}", f"work.lab:{sam}:{pw}", f":{sam}:{pw}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def lab_world(folder: Path) -> Iterator[Lab]:
    folder.mkdir(parents=True, exist_ok=True)
    lab = Lab(write_ntlm_file(folder / "ntlm-users.txt"), ensure_certificates(folder, ["octo1"]))
    try:
        yield lab
    finally:
        lab.close()


def run(p: Protocol, shell: str, command: str, *args: str,
        skip_cmd_shell: bool = False) -> tuple[bytes, bytes, int]:
    """One command in an open shell, the way a reusing client does it: Command, Receive..., Signal."""
    cmd = p.run_command(shell, command, list(args), skip_cmd_shell=skip_cmd_shell)
    try:
        out, err, code = p.get_command_output(shell, cmd)
    finally:
        p.cleanup_command(shell, cmd)
    return out, err, code
