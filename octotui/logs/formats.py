"""The log formats octotui knows: what a line's level is, where an entry starts, when it was written.

Like lnav, a file's format is detected from its first lines; unlike lnav, the formats are the few an
Octopus HA install produces:

- ``octopus``: Octopus Server's ``OctopusServer.txt`` in NLog's default layout (``normalLayout``):
  ``yyyy-MM-dd HH:mm:ss.ffff  PID  TID LEVEL  message``, ids and level right-aligned in five columns. An
  exception's text follows on the next lines without a prefix: an entry spans lines, and its continuation
  lines take its level (so a level filter keeps a stack trace with its line).
- ``journal``: a run's ``journal.jsonl``, one JSON event a line; its level follows from the event type, and
  it is shown as one readable line per event.
- ``msi``: a Windows Installer verbose log (``msiexec /l*v``); ``Return value 3`` and the ``Error NNNN``
  lines are its errors.
- ``text``: anything else (a step's output, ``runner.log``, a file given by path): a level word
  (``ERROR``, ``Exception``, ``failed``, ``WARNING``...) near its start gives a line its level, an ISO
  timestamp at its start its time, and lines indented with ``at `` continue a .NET stack trace.

Timestamps are wall-clock seconds: the time as written, read as if it were UTC. A source says how far its
clock is from UTC (``utc_offset``), which turns them into Unix time to merge files and to place a line on
the run's timeline.
"""

from __future__ import annotations

import calendar
import enum
import json
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar


