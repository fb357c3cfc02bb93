"""Which simulated program answers to which executable, and which handler runs which service.

Kept apart from the programs themselves so that each program module stays ignorant of the others and
tests can wire a node with only the pieces they need.
"""

from __future__ import annotations

from octotui.lab import cmdexe
from octotui.lab.process import Program
from octotui.lab.runtime import ServiceHandler


def all_programs() -> dict[str, Program]:
    from octotui.lab.programs import installers, octopus_server, powershell, system

    # cmd.exe started as a program (from WinRS's own cmd, a scheduled task or another shell).
    programs: dict[str, Program] = {"cmd": cmdexe.run_program}
    for module in (system, installers, powershell, octopus_server):
        programs.update(module.PROGRAMS)
    return programs


def all_services() -> dict[str, ServiceHandler]:
    from octotui.lab.programs import octopus_server

    return {"Octopus.Server.exe": octopus_server.SERVICE_HANDLER}
