"""``Octopus.Server.exe`` and its service, as the lab wiring registers them.

The behaviour lives in ``octotui.lab.octopus``; this module only names the entry points: the program
for files marked ``#lab-program:octopus-server`` and the handler for services whose binary path holds
``Octopus.Server.exe``.
"""

from __future__ import annotations

from octotui.lab import timing
from octotui.lab.octopus.cli import run
from octotui.lab.octopus.service import OctopusServiceHandler
from octotui.lab.process import Program

PROGRAMS: dict[str, Program] = {"octopus-server": timing.timed(timing.START_OCTOPUS, run)}

SERVICE_HANDLER = OctopusServiceHandler()
