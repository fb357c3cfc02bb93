"""The log viewer under Pilot: the end of a large file shows at once, search, level filter, next error, wrap,
follow (a growing file, a rolled one), merge, the pager, untrusted text, and its doors in the wizard (Welcome's
"Review logs", the progress screen's View log at a failed step's failing line)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from octotui.screens.logs import LogLines, LogScreen
from textual.app import App

from octotui.logs.formats import Level
from octotui.logs.sources import Source, file_source
from tests.fixtures.logs import nlog, octopus_lines, write_lines


class Viewer(App[None]):
    def __init__(self, screen: LogScreen) -> None:
        super().__init__()
        self.log_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.log_screen)


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            screen = pilot.app.screen
            raise AssertionError(f"timed out waiting for {what or condition}: {getattr(screen, 'message', '')!r}")
        await pilot.pause(0.02)


def shown(screen: LogScreen) -> list[str]:
    lines = screen.query_one(LogLines)
    return [lines.render_line(y).text.rstrip() for y in range(lines.size.height)]


def status(screen: LogScreen) -> str:
    return str(screen.query_one("#status").render())


def drive(screen: LogScreen, body: Callable[[Any, LogScreen], Awaitable[None]], size: tuple[int, int] = (110, 30)
          ) -> None:
    async def main() -> None:
        app = Viewer(screen)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: screen.review is not None and screen.review.doc.complete, what="the index")
            await pilot.pause()  # the messages the complete index posted are handled
            await body(pilot, screen)

    asyncio.run(main())


@pytest.fixture
def octopus_log(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "OctopusServer.txt", octopus_lines(3000, seed=4))


def test_the_end_of_a_large_file_shows_before_the_index_is_complete(tmp_path: Path) -> None:
    line = nlog(dt.datetime(2025, 6, 1), "INFO", "filler line to make the file large enough " + "x" * 60)
    path = tmp_path / "big.log"
    with open(path, "wb") as fh:
        fh.write(((line + "\r\n") * 200_000).encode())  # about 25 MB
        fh.write((nlog(dt.datetime(2025, 6, 2), "ERROR", "THE LAST LINE") + "\r\n").encode())
    screen = LogScreen([file_source(path)])

    async def main() -> None:
        app = Viewer(screen)
        async with app.run_test(size=(110, 30)) as pilot:
            started = time.monotonic()
            await until(pilot, lambda: any("THE LAST LINE" in t for t in shown(screen)), what="the last line")
            assert time.monotonic() - started < 5
            await until(pilot, lambda: screen.review is not None and screen.review.doc.complete)
            assert screen.review is not None and screen.review.row_count() == 200_001
            await until(pilot, lambda: any("THE LAST LINE" in t and t.startswith("200001 E") for t in shown(screen)),
                        what="the last line numbered 200001 once the index is complete")

    asyncio.run(main())


def test_a_count_does_not_wait_for_the_index_and_the_view_keeps_its_lines_as_it_grows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a slow disk the index of a large log takes a while: ``c`` counts over the raw file meanwhile, and the
    batches that arrive later (applied together) leave the lines on the screen where they were."""
    from octotui.logs import index

    lines = octopus_lines(40_000, seed=9)
    path = write_lines(tmp_path / "OctopusServer.txt", lines)
    hits = sum("Machines-42 " in t for t in lines)
    gate = threading.Event()
    backward = index.Scanner.backward

    def slow_disk(self: index.Scanner, stop: int, end: int, sizes: tuple[int, ...] = (1 << 16,),
                  cancelled: Callable[[], bool] = lambda: False) -> Iterator[index.Batch]:
        for n, batch in enumerate(backward(self, stop, end, (1 << 16,), cancelled)):
            if n == 1:
                gate.wait(8)  # the first batch (the last screenful) is through; the rest waits for the test
            yield batch

    monkeypatch.setattr(index.Scanner, "backward", slow_disk)
    screen = LogScreen([file_source(path)])

    async def main() -> None:
        app = Viewer(screen)
        async with app.run_test(size=(110, 30)) as pilot:
            await until(pilot, lambda: any("entry 39999:" in t for t in shown(screen)), what="the last screenful")
            assert "indexing" in status(screen)
            await pilot.press("slash", *"Machines-42 ", "enter")
            await pilot.press("c")
            await until(pilot, lambda: f"{hits} lines match" in status(screen), what="the count")
            review = screen.review
            assert review is not None and not review.doc.complete  # counted before the index was complete
            await pilot.press("pageup", "pageup")  # two pages up from the end: following stops
            await until(pilot, lambda: "paused" in status(screen) and not any("entry 39999:" in t for t in shown(screen)),
                        what="two pages up")
            before = shown(screen)
            gate.set()
            await until(pilot, lambda: review.doc.complete, what="the index")
            await pilot.pause(0.5)
            assert review.row_count() == len(lines)
            def unnumbered(rows: list[str]) -> list[str]:
                return [re.sub(r"^\s*\d+ ", "", t) for t in rows]

            assert unnumbered(shown(screen)) == unnumbered(before)  # the same lines, renumbered

    try:
        asyncio.run(main())
    finally:
        gate.set()


