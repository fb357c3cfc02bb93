"""The console script: --help and --version on every subcommand, clean errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from octotui import __version__

SUBCOMMANDS = [[], ["lab"], ["lab", "up"], ["lab", "inspect"]]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "octotui", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda w: " ".join(w) or "octotui")
def test_every_subcommand_has_help_and_version(words: list[str]) -> None:
    helped = run(*words, "--help")
    assert helped.returncode == 0
    assert "usage: octotui" in helped.stdout
    versioned = run(*words, "--version")
    assert versioned.returncode == 0
    assert versioned.stdout.strip() == f"octotui {__version__}"


def test_lab_up_refuses_basic_over_plain_http_with_a_way_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run("lab", "up", "--auth", "basic", "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "--https" in result.stderr and "--allow-unencrypted" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_fault_spec_names_the_problem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run("lab", "up", "--fault", "msi:exit=42", "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "msi exit must be one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_of_a_folder_without_a_lab_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run("lab", "inspect", "--state", str(tmp_path))
    assert result.returncode == 2
    assert "no lab world" in result.stderr
