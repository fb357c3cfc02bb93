"""Octopus's levels from the NLog layout, entries that span lines, the other formats, the level filter and
"next error" (fast path and line-by-line path agree with a reference)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from octotui.logs import search
from octotui.logs.document import LogDocument
from octotui.logs.formats import FORMATS, Level, detect_format
from octotui.logs.levelfilter import at_least, find_level, level_rows
from tests.fixtures.logs import TRACE, nlog, octopus_lines, write_lines

WHEN = dt.datetime(2025, 6, 1, 10, 30, 45, 123400)


def test_the_nlog_layout() -> None:
    fmt = FORMATS["octopus"]
    info = fmt.classify(nlog(WHEN, "ERROR", "The database cannot be reached"))
    assert info.head and info.level is Level.ERROR
    assert info.wall == dt.datetime(2025, 6, 1, 10, 30, 45, 123400, tzinfo=dt.UTC).timestamp()
    assert fmt.classify(nlog(WHEN, "INFO", "x")).level is Level.INFO
    assert fmt.classify("2024-01-15 10:30:45.1234  12345  67890  INFO  Your log message here").level is Level.INFO
    cont = fmt.classify(TRACE[1])
    assert not cont.head and cont.level is None
    # A message that mentions a level is not a level.
    assert fmt.classify("   at ERROR handling").head is False


@pytest.mark.parametrize(("lines", "name"), [
    ([nlog(WHEN, "INFO", "Octopus.Server version 2025.3.1234"), *TRACE], "octopus"),
    (['{"seq": 1, "ts": 1.5, "type": "run_started", "mode": "create"}'], "journal"),
    (["=== Verbose logging started: 6/1/2025  10:00:00  Build type: SHIP UNICODE 5.00.10011.00  ==="], "msi"),
    (["Installing Octopus Deploy Server", "done"], "text"),
])
def test_format_detection(lines: list[str], name: str) -> None:
    assert detect_format(lines).name == name


def test_continuation_lines_take_their_entry_s_level(tmp_path: Path) -> None:
    lines = [nlog(WHEN, "INFO", "starting"), nlog(WHEN, "ERROR", "failed"), *TRACE, nlog(WHEN, "INFO", "next")]
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    with LogDocument(path) as doc:
        doc.build()
        infos = doc.info(0, doc.line_count)
        assert [i.level for i in infos] == [Level.INFO] + [Level.ERROR] * 4 + [Level.INFO]
        assert [i.head for i in infos] == [True, True, False, False, False, True]
        # Asked from the middle of the trace, the level is looked up from the entry's first line.
        assert doc.info(3, 1)[0].level is Level.ERROR
        assert doc.entry_start(4) == 1


def _reference_rows(doc: LogDocument, levels: frozenset[Level]) -> list[int]:
    infos = doc.info(0, doc.line_count)
    return [n for n, i in enumerate(infos) if (i.level if i.level is not None else Level.INFO) in levels]


def _rows(rows: object) -> list[int]:
    from octotui.logs.rows import RowMap

    assert isinstance(rows, RowMap)
    return [line for _src, line in rows.iter_from(0, len(rows))]


@pytest.mark.parametrize("minimum", [Level.ERROR, Level.WARN, Level.INFO, Level.DEBUG, Level.FATAL])
@pytest.mark.parametrize("weights", [(1, 8, 70, 8, 10, 3), (40, 40, 5, 5, 5, 5)])
def test_the_level_filter_matches_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                minimum: Level, weights: tuple[int, ...]) -> None:
    """Both ways of the fast path (looking for the wanted levels, or for the hidden ones), over many small
    chunks so that entries cross chunk boundaries."""
    monkeypatch.setattr(search, "CHUNK", 700)
    lines = ["preamble without a timestamp", *octopus_lines(600, seed=5, weights=weights)]
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    with LogDocument(path, block=256) as doc:
        doc.build()
        levels = at_least(minimum)
        assert _rows(level_rows(doc, levels)) == _reference_rows(doc, levels)


def test_the_filter_on_a_text_log_reads_line_by_line(tmp_path: Path) -> None:
    lines = ["Installing", "ERROR: the MSI failed with exit code 1603", "   at Installer.Run()", "WARNING: slow",
             "done"]
    path = write_lines(tmp_path / "install.log", lines)
    with LogDocument(path) as doc:
        doc.build()
        assert doc.format.name == "text"
        assert _rows(level_rows(doc, at_least(Level.ERROR))) == [1, 2]
        assert _rows(level_rows(doc, at_least(Level.WARN))) == [1, 2, 3]


def test_next_and_previous_error(tmp_path: Path) -> None:
    lines = octopus_lines(300, seed=9)
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    with LogDocument(path, block=256) as doc:
        doc.build()
        infos = doc.info(0, doc.line_count)
        heads = [n for n, i in enumerate(infos) if i.head and i.level is not None and i.level >= Level.ERROR]
        assert find_level(doc, Level.ERROR, -1) == heads[0]
        assert find_level(doc, Level.ERROR, heads[0]) == heads[1]
        assert find_level(doc, Level.ERROR, doc.line_count, backward=True) == heads[-1]
        assert find_level(doc, Level.ERROR, heads[0], backward=True) is None
        assert find_level(doc, Level.FATAL, -1) == next(n for n, i in enumerate(infos)
                                                        if i.head and i.level is Level.FATAL)


def test_journal_lines_read_as_events(tmp_path: Path) -> None:
    events = [
        {"seq": 1, "ts": 1717236000.0, "type": "run_started", "mode": "create", "nodes": ["OCTO1"], "plan": {}},
        {"seq": 2, "ts": 1717236001.5, "type": "step_started", "node": "OCTO1", "step": "install", "title": "MSI"},
        {"seq": 3, "ts": 1717236009.0, "type": "step_failed", "node": "OCTO1", "step": "install",
         "error": "msiexec exit 1603", "hint": "read the MSI log"},
        {"seq": 4, "ts": 1717236010.0, "type": "run_finished", "status": "failed", "exit_code": 1},
    ]
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + '{"torn', encoding="utf-8")
    with LogDocument(path) as doc:
        doc.build()
        assert doc.format.name == "journal"
        infos = doc.info(0, doc.line_count)
        assert [i.level for i in infos[:4]] == [Level.INFO, Level.INFO, Level.ERROR, Level.ERROR]
        shown = doc.format.render(doc.line(2).text)
        assert "step_failed OCTO1/install: msiexec exit 1603 (hint: read the MSI log)" in shown
        assert doc.format.render(doc.line(4).text) == '{"torn'
        assert find_level(doc, Level.ERROR, -1) == 2
