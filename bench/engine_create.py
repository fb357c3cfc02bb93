"""The engine against the lab: round trips per remote command, an 8-node create against its critical path,
and a 32-node create.

- Round trips: HTTP requests per remote command once the shell is open, counted by the lab (its
  per-node request counter), for octotui's ``NodeSession.run`` and for pywinrm's ``Session.run_cmd``.
  Aim: at most 3 (``run_cmd`` needs 5 or more).
- 8 nodes, 50 ms added latency per request: the wall time of ``octotui apply`` (from the journal's
  run_started to run_finished) against its critical path, node 1's chain plus the slowest join chain,
  each measured from the journal. Aim: at most 1.15 times.
- 32 nodes: the create completes; its wall time.

    python bench/engine_create.py [--skip-32]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import winrm

from octotui.remote.session import NodeSession
from tests.fixtures.cli import journal, octotui, octotui_env, write_answers
from tests.fixtures.lab import running_lab


def requests_of(lab: Any, node: str) -> int:
    return int(next(n for n in lab.inspect()["nodes"] if n["name"] == node)["http_requests"])


def round_trips(tmp: Path) -> dict[str, float]:
    with running_lab(tmp / "rt", "--nodes", "1") as lab:
        admin = lab.ready["admin"]
        ep = lab.node("OCTO1")["endpoint"]
        session = NodeSession(ep, admin["username"], admin["password"], transport="ntlm", node="OCTO1")
        session.open()
        n = 50
        before = requests_of(lab, "OCTO1")
        for _ in range(n):
            assert session.run("hostname", deadline_s=30).exit_code == 0
        ours = (requests_of(lab, "OCTO1") - before) / n
        session.close()
        pw = winrm.Session(ep, auth=(admin["username"], admin["password"]), transport="ntlm")
        before = requests_of(lab, "OCTO1")
        for _ in range(10):
            assert pw.run_cmd("hostname").status_code == 0
        theirs = (requests_of(lab, "OCTO1") - before) / 10
    return {"octotui_round_trips_per_command": ours, "pywinrm_run_cmd_round_trips_per_command": theirs}


def chains(events: list[dict[str, Any]]) -> dict[str, float]:
    """Per node: seconds from its first step_started to its last step_done."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for e in events:
        if e["type"] == "step_started":
            first.setdefault(e["node"], e["ts"])
        elif e["type"] == "step_done":
            last[e["node"]] = e["ts"]
    return {n: last[n] - first[n] for n in last}


def create(tmp: Path, nodes: int, latency_ms: int) -> dict[str, Any]:
    names = [f"OCTO{i}" for i in range(1, nodes + 1)]
    with running_lab(tmp / f"c{nodes}", "--nodes", str(nodes), "--latency-ms", str(latency_ms)) as lab:
        env = octotui_env(lab, tmp / f"home{nodes}")
        answers = write_answers(lab, tmp / f"create{nodes}.toml", names)
        started = time.perf_counter()
        out = octotui(env, "apply", str(answers), "--yes", timeout=3600)
        elapsed = time.perf_counter() - started
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        events = journal(env)
        wall = next(e["ts"] for e in events if e["type"] == "run_finished") - \
            next(e["ts"] for e in events if e["type"] == "run_started")
        per_node = chains(events)
        first = per_node.pop(names[0])
        slowest_join = max(per_node.values()) if per_node else 0.0
        registered = len(lab.inspect()["sql"]["databases"][0]["nodes"])
    critical = first + slowest_join
    return {"nodes": nodes, "latency_ms": latency_ms, "registered_nodes": registered,
            "apply_command_s": round(elapsed, 2), "run_wall_s": round(wall, 2),
            "node1_chain_s": round(first, 2), "slowest_join_chain_s": round(slowest_join, 2),
            "critical_path_s": round(critical, 2), "wall_over_critical_path": round(wall / critical, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-32", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        result: dict[str, Any] = {"round_trips": round_trips(tmp), "create_8_nodes": create(tmp, 8, 50)}
        if not args.skip_32:
            result["create_32_nodes"] = create(tmp, 32, 0)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
