"""The console script: --help and --version on every subcommand, clean errors for bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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


# --- issue 7, item 10 ---------------------------------------------------------------------------------------


def test_help_lists_no_internal_command() -> None:
    helped = run("--help")
    assert helped.returncode == 0
    assert "_runner" not in helped.stdout and "SUPPRESS" not in helped.stdout
    commands = {line.split()[0] for line in helped.stdout.splitlines() if re.match(r" {4}\S", line)}
    assert commands >= {"lab", "plan", "apply", "attach", "runs", "export", "check"}
    assert not any(c.startswith("_") for c in commands)
    # The runner is still there for `apply` to start, just not offered.
    assert "usage: octotui _runner" in run("_runner").stderr


def test_lab_up_help_says_which_state_folder_it_uses() -> None:
    helped = " ".join(run("lab", "up", "--help").stdout.split())
    assert "a new folder" not in helped
    assert ("default: OCTOTUI_HOME/lab/default, the same folder every time, so a second start resumes the "
            "first one's world") in helped


ANSWERS = """\
mode = "create"
octopus_version = "2025.3.1234"
[winrm]
username = 'CORP\\admin'
{winrm_extra}
[[nodes]]
host = "octo1.corp.example.com"
[service_account]
username = 'CORP\\svcOctopus'
[sql]
connection_string = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"
[storage]
cluster_shared = '\\\\files01\\OctopusShared'
[install]
source = "chocolatey"
[admin]
username = 'CORP\\jane'
"""


def quiet_env(tmp_path: Path) -> dict[str, str]:
    """No secret from this machine, no keyring that works, no terminal to prompt on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOTUI_")}
    env.update(OCTOTUI_HOME=str(tmp_path / "home"), PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def run_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "octotui", *args], capture_output=True, text=True, timeout=60,
                          env=quiet_env(tmp_path), stdin=subprocess.DEVNULL)


def test_a_garbage_ca_cert_is_bad_input_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("this is not a certificate\n")
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.format(winrm_extra='ca_cert = "ca.pem"'))
    result = run_in(tmp_path, "check", str(answers))
    assert result.returncode == 2
    assert (f"  winrm.ca_cert: the CA certificate file '{tmp_path / 'ca.pem'}' holds no PEM certificate\n"
            in result.stderr)
    assert "unexpectedly" not in result.stdout + result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["check"], ["apply", "--yes"]])
def test_error_messages_share_one_prefix(tmp_path: Path, command: list[str]) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.format(winrm_extra=""))
    result = run_in(tmp_path, *command, str(answers))
    assert result.returncode == 2
    assert result.stderr.startswith("octotui: The WinRM password for CORP\\admin is not available: set "
                                    "OCTOTUI_WINRM_PASSWORD. No keyring works here"), result.stderr
    assert "keyring set" not in result.stderr


def test_check_option_errors_use_the_same_prefix(tmp_path: Path) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.format(winrm_extra=""))
    result = run_in(tmp_path, "check", str(answers), "--deadline", "0")
    assert result.returncode == 2
    assert result.stderr == "octotui: --deadline must be a positive number of seconds\n"


def test_lab_errors_use_the_same_prefix(tmp_path: Path) -> None:
    result = run("lab", "up", "--fault", "msi:exit=42", "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.startswith("octotui: --fault 'msi:exit=42': msi exit must be one of")
    result = run("lab", "inspect", "--state", str(tmp_path))
    assert result.stderr == f"octotui: no lab world in {tmp_path} (expected world.json there)\n"
