"""What a running Octopus Server keeps writing to ``OctopusServer.txt`` while nothing else happens.

A real server's log never stands still: its scheduler, node heartbeats and health checks log as they run.
The lab's service does the same, one entry a second while it runs, so that a console following a node's
log (``octotui logs --node``) sees it grow while the service writes it, as it would on Windows. The words
are the lab's own: modelled on the kinds of entries Octopus writes at Info, not copied from a real server.
"""

from __future__ import annotations

import threading

from octotui.lab.octopus.logfile import ServerLog
from octotui.lab.state import NodeState, World

#: Seconds between two entries.
INTERVAL_S = 1.0
#: The service's scheduler thread (the start-up runs on another).
THREAD_ID = 14

_MESSAGES = (
    "Node {node} heartbeat recorded; {slots} task slots free",
    "Checking for server tasks to run: none queued",
    "Maintenance window check: not in a maintenance window",
)


class ServiceActivity:
    """A thread that appends an entry to a running service's log every ``INTERVAL_S`` until stopped."""

    def __init__(self, world: World, node: NodeState, home: str, pid: int, interval_s: float = INTERVAL_S) -> None:
        self.world = world
        self.node = node
        self.interval_s = interval_s
        self.log = ServerLog(world, node, pid=pid, tid=THREAD_ID)
        self.log.set_home(home)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{node.name}-octopus-activity", daemon=True)
        self._count = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop writing. Callers may hold the world lock, so this does not wait for the thread: the thread
        checks the flag under that lock before each entry, so nothing is written after this returns."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self.world.lock:
                if self._stop.is_set():
                    return
                message = _MESSAGES[self._count % len(_MESSAGES)]
                self._count += 1
                self.log.write("INFO", message.format(node=self.node.name, slots=5))
