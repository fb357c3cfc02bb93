"""Windows quoting (octotui.windows.quoting): exact lines and exact refusals, for the cases the property tests miss.

The companion of test_windows_quoting.py, written against the mutants that survived it (bench/mutation.py).
The property tests prove that whatever line is built arrives intact; they cannot notice a line that is built
differently but still arrives (a program path quoted when it need not be, a message that names the wrong
argument). These tests pin the line and the message exactly, and send each cmd.exe line through the lab's
independent cmd.exe and argv parser too, so a pinned line is also a correct one.
"""

from __future__ import annotations

import pytest

from octotui.lab.winargs import split_windows_args
from octotui.windows.quoting import (
    CMD_MAX_LINE,
    CREATEPROCESS_MAX_LINE,
    UnsafeArgumentError,
    argv_to_command_line,
    cmd_line,
    ps_literal,
)
from tests.unit.test_windows_quoting import Node, make_node

PROGRAM = "C:\\Octopus\\Octopus.Server.exe"
STDIN = ". Pass such a value through stdin or a file instead of the command line."


@pytest.fixture(scope="module")
def node() -> Node:
    return make_node()


def refusal(argv: list[str], secret: set[int] | None = None) -> tuple[str, int | None]:
    """The message and index of the refusal, which must be the same through cmd.exe and without it."""
    caught = []
    for build in (cmd_line, argv_to_command_line):
        with pytest.raises(UnsafeArgumentError) as info:
            build(argv, secret=secret or set())
        caught.append((str(info.value), info.value.index))
    assert caught[0] == caught[1]
    return caught[0]


# --- program paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "through_cmd", "direct"), [
    # '&' with no space: cmd.exe would run 'B\x.exe' as a second command unless the path is quoted; the C
    # runtime alone needs no quotes for it.
    (["C:\\Tools\\A&B\\argv-echo.exe"], '""C:\\Tools\\A&B\\argv-echo.exe""', "C:\\Tools\\A&B\\argv-echo.exe"),
    (["C:\\Tools\\A&B\\argv-echo.exe", "y"], '""C:\\Tools\\A&B\\argv-echo.exe" y"',
     "C:\\Tools\\A&B\\argv-echo.exe y"),
    (["C:\\Tools\\a,b=c;d\\argv-echo.exe", "y"], '""C:\\Tools\\a,b=c;d\\argv-echo.exe" y"',
     "C:\\Tools\\a,b=c;d\\argv-echo.exe y"),
    (["C:\\Tools\\x(1)^\\argv-echo.exe"], '""C:\\Tools\\x(1)^\\argv-echo.exe""', "C:\\Tools\\x(1)^\\argv-echo.exe"),
    # Letters, digits and . _ - : \ need no quotes for either.
    (["C:\\Tools_1\\v-2.0\\argvecho.exe", "y"], "C:\\Tools_1\\v-2.0\\argvecho.exe y",
     "C:\\Tools_1\\v-2.0\\argvecho.exe y"),
    # A blank needs quotes for both; a tab too.
    (["C:\\Tools\\argv echo.exe", "y"], '""C:\\Tools\\argv echo.exe" y"', '"C:\\Tools\\argv echo.exe" y'),
    (["C:\\Tools\\argv\techo.exe"], '""C:\\Tools\\argv\techo.exe""', '"C:\\Tools\\argv\techo.exe"'),
])
def test_program_paths_quoted_only_for_the_layer_that_needs_it(node: Node, argv: list[str], through_cmd: str,
                                                                direct: str) -> None:
    assert cmd_line(argv) == through_cmd
    assert argv_to_command_line(argv) == direct
    node.runtime.node.fs.write(argv[0], b"#lab-program:argv-echo\n", make_parents=True)
    assert node.echo(through_cmd)[0] == argv
    assert node.echo(direct, skip_cmd_shell=True)[0] == argv


