"""Every PowerShell text octotui emits or sends parses with a real PowerShell grammar (tree-sitter-powershell).

What is checked is what leaves octotui: each script in assets/ps as it travels on stdin (with the shared
helpers inserted), the bootstrap behind every ``-EncodedCommand`` line (decoded), and ``octotui export`` for
both example answers files and for answers full of awkward values (quotes, ``$``, backticks, unicode). The
export is code: it must hold no secret, and it must not be masked into something that does not parse.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from octotui.windows.scripts import HELPERS_MARKER, SCRIPT_SEPARATOR, bootstrap_command_line, ps_script, script_stdin
from tests.fixtures.cli import octotui, octotui_env, write_answers
from tests.fixtures.lab import running_lab
from tests.fixtures.psgrammar import syntax_problems

ROOT = Path(__file__).resolve().parents[2]
PS_DIR = ROOT / "assets" / "ps"
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.toml"))


def export(answers: Path, env: dict[str, str] | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "octotui", "export", str(answers), "--format", "powershell",
                           *extra], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=env if env is not None else clean_env(), stdin=subprocess.DEVNULL)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTOTUI_", "PYTHON_KEYRING"))}
    env.update(extra)
    return env


def toml_str(value: str) -> str:
    """A TOML basic string: backslash, quote and controls escaped, everything else as is (unicode too)."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", out) + '"'


def awkward_answers(folder: Path, source: str) -> Path:
    """A lab-like create-mode answers file whose values are as awkward as the answers parser lets through."""
    licence = folder / "lic'en$se `ü.xml"
    licence.write_text("<License/>", encoding="utf-8")
    values = {
        "instance": "Ops' $(x) $y `n “Prod” ‘Zürich’ 😀",
        "home": "C:\\Octo'pus $(Get-Date) `t\\Zürich “x” ‘y’ ''",
        "service": "CORP\\svc'O$ctopus`",
        "admin": "CORP\\jane'o$doe`",
        "connection_string": "Data Source=127.0.0.1;Initial Catalog=Oct'o$pus `x ü;Integrated Security=True;",
        "share": "\\\\127.0.0.1\\Octo'pus $Shared `x ü",
        "prefix": "http://+:80/o'x$y/",
    }
    text = "\n".join([
        'mode = "create"', 'octopus_version = "2025.3.1234"', f"instance = {toml_str(values['instance'])}",
        "[winrm]", f"username = {toml_str(chr(92).join(['WORK', 'lab$admin`']))}",
        'transport = "ntlm"', "https = false",
        "[[nodes]]", 'host = "OCTO1"', 'endpoint = "http://127.0.0.1:5985/wsman"',
        f"home = {toml_str(values['home'])}",
        "[[nodes]]", 'host = "octo-2.work.lab"',
        "[service_account]", f"username = {toml_str(values['service'])}",
        "[sql]", f"connection_string = {toml_str(values['connection_string'])}",
        "[storage]", f"cluster_shared = {toml_str(values['share'])}",
        "[web]", f"listen_prefixes = [{toml_str(values['prefix'])}]",
        "[install]", f"source = {toml_str(source)}",
        "[admin]", f"username = {toml_str(values['admin'])}",
        "[license]", f"file = {toml_str(licence.name)}",
    ]) + "\n"
    path = folder / "awkward.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the checker itself -----------------------------------------------------------------------------------


def test_the_grammar_refuses_what_powershell_refuses() -> None:
    """The check is not vacuous: the broken export of issue 7, an unclosed block, a string cut short by a
    quote (plain or typographic) are each reported; their repaired forms are not."""
    masked = ("$env:OCTOPUS_SERVICE_PASSWORD = ********\n"
              "try { Invoke-Octopus @('service') } finally { Remove-Item Env:\\OCTOPUS_SERVICE_PASSWORD }\n")
    assert syntax_problems(masked)
    assert syntax_problems("if ($x) { Write-Host 'a'\n")
    assert syntax_problems("Write-Host 'it's'\n")
    assert syntax_problems("Write-Host 'it’s'\n")
    assert syntax_problems("$env:OCTOPUS_SERVICE_PASSWORD = Read-Secret 'Password of CORP\\svc'\n") == []
    assert syntax_problems("if ($x) { Write-Host 'it''s', 'it’’s' }\n") == []


# --- the scripts sent to the nodes ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(PS_DIR.glob("*.ps1")), ids=lambda p: p.name)
def test_every_script_in_assets_parses_as_sent(path: Path) -> None:
    name = path.stem
    if name.startswith("_"):
        text = path.read_text(encoding="utf-8")  # the shared helpers: a part of every script, checked alone too
    else:
        sent = script_stdin(name, {"paths": []}).decode("ascii")
        text = sent.split(SCRIPT_SEPARATOR, 1)[0]
        assert text == ps_script(name)
        assert HELPERS_MARKER not in text
        if HELPERS_MARKER in path.read_text(encoding="utf-8"):
            assert (PS_DIR / "_helpers.ps1").read_text(encoding="utf-8") in text
    assert syntax_problems(text) == []


def test_the_task_wrapper_invoke_as_user_writes_to_the_node_parses() -> None:
    """invoke-as-user writes the script its scheduled task runs (``$taskWrapper``, a here-string) to
    ``run.ps1`` on the node: PowerShell that octotui sends, inside a string the grammar does not look into."""
    text = ps_script("invoke-as-user")
    match = re.search(r"^\$taskWrapper = @'\r?\n(.*?)\r?\n'@$", text, re.DOTALL | re.MULTILINE)
    assert match is not None
    assert "WriteAllText($runner, $taskWrapper" in text
    assert syntax_problems(match.group(1)) == []


