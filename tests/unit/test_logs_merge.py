"""Several logs in one timeline: by the time each entry was written (each file's clock offset applied),
continuation lines kept with their entry, ties in file order, long files cut to their latest lines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from octotui.logs.document import LogDocument
from octotui.logs.merge import append_new, merge
from octotui.logs.view import Review
from tests.fixtures.logs import TRACE, nlog, write_lines

T0 = dt.datetime(2025, 6, 1, 10, 0, 0)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _texts(review: Review) -> list[str]:
    """``node|message`` of each row (an entry's first line shortened to its message)."""
    return [f"{review.label(r.source)}|{r.text.split('  ')[-1] if r.head else r.text}"
            for r in review.lines(0, review.row_count())]


def test_two_nodes_merge_by_time_with_their_stack_traces(tmp_path: Path) -> None:
    one = write_lines(tmp_path / "one.txt", [nlog(_at(0), "INFO", "a0"), nlog(_at(2), "ERROR", "a2"), *TRACE,
                                             nlog(_at(4), "INFO", "a4")])
    two = write_lines(tmp_path / "two.txt", [nlog(_at(1), "INFO", "b1"), nlog(_at(3), "INFO", "b3"),
                                             nlog(_at(4), "INFO", "b4")])
    docs = [LogDocument(one, utc_offset=0).build(), LogDocument(two, utc_offset=0).build()]
    review = Review(docs, ["OCTO1", "OCTO2"])
    merged = review.compute_merge()
    assert merged is not None and not merged.partial
    review.set_merged(merged)
    assert _texts(review) == ["OCTO1|a0", "OCTO2|b1", "OCTO1|a2", *(f"OCTO1|{t}" for t in TRACE), "OCTO2|b3", "OCTO1|a4",
                     "OCTO2|b4"]


def test_clock_offsets_put_nodes_in_different_zones_on_one_timeline(tmp_path: Path) -> None:
    """OCTO1 writes UTC+2, OCTO2 UTC: 12:00:01 on OCTO1 falls between 10:00:00 and 10:00:02 on OCTO2."""
    one = write_lines(tmp_path / "one.txt", [nlog(_at(7201), "INFO", "one")])
    two = write_lines(tmp_path / "two.txt", [nlog(_at(0), "INFO", "zero"), nlog(_at(2), "INFO", "two")])
    docs = [LogDocument(one, utc_offset=7200).build(), LogDocument(two, utc_offset=0).build()]
    merged = merge(docs)
    assert merged is not None
    assert [merged.rows.at(i) for i in range(len(merged.rows))] == [(1, 0), (0, 0), (1, 1)]


def test_the_journal_merges_with_node_logs(tmp_path: Path) -> None:
    ts = _at(1).replace(tzinfo=dt.UTC).timestamp()
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"seq": 1, "ts": ts, "type": "step_started", "node": "OCTO1",
                                   "step": "database", "title": "Create the database"}) + "\n")
    node = write_lines(tmp_path / "node.txt", [nlog(_at(0), "INFO", "before"), nlog(_at(2), "INFO", "after")])
    docs = [LogDocument(journal).build(), LogDocument(node, utc_offset=0).build()]
    merged = merge(docs)
    assert merged is not None
    assert [merged.rows.at(i) for i in range(3)] == [(1, 0), (0, 0), (1, 1)]


def test_a_long_merge_keeps_the_latest_lines_and_new_lines_are_appended(tmp_path: Path) -> None:
    one = write_lines(tmp_path / "one.txt", [nlog(_at(i), "INFO", f"a{i}") for i in range(100)])
    two = write_lines(tmp_path / "two.txt", [nlog(_at(i + 0.5), "INFO", f"b{i}") for i in range(100)])
    docs = [LogDocument(one, utc_offset=0).build(), LogDocument(two, utc_offset=0).build()]
    merged = merge(docs, max_lines=40)
    assert merged is not None and merged.partial and merged.starts == (80, 80)
    assert len(merged.rows) == 40 and merged.rows.at(0) == (0, 80) and merged.rows.at(39) == (1, 99)
    with open(one, "ab") as fh:
        fh.write((nlog(_at(200), "INFO", "late") + "\r\n").encode())
    docs[0].poll()
    seen = append_new(merged, docs, [100, 100])
    assert seen == [101, 100] and merged.rows.at(40) == (0, 100)
