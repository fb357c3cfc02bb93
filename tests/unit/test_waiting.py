"""The shared wait helper (tests/fixtures/waiting.py): returns the event's value as soon as it happens,
and fails naming the event when it does not happen in time."""

from __future__ import annotations

import threading
import time

import pytest

from tests.fixtures.waiting import WaitTimeout, wait_until


def test_returns_the_value_as_soon_as_the_event_happens() -> None:
    happened = threading.Event()
    threading.Timer(0.05, happened.set).start()
    started = time.monotonic()
    assert wait_until(lambda: happened.is_set() and "done", timeout=10, what="the timer") == "done"
    assert time.monotonic() - started < 5  # not the whole timeout


def test_fails_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"^timed out after 0\.2 s waiting for the lab to reboot$"):
        wait_until(lambda: False, timeout=0.2, what="the lab to reboot")
    assert time.monotonic() - started >= 0.2
    assert issubclass(WaitTimeout, AssertionError)  # pytest shows it as a failed assertion


def test_an_event_that_arrives_with_the_deadline_still_counts() -> None:
    calls: list[float] = []

    def slow_check() -> bool:
        calls.append(time.monotonic())
        time.sleep(0.15)  # a check that itself takes longer than the whole budget
        return len(calls) >= 2

    assert wait_until(slow_check, timeout=0.1, what="the slow check") is True
