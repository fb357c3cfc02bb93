"""Injected faults (``octotui.lab.faults``) as a pywinrm client meets them: latency, drops, 500s, reboots."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from winrm.exceptions import WSManFaultError

from tests.lab.conftest_winrm import Lab, lab_world, run


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
        time.sleep(0.2)
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