def test_outer_quotes_only_when_asked_and_only_for_a_leading_quote() -> None:
    argv = ["C:\\Program Files\\x.exe", "a"]
    assert cmd_line(argv) == '""C:\\Program Files\\x.exe" a"'
    assert cmd_line(argv, outer_quotes=False) == '"C:\\Program Files\\x.exe" a'
    assert cmd_line(["x.exe", "a b"]) == 'x.exe "a b"'
    assert cmd_line(["x.exe", "a b"], outer_quotes=False) == 'x.exe "a b"'


# --- arguments, through cmd.exe and without it --------------------------------------------------------------


@pytest.mark.parametrize(("value", "through_cmd", "direct"), [
    ("a&b", "a^&b", "a&b"),
    ("a b\tc", '"a b\tc"', '"a b\tc"'),
    ("\t", '"\t"', '"\t"'),
    ("a ", '"a "', '"a "'),
    ('a"b c', 'a\\^""b c"', '"a\\"b c"'),
    ('"', '\\^"', '\\"'),
    ('" x', '\\^"" x"', '"\\" x"'),
    ('x y"z', '"x y"\\^"z', '"x y\\"z"'),
    ('a "b"', '"a "\\^"b\\^"', '"a \\"b\\""'),
    ('\\" a', '\\\\\\^"" a"', '"\\\\\\" a"'),
    ('ab\\\\"c', 'ab\\\\\\\\\\^"c', 'ab\\\\\\\\\\"c'),
    ("a\\\\ b\\", '"a\\\\ b\\\\"', '"a\\\\ b\\\\"'),
    ("a\\ b", '"a\\ b"', '"a\\ b"'),
    ("x\\", "x\\", "x\\"),
    ("%a b", '%"a b"', '"%a b"'),
    ("a%b c", 'a%"b c"', '"a%b c"'),
    ("%\\ ", '%"\\ "', '"%\\ "'),
    ("a%\\", "a%\\", "a%\\"),
    ("ab\\%c", "ab\\%c", "ab\\%c"),
    ("%%", '%""%', "%%"),
    ("a%b%", 'a%"b"%', "a%b%"),
    ("(x) ", '"(x) "', '"(x) "'),
    ("x (y)", '"x (y)"', '"x (y)"'),
    ("x(y) z", '"x(y) z"', '"x(y) z"'),
    ("x(y)", "x^(y^)", "x(y)"),
    ("^ |<>", '"^ |<>"', '"^ |<>"'),
    ("", '""', '""'),
    # Where the first quoted run opens: at the start when a blank (space or tab) comes before any " or %;
    # otherwise right after the first " or % that a blank follows.
    ("a\tb", '"a\tb"', '"a\tb"'),
    (" a", '" a"', '" a"'),
    ("\ta", '"\ta"', '"\ta"'),
    ("a\tb c\td", '"a\tb c\td"', '"a\tb c\td"'),
    ('a\t"\tb', '"a\t"\\^""\tb"', '"a\t\\"\tb"'),
    ("a\t%\tb", '"a\t"%"\tb"', '"a\t%\tb"'),
    ('x"y z"', 'x\\^""y z"\\^"', '"x\\"y z\\""'),
    ("x%y z%", 'x%"y z"%', '"x%y z%"'),
    ('x"y z', 'x\\^""y z"', '"x\\"y z"'),
    ("x%y z", 'x%"y z"', '"x%y z"'),
    ('a"\tb\tc', 'a\\^""\tb\tc"', '"a\\"\tb\tc"'),
    ("a%\tb\tc", 'a%"\tb\tc"', '"a%\tb\tc"'),
    ('x"y\tz', 'x\\^""y\tz"', '"x\\"y\tz"'),
    # After a " or %, the run reopens at once when any blank (the last tab too) follows.
    ('a\tb"c\td', '"a\tb"\\^""c\td"', '"a\tb\\"c\td"'),
    ("a\tb%c\td", '"a\tb"%"c\td"', '"a\tb%c\td"'),
])
def test_arguments_exactly(node: Node, value: str, through_cmd: str, direct: str) -> None:
    program = "C:\\Tools\\argvecho.exe"
    assert cmd_line([program, value]) == f"{program} {through_cmd}"
    assert argv_to_command_line([program, value]) == f"{program} {direct}"
    assert node.echo(f"{program} {through_cmd}")[0] == [program, value]
    assert split_windows_args(f"{program} {direct}") == [program, value]


