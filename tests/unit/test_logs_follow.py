"""Following a log: a file that grows while open (also while another thread writes it), one rolled the way
NLog rolls OctopusServer.txt, one truncated in place, one deleted."""

from __future__ import annotations

import threading
from pathlib import Path

from octotui.logs.document import LogDocument
from octotui.logs.logfile import Change
from tests.fixtures.logs import all_lines, reference, wait_for


def test_a_file_that_grows_while_open(tmp_path: Path) -> None:
    path = tmp_path / "OctopusServer.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    with LogDocument(path, block=16) as doc:
        doc.build()
        assert doc.poll().change is Change.SAME
        with open(path, "ab") as fh:
            fh.write(b"three\r\nfour")
        poll = doc.poll()
        assert poll.change is Change.GREW and poll.growth is not None and poll.growth.added_after == 2
        assert all_lines(doc) == ["one", "two", "three", "four"]
        with open(path, "ab") as fh:
            fh.write(b" and more\r\n")
        doc.poll()
        assert all_lines(doc) == ["one", "two", "three", "four and more"]


def test_a_file_written_by_another_thread_while_followed(tmp_path: Path) -> None:
    path = tmp_path / "OctopusServer.txt"
    path.write_bytes(b"")
    total = 3000
    done = threading.Event()

    def writer() -> None:
        with open(path, "ab", buffering=0) as fh:
            for i in range(total):
                fh.write(f"2025-06-01 08:00:00.{i % 10000:04d}   4520      6  INFO  entry {i} ".encode()
                         + b"x" * (i % 97) + b"\r\n")
        done.set()

    with LogDocument(path, block=256) as doc:
        doc.build()
        thread = threading.Thread(target=writer)
        thread.start()

        def caught_up() -> bool:
            doc.poll(max_bytes=4096)
            return done.is_set() and doc.index.end == path.stat().st_size

        wait_for(caught_up, timeout=30)
        thread.join()
        assert doc.line_count == total
        assert all_lines(doc) == reference(path)


def test_a_log_rolled_while_followed(tmp_path: Path) -> None:
    """NLog archives OctopusServer.txt by renaming it to OctopusServer.0.txt and starting a new file."""
    path = tmp_path / "OctopusServer.txt"
    path.write_bytes(b"old 1\r\nold 2\r\n")
    with LogDocument(path) as doc:
        doc.build()
        path.rename(tmp_path / "OctopusServer.0.txt")
        assert doc.poll().change is Change.GONE  # renamed away, nothing new yet: keep what was read
        assert all_lines(doc) == ["old 1", "old 2"]
        path.write_bytes(b"new 1\r\n")
        assert doc.poll().change is Change.ROLLED and doc.rolls == 1
        assert doc.line_count == 0 or not doc.complete
        doc.build()
        assert all_lines(doc) == ["new 1"]
        with open(path, "ab") as fh:
            fh.write(b"new 2\r\n")
        assert doc.poll().change is Change.GREW
        assert all_lines(doc) == ["new 1", "new 2"]


def test_a_log_truncated_in_place_is_read_from_its_new_start(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"a long first version of the file\n" * 10)
    with LogDocument(path) as doc:
        doc.build()
        path.write_bytes(b"short\n")  # same inode, shorter: copytruncate
        assert doc.poll().change is Change.ROLLED
        assert all_lines(doc.build()) == ["short"]


def test_an_empty_file_that_gets_utf16_text(tmp_path: Path) -> None:
    """The encoding is guessed again once a file opened empty has text (it might be UTF-16)."""
    path = tmp_path / "out.log"
    path.write_bytes(b"")
    with LogDocument(path) as doc:
        doc.build()
        path.write_bytes(b"\xff\xfe" + "hello\r\n".encode("utf-16-le"))
        assert doc.poll().change is Change.ROLLED
        assert all_lines(doc.build()) == ["hello"]
