"""Node logs over WinRM, against a fake node that answers list-files and read-file as the scripts do: the tail
first and whole lines only, earlier parts on demand, growth, a roll, UTF-16 logs, redaction, the local copy
a viewer follows."""

from __future__ import annotations

import json
from pathlib import Path

from octotui.logs import fetch
from octotui.logs.document import LogDocument
from octotui.logs.fetch import NodeLogMirror, list_node_logs
from octotui.logs.logfile import Change
from octotui.logs.sources import META_SUFFIX
from octotui.secrets.redact import default_redactor
from tests.fixtures.logs import FakeNode, all_lines, octopus_lines

LOG = "C:\\Octopus\\Logs\\OctopusServer.txt"


def _node(lines: list[str], **files: bytes) -> FakeNode:
    data = ("\r\n".join(lines) + "\r\n").encode()
    return FakeNode(files={LOG: data, **files})


def test_listing_orders_the_current_log_before_its_archives() -> None:
    node = FakeNode(files={LOG: b"a\r\n", "C:\\Octopus\\Logs\\OctopusServer.1.txt": b"c\r\n",
                           "C:\\Octopus\\Logs\\OctopusServer.0.txt": b"b\r\n",
                           "C:\\Windows\\Temp\\octotui-msi-2025.3.1234.log": b"\xff\xfe=\x00=\x00",
                           "C:\\Octopus\\Logs\\other.log": b""})
    listing = list_node_logs(node, "C:\\Octopus")
    assert [f.name for f in listing.files] == ["OctopusServer.txt", "OctopusServer.0.txt", "OctopusServer.1.txt",
                                               "octotui-msi-2025.3.1234.log"]
    assert listing.files[-1].encoding.name == "utf-16-le" and listing.utc_offset_s == 3600
    assert node.calls[0] == ("list-files", {"globs": ["C:\\Octopus\\Logs\\OctopusServer*.txt",
                                                      "C:\\Windows\\Temp\\octotui-msi-*.log"], "head_bytes": 4})


def test_the_tail_first_then_earlier_lines_on_demand(tmp_path: Path) -> None:
    lines = octopus_lines(3000, seed=2)
    node = _node(lines)
    (remote,) = list_node_logs(node, "C:\\Octopus", msi=False).files
    mirror = NodeLogMirror(node, remote, tmp_path / "OCTO1", utc_offset_s=3600)
    path = mirror.fetch_tail(tail=4096)
    with LogDocument(path) as doc:
        tail = all_lines(doc.build())
    assert 10 < len(tail) < 100 and tail == lines[-len(tail):]  # whole lines only, the latest
    assert not mirror.complete
    meta = json.loads(Path(str(path) + META_SUFFIX).read_text())
    assert meta["remote_path"] == LOG and meta["utc_offset_s"] == 3600 and meta["start"] == mirror.start > 0
    added = mirror.fetch_earlier(8192)
    with LogDocument(path) as doc:
        more = all_lines(doc.build())
    assert len(more) == len(tail) + added and more == lines[-len(more):]
    while not mirror.complete:
        mirror.fetch_earlier(1 << 20)
    with LogDocument(path) as doc:
        assert all_lines(doc.build()) == lines


def test_growth_is_copied_line_by_line_and_a_partial_line_waits(tmp_path: Path) -> None:
    node = _node(["first", "second"])
    (remote,) = list_node_logs(node, "C:\\Octopus", msi=False).files
    mirror = NodeLogMirror(node, remote, tmp_path)
    path = mirror.fetch_tail()
    with LogDocument(path) as doc:
        doc.build()
        assert mirror.poll() == "same"
        node.files[LOG] += b"third\r\nfour"  # the service is in the middle of writing a line
        assert mirror.poll() == "grew"
        assert doc.poll().change is Change.GREW and all_lines(doc) == ["first", "second", "third"]
        node.files[LOG] += b"th\r\n"
        mirror.poll()
        doc.poll()
        assert all_lines(doc) == ["first", "second", "third", "fourth"]


def test_a_rolled_node_log_is_mirrored_from_its_new_start(tmp_path: Path) -> None:
    node = _node([f"old {i}" for i in range(50)])
    (remote,) = list_node_logs(node, "C:\\Octopus", msi=False).files
    mirror = NodeLogMirror(node, remote, tmp_path)
    path = mirror.fetch_tail()
    with LogDocument(path) as doc:
        doc.build()
        # NLog: the current file becomes OctopusServer.0.txt, a new one starts.
        node.files["C:\\Octopus\\Logs\\OctopusServer.0.txt"] = node.files[LOG]
        node.files[LOG] = b"new 1\r\n"
        assert mirror.poll() == "rolled" and mirror.rolls == 1
        assert doc.poll().change is Change.ROLLED
        assert all_lines(doc.build()) == ["new 1"]


def test_a_utf16_log_keeps_its_byte_order_mark_in_a_partial_copy(tmp_path: Path) -> None:
    text = "".join(f"MSI (s) (7C:10) [10:00:{i % 60:02d}:001]: line {i} é\r\n" for i in range(400))
    msi = "C:\\Windows\\Temp\\octotui-msi-2025.3.1234.log"
    node = FakeNode(files={msi: b"\xff\xfe" + text.encode("utf-16-le")})
    (remote,) = list_node_logs(node, "C:\\Octopus").files
    mirror = NodeLogMirror(node, remote, tmp_path)
    path = mirror.fetch_tail(tail=3001)  # an odd size: the slice still starts on a character
    assert path.read_bytes().startswith(b"\xff\xfe")
    with LogDocument(path) as doc:
        got = all_lines(doc.build())
        assert doc.encoding.name == "utf-16-le"
    expected = text.split("\r\n")[:-1]
    assert got and got == expected[-len(got):]


def test_secrets_in_a_node_log_are_masked_before_they_are_written_here(tmp_path: Path) -> None:
    secret = "Sup3r-Secret-Pa55word"
    default_redactor().add(secret)
    node = _node(["connecting", f"Password={secret};", "done"])
    (remote,) = list_node_logs(node, "C:\\Octopus", msi=False).files
    path = NodeLogMirror(node, remote, tmp_path).fetch_tail()
    assert secret.encode() not in path.read_bytes() and b"connecting" in path.read_bytes()


def test_a_node_without_its_log_says_so(tmp_path: Path) -> None:
    node = FakeNode(files={})
    listing = list_node_logs(node, "C:\\Octopus")
    assert listing.files == []
    assert fetch.log_globs("D:\\Octo", msi=False) == ["D:\\Octo\\Logs\\OctopusServer*.txt"]
