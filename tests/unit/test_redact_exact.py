"""The redactor (octotui.secrets.redact): exact outputs, for what test_redact.py checks only loosely.

Written against the mutants that survived test_redact.py (bench/mutation.py). Each test compares the whole
output: the full set of forms a secret is registered in, the exact text a pattern leaves (quotes and braces
kept, the prefix untouched), and exactly how much a stream writes now and how much it holds back, because a
redactor that masks one character too few, or holds back nothing at the end of a long line, leaks.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import octotui.secrets.redact as redact_module
from octotui.secrets.redact import (
    MASK,
    BytesStreamRedactor,
    Redactor,
    StreamRedactor,
    default_redactor,
    encodings_of,
    is_secret_option,
)

#: A backslash before a letter (the C runtime keeps it, JSON doubles it), both quotes, XML's specials, a space
#: (URL encodings differ) and a non-ASCII letter (JSON with and without ensure_ascii differ).
ODD = "a\\b\"c'<&> é"


def test_every_form_of_a_secret() -> None:
    assert encodings_of(ODD) == {
        ODD,
        'a\\\\b\\"c\'<&> \\u00e9',  # JSON, ASCII only
        'a\\\\b\\"c\'<&> é',  # JSON as UTF-8
        "a%5Cb%22c%27%3C%26%3E%20%C3%A9",  # URL
        "a%5Cb%22c%27%3C%26%3E+%C3%A9",  # URL, form encoding
        "a\\b\"c''<&> é",  # PowerShell single-quoted
        'a\\b""c\'<&> é',  # connection string, double-quoted
        "a\\b&quot;c&#x27;&lt;&amp;&gt; é",  # XML attribute
        "a\\b\"c'&lt;&amp;&gt; é",  # XML text
        'a\\b\\"c\'<&> é',  # C runtime argv
        # base64 of the UTF-8 bytes, at each of the three offsets
        "YVxiImMnPCY+IMOp", "XGIiYyc8Jj4g", "YiJjJzwmPiDD",
        # base64 of the UTF-16LE bytes, at each of the three offsets
        "YQBcAGIAIgBjACcAPAAmAD4AIADp", "XABiACIAYwAnADwAJgA+ACAA", "AFwAYgAiAGMAJwA8ACYAPgAgAOkA",
    }


def test_a_slash_is_encoded_in_urls() -> None:
    """A URL-encoded secret has every / as %2F (quote's default would leave it) and a space as %20 or +."""
    forms = encodings_of("a/b c/d")
    assert {"a%2Fb%20c%2Fd", "a%2Fb+c%2Fd"} <= forms
    r = Redactor()
    r.add("a/b c/d")
    assert r.redact("https://x/?k=a%2Fb%20c%2Fd&n=1") == f"https://x/?k={MASK}&n=1"


def test_a_trailing_backslash_is_doubled_in_the_argv_form() -> None:
    """Inside a quoted argv the C runtime needs a trailing backslash doubled before the closing quote, and only
    that one (JSON doubles every backslash)."""
    forms = encodings_of("a\\b\\")
    assert "a\\b\\\\" in forms  # argv: a\b\\
    assert "a\\\\b\\\\" in forms  # JSON: a\\b\\


def test_a_secret_that_is_not_valid_unicode_still_registers() -> None:
    """An environment variable holding bytes that are not UTF-8 reads as lone surrogates (surrogateescape):
    registering it must not raise, and it is masked."""
    secret = "p\u00e4ss\udcff-word"
    r = Redactor()
    r.add(secret)
    assert r.redact(f"x {secret} y") == f"x {MASK} y"
    assert "p%C3%A4ss%ED%B3%BF-word" in encodings_of(secret)


def test_forms_shorter_than_four_are_dropped() -> None:
    # "abcd": its UTF-8 base64 cores are too short to keep, its UTF-16LE ones are not; every text form is itself.
    assert encodings_of("abcd") == {"abcd", "YQBiAGMA", "AGIAYwBk", "YgBjAGQA"}


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=4, max_size=12), prefix=st.binary(max_size=7), suffix=st.binary(max_size=4))
def test_base64_forms_are_found_wherever_the_secret_sits(secret: str, prefix: bytes, suffix: bytes) -> None:
    """Whatever bytes come before and after, the base64 of the whole holds one of the secret's forms, and
    the redactor masks it."""
    for encoding in ("utf-8", "utf-16-le"):
        data = prefix + secret.encode(encoding, "surrogatepass") + suffix
        encoded = base64.b64encode(data).decode()
        forms = encodings_of(secret)
        if len(secret.encode(encoding, "surrogatepass")) >= 9:  # long enough for a core at every offset
            assert any(f in encoded for f in forms if f.isascii() and f not in (secret,)), (encoding, encoded)
            redactor = Redactor()
            redactor.add(secret)
            assert redactor.redact(encoded) != encoded


