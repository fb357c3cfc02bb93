"""The lab's argv splitter against Microsoft's documented examples and a round trip with a simple quoter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from octotui.lab.winargs import split_program_name, split_windows_args


def quote_arg(arg: str) -> str:
    """Quote one argument for the C runtime: always in quotes, backslashes doubled only before a quote.

    Test-local on purpose: the lab must not share quoting code with the engine, and this is the
    textbook algorithm, simple enough to trust by reading.
    """
    out = ['"']
    backslashes = 0
    for c in arg:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + c)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


# Microsoft's table "Results of parsing command lines" (C runtime argv), each prefixed with a program name.
MS_EXAMPLES = [
    ('"a b c" d e', ["a b c", "d", "e"]),
    ('"ab\\"c" "\\\\" d', ['ab"c', "\\", "d"]),
    ('a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]),
    ('a\\\\\\"b c d', ['a\\"b', "c", "d"]),
    ('a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]),
    ('a"b"" c d', ['ab" c d']),
]


@pytest.mark.parametrize(("args", "expected"), MS_EXAMPLES)
def test_microsoft_documented_examples(args: str, expected: list[str]) -> None:
    assert split_windows_args("prog.exe " + args) == ["prog.exe", *expected]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", [""]),
        ("prog", ["prog"]),
        ("prog   ", ["prog"]),
        ("prog \t a\tb  ", ["prog", "a", "b"]),
        ('prog ""', ["prog", ""]),
        ('prog "" ""', ["prog", "", ""]),
        ('prog a""b', ["prog", "ab"]),
        ('prog "a""b"', ["prog", 'a"b']),
        ('prog """"', ["prog", '"']),
        ('prog \\"', ["prog", '"']),
        ('prog \\\\"', ["prog", "\\"]),
        ("prog a\\ b\\\\", ["prog", "a\\", "b\\\\"]),
        ('prog "unterminated arg', ["prog", "unterminated arg"]),
        ('prog "x\\"', ["prog", 'x"']),
        # INSTALLLOCATION="C:\X\" is how msiexec users write it; the C runtime eats the closing quote.
        ('msiexec INSTALLLOCATION="C:\\X\\" /qn', ["msiexec", 'INSTALLLOCATION=C:\\X" /qn']),
    ],
)
def test_argument_rules(line: str, expected: list[str]) -> None:
    assert split_windows_args(line) == expected


@pytest.mark.parametrize(
    ("line", "argv0"),
    [
        ('"C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" version',
         "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe"),
        ("C:\\dir\\x.exe\\ a", "C:\\dir\\x.exe\\"),  # no backslash processing in argv[0]
        ('"C:\\dir\\\\" a', "C:\\dir\\\\"),
        ('C:\\Prog" "Files\\x.exe a', "C:\\Prog Files\\x.exe"),  # quotes toggle anywhere in argv[0]
        ('"unterminated name', "unterminated name"),
        ("  lead", ""),  # the runtime does not skip leading blanks before argv[0]
    ],
)
def test_program_name_rules(line: str, argv0: str) -> None:
    assert split_windows_args(line)[0] == argv0


def test_split_program_name() -> None:
    assert split_program_name('"C:\\Program Files\\a b\\x.exe"  /i "y z" ') == (
        "C:\\Program Files\\a b\\x.exe", '/i "y z" ')
    assert split_program_name("  hostname") == ("hostname", "")
    assert split_program_name("whoami\t/upn") == ("whoami", "/upn")
    assert split_program_name("") == ("", "")


# Any text a command line can carry: no NUL, otherwise anything, biased towards the awkward characters.
ARG = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", " ", "\t", "a", "é", "€", "日", "\U0001f600", "^", "%", "&"]),
        st.characters(codec="utf-8", exclude_characters="\x00"),
    ),
    max_size=30,
)
NAME = st.text(alphabet=st.characters(codec="utf-8", exclude_characters='\x00"'), min_size=1, max_size=20)


@given(st.lists(ARG, max_size=8))
def test_round_trip_arbitrary_arguments(args: list[str]) -> None:
    line = " ".join(["prog.exe", *(quote_arg(a) for a in args)])
    assert split_windows_args(line) == ["prog.exe", *args]


@given(NAME, st.lists(ARG, max_size=4))
def test_round_trip_quoted_program_name(name: str, args: list[str]) -> None:
    line = " ".join([f'"{name}"', *(quote_arg(a) for a in args)])
    assert split_windows_args(line) == [name, *args]
    got_name, rest = split_program_name(line)
    assert got_name == name
    assert split_windows_args("x " + rest)[1:] == args


WORD = st.text(alphabet=st.characters(codec="utf-8", exclude_characters='\x00"\\ \t'), min_size=1)


@given(st.lists(WORD, min_size=1))
def test_plain_words_split_on_blanks(words: list[str]) -> None:
    assert split_windows_args(" \t ".join(words)) == words


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")))
def test_never_fails(line: str) -> None:
    argv = split_windows_args(line)
    assert argv and all("\x00" not in a for a in argv)
