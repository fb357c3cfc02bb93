"""Untrusted text shown safely: control characters escaped, long values shortened, readable otherwise."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from octotui.checks.report import format_table, to_json
from octotui.checks.result import CheckResult
from octotui.spec.parsers.accounts import parse_account
from octotui.spec.parsers.connstr import parse_connection_string, parse_data_source
from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.hostnames import parse_host, parse_netbios_name
from octotui.spec.parsers.prefixes import parse_listen_prefix
from octotui.spec.parsers.versions import parse_octopus_version
from octotui.spec.parsers.winpath import parse_windows_path
from octotui.textsafe import escape_controls, safe_message, shorten, shown

#: What a terminal acts on: C0 controls (newline aside where a test says so), DEL and C1 controls.
RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(("value", "expected"), [
    ("\x1b[2J", "\\x1b[2J"),
    ("ring\x07", "ring\\x07"),
    ("over\rwrite", "over\\rwrite"),
    ("nul\x00byte", "nul\\x00byte"),
    ("two\nlines", "two\\nlines"),
    ("tab\there", "tab\\there"),
    ("del\x7f", "del\\x7f"),
    ("c1 csi\x9b2J", "c1 csi\\x9b2J"),
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("bidi \u202eevil", "bidi \\u202eevil"),
    ("line\u2028separator", "line\\u2028separator"),
])
def test_shown_escapes_every_control_character_visibly(value: str, expected: str) -> None:
    assert shown(value) == expected
    assert not RAW_CONTROL.search(shown(value))


@pytest.mark.parametrize("value", ["C:\\Octopus\\x1b", "CORP\\svcOctopus", "Zoë Müller-Łukasiewicz", "日本語",
                                   "Data Source=sql01;Initial Catalog=Octopus;", "", "a 'quoted' \"value\""])
def test_shown_leaves_printable_text_as_it_is(value: str) -> None:
    assert shown(value) == value


def test_a_long_value_is_shortened_to_head_and_tail_with_its_length() -> None:
    value = "HEAD" + "x" * 1_000_000 + "TAIL"
    text = shown(value)
    assert len(text) <= 200
    assert text.startswith("HEADxxx") and text.endswith("xxxTAIL")
    assert "[1000008 characters in all]" in text


def test_shortening_counts_the_original_and_escapes_what_it_keeps() -> None:
    value = "\x1b" * 500
    text = shown(value, limit=50)
    assert not RAW_CONTROL.search(text)
    assert "[500 characters in all]" in text
    assert text.startswith("\\x1b\\x1b") and text.endswith("\\x1b")


@pytest.mark.parametrize("limit", [10, 40, 200, 1000])
def test_shorten_keeps_values_within_the_limit(limit: int) -> None:
    assert shorten("y" * limit, limit) == "y" * limit
    assert len(shorten("y" * (limit + 1), limit)) <= limit + 30


def test_shown_takes_any_value() -> None:
    assert shown(42) == "42"
    assert shown(["a\x1b"]) == "['a\\x1b']"  # the list's repr escaped it already


def test_escape_controls_can_keep_newlines_and_tabs() -> None:
    assert escape_controls("a\tb\nc\x1b[2J\rd", keep="\n\t") == "a\tb\nc\\x1b[2J\\rd"


def test_safe_message_keeps_lines_but_bounds_them() -> None:
    text = safe_message("first \x1b[31mred\n" + "z" * 100_000 + "\n" + "\n".join(["more"] * 1000))
    lines = text.split("\n")
    assert lines[0] == "first \\x1b[31mred"
    assert "[100000 characters in all]" in lines[1] and len(lines[1]) < 1100
    assert len(lines) == 201 and lines[-1] == "… (802 more lines not shown)"
    assert len(text) < 5000


def test_a_parse_error_is_safe_even_when_its_parser_forgot() -> None:
    err = ParseError("'\x1b]0;owned\x07" + "q" * 50_000 + "' is wrong", "write \x07 instead")
    assert not RAW_CONTROL.search(str(err))
    assert err.message.startswith("'\\x1b]0;owned\\x07qqq") and len(err.message) < 1100
    assert err.fix == "write \\x07 instead"


HOSTILE = CheckResult("sql.connect", "fail", "sql01\x1b[2J", "Login failed\x1b]0;owned\x07 for \x9b6n user",
                      "server said: " + "\x07" * 10 + "D" * 1_000_000, "reset\x1bc the \rpassword\x00")


def test_the_check_table_escapes_and_shortens_what_results_carry() -> None:
    table = format_table([HOSTILE], width=120)
    assert not RAW_CONTROL.search(table.replace("\n", ""))
    assert "Login failed\\x1b]0;owned\\x07 for \\x9b6n user" in table
    # (the table joins a text's lines and runs of spaces, as it always has: CR, a line break, is one of them)
    assert "sql01\\x1b[2J" in table and "reset\\x1bc the password\\x00" in table
    assert "characters in all" in " ".join(table.split()) and len(table) < 3000


def test_check_json_holds_the_same_values_with_every_control_character_escaped() -> None:
    text = to_json([HOSTILE])
    assert not RAW_CONTROL.search(text.replace("\n", ""))
    [item] = json.loads(text)
    assert item["summary"] == HOSTILE.summary  # a program reads the exact value back
    assert item["hint"] == HOSTILE.hint and item["target"] == HOSTILE.target
    assert item["detail"].startswith("server said: \x07") and "characters in all" in item["detail"]
    assert len(text) < 10_000


MB = 1_000_000


@pytest.mark.parametrize("call", [
    lambda: parse_account("CORP\\" + "x" * MB),
    lambda: parse_account("u\x1b" + "x" * MB + "@corp.example.com"),
    lambda: parse_host("a\x1b[2J" + "b" * MB),
    lambda: parse_netbios_name("N" * MB),
    lambda: parse_windows_path("C:\\" + "d" * MB),
    lambda: parse_windows_path("\\\\srv\\" + "s\x07" * MB),
    lambda: parse_listen_prefix("http://+:80/" + "p" * MB + "\\"),
    lambda: parse_connection_string("Data Source=" + "s" * MB + ";Initial Catalog"),
    lambda: parse_data_source("host\\" + "i" * MB),
    lambda: parse_octopus_version("9" * MB),
], ids=["sam", "upn", "host", "netbios", "path", "share", "prefix", "connstr", "data-source", "version"])
def test_parsers_show_a_refused_value_shortened_and_escaped(call: Callable[[], object]) -> None:
    with pytest.raises(ParseError) as info:
        call()
    text = str(info.value)
    assert not RAW_CONTROL.search(text)
    assert len(text) < 800, text  # where it quotes the value, head…[N characters in all]…tail
