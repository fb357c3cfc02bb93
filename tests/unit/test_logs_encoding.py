"""Mixed encodings, as Windows tools write them: a byte-order mark decides, UTF-16 is recognised without one,
and an ANSI (cp1252) line in a UTF-8 file reads right on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from octotui.logs.document import LogDocument
from octotui.logs.encoding import UTF8, UTF8_BOM, UTF16_BE_BOM, UTF16_LE, UTF16_LE_BOM, by_name, detect
from octotui.logs.search import Query, count, find
from tests.fixtures.logs import all_lines


@pytest.mark.parametrize(("head", "expected"), [
    (b"\xef\xbb\xbfabc", UTF8_BOM),
    (b"\xff\xfea\x00b\x00", UTF16_LE_BOM),
    (b"\xfe\xff\x00a\x00b", UTF16_BE_BOM),
    ("plain text, no BOM\r\n".encode("utf-16-le"), UTF16_LE),
    (b"2025-06-01 08:00:00.0000  INFO  hello\r\n", UTF8),
    (b"", UTF8),
    ("caf\u00e9\r\n".encode("cp1252"), UTF8),
])
def test_detect(head: bytes, expected: object) -> None:
    assert detect(head) == expected


def test_a_file_of_mixed_encodings_reads_line_by_line(tmp_path: Path) -> None:
    """A UTF-8 log appended to by a tool writing cp1252: each line decodes as written."""
    path = tmp_path / "mixed.log"
    path.write_bytes("Überprüfung ok\r\n".encode() + "Überprüfung fehlgeschlagen\r\n".encode("cp1252")
                     + "naïve € line\n".encode())
    with LogDocument(path) as doc:
        assert all_lines(doc.build()) == ["Überprüfung ok", "Überprüfung fehlgeschlagen", "naïve € line"]
        # A search finds the word in either spelling.
        assert count(doc, Query("Überprüfung")) == 2
        assert find(doc, Query("fehlgeschlagen"), -1) == 1


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_a_bom_as_powershell_writes_it(tmp_path: Path, encoding: str, bom: bytes) -> None:
    lines = ["MSI (s) (7C:10) [10:00:00:001]: Product: Octopus Deploy Server -- Error 1603.",
             "Action ended 10:00:01: INSTALL. Return value 3.", "中文 line", "last"]
    path = tmp_path / "install.log"
    path.write_bytes(bom + "\r\n".join(lines).encode(encoding) + "\r\n".encode(encoding))
    with LogDocument(path) as doc:
        doc.build()
        assert doc.encoding == by_name(encoding, 2)
        assert all_lines(doc) == lines
        assert doc.format.name == "msi"
        assert count(doc, Query("return value 3")) == 1
        assert find(doc, Query("中文"), -1) == 2
        assert find(doc, Query(r"Error \d{4}", regex=True), doc.line_count, backward=True) == 0


def test_a_character_is_never_split_when_a_long_line_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(("€" * 40000 + "\n").encode())  # 3 bytes each, 120 KB line
    with LogDocument(path) as doc:
        line = doc.build().line(0)
        assert line.cut and "\ufffd" not in line.text and set(line.text) == {"€"}


def test_control_characters_are_kept_for_the_screen_to_escape(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_bytes(b"bell \x07 esc \x1b[2J done\n")
    with LogDocument(path) as doc:
        assert doc.build().line(0).text == "bell \x07 esc \x1b[2J done"
