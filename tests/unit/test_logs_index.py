"""The sparse line index: the same lines as the obvious reader on every kind of file, built from the end first,
numbered consistently while it grows at both ends, and never holding the file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from octotui.logs import cpu
from octotui.logs.document import LogDocument
from octotui.logs.index import LineIndex, Scanner
from octotui.logs.logfile import LogError, LogFile
from tests.fixtures.logs import all_lines, reference, write_lines

BLOCKS = (16, 64, 4096)


def _random_text(rnd: random.Random) -> list[str]:
    sizes = (0, 1, 3, 40, 120, 700)
    return ["".join(rnd.choice("abcxyz é\t€") for _ in range(rnd.choice(sizes))) for _ in range(rnd.randrange(0, 80))]


@pytest.mark.parametrize("seed", range(40))
def test_every_line_matches_the_obvious_reader(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    lines = _random_text(rnd)
    kind = seed % 5
    eol = rnd.choice(["\n", "\r\n"])
    final = rnd.random() < 0.7
    if kind == 0:
        path = write_lines(tmp_path / "a.log", lines, eol=eol, final_eol=final)
    elif kind == 1:
        path = write_lines(tmp_path / "a.log", lines, eol=eol, bom=b"\xef\xbb\xbf", final_eol=final)
    elif kind == 2:
        path = write_lines(tmp_path / "a.log", lines, eol=eol, encoding="utf-16-le", bom=b"\xff\xfe", final_eol=final)
    elif kind == 3:
        path = write_lines(tmp_path / "a.log", lines, eol=eol, encoding="utf-16-be", bom=b"\xfe\xff", final_eol=final)
    else:
        path = write_lines(tmp_path / "a.log", lines, eol=eol, encoding="cp1252", final_eol=final)
    block = rnd.choice(BLOCKS)
    with LogDocument(path, block=block) as doc:
        doc.build()
        assert doc.complete
        assert all_lines(doc) == reference(path)
        for n in range(doc.line_count):
            start, end = doc.index.span(n)
            assert doc.index.line_at(start) == n
            assert doc.index.line_at(end - 1) == n


def test_line_count_agrees_with_wc_semantics(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.log", ["one", "two", "three"], eol="\n")
    with LogDocument(path) as doc:
        assert doc.build().line_count == 3 == doc.index.newline_count()
    path.write_bytes(b"one\ntwo\nthree")  # no final newline: still three lines
    with LogDocument(path) as doc:
        assert doc.build().line_count == 3
    path.write_bytes(b"")
    with LogDocument(path) as doc:
        assert doc.build().line_count == 0 and doc.complete
    path.write_bytes(b"\xff\xfe")  # a UTF-16 BOM alone: no lines
    with LogDocument(path) as doc:
        assert doc.build().line_count == 0


def test_the_last_block_comes_first_and_later_batches_shift_the_numbers(tmp_path: Path) -> None:
    lines = [f"line {i:05d}" for i in range(3000)]
    path = write_lines(tmp_path / "a.log", lines, eol="\n")
    with LogDocument(path, block=256) as doc:
        batches = doc.initial_batches()
        first = next(batches)
        assert first.end == path.stat().st_size and first.end - first.start <= 256
        doc.apply(first)
        assert not doc.complete
        shown = [ln.text for ln in doc.lines(0, doc.line_count)]
        assert shown == lines[-len(shown):] and 0 < len(shown) < 40
        total_before = doc.line_count
        growth = doc.apply(next(batches))
        assert growth.added_before == doc.line_count - total_before > 0 and growth.added_after == 0
        # The same line keeps its text under its new number.
        assert doc.line(growth.added_before).text == shown[0]
        for batch in batches:
            doc.apply(batch)
        assert doc.complete and all_lines(doc) == lines


def test_a_partial_region_never_shows_the_cut_line(tmp_path: Path) -> None:
    lines = ["x" * 300 + str(i) for i in range(20)]
    path = write_lines(tmp_path / "a.log", lines, eol="\n")
    with LogFile(path) as f:
        index = LineIndex(f.encoding, block=64)
        index.attach(f.read)
        scanner = Scanner(f, block=64)
        index.apply(scanner.count(64 * 50, f.size()))
        got = [f.encoding.decode(f.read(*_span(index, n))) for n in range(index.line_count())]
        assert got == lines[-len(got):]
        assert all(len(g) > 300 for g in got)


def _span(index: LineIndex, n: int) -> tuple[int, int]:
    start, end = index.span(n)
    return start, end - start


def test_growth_is_indexed_forwards_and_a_completed_last_line_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"first\nsecond\npart")
    with LogDocument(path, block=16) as doc:
        doc.build()
        assert all_lines(doc) == ["first", "second", "part"]
        with open(path, "ab") as fh:
            fh.write(b"ial line\nthird\n")
        poll = doc.poll()
        assert poll.growth is not None and poll.growth.added_after == 1
        assert all_lines(doc) == ["first", "second", "partial line", "third"]


def test_a_very_long_line_is_shown_cut_and_its_neighbours_whole(tmp_path: Path) -> None:
    long = "é" * 3_000_000  # 6 MB in UTF-8
    path = tmp_path / "a.log"
    path.write_text(f"before\n{long}\nafter\n", encoding="utf-8")
    with LogDocument(path) as doc:
        doc.build()
        before, middle, after = doc.lines(0, 3)
        assert (before.text, after.text) == ("before", "after")
        assert middle.cut and middle.size == len(long.encode()) + 1
        assert 0 < len(middle.text) <= 1 << 16 and set(middle.text) == {"é"}
        assert doc.index.line_at(middle.start + 5_000_000) == 1


def test_utf16_without_a_bom_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "tail.log"
    path.write_bytes("Action start 10:00:00: INSTALL.\r\nReturn value 3.\r\n".encode("utf-16-le"))
    with LogDocument(path) as doc:
        assert doc.encoding.name == "utf-16-le" and doc.encoding.bom == 0
        assert all_lines(doc.build()) == ["Action start 10:00:00: INSTALL.", "Return value 3."]


def test_the_index_stays_small(tmp_path: Path) -> None:
    """A count per 64 KiB block: 10 MB of lines cost about 640 bytes of index."""
    path = tmp_path / "big.log"
    line = b"2025-06-01 08:00:00.0000   4520      6  INFO  hello\r\n"
    path.write_bytes(line * (10_000_000 // len(line)))
    with LogDocument(path) as doc:
        doc.build()
        assert doc.line_count == 10_000_000 // len(line)
        assert len(doc.index._counts) * doc.index._counts.itemsize < 1024


@pytest.mark.parametrize("seed", range(12))
def test_the_numpy_count_in_two_threads_agrees_with_bytes_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                seed: int) -> None:
    """Large ranges are counted by numpy in two threads at once: the same counts, for any range and block."""
    monkeypatch.setattr(cpu, "FORCE", seed % 3 != 0)  # two threads, and one on a machine without a core to spare
    rnd = random.Random(seed)
    lines = _random_text(rnd) * 20
    encoding = ("utf-8", "cp1252")[seed % 2]
    path = write_lines(tmp_path / "a.log", lines, eol=rnd.choice(["\n", "\r\n"]), encoding=encoding,
                       bom=b"\xef\xbb\xbf" if seed % 4 == 0 else b"", final_eol=rnd.random() < 0.5)
    size = path.stat().st_size
    block = rnd.choice((16, 64, 256))
    with LogFile(path) as f:
        plain = Scanner(f, block, fast_from=1 << 62)
        fast = Scanner(f, block, read_size=block * rnd.choice((1, 3, 8)), fast_from=0, split_from=2 * block)
        mixed = Scanner(f, block, read_size=block * 2, fast_from=size // 2, split_from=2 * block)  # switches midway
        for _ in range(10):
            start = rnd.randrange(0, max(1, size))
            end = rnd.randrange(start, size + 1)
            expected = plain.count(start, end)
            assert fast.count(start, end) == expected == mixed.count(start, end), (start, end)
        assert fast.count(0, size) == plain.count(0, size)


def test_a_document_indexed_with_numpy_reads_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import octotui.logs.index as index

    monkeypatch.setattr(index, "FAST_FROM", 0)
    monkeypatch.setattr(index, "SPLIT_FROM", 128)
    monkeypatch.setattr(cpu, "FORCE", True)
    lines = [f"2025-06-01 08:00:{i % 60:02d}.0000  4520  6  INFO  entry {i} é" for i in range(4000)]
    path = write_lines(tmp_path / "a.log", lines, bom=b"\xef\xbb\xbf", final_eol=False)
    with LogDocument(path, block=64) as doc:
        doc.build()
        assert doc.complete and doc.line_count == 4000
        assert all_lines(doc) == lines


def test_a_file_cut_short_during_a_split_count_ends_the_batch_where_it_ends(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Truncated after its size was read: the batch stops at the new end and counts nothing beyond it."""
    monkeypatch.setattr(cpu, "FORCE", True)
    path = write_lines(tmp_path / "a.log", [f"line {i}" for i in range(200)], eol="\n")
    old_size = path.stat().st_size
    with LogFile(path) as f:
        with open(path, "r+b") as fh:
            fh.truncate(300)
        batch = Scanner(f, 64, read_size=64, fast_from=0, split_from=128).count(0, old_size)
        assert batch.end == 300
        assert sum(batch.counts) == path.read_bytes().count(b"\n")
        assert batch.last_newline == path.read_bytes().rfind(b"\n")