@pytest.mark.parametrize(("values", "through_cmd"), [
    # A '%' that another '%' follows, later on the line, is followed by a quote; the last one is not.
    (["a%", "%b"], 'a%"" %b'),
    (["%", "x"], "% x"),
    (["%", "x", "%"], '%"" x %'),
    (["x", "50%"], "x 50%"),
])
def test_percent_followed_by_a_quote_only_when_another_follows(node: Node, values: list[str],
                                                               through_cmd: str) -> None:
    program = "C:\\Tools\\argvecho.exe"
    assert cmd_line([program, *values]) == f"{program} {through_cmd}"
    assert node.echo(cmd_line([program, *values]))[0] == [program, *values]


# --- refusals, the whole message --------------------------------------------------------------------------


@pytest.mark.parametrize(("char", "reason"), [
    ("\x00", "a NUL character (U+0000): a Windows command line is a NUL-terminated string, so everything after it "
             "would be cut off"),
    ("\r", "a line break, carriage return (U+000D): cmd.exe ends the command at a line break, so the rest would "
           "be lost or run as a command of its own"),
    ("\n", "a line break, line feed (U+000A): cmd.exe ends the command at a line break, so the rest would be lost "
           "or run as a command of its own"),
    ("\x1a", "Ctrl-Z (U+001A), which cmd.exe reads as the end of a line, and which XML (so WinRM) cannot hold"),
    ("\x01", "the control character U+0001: WinRM sends command lines inside XML, which cannot hold control "
             "characters"),
    ("\x1f", "the control character U+001F: WinRM sends command lines inside XML, which cannot hold control "
             "characters"),
    ("\x19", "the control character U+0019: WinRM sends command lines inside XML, which cannot hold control "
             "characters"),
    ("\x1b", "the control character U+001B: WinRM sends command lines inside XML, which cannot hold control "
             "characters"),
    ("\ud800", "a lone surrogate (U+D800), which is not a character and cannot be encoded for Windows"),
    ("\udfff", "a lone surrogate (U+DFFF), which is not a character and cannot be encoded for Windows"),
    ("\ufffe", "U+FFFE, which is not a character XML (and so WinRM) can carry"),
    ("\uffff", "U+FFFF, which is not a character XML (and so WinRM) can carry"),
])
def test_each_refused_character_exactly(char: str, reason: str) -> None:
    assert refusal([PROGRAM, "--k", "a" + char]) == (
        f"argument 2 of Octopus.Server.exe (after '--k', {'a' + char!r}) contains {reason}{STDIN}", 2)


@pytest.mark.parametrize("char", [" ", "\t", "\x7f", "\u0085", "\ud7ff", "\ue000", "\ufffd", "\U0001f600"])
def test_characters_next_to_the_refused_ones_pass(node: Node, char: str) -> None:
    argv = ["C:\\Tools\\argvecho.exe", "a" + char]
    assert node.echo(cmd_line(argv))[0] == argv
    assert split_windows_args(argv_to_command_line(argv)) == argv


