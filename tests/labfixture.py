"""Start a real ``octotui lab up`` process for a test and stop it cleanly afterwards.

The lab runs in its own process, as users run it: the tests talk to it only through its ready line,
its WinRM endpoints and ``octotui lab inspect``, never through its objects.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import winrm


class LabProcess:
    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, Any], state: Path) -> None:
        self.proc = proc
        self.ready = ready
        self.state = state

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.ready["nodes"] if n["name"] == name)

    def inspect(self) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "octotui", "lab", "inspect", "--state", str(self.state)],
                             capture_output=True, text=True, timeout=60, check=True)
        doc: dict[str, Any] = json.loads(out.stdout)
        return doc

    def protocol(self, name: str, *, user: str = "admin", transport: str | None = None,
                 operation_timeout_sec: int = 20) -> winrm.Protocol:
        creds = self.ready["admin" if user == "admin" else "service_account"]
        kwargs: dict[str, Any] = {}
        if "ca_cert" in self.ready:
            kwargs["ca_trust_path"] = self.ready["ca_cert"]
        return winrm.Protocol(
            endpoint=self.node(name)["endpoint"], transport=transport or self.ready["auth"],
            username=creds["username"], password=creds["password"],
            operation_timeout_sec=operation_timeout_sec, read_timeout_sec=operation_timeout_sec + 10,
            **kwargs,
        )

    def add_fault(self, spec: str) -> None:
        """Inject a fault into the running lab through its control endpoint."""
        import urllib.request

        info = json.loads((self.state / "lab.json").read_text())
        req = urllib.request.Request(f"http://127.0.0.1:{info['control_port']}/fault", method="POST",
                                     data=json.dumps({"spec": spec}).encode(),
                                     headers={"X-Lab-Token": info["token"], "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_lab(state: Path, *args: str, timeout: float = 60) -> LabProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "octotui", "lab", "up", "--state", str(state), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"lab did not start (exit {proc.wait()}): {err}")
    if time.monotonic() > deadline:
        raise RuntimeError("lab took too long to start")
    return LabProcess(proc, json.loads(line), state)


@contextmanager
def running_lab(state: Path, *args: str) -> Iterator[LabProcess]:
    lab = start_lab(state, *args)
    try:
        yield lab
    finally:
        lab.stop()


def run(protocol: winrm.Protocol, shell: str, command: str, *, stdin: bytes | None = None,
        timeout: float = 60) -> tuple[int, str, str]:
    """Run one command line in an open shell and collect its output (text in the shell's code page)."""
    cid = protocol.run_command(shell, command, console_mode_stdin=stdin is None)
    try:
        if stdin is not None:
            protocol.send_command_input(shell, cid, stdin, end=True)
        out, err, code = b"", b"", -1
        deadline = time.monotonic() + timeout
        done = False
        while not done:
            if time.monotonic() > deadline:
                raise TimeoutError(command)
            try:
                o, e, code, done = protocol.get_command_output_raw(shell, cid)
            except winrm.exceptions.WinRMOperationTimeoutError:
                continue
            out += o
            err += e
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    finally:
        protocol.cleanup_command(shell, cid)
