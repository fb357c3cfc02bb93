"""Which simulated program answers to which executable, and which handler runs which service.

Kept apart from the programs themselves so that each program module stays ignorant of the others and
tests can wire a node with only the pieces they need.
"""

from __future__ import annotations

from octotui.lab import cmdexe
from octotui.lab.process import ProcessContext, Program
from octotui.lab.runtime import ServiceHandler


def _cmd(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """``cmd.exe /c LINE`` started as a program (for example from a scheduled task or another shell)."""
    lower = command_line.lower()
    for switch in (" /c ", " /k ", " /s /c ", " /d /c "):
        idx = lower.find(switch)
        if idx >= 0:
            return cmdexe.run_line(ctx, command_line[idx + len(switch):])
    ctx.println("Microsoft Windows [Version 10.0.20348.2227]")
    return 0


def all_programs() -> dict[str, Program]:
    from octotui.lab.programs import installers, octopus_server, powershell, system

    programs: dict[str, Program] = {"cmd": _cmd}
    for module in (system, installers, powershell, octopus_server):
        programs.update(module.PROGRAMS)
    return programs


def all_services() -> dict[str, ServiceHandler]:
    from octotui.lab.programs import octopus_server

    return {"Octopus.Server.exe": octopus_server.SERVICE_HANDLER}
