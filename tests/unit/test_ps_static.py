"""The PowerShell scripts in assets/ps, checked without running them (nothing here runs PowerShell).

The lab answers every script with a Python twin, so a script can be wrong in ways no other test sees: a
misspelt cmdlet, a parameter the cmdlet does not have, a variable read before anything assigns it, or a
body changed while its twin stayed as it was. Each check is also fed a script broken in exactly that way,
and must report exactly that problem.
"""

from __future__ import annotations

import json
import re

import pytest

from octotui.lab.ps_twins import SCRIPT_DIGESTS, TWINS
from octotui.resources import ps_script_names
from octotui.windows.scripts import ps_script
from tests.fixtures.ps_static import CATALOGUE_FILE, Catalogue, here_string_assignments, script_problems
from tests.fixtures.twin_digests import DIGESTS_AT, digest_problems, script_digest

SCRIPTS = ps_script_names()


def sent(name: str) -> str:
    return ps_script(name)


def broken(name: str, old: str, new: str) -> str:
    """``name`` as sent, with ``old`` (which must occur) replaced once by ``new``."""
    text = sent(name)
    assert old in text, f"{old!r} is not in {name}.ps1 any more: pick another line to break"
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


# --- the scripts as they are ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SCRIPTS)
def test_script_uses_only_known_commands_parameters_and_assigned_variables(name: str) -> None:
    assert script_problems(sent(name)) == []


#: Scripts carried inside a script as text (a here-string assigned to this variable), run on the node by
#: another powershell.exe: checked as scripts of their own.
EMBEDDED = {"invoke-as-user": ["taskWrapper"]}


@pytest.mark.parametrize(("name", "variable"), [(n, v) for n, vs in EMBEDDED.items() for v in vs])
def test_a_script_carried_as_text_is_checked_too(name: str, variable: str) -> None:
    found = here_string_assignments(sent(name))
    assert variable.lower() in found, f"{name}.ps1 no longer assigns ${variable} = @'...'@"
    _line, text = found[variable.lower()]
    assert "System.Diagnostics.ProcessStartInfo" in text  # the wrapper itself, not some other text
    assert script_problems(text) == []


def test_a_broken_script_carried_as_text_is_reported() -> None:
    text = broken("invoke-as-user", "$psi.WorkingDirectory = [string]$job['cwd']",
                  "$psi.WorkingDirectory = [string]$jbo['cwd']")
    start, wrapper = here_string_assignments(text)["taskwrapper"]
    line = line_of(text, "$jbo") - start + 1
    assert script_problems(wrapper) == [f"line {line}: $jbo is read before it is assigned"]


def test_the_scripts_are_the_ones_expected() -> None:
    """The parametrised test above must not pass by checking nothing."""
    assert {"bootstrap", "get-node-state", "invoke-as-user", "node-lease", "test-sql"} <= set(SCRIPTS)


def test_every_catalogue_entry_names_its_published_source() -> None:
    doc = json.loads(CATALOGUE_FILE.read_text())
    pattern = re.compile(r"^MicrosoftDocs/(PowerShell-Docs:reference/5\.1/|windows-powershell-docs:docset/)"
                         r"[\w.]+/(About/)?(?P<page>[\w-]+)\.md@[0-9a-f]{40}$")
    assert pattern.match(doc["common_parameters"]["source"])
    for name, entry in doc["cmdlets"].items():
        m = pattern.match(entry["source"])
        assert m is not None and m.group("page") == name, entry["source"]
        assert entry["parameters"], f"{name}: no parameters recorded"
    assert "progressaction" not in Catalogue.load().common  # PowerShell 7.4's, not 5.1's


# --- each check, fed a script broken in one way ----------------------------------------------------------

def test_a_misspelt_cmdlet_is_reported() -> None:
    text = broken("node-lease", "Start-Sleep -Milliseconds 50", "Start-Slep -Milliseconds 50")
    assert script_problems(text) == [
        f"line {line_of(text, 'Start-Slep')}: unknown command Start-Slep: not a function defined in the script "
        "or its helpers, nor a Windows PowerShell 5.1 cmdlet in cmdlets.json"]


def test_a_misspelt_helper_function_is_reported() -> None:
    text = broken("get-node-state", "Write-OctoResult ([ordered]@{\n", "Write-OctoResults ([ordered]@{\n")
    problems = script_problems(text)
    assert len(problems) == 1 and problems[0].startswith(f"line {line_of(text, 'Write-OctoResults')}: unknown "
                                                         "command Write-OctoResults")


