"""Windows quoting (octotui.windows.quoting) judged by the lab's own cmd.exe and argv parser, not by the engine's.

A test-only program, ``argv-echo``, sits on a lab node at paths that need quoting (a space, then cmd's special
characters); it prints the argv the lab's C-runtime splitter gave it and the raw line it received. Property tests
send any value through ``cmd_line`` -> the lab's ``cmd.exe /c`` -> the program, in-process and over real WinRM
with pywinrm, and require exactly the intended argv back. A strict model of ``CommandLineToArgvW`` (written here,
refusing the constructs where it and the C runtime disagree) checks that the received line means the same to
both parsers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octotui.lab import provision, wiring
from octotui.lab.identity import Identity
from octotui.lab.process import ProcessContext
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.winargs import split_windows_args
from octotui.windows.quoting import (
    CMD_MAX_LINE,
    UnsafeArgumentError,
    argv_to_command_line,
    cmd_line,
    ps_literal,
)

ADMIN = Identity("WORK\\labadmin")
#: Variables with names cmd allows but nobody should rely on: a reference split across two arguments must not
#: reach them either.
ODD_VARIABLES = {"A B": "EXPANDED-1", " LEAD": "EXPANDED-2", "X&Y": "EXPANDED-3"}
ECHO_MARKER = b"#lab-program:argv-echo\n"
#: Where argv-echo lives on the node: with a space; with cmd's specials (and , ; = which cmd treats as
#: delimiters in a command name); and a plain path that needs no quotes at all.
PROGRAMS = (
    "C:\\Tools\\argv echo.exe",
    "C:\\Tools\\A&B (x86)^!,;=\\argv-echo.exe",
    "C:\\Tools\\argvecho.exe",
)
#: Values that differ from the intended argv if any layer gets its rules wrong.
FRAGMENTS = (
    "%PATH%", "%USERNAME%", "%COMPUTERNAME%", "%CD%", "%ERRORLEVEL%", "%RANDOM%", "%ProgramFiles(x86)%",
    "%PATH:~0,3%", "%PATH:a=b%", "%%PATH%%", "%^PATH%", '%"PATH"%', "%", "%%", "%A", "B%", "%A B%", "%X&Y%",
    '"', '""', '\\"', '\\\\"', "\\", "\\\\", '^"', "^", "^^", " ", "\t", "  ",
    " & echo pwned & ", "|", "||", "&&", "<", ">", ">>", "2>&1", "(", ")", "!PATH!", "!",
    "$env:PATH", "`n", "'", "C:\\Program Files\\", "=", ",", ";", "@", "/c", "-x",
    "é", "中文", "\u00a0", "\u2018\u2019", "\uff02", "😀", "𝄞", "\u0085", "\u007f",
)
SPECIAL_CHARS = '"\\%^&|<>()!$`\' \t=,;@'
#: Every character a value may hold: printable BMP and astral, DEL and C1 controls, tab; not the refused ones.
ANY_CHAR = st.characters(min_codepoint=0x20, exclude_categories=["Cs"]).filter(
    lambda c: c not in "\ufffe\uffff") | st.just("\t")
VALUE = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(st.sampled_from(SPECIAL_CHARS), max_size=4),
              st.text(ANY_CHAR, max_size=6)),
    max_size=6,
).map("".join)
ARGV = st.tuples(st.sampled_from(PROGRAMS), st.lists(VALUE, max_size=5)).map(lambda t: [t[0], *t[1]])


# --- the lab node -------------------------------------------------------------------------------------------

def argv_echo(ctx: ProcessContext, argv: list[str], line: str) -> int:
    """Test program: report the argv the lab split for it and the raw line it was started with."""
    ctx.println(json.dumps({"argv": argv, "line": line}))
    return 0


@dataclass
class Node:
    runtime: NodeRuntime

    def run(self, line: str, *, skip_cmd_shell: bool = False) -> tuple[int, str, str]:
        proc = self.runtime.spawn(line, ADMIN, env_extra=ODD_VARIABLES, codepage=65001,
                                  skip_cmd_shell=skip_cmd_shell)
        proc.stdin.feed(b"", True)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + 30
        while True:
            o, e, done, code = proc.output.drain(1 << 20, 5)
            out += o
            err += e
            if done:
                assert code is not None
                return code, out.decode("utf-8"), err.decode("utf-8")
            assert time.monotonic() < deadline, "the command did not finish"

    def echo(self, line: str, *, skip_cmd_shell: bool = False) -> tuple[list[str], str]:
        code, out, err = self.run(line, skip_cmd_shell=skip_cmd_shell)
        assert (code, err) == (0, ""), (line, out, err)
        report = json.loads(out)
        return report["argv"], report["line"]


def make_node() -> Node:
    world = provision.new_world(1)
    node = world.nodes[0]
    for path in PROGRAMS:
        node.fs.write(path, ECHO_MARKER, make_parents=True)
    programs = {**wiring.all_programs(), "argv-echo": argv_echo}
    return Node(NodeRuntime(world, node, LabSettings(), programs, {}))


@pytest.fixture(scope="module")
def node() -> Node:
    return make_node()


# --- a strict model of CommandLineToArgvW -------------------------------------------------------------------

class Ambiguous(Exception):
    """The line uses a construct on which CommandLineToArgvW and the C runtime disagree."""


def commandlinetoargvw(line: str) -> list[str]:
    """shell32's splitter, refusing what it and the C runtime read differently.

    argv[0]: a leading quote runs to the next quote (the runtime instead toggles quoting inside argv[0]); an
    unquoted one ends at the first character up to U+0020. Later arguments: the backslash and quote rules both
    share; ``""`` inside quotes is refused because the runtimes of different years disagree on it.
    """
    if line.startswith('"'):
        end = line.find('"', 1)
        if end < 0 or (end + 1 < len(line) and line[end + 1] not in " \t"):
            raise Ambiguous(line)
        argv, i = [line[1:end]], end + 1
    else:
        i = 0
        while i < len(line) and ord(line[i]) > 0x20:
            i += 1
        if '"' in line[:i]:
            raise Ambiguous(line)
        argv = [line[:i]]
    while True:
        while i < len(line) and line[i] in " \t":
            i += 1
        if i >= len(line):
            return argv
        arg: list[str] = []
        quoted = False
        while i < len(line) and (quoted or line[i] not in " \t"):
            start = i
            while i < len(line) and line[i] == "\\":
                i += 1
            slashes = i - start
            if i < len(line) and line[i] == '"':
                arg.append("\\" * (slashes // 2))
                if slashes % 2:
                    arg.append('"')
                elif quoted and i + 1 < len(line) and line[i + 1] == '"':
                    raise Ambiguous(line)
                else:
                    quoted = not quoted
                i += 1
            else:
                arg.append("\\" * slashes)
                if i < len(line) and (quoted or line[i] not in " \t"):
                    arg.append(line[i])
                    i += 1
        argv.append("".join(arg))


# --- property tests: any value arrives intact ---------------------------------------------------------------

@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=ARGV)
def test_any_argv_arrives_through_cmd_exe(node: Node, argv: list[str]) -> None:
    line = cmd_line(argv)
    received, raw = node.echo(line)
    assert received == argv, line
    assert commandlinetoargvw(raw) == argv, (line, raw)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=ARGV)
def test_any_argv_arrives_without_cmd_exe(node: Node, argv: list[str]) -> None:
    line = argv_to_command_line(argv)
    received, raw = node.echo(line, skip_cmd_shell=True)
    assert received == argv and raw == line, line
    assert commandlinetoargvw(line) == argv, line


@settings(max_examples=1500, deadline=None)
@given(argv=ARGV)
def test_direct_lines_split_back_by_both_parsers(argv: list[str]) -> None:
    line = argv_to_command_line(argv)
    assert split_windows_args(line) == argv, line
    assert commandlinetoargvw(line) == argv, line


@settings(max_examples=400, deadline=None)
@given(argv=st.lists(VALUE, min_size=1, max_size=4))
def test_environment_variables_never_expand(node: Node, argv: list[str]) -> None:
    """Every value wrapped in references to variables the node has, in every spelling cmd accepts."""
    values = [f"%{name}%{v}%{name}%" for v, name in zip(argv, ("PATH", "USERNAME", "COMPUTERNAME", "CD"),
                                                           strict=False)]
    full = [PROGRAMS[0], *values]
    assert node.echo(cmd_line(full))[0] == full


@pytest.mark.parametrize("values", [
    ["%A", "B%"], ["50%", " LEAD%"], ["%X", "&Y%"], ["%PATH", "%"], ["x%", "%A B%"], ["%", "%", "%"],
])
def test_references_split_across_arguments_never_expand(node: Node, values: list[str]) -> None:
    argv = [PROGRAMS[0], *values]
    assert node.echo(cmd_line(argv))[0] == argv
    assert node.echo(cmd_line([PROGRAMS[2], *values]))[0] == [PROGRAMS[2], *values]


def test_an_argument_too_long_for_one_line_still_fits_at_the_limit(node: Node) -> None:
    base = cmd_line([PROGRAMS[0], ""])
    filler = "x%&" * ((CMD_MAX_LINE - len(base)) // 5)
    arg = filler + "y" * (CMD_MAX_LINE - len(cmd_line([PROGRAMS[0], filler])))
    line = cmd_line([PROGRAMS[0], arg])
    assert len(line) == CMD_MAX_LINE
    assert node.echo(line)[0] == [PROGRAMS[0], arg]
    with pytest.raises(UnsafeArgumentError, match="8191"):
        cmd_line([PROGRAMS[0], arg + "y"])


# --- the whole way: pywinrm, a real WinRM endpoint, the lab's cmd.exe --------------------------------------

@pytest.fixture(scope="module")
def winrm_shell() -> Iterator[tuple[object, str]]:
    from winrm.protocol import Protocol

    from octotui.lab.winrm import WinRMEndpoint

    lab = make_node()
    endpoint = WinRMEndpoint(lab.runtime, auth="basic", allow_basic_http=True)
    endpoint.start()
    # Basic logs on a node's local accounts only (as Windows' WinRM does): the built-in Administrator.
    password = lab.runtime.node.local_accounts["administrator"].password
    protocol = Protocol(endpoint.endpoint_url, transport="basic", username="Administrator", password=password,
                        operation_timeout_sec=10, read_timeout_sec=20, proxy=None,
                        ca_trust_path=None)  # type: ignore[arg-type]  # plain HTTP on loopback: no CA, no proxy
    shell = protocol.open_shell(codepage=65001)
    try:
        yield protocol, shell
    finally:
        try:
            protocol.close_shell(shell)
        finally:
            endpoint.stop()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=ARGV)
def test_any_argv_arrives_over_real_winrm(winrm_shell: tuple[object, str], argv: list[str]) -> None:
    protocol, shell = winrm_shell
    line = cmd_line(argv)
    command = protocol.run_command(shell, line)  # type: ignore[attr-defined]
    try:
        out, err, code = protocol.get_command_output(shell, command)  # type: ignore[attr-defined]
    finally:
        protocol.cleanup_command(shell, command)  # type: ignore[attr-defined]
    assert (code, err) == (0, b""), (line, out, err)
    assert json.loads(out)["argv"] == argv, line


# --- examples: what the lines look like --------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["msiexec", "/i", "C:\\Install\\Octopus.2025.3.1234-x64.msi", "/qn"],
     "msiexec /i C:\\Install\\Octopus.2025.3.1234-x64.msi /qn"),
    (["C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe", "create-instance", "--instance",
      "Default", "--config", "C:\\Octopus\\OctopusServer.config"],
     '""C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" create-instance --instance Default '
     '--config C:\\Octopus\\OctopusServer.config"'),
    (["x.exe", "a b", "", "C:\\dir\\", "C:\\my dir\\"], 'x.exe "a b" "" C:\\dir\\ "C:\\my dir\\\\"'),
    (["x.exe", "a&b|c", "(1)", "^", "<in>", "!x!"], "x.exe a^&b^|c ^(1^) ^^ ^<in^> !x!"),
    (["x.exe", "50%", "%PATH%"], 'x.exe 50%"" %"PATH"%'),
    (["x.exe", 'say "hi there"'], 'x.exe "say "\\^""hi there"\\^"'),
    (["x.exe", 'a\\"b'], 'x.exe a\\\\\\^"b'),
    (["x.exe", "Server=sql;Database=Octopus Deploy;Trusted_Connection=True"],
     'x.exe "Server=sql;Database=Octopus Deploy;Trusted_Connection=True"'),
])
def test_lines_are_minimal_and_readable(node: Node, argv: list[str], expected: str) -> None:
    assert cmd_line(argv) == expected


@pytest.mark.parametrize(("argv", "expected"), [
    (["x.exe", "a b", "", 'q"q', "C:\\dir\\", "C:\\my dir\\"], 'x.exe "a b" "" q\\"q C:\\dir\\ "C:\\my dir\\\\"'),
    (["C:\\Program Files\\x.exe", "%PATH%&"], '"C:\\Program Files\\x.exe" %PATH%&'),
])
def test_direct_lines_quote_only_what_the_runtime_needs(argv: list[str], expected: str) -> None:
    assert argv_to_command_line(argv) == expected


def test_program_path_with_cmd_specials_runs(node: Node) -> None:
    argv = [PROGRAMS[1], "--x", "1"]
    assert cmd_line(argv) == '""C:\\Tools\\A&B (x86)^!,;=\\argv-echo.exe" --x 1"'
    assert node.echo(cmd_line(argv))[0] == argv


def test_a_caret_before_a_reopened_quote_would_let_cmd_act(node: Node) -> None:
    """Why ``%`` is followed by a quote, not ``%^``: ``^"`` is an escaped quote that does not toggle cmd's quote
    state, so what follows is outside quotes for cmd but inside them for the program, and ``&`` runs a command.
    """
    naive = '""C:\\Tools\\argv echo.exe" "a "%^"PATH"%^" & whoami""'
    _code, out, _err = node.run(naive)
    assert "labadmin" in out.lower()  # whoami ran: the value escaped into a command
    value = "a %PATH% & whoami"
    assert node.echo(cmd_line([PROGRAMS[0], value]))[0] == [PROGRAMS[0], value]


# --- refusals ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "why"), [
    ("line1\nline2", "line feed"),
    ("line1\r\nline2", "carriage return"),
    ("a\0b", "NUL"),
    ("a\x1ab", "Ctrl-Z (U+001A)"),
    ("a\x07b", "U+0007"),
    ("a\ud800b", "surrogate"),
    ("a\uffffb", "U+FFFF"),
])
def test_unsafe_values_are_refused_with_the_argument_named(value: str, why: str) -> None:
    argv = ["C:\\Octopus\\Octopus.Server.exe", "configure", "--webListenPrefixes", value]
    for build in (cmd_line, argv_to_command_line):
        with pytest.raises(UnsafeArgumentError, match=re.escape(why)) as caught:
            build(argv)
        message = str(caught.value)
        assert caught.value.index == 3
        assert "argument 3 of Octopus.Server.exe" in message and "--webListenPrefixes" in message
        assert repr(value[:40]) in message


def test_a_secret_value_is_never_shown_in_a_refusal() -> None:
    secret = "Hunter2-master-key\nQz9xK"
    with pytest.raises(UnsafeArgumentError) as caught:
        cmd_line(["Octopus.Server.exe", "database", "--masterKey", secret], secret={3})
    message = str(caught.value)
    assert "Hunter2" not in message and "Qz9xK" not in message
    assert "secret, not shown" in message and "--masterKey" in message and "line feed" in message


def test_a_secret_too_long_line_shows_no_value() -> None:
    with pytest.raises(UnsafeArgumentError) as caught:
        cmd_line(["C:\\Octopus\\Octopus.Server.exe", "--masterKey", "K" * 9000], secret={2})
    message = str(caught.value)
    assert "KKK" not in message
    assert "Octopus.Server.exe" in message and "8191" in message and "stdin" in message


def test_length_counts_utf16_units() -> None:
    """Windows counts an astral character as two units; 4093 of them and "x.exe " are over cmd's limit."""
    with pytest.raises(UnsafeArgumentError, match="8191"):
        cmd_line(["x.exe", "😀" * 4093])
    assert cmd_line(["x.exe", "é" * 8180])
    with pytest.raises(UnsafeArgumentError, match="32766"):
        argv_to_command_line(["x.exe", "a" * 32767])