@pytest.mark.parametrize(("argv", "secret", "label"), [
    # A value of 40 characters is shown whole; a longer one cut at 40 with "...".
    ([PROGRAM, "x" * 39 + "\n"], set(), f"argument 1 of Octopus.Server.exe ({'x' * 39 + chr(10)!r})"),
    ([PROGRAM, "x" * 40 + "\n"], set(), f"argument 1 of Octopus.Server.exe ({'x' * 40!r}...)"),
    # The option before the value is named, unless it is the program or itself secret, or not an option.
    ([PROGRAM, "/pw", "x\n"], set(), "argument 2 of Octopus.Server.exe (after '/pw', 'x\\n')"),
    ([PROGRAM, "-pw", "x\n"], set(), "argument 2 of Octopus.Server.exe (after '-pw', 'x\\n')"),
    ([PROGRAM, "pw", "x\n"], set(), "argument 2 of Octopus.Server.exe ('x\\n')"),
    (["-x.exe", "x\n"], set(), "argument 1 of -x.exe ('x\\n')"),
    ([PROGRAM, "--pw", "x\n"], {1}, "argument 2 of Octopus.Server.exe ('x\\n')"),
    ([PROGRAM, "--pw", "x\n"], {2}, "argument 2 of Octopus.Server.exe (after '--pw', secret, not shown)"),
    ([PROGRAM, "--pw", "x\n"], {3}, "argument 2 of Octopus.Server.exe (after '--pw', 'x\\n')"),
    # A secret program path is never named, not even its file name.
    ([PROGRAM, "--pw", "x\n"], {0}, "argument 2 of the program (after '--pw', 'x\\n')"),
    ([PROGRAM, "--pw", "x\n"], {1, 2}, "argument 2 of Octopus.Server.exe (secret, not shown)"),
    # A path with no file name is named whole.
    (["C:\\", "x\n"], set(), "argument 1 of C:\\ ('x\\n')"),
    (["C:\\x\n.exe", "x"], set(), "the program path ('C:\\\\x\\n.exe')"),
    (["C:\\x\n.exe", "x"], {1}, "the program path ('C:\\\\x\\n.exe')"),
    (["C:\\x\n.exe", "x"], {0}, "the program path (secret, not shown)"),
])
def test_refused_values_are_labelled_exactly(argv: list[str], secret: set[int], label: str) -> None:
    message, index = refusal(argv, secret)
    reason = ("a line break, line feed (U+000A): cmd.exe ends the command at a line break, so the rest would be lost "
              "or run as a command of its own")
    assert (message, index) == (f"{label} contains {reason}{STDIN}", argv.index(next(a for a in argv if "\n" in a)))


@pytest.mark.parametrize(("program", "secret", "message"), [
    (" x.exe", set(), "the program path (' x.exe') starts or ends with a blank, which Windows drops when it looks "
                      "for the program. Remove the blanks."),
    ("x.exe\t", set(), "the program path ('x.exe\\t') starts or ends with a blank, which Windows drops when it "
                       "looks for the program. Remove the blanks."),
    (" x.exe", {0}, "the program path (secret, not shown) starts or ends with a blank, which Windows drops when it "
                    "looks for the program. Remove the blanks."),
    (" \t", set(), "the program path is empty."),
    ("", set(), "the program path is empty."),
    ('a"b', set(), "the program path ('a\"b') contains a double quote: Windows splits the program path without "
                   "backslash escapes, so it can never carry one (and no Windows file name has one)."),
])
def test_program_path_refusals_exactly(program: str, secret: set[int], message: str) -> None:
    assert refusal([program, "x"], secret) == (message, 0)


def test_only_space_and_tab_are_blanks_in_a_program_path() -> None:
    """Windows trims only spaces and tabs from a program path; a no-break space is an ordinary character."""
    assert argv_to_command_line(["\u00a0"]) == "\u00a0"
    assert cmd_line(["\u00a0x.exe"]) == '""\u00a0x.exe""'


def test_percent_in_the_program_path_exactly() -> None:
    with pytest.raises(UnsafeArgumentError) as info:
        cmd_line(["%x%\\a.exe"])
    assert (str(info.value), info.value.index) == (
        "the program path ('%x%\\\\a.exe') contains %: cmd.exe would expand it as a variable reference even inside "
        "quotes. Pass the path with variables already expanded.", 0)
    assert argv_to_command_line(["%x%\\a.exe"]) == "%x%\\a.exe"


