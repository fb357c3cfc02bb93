"""``octotui apply`` end to end against the lab: create a cluster, run it again, join more nodes.

The lab is the only witness: what the nodes ran (their process logs), what the database holds, what the
services run as. Nothing here looks inside the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.cli import changed_steps, journal, octotui, octotui_env, world_shape, write_answers
from tests.fixtures.lab import LabProcess, running_lab

#: Octopus.Server.exe commands that only read.
READ_ONLY = re.compile(r"Octopus\.Server\.exe\"?\s+(list-instances|show-configuration|show-master-key|version)\b",
                       re.IGNORECASE)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("e2e") / "state", "--nodes", "5") as lab:
        yield lab


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


def changing_commands(world: dict, since: dict[str, int]) -> list[str]:  # type: ignore[type-arg]
    """Command lines the nodes ran after ``since`` (per-node log lengths) that could change something."""
    found = []
    for node in world["nodes"]:
        for rec in node["process_log"][since.get(node["name"], 0):]:
            line = rec["command_line"]
            if "Octopus.Server.exe" in line and not READ_ONLY.search(line) and "powershell" not in line.lower():
                found.append(f"{node['name']}: {line}")
            if re.search(r"msiexec|choco", line, re.IGNORECASE) and "powershell" not in line.lower():
                found.append(f"{node['name']}: {line}")
    return found


def test_create_then_rerun_changes_nothing_then_join_two_more(lab: LabProcess, home: Path) -> None:
    env = octotui_env(lab, home)
    create = write_answers(lab, home / "create.toml", ["OCTO1", "OCTO2", "OCTO3"])

    first = octotui(env, "apply", str(create), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Done" in first.stdout
    world = lab.inspect()
    (db,) = world["sql"]["databases"]
    assert [n["name"] for n in db["nodes"]] == ["OCTO1", "OCTO2", "OCTO3"]
    assert db["settings"]["Octopus.Folders.ClusterSharedDirectory"] == lab.ready["share"]
    assert db["settings"]["Octopus.WebPortal.ActiveDirectoryIsEnabled"] == "True"
    assert db["admins"] == [lab.ready["admin"]["username"]]
    shape = world_shape(world)
    assert shape["one_master_key"]
    for name in ("OCTO1", "OCTO2", "OCTO3"):
        node = shape["nodes"][name]
        assert node["products"] == [{"name": "Octopus Deploy Server", "version": "2025.3.1234"}]
        assert node["services"] == [("OctopusDeploy: Default", "Running", "Automatic",
                                     lab.ready["service_account"]["username"], True)]
    # Shared storage, the licence and the administrator were set from node 1 only.
    for node in world["nodes"][1:3]:
        assert not [p for p in node["process_log"] if re.search(r"\s(path|admin|license)\s", p["command_line"])]

    # A second apply reads every node's state and changes nothing.
    before = {n["name"]: len(n["process_log"]) for n in world["nodes"]}
    second = octotui(env, "apply", str(create), "--yes")
    assert second.returncode == 0, second.stdout + second.stderr
    assert changed_steps(journal(env)) == []
    assert changing_commands(lab.inspect(), before) == []
    assert world_shape(lab.inspect()) == shape

    # Join two more nodes with the master key the create run stored in the keyring.
    join = write_answers(lab, home / "join.toml", ["OCTO4", "OCTO5"], mode="join")
    joined = octotui(env, "apply", str(join), "--yes")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    world = lab.inspect()
    (db,) = world["sql"]["databases"]
    assert [n["name"] for n in db["nodes"]] == ["OCTO1", "OCTO2", "OCTO3", "OCTO4", "OCTO5"]
    assert world_shape(world)["one_master_key"]
    for node in world["nodes"][3:]:
        lines = [p["command_line"] for p in node["process_log"]]
        assert not [ln for ln in lines if re.search(r"\s(path|admin|license)\s|--create", ln)]
    assert db["settings"]["Octopus.Folders.ClusterSharedDirectory"] == lab.ready["share"]


def test_plan_prints_every_step_with_identity_and_no_secret(lab: LabProcess, home: Path) -> None:
    env = octotui_env(lab, home)
    answers = write_answers(lab, home / "plan.toml", ["OCTO1", "OCTO2"])
    out = octotui(env, "plan", str(answers))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for step in ("install", "create-instance", "database", "configure", "path", "service", "ping", "master-key"):
        assert step in text
    assert "--create --grant" in text and "--masterKey ********" in text
    assert "scheduled task with its password" in text
    assert lab.ready["admin"]["password"] not in text + out.stderr
    assert lab.ready["service_account"]["password"] not in text + out.stderr


def test_bad_answers_get_every_problem_at_once_and_exit_2(home: Path, lab: LabProcess) -> None:
    env = octotui_env(lab, home)
    bad = home / "bad.toml"
    bad.write_text('mode = "grow"\noctopus_version = "x"\n[winrm]\nusername = "a"\ntransport = "basic"\n'
                   'https = false\n[[nodes]]\nhost = "n1"\nhome = "\\\\\\\\srv\\\\share"\n')
    out = octotui(env, "apply", str(bad), "--yes")
    assert out.returncode == 2
    for key in ("mode", "octopus_version", "winrm", "nodes[1].home", "service_account", "sql"):
        assert key in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_secret_names_the_variable(home: Path, lab: LabProcess) -> None:
    env = octotui_env(lab, home)
    del env["OCTOTUI_SERVICE_PASSWORD"]
    answers = write_answers(lab, home / "nosecret.toml", ["OCTO1"])
    out = octotui(env, "apply", str(answers), "--yes")
    assert out.returncode == 2
    assert "OCTOTUI_SERVICE_PASSWORD" in out.stderr
    assert "Traceback" not in out.stderr