def test_an_unknown_cmdlet_parameter_is_reported() -> None:
    text = broken("invoke-as-user", "Remove-Item -LiteralPath $work -Recurse -Force",
                  "Remove-Item -LiteralPath $work -Recurse -Forse")
    assert script_problems(text) == [f"line {line_of(text, '-Forse')}: Remove-Item has no parameter -Forse"]


def test_a_parameter_prefix_or_another_cmdlets_parameter_is_reported() -> None:
    text = broken("node-lease", "Start-Sleep -Milliseconds 50", "Start-Sleep -Milli 50 -LiteralPath x")
    line = line_of(text, "-Milli ")
    assert script_problems(text) == [f"line {line}: Start-Sleep has no parameter -LiteralPath",
                                     f"line {line}: Start-Sleep has no parameter -Milli"]


def test_common_parameters_and_aliases_are_known_but_not_for_a_plain_function() -> None:
    text = broken("get-node-state", "Get-CimInstance -ClassName Win32_ComputerSystem",
                  "Get-CimInstance -ClassName Win32_ComputerSystem -ea Stop -OutVariable o -WarningAction Ignore")
    text = text.replace("Get-Item -LiteralPath", "Get-Item -PSPath", 1)  # LiteralPath's alias in the reference
    assert script_problems(text) == []
    text = broken("get-node-state", "$paths = @(Get-OctoParam $P 'paths' @())",
                  "$paths = @(Get-OctoParam $P 'paths' @() -ErrorAction Stop)")
    assert script_problems(text) == [f"line {line_of(text, '-ErrorAction Stop)')}: the function Get-OctoParam "
                                     "has no parameter -ErrorAction"]


def test_a_function_parameter_is_checked_by_name() -> None:
    text = broken("get-node-state", "$paths = @(Get-OctoParam $P 'paths' @())",
                  "$paths = @(Get-OctoParam -Params $P -Name 'paths' -Fallback @())")
    assert script_problems(text) == [f"line {line_of(text, '-Fallback')}: the function Get-OctoParam has no "
                                     "parameter -Fallback"]


def test_an_unassigned_variable_is_reported() -> None:
    text = broken("node-lease", "    Write-OctoResult $result\n", "    Write-OctoResult $reslt\n")
    assert script_problems(text) == [f"line {line_of(text, '$reslt')}: $reslt is read before it is assigned"]


def test_a_variable_read_before_its_assignment_is_reported() -> None:
    text = broken("test-share", "$ErrorActionPreference = 'Stop'\n", "$ErrorActionPreference = 'Stop'\n$early = $P\n")
    assert script_problems(text) == [f"line {line_of(text, '$early = $P')}: $P is read before it is assigned"]


def test_a_function_sees_only_what_every_caller_has_assigned() -> None:
    """Dynamic scope: Get-LeaseTime reads $culture and $roundtrip, which the script assigns before it
    calls it. Assigned only after the first call, they are reported inside the function."""
    original = sent("node-lease")
    moved = original.replace("$culture = [System.Globalization.CultureInfo]::InvariantCulture\n", "", 1)
    moved = moved.replace("Write-OctoResult $result\n", "Write-OctoResult $result\n"
                          "$culture = [System.Globalization.CultureInfo]::InvariantCulture\n", 1)
    assert moved != original
    problems = script_problems(moved)
    assert problems and all(p.endswith("$culture is read before it is assigned") for p in problems)
    assert line_of(original, "[DateTime]::Parse([string]$Lease[$Name], $culture, $roundtrip)") - 1 in \
        [int(p.split(":")[0].split()[1]) for p in problems]


def test_a_script_blocks_parameter_is_assigned_only_inside_it() -> None:
    text = broken("_helpers", "param($m) '\\u{0:x4}' -f [int][char]$m.Value",
                  "param($n) '\\u{0:x4}' -f [int][char]$m.Value")
    assert script_problems(text) == [f"line {line_of(text, '$m.Value')}: $m is read before it is assigned"]


def test_what_a_script_block_assigns_stays_inside_it() -> None:
    text = broken("test-share", "$ErrorActionPreference = 'Stop'\n",
                  "$ErrorActionPreference = 'Stop'\n$null = { $inside = 1 }\n$outside = $inside\n")
    assert script_problems(text) == [f"line {line_of(text, '$outside')}: $inside is read before it is assigned"]


