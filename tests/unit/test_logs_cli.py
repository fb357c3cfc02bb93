"""``octotui logs``: what it opens (files, a run, the latest run), and what it says instead of starting the
viewer when it cannot (no runs, an unknown run, a node without an answers file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from octotui.cli.logs import plan_sources
from octotui.errors import BadInput
from octotui.run.journal import JournalWriter, plan_summary
from octotui.run.store import create_run_dir
from octotui.secrets.redact import Redactor


def _run(home: Path) -> Path:
    run_dir = create_run_dir(home)
    with JournalWriter(run_dir, Redactor()) as j:
        j.run_started(mode="create", plan=plan_summary({"OCTO1": [("install", "Install")]}))
        j.step_started("OCTO1", "install", "Install")
        j.step_output("OCTO1", "install", "stdout", "done\n")
        j.step_done("OCTO1", "install", changed=True, duration_ms=1)
        j.run_finished("done")
    return run_dir


def test_files_open_as_given(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("x\n")
    b.write_text("y\n")
    sources, start, access = plan_sources([str(a), str(b)], home=tmp_path / "home")
    assert [s.path for s in sources] == [a, b] and start == 0 and access is None
    assert {s.kind for s in sources} == {"file"}


def test_the_latest_run_or_one_by_prefix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_dir = _run(home)
    sources, _start, _access = plan_sources([], home=home)
    assert sources[0].kind == "journal" and sources[0].run == run_dir.name
    assert any(s.kind == "step" and (s.node, s.step) == ("OCTO1", "install") for s in sources)
    by_prefix, _s, _a = plan_sources([run_dir.name[:15]], home=home)
    assert by_prefix == sources


def test_what_it_says_instead(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(BadInput, match="No runs under"):
        plan_sources([], home=home)
    with pytest.raises(BadInput, match="neither a file nor a run"):
        plan_sources(["no-such-thing"], home=home)
    _run(home)
    with pytest.raises(BadInput, match="needs the answers file") as caught:
        plan_sources([], node="OCTO1", home=home)
    assert "--answers" in caught.value.hint