def test_search_next_previous_and_count(octopus_log: Path) -> None:
    lines = octopus_log.read_text().splitlines()
    hits = [n for n, t in enumerate(lines) if "Machines-42 " in t]
    assert len(hits) >= 3

    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        await pilot.press("g", "slash", *"Machines-42 ", "enter")
        await until(pilot, lambda: view.cursor == hits[0])
        await pilot.press("n")
        await until(pilot, lambda: view.cursor == hits[1])
        await pilot.press("N")
        await until(pilot, lambda: view.cursor == hits[0])
        await pilot.press("c")
        await until(pilot, lambda: f"{len(hits)} lines match" in status(screen))
        # The match is highlighted on the screen: the row at the cursor is drawn.
        assert any(f"{hits[0] + 1} " in t and "Machines-42" in t for t in shown(screen))

    drive(LogScreen([file_source(octopus_log)]), body)


def test_a_late_answer_to_an_earlier_request_does_not_hide_the_later_one(octopus_log: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Enter then c: the count answers first, the search (slowed, as on a slow disk) after it. The search still
    moves to its match, but the status line keeps the count the user asked for last."""
    from octotui.logs import view as view_module

    lines = octopus_log.read_text().splitlines()
    hits = [n for n, t in enumerate(lines) if "Machines-42 " in t]
    gate = threading.Event()
    find = view_module.find

    def slow_find(*args: Any, **kwargs: Any) -> Any:
        gate.wait(10)
        return find(*args, **kwargs)

    monkeypatch.setattr(view_module, "find", slow_find)

    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        await pilot.press("g", "slash", *"Machines-42 ", "enter", "c")
        await until(pilot, lambda: f"{len(hits)} lines match" in status(screen), what="the count")
        gate.set()
        await until(pilot, lambda: view.cursor == hits[0], what="the search's match")
        await pilot.pause(0.2)
        assert f"{len(hits)} lines match" in status(screen)

    try:
        drive(LogScreen([file_source(octopus_log)]), body)
    finally:
        gate.set()


def test_a_regular_expression_and_a_bad_one(octopus_log: Path) -> None:
    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        await pilot.press("g", "slash", *"re:entry 1[0-9]{3}:", "enter")
        await until(pilot, lambda: view.cursor is not None)
        assert screen.review is not None and "entry 1" in screen.review.lines(view.cursor, 1)[0].text
        await pilot.press("slash", *"re:(unclosed", "enter")
        await until(pilot, lambda: "not valid" in status(screen))

    drive(LogScreen([file_source(octopus_log)]), body)


def test_after_going_to_the_end_the_previous_error_is_the_one_above_the_screen_not_the_old_mark(
        octopus_log: Path) -> None:
    """A jump starts from the marked row only while it is on the screen: after G, E is the last error above the
    screen, not nothing (the row before the old mark, at the top of the file)."""
    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        review = screen.review
        assert review is not None
        await pilot.press("g", "e")
        await until(pilot, lambda: view.cursor is not None, what="the first error")
        first = view.cursor
        rows = review.lines(0, review.row_count())
        last = max(i for i, r in enumerate(rows) if r.head and r.level is not None and r.level >= Level.ERROR)
        assert first is not None and first < last - 100
        await pilot.press("G")
        await pilot.pause()
        top = view.top_row
        above = max(i for i, r in enumerate(rows[:top]) if r.head and r.level is not None and r.level >= Level.ERROR)
        await pilot.press("E")
        await until(pilot, lambda: view.cursor != first, what="the previous error")
        assert view.cursor == above, (top, last)  # as less's "?": from the line above the top of the screen

    drive(LogScreen([file_source(octopus_log)]), body)


def test_level_filter_and_next_error(octopus_log: Path) -> None:
    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        review = screen.review
        assert review is not None
        total = review.row_count()
        await pilot.press("g", "e")
        await until(pilot, lambda: view.cursor is not None)
        first_error = review.lines(view.cursor or 0, 1)[0]
        assert first_error.head and first_error.level is not None and first_error.level >= Level.ERROR
        await pilot.press("l")  # ERROR and above
        await until(pilot, lambda: review.min_level is Level.ERROR)
        rows = review.lines(0, review.row_count())
        assert 0 < len(rows) < total and all(r.level is not None and r.level >= Level.ERROR for r in rows)
        assert "ERROR+" in status(screen)
        for _ in range(4):  # WARN+, INFO+, DEBUG+, then every level again
            await pilot.press("l")
            await pilot.pause()
        await until(pilot, lambda: review.min_level is None and review.row_count() == total)

    drive(LogScreen([file_source(octopus_log)]), body)


def test_wrap_shows_a_long_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_text("short\n" + "word " * 100 + "THE END\n" + "after\n")

    async def body(pilot: Any, screen: LogScreen) -> None:
        await pilot.press("g")
        await until(pilot, lambda: any("short" in t for t in shown(screen)), what="the top of the file")
        assert not any("THE END" in t for t in shown(screen))
        await pilot.press("w")
        await until(pilot, lambda: any("THE END" in t for t in shown(screen)))
        assert "wrap" in status(screen)

    drive(LogScreen([file_source(path)]), body, size=(80, 20))


def test_follows_a_growing_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "OctopusServer.txt", octopus_lines(200, seed=1))

    async def body(pilot: Any, screen: LogScreen) -> None:
        view = screen.query_one(LogLines)
        with open(path, "ab") as fh:
            for i in range(5):
                fh.write((nlog(dt.datetime(2025, 6, 2), "WARN", f"appended {i}") + "\r\n").encode())
        await until(pilot, lambda: any("appended 4" in t for t in shown(screen)))
        assert view.at_bottom
        await pilot.press("f")  # paused: new lines arrive but the view stays
        await pilot.press("g")
        with open(path, "ab") as fh:
            fh.write((nlog(dt.datetime(2025, 6, 2), "INFO", "while paused") + "\r\n").encode())
        review = screen.review
        assert review is not None
        await until(pilot, lambda: review.doc.line_count == review.row_count() and
                    any("while paused" in r.text for r in review.lines(review.row_count() - 1, 1)))
        assert view.top_row == 0

    drive(LogScreen([file_source(path)]), body)


def test_a_log_rolled_while_followed(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "OctopusServer.txt", octopus_lines(300, seed=2))

    async def body(pilot: Any, screen: LogScreen) -> None:
        path.rename(tmp_path / "OctopusServer.0.txt")
        write_lines(path, [nlog(dt.datetime(2025, 6, 3), "INFO", "the first line of the new file")])
        await until(pilot, lambda: "rolled" in status(screen))
        await until(pilot, lambda: any("first line of the new file" in t for t in shown(screen)))
        assert screen.review is not None and screen.review.row_count() == 1

    drive(LogScreen([file_source(path)]), body)


def test_merging_the_files_given(tmp_path: Path) -> None:
    one = write_lines(tmp_path / "one.txt", octopus_lines(50, seed=1, step_ms=20, node="ONE"))
    two = write_lines(tmp_path / "two.txt", octopus_lines(50, seed=2, step_ms=30, node="TWO"))

    async def body(pilot: Any, screen: LogScreen) -> None:
        await pilot.press("m")
        await until(pilot, lambda: screen.review is not None and screen.review.is_merged)
        assert any(t.startswith("two.txt") for t in shown(screen))  # each row says which file it is from
        review = screen.review
        assert review is not None and review.labels == ["one.txt", "two.txt"]
        assert {r.source for r in review.lines(0, review.row_count())} == {0, 1}
        walls = [r.wall for r in review.lines(0, review.row_count()) if r.head]  # type: ignore[union-attr]
        assert walls == sorted(walls)  # type: ignore[type-var]
        await pilot.press("m")
        await until(pilot, lambda: screen.review is not None and not screen.review.is_merged)

    drive(LogScreen([file_source(one), file_source(two)]), body)


def test_the_pager_gets_the_file(octopus_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "pager-args"
    monkeypatch.setenv("PAGER", f"sh -c 'printf \"%s\\n\" \"$@\" > {record}' pager")

    async def body(pilot: Any, screen: LogScreen) -> None:
        monkeypatch.setattr(type(pilot.app), "suspend", lambda self: contextlib.nullcontext())
        await pilot.press("p")
        await until(pilot, record.exists)
        assert str(octopus_log) in record.read_text()

    drive(LogScreen([file_source(octopus_log)]), body)


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "evil.log"
    path.write_bytes(b"before\n\x1b]0;pwned\x07 title and \x1b[2J clear\nafter\n")

    async def body(pilot: Any, screen: LogScreen) -> None:
        text = "\n".join(shown(screen))
        assert "\x1b" not in text and "\x07" not in text
        assert "\\x1b]0;pwned\\x07" in text

    drive(LogScreen([file_source(path)]), body)


def test_a_missing_file_is_said_not_raised(tmp_path: Path) -> None:
    screen = LogScreen([file_source(tmp_path / "nope.log")])

    async def main() -> None:
        app = Viewer(screen)
        async with app.run_test(size=(100, 20)) as pilot:
            await until(pilot, lambda: "Cannot open" in status(screen))
            assert "nope.log" in status(screen)

    asyncio.run(main())


def test_a_node_log_tail_first_then_earlier_lines_then_followed(tmp_path: Path) -> None:
    from tests.fixtures.logs import FakeAccess, FakeNode

    path = "C:\\Octopus\\Logs\\OctopusServer.txt"
    lines = octopus_lines(12_000, seed=8)
    node = FakeNode(files={path: ("\r\n".join(lines) + "\r\n").encode()})
    source = Source("node", "OCTO1: OctopusServer.txt", tmp_path / "node-logs" / "OCTO1" / "OctopusServer.txt",
                    node="OCTO1")
    screen = LogScreen([source], access=FakeAccess({"OCTO1": node}))

    async def main() -> None:
        async with Viewer(screen).run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: screen.review is not None and screen.review.doc.complete
                        and screen.review.row_count() > 0, what="the tail")
            review = screen.review
            assert review is not None
            tail = review.row_count()
            assert tail < len(lines) and review.lines(tail - 1, 1)[0].text == lines[-1]
            assert "L fetches earlier lines" in status(screen)
            await pilot.press("g")
            top_text = review.lines(0, 1)[0].text
            await pilot.press("L")
            await until(pilot, lambda: screen.review is not None and screen.review.row_count() > tail,
                        what="earlier lines")
            view = screen.query_one(LogLines)
            assert screen.review is not None
            assert screen.review.lines(view.cursor or 0, 1)[0].text == top_text  # the same line stays in view
            node.files[path] += (nlog(dt.datetime(2025, 6, 9), "ERROR", "written on the node just now") +
                                 "\r\n").encode()
            await pilot.press("G")
            await until(pilot, lambda: any("written on the node just now" in t for t in shown(screen)),
                        what="the node's new line")

    asyncio.run(main())


# --- in the wizard ----------------------------------------------------------------------------------------

@pytest.fixture
def failed_run(isolated_home: Path) -> Iterator[Path]:
    from octotui.run.journal import JournalWriter, plan_summary
    from octotui.run.store import create_run_dir
    from octotui.secrets.redact import Redactor

    run_dir = create_run_dir(isolated_home)
    with JournalWriter(run_dir, Redactor()) as j:
        j.run_started(mode="create", plan=plan_summary({"OCTO1": [("install", "Install"),
                                                                  ("database", "Create the database")]}))
        j.step_started("OCTO1", "install", "Install")
        j.step_output("OCTO1", "install", "stdout", "installed\n")
        j.step_done("OCTO1", "install", changed=True, duration_ms=10)
        j.step_started("OCTO1", "database", "Create the database")
        j.step_output("OCTO1", "database", "stdout", "".join(f"progress line {i}\n" for i in range(200)))
        j.step_output("OCTO1", "database", "stderr", "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'.\n"
                                                     "   at SqlConnection.Open()\n")
        j.step_output("OCTO1", "database", "stdout", "".join(f"cleanup line {i}\n" for i in range(50)))
        j.step_failed("OCTO1", "database", error="OCTO1: database failed: Login failed for user "
                      "'NT AUTHORITY\\ANONYMOUS LOGON'.", hint="run it as the service account")
        j.run_finished("failed")
    yield run_dir


def test_welcome_review_logs_opens_the_latest_run(failed_run: Path) -> None:
    from octotui.screens.app import WizardApp

    app = WizardApp(offline=True)

    async def main() -> None:
        async with app.run_test(size=(110, 30)) as pilot:
            await until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogScreen))
            screen = app.screen
            assert isinstance(screen, LogScreen) and screen.source is not None
            assert screen.source.kind == "journal" and screen.source.run == failed_run.name
            await until(pilot, lambda: screen.review is not None and screen.review.doc.complete)
            await until(pilot, lambda: any("step_failed OCTO1/database" in t for t in shown(screen)))
            await pilot.press("escape")
            await until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen")
            assert app.unhandled == []

    asyncio.run(main())


def test_view_log_opens_a_failed_step_at_its_failing_line(failed_run: Path) -> None:
    from octotui.screens.app import WizardApp

    app = WizardApp(offline=True, attach=failed_run)

    async def main() -> None:
        async with app.run_test(size=(110, 40)) as pilot:
            await until(pilot, lambda: type(app.screen).__name__ == "ProgressScreen")
            await until(pilot, lambda: getattr(app.screen, "status", "") == "failed")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogScreen))
            screen = app.screen
            assert isinstance(screen, LogScreen) and screen.source is not None
            assert (screen.source.node, screen.source.step) == ("OCTO1", "database")
            view = screen.query_one(LogLines)
            await until(pilot, lambda: view.cursor is not None, what="the failing line")
            assert screen.review is not None
            assert screen.review.lines(view.cursor or 0, 1)[0].text.startswith("Login failed for user")
            await until(pilot, lambda: any(t.startswith("201 ") and "Login failed" in t for t in shown(screen)),
                        what="line 201, the failing line, on screen")
            assert app.unhandled == []

    asyncio.run(main())


def test_a_node_log_without_winrm_settings_says_how_to_get_it(tmp_path: Path) -> None:
    source = Source("node", "OCTO1: OctopusServer.txt", tmp_path / "node-logs" / "OCTO1" / "OctopusServer.txt",
                    node="OCTO1")
    screen = LogScreen([source])

    async def main() -> None:
        async with Viewer(screen).run_test(size=(120, 20)) as pilot:
            await until(pilot, lambda: "not fetched yet" in status(screen))

    asyncio.run(main())
