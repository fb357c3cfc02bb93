"""The master-key gate: in create mode, the other nodes join only once the administrator has recorded the key.

A run started with the gate (the wizard in create mode) waits, after the first node's master key is read
and before any other node joins, until the administrator confirms the key is recorded
(``confirm_master_key``) or the run is cancelled. The journal says it waits (``master_key_waiting``) and
when it goes on (``master_key_confirmed``). ``octotui apply`` never sets the gate, so scripted runs do not
wait for a person. The gate is two files in the run folder, so the face that confirms need not be the
process that started the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: In a run folder: present when the run must wait for the master key to be confirmed before joins.
KEY_GATE = "master-key.gate"
#: In a run folder: written when the administrator confirmed that the master key is recorded.
KEY_CONFIRMED = "master-key.confirmed"


def set_key_gate(run_dir: Path, on: bool) -> None:
    """Before the runner starts: make it wait for the confirmation (``on``), or not."""
    from octotui.home import write_private_text

    if on:
        write_private_text(Path(run_dir) / KEY_GATE, json.dumps({"ts": round(time.time(), 3)}) + "\n")
    else:
        (Path(run_dir) / KEY_GATE).unlink(missing_ok=True)


def key_gate_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / KEY_GATE).exists()


def confirm_master_key(run_dir: Path) -> None:
    """The administrator has recorded the master key: let the joins start."""
    from octotui.home import write_private_text

    write_private_text(Path(run_dir) / KEY_CONFIRMED, json.dumps({"ts": round(time.time(), 3)}) + "\n")


def key_confirmed(run_dir: Path) -> bool:
    return (Path(run_dir) / KEY_CONFIRMED).exists()


def key_gate_waiter(run_dir: Path, cancel: Any, journal: Any, *, poll: float = 0.2) -> Callable[[], bool]:
    """For the runner: a function that blocks until the key is confirmed (True) or the run is cancelled
    (False). Journals ``master_key_waiting`` once, then ``master_key_confirmed``."""
    def wait() -> bool:
        if key_confirmed(run_dir):
            return True
        journal.emit("master_key_waiting", node="")
        while not key_confirmed(run_dir):
            if cancel.requested:
                return False
            cancel.wait(poll)
        journal.emit("master_key_confirmed")
        return True

    return wait
