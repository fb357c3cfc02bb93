"""Whether a scan may take a second core (a helper thread for the index, a child process for a count).

Why ask: on an idle machine a second core halves a scan of a large log, but on a busy one it slows it down:
the helper waits for a core, and a thread preempted while it holds the GIL stalls the other (measured with
``bench/logs_large.py`` on a two-core machine at a load average of 5: the index took 0.46-0.95 s with two
threads and 0.27-0.66 s with one). So a scan takes a second core only when the load average leaves one idle.
"""

from __future__ import annotations

import os

#: True or False to decide for every scan (tests, benchmarks); None to ask the machine each time.
FORCE: bool | None = None


def spare_core() -> bool:
    """A core this process may use besides the one it runs on is idle (or nobody can tell: Windows)."""
    if FORCE is not None:
        return FORCE
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows has no load average
        return True
    return load <= cores - 1
