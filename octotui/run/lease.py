"""The cluster lease: one run at a time on a cluster, whichever console, home or answers file it comes from.

The local lock in ``runstore`` only knows this console's ``OCTOTUI_HOME`` and one answers file's path; a
copy of the file, another home or a colleague's console would not see it. The lease lives on the nodes
themselves (``C:\\ProgramData\\octotui\\lease.json``, written by ``assets/ps/node-lease.ps1``): a run takes
it on every node, in the order of the node names, before it changes anything; any other run is refused
by the first node it asks, with a message naming the holder. Taking in one fixed order means two runs
that start at the same instant meet on the first node, where the script serialises them: one gets
every node, the other none, and neither waits for the other.

The lease says who holds it (run id, console, user, process, home) and when it expires, on the node's
own clock, so that consoles whose clocks disagree still agree on expiry. Ways out of a held lease:

- an expired lease is taken automatically;
- a lease held from *this* console by a process that no longer exists (a runner killed with -9, then
  ``apply`` again) is taken over automatically: the console fingerprint makes the process id meaningful;
- ``apply --take-over`` takes any lease, for a holder known to be gone (its console was switched off).

Timing: ``LEASE_TTL_S`` (10 minutes) and ``RENEW_EVERY_S`` (1 minute).

- The time to live is how long a cluster stays blocked when its runner vanishes without releasing and
  nobody takes over, so it should be short; and it must outlast the longest time a live runner can go
  without one successful renewal, so it cannot be too short: a node rebooting during a run (a Windows
  Server restart takes 2 to 5 minutes), a WinRM service restart, a dropped connection waited out. Ten
  minutes covers a reboot with room to spare, and a stuck cluster waits at most that long (or not at
  all, with ``--take-over``).
- Renewing every minute gives about ten attempts before a lease could expire, so a node that stays
  unreachable for nine minutes still keeps its lease; each renewal is one short script per node (three
  round trips), nothing next to the steps of a run.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from octotui.errors import ClusterBusy, OctotuiError
from octotui.run.store import process_alive, process_start_token

LEASE_SCRIPT = "node-lease"
LEASE_FILE = "C:\\ProgramData\\octotui\\lease.json"
#: See the module docstring for why these two values.
LEASE_TTL_S = 600.0
RENEW_EVERY_S = 60.0
#: How long taking the lease waits out a node that refuses connections or drops them (it may be
#: rebooting), as the run itself does before it fails a node (``apply.CONNECT_PATIENCE_S``).
TAKE_PATIENCE_S = 90.0
#: How long releasing retries a node that does not answer; after that the lease expires by itself.
RELEASE_PATIENCE_S = 10.0
#: Deadline of one lease script (it holds the node's guard for milliseconds; the rest is WinRM).
SCRIPT_DEADLINE_S = 60.0
_TRANSIENT_KINDS = ("refused", "unreachable", "dropped", "timeout")


class LeaseRemote(Protocol):
    """What the lease needs of a node session (``octotui.remote.session.NodeSession`` is one)."""

    def run_script(self, name: str, params: Mapping[str, Any], *, deadline_s: float = ...,
                   idempotent: bool = ...) -> dict[str, Any]: ...

    def close(self) -> None: ...


Connect = Callable[[str], LeaseRemote]
Note = Callable[[str, str], None]


class LeaseUnavailable(OctotuiError):
    """A node could not be asked for the lease (unreachable, refused the login, the script failed): the
    run cannot start safely, and nothing was changed."""

    def __init__(self, node: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.node = node


# --- who we are --------------------------------------------------------------------------------------------


def console_fingerprint(host: str | None = None) -> str:
    """This machine in this boot: host name, machine id and boot id, hashed. Two leases with the same
    fingerprint were taken on one machine since its last start, so their process ids can be compared."""
    parts = [host if host is not None else socket.gethostname()]
    for candidates in (("/etc/machine-id", "/var/lib/dbus/machine-id"), ("/proc/sys/kernel/random/boot_id",)):
        value = ""
        for path in candidates:
            with contextlib.suppress(OSError):
                value = Path(path).read_text(encoding="ascii", errors="replace").strip()
                break
        parts.append(value)
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


@dataclass(frozen=True)
class Owner:
    """Who asks for the lease: stored on every node as the holder, shown to whoever is refused."""

    run_id: str
    console: str
    console_id: str
    user: str
    pid: int
    pid_start: str | None
    home: str

    def holder_params(self) -> dict[str, Any]:
        return asdict(self)


def this_console(run_id: str, home: Path | str) -> Owner:
    """The owner for a run executed by this process on this console."""
    host = socket.gethostname()
    pid = os.getpid()
    return Owner(run_id=run_id, console=host, console_id=console_fingerprint(host), user=_os_user(), pid=pid,
                 pid_start=process_start_token(pid), home=str(home))


# --- who holds it ------------------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Holder:
    """A lease as a node reported it (its times measured on the node's clock)."""

    node: str
    lease_id: str
    run_id: str
    console: str
    console_id: str
    user: str
    pid: int | None
    pid_start: str | None
    home: str
    account: str
    taken_at: str
    held_s: float | None
    renewed_s_ago: float | None
    expires_in_s: float | None

    @classmethod
    def from_view(cls, node: str, view: Mapping[str, Any]) -> Holder:
        def text(name: str) -> str:
            value = view.get(name)
            return "" if value is None else str(value)

        pid = view.get("pid")
        return cls(node=str(view.get("node") or node), lease_id=text("lease_id"), run_id=text("run_id") or "?",
                   console=text("console") or "?", console_id=text("console_id"), user=text("user") or "?",
                   pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                   pid_start=text("pid_start") or None, home=text("home"), account=text("account"),
                   taken_at=text("taken_at"), held_s=_float(view.get("held_s")),
                   renewed_s_ago=_float(view.get("renewed_s_ago")), expires_in_s=_float(view.get("expires_in_s")))

    def on_console_of(self, owner: Owner) -> bool:
        return bool(self.console_id) and self.console_id == owner.console_id and self.console == owner.console

    def gone(self, owner: Owner) -> bool:
        """Known to be gone: taken from this very console (since its last start) by a process that no
        longer exists. Of a holder on another console nothing can be known from here."""
        return self.on_console_of(owner) and self.pid is not None and not process_alive(self.pid, self.pid_start)

    def who(self) -> str:
        process = f", process {self.pid}" if self.pid is not None else ""
        return f"run {self.run_id} (console {self.console}, user {self.user}{process})"


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``9 min 40 s``, ``2 h 5 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")


def _since(holder: Holder) -> str:
    stamp = holder.taken_at[:19].replace("T", " ") + " UTC" if len(holder.taken_at) >= 19 else "?"
    return stamp + (f" ({span(holder.held_s)} ago)" if holder.held_s is not None else "")


def busy_error(holder: Holder, owner: Owner, answers: str) -> ClusterBusy:
    """The refusal: who holds the cluster, since when, until when, how to follow it, how to take over."""
    timing = []
    if holder.renewed_s_ago is not None:
        timing.append(f"renewed {span(holder.renewed_s_ago)} ago")
    if holder.expires_in_s is not None:
        timing.append(f"expires in {span(holder.expires_in_s)} unless renewed")
    message = (f"the cluster is busy: {holder.node} is leased to {holder.who()} since {_since(holder)}"
               + (f"; the lease was {', '.join(timing)}" if timing else "")
               + "; this run changed nothing")
    here = holder.on_console_of(owner)
    where = "on this console" if here else f"on {holder.console}"
    home = f" (OCTOTUI_HOME={holder.home})" if holder.home and holder.home != owner.home else ""
    wait = (f"wait for the lease to expire (in {span(holder.expires_in_s)}), after which apply takes it "
            "automatically" if holder.expires_in_s is not None else "wait for the lease to expire")
    hint = (f"follow that run {where} with `octotui attach {holder.run_id}`{home}; if it is gone for good (its "
            f"console was switched off or lost its network), {wait}, or take the lease over now with "
            f"`octotui apply {answers} --take-over`")
    return ClusterBusy(message, hint)


# --- the lease on every node -------------------------------------------------------------------------------


class ClusterLease:
    """Take, keep and release the lease on every node of a cluster for one run.

    ``take()`` asks each node in name order; the first refusal releases what was taken and raises
    ``ClusterBusy`` (nothing was changed anywhere); a node that cannot be asked raises
    ``LeaseUnavailable``. ``keep(on_lost)`` renews from a background thread until ``release()``; when a
    node says the lease is no longer ours (taken over), ``on_lost(reason)`` is called once so that the run
    can stop at its next safe point. ``note(node, text)`` receives what a journal should say."""

    def __init__(self, owner: Owner, nodes: Sequence[str], connect: Connect, *, answers: str = "ANSWERS",
                 take_over: bool = False, ttl_s: float = LEASE_TTL_S, renew_every_s: float = RENEW_EVERY_S,
                 take_patience_s: float = TAKE_PATIENCE_S, release_patience_s: float = RELEASE_PATIENCE_S,
                 note: Note | None = None) -> None:
        self.owner = owner
        self.nodes = sorted(nodes)
        self.lease_id = uuid.uuid4().hex
        self.answers = answers
        self.take_over = take_over
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.take_patience_s = take_patience_s
        self.release_patience_s = release_patience_s
        self._connect = connect
        self._note = note or (lambda node, text: None)
        self._sessions: dict[str, LeaseRemote] = {}
        #: Nodes whose lease this run holds, in the order taken.
        self.held: list[str] = []
        #: Leases this run replaced (expired, left by a dead runner of this console, taken over).
        self.replaced: list[Holder] = []
        #: Why the lease was lost on a node while the run lived (empty while all is well).
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._troubled: set[str] = set()

    # --- talking to a node

    def _call(self, node: str, params: dict[str, Any], patience_s: float) -> dict[str, Any]:
        from octotui.remote.errors import RemoteError, ScriptError

        deadline = time.monotonic() + patience_s
        delay = 0.5
        while True:
            try:
                session = self._sessions.get(node)
                if session is None:
                    session = self._sessions[node] = self._connect(node)
                return session.run_script(LEASE_SCRIPT, {**params, "lease_id": self.lease_id, "ttl_s": self.ttl_s},
                                          deadline_s=SCRIPT_DEADLINE_S, idempotent=True)
            except RemoteError as exc:
                self._forget(node)
                transient = getattr(exc, "transient", False) or exc.kind in _TRANSIENT_KINDS
                if transient and time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise LeaseUnavailable(node, f"could not reach {node} for the cluster lease: {exc.message}",
                                       exc.hint) from exc
            except ScriptError as exc:
                raise LeaseUnavailable(node, f"{node}: the cluster lease script failed at stage {exc.stage!r}: "
                                       f"{exc.error}", f"check that the WinRM user may write {LEASE_FILE}") \
                    from exc

    def _forget(self, node: str) -> None:
        session = self._sessions.pop(node, None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()

    # --- take

    def take(self) -> None:
        """Take the lease on every node, or raise (``ClusterBusy``, ``LeaseUnavailable``) holding none."""
        try:
            for node in self.nodes:
                self._take_one(node)
        except BaseException:
            self.release()
            raise

    def _take_one(self, node: str) -> None:
        params: dict[str, Any] = {"action": "take", "holder": self.owner.holder_params(),
                                  "take_over": self.take_over}
        result = self._call(node, params, self.take_patience_s)
        if not result.get("taken"):
            view = result.get("holder")
            holder = Holder.from_view(node, view) if isinstance(view, Mapping) else None
            if holder is None:  # freed between two looks: ask again once
                result = self._call(node, params, self.take_patience_s)
            elif holder.gone(self.owner):
                result = self._call(node, {**params, "replace": holder.lease_id}, self.take_patience_s)
            if not result.get("taken"):
                view = result.get("holder")
                if not isinstance(view, Mapping):
                    raise LeaseUnavailable(node, f"{node} refused the cluster lease without naming a holder",
                                           "run apply again")
                raise busy_error(Holder.from_view(node, view), self.owner, self.answers)
        self.held.append(node)
        previous = result.get("previous")
        if isinstance(previous, Mapping):
            old = Holder.from_view(node, previous)
            self.replaced.append(old)
            self._note(node, self._replaced_text(old))

    def _replaced_text(self, old: Holder) -> str:
        if old.expires_in_s is not None and old.expires_in_s <= 0:
            why = f"it had expired {span(-old.expires_in_s)} before"
        elif old.gone(self.owner):
            why = "its process on this console is gone"
        else:
            why = "--take-over"
        return f"took over the cluster lease of {old.who()} on {old.node}, held since {_since(old)} ({why})"

    # --- keep

    def keep(self, on_lost: Callable[[str], None]) -> None:
        """Renew every ``renew_every_s`` from a daemon thread until ``release()``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._keep, args=(on_lost,), name="lease-keeper", daemon=True)
        self._thread.start()

    def _keep(self, on_lost: Callable[[str], None]) -> None:
        while not self._stop.wait(self.renew_every_s):
            for node in list(self.held):
                if self._stop.is_set():
                    return
                self.renew(node, on_lost)

    def renew(self, node: str, on_lost: Callable[[str], None]) -> bool:
        """Renew on one node; True when it is still ours. A node that cannot be reached is tried again at
        the next round (the lease lasts ``ttl_s``); one that says it is lost calls ``on_lost``."""
        try:
            result = self._call(node, {"action": "renew"}, 0.0)
        except LeaseUnavailable as exc:
            if node not in self._troubled:
                self._troubled.add(node)
                self._note(node, f"could not renew the cluster lease on {node} ({exc.message}); trying again "
                                 f"every {span(self.renew_every_s)}, the lease lasts {span(self.ttl_s)}")
            return True
        if result.get("renewed"):
            if node in self._troubled:
                self._troubled.discard(node)
                self._note(node, f"renewed the cluster lease on {node} again")
            return True
        view = result.get("holder")
        if isinstance(view, Mapping):
            reason = f"the cluster lease on {node} was taken over by {Holder.from_view(node, view).who()}"
        else:
            reason = f"the cluster lease on {node} is gone (its file was removed)"
        with contextlib.suppress(ValueError):
            self.held.remove(node)
        self.lost.append(reason)
        on_lost(reason)
        return False

    # --- release

    def release(self) -> None:
        """Stop renewing and give the lease back on every node that holds it; a node that does not answer
        keeps it until it expires (or a run from this console takes it over). Never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(SCRIPT_DEADLINE_S + 5)
            if thread.is_alive():  # stuck in a call: its sessions are not ours to use
                self._sessions = {}
        for node in reversed(self.held):
            try:
                self._call(node, {"action": "release"}, self.release_patience_s)
            except LeaseUnavailable as exc:
                self._note(node, f"could not release the cluster lease on {node} ({exc.message}); it expires by "
                                 f"itself within {span(self.ttl_s)}, and a run from this console takes it over")
            except Exception as exc:  # never let the release hide how the run ended
                self._note(node, f"could not release the cluster lease on {node}: {exc}")
        self.held = []
        for node in list(self._sessions):
            self._forget(node)

    def read(self, node: str) -> Holder | None:
        """Who holds the lease on ``node`` now (``None``: nobody)."""
        view = self._call(node, {"action": "read"}, 0.0).get("holder")
        return Holder.from_view(node, view) if isinstance(view, Mapping) else None
