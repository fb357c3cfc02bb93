"""``octotui demo`` in a real terminal (tmux): driven with keys to "Cluster ready", then the lab checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.tmux import ROOT, tmux, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def test_demo_in_tmux_ends_on_a_ready_cluster(tmp_path: Path) -> None:
    home = tmp_path / "home"
    session = f"octotui-demo-{uuid.uuid4().hex[:6]}"
    env = {"OCTOTUI_HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    exports = " ".join(f"{k}={v!s}" for k, v in env.items())
    command = f"cd {ROOT} && env {exports} {sys.executable} -m octotui demo; echo DEMO-EXITED $?; sleep 30"
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)
    try:
        wait_for(session, "Nodes and WinRM", 90)
        for title in ("Home directory", "Service account", "SQL database", "Shared storage", "Install",
                      "Review and start"):
            wait_for(session, title, 90, press="C-n")
        wait_for(session, "Master key of the new cluster", 180, press="C-n", every=5)
        tmux("send-keys", "-t", session, "Space")
        shown = wait_for(session, "Cluster ready", 180, press="C-n", every=3)
        assert "Traceback" not in shown
        from octotui.cli.demo import DC_DEMO_STATE

        # As root with Samba the demo's lab runs with its domain controller, in DC_DEMO_STATE (octotui.cli.demo).
        labs = list((home / "lab").glob("demo-*")) or [DC_DEMO_STATE]
        assert len(labs) == 1 and (labs[0] / "world.json").exists()
        out = subprocess.run([sys.executable, "-m", "octotui", "lab", "inspect", "--state", str(labs[0])],
                             capture_output=True, text=True, timeout=60, check=True, cwd=ROOT)
        world = json.loads(out.stdout)
        (db,) = world["sql"]["databases"]
        assert sorted(n["name"] for n in db["nodes"]) == ["OCTO1", "OCTO2", "OCTO3"]
        for node in world["nodes"]:
            assert [s["state"] for s in node["services"]] == ["Running"], node["name"]
        tmux("send-keys", "-t", session, "C-q")
        wait_for(session, "DEMO-EXITED 0", 60)
    finally:
        tmux("kill-session", "-t", session)


def _demo_labs(home: Path) -> list[str]:
    """The command lines of running ``lab up`` processes this demo started (its own folder, or the DC one)."""
    from octotui.cli.demo import DC_DEMO_STATE

    out = subprocess.run(["pgrep", "-af", "octotui lab up"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(home) in line or str(DC_DEMO_STATE) in line]


def test_closing_the_terminal_stops_the_demo_lab(tmp_path: Path) -> None:
    """A dropped SSH session or a closed terminal window (SIGHUP; the demo gets no chance to clean up) must
    not leave the lab, and its domain controller, running behind it."""
    from tests.fixtures.waiting import wait_until

    home = tmp_path / "home"
    session = f"octotui-demo-{uuid.uuid4().hex[:6]}"
    env = {"OCTOTUI_HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    exports = " ".join(f"{k}={v!s}" for k, v in env.items())
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
         f"cd {ROOT} && env {exports} {sys.executable} -m octotui demo")
    try:
        wait_for(session, "Nodes and WinRM", 90)
        assert _demo_labs(home), "the demo's lab is not running while the wizard shows"
    finally:
        tmux("kill-session", "-t", session)
    wait_until(lambda: not _demo_labs(home), 60, "the demo's lab to stop after its terminal closed")
