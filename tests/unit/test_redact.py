"""The redactor: registered values in every encoding they travel in, secret-shaped values by pattern, bytes,
streams split anywhere, and many threads at once."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from octotui.secrets.redact import (
    MASK,
    MIN_SECRET_LENGTH,
    SECRET_OPTIONS,
    Redactor,
    default_redactor,
    encodings_of,
    is_secret_option,
)
from octotui.windows.octopus import masked_argv

SECRET = 'Pa$$w0rd"with\\odd\'chars&<>'


def _redactor(*secrets: str) -> Redactor:
    r = Redactor()
    for s in secrets:
        r.add(s)
    return r


def test_registered_value_is_masked_everywhere() -> None:
    r = _redactor("hunter2hunter2")
    assert r.redact("a hunter2hunter2 b hunter2hunter2") == f"a {MASK} b {MASK}"
    assert r("nothing here") == "nothing here"


def test_encoded_forms_are_masked() -> None:
    r = _redactor(SECRET)
    samples = [
        json.dumps({"value": SECRET}),
        json.dumps({"value": SECRET}, ensure_ascii=False),
        "https://x/?q=" + urllib.parse.quote(SECRET, safe=""),
        "q=" + urllib.parse.quote_plus(SECRET, safe=""),
        "$p = '" + SECRET.replace("'", "''") + "'",
        "Password=\"" + SECRET.replace('"', '""') + "\"",
        "<S>" + SECRET.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("'", "&#x27;") + "</S>",
    ]
    for text in samples:
        out = r.redact(text)
        assert MASK in out, text
        assert "w0rd" not in out, (text, out)


def test_base64_inside_an_encoded_command_is_masked() -> None:
    """A PowerShell -EncodedCommand holds base64 of the UTF-16LE script; the secret can sit at any offset."""
    r = _redactor("S3cr3t-Value-42")
    for pad in range(6):
        script = "x" * pad + "$env:OCTOPUS_SERVICE_PASSWORD = 'S3cr3t-Value-42'; Start-Thing"
        encoded = base64.b64encode(script.encode("utf-16-le")).decode()
        out = r.redact(f"powershell -EncodedCommand {encoded}")
        assert MASK in out
        for form in encodings_of("S3cr3t-Value-42"):
            assert form not in out
        utf8 = base64.b64encode(("y" * pad + "S3cr3t-Value-42 tail").encode()).decode()
        assert MASK in r.redact(utf8)


def test_short_values_are_not_registered() -> None:
    r = _redactor("abc", "", "x" * (MIN_SECRET_LENGTH - 1))
    assert r.registered == 0
    assert r.redact("abc abc") == "abc abc"


def test_patterns_mask_unregistered_values() -> None:
    r = Redactor()
    cases = {
        'Octopus.Server.exe database --masterKey "abc/def==" --console':
            f'Octopus.Server.exe database --masterKey "{MASK}" --console',
        "Octopus.Server.exe admin --username=jane --password=Sup3r!": f"Octopus.Server.exe admin --username=jane "
                                                                      f"--password={MASK}",
        "license --licenseBase64 PD94bWwgdmVy": f"license --licenseBase64 {MASK}",
        "x --apiKey API-123 --pw:abc": f"x --apiKey {MASK} --pw:{MASK}",
        "--MASTERKEY=abc": f"--MASTERKEY={MASK}",
        "Data Source=s;Password=p@ss;Initial Catalog=o": f"Data Source=s;Password={MASK};Initial Catalog=o",
        "Server=s;PWD={a;b}}c};x=1": f"Server=s;PWD={{{MASK}}};x=1",
        "OCTOPUS_SERVICE_PASSWORD=hunter2 more": f"OCTOPUS_SERVICE_PASSWORD={MASK}",
        "$env:OCTOPUS_SERVICE_PASSWORD = 'it''s'": f"$env:OCTOPUS_SERVICE_PASSWORD = '{MASK}'",
        "export OCTOTUI_MASTER_KEY=\"k==\"": f"export OCTOTUI_MASTER_KEY=\"{MASK}\"",
        '{"Password": "a\\"b", "user": "x"}': f'{{"Password": "{MASK}", "user": "x"}}',
        '{"MasterKey":"abc=="}': f'{{"MasterKey":"{MASK}"}}',
        "{'service_password': 'x1y2'}": f"{{'service_password': '{MASK}'}}",
    }
    for text, expected in cases.items():
        assert r.redact(text) == expected, text


def test_one_list_of_secret_options_for_text_and_argv() -> None:
    """The redactor's patterns and ``masked_argv`` hide the same options: the one list in redact.py (once
    there were two, and ``--azureADClientSecret`` was masked in a plan but not in a log)."""
    r = Redactor()
    for option in SECRET_OPTIONS:
        assert is_secret_option(f"--{option}") and is_secret_option(option.upper())
        assert r.redact(f"configure --{option} v4lue-x --instance A") == f"configure --{option} {MASK} --instance A"
        assert r.redact(f"configure --{option}=v4lue-x") == f"configure --{option}={MASK}"
        assert masked_argv(["configure", f"--{option}", "v4lue-x", "--instance", "A"]) == \
            ["configure", f"--{option}", MASK, "--instance", "A"]
    assert not is_secret_option("--licenseFile") and not is_secret_option("--clientId")


def test_patterns_leave_ordinary_text_alone() -> None:
    r = Redactor()
    for text in [
        "Octopus.Server.exe database --connectionString \"Data Source=s;Integrated Security=True\"",
        "the password policy requires 8 characters",
        "C:\\Octopus\\password-reset\\file.txt",
        '{"PasswordIsSet": true, "name": "x"}',
        "--username jane --console",
        "--password\nnext line stays",
    ]:
        assert r.redact(text) == text, text


def test_bytes_in_bytes_out() -> None:
    r = _redactor("hunter2hunter2")
    assert r.redact_bytes(b"x hunter2hunter2 \xff y") == f"x {MASK} ".encode() + b"\xff y"
    cp = "caf\u00e9 hunter2hunter2".encode("cp850")
    assert r.redact_bytes(cp, "cp850") == f"caf\u00e9 {MASK}".encode("cp850")


def test_stream_masks_a_secret_split_across_chunks() -> None:
    r = _redactor("hunter2hunter2")
    s = r.stream()
    out = s.feed("line one\nsecret is hun") + s.feed("ter2hun") + s.feed("ter2 ok\nand --pass") + \
        s.feed("word abc") + s.feed("def\n") + s.flush()
    assert out == f"line one\nsecret is {MASK} ok\nand --password {MASK}\n"


def test_stream_emits_whole_lines_early() -> None:
    s = _redactor("hunter2hunter2").stream()
    assert s.feed("first line\nsecond") == "first line\n"
    assert s.feed(" line\n") == "second line\n"
    assert s.flush() == ""


def test_stream_long_line_without_newline_still_flows() -> None:
    s = _redactor("hunter2hunter2").stream()
    emitted = s.feed("a" * 50000)
    assert 0 < len(emitted) < 50000
    rest = s.feed("hunter2hunter2") + s.flush()
    assert emitted + rest == "a" * 50000 + MASK


def test_byte_stream_splits_characters_and_secrets() -> None:
    r = _redactor("pässwörd-42")
    data = "héllo pässwörd-42 wörld\n".encode()
    s = r.byte_stream()
    out = b"".join(s.feed(data[i : i + 1]) for i in range(len(data))) + s.flush()
    assert out == f"héllo {MASK} wörld\n".encode()


_pieces = st.sampled_from([*"ab \n=;:-\"'xyzPW", "hunter2hunter2", "--password ", "Password=",
                           "OCTOPUS_SERVICE_PASSWORD=", '{"pwd": "', '\\"', "PWD={", "}}"])
_text = st.lists(_pieces, max_size=20).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_text, min_size=1, max_size=8), st.data())
def test_stream_equals_one_shot(parts: list[str], data: st.DataObject) -> None:
    """However the text is chunked, the stream writes what one-shot redaction writes."""
    r = _redactor("hunter2hunter2")
    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    s = r.stream()
    out = []
    last = 0
    for c in [*cuts, len(text)]:
        out.append(s.feed(text[last:c]))
        last = c
    out.append(s.flush())
    assert "".join(out) == r.redact(text)
    assert "hunter2hunter2" not in "".join(out)


def test_threads_can_register_and_redact_at_once() -> None:
    r = Redactor()
    secrets = [f"secret-value-{i:03d}" for i in range(40)]
    errors: list[str] = []

    def writer(i: int) -> None:
        r.add(secrets[i])
        for _ in range(50):
            out = r.redact(f"x {secrets[i]} y")
            if secrets[i] in out:
                errors.append(out)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(secrets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(s not in r.redact(" ".join(secrets)) for s in secrets)


def test_default_redactor_is_shared() -> None:
    assert default_redactor() is default_redactor()
