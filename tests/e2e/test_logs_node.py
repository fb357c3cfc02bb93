"""Node logs over real WinRM, against a lab whose cluster was built by ``octotui apply``: the server log is
fetched tail first while the node's Octopus service keeps writing it, followed, rolled, read in UTF-16, the MSI
log found, and the viewer follows it and merges the nodes' logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.logs.access import NodeAccess, access_from_file
from octotui.logs.document import LogDocument
from octotui.logs.fetch import NodeLogMirror, list_node_logs
from octotui.logs.formats import Level
from octotui.logs.logfile import Change
from tests.fixtures.cli import octotui, octotui_env, wait_for, write_answers
from tests.fixtures.lab import LabProcess, running_lab

pytestmark = pytest.mark.slow

LOGS = "C:\\Octopus\\Logs"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabProcess, dict[str, str], Path]]:
    base = tmp_path_factory.mktemp("logs-e2e")
    with running_lab(base / "lab", "--nodes", "2") as lab:
        answers = write_answers(lab, base / "answers.toml", ["OCTO1", "OCTO2"])
        env = octotui_env(lab, base)
        out = octotui(env, "apply", str(answers), "--yes", timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        yield lab, env, answers


@pytest.fixture
def access(cluster: tuple[LabProcess, dict[str, str], Path], monkeypatch: pytest.MonkeyPatch) -> NodeAccess:
    _lab, env, answers = cluster
    monkeypatch.setenv("OCTOTUI_WINRM_PASSWORD", env["OCTOTUI_WINRM_PASSWORD"])
    monkeypatch.setenv("OCTOTUI_HOME", env["OCTOTUI_HOME"])
    return access_from_file(answers, interactive=False)


def _remote_bytes(session, path: str, start: int, end: int) -> bytes:  # type: ignore[no-untyped-def]
    out = b""
    while start + len(out) < end:
        r = session.run_script("read-file", {"path": path, "offset": start + len(out),
                                             "max_bytes": min(4 << 20, end - start - len(out))})
        out += base64.b64decode(r["data"])
    return out


def test_a_node_log_fetched_while_its_service_writes_it(access: NodeAccess, tmp_path: Path) -> None:
    with access.session("OCTO1") as session:
        listing = list_node_logs(session, access.home("OCTO1"))
        names = [f.name for f in listing.files]
        assert names[0] == "OctopusServer.txt"
        assert any(n.startswith("octotui-msi-") for n in names), names  # the install step's MSI log
        remote = listing.files[0]
        mirror = NodeLogMirror(session, remote, tmp_path / "OCTO1", utc_offset_s=listing.utc_offset_s)
        path = mirror.fetch_tail(tail=2048)
        with LogDocument(path, utc_offset=listing.utc_offset_s) as doc:
            doc.build()
            assert doc.format.name == "octopus" and doc.line_count > 0
            first_count = doc.line_count
            # The running service writes an entry a second: the mirror sees the file grow, whole lines only.
            wait_for(lambda: mirror.poll() == "grew")
            assert doc.poll().change is Change.GREW and doc.line_count > first_count
            assert "heartbeat" in "".join(ln.text for ln in doc.lines(0, doc.line_count)) or \
                   "task" in "".join(ln.text for ln in doc.lines(0, doc.line_count))
            assert all(i.level is not None for i in doc.info(0, doc.line_count) if i.head)
        # What we have is exactly the node's bytes for that range, although the file grew while we read.
        local = path.read_bytes()
        assert local == _remote_bytes(session, remote.path, mirror.start, mirror.end)
        assert local.endswith(b"\r\n")
        # The rest on demand, until the whole file (as far as we followed it) is here.
        while not mirror.complete:
            mirror.fetch_earlier(1 << 20)
        whole = path.read_bytes()
        assert whole == _remote_bytes(session, remote.path, 0, mirror.end)
        assert b"The Octopus Server has started" in whole


def test_rolled_and_utf16_logs_on_a_node(access: NodeAccess, tmp_path: Path) -> None:
    """NLog's archive (OctopusServer.0.txt, here in UTF-16 as some tools write) is listed; a roll of the
    current file while it is followed is seen, and the new file mirrored from its start."""
    archive = "\r\n".join(f"2025-06-01 09:00:{i % 60:02d}.0000   4520      6 ERROR  archived entry {i} é"
                          for i in range(300)).encode("utf-16-le")
    archive = b"\xff\xfe" + archive + "\r\n".encode("utf-16-le")
    with access.session("OCTO2") as session:
        saved = session.run_script("save-file", {"path": f"{LOGS}\\OctopusServer.0.txt", "offset": 0,
                                                 "data_b64": base64.b64encode(archive).decode(),
                                                 "sha256": hashlib.sha256(archive).hexdigest()})
        assert saved["ok"], saved
        listing = list_node_logs(session, access.home("OCTO2"), msi=False)
        assert [f.name for f in listing.files] == ["OctopusServer.txt", "OctopusServer.0.txt"]
        rolled = NodeLogMirror(session, listing.files[1], tmp_path, utc_offset_s=listing.utc_offset_s)
        with LogDocument(rolled.fetch_tail(tail=1001)) as doc:
            doc.build()
            assert doc.encoding.name == "utf-16-le"
            lines = [ln.text for ln in doc.lines(0, doc.line_count)]
            assert lines and lines[-1].endswith("archived entry 299 é")
            assert all(i.level is Level.ERROR for i in doc.info(0, doc.line_count))

        mirror = NodeLogMirror(session, listing.files[0], tmp_path, utc_offset_s=listing.utc_offset_s)
        with LogDocument(mirror.fetch_tail()) as current:
            current.build()
            fresh = b"2025-06-01 10:00:00.0000   4520      6  INFO  a new file after the roll\r\n"
            saved = session.run_script("save-file", {"path": f"{LOGS}\\OctopusServer.txt", "offset": 0,
                                                     "data_b64": base64.b64encode(fresh).decode(),
                                                     "sha256": hashlib.sha256(fresh).hexdigest()})
            assert saved["ok"], saved
            assert mirror.poll() == "rolled"
            assert current.poll().change is Change.ROLLED
            current.build()
            assert current.line(0).text.endswith("a new file after the roll")


def test_list_files_answers_for_missing_folders_and_refuses_bad_parameters(access: NodeAccess) -> None:
    from octotui.remote.errors import ScriptError

    with access.session("OCTO1") as session:
        result = session.run_script("list-files", {"globs": ["D:\\Nowhere\\*.log", f"{LOGS}\\OctopusServer.tx?"]})
        assert result["ok"] and [f["name"] for f in result["files"]] == ["OctopusServer.txt"]
        assert result["missing"] == [{"glob": "D:\\Nowhere\\*.log", "folder": "D:\\Nowhere",
                                      "error": "Could not find a part of the path 'D:\\Nowhere'."}]
        assert isinstance(result["utc_offset_minutes"], int) and result["now_utc"].endswith("Z")
        (listed,) = result["files"]
        assert listed["modified_utc"].endswith("Z") and base64.b64decode(listed["head_b64"])[:2] == b"20"
        with pytest.raises(ScriptError) as caught:
            session.run_script("list-files", {"globs": []})
        assert caught.value.stage == "params" and "globs" in caught.value.error


def test_octotui_logs_plans_a_node_log_under_the_run(cluster: tuple[LabProcess, dict[str, str], Path],
                                                      access: NodeAccess) -> None:
    from octotui.cli.logs import plan_sources

    _lab, env, answers = cluster
    sources, start, got = plan_sources([], node="octo2", answers=str(answers), home=Path(env["OCTOTUI_HOME"]))
    first = sources[start]
    assert (first.kind, first.node, first.path.name) == ("node", "OCTO2", "OctopusServer.txt")
    assert first.path.parent.parent.name == "node-logs" and first.run is not None
    assert got is not None and {s.node for s in sources if s.kind == "node"} == {"OCTO1", "OCTO2"}
    assert sources[1].kind == "journal"


def test_the_viewer_follows_a_node_log_and_merges_the_nodes(access: NodeAccess, tmp_path: Path) -> None:
    asyncio.run(_viewer_follows_and_merges(access, tmp_path))


async def _viewer_follows_and_merges(access: NodeAccess, tmp_path: Path) -> None:
    from octotui.screens.logs import LogLines, LogScreen
    from textual.app import App

    from octotui.logs.sources import Source

    sources = [Source("node", f"{n}: OctopusServer.txt", tmp_path / n / "OctopusServer.txt", node=n)
               for n in ("OCTO1", "OCTO2")]
    screen = LogScreen(sources, 0, access=access, home=tmp_path)

    class Viewer(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = Viewer()
    async with app.run_test(size=(120, 30)) as pilot:
        async def until(condition, timeout: float = 60.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, f"{what}: {screen.message!r} {screen.busy}"
                await pilot.pause(0.1)

        await until(lambda: screen.review is not None and screen.review.doc.complete
                    and screen.review.row_count() > 0, what="the tail")
        assert screen.review is not None and screen.review.doc.format.name == "octopus"
        # The node's other logs are offered too (o): here the install step's MSI log.
        assert any(s.node == "OCTO1" and s.path.name.startswith("octotui-msi-") for s in screen.sources)
        rows = screen.review.row_count()
        await until(lambda: screen.review is not None and screen.review.row_count() > rows, what="follow")
        lines = screen.query_one(LogLines)
        await until(lambda: lines.at_bottom, what="at the bottom")
        await pilot.press("m")
        await until(lambda: screen.review is not None and screen.review.is_merged, what="merged")
        merged = screen.review
        assert merged is not None and merged.labels == ["OCTO1", "OCTO2"]
        assert {r.source for r in merged.lines(0, merged.row_count())} == {0, 1}