def test_argv_shape_refusals_exactly() -> None:
    for build in (cmd_line, argv_to_command_line):
        with pytest.raises(UnsafeArgumentError) as info:
            build([])
        assert (str(info.value), info.value.index) == ("the command has no program: argv is empty.", None)
        with pytest.raises(TypeError) as type_info:
            build("x.exe a")
        assert str(type_info.value) == "argv must be a sequence of arguments, not one string"
        with pytest.raises(TypeError) as type_info:
            build(["x.exe", b"y"])  # type: ignore[list-item]
        assert str(type_info.value) == "argument 1 must be a string, not bytes"
        with pytest.raises(TypeError) as type_info:
            build([1])  # type: ignore[list-item]
        assert str(type_info.value) == "argument 0 must be a string, not int"


# --- the line length limits, at the limit -----------------------------------------------------------------


def test_cmd_line_limit_exactly() -> None:
    fits = ["x.exe", "a" * (CMD_MAX_LINE - 6)]
    assert len(cmd_line(fits)) == CMD_MAX_LINE
    with pytest.raises(UnsafeArgumentError) as info:
        cmd_line(["x.exe", "a" * (CMD_MAX_LINE - 5)])
    assert (str(info.value), info.value.index) == (
        "the command line for x.exe would be 8192 characters long (UTF-16 units); cmd.exe refuses lines over "
        "8191. Send large values through stdin (a PowerShell script with JSON parameters) instead.", None)
    with pytest.raises(UnsafeArgumentError) as info:
        cmd_line(["x.exe", "a" * (CMD_MAX_LINE - 5)], secret={0})
    assert str(info.value).startswith("the command line for the program would be 8192 characters long")


def test_createprocess_limit_exactly() -> None:
    fits = ["x.exe", "a" * (CREATEPROCESS_MAX_LINE - 6)]
    assert len(argv_to_command_line(fits)) == CREATEPROCESS_MAX_LINE
    with pytest.raises(UnsafeArgumentError) as info:
        argv_to_command_line(["x.exe", "a" * (CREATEPROCESS_MAX_LINE - 5)])
    assert str(info.value) == (
        "the command line for x.exe would be 32767 characters long (UTF-16 units); CreateProcess refuses lines over "
        "32766. Send large values through stdin (a PowerShell script with JSON parameters) instead.")


def test_length_is_counted_in_utf16_units_exactly() -> None:
    """4093 astral characters are 8186 units: with "x.exe " that is 8192, one over, though only 4099 characters."""
    with pytest.raises(UnsafeArgumentError) as info:
        cmd_line(["x.exe", "\U0001f600" * 4093])
    assert str(info.value).startswith("the command line for x.exe would be 8192 characters long (UTF-16 units);")
    assert cmd_line(["x.exe", "\U0001f600" * 4092]) == "x.exe " + "\U0001f600" * 4092


# --- PowerShell literals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kwargs", "message"), [
    ("a\x00b", {}, "value ('a\\x00b') contains a NUL character (U+0000), which a PowerShell script cannot carry."),
    ("a\ud800b", {"name": "the key"},
     "the key ('a\\ud800b') contains a lone surrogate (U+D800), which a PowerShell script cannot carry."),
    ("\udfff", {}, "value ('\\udfff') contains a lone surrogate (U+DFFF), which a PowerShell script cannot carry."),
    ("x" * 41 + "\x00", {},
     f"value ({'x' * 40!r}...) contains a NUL character (U+0000), which a PowerShell script cannot carry."),
    ("pw\x00", {"name": "the password", "secret": True},
     "the password (secret, not shown) contains a NUL character (U+0000), which a PowerShell script cannot carry."),
])
def test_ps_literal_refusals_exactly(value: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UnsafeArgumentError) as info:
        ps_literal(value, **kwargs)  # type: ignore[arg-type]
    assert (str(info.value), info.value.index) == (message, None)


def test_ps_literal_next_to_the_refused_characters() -> None:
    assert ps_literal("\ud7ff\ue000\x01") == "'\ud7ff\ue000\x01'"
