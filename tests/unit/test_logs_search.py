"""Search by text or regular expression: next, previous and count agree with a line-by-line reference, across
chunk boundaries, in both directions, with case folding and for UTF-16 files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from octotui.logs import cpu, search
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


@pytest.mark.parametrize("spare", [False, True], ids=["one-thread", "reader-thread"])
def test_count_needs_no_index_and_covers_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        spare: bool) -> None:
    """A count reads the raw file: before the index has a single batch, and while it covers only the end."""
    monkeypatch.setattr(cpu, "FORCE", spare)
    lines = octopus_lines(3000, seed=5)
    path = write_lines(tmp_path / "OctopusServer.txt", lines, bom=b"\xef\xbb\xbf")
    expected = grep_count(lines, "ERROR")
    assert expected > 0
    with LogDocument(path, block=256) as doc:
        assert count(doc, Query("ERROR")) == expected
        batches = doc.initial_batches()
        doc.apply(next(batches))
        assert not doc.complete
        assert count(doc, Query("ERROR")) == expected


@pytest.mark.parametrize("spare", [False, True], ids=["one-thread", "reader-thread"])
@pytest.mark.parametrize("chunk", [64, 1000, 1 << 20])
@pytest.mark.parametrize(("text", "flags"), [("Error", 0), ("error", re.I), ("[x]", re.I), ("[X]", 0), ("@tag", re.I)])
def test_count_across_chunks_and_long_lines_agrees_with_grep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             chunk: int, text: str, flags: int, spare: bool) -> None:
    """Chunk boundaries, lines longer than a chunk, a last line without its newline and case folding (A-Z
    only, so "@" and "[" stay as they are) count as ``grep -c`` would, read in the counting thread or in a
    reader thread of its own."""
    monkeypatch.setattr(search, "CHUNK", chunk)
    monkeypatch.setattr(cpu, "FORCE", spare)
    lines = ["Error at start", "no match", "x" * 5000 + " ERROR " + "y" * 3000, "[X] @TAG `tag` {x}", "",
             "error", "z" * 200 + "Error", "`TAG [x] error error", "Error without newline"]
    path = write_lines(tmp_path / "a.log", lines, eol="\r\n", final_eol=False)
    with LogDocument(path, block=64) as doc:
        assert count(doc, Query(text)) == grep_count(lines, re.escape(text), flags=flags)


@pytest.mark.parametrize("spare", [False, True], ids=["one-thread", "reader-thread"])
def test_count_searches_only_the_start_of_a_line_too_long_to_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    spare: bool) -> None:
    monkeypatch.setattr(cpu, "FORCE", spare)
    monkeypatch.setattr(search, "CHUNK", 256)
    monkeypatch.setattr(search, "MAX_SPAN", 4096)
    path = tmp_path / "a.log"
    path.write_bytes(b"needle first\n" + b"a" * 100 + b"needle" + b"b" * 10_000 + b"needle\n"
                     + b"c" * 10_000 + b"needle\n" + b"needle last\n")
    with LogDocument(path, block=64) as doc:
        # line 2 matches within its first 4096 bytes; line 3 only beyond them
        assert count(doc, Query("needle")) == 3


@pytest.mark.parametrize(("text", "regex", "flags"), [("ERROR", False, 0), ("error", False, re.I),
                                                      (r"entry \d+7: Machines", True, 0)])
def test_a_large_count_shares_the_file_with_a_child_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             text: str, regex: bool, flags: int) -> None:
    """The regular expression engine holds the GIL: a large file's last part is counted by a second process,
    and the two counts add up to grep's."""
    from octotui.logs import countproc

    monkeypatch.setattr(search, "PROCESS_FROM", 0)
    monkeypatch.setattr(cpu, "FORCE", True)
    answers: list[int | None] = []
    real_answer = countproc.answer
    monkeypatch.setattr(countproc, "answer", lambda proc: answers.append(real_answer(proc)) or answers[-1])
    lines = octopus_lines(5000, seed=8)
    path = write_lines(tmp_path / "OctopusServer.txt", lines, bom=b"\xef\xbb\xbf")
    with LogDocument(path) as doc:
        seen: list[float] = []
        assert count(doc, Query(text, regex=regex), progress=seen.append) == grep_count(lines, text if regex else
                                                                                       re.escape(text), flags=flags)
        assert len(answers) == 1 and answers[0] is not None and answers[0] > 0  # the child counted its part
        assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_a_child_that_fails_leaves_its_part_to_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "PROCESS_FROM", 0)
    monkeypatch.setattr(cpu, "FORCE", True)
    monkeypatch.setattr("sys.executable", "/bin/false")  # starts, and exits 1 at once
    lines = octopus_lines(2000, seed=9)
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    with LogDocument(path) as doc:
        assert count(doc, Query("ERROR")) == grep_count(lines, "ERROR")
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))  # cannot start at all
    with LogDocument(path) as doc:
        assert count(doc, Query("ERROR")) == grep_count(lines, "ERROR")


def test_a_cancelled_count_stops_its_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from octotui.logs import countproc

    monkeypatch.setattr(search, "PROCESS_FROM", 0)
    monkeypatch.setattr(cpu, "FORCE", True)
    started: list[Any] = []
    real_start = countproc.start
    monkeypatch.setattr(countproc, "start", lambda request: started.append(real_start(request)) or started[-1])
    path = write_lines(tmp_path / "OctopusServer.txt", octopus_lines(2000, seed=9))
    with LogDocument(path) as doc:
        assert count(doc, Query("ERROR"), cancelled=lambda: True) is None
    assert len(started) == 1 and started[0].poll() is not None  # ended, not left running


def test_a_busy_machine_counts_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No core to spare: no child is started, and the count is the same."""
    from octotui.logs import countproc

    monkeypatch.setattr(search, "PROCESS_FROM", 0)
    monkeypatch.setattr(cpu, "FORCE", False)
    started: list[object] = []
    monkeypatch.setattr(countproc, "start", started.append)
    lines = octopus_lines(2000, seed=9)
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    with LogDocument(path) as doc:
        assert count(doc, Query("ERROR")) == grep_count(lines, "ERROR")
    assert started == []