def test_registration_limits_and_counts() -> None:
    r = Redactor()
    r.add(None)
    r.add("")
    r.add("abc")
    assert r.registered == 0
    assert r.redact("abc") == "abc"
    r.add("abcd")
    assert r.registered == 4
    r.add("abcd")
    assert r.registered == 4
    assert r.redact("x abcd y") == f"x {MASK} y"
    r.add_many(["wxyz", "efgh"])
    assert r.registered == 12
    assert r("wxyz efgh abcd") == f"{MASK} {MASK} {MASK}"
    assert r.redact("") == ""


def test_longest_form_wins() -> None:
    r = Redactor()
    r.add("secret")
    r.add("secret-longer")
    assert r.redact("[secret-longer]") == f"[{MASK}]"


@pytest.mark.parametrize(("text", "expected"), [
    # An empty value leaves the prefix alone; nothing to mask.
    ("--password", "--password"),
    ("--password=", "--password="),
    ("OCTOPUS_SERVICE_PASSWORD=", "OCTOPUS_SERVICE_PASSWORD="),
    ("Password=;", "Password=;"),
    # Quotes and braces around a value are kept, the value inside masked, even when empty.
    ("x --password '' y", f"x --password '{MASK}' y"),
    ('Password=""', f'Password="{MASK}"'),
    ("PWD={}", f"PWD={{{MASK}}}"),
    ("Password={a}b", f"Password={{{MASK}}}b"),
    ("Password='a'b", f"Password='{MASK}'b"),
    ("Password='a'", f"Password='{MASK}'"),
    ('Password="a"', f'Password="{MASK}"'),
    # A single quote character is a value of its own, masked whole.
    ('--pw "', f"--pw {MASK}"),
    ('--password "a b" c', f'--password "{MASK}" c'),
    # Only quotes and braces around a value are kept: not a letter, not a lone closing brace.
    ("--password XabcX", f"--password {MASK}"),
    ("--password ab}", f"--password {MASK}"),
    ("--password \"a' c", f"--password {MASK} c"),
    ("/password:x", f"/password:{MASK}"),
    ("-pw x", f"-pw {MASK}"),
    ("--pw:\tx", f"--pw:\t{MASK}"),
    ("--Pfx-Password x", f"--Pfx-Password {MASK}"),
    # Not an option: inside a word, or after a letter.
    ("a-password x", "a-password x"),
    ("x--password y", "x--password y"),
    ("--passwordx y", "--passwordx y"),
    # Variables: the value up to the end of the line or a command separator.
    ("OCTO_PASSWORD = 'x' y", f"OCTO_PASSWORD = '{MASK}' y"),
    ("$env:A_SECRET='x'", f"$env:A_SECRET='{MASK}'"),
    ("set DB_API_KEY=k1 & echo", f"set DB_API_KEY={MASK}& echo"),
    ("xA_SECRET=1", "xA_SECRET=1"),
    ("A_PASSWORD_FILE=x\nnext", f"A_PASSWORD_FILE={MASK}\nnext"),
    # JSON and Python-repr fields named like a secret.
    ("{'token': 'abc'}", f"{{'token': '{MASK}'}}"),
    ('{"token" : "a\\"b"}', f'{{"token" : "{MASK}"}}'),
    ('{"apiKey":"k", "n": "v"}', f'{{"apiKey":"{MASK}", "n": "v"}}'),
    ('{"name": "password"}', '{"name": "password"}'),
])
def test_patterns_exactly(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_registered_values_without_any_pattern_word() -> None:
    """Text with no trigger word takes the cheap path: only registered values, and still all of them."""
    r = Redactor()
    r.add("hunter2hunter2")
    assert r.redact("say hunter2hunter2 twice: hunter2hunter2") == f"say {MASK} twice: {MASK}"
    assert Redactor().redact("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(("option", "secret"), [
    ("--password", True), ("-PW", True), ("/masterKey", True), ("masterkey", True), ("--password=x", True),
    ("--apiKey=a=b", True), ("--licenseFile", False), ("--passwordx", False), ("", False), ("--", False),
    ("x-password", False), ("--Xpw", False), ("--pw x", False),
])
def test_is_secret_option(option: str, secret: bool) -> None:
    assert is_secret_option(option) is secret


def test_bytes_in_another_encoding() -> None:
    r = Redactor()
    r.add("p\u00e4ss-w\u00f6rd")
    data = "x p\u00e4ss-w\u00f6rd \u20ac".encode("utf-16-le")
    assert r.redact_bytes(data, "utf-16-le") == f"x {MASK} \u20ac".encode("utf-16-le")
    assert r.redact_bytes(b"\xff\xfe x") == b"\xff\xfe x"


# --- streams: exactly what is written now and what is held back ---------------------------------------------


def test_stream_holds_back_exactly_the_tail_of_a_long_line() -> None:
    s = Redactor().stream()
    assert isinstance(s, StreamRedactor)
    limit = StreamRedactor.MAX_PENDING
    # Up to the limit, a line without an end waits whole; one character more and all but the tail flows.
    assert s.feed("a" * limit) == ""
    assert s.feed("b") == "a" * (limit + 1 - StreamRedactor.MIN_HOLD)
    assert s.flush() == "a" * (StreamRedactor.MIN_HOLD - 1) + "b"
    assert s.flush() == ""