def test_the_bootstrap_line_carries_a_script_that_parses() -> None:
    # The one loader every script (and every script run as another account) goes through.
    argv = bootstrap_command_line().split()
    assert argv[0].lower() == "powershell.exe"
    encoded = argv[argv.index("-EncodedCommand") + 1]
    script = base64.b64decode(encoded, validate=True).decode("utf-16-le")
    assert script == ps_script("bootstrap")
    assert syntax_problems(script) == []


def test_every_encoded_command_a_run_sends_parses(tmp_path: Path) -> None:
    """What the nodes really received in a run (create on two nodes, as the WinRM user and through
    scheduled tasks as another account): every ``-EncodedCommand`` decodes to the bootstrap, which parses."""
    with running_lab(tmp_path / "state", "--nodes", "2") as lab:
        env = octotui_env(lab, tmp_path)
        answers = write_answers(lab, tmp_path / "create.toml", ["OCTO1", "OCTO2"])
        out = octotui(env, "apply", str(answers), "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        lines = [p["command_line"] for n in lab.inspect()["nodes"] for p in n["process_log"]]
    encoded = {m for line in lines for m in re.findall(r"-EncodedCommand\s+([A-Za-z0-9+/=]+)", line)}
    assert encoded, "the run sent no script"
    for b64 in encoded:
        script = base64.b64decode(b64, validate=True).decode("utf-16-le")
        assert script == ps_script("bootstrap")
        assert syntax_problems(script) == []


# --- the export ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answers", EXAMPLES, ids=lambda p: p.name)
def test_export_of_each_example_parses(answers: Path, tmp_path: Path) -> None:
    out = export(answers)
    assert out.returncode == 0, out.stderr
    assert syntax_problems(out.stdout) == []
    assert "Read-Secret" in out.stdout and "********" not in out.stdout

    target = tmp_path / "octopus-ha.ps1"
    written = export(answers, None, "-o", str(target))
    assert written.returncode == 0, written.stderr
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, for Windows PowerShell 5.1
    assert syntax_problems(data[3:].decode("utf-8")) == []


@pytest.mark.parametrize("source", [
    "https://download.example.com/it's/$x/`y/Octopus.2025.3.1234-x64.msi",
    "C:\\It's $x `y ü\\Octopus.2025.3.1234-x64.msi",
    "chocolatey",
    "LOCAL",
])
def test_export_with_awkward_values_parses_and_keeps_them(tmp_path: Path, source: str) -> None:
    if source == "LOCAL":  # an installer on this console, to copy next to the script
        msi = tmp_path / "it's $x `y ü" / "Octopus.2025.3.1234-x64.msi"
        msi.parent.mkdir()
        msi.write_bytes(b"MSI")
        source = str(msi)
    answers = awkward_answers(tmp_path, source)
    out = export(answers)
    assert out.returncode == 0, out.stderr
    assert syntax_problems(out.stdout) == []
    # The values arrive intact, as single-quoted literals (nothing in them expands).
    for literal in ("'Ops'' $(x) $y `n “Prod” ‘‘Zürich’’ 😀'", "'CORP\\svc''O$ctopus`'",
                    "'CORP\\jane''o$doe`'", "'\\\\127.0.0.1\\Octo''pus $Shared `x ü'"):
        assert literal in out.stdout


def test_export_holds_no_secret_from_the_environment_or_the_keyring(tmp_path: Path) -> None:
    """Secrets set in the environment and in a real keyring backend never reach the export (stdout or
    file), and the export still parses: it asks for them when it runs."""
    secrets = {"OCTOTUI_WINRM_PASSWORD": "Winrm'pa$$`word-4711",
               "OCTOTUI_SERVICE_PASSWORD": "Svc-pa55word-“quoted”-0815",
               "OCTOTUI_MASTER_KEY": base64.b64encode(bytes(range(7, 39))).decode()}
    keyring_values = {"winrm:CORP\\octoadmin": "Keyring-winrm-secret-1",
                      "service:CORP\\svcOctopus": "Keyring-service-secret-2",
                      "master-key:sql01.corp.example.com/octopus": base64.b64encode(bytes(range(16))).decode()}
    env = clean_env(PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
                    XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                    OCTOTUI_HOME=str(tmp_path / "home"), **secrets)
    for user, value in keyring_values.items():
        subprocess.run([sys.executable, "-c", "import keyring, sys; keyring.set_password('octotui', *sys.argv[1:])",
                        user, value], env=env, check=True, timeout=60)
    leaks = list(secrets.values()) + list(keyring_values.values())
    for answers in EXAMPLES:
        out = export(answers, env)
        target = tmp_path / f"{answers.stem}.ps1"
        written = export(answers, env, "--output", str(target))
        assert out.returncode == 0 and written.returncode == 0, out.stderr + written.stderr
        texts = [out.stdout, out.stderr, written.stdout, written.stderr, target.read_text(encoding="utf-8-sig")]
        for text in texts:
            for value in leaks:
                assert value not in text
                assert base64.b64encode(value.encode("utf-16-le")).decode()[:12] not in text
        assert syntax_problems(out.stdout) == []


def test_export_refuses_to_write_a_secret_that_is_also_a_name(tmp_path: Path) -> None:
    """A password that is also a value of the answers file would be in the script: nothing is written, and
    the message names the variable, not the value."""
    answers = EXAMPLES[0]
    target = tmp_path / "octopus-ha.ps1"
    out = export(answers, clean_env(OCTOTUI_SERVICE_PASSWORD="svcOctopus"), "-o", str(target))
    assert out.returncode == 2
    assert "OCTOTUI_SERVICE_PASSWORD" in out.stderr and "svcOctopus" not in out.stderr
    assert not target.exists() and out.stdout == ""
