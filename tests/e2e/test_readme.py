"""The README as a new user reads it: what it tells them to type works, and what it says they will see is what
they see."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from octotui import __version__
from tests.fixtures.lab_dc import DcLab

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under a ``##`` or ``###`` heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"no section {title!r} in the README"
    return match.group(1)


def test_the_quick_start_leaves_octotui_usable_as_a_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", section("Quick start"), re.S)
    activate = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()
                if line.startswith(". ")]
    assert activate, "the quick start does not say how to get `octotui` on PATH"
    plain_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    script = f"command -v octotui || echo 'not on PATH'; {activate[0]} && octotui --version"
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": plain_path, "HOME": str(ROOT)})
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.splitlines()
    assert before == "not on PATH" or not before.startswith(str(ROOT))
    assert after == f"octotui {__version__}"


@pytest.mark.slow
def test_check_on_the_labs_answers_shows_what_the_readme_says(tmp_path: Path) -> None:
    from tests.fixtures.cli import octotui, octotui_env
    from tests.fixtures.lab import running_lab

    notes = [p for p in section("The lab").split("\n\n") if p.startswith("What `octotui check")]
    assert notes, "the README does not say what `octotui check` shows on the lab's own answers"
    note = " ".join(notes[0].split())
    said_to_fail = set(re.findall(r"`([a-z]+\.[a-z]+)` fails", note))
    assert said_to_fail == {"ad.account", "share.write"}
    with running_lab(tmp_path / "lab", "--nodes", "2") as lab:
        out = octotui(octotui_env(lab, tmp_path), "check", str(lab.state / "answers.toml"), "--json", timeout=120)
    results = {r["id"]: r for r in json.loads(out.stdout)}
    assert ("exits 1" in note) == (out.returncode == 1)
    assert {i for i, r in results.items() if r["status"] == "fail"} == said_to_fail, out.stdout
    assert {i for i, r in results.items() if r["status"] == "skip"} == {"cluster.version"}
    assert {r["status"] for r in results.values()} == {"pass", "fail", "skip"}
    assert results["ad.account"]["summary"] == "Cannot find a domain controller for WORK\\svcOctopus"
    # The README quotes the start of each failure's summary. The suite's own Samba DC may be serving SMB on
    # 127.0.0.1:445 while this runs; it does not know the lab's service account, so the share still fails.
    assert '("Cannot find a domain controller for WORK\\svcOctopus")' in note
    assert '("File server 127.0.0.1 unreachable")' in note
    # Whether that DC listens can change while the check runs (another session's DC starting or stopping), so
    # either answer is right; both say the share was not reached as the service account.
    summary = results["share.write"]["summary"]
    assert (summary.startswith("Account refused by 127.0.0.1: ")
            or summary == "File server 127.0.0.1 unreachable: connection refused on port 445"), summary


@pytest.mark.slow
def test_check_on_the_answers_of_a_lab_with_dc_is_all_green(lab_with_dc: DcLab, tmp_path: Path) -> None:
    from tests.fixtures.cli import octotui, octotui_env

    notes = [p for p in section("The lab").split("\n\n") if p.startswith("What `octotui check")]
    note = " ".join(notes[0].split())
    assert "With `--dc` every check passes (`cluster.version` is skipped in create mode) and it exits 0." in note
    dc_paragraph = [p for p in section("The lab").split("\n\n") if p.startswith("`--dc` makes")]
    assert dc_paragraph and "127.0.0.2" in dc_paragraph[0]
    lab = lab_with_dc.lab
    out = octotui(octotui_env(lab, tmp_path), "check", str(lab.state / "answers.toml"), "--json", timeout=120)
    results = {r["id"]: r for r in json.loads(out.stdout)}
    assert out.returncode == 0, out.stdout + out.stderr
    assert {i for i, r in results.items() if r["status"] != "pass"} == {"cluster.version"}, out.stdout
    assert results["cluster.version"]["status"] == "skip"

