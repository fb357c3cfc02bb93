"""A node's web endpoint over real HTTP: ping 200 / 418 / refused, /api, and the same port after a restart."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from octotui.lab.web import NodeWebServer
from tests.fixtures.lab_world import SVC_PW, VERSION, Lab, make_world


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def refused(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5)
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    return False


@pytest.fixture
def wired() -> Iterator[tuple[Lab, NodeWebServer]]:
    lab = Lab(make_world())
    web = NodeWebServer(lab.runtimes["OCTO1"], host="127.0.0.1", port=0)
    lab.settings.web_hooks["OCTO1"] = web.set_open
    yield lab, web
    web.close()


def start_node(lab: Lab) -> None:
    lab.first_node()
    r = lab.exe(f'service --instance Default --install --start --user WORK\\svcOctopus --password "{SVC_PW}"')
    assert r.code == 0, r


def test_closed_until_the_service_runs(wired: tuple[Lab, NodeWebServer]) -> None:
    lab, web = wired
    assert refused(web.port)
    start_node(lab)
    assert web.is_open
    status, body = get(web.port, "/api/octopusservernodes/ping")
    assert status == 200
    assert (body["Name"], body["MaxConcurrentTasks"], body["IsInMaintenanceMode"]) == ("OCTO1", 5, False)
    assert body["Id"] == "OctopusServerNodes-OCTO1"


def test_ping_is_418_while_draining(wired: tuple[Lab, NodeWebServer]) -> None:
    lab, web = wired
    start_node(lab)
    assert lab.exe("node --instance Default --drain true --taskCap 12").code == 0
    status, body = get(web.port, "/api/octopusservernodes/ping")
    assert status == 418
    assert body["IsInMaintenanceMode"] is True and body["MaxConcurrentTasks"] == 12
    lab.exe("node --instance Default --drain false")
    assert get(web.port, "/api/octopusservernodes/ping")[0] == 200


def test_stop_refuses_and_start_reopens_the_same_port(wired: tuple[Lab, NodeWebServer]) -> None:
    lab, web = wired
    start_node(lab)
    port = web.port
    assert lab.exe("service --instance Default --stop").code == 0
    assert refused(port)
    assert lab.exe("service --instance Default --start").code == 0
    assert web.port == port and get(port, "/api/octopusservernodes/ping")[0] == 200


def test_api_root_and_unknown_paths(wired: tuple[Lab, NodeWebServer]) -> None:
    lab, web = wired
    start_node(lab)
    status, body = get(web.port, "/api")
    assert status == 200 and body["Application"] == "Octopus Deploy" and body["Version"] == VERSION
    assert get(web.port, "/api/")[0] == 200
    assert get(web.port, "/api/nothing")[0] == 404


def test_ping_without_a_registered_node_is_503(wired: tuple[Lab, NodeWebServer]) -> None:
    lab, web = wired
    start_node(lab)
    lab.world.sql.databases["octopusdeploy"].octopus.nodes.clear()  # type: ignore[union-attr]
    assert get(web.port, "/api/octopusservernodes/ping")[0] == 503
