"""The connect policy of a run: wait out a node that is restarting, fail at once on what waiting cannot fix.

A node being rebooted refuses connections, does not answer or drops them for a while (a transport fault);
a run gives it ``CONNECT_PATIENCE_S`` before it fails. Credentials and TLS problems fail at once, since
waiting cannot fix them (and every refused logon counts towards an account's lockout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from octotui.remote.errors import RemoteError
from octotui.remote.session import NodeSession
from octotui.spec.model import ClusterSpec, NodeSpec

#: How long a run waits for a node that refuses connections (it may be rebooting) before it fails.
CONNECT_PATIENCE_S = 90.0
#: The first pause between two attempts; it doubles with each one, up to ``MAX_PAUSE_S``.
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 5.0


def session_factory(spec: ClusterSpec, secrets: Mapping[str, str]) -> Callable[..., NodeSession]:
    """A ``RemoteFactory`` (``octotui.run.executor``) for ``spec``'s nodes: ``make(node, patience_s=None)``
    returns an open session. ``secrets`` by runner name: ``winrm`` logs on; ``service`` goes to the node's
    environment (``OCTOPUS_SERVICE_PASSWORD``) for the steps that run as the service account."""
    env = {"OCTOPUS_SERVICE_PASSWORD": secrets["service"]} if "service" in secrets else {}

    def make(node: NodeSpec, /, *, patience_s: float | None = None) -> NodeSession:
        """Connect, waiting out a node that is restarting (refused, unreachable or dropping connections for a
        while: a transport fault) for up to ``patience_s`` (default ``CONNECT_PATIENCE_S``); credentials and
        TLS problems fail at once, since waiting cannot fix them."""
        deadline = time.monotonic() + (CONNECT_PATIENCE_S if patience_s is None else patience_s)
        delay = FIRST_PAUSE_S
        while True:
            session = NodeSession.from_spec(node, spec.winrm, secrets.get("winrm"), env=env)
            try:
                session.open()
                return session
            except RemoteError as exc:
                session.close()
                if not exc.transient or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, MAX_PAUSE_S)

    return make
