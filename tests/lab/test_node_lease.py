"""The lab's twin of ``node-lease``: one lease per node, granted to one taker at a time.

Driven the way the engine drives every script: ``powershell.exe -EncodedCommand <bootstrap>`` spawned on
a lab node, the script and its JSON parameters on stdin, the result read from the sentinel line.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest

from octotui.lab import provision
from octotui.lab.identity import Identity
from octotui.lab.programs import powershell, system
from octotui.lab.ps_twins import TWINS
from octotui.lab.ps_twins.common import RESULT_SENTINEL
from octotui.lab.ps_twins.lease import LEASE_FILE, parse_time, round_trip
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import World
from octotui.windows.scripts import ps_script

POWERSHELL = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
ADMIN = Identity("WORK\\labadmin", "network")


def holder(run_id: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "console": "build01", "console_id": "c0ffee", "user": "alice", "pid": 4242,
            "pid_start": "123", "home": "/home/alice/.local/state/octotui", **extra}


@pytest.fixture
def world() -> World:
    return provision.new_world(node_count=1)


@pytest.fixture
def runtime(world: World) -> NodeRuntime:
    return NodeRuntime(world, world.nodes[0], LabSettings(), programs={**system.PROGRAMS, **powershell.PROGRAMS},
                       services={})


def lease(runtime: NodeRuntime, params: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    body = params if isinstance(params, str) else json.dumps(params)
    line = POWERSHELL + base64.b64encode(ps_script("bootstrap").encode("utf-16-le")).decode("ascii")
    proc = runtime.spawn(line, ADMIN, codepage=65001)
    proc.stdin.feed(ps_script("node-lease").encode("utf-8") + b"\0\0\0\0" + body.encode("utf-8"), True)
    out = bytearray()
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, "the script did not finish"
        o, _e, done, code = proc.output.drain(1 << 20, 0.5)
        out += o
        if done:
            assert code is not None
            lines = [ln for ln in out.decode("utf-8").splitlines() if ln.startswith(RESULT_SENTINEL)]
            assert len(lines) == 1, out
            assert lines[0].isascii()
            return code, json.loads(lines[0][len(RESULT_SENTINEL):])


def stored(runtime: NodeRuntime) -> dict[str, Any] | None:
    fs = runtime.node.fs
    if not fs.is_file(LEASE_FILE):
        return None
    doc: dict[str, Any] = json.loads(fs.read(LEASE_FILE))
    return doc


def test_the_twin_is_registered() -> None:
    assert ("node-lease", 1) in TWINS


def test_take_stores_the_holder_and_a_second_taker_is_refused(runtime: NodeRuntime) -> None:
    code, first = lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A"), "ttl_s": 600})
    assert code == 0 and first["ok"] and first["taken"]
    assert first["node"] == "OCTO1" and first["previous"] is None
    assert first["lease"]["run_id"] == "RUN-A" and first["lease"]["account"] == "WORK\\labadmin"
    assert first["lease"]["expires_in_s"] == 600 and first["lease"]["held_s"] == 0
    on_disk = stored(runtime)
    assert on_disk is not None and on_disk["lease_id"] == "A" and on_disk["user"] == "alice"
    assert parse_time(on_disk["expires_at"]) - parse_time(on_disk["taken_at"]) == pytest.approx(600, abs=1e-6)
    assert on_disk["taken_at"].endswith("Z") and len(on_disk["taken_at"]) == len("2025-06-01T10:00:00.0000000Z")

    code, second = lease(runtime, {"action": "take", "lease_id": "B", "holder": holder("RUN-B")})
    assert code == 0 and second["ok"] is False and second["taken"] is False
    assert second["holder"]["run_id"] == "RUN-A" and second["holder"]["console"] == "build01"
    assert 599 <= second["holder"]["expires_in_s"] <= 600
    assert stored(runtime) == on_disk  # refused: nothing written


def test_a_repeated_take_by_the_holder_keeps_taken_at(runtime: NodeRuntime) -> None:
    lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A")})
    before = stored(runtime)
    assert before is not None
    _code, again = lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A"), "ttl_s": 900})
    assert again["taken"] and again["previous"] is None
    after = stored(runtime)
    assert after is not None and after["taken_at"] == before["taken_at"] and after["ttl_s"] == 900


def test_expired_take_over_and_replace_grant_the_lease_and_name_the_previous_holder(runtime: NodeRuntime) -> None:
    lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A"), "ttl_s": 0.05})
    deadline = time.monotonic() + 10
    while lease(runtime, {"action": "read"})[1]["holder"]["expires_in_s"] >= 0:
        assert time.monotonic() < deadline
    _code, expired = lease(runtime, {"action": "take", "lease_id": "B", "holder": holder("RUN-B")})
    assert expired["taken"] and expired["previous"]["run_id"] == "RUN-A"
    assert expired["previous"]["expires_in_s"] <= 0

    _code, forced = lease(runtime, {"action": "take", "lease_id": "C", "holder": holder("RUN-C"), "take_over": True})
    assert forced["taken"] and forced["previous"]["run_id"] == "RUN-B"

    _code, stale = lease(runtime, {"action": "take", "lease_id": "D", "holder": holder("RUN-D"), "replace": "B"})
    assert not stale["taken"] and stale["holder"]["lease_id"] == "C"  # B is no longer the holder
    _code, exact = lease(runtime, {"action": "take", "lease_id": "D", "holder": holder("RUN-D"), "replace": "C"})
    assert exact["taken"] and exact["previous"]["run_id"] == "RUN-C"


def test_renew_and_release_only_for_the_holder(runtime: NodeRuntime) -> None:
    lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A"), "ttl_s": 60})
    _code, other = lease(runtime, {"action": "renew", "lease_id": "B"})
    assert other["ok"] is False and other["lost"] and other["holder"]["run_id"] == "RUN-A"
    _code, mine = lease(runtime, {"action": "renew", "lease_id": "A", "ttl_s": 600})
    assert mine["ok"] and mine["renewed"] and mine["lease"]["expires_in_s"] == 600

    _code, foreign = lease(runtime, {"action": "release", "lease_id": "B"})
    assert foreign["ok"] and not foreign["released"] and foreign["holder"]["run_id"] == "RUN-A"
    assert stored(runtime) is not None
    _code, released = lease(runtime, {"action": "release", "lease_id": "A"})
    assert released["released"] and stored(runtime) is None
    _code, gone = lease(runtime, {"action": "renew", "lease_id": "A"})
    assert gone["lost"] and gone["holder"] is None
    _code, nothing = lease(runtime, {"action": "release", "lease_id": "A"})
    assert nothing["ok"] and not nothing["released"]


def test_a_file_that_holds_no_lease_counts_as_none(runtime: NodeRuntime) -> None:
    runtime.node.fs.makedirs("C:\\ProgramData\\octotui")
    runtime.node.fs.write(LEASE_FILE, b"{not json")
    _code, read = lease(runtime, {"action": "read"})
    assert read["ok"] and read["holder"] is None
    _code, taken = lease(runtime, {"action": "take", "lease_id": "A", "holder": holder("RUN-A")})
    assert taken["taken"]


@pytest.mark.parametrize(("params", "error"), [
    ({"action": "grab", "lease_id": "A"}, "'action' must be take, renew, release or read"),
    ({"action": "take", "holder": holder("R")}, "missing parameter 'lease_id'"),
    ({"action": "take", "lease_id": "A"}, "'holder' must be a JSON object"),
    ({"action": "take", "lease_id": "A", "holder": holder("R"), "ttl_s": 0}, "'ttl_s' must be more than 0"),
    ({"action": "renew", "lease_id": "A", "ttl_s": "soon"}, 'Cannot convert value "soon"'),
])
def test_bad_parameters_exit_2(runtime: NodeRuntime, params: dict[str, Any], error: str) -> None:
    code, result = lease(runtime, params)
    assert code == 2 and result["stage"] == "params" and error in result["error"]


def test_concurrent_takes_are_served_one_at_a_time(runtime: NodeRuntime) -> None:
    """Twelve consoles ask at the same instant: exactly one gets the lease, every other one is told who."""
    start = threading.Barrier(12)
    results: dict[str, dict[str, Any]] = {}

    def take(name: str) -> None:
        start.wait()
        results[name] = lease(runtime, {"action": "take", "lease_id": name, "holder": holder(f"RUN-{name}")})[1]

    threads = [threading.Thread(target=take, args=(f"L{i}",)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [name for name, r in results.items() if r["taken"]]
    assert len(results) == 12 and len(winners) == 1, results
    assert all(r["holder"]["lease_id"] == winners[0] for r in results.values() if not r["taken"])
    on_disk = stored(runtime)
    assert on_disk is not None and on_disk["lease_id"] == winners[0]


def test_round_trip_times_parse_back() -> None:
    moment = 1_780_000_000.1234567
    text = round_trip(moment)
    assert text.endswith("Z") and len(text.split(".")[1]) == 8
    assert parse_time(text) == pytest.approx(moment, abs=1e-6)
    assert round_trip(1_780_000_000.99999999).startswith(round_trip(1_780_000_001)[:19])
