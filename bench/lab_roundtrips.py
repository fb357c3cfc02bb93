"""How many WinRM round trips per second the lab serves, on one node and across 32 nodes in one lab.

A round trip is one HTTP request and its reply. The client is pywinrm's ``Protocol`` with one shell
reused, running ``echo`` (Command, Receive, Signal: three round trips a command), Basic auth over plain
HTTP so that the figure measures the lab rather than NTLM sealing. Clients run in separate processes so
they do not share the lab's interpreter lock. Aim: 500 round trips/s per node.

    python bench/lab_roundtrips.py [--seconds 5] [--nodes 32] [--clients 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import winrm

from tests.fixtures.lab import running_lab


def _client(endpoints: list[str], user: str, password: str, seconds: float, queue: Any) -> None:
    """Drive every endpoint in turn for ``seconds``; report commands completed per endpoint."""
    protocols = []
    for ep in endpoints:
        p = winrm.Protocol(endpoint=ep, transport="basic", username=user, password=password)
        protocols.append((p, p.open_shell()))
    counts = [0] * len(protocols)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for i, (p, shell) in enumerate(protocols):
            cid = p.run_command(shell, "echo", ["x"])
            done = False
            while not done:
                _, _, _, done = p.get_command_output_raw(shell, cid)
            p.cleanup_command(shell, cid)
            counts[i] += 1
    for p, shell in protocols:
        p.close_shell(shell)
    queue.put(counts)


def measure(lab: Any, node_names: list[str], clients: int, seconds: float) -> dict[str, float]:
    before = {n["name"]: n["http_requests"] for n in lab.inspect()["nodes"]}
    eps = [lab.node(n)["endpoint"] for n in node_names]
    groups = [eps[i::clients] for i in range(clients) if eps[i::clients]]
    queue: Any = mp.Queue()
    admin = lab.ready["admin"]
    procs = [mp.Process(target=_client, args=(g, admin["username"], admin["password"], seconds, queue))
             for g in groups]
    started = time.perf_counter()
    for p in procs:
        p.start()
    commands = sum(sum(queue.get()) for _ in procs)
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    after = {n["name"]: n["http_requests"] for n in lab.inspect()["nodes"]}
    requests = sum(after[n] - before[n] for n in node_names)
    return {
        "nodes": len(node_names),
        "client_processes": len(procs),
        "seconds": round(elapsed, 2),
        "commands": commands,
        "round_trips": requests,
        "round_trips_per_s_total": round(requests / seconds, 1),
        "round_trips_per_s_per_node": round(requests / seconds / len(node_names), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--nodes", type=int, default=32)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            running_lab(Path(tmp) / "state", "--nodes", str(args.nodes), "--auth", "basic",
                        "--allow-unencrypted") as lab:
        single = measure(lab, ["OCTO1"], 1, args.seconds)
        many = measure(lab, [n["name"] for n in lab.ready["nodes"]], args.clients, args.seconds)
    print(json.dumps({"one_node": single, f"{args.nodes}_nodes": many}, indent=2))


if __name__ == "__main__":
    main()
