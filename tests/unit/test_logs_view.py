"""The viewer's model without a terminal: rows under a filter, search and next error that skip hidden rows,
a filtered view that follows its file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from octotui.logs.document import LogDocument
from octotui.logs.formats import Level
from octotui.logs.search import Query
from octotui.logs.view import Review
from tests.fixtures.logs import TRACE, nlog, octopus_lines, write_lines


def _review(path: Path) -> Review:
    return Review([LogDocument(path, block=256).build()])


def test_rows_are_lines_until_a_filter(tmp_path: Path) -> None:
    lines = octopus_lines(200, seed=11)
    review = _review(write_lines(tmp_path / "OctopusServer.txt", lines))
    assert review.row_count() == len(lines)
    assert [r.text for r in review.lines(5, 3)] == lines[5:8]
    rows = review.compute_filter(Level.ERROR)
    review.set_filter(Level.ERROR, rows)
    shown = review.lines(0, review.row_count())
    assert shown and all(r.level is not None and r.level >= Level.ERROR for r in shown)
    assert sum(1 for r in shown if not r.head) == 3 * sum(1 for r in shown if r.head)  # traces kept
    assert review.row_of(0, shown[3].number) == 3


def test_search_and_errors_under_a_filter(tmp_path: Path) -> None:
    t = dt.datetime(2025, 6, 1, 9, 0, 0)
    lines = [nlog(t, "INFO", "needle in info"), nlog(t, "ERROR", "first error"), *TRACE,
             nlog(t, "INFO", "needle again"), nlog(t, "ERROR", "needle in an error"), *TRACE]
    review = _review(write_lines(tmp_path / "OctopusServer.txt", lines))
    query = Query("needle")
    assert review.find(query, -1) == 0
    review.set_filter(Level.ERROR, review.compute_filter(Level.ERROR))
    row = review.find(query, -1)
    assert row is not None and review.at(row) == (0, 6)
    assert review.find(query, row) is None
    assert review.next_level(Level.ERROR, -1) == 0
    assert review.next_level(Level.ERROR, 0) == 4 and review.at(4) == (0, 6)
    assert review.next_level(Level.ERROR, review.row_count(), backward=True) == 4


def test_a_filtered_view_follows_its_file(tmp_path: Path) -> None:
    t = dt.datetime(2025, 6, 1, 9, 0, 0)
    path = write_lines(tmp_path / "OctopusServer.txt", [nlog(t, "INFO", "a"), nlog(t, "ERROR", "b")])
    review = _review(path)
    review.set_filter(Level.WARN, review.compute_filter(Level.WARN))
    assert review.row_count() == 1
    with open(path, "ab") as fh:
        fh.write(("\r\n".join([nlog(t, "INFO", "c"), nlog(t, "WARN", "d"), "   at trace line"]) + "\r\n").encode())
    poll = review.doc.poll()
    assert review.grown(0, poll.growth) == 2
    assert [r.number for r in review.lines(0, review.row_count())] == [1, 3, 4]
