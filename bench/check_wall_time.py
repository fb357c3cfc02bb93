"""``octotui check`` for a 3-node spec: its wall time against the slowest single check in the same run.

The checks run concurrently, so a run should take about as long as its slowest check. Aim: at most 1.2
times. What can make it longer: checks that wait for a gate (a node's WinRM logon, ad.account's verdict on
the service account) before they log on, so that a wrong password is tried once rather than once per check.

Setup: a lab with 3 nodes (``--latency-ms`` added to every WinRM request, 50 by default: a LAN-like round
trip, without which every lab check takes a few milliseconds and thread start-up dominates) and a real
Samba AD DC (root and the Samba packages needed) whose svcOctopus and labadmin passwords are the lab's, so
every check runs for real and passes: AD and the share against Samba, SQL through the lab's TDS front, the
rest against the lab's nodes.

Figures (JSON): per run, the run's wall time (first check started to last result) and the slowest check's
own duration; the median over ``--runs`` in-process runs; the same ratio with the gates removed (for
comparison only: that is what the lockout protection costs); and one ``octotui check`` process for the
wall time a user sees (interpreter start-up and imports included).

    python bench/check_wall_time.py [--runs 7] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from octotui.checks.runner import run_checks
from octotui.checks.suite import Passwords, build_checks
from octotui.spec.answers import load_answers
from tests.fixtures.cli import octotui_env, toml_str, write_answers
from tests.fixtures.lab import running_lab
from tests.realservices.samba_dc import running_dc


def one_run(answers: Path, passwords: Passwords, gates: bool = True) -> dict[str, Any]:
    spec = load_answers(answers)
    checks = build_checks(spec, passwords)
    if not gates:  # for comparison only: what the lockout gates cost (a wrong password would be tried 4x per node)
        checks = [dataclasses.replace(c, needs=()) for c in checks if c.id != "cluster.version"]
    run = run_checks(checks)
    assert run.wait(60), "the run did not finish"
    results = run.results()
    slowest = max(results, key=lambda r: r.duration_ms)
    failed = [f"{r.id}: {r.summary}" for r in results if r.status == "fail"]
    return {"wall_s": run.wall_s, "slowest_check_s": slowest.duration_ms / 1000, "slowest_check": slowest.id,
            "checks": len(results), "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--latency-ms", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        with running_lab(tmp / "lab", "--nodes", "3", "--latency-ms", str(args.latency_ms)) as lab:
            admin, svc = lab.ready["admin"], lab.ready["service_account"]
            with running_dc(passwords={"svcOctopus": svc["password"], "labadmin": admin["password"]}) as dc:
                extra = f"\n[ad]\ndomain_controller = {toml_str(dc.address)}\nca_cert = {toml_str(str(dc.ca_file))}\n"
                answers = write_answers(lab, tmp / "answers.toml", ["OCTO1", "OCTO2", "OCTO3"], extra=extra)
                passwords = Passwords(admin["password"], svc["password"])
                one_run(answers, passwords)  # warm-up: imports, ODBC driver loading, first TLS contexts
                runs = [one_run(answers, passwords) for _ in range(args.runs)]
                ungated = [one_run(answers, passwords, gates=False) for _ in range(args.runs)]
                env = octotui_env(lab, tmp)
                started = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "octotui", "check", str(answers), "--json"],
                                      capture_output=True, text=True, env=env, timeout=120,
                                      stdin=subprocess.DEVNULL, cwd=os.getcwd())
                process_wall = time.perf_counter() - started
                process_results = json.loads(proc.stdout) if proc.stdout.strip().startswith("[") else []
    ratios = [r["wall_s"] / r["slowest_check_s"] for r in runs]
    median = sorted(range(len(runs)), key=lambda i: ratios[i])[len(runs) // 2]
    out = {
        "nodes": 3, "latency_ms": args.latency_ms, "runs": args.runs, "checks_per_run": runs[0]["checks"],
        "median_run": {"wall_s": round(runs[median]["wall_s"], 3),
                       "slowest_check_s": round(runs[median]["slowest_check_s"], 3),
                       "slowest_check": runs[median]["slowest_check"],
                       "wall_over_slowest": round(ratios[median], 3)},
        "wall_over_slowest_all_runs": [round(x, 3) for x in ratios],
        "wall_over_slowest_median": round(statistics.median(ratios), 3),
        "failed_checks": sorted({f for r in runs for f in r["failed"]}),
        "without_lockout_gates_median": round(statistics.median(r["wall_s"] / r["slowest_check_s"]
                                                                for r in ungated), 3),
        "octotui_check_process": {"exit_code": proc.returncode, "wall_s": round(process_wall, 3),
                                  "slowest_check_s": round(max((r["duration_ms"] for r in process_results),
                                                               default=0) / 1000, 3)},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
