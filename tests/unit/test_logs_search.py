"""Search by text or regular expression: next, previous and count agree with a line-by-line reference, across
chunk boundaries, in both directions, with case folding and for UTF-16 files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from octotui.logs import search
from octotui.logs.document import LogDocument
from octotui.logs.search import Matcher, Query, QueryError, count, find
from tests.fixtures.logs import grep_count, octopus_lines, reference, write_lines


@pytest.fixture(params=["utf-8", "utf-16-le"])
def log(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LogDocument:
    monkeypatch.setattr(search, "CHUNK", 2048)  # many chunks, so boundaries are crossed
    lines = octopus_lines(800, seed=3)
    lines[10] = lines[10] + " Überprüfung"
    lines[500] = lines[500] + " überprüfung"
    if request.param == "utf-8":
        path = write_lines(tmp_path / "OctopusServer.txt", lines)
    else:
        path = write_lines(tmp_path / "OctopusServer.txt", lines, encoding="utf-16-le", bom=b"\xff\xfe")
    doc = LogDocument(path, block=512).build()
    yield doc
    doc.close()


def _reference_next(lines: list[str], pattern: re.Pattern[str], after: int, backward: bool) -> int | None:
    order = range(after - 1, -1, -1) if backward else range(after + 1, len(lines))
    return next((i for i in order if pattern.search(lines[i])), None)


@pytest.mark.parametrize(("text", "regex", "flags"), [
    ("ERROR", False, 0),
    ("error", False, re.I),
    ("Machines-42", False, 0),
    (r"entry \d+7: Machines", True, 0),
    (r"^   at ", True, re.M),
    ("überprüfung", False, re.I),
    ("no such text anywhere", False, 0),
])
def test_find_and_count_agree_with_the_reference(log: LogDocument, text: str, regex: bool, flags: int) -> None:
    lines = reference(log.path)
    pattern = re.compile(text if regex else re.escape(text), flags)
    query = Query(text, regex=regex)
    assert count(log, query) == grep_count(lines, pattern.pattern, flags=flags)
    for after in (-1, 0, 9, 10, 399, 799):
        assert find(log, query, after) == _reference_next(lines, pattern, after, False), after
    for before in (800, 799, 500, 11, 1, 0):
        assert find(log, query, before, backward=True) == _reference_next(lines, pattern, before, True), before


def test_case_follows_the_query_unless_told() -> None:
    assert not Query("error").case_sensitive
    assert Query("Error").case_sensitive
    assert not Query("Error", case=False).case_sensitive


def test_an_invalid_regular_expression_is_said_plainly(log: LogDocument) -> None:
    with pytest.raises(QueryError) as caught:
        Matcher(Query("(unclosed", regex=True), log.encoding)
    assert "(unclosed" in caught.value.message and "not valid" in caught.value.message


def test_an_empty_query_is_refused(log: LogDocument) -> None:
    with pytest.raises(QueryError):
        Matcher(Query(""), log.encoding)


def test_count_reports_progress_and_can_be_cancelled(log: LogDocument) -> None:
    seen: list[float] = []
    assert count(log, Query("INFO"), progress=seen.append) is not None
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert count(log, Query("INFO"), cancelled=lambda: True) is None


def test_a_match_in_a_line_longer_than_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "CHUNK", 1024)
    path = tmp_path / "long.log"
    path.write_bytes(b"short\n" + b"y" * 50_000 + b" needle " + b"z" * 50_000 + b"\nafter needle\n")
    with LogDocument(path, block=256) as doc:
        doc.build()
        assert find(doc, Query("needle"), -1) == 1
        assert find(doc, Query("needle"), 1) == 2
        assert count(doc, Query("needle")) == 2
