"""``octotui demo``: a lab of simulated Windows nodes and answers filled in for it, for the wizard.

The lab runs as its own process (``octotui lab up``), as in the tests; its ready line gives the accounts and
their passwords, which the demo hands to the wizard in memory only (never written anywhere by us: the lab
keeps its own world under its state folder). Each demo gets a new lab world under
``OCTOTUI_HOME/lab/demo-<time>``, so it always starts from clean nodes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octotui.errors import OctotuiError


@dataclass
class DemoLab:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any] = field(repr=False)
    state: Path

    @property
    def secrets(self) -> dict[str, str]:
        return {"winrm": self.ready["admin"]["password"], "service": self.ready["service_account"]["password"]}

    def answers(self) -> dict[str, Any]:
        """The lab's own answers file for its world (create mode, every node), as a table."""
        from octotui.spec.writer import read_answers_data

        return read_answers_data(self.state / "answers.toml")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_demo_lab(nodes: int = 3, state: Path | None = None, *, timeout: float = 60.0) -> DemoLab:
    """Start a lab in its own process and wait for its ready line; its log goes to ``<state>/lab.log``
    (the terminal belongs to the wizard)."""
    from octotui.home import octotui_home, private_dir

    if state is None:
        state = octotui_home() / "lab" / time.strftime("demo-%Y%m%d-%H%M%S")
    private_dir(state)
    log = open(state / "lab.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen([sys.executable, "-m", "octotui", "lab", "up", "--nodes", str(nodes), "--state",
                                 str(state)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    finally:
        log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    os.set_blocking(proc.stdout.fileno(), False)
    while not line.endswith(b"\n"):
        if proc.poll() is not None:
            raise OctotuiError(f"the lab did not start (exit {proc.returncode})", f"see {state / 'lab.log'}")
        if time.monotonic() > deadline:
            proc.kill()
            raise OctotuiError(f"the lab did not start within {timeout:.0f} s", f"see {state / 'lab.log'}")
        chunk = proc.stdout.read() or b""
        line += chunk
        if not chunk:
            time.sleep(0.05)
    ready = json.loads(line.decode("utf-8").splitlines()[0])
    from octotui.secrets.redact import default_redactor

    default_redactor().add_many([ready["admin"]["password"], ready["service_account"]["password"]])
    return DemoLab(proc, ready, Path(ready.get("state_dir") or state))


def demo_command(nodes: int = 3) -> int:
    """``octotui demo``: start the lab, open the wizard filled in for it, stop the lab when the wizard ends."""
    import importlib

    try:
        lab = start_demo_lab(nodes)
    except OctotuiError as exc:
        print(f"octotui demo: {exc}", flush=True)
        return 1
    try:
        wizard = importlib.import_module("octotui.screens.app")  # Textual loads only when the wizard is asked for
    except BaseException:
        lab.stop()
        raise
    return int(wizard.run_wizard(demo_lab=lab))  # it stops the lab when it ends