class Level(enum.IntEnum):
    """NLog's levels, in order."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    FATAL = 5

    @classmethod
    def parse(cls, word: str) -> Level | None:
        word = word.strip().upper()
        if word in ("WARNING", "WRN"):
            return cls.WARN
        if word in ("ERR",):
            return cls.ERROR
        return cls.__members__.get(word)


@dataclass(frozen=True)
class LineInfo:
    """What a format reads from one line: whether it starts an entry, its level, its time."""

    head: bool
    level: Level | None = None
    wall: float | None = None  # wall-clock seconds (see the module docstring)


CONTINUATION = LineInfo(False)


def wall_seconds(year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str = "") -> float:
    """A wall-clock time as seconds since 1970, read as if it were UTC (no time zone involved)."""
    whole = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return whole + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


class LogFormat:
    """A format: ``classify`` reads one line; ``render`` is how a line is shown (usually as it is)."""

    name: ClassVar[str] = "text"
    title: ClassVar[str] = "text"
    #: The regular expression (bytes) a line that starts an entry matches at its start, when there is one:
    #: the level filter and the merge use it on raw bytes, without decoding every line.
    HEAD: ClassVar[re.Pattern[bytes] | None] = None
    #: The bytes that spell each level inside an entry's first line, for the level filter's fast path.
    LEVEL_TOKENS: ClassVar[dict[Level, bytes]] = {}

    def classify(self, line: str) -> LineInfo:
        raise NotImplementedError

    def render(self, line: str) -> str:
        return line


# --- Octopus (NLog) ----------------------------------------------------------------------------------------

_NLOG = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?\s+\d+\s+\d+\s+"
                   r"(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)(?:\s|$)")
_NLOG_BYTES = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,7})?[ \t]+\d+[ \t]+\d+[ \t]+"
                         rb"(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)(?:[ \t]|\r?$)", re.M)


class OctopusFormat(LogFormat):
    name = "octopus"
    title = "Octopus Server (NLog)"
    HEAD = _NLOG_BYTES
    LEVEL_TOKENS: ClassVar[dict[Level, bytes]] = {level: f" {level.name}  ".encode() for level in Level}

    def classify(self, line: str) -> LineInfo:
        m = _NLOG.match(line)
        if m is None:
            return CONTINUATION
        y, mo, d, h, mi, s, frac, level = m.groups()
        return LineInfo(True, Level[level], wall_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s), frac or ""))


# --- the run journal ---------------------------------------------------------------------------------------

_JOURNAL_LEVELS = {
    "step_failed": Level.ERROR, "step_retried": Level.WARN, "master_key_not_stored": Level.WARN,
    "cancel_requested": Level.WARN, "step_output": Level.DEBUG,
}


def _journal_event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def journal_level(event: dict[str, Any]) -> Level:
    kind = event.get("type")
    if kind == "run_finished":
        return Level.INFO if event.get("status") == "done" else Level.ERROR
    if kind == "note":
        return Level.parse(str(event.get("level") or "")) or Level.INFO
    if kind == "step_output" and event.get("stream") == "stderr":
        return Level.WARN
    return _JOURNAL_LEVELS.get(str(kind), Level.INFO)


class JournalFormat(LogFormat):
    name = "journal"
    title = "run journal"

    def classify(self, line: str) -> LineInfo:
        event = _journal_event(line)
        if event is None:
            return LineInfo(True, None)
        ts = event.get("ts")
        return LineInfo(True, journal_level(event), float(ts) if isinstance(ts, int | float) else None)

    def render(self, line: str) -> str:
        event = _journal_event(line)
        if event is None:
            return line
        ts = event.get("ts")
        when = ""
        if isinstance(ts, int | float):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d} "
        where = "/".join(str(event[k]) for k in ("node", "step") if event.get(k))
        level = journal_level(event).name
        return f"{when}{level:>5}  {event['type']}{' ' + where if where else ''}: {summarize(event)}".rstrip(": ")


def summarize(event: dict[str, Any]) -> str:
    """The words of an event a person reads (the rest of its fields are in the file)."""
    kind = event.get("type")
    if kind == "run_started":
        nodes = ", ".join(str(n) for n in event.get("nodes") or [])
        return f"{event.get('mode', '')} on {nodes}{' (resumed)' if event.get('resumed') else ''}"
    if kind == "step_started":
        return str(event.get("title", ""))
    if kind == "step_output":
        return str(event.get("text", "")).rstrip("\r\n").replace("\r\n", " | ").replace("\n", " | ")
    if kind == "step_done":
        took = int(event.get("duration_ms") or 0) / 1000
        return f"{'changed' if event.get('changed') else 'unchanged'} in {took:.1f} s"
    if kind == "step_failed":
        hint = f" (hint: {event['hint']})" if event.get("hint") else ""
        return f"{event.get('error', '')}{hint}"
    if kind == "step_retried":
        return f"attempt {event.get('attempt')} of {event.get('attempts')}: {event.get('cause', '')}"
    if kind == "note":
        return str(event.get("text", ""))
    if kind == "run_finished":
        message = f": {event['message']}" if event.get("message") else ""
        return f"{event.get('status')} (exit {event.get('exit_code')}){message}"
    if kind in ("master_key_stored", "master_key_not_stored"):
        return str(event.get("where") or event.get("reason") or "")
    if kind == "cancel_requested":
        return str(event.get("reason", ""))
    rest = {k: v for k, v in event.items() if k not in ("seq", "ts", "type", "node", "step")}
    return json.dumps(rest, ensure_ascii=False)[:500] if rest else ""


# --- MSI verbose logs --------------------------------------------------------------------------------------

_MSI_ERROR = re.compile(r"Return value 3\b|\bError \d{4}\b|returned actual error code [1-9]|"
                        r"Installation (?:failed|operation failed)|MainEngineThread is returning (?!0\b)\d+")
_MSI_WARN = re.compile(r"\bWarning\b|Return value 2\b|MainEngineThread is returning 3010\b")


class MsiFormat(LogFormat):
    name = "msi"
    title = "Windows Installer log"

    def classify(self, line: str) -> LineInfo:
        if _MSI_ERROR.search(line) and "3010" not in line:
            return LineInfo(True, Level.ERROR)
        if _MSI_WARN.search(line):
            return LineInfo(True, Level.WARN)
        return LineInfo(True, Level.INFO)


# --- plain text --------------------------------------------------------------------------------------------

_ISO = re.compile(r"^\[?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,7}))?")
_WORD = re.compile(r"\b(FATAL|ERROR|ERR|WARN|WARNING|INFO|DEBUG|TRACE)\b")
_ERRORISH = re.compile(r"(?i)\b(?:error|exception|fatal|failed|failure|denied)\b|\bexit code [1-9]")
_WARNISH = re.compile(r"(?i)\bwarn(?:ing)?\b")
_STACK = re.compile(r"^\s+(?:at |--- )|^\s+\+ |^\s*---> ")


class TextFormat(LogFormat):
    name = "text"
    title = "text"

    def classify(self, line: str) -> LineInfo:
        if _STACK.match(line):
            return CONTINUATION
        wall = None
        m = _ISO.match(line)
        if m is not None:
            y, mo, d, h, mi, s, frac = m.groups()
            wall = wall_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s), frac or "")
        head = line[:160]
        w = _WORD.search(head)
        if w is not None:
            return LineInfo(True, Level.parse(w.group(1)), wall)
        if _ERRORISH.search(head):
            return LineInfo(True, Level.ERROR, wall)
        if _WARNISH.search(head):
            return LineInfo(True, Level.WARN, wall)
        return LineInfo(True, None, wall)


FORMATS: dict[str, LogFormat] = {f.name: f for f in (OctopusFormat(), JournalFormat(), MsiFormat(), TextFormat())}


def detect_format(lines: list[str], name: str = "") -> LogFormat:
    """The format of a file from its name and its first lines (a few dozen are plenty)."""
    sample = [ln for ln in lines[:200] if ln.strip()]
    events = sum(1 for ln in sample[:50] if _journal_event(ln))
    if name.endswith(".jsonl") or (sample and events >= 0.8 * min(50, len(sample))):
        return FORMATS["journal"]
    heads = sum(1 for ln in sample if _NLOG.match(ln))
    if heads and heads >= 0.2 * len(sample):
        return FORMATS["octopus"]
    if sample and (sample[0].startswith("=== Verbose logging started") or
                   any(ln.startswith(("MSI (s)", "MSI (c)")) for ln in sample[:50])):
        return FORMATS["msi"]
    return FORMATS["text"]
