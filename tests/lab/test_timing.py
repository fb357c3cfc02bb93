"""``lab up --timing realistic``: each simulated process takes the time its Windows twin takes, spent by
the process itself, so processes on different nodes overlap as on separate machines.

Driven with pypsrp (not the engine's pywinrm), against two fully wired nodes; durations are read from
the lab's process log (each process's start and end), not from the client's clock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.shell import Process, WinRS
from pypsrp.wsman import WSMan

from octotui.lab.ntlm_users import write_user_file
from octotui.lab.provision import new_world
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import ProcessRecord, World
from octotui.lab.timing import (
    DATABASE_CREATE,
    REALISTIC,
    SERVICE_START,
    START_OCTOPUS,
    START_POWERSHELL,
    WEB_WARMUP,
    TimingSpecError,
    parse_timing,
)
from octotui.lab.winrm import WinRMEndpoint
from octotui.lab.wiring import all_programs, all_services

SCALE = 0.5
POWERSHELL_S = REALISTIC[START_POWERSHELL] * SCALE


class TwoNodes:
    def __init__(self, folder: Path, timing: str) -> None:
        self.world: World = new_world(2)
        settings = LabSettings(timing=parse_timing(timing))
        programs, services = all_programs(), all_services()
        ntlm = write_user_file(self.world, folder / "ntlm-users.txt")
        self.endpoints = []
        for node in self.world.nodes:
            ep = WinRMEndpoint(NodeRuntime(self.world, node, settings, programs, services), ntlm_user_file=ntlm)
            ep.start()
            self.endpoints.append(ep)
        admin = self.world.directory.accounts["labadmin"]
        self.username, self.password = f"WORK\\{admin.sam}", admin.password

    def run(self, index: int, executable: str, *args: str) -> int:
        port = int(self.endpoints[index].endpoint_url.rsplit(":", 1)[1].split("/", 1)[0])
        wsman = WSMan("127.0.0.1", port=port, ssl=False, auth="ntlm", username=self.username,
                      password=self.password, operation_timeout=20, read_timeout=30)
        with WinRS(wsman) as shell:
            proc = Process(shell, executable, list(args))
            proc.invoke()
            assert proc.rc is not None
            return proc.rc

    def powershell_records(self, index: int) -> list[ProcessRecord]:
        with self.world.lock:
            return [r for r in self.world.nodes[index].process_log if "powershell" in r.command_line.lower()
                    and not r.command_line.lower().startswith("c:\\windows\\system32\\cmd.exe")]

    def close(self) -> None:
        for ep in self.endpoints:
            ep.stop()


@pytest.fixture
def realistic(tmp_path: Path) -> Iterator[TwoNodes]:
    nodes = TwoNodes(tmp_path, f"realistic:{SCALE}")
    try:
        yield nodes
    finally:
        nodes.close()


def test_each_powershell_start_takes_its_time_and_two_nodes_overlap(realistic: TwoNodes) -> None:
    codes: list[int] = []
    threads = [threading.Thread(target=lambda i=i: codes.append(realistic.run(i, "powershell", "-?")))
               for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [0, 0]
    (first,), (second,) = realistic.powershell_records(0), realistic.powershell_records(1)
    for rec in (first, second):
        assert rec.ended is not None
        assert rec.ended - rec.started >= POWERSHELL_S * 0.99
    assert first.ended is not None and second.ended is not None
    # Each node's process ran at the same time as the other's: neither waited for the other to finish.
    assert max(first.started, second.started) < min(first.ended, second.ended)


def test_each_process_start_is_paid_again(realistic: TwoNodes) -> None:
    for _ in range(2):
        assert realistic.run(0, "powershell", "-?") == 0
    records = realistic.powershell_records(0)
    assert len(records) == 2
    assert all(r.ended is not None and r.ended - r.started >= POWERSHELL_S * 0.99 for r in records)


def test_the_default_profile_is_instant(tmp_path: Path) -> None:
    nodes = TwoNodes(tmp_path, "instant")
    try:
        assert nodes.run(0, "powershell", "-?") == 0
        (rec,) = nodes.powershell_records(0)
        assert rec.ended is not None and rec.ended - rec.started < REALISTIC[START_POWERSHELL] / 4
    finally:
        nodes.close()


@pytest.mark.parametrize("spec", ["slow", "realistic:0", "realistic:x", "realistic:1000"])
def test_a_bad_timing_spec_is_refused_with_what_is_allowed(spec: str) -> None:
    with pytest.raises(TimingSpecError, match="realistic"):
        parse_timing(spec)


def test_lab_up_refuses_a_bad_timing_before_starting(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "octotui", "lab", "up", "--timing", "slowish", "--state",
                             str(tmp_path / "s")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--timing 'slowish'" in result.stderr and "realistic" in result.stderr


def test_database_create_and_the_services_warm_up_take_their_time() -> None:
    """``database --create`` spends the schema install; ``service --start`` returns once the service is
    Running, and the node's web endpoint (what ping asks) opens only after the warm-up."""
    from tests.fixtures.cli import wait_for
    from tests.fixtures.lab_world import ADMIN_NTLM, SVC_PW, Lab, make_world

    scale = 0.05
    lab = Lab(make_world())
    lab.settings.timing = parse_timing(f"realistic:{scale}")
    started = time.monotonic()
    lab.first_node()  # create-instance, database --create, path, show-master-key: four process starts
    assert time.monotonic() - started >= (REALISTIC[DATABASE_CREATE] + 4 * REALISTIC[START_OCTOPUS]) * scale
    started = time.monotonic()
    r = lab.exe(f'service --instance Default --install --start --user "WORK\\svcOctopus" --password "{SVC_PW}"',
                who=ADMIN_NTLM)
    returned = time.monotonic()
    assert r.code == 0, r
    assert returned - started >= (REALISTIC[START_OCTOPUS] + REALISTIC[SERVICE_START]) * scale
    assert lab.service().state == "Running"
    assert ("OCTO1", True) not in lab.web_events  # Running, but not answering yet
    wait_for(lambda: ("OCTO1", True) in lab.web_events, timeout=REALISTIC[WEB_WARMUP] * scale * 4 + 5, interval=0.01)
    spent = time.monotonic() - started
    assert spent >= (REALISTIC[START_OCTOPUS] + REALISTIC[SERVICE_START] + REALISTIC[WEB_WARMUP]) * scale