def test_stream_holds_back_the_longest_secret_when_longer_than_the_minimum() -> None:
    r = Redactor()
    secret = "k" * 600
    r.add(secret)
    longest = max(len(f) for f in encodings_of(secret))  # its base64 form: 1600 characters
    assert longest == 1600
    s = r.stream()
    assert s.feed("x" * 20000) == "x" * (20000 - longest)
    assert s.feed(secret + "\n") == "x" * longest + MASK + "\n"


def test_stream_with_a_multiline_secret_holds_back_across_line_ends() -> None:
    r = Redactor()
    r.add("line1\nline2")
    longest = max(len(f) for f in encodings_of("line1\nline2"))
    assert longest == 28
    s = r.stream()
    assert s.feed("ab\ncd\n") == ""  # whole lines, but the secret could start in them and end later
    assert s.feed("x" * 40 + "\n") == "ab\ncd\n" + "x" * (40 + 1 - longest)
    # Each feed writes only what lies more than 28 characters back, and a secret written in two feeds is masked.
    assert s.feed("line1\n") == "x" * 6
    assert s.feed("line2 tail\n" + "y" * 30) == "x" * 21 + f"\n{MASK} tail\n"
    assert s.flush() == "y" * 30


def test_stream_moves_the_cut_before_a_match_that_straddles_it() -> None:
    r = Redactor()
    r.add("hunter2hunter2")
    s = r.stream()
    before = "a" * (StreamRedactor.MAX_PENDING + 100)
    text = before + "hunter2hunter2" + "b" * (StreamRedactor.MIN_HOLD - 7)
    # The cut (512 from the end) falls inside the secret: everything before the secret is written, nothing after.
    assert s.feed(text) == before
    assert s.flush() == MASK + "b" * (StreamRedactor.MIN_HOLD - 7)


def test_stream_writes_matches_before_the_cut_and_keeps_those_after() -> None:
    r = Redactor()
    r.add("hunter2hunter2")
    s = r.stream()
    assert s.feed("hunter2hunter2 x\nhunter2hunter2") == f"{MASK} x\n"
    assert s.feed(" y\n") == f"{MASK} y\n"
    assert s.feed("--password abc\r") == f"--password {MASK}\r"


def test_byte_stream_exactly() -> None:
    r = Redactor()
    r.add("p\u00e4ss-w\u00f6rd")
    s = r.byte_stream()
    assert isinstance(s, BytesStreamRedactor)
    data = "\u00e9 p\u00e4ss-w\u00f6rd\n".encode()
    assert s.feed(data[:1]) == b""
    assert s.feed(data[1:]) == f"\u00e9 {MASK}\n".encode()
    # An incomplete character at the very end passes through as the bytes it was.
    assert s.feed(b"x\xc3") == b""
    assert s.flush() == b"x\xc3"
    u16 = r.byte_stream("utf-16-le")
    encoded = "a p\u00e4ss-w\u00f6rd\n".encode("utf-16-le")
    assert u16.feed(encoded[:3]) + u16.feed(encoded[3:]) + u16.flush() == f"a {MASK}\n".encode("utf-16-le")


def test_default_redactor_is_one_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact_module, "_default", None)  # as in a fresh process
    first = default_redactor()
    assert isinstance(first, Redactor)
    assert default_redactor() is first


def test_byte_stream_passes_undecodable_bytes_through_mid_line() -> None:
    s = BytesStreamRedactor(Redactor())  # its own default encoding: UTF-8
    assert s.feed(b"a\xff b\nc") == b"a\xff b\n"
    assert s.flush() == b"c"


def test_stream_cuts_after_the_last_line_end() -> None:
    s = Redactor().stream()
    assert s.feed("\n") == "\n"
    assert s.feed("a\rb\rc") == "a\rb\r"
    assert s.feed("d\ne") == "cd\n"
    assert s.flush() == "e"


def test_stream_a_long_tail_after_a_line_end_waits_for_its_own_end() -> None:
    s = Redactor().stream()
    head = "x" * (StreamRedactor.MAX_PENDING - 400) + "\n"
    assert s.feed(head + "y" * 500) == head
    assert s.flush() == "y" * 500


def test_stream_writes_a_match_that_ends_exactly_at_the_cut() -> None:
    r = Redactor()
    r.add("hunter2hunter2")
    s = r.stream()
    before = "a" * (StreamRedactor.MAX_PENDING + 100)
    assert s.feed(before + "hunter2hunter2" + "b" * StreamRedactor.MIN_HOLD) == before + MASK
    assert s.flush() == "b" * StreamRedactor.MIN_HOLD


def test_stream_holds_back_a_secret_with_a_carriage_return_across_chunks() -> None:
    r = Redactor()
    r.add("line1\rline2")
    s = r.stream()
    assert s.feed("x line1\r") == ""  # the line end could be inside the secret: nothing of it goes out yet
    assert s.feed("line2 y\n") + s.flush() == f"x {MASK} y\n"
