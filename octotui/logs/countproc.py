"""Count matching lines of part of a large 8-bit log in a second process.

Why a process: the regular expression engine holds the GIL, so a count run by threads is one core's work
(about half the speed of ``grep -c``); a second process is a second core. ``search.count`` gives the last part
of a large file to a child (``python -m octotui.logs.countchild``), counts the rest itself, and adds the two;
if the child cannot be started or fails, the parent counts that part too, so a count never depends on it.

The request goes to the child's stdin as JSON (the query's text may hold anything); the answer is one line
on its stdout, the number of matching lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass

from octotui.logs.encoding import Encoding


@dataclass(frozen=True)
class Request:
    path: str
    start: int  # the start of a line
    end: int
    text: str
    regex: bool
    case: bool | None
    encoding: dict[str, object]  # the parent's ``Encoding`` (the child must not guess it again)


def start(request: Request) -> subprocess.Popen[str] | None:
    """The child counting ``request``'s range, running; None when it cannot be started."""
    payload = asdict(request)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "octotui.logs.countchild"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(payload))
        proc.stdin.close()
    except OSError:
        stop(proc)
        return None
    return proc


def answer(proc: subprocess.Popen[str]) -> int | None:
    """The child's count once it has ended; None when it failed."""
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    if proc.wait() != 0:
        return None
    try:
        return int(out.strip())
    except ValueError:
        return None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def encoding_fields(encoding: Encoding) -> dict[str, object]:
    return {"name": encoding.name, "bom": encoding.bom, "newline": encoding.newline.hex(), "unit": encoding.unit}
