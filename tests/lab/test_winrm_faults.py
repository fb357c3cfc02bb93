"""Injected faults (``octotui.lab.faults``) as a pywinrm client meets them: latency, drops, 500s, reboots."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from winrm.exceptions import WSManFaultError

from octotui.lab.faults import FaultPlan
from octotui.lab.runtime import PROGRAM_MARKER
from tests.fixtures.waiting import wait_until
from tests.fixtures.winrm import LOCAL_WHO, Lab, lab_world, run


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A fresh world per test: fault counters count requests from the world's start."""
    with lab_world(tmp_path) as world:
        yield world


def test_latency(lab: Lab) -> None:
    ep = lab.endpoint(auth="basic", allow_basic_http=True)
    p = lab.protocol(ep, "basic")
    lab.faults.add("latency:ms=150")
    started = time.monotonic()
    shell = p.open_shell()
    assert time.monotonic() - started >= 0.15
    lab.faults.faults.clear()
    started = time.monotonic()
    p.close_shell(shell)
    assert time.monotonic() - started < 0.15


def test_drop_closes_the_connection_unanswered(lab: Lab) -> None:
    ep = lab.endpoint(auth="basic", allow_basic_http=True)
    lab.faults.add("drop:after=2")
    p = lab.protocol(ep, "basic")
    shell = p.open_shell()  # request 1
    cmd = p.run_command(shell, "echo", ["hi"])  # request 2
    with pytest.raises(requests.exceptions.ConnectionError):
        p.get_command_output_raw(shell, cmd)  # request 3: dropped
    out, _, code = p.get_command_output(shell, cmd)  # a new connection; the command's output is still there
    assert (out, code) == (b"hi\r\n", 0)
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    assert lab.node.http_requests == 6


@pytest.mark.parametrize("transport", ["basic", "ntlm"])
def test_wsman500_is_an_internal_error_fault(lab: Lab, transport: str) -> None:
    ep = lab.endpoint(auth="ntlm" if transport == "ntlm" else "basic", allow_basic_http=transport == "basic")
    p = lab.protocol(ep, transport)
    shell = p.open_shell()
    lab.faults.add(f"wsman500:after={lab.node.http_requests},times=1")
    with pytest.raises(WSManFaultError) as exc:  # over NTLM the fault arrives sealed and pywinrm unseals it
        p.run_command(shell, "echo", ["hi"])
    assert exc.value.code == 500
    assert (exc.value.fault_code, exc.value.fault_subcode) == ("s:Receiver", "w:InternalError")
    assert exc.value.wsman_fault_code == 2147943418
    # The connection and its sealing sequence stay usable after the fault.
    assert run(p, shell, "echo", "after") == (b"after\r\n", b"", 0)
    p.close_shell(shell)


def test_reboot_drops_the_request_and_calls_back(lab: Lab) -> None:
    rebooted = threading.Event()

    def on_reboot() -> None:
        ep.stop()
        time.sleep(0.2)  # the node is down for a while: simulated, not waited for
        ep.restart_listener()
        rebooted.set()

    ep = lab.endpoint(auth="ntlm", on_reboot=on_reboot)
    p = lab.protocol(ep, "ntlm")
    shell = p.open_shell()
    lab.faults.add(f"reboot:after={lab.node.http_requests},down=0.2")
    with pytest.raises(requests.exceptions.ConnectionError):
        p.run_command(shell, "echo", ["hi"])
    assert rebooted.wait(5)
    fresh = lab.protocol(ep, "ntlm")
    with pytest.raises(WSManFaultError) as exc:
        fresh.run_command(shell, "echo", ["hi"])
    assert exc.value.wsman_fault_code == 2150858843
    shell = fresh.open_shell()
    assert run(fresh, shell, "echo", "up")[0] == b"up\r\n"
    fresh.close_shell(shell)


# --- slow:match=... (issue 7, item 10): what `match` matches, and the README's example fires ----------------

README = Path(__file__).resolve().parents[2] / "README.md"
OCTOPUS_EXE = "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe"
CS = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"
#: The database steps' command lines as Windows shows them (the first node creates, the others join).
DATABASE_CREATE = f'"{OCTOPUS_EXE}" database --instance Default --connectionString "{CS}" --create --grant WORK\\svcOctopus'
DATABASE_JOIN = f'"{OCTOPUS_EXE}" database --instance Default --connectionString "{CS}" --masterKey ABCDEFGHIJKLMNOPQRSTUV=='


def readme_slow_example() -> str:
    found = re.findall(r"`(slow:match=[^`]*)`", README.read_text(encoding="utf-8"))
    assert len(found) == 1, found
    return found[0]


def test_the_readmes_slow_fault_fires_on_the_command_it_names(lab: Lab) -> None:
    spec = readme_slow_example()
    lab.node.fs.write(OCTOPUS_EXE, PROGRAM_MARKER + b"labwho\n", make_parents=True)
    ep = lab.endpoint(auth="basic", allow_basic_http=True)
    p = lab.protocol(ep, "basic")
    shell = p.open_shell()
    fault = lab.faults.add(spec)
    # cmd.exe /c takes off the outer quotes the engine adds around a line that starts with a quoted program
    out, _, code = run(p, shell, f'"{DATABASE_JOIN}"')  # not the command the example names: runs at once
    assert code == 0 and out.startswith(LOCAL_WHO.encode() + b"|") and fault.fired == {}
    cmd = p.run_command(shell, f'"{DATABASE_CREATE}"')
    wait_until(lambda: fault.fired == {"octo1": 1}, timeout=10, what=f"{spec} to fire on {DATABASE_CREATE}")
    started = [r for r in lab.node.process_log if r.command_line.startswith(f'"{OCTOPUS_EXE}" database')]
    assert len(started) == 1  # only the join: the create waits for the fault's seconds before it starts
    p.cleanup_command(shell, cmd)  # terminating the command ends the wait
    p.close_shell(shell)


@pytest.mark.parametrize(("match", "fires"), [
    ("database --create", True),   # words among the arguments, in order, others between them
    ("DATABASE --Create", True),   # case does not matter, as for Windows' own command-line switches
    ("Octopus.Server.exe database --create", True),  # the program by its file name
    ("--create", True),            # a piece of the command line
    ("--grant WORK\\svcOctopus", True),
    ("--create database", False),  # the words in another order
    ("database --upgrade", False),
    ("create-instance", False),
])
def test_slow_match_is_text_of_the_command_line_or_words_among_its_arguments(match: str, fires: bool) -> None:
    plan = FaultPlan.parse([f"slow:match={match},seconds=7"])
    assert plan.slow_command_delay("OCTO1", DATABASE_CREATE) == (7.0 if fires else 0.0)
