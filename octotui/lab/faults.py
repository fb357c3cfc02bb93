"""Fault injection for the lab: each fault is reproducible from its spec alone.

Spec grammar (``--fault`` may be repeated)::

    KIND[@NODE][:key=value[,key=value...]]

    latency:ms=50                    every HTTP request waits 50 ms first
    drop@OCTO2:after=10              the 11th request to OCTO2 has its connection closed, unanswered
    wsman500:after=5,times=2         requests 6 and 7 get an HTTP 500 WS-Man InternalError fault
    slow:match=database --create,seconds=30
                                     a program whose command line matches waits 30 s before it starts
                                     (see ``command_matches``: a piece of the command line, or words
                                     among the program's arguments in that order)
    msi:exit=1603                    the next msiexec install exits 1603 (nothing installed)
    reboot@OCTO1:after=40,down=3     after 40 requests OCTO1 reboots: its endpoint is gone for 3 s,
                                     then it comes back with its services restarted

``times`` (default 1) is how often a counted fault fires; ``times=0`` means every time after ``after``.
A fault without ``@NODE`` applies to every node, counted per node.
"""

from __future__ import annotations

import ntpath
import threading
from dataclasses import dataclass, field

from octotui.lab.winargs import split_windows_args

KINDS = ("latency", "drop", "wsman500", "slow", "msi", "reboot")
MSI_CODES = (0, 1603, 1618, 1619, 3010)


class FaultSpecError(ValueError):
    """A ``--fault`` value that does not parse; the message says which part and what is allowed."""


@dataclass
class Fault:
    kind: str
    node: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)  # per node

    def applies_to(self, node: str) -> bool:
        return self.node is None or self.node.lower() == node.lower()

    def num(self, key: str, default: float) -> float:
        return float(self.params.get(key, default))

    def spec(self) -> str:
        at = f"@{self.node}" if self.node else ""
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}{at}" + (f":{params}" if params else "")


def parse_fault(spec: str) -> Fault:
    head, _, tail = spec.partition(":")
    kind, _, node = head.partition("@")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(f"--fault {spec!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in tail.split(","))):
        k, eq, v = part.partition("=")
        if not eq:
            raise FaultSpecError(f"--fault {spec!r}: {part!r} is not key=value")
        params[k.strip().lower()] = v.strip()
    fault = Fault(kind=kind, node=node.strip() or None, params=params)
    required = {"latency": ["ms"], "drop": ["after"], "wsman500": ["after"], "slow": ["match", "seconds"],
                "msi": ["exit"], "reboot": ["after", "down"]}[kind]
    for key in required:
        if key not in params:
            raise FaultSpecError(f"--fault {spec!r}: {kind} needs {key}=...")
    for key, value in params.items():
        if key != "match":
            try:
                float(value)
            except ValueError:
                raise FaultSpecError(f"--fault {spec!r}: {key} must be a number, not {value!r}") from None
    if kind == "msi" and int(params["exit"]) not in MSI_CODES:
        raise FaultSpecError(f"--fault {spec!r}: msi exit must be one of {MSI_CODES}")
    return fault


def command_matches(match: str, command_line: str) -> bool:
    """Does a ``slow`` fault's ``match`` name this program start? Case never matters. It does when ``match``
    is a piece of the command line as Windows shows it in the process list (``--create``, ``hostname``), or
    when its words are among the program's arguments, as the program receives them, in that order and with
    others allowed between them: ``database --create`` matches
    ``"C:\\Program Files\\...\\Octopus.Server.exe" database --instance Default --connectionString "..." --create``.
    The program itself (argv[0]) matches by its path, its file name, or its file name without ``.exe``."""
    if match.lower() in command_line.lower():
        return True
    words = [w.lower() for w in split_windows_args(match.strip()) if w]
    if not words:
        return False
    argv = split_windows_args(command_line)
    program = argv[0].lower()
    name = ntpath.basename(program)
    forms = [{program, name, name.removesuffix(".exe")}, *({arg.lower()} for arg in argv[1:])]
    found = 0
    for form in forms:
        if words[found] in form:
            found += 1
            if found == len(words):
                return True
    return False


class FaultPlan:
    """The lab's faults and the per-node counters that make them fire at a reproducible moment."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self.faults = list(faults or [])
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}

    @classmethod
    def parse(cls, specs: list[str]) -> FaultPlan:
        return cls([parse_fault(s) for s in specs])

    def add(self, spec: str) -> Fault:
        fault = parse_fault(spec)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take(self, fault: Fault, node: str) -> bool:
        """Count one firing if the fault still has firings left for this node."""
        times = int(fault.num("times", 1))
        used = fault.fired.get(node.lower(), 0)
        if times and used >= times:
            return False
        fault.fired[node.lower()] = used + 1
        return True

    def latency_seconds(self, node: str) -> float:
        return sum(f.num("ms", 0) for f in self.faults if f.kind == "latency" and f.applies_to(node)) / 1000.0

    def on_request(self, node: str) -> str | None:
        """Count an HTTP request to ``node``; return ``drop``, ``wsman500`` or ``reboot`` if one fires now."""
        with self._lock:
            n = self._requests.get(node.lower(), 0) + 1
            self._requests[node.lower()] = n
            for fault in self.faults:
                if (fault.kind in ("drop", "wsman500", "reboot") and fault.applies_to(node)
                        and n > int(fault.num("after", 0)) and self._take(fault, node)):
                    return fault.kind
        return None

    def reboot_down_seconds(self, node: str) -> float:
        for fault in self.faults:
            if fault.kind == "reboot" and fault.applies_to(node):
                return fault.num("down", 3)
        return 3.0

    def slow_command_delay(self, node: str, command_line: str) -> float:
        with self._lock:
            for fault in self.faults:
                if (fault.kind == "slow" and fault.applies_to(node)
                        and command_matches(fault.params["match"], command_line) and self._take(fault, node)):
                    return fault.num("seconds", 0)
        return 0.0

    def msi_exit_code(self, node: str) -> int | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind == "msi" and fault.applies_to(node) and self._take(fault, node):
                    return int(fault.num("exit", 0))
        return None
