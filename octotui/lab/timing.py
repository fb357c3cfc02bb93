"""How long the lab's simulated programs take: instantly (the default, for tests) or as long as on Windows.

``octotui lab up --timing realistic`` makes each simulated program spend, in its own thread, the time
the real one would: a process start costs what starting that executable costs, ``msiexec`` installing
Octopus costs an install, ``database --create`` costs a schema creation, and starting the Octopus
service costs the service control manager's start plus the server's warm-up before its ping answers.
The delay is slept by the program (``spend``, which a WinRS terminate wakes at once), never by the HTTP
layer, so commands on different nodes overlap as they do on separate machines, and an administrator's
wait can be measured against the lab (``bench/realistic_waits.py``). ``--timing realistic:0.1`` keeps
the proportions at a tenth of the time, for quick checks.

The figures (``REALISTIC``) are estimates for a Windows Server 2022 VM with 2-4 vCPUs, an SSD and a SQL
Server on the same network, with antivirus scanning new processes as Defender does by default. Each
constant's comment gives its source or the reasoning behind it. They are meant to be right to within a
factor of two, which is what matters for "how long does the administrator wait, and what dominates".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

#: cmd.exe's start: a small native image that every Windows session has in its file cache. Measured
#: starts of ``cmd /c exit`` are in the tens of milliseconds; 0.05 s allows for Defender's process scan.
START_CMD = "start:cmd.exe"
#: hostname.exe and whoami.exe: small native tools, like cmd.exe.
START_NATIVE_TOOL = "start:native-tool"
#: Windows PowerShell 5.1 (powershell.exe -NoProfile -NonInteractive): it loads the CLR, the
#: System.Management.Automation assembly and the built-in modules' metadata. The PowerShell team gives
#: startup in hundreds of milliseconds on a warm desktop; on a server VM with Defender and a first use
#: of ConvertTo-Json/Invoke-WebRequest in the script it is commonly 1-2 s. We take 1.2 s.
START_POWERSHELL = "start:powershell.exe"
#: Octopus.Server.exe running one command (show-configuration, configure, admin, service, ...): a large
#: self-contained .NET application that loads its container, reads the instance's config, starts logging
#: and for most commands opens the database. Octopus does not publish a figure; its commands take a few
#: seconds in Octopus's own DSC and Tentacle-style automation logs. We take 3 s.
START_OCTOPUS = "start:Octopus.Server.exe"
#: msiexec.exe itself (before any install work): a native image plus the Windows Installer service
#: hand-off. 0.3 s.
START_MSIEXEC = "start:msiexec.exe"
#: choco.exe: a .NET Framework console application that loads its configuration and sources; 1.5 s.
START_CHOCO = "start:choco.exe"
#: A silent per-machine install of the Octopus Server MSI (a few hundred MB, thousands of files, a
#: system restore point and Defender scanning every file written). Octopus's installation guide speaks of
#: minutes; on an SSD VM 60-120 s is usual. We take 90 s.
MSI_INSTALL = "msi-install"
#: ``Octopus.Server.exe database --create`` on an empty SQL Server: create the database, then run every
#: schema migration of the release (several hundred scripts). Octopus's docs say the first start "may
#: take a few minutes" for the upgrade; a fresh create is usually about a minute. We take 60 s.
DATABASE_CREATE = "database-create"
#: ``service --start`` until the service control manager reports Running: .NET start-up of the service
#: host and its database connection check. 5 s.
SERVICE_START = "service-start"
#: From Running until the node's ping (``/api/octopusservernodes/ping``) answers: the server registers
#: itself, starts its task queue and web host. Octopus's DSC resource polls ``/api`` every 5 s for up to
#: 5 minutes after a start (reference: octopus-server.md), which shows it expects tens of seconds; 25 s.
WEB_WARMUP = "web-warmup"

#: The realistic profile's costs, in seconds (the sources and reasoning are on each key's constant).
REALISTIC: Mapping[str, float] = MappingProxyType({
    START_CMD: 0.05,
    START_NATIVE_TOOL: 0.05,
    START_POWERSHELL: 1.2,
    START_OCTOPUS: 3.0,
    START_MSIEXEC: 0.3,
    START_CHOCO: 1.5,
    MSI_INSTALL: 90.0,
    DATABASE_CREATE: 60.0,
    SERVICE_START: 5.0,
    WEB_WARMUP: 25.0,
})

PROFILES = ("instant", "realistic")


class TimingSpecError(ValueError):
    """A ``--timing`` value that does not parse; the message says what is allowed."""


@dataclass(frozen=True)
class TimingProfile:
    """The cost of each modelled operation, times ``scale``; an operation not listed costs nothing."""

    name: str = "instant"
    scale: float = 1.0
    costs: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def seconds(self, what: str) -> float:
        return self.costs.get(what, 0.0) * self.scale

    def spec(self) -> str:
        return self.name if self.scale == 1.0 else f"{self.name}:{self.scale:g}"


INSTANT = TimingProfile()


def parse_timing(spec: str) -> TimingProfile:
    """``instant``, ``realistic`` or ``realistic:SCALE`` (``realistic:0.1`` takes a tenth of the time)."""
    name, sep, scale_text = spec.strip().lower().partition(":")
    if name not in PROFILES:
        raise TimingSpecError(f"--timing {spec!r}: use one of {', '.join(PROFILES)} (optionally :SCALE, "
                              "e.g. realistic:0.1)")
    scale = 1.0
    if sep:
        try:
            scale = float(scale_text)
        except ValueError:
            raise TimingSpecError(f"--timing {spec!r}: SCALE must be a number, e.g. realistic:0.1") from None
        if not 0 < scale <= 100:
            raise TimingSpecError(f"--timing {spec!r}: SCALE must be above 0 and at most 100")
    if name == "instant":
        return INSTANT
    return TimingProfile(name=name, scale=scale, costs=REALISTIC)


class _Settings(Protocol):
    @property
    def timing(self) -> TimingProfile: ...


class _Host(Protocol):
    @property
    def settings(self) -> _Settings: ...


class _Context(Protocol):
    """What ``spend`` needs of a process context (named structurally: the process module imports the
    settings, which import this module)."""

    @property
    def runtime(self) -> _Host: ...

    def sleep(self, seconds: float) -> None: ...


_Ctx = TypeVar("_Ctx", bound=_Context)


def spend(ctx: _Context, what: str) -> None:
    """Let the calling program take ``what``'s time, in its own thread; a terminate wakes it at once.

    Never call it with the world lock held: other programs on every node would wait too.
    """
    seconds = ctx.runtime.settings.timing.seconds(what)
    if seconds > 0:
        ctx.sleep(seconds)


def timed(what: str, program: Callable[[_Ctx, list[str], str], int]) -> Callable[[_Ctx, list[str], str], int]:
    """``program`` with its process start cost ``what`` spent first, as a real process start costs."""

    def started(ctx: _Ctx, argv: list[str], command_line: str) -> int:
        spend(ctx, what)
        return program(ctx, argv, command_line)

    started.__doc__ = program.__doc__
    return started


def later(profile: TimingProfile, what: str, action: Callable[[], None]) -> None:
    """Run ``action`` once ``what``'s time has passed (at once when it costs nothing), off the caller's
    thread, so a service can finish starting while its web host is still warming up."""
    seconds = profile.seconds(what)
    if seconds <= 0:
        action()
        return
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