def test_constructs_that_assign_or_are_automatic_are_not_reported() -> None:
    body = "\n".join([
        "param([string]$ParamsJson = '', $Second = $ParamsJson)",
        "$ErrorActionPreference = 'Stop'",
        "$n = 0",
        "$ok = [int]::TryParse('5', [ref]$parsed)",
        "$total = $parsed + $n",
        "$total += 1",
        "foreach ($item in @(1, 2)) { $last = $item }",
        "for ($i = 0; $i -lt 2; $i++) { $last = $i }",
        "if ('x' -match 'x') { $found = $Matches[0] }",
        "$script:shared = 1",
        "$copy = $script:shared + $shared",
        "$limit = 8MB",
        "$where = $env:ProgramData + $PSScriptRoot + $MyInvocation.MyCommand.Name + $LASTEXITCODE",
        "$filtered = @(1, 2) | Where-Object { $_ -gt 1 } | Sort-Object",
        "try { throw 'x' } catch { $message = $_.Exception.Message }",
        "$h = @{}; $h.key = $Second; $h[$n] = $where",
        "$text = \"$last $found $copy $limit $ok $filtered $message $total\"",
        "exit 0",
    ])
    assert script_problems(body + "\n") == []


def test_a_compound_assignment_reads_the_variable() -> None:
    assert script_problems("$count += 1\n") == ["line 1: $count is read before it is assigned"]


def test_a_script_that_does_not_parse_reports_its_syntax_errors() -> None:
    text = broken("test-share", "$ErrorActionPreference = 'Stop'\n", "$ErrorActionPreference = ('Stop'\n")
    problems = script_problems(text)
    assert problems and all("syntax error" in p or "missing" in p for p in problems)


# --- each script tied to its twin -------------------------------------------------------------------------

def all_sent() -> dict[str, str]:
    return {f"assets/ps/{name}.ps1": sent(name) for name in SCRIPTS}


def test_every_twin_was_reviewed_against_its_script_as_it_is_now() -> None:
    problems = digest_problems(all_sent(), SCRIPT_DIGESTS, TWINS)
    assert problems == [], "\n".join(problems)


def test_every_twin_has_a_digest_and_every_script_a_twin() -> None:
    assert set(TWINS) <= set(SCRIPT_DIGESTS)
    assert set(SCRIPT_DIGESTS) - set(TWINS) == {("bootstrap", 1)}  # the lab's powershell.exe runs it itself


def test_a_body_changed_without_its_twin_is_reported_with_what_to_do() -> None:
    scripts = all_sent()
    changed = broken("test-sql", "$ErrorActionPreference = 'Stop'\n", "$ErrorActionPreference = 'Continue'\n")
    scripts["assets/ps/test-sql.ps1"] = changed
    problems = digest_problems(scripts, SCRIPT_DIGESTS, TWINS)
    now = script_digest(changed)
    assert problems == [
        f"assets/ps/test-sql.ps1 (test-sql v2) changed since its twin was reviewed (digest {now}, the twin was "
        f"reviewed against {SCRIPT_DIGESTS[('test-sql', 2)]}): review the twin octotui/lab/ps_twins/sql_probe.py "
        f"against the new script (raise v2 if its parameters or result changed), then set "
        f'SCRIPT_DIGESTS[("test-sql", 2)] = "{now}" in {DIGESTS_AT}']


def test_a_changed_helper_is_a_change_to_every_script() -> None:
    scripts = {name: text.replace("[Console]::Out.Flush()", "[Console]::Out.Flush(); ") for name, text in
               all_sent().items()}
    problems = digest_problems(scripts, SCRIPT_DIGESTS, TWINS)
    carrying = [name for name in SCRIPTS if "[Console]::Out.Flush()" in sent(name)]
    assert len(carrying) >= 10
    assert sorted(p.split(" ", 1)[0] for p in problems) == sorted(f"assets/ps/{n}.ps1" for n in carrying)


def test_a_new_script_without_a_digest_and_a_stale_digest_are_reported() -> None:
    scripts = all_sent()
    scripts["assets/ps/new-thing.ps1"] = "# octotui-ps: new-thing v1\nexit 0\n"
    del scripts["assets/ps/wait-ping.ps1"]
    problems = digest_problems(scripts, SCRIPT_DIGESTS, TWINS)
    assert len(problems) == 2
    assert problems[0].startswith("assets/ps/new-thing.ps1 (new-thing v1) has no recorded digest: write or "
                                  "review its twin ((no twin))")
    assert problems[1].startswith(f"SCRIPT_DIGESTS in {DIGESTS_AT} holds wait-ping v1, which no script")


def test_a_script_without_a_header_is_reported() -> None:
    problems = digest_problems({"assets/ps/x.ps1": "exit 0\n"}, SCRIPT_DIGESTS, {})
    assert problems[0] == "assets/ps/x.ps1 has no '# octotui-ps: <name> v<N>' first line, so no twin can answer it"
