"""Driving ``octotui`` as a user does, against a running lab: answers files, environment, runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.labfixture import LabProcess


def toml_str(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these values


def write_answers(lab: LabProcess, path: Path, nodes: list[str], *, mode: str = "create",
                  version: str = "2025.3.1234", transport: str | None = None, extra: str = "",
                  connection_string: str | None = None, source: str | None = None) -> Path:
    r = lab.ready
    https = "ca_cert" in r
    lines = [
        f'mode = "{mode}"', f'octopus_version = "{version}"', 'instance = "Default"', "",
        "[winrm]", f"username = {toml_str(r['admin']['username'])}",
        f'transport = "{transport or r["auth"]}"', f"https = {'true' if https else 'false'}",
    ]
    if https:
        lines.append(f"ca_cert = {toml_str(r['ca_cert'])}")
    for name in nodes:
        lines += ["", "[[nodes]]", f'host = "{name}"', f'endpoint = "{lab.node(name)["endpoint"]}"']
    lines += ["", "[service_account]", f"username = {toml_str(r['service_account']['username'])}",
              "", "[sql]", f"connection_string = {toml_str(connection_string or r['sql']['connection_string'])}",
              "", "[web]", 'listen_prefixes = ["http://+:80/"]',
              "", "[install]", f"source = {toml_str(source or r['installers'][version]['node_path'])}"]
    if mode == "create":
        lines += ["", "[storage]", f"cluster_shared = {toml_str(r['share'])}"]
        lines += ["", "[admin]", f"username = {toml_str(r['admin']['username'])}"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def octotui_env(lab: LabProcess, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOTUI_")}
    env.update({
        "OCTOTUI_HOME": str(home / "octotui"),
        "OCTOTUI_WINRM_PASSWORD": lab.ready["admin"]["password"],
        "OCTOTUI_SERVICE_PASSWORD": lab.ready["service_account"]["password"],
        # A real keyring backend, kept in this test's folder.
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def octotui(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "octotui", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def journal(env: dict[str, str], run: str | None = None) -> list[dict[str, Any]]:
    runs = sorted((Path(env["OCTOTUI_HOME"]) / "runs").iterdir())
    run_dir = next(r for r in runs if r.name == run) if run else runs[-1]
    events = []
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


def changed_steps(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["node"], e["step"]) for e in events if e["type"] == "step_done" and e["changed"]]


def world_shape(world: dict[str, Any]) -> dict[str, Any]:
    """What 'the same world' means across runs: everything but counters, logs and random key values."""
    nodes = {}
    for n in world["nodes"]:
        nodes[n["name"]] = {
            "products": n["products"],
            "instances": [{k: v for k, v in i.items() if k not in ("master_key_sha256", "connection_string")}
                          | {"has_key": bool(i["master_key_sha256"]),
                             # each lab serves SQL on its own port
                             "connection_string": re.sub(r",\d+;", ";", i["connection_string"] or "")}
                          for i in n["instances"]],
            "services": [(s["name"], s["state"], s["start_type"], s["account"], s["log_on_as_a_service"])
                         for s in n["services"]],
        }
    dbs = [{"name": d["name"], "nodes": [r["name"] for r in d["nodes"]], "settings": d["settings"],
            "db_owner": d["db_owner"], "admins": d["admins"], "version": d["octopus_version"]}
           for d in world["sql"]["databases"]]
    keys = {i["master_key_sha256"] for n in world["nodes"] for i in n["instances"]}
    keys |= {d["master_key_sha256"] for d in world["sql"]["databases"]}
    return {"nodes": nodes, "databases": dbs, "one_master_key": len(keys - {None}) <= 1}


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
