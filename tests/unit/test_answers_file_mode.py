"""Saving answers writes a private file, and leaves the user's own folder as the user has it."""

from __future__ import annotations

import stat
from pathlib import Path

from octotui.spec.writer import read_answers_data, write_answers_file

ANSWERS = {"mode": "create", "octopus_version": "2025.3.1234", "nodes": [{"host": "octo1.corp.example.com"}]}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_answers_saved_into_a_users_folder_keep_that_folder_as_it_was(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    project.chmod(0o755)
    saved = write_answers_file(project / "cluster.toml", ANSWERS)
    assert _mode(project) == 0o755
    assert _mode(saved) == 0o600
    assert read_answers_data(saved)["nodes"] == [{"host": "octo1.corp.example.com"}]


def test_a_missing_folder_is_created_private(tmp_path: Path) -> None:
    saved = write_answers_file(tmp_path / "new" / "cluster.toml", ANSWERS)
    assert _mode(saved.parent) == 0o700
    assert _mode(saved) == 0o600
