"""Twin of ``node-lease``: the cluster lease file in ``C:\\ProgramData\\octotui``.

On Windows two scripts that reach for the lease at the same instant are served one after the other:
each holds ``lease.json.lock`` open with ``FileShare.None`` while it reads, decides and writes, and the
second one waits for the handle. Here the world's lock plays that handle: the whole read-decide-write of
one script happens under it, so concurrent takes on one node see each other's result and only one of
them is granted, whatever the WinRM threads do meanwhile.

Times are the node's (the lab's clock), written as .NET's round-trip format (``o``) writes a UTC time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

from octotui.lab.process import ProcessContext
from octotui.lab.ps_twins.common import ParamError, Params, dotnet_io_message, emit, run_with_params, to_json
from octotui.lab.winfs import FsError

FOLDER = "C:\\ProgramData\\octotui"
LEASE_FILE = FOLDER + "\\lease.json"
GUARD_FILE = LEASE_FILE + ".lock"
ACTIONS = ("take", "renew", "release", "read")
HOLDER_FIELDS = ("run_id", "console", "console_id", "user", "pid", "pid_start", "home")
TIME_FIELDS = ("taken_at", "renewed_at", "expires_at")
MAX_TTL_S = 86400.0

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$")


def round_trip(moment: float) -> str:
    """``[DateTime]::ToString('o')`` of a UTC time: seven fraction digits and ``Z``."""
    seconds, ticks = divmod(round(moment * 10_000_000), 10_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}Z"


def parse_time(text: Any) -> float:
    """``[DateTime]::Parse(text, InvariantCulture, RoundtripKind)`` for the forms a lease holds; a time
    without a zone is taken as UTC (the script only ever writes UTC). Raises ValueError otherwise."""
    m = _ISO.match(str(text or "").strip())
    if m is None:
        raise ValueError(f"String was not recognized as a valid DateTime: {text!r}")
    base, fraction, zone = m.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    stamp = dt.datetime.fromisoformat(base + zone).timestamp()
    return stamp + (int(fraction.ljust(7, "0")) / 10_000_000 if fraction else 0.0)


def _number(value: float) -> int | float:
    """A double as PowerShell's JSON writer shows it: ``600``, not ``600.0``."""
    return int(value) if float(value).is_integer() else value


def _as_bool(value: Any) -> bool:
    """``[bool]`` of a JSON value: a non-empty string is true (even "false"), a number is true unless 0."""
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list):  # an array: empty is false, one item is that item, more are true
        return _as_bool(value[0]) if len(value) == 1 else len(value) > 1
    return bool(value)


def _read_lease(ctx: ProcessContext) -> dict[str, Any] | None:
    """The stored lease, or None when there is none or the file does not hold one."""
    fs = ctx.runtime.node.fs
    if not fs.is_file(LEASE_FILE):
        return None
    try:
        doc = json.loads(fs.read(LEASE_FILE).decode("utf-8-sig"))
        if not isinstance(doc, dict) or not doc.get("lease_id"):
            return None
        for name in TIME_FIELDS:
            parse_time(doc.get(name))
        return doc
    except (ValueError, UnicodeDecodeError):
        return None


def _write_lease(ctx: ProcessContext, lease: dict[str, Any]) -> None:
    """Write ``lease.json.tmp``, then swap it in (``[IO.File]::Replace``, or ``Move`` the first time)."""
    fs = ctx.runtime.node.fs
    tmp = LEASE_FILE + ".tmp"
    fs.write(tmp, to_json(lease).encode("utf-8"))
    data = fs.read(tmp)
    fs.delete(tmp)
    fs.write(LEASE_FILE, data)


def _view(lease: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    if lease is None:
        return None
    view = dict(lease)
    view["held_s"] = _number(round(now - parse_time(lease["taken_at"]), 1))
    view["renewed_s_ago"] = _number(round(now - parse_time(lease["renewed_at"]), 1))
    view["expires_in_s"] = _number(round(parse_time(lease["expires_at"]) - now, 1))
    return view


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        action = params.string("action")
        lease_id = params.string("lease_id")
        ttl = params.seconds("ttl_s", 600.0)
        take_over = _as_bool(params.raw("take_over"))
        replace = params.string("replace")
        holder = params.raw("holder")
        if action not in ACTIONS:
            raise ParamError("'action' must be take, renew, release or read")
        if action != "read" and not lease_id:
            raise ParamError("missing parameter 'lease_id'")
        if action == "take" and not isinstance(holder, dict):
            raise ParamError("'holder' must be a JSON object")
        if ttl <= 0 or ttl > MAX_TTL_S:
            raise ParamError("'ttl_s' must be more than 0 and at most 86400")
        return _run(ctx, action, lease_id, ttl, take_over, replace, holder if isinstance(holder, dict) else {})

    return run_with_params(ctx, params_json, body)


def _run(ctx: ProcessContext, action: str, lease_id: str, ttl: float, take_over: bool, replace: str,
         holder: dict[str, Any]) -> int:
    runtime = ctx.runtime
    computer = ctx.env.get("COMPUTERNAME") or runtime.node.name
    stage = "lock"
    try:
        with runtime.world.lock:  # the FileShare.None handle on lease.json.lock
            runtime.node.fs.makedirs(FOLDER)
            if not runtime.node.fs.is_file(GUARD_FILE):
                runtime.node.fs.write(GUARD_FILE, b"")
            stage = "read"
            now = time.time()
            stamp = round_trip(now)
            current = _read_lease(ctx)
            mine = current is not None and str(current.get("lease_id")) == lease_id
            result: dict[str, Any] = {
                "ok": True, "action": action, "node": computer, "now": stamp, "taken": False, "renewed": False,
                "released": False, "lost": False, "lease": None, "holder": None, "previous": None,
            }
            stage = "write"
            if action == "take":
                expired = current is not None and parse_time(current["expires_at"]) <= now
                replaceable = current is not None and bool(replace) and str(current.get("lease_id")) == replace
                if current is None or mine or expired or take_over or replaceable:
                    lease: dict[str, Any] = {"lease_id": lease_id}
                    lease.update({name: holder.get(name) for name in HOLDER_FIELDS})
                    lease["node"] = computer
                    lease["account"] = ctx.identity.account
                    lease["taken_at"] = str(current["taken_at"]) if mine and current else stamp
                    lease["renewed_at"] = stamp
                    lease["expires_at"] = round_trip(now + ttl)
                    lease["ttl_s"] = _number(ttl)
                    _write_lease(ctx, lease)
                    if not mine:
                        result["previous"] = _view(current, now)
                    result["taken"] = True
                    result["lease"] = _view(lease, now)
                else:
                    result["ok"] = False
                    result["holder"] = _view(current, now)
            elif action == "renew":
                if mine and current is not None:
                    lease = dict(current)
                    lease["renewed_at"] = stamp
                    lease["expires_at"] = round_trip(now + ttl)
                    lease["ttl_s"] = _number(ttl)
                    _write_lease(ctx, lease)
                    result["renewed"] = True
                    result["lease"] = _view(lease, now)
                else:
                    result.update(ok=False, lost=True, holder=_view(current, now))
            elif action == "release":
                if mine:
                    runtime.node.fs.delete(LEASE_FILE)
                    result["released"] = True
                else:
                    result["holder"] = _view(current, now)
            else:
                result["holder"] = _view(current, now)
    except FsError as exc:
        path = GUARD_FILE if stage == "lock" else LEASE_FILE
        emit(ctx, {"ok": False, "stage": stage, "action": action, "node": computer,
                   "error": dotnet_io_message(exc, path)})
        return 1
    emit(ctx, result)
    return 0