@pytest.mark.parametrize(("program", "why"), [
    ('C:\\a"b.exe', "double quote"),
    ("", "empty"),
    (" x.exe", "blank"),
])
def test_bad_program_paths_are_refused(program: str, why: str) -> None:
    for build in (cmd_line, argv_to_command_line):
        with pytest.raises(UnsafeArgumentError, match=why):
            build([program, "x"])


def test_percent_in_program_path_is_refused_only_through_cmd() -> None:
    with pytest.raises(UnsafeArgumentError, match="expanded"):
        cmd_line(["%ProgramFiles%\\x.exe"])
    assert argv_to_command_line(["C:\\50%\\x.exe"]) == "C:\\50%\\x.exe"


def test_empty_argv_and_non_strings_are_refused() -> None:
    with pytest.raises(UnsafeArgumentError, match="no program"):
        cmd_line([])
    with pytest.raises(TypeError):
        cmd_line("x.exe a b")
    with pytest.raises(TypeError):
        argv_to_command_line(["x.exe", 3])  # type: ignore[list-item]


# --- PowerShell literals -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("", "''"),
    ("plain", "'plain'"),
    ("it's", "'it''s'"),
    ("''", "''''''"),
    ("\u2018smart\u2019", "'\u2018\u2018smart\u2019\u2019'"),
    ("low\u201ahigh\u201b", "'low\u201a\u201ahigh\u201b\u201b'"),
    ('$env:PATH `n "$(whoami)" @x', "'$env:PATH `n \"$(whoami)\" @x'"),
    ("two\r\nlines", "'two\r\nlines'"),
    ("\u201cdouble smart\u201d", "'\u201cdouble smart\u201d'"),
])
def test_ps_literal(value: str, expected: str) -> None:
    assert ps_literal(value) == expected


@given(st.text(ANY_CHAR | st.sampled_from("\r\n'\u2018\u2019\u201a\u201b")))
def test_ps_literal_reads_back(value: str) -> None:
    """Read the literal the way PowerShell's tokenizer does: a quote followed by a quote is one quote."""
    literal = ps_literal(value)
    assert literal[0] == "'" and literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    quotes = "'\u2018\u2019\u201a\u201b"
    while i < len(body):
        if body[i] in quotes:
            assert i + 1 < len(body) and body[i + 1] in quotes, "a lone quote would end the string"
            i += 1
        out.append(body[i])
        i += 1
    assert "".join(out) == value


def test_ps_literal_refusals_mask_secrets() -> None:
    with pytest.raises(UnsafeArgumentError, match="NUL") as caught:
        ps_literal("Hunter2\0x", name="the service password", secret=True)
    assert "Hunter2" not in str(caught.value) and "the service password" in str(caught.value)
    with pytest.raises(UnsafeArgumentError, match="surrogate"):
        ps_literal("\udc00")
