"""``octotui logs FILE`` in a real terminal (tmux): keys that arrive together, as over a slow SSH link."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.logs import octopus_lines, write_lines
from tests.fixtures.tmux import ROOT, tmux, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def test_a_search_typed_in_one_burst_reaches_the_search_box_whole(tmp_path: Path) -> None:
    """"/", the text and Enter in one write (tmux sends them at once): every character lands in the search, none
    runs a viewer key on the way ("E" is previous error, "c" count), and a "/" inside the search is text."""
    lines = octopus_lines(5000, seed=3)
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    query = "Machines-42 checked"
    hits = sum(query in t for t in lines)
    assert hits >= 2
    session = f"octotui-logs-{uuid.uuid4().hex[:6]}"
    env = {"OCTOTUI_HOME": str(tmp_path / "home"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "TERM": "xterm-256color", "PATH": os.environ.get("PATH", "")}
    exports = " ".join(f"{k}={v!s}" for k, v in env.items())
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30",
         f"cd {ROOT} && env {exports} {sys.executable} -m octotui logs {path}")
    try:
        wait_for(session, f"{len(lines) + sum(t.count(chr(10)) for t in lines):,} lines", 30)
        tmux("send-keys", "-t", session, "/", query, "Enter", "c")  # one command: the keys arrive together
        shown = wait_for(session, "lines match", 30)
        assert f"{hits:,} lines match '{query}'" in shown, shown
        tmux("send-keys", "-t", session, "/", "re:C:/no/such", "Enter", "c")  # a "/" inside the search is text
        shown = wait_for(session, "'C:/no/such'", 30)  # (a regular expression is shown without its "re:")
        assert "0 lines match 'C:/no/such'" in shown, shown
    finally:
        tmux("kill-session", "-t", session)
