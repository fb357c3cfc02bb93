"""An answers file from someone else cannot drive the terminal, nor flood it, through `plan` or `check`.

Every value below is refused (no answer needs a control character or a megabyte); what matters here is how
the refusal reads: each value shown with its control characters escaped and, when long, shortened, and the
whole output a few kilobytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "create-cluster.toml"
#: Bytes a terminal acts on: C0 controls but newline, DEL, and C1 controls (as UTF-8).
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")

#: (what the example says, what the hostile file says instead; {v} is the hostile value in TOML).
FIELDS = {
    "instance": ('instance = "Default"', 'instance = "De{v}fault"'),
    "winrm.username": ("username = 'CORP\\octoadmin'", 'username = "CORP\\\\octo{v}admin"'),
    "nodes[1].host": ('host = "octo1.corp.example.com"', 'host = "octo1{v}.corp.example.com"'),
    "sql.connection_string": ("Initial Catalog=Octopus;", "Initial Catalog=Oct{v}opus;"),
    "install.source": ("octopus/Octopus.2025.3.1234-x64.msi", "octopus/{v}/Octopus.2025.3.1234-x64.msi"),
    "web.listen_prefixes[1]": ('listen_prefixes = ["http://+:80/"]', 'listen_prefixes = ["http://+:80/{v}"]'),
    "admin.username": ("username = 'CORP\\jane.doe'", 'username = "CORP\\\\jane{v}"'),
    "a key": ("force_ssl = false", 'force_ssl = false\n"key{v}" = 1'),
}
#: name -> (the value as TOML writes it, how the output shows it)
VALUES = {
    "esc": ("\\u001b]0;owned\\u0007\\u001b[2J", "\\x1b]0;owned\\x07\\x1b[2J"),
    "bel": ("ding\\u0007", "ding\\x07"),
    "cr": ("FAKE\\rOK", "FAKE\\rOK"),
    "nul": ("nul\\u0000byte", "nul\\x00byte"),
    "del-c1": ("x\\u007f\\u009b6n", "x\\x7f\\x9b6n"),
}
MEGABYTE = 1_000_000


def hostile_answers(tmp_path: Path, value: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in FIELDS.values():
        assert text.count(old) == 1, old
        text = text.replace(old, new.replace("{v}", value))
    path = tmp_path / "answers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def octotui(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, OCTOTUI_HOME=str(tmp_path / "home"), OCTOTUI_WINRM_PASSWORD="winrm-pw",
               OCTOTUI_SERVICE_PASSWORD="service-pw", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "octotui", *args], capture_output=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", [["plan"], ["check", "--deadline", "1"], ["check", "--json"]],
                         ids=["plan", "check", "check-json"])
@pytest.mark.parametrize("name", list(VALUES))
def test_control_characters_in_answers_are_shown_escaped_never_sent_raw(
        tmp_path: Path, command: list[str], name: str) -> None:
    toml_value, escaped = VALUES[name]
    result = octotui(tmp_path, *command, str(hostile_answers(tmp_path, toml_value)))
    out = result.stdout + result.stderr
    assert result.returncode == 2
    assert not RAW_CONTROL.search(out), out[:2000]
    assert b"Traceback" not in out
    text = out.decode("utf-8")
    for key in FIELDS:
        if key != "a key":
            assert f"  {key}: " in text  # every hostile value is a problem of its own key
    assert text.count(escaped) >= len(FIELDS) - 1  # and shown, escaped, where the message quotes it
    assert len(out) < 20_000


@pytest.mark.parametrize("command", [["plan"], ["check", "--deadline", "1"]], ids=["plan", "check"])
def test_a_megabyte_value_is_shown_shortened_with_its_length(tmp_path: Path, command: list[str]) -> None:
    result = octotui(tmp_path, *command, str(hostile_answers(tmp_path, "A" * MEGABYTE)))
    out = result.stdout + result.stderr
    assert result.returncode == 2
    assert b"Traceback" not in out
    assert len(out) < 10_000, f"{len(out)} bytes of output"
    text = out.decode("utf-8")
    assert "  install.source: " in text and "  sql.connection_string: " in text
    assert re.search(r"AAA…\[\d{7} characters in all\]…AAA", text)


def test_a_flood_of_problems_is_cut_short(tmp_path: Path) -> None:
    nodes = "".join(f'[[nodes]]\nhost = "bad_host_{i}"\n' for i in range(5000))
    path = tmp_path / "answers.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").split("[[nodes]]", 1)[0] + nodes, encoding="utf-8")
    result = octotui(tmp_path, "plan", str(path))
    assert result.returncode == 2
    text = result.stderr.decode("utf-8")
    assert "problems in the answers file" in text and "more: fix these first" in text
    assert len(text) < 20_000


def test_an_answers_path_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    result = octotui(tmp_path, "plan", str(tmp_path / "answers\x1b]0;owned\x07.toml"))
    assert result.returncode == 2
    assert not RAW_CONTROL.search(result.stdout + result.stderr)
    assert b"answers\\x1b]0;owned\\x07.toml" in result.stderr