def test_a_read_error_during_a_split_count_is_raised_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "FORCE", True)
    path = write_lines(tmp_path / "a.log", [f"line {i}" for i in range(200)], eol="\n")
    f = LogFile(path)
    scanner = Scanner(f, 64, read_size=64, fast_from=0, split_from=128)
    f.close()
    with pytest.raises(LogError):
        scanner.count(0, path.stat().st_size)


@pytest.mark.parametrize(("block", "reads"), [(1024, 1), (1024, 4), (4096, 2), (1 << 16, 2)])
def test_whole_reads_counted_at_once_agree_with_bytes_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            block: int, reads: int) -> None:
    """A read of whole blocks is counted in two reductions over 64-bit words (``fastscan``): the same count per
    block as ``bytes.count``, including a block that is nothing but newlines (every byte lane at its limit)
    and one with none, with reads that start off a block boundary (a file that grew)."""
    monkeypatch.setattr(cpu, "FORCE", True)
    rnd = random.Random(block + reads)
    parts = [b"\n" * block, b"x" * block]
    while sum(map(len, parts)) < block * 12:
        parts.append(bytes(rnd.choice(b"ab\n\r") for _ in range(rnd.randrange(1, 3 * block))))
    data = b"".join(parts)
    path = tmp_path / "dense.log"
    path.write_bytes(data)
    expected = [data.count(b"\n", lo, lo + block) for lo in range(0, len(data), block)]
    assert expected[0] == block and expected[1] == 0
    with LogFile(path) as f:
        scanner = Scanner(f, block, read_size=block * reads, fast_from=0, split_from=2 * block)
        assert list(scanner.count(0, len(data)).counts) == expected
        start = block // 3
        grown = scanner.count(start, len(data))
        assert grown.counts[0] == data.count(b"\n", start, block)
        assert list(grown.counts[1:]) == expected[1:]
        with LogDocument(path, block=block) as doc:
            assert doc.build().line_count == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
