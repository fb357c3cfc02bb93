"""Deterministic wizard states for snapshots, screenshots and the fuzz test: no network, fixed paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from octotui.screens.state import WizardState

EXAMPLE: dict[str, Any] = {
    "mode": "create",
    "octopus_version": "2025.3.1234",
    "instance": "OctopusServer",
    "winrm": {"username": "CORP\\octoadmin", "transport": "ntlm", "https": True},
    "nodes": [{"host": "octo1.corp.example.com"}, {"host": "octo2.corp.example.com"},
              {"host": "octo3.corp.example.com"}],
    "service_account": {"username": "CORP\\svcOctopus"},
    "sql": {"connection_string": "Data Source=sql01.corp.example.com;Initial Catalog=Octopus;"
                                 "Integrated Security=True;"},
    "storage": {"cluster_shared": "\\\\files01\\OctopusShared"},
    "web": {"listen_prefixes": ["http://+:80/"], "comms_port": 10943},
    "install": {"source": "chocolatey"},
    "admin": {"username": "CORP\\jane.admin"},
}
#: Looks like a password in a screenshot only as a row of dots; the tests check it never shows.
SECRETS = {"winrm": "Example-Winrm-Pa55", "service": "Example-Svc-Pa55"}


def example_state(mode: str = "create") -> WizardState:
    import copy

    data = copy.deepcopy(EXAMPLE)
    data["mode"] = mode
    if mode == "join":
        for section in ("storage", "admin"):
            data.pop(section)
    return WizardState(data=data, secrets=dict(SECRETS), answers_file=Path("/srv/octotui/answers.toml"))


def recorded_run(home: Path, run_id: str = "20250101-120000-0001") -> Path:
    """A finished (failed) create run of three nodes, written with a fixed clock."""
    from octotui.run.journal import JournalWriter, plan_summary
    from octotui.secrets.redact import Redactor

    run_dir = home / "runs" / run_id
    steps = ["guard-database", "install", "create-instance", "database", "configure", "service", "ping"]
    clock = iter(float(1735732800 + i) for i in range(1000))
    with JournalWriter(run_dir, Redactor(), clock=lambda: next(clock)) as j:
        j.run_started(mode="create", plan=plan_summary({n: [(s, f"{s} on {n}") for s in steps]
                                                        for n in ("OCTO1", "OCTO2", "OCTO3")}))
        for s in steps[:3]:
            j.step_started("OCTO1", s, f"{s} on OCTO1")
            j.step_output("OCTO1", s, "stdout", f"{s}: working\n{s}: ok\n")
            j.step_done("OCTO1", s, changed=s != "guard-database", duration_ms=1200)
        j.step_started("OCTO1", "database", "database on OCTO1")
        j.step_output("OCTO1", "database", "stderr", "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'.\n")
        j.step_failed("OCTO1", "database", error="database failed with exit code 1: Login failed for user "
                      "'NT AUTHORITY\\ANONYMOUS LOGON'", hint="use transport = \"credssp\" or give the WinRM password",
                      duration_ms=2300)
        j.run_finished("failed", exit_code=1, message="1 step(s) failed")
    return run_dir
