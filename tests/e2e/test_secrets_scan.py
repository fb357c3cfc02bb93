"""Plant known secrets, drive every command that writes or prints, then scan everything: zero hits.

The secrets are the WinRM password, the service account's password and the cluster's master key (read by
the create run from node 1, and given back for a join). The scan covers every file under OCTOTUI_HOME
(journal, step logs, runner log, locks), the exported script, and all captured output — including a run
that fails, whose error paths are where secrets usually leak.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.fixtures.cli import octotui, octotui_env, write_answers
from tests.fixtures.lab import run, running_lab

EXE = r'"C:\Program Files\Octopus Deploy\Octopus\Octopus.Server.exe"'


def forms(secret: str) -> set[str]:
    """The secret as it could appear: raw, JSON-escaped, base64 of UTF-8 and of UTF-16LE."""
    return {secret, json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode(),
            base64.b64encode(secret.encode("utf-16-le")).decode()}


def scan(secrets: list[str], files: list[Path], texts: list[str]) -> list[str]:
    hits = []
    needles = {f for s in secrets for f in forms(s)}
    for path in files:
        data = path.read_bytes().decode("utf-8", "replace")
        hits += [f"{path}: {n[:4]}…" for n in needles if n in data]
    for i, text in enumerate(texts):
        hits += [f"output #{i}: {n[:4]}…" for n in needles if n in text]
    return hits


def test_no_secret_reaches_home_exports_or_output(tmp_path: Path) -> None:
    with running_lab(tmp_path / "state", "--nodes", "3", "--fault", "msi@OCTO3:exit=1603") as lab:
        env = octotui_env(lab, tmp_path)
        outputs: list[str] = []

        def go(*args: str) -> int:
            out = octotui(env, *args)
            outputs.extend([out.stdout, out.stderr])
            return out.returncode

        create = write_answers(lab, tmp_path / "create.toml", ["OCTO1", "OCTO2"])
        assert go("plan", str(create)) == 0
        assert go("export", str(create), "--output", str(tmp_path / "create.ps1")) == 0
        assert go("apply", str(create), "--yes") == 0
        assert go("apply", str(create), "--yes") == 0

        # The master key, as node 1 has it.
        p = lab.protocol("OCTO1", transport="credssp")
        shell = p.open_shell()
        code, out, _ = run(p, shell, f'"{EXE} show-master-key --instance Default --format json"')
        p.close_shell(shell)
        assert code == 0
        master_key = json.loads(out[out.index("{"):])["MasterKey"]

        join = write_answers(lab, tmp_path / "join.toml", ["OCTO3"], mode="join")
        join_env = {**env, "OCTOTUI_MASTER_KEY": master_key}
        assert go("export", str(join), "--output", str(tmp_path / "join.ps1")) == 0
        failed = octotui(join_env, "apply", str(join), "--yes")  # the MSI fault fails this run
        outputs += [failed.stdout, failed.stderr]
        assert failed.returncode == 1
        joined = octotui(join_env, "apply", str(join), "--yes")
        outputs += [joined.stdout, joined.stderr]
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert go("runs") == 0
        assert go("attach") == 0

        home = Path(env["OCTOTUI_HOME"])
        files = [f for f in home.rglob("*") if f.is_file()]
        files += [tmp_path / "create.ps1", tmp_path / "join.ps1"]
        assert any(f.name == "journal.jsonl" for f in files)
        assert any(f.suffix == ".log" and f.parent.name.startswith("OCTO") for f in files)
        secrets = [lab.ready["admin"]["password"], lab.ready["service_account"]["password"], master_key]
        assert scan(secrets, files, outputs) == []
        # Every file octotui wrote is readable by its owner only.
        assert all((f.stat().st_mode & 0o077) == 0 for f in home.rglob("*") if f.is_file())
