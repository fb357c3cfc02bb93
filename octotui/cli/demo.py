"""``octotui demo``: a lab of simulated Windows nodes and answers filled in for it, for the wizard.

The lab runs as its own process (``octotui lab up``), as in the tests; its ready line gives the accounts and
their passwords, which the demo hands to the wizard in memory only (never written anywhere by us: the lab
keeps its own world under its state folder). Each demo gets a new lab world under
``OCTOTUI_HOME/lab/demo-<time>``, so it always starts from clean nodes.

Where it can (root, Samba installed), the demo runs the lab with ``--dc``: a real Samba AD DC for the lab's
domain, so that every preflight check, ``ad.account`` and ``share.write`` included, can go green. The DC's share
is opened by smbd as the logged-on account, which must pass through every folder above it, so that lab lives in
``/var/lib/octotui/lab/demo-dc`` (0711) rather than in the private OCTOTUI_HOME; its DC is provisioned once and
kept, its world (nodes, share, database) is made anew for every demo. Where it cannot, the demo runs without a
DC and says why (``DemoLab.dc_note``), as it does when the DC fails to start.
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

#: Where a demo with a domain controller keeps its lab (see the module docstring).
DC_DEMO_STATE = Path("/var/lib/octotui/lab/demo-dc")
#: The DC's first start provisions a domain (tens of seconds on a small machine); later ones take seconds.
DC_START_TIMEOUT = 240.0


@dataclass
class DemoLab:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any] = field(repr=False)
    state: Path
    #: Why this demo's lab runs without a domain controller ("" when it has one).
    dc_note: str = ""

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


def dc_demo_state() -> Path:
    """The demo-with-a-DC's state folder, holding only its kept DC: the previous demo's world is removed, so
    that this demo starts from clean nodes while the provisioned domain is reused."""
    for folder in (DC_DEMO_STATE.parent.parent, DC_DEMO_STATE.parent, DC_DEMO_STATE):
        folder.mkdir(mode=0o711, exist_ok=True)
        os.chmod(folder, 0o711)
    for entry in DC_DEMO_STATE.iterdir():
        if entry.name == "dc":
            continue
        if entry.is_dir() and not entry.is_symlink():
            import shutil

            shutil.rmtree(entry)
        else:
            entry.unlink()
    return DC_DEMO_STATE


def _stop_with_parent() -> None:
    """In the lab's child process, before it runs: ask Linux to send it SIGTERM when the demo dies, so a
    closed terminal or a dropped SSH session (SIGHUP kills the demo without its clean-up) does not leave the
    lab and its domain controller running. The lab stops cleanly on SIGTERM. Elsewhere this does nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux, or no prctl: the demo's own clean-up still runs
        pass


def start_demo_lab(nodes: int = 3, state: Path | None = None, *, timeout: float = 60.0,
                   dc: bool = False) -> DemoLab:
    """Start a lab in its own process and wait for its ready line; its log goes to ``<state>/lab.log``
    (the terminal belongs to the wizard). With ``dc`` the lab runs its domain controller (``lab up --dc``)."""
    from octotui.home import octotui_home, private_dir

    if state is None:
        state = octotui_home() / "lab" / time.strftime("demo-%Y%m%d-%H%M%S")
    if dc:
        state.mkdir(parents=True, exist_ok=True)  # the lab makes it 0711 itself: smbd passes through it
    else:
        private_dir(state)
    log = open(state / "lab.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen([sys.executable, "-m", "octotui", "lab", "up", "--nodes", str(nodes), "--state",
                                 str(state), *(["--dc"] if dc else [])], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True,
                                preexec_fn=_stop_with_parent)
    finally:
        log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    os.set_blocking(proc.stdout.fileno(), False)
    while not line.endswith(b"\n"):
        if proc.poll() is not None:
            why = _last_error(state / "lab.log")
            raise OctotuiError(f"the lab did not start (exit {proc.returncode})" + (f": {why}" if why else ""),
                               f"see {state / 'lab.log'}")
        if time.monotonic() > deadline:
            proc.kill()
            raise OctotuiError(f"the lab did not start within {timeout:.0f} s", f"see {state / 'lab.log'}")
        chunk = proc.stdout.read() or b""
        line += chunk
        if not chunk:
            time.sleep(0.05)
    ready = json.loads(line.decode("utf-8").splitlines()[0])
    from octotui.secrets.redact import default_redactor

    # Every password the lab hands out, whichever the wizard uses (the nodes' local Administrator too).
    default_redactor().add_many([acct["password"] for key in ("admin", "domain_admin", "local_admin",
                                                            "service_account")
                                 if isinstance(acct := ready.get(key), dict) and acct.get("password")])
    return DemoLab(proc, ready, Path(ready.get("state_dir") or state))


def _last_error(log: Path) -> str:
    """The lab's own one-line reason for exiting (its last "could not start" line), or ""."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    found = [ln for ln in lines if "could not start" in ln]
    return found[-1].split("could not start: ", 1)[-1] if found else ""


def start_demo_lab_with_dc(nodes: int = 3) -> DemoLab:
    """The demo's lab: with its domain controller where this machine can run one, else without, saying why."""
    if os.geteuid() != 0:
        note = "the lab's domain controller needs root (run the demo as root to have ad.account and share.write pass)"
    else:
        try:
            return start_demo_lab(nodes, dc_demo_state(), timeout=DC_START_TIMEOUT, dc=True)
        except (OctotuiError, OSError) as exc:
            note = f"the lab's domain controller did not start ({exc}); the lab runs without it"
    lab = start_demo_lab(nodes)
    lab.dc_note = note
    return lab


def demo_command(nodes: int = 3) -> int:
    """``octotui demo``: start the lab, open the wizard filled in for it, stop the lab when the wizard ends."""
    import importlib

    print("octotui demo: starting the lab (with a domain controller where it can: the first time takes up to "
          "a minute)...", flush=True)
    try:
        lab = start_demo_lab_with_dc(nodes)
    except OctotuiError as exc:
        print(f"octotui demo: {exc}", flush=True)
        return 1
    if lab.dc_note:
        print(f"octotui demo: without a domain controller: {lab.dc_note}", flush=True)
    try:
        wizard = importlib.import_module("octotui.screens.app")  # Textual loads only when the wizard is asked for
    except BaseException:
        lab.stop()
        raise
    code = int(wizard.run_wizard(demo_lab=lab))  # it stops the lab when it ends
    if lab.dc_note:  # said again: the wizard had the screen since
        print(f"octotui demo: the lab ran without a domain controller: {lab.dc_note}", flush=True)
    return code
