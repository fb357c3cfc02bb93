"""Twin of ``test-share``: write, read back and delete a probe file under each path, as this identity.

The file server judges the caller's outbound account, so a WinRM session without delegated
credentials fails at the first write with "Access is denied" (the double hop), while the same probe
run through invoke-as-user, or from a CredSSP session, succeeds where the account has rights.
"""

from __future__ import annotations

import contextlib
import ntpath
import time
import uuid
from typing import Any

from octotui.lab.process import ProcessContext
from octotui.lab.ps_twins.common import ParamError, Params, dotnet_io_message, emit, locate, run_with_params
from octotui.lab.winfs import FsError


def _probe_path(folder: str) -> str:
    # [System.IO.Path]::Combine adds a separator unless the folder already ends with one.
    name = f"octotui-probe-{uuid.uuid4().hex}.tmp"
    return folder + name if folder.endswith(("\\", "/")) else f"{folder}\\{name}"


def _write(ctx: ProcessContext, path: str, data: bytes) -> None:
    """``[System.IO.File]::WriteAllBytes``."""
    with ctx.runtime.world.lock:
        fs, real = locate(ctx, path, "write")
        fs.write(real, data)


def _read(ctx: ProcessContext, path: str) -> bytes:
    """``[System.IO.File]::ReadAllBytes``."""
    with ctx.runtime.world.lock:
        fs, real = locate(ctx, path, "read")
        return fs.read(real)


def _delete(ctx: ProcessContext, path: str) -> None:
    """``[System.IO.File]::Delete``: no error for a missing file, one for a missing folder."""
    with ctx.runtime.world.lock:
        fs, real = locate(ctx, path, "write")
        if fs.is_file(real):
            fs.delete(real)
        elif not fs.is_dir(ntpath.dirname(real)):
            raise FsError(3, "The system cannot find the path specified.")


def _probe(ctx: ProcessContext, folder: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": folder, "ok": False, "stage": "write", "error": None}
    probe = _probe_path(folder)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    payload = f"octotui share probe from {ctx.runtime.node.name} at {stamp}".encode("ascii")
    try:
        _write(ctx, probe, payload)
        entry["stage"] = "read"
        back = _read(ctx, probe)
        entry["stage"] = "verify"
        if back != payload:
            raise ValueError("the probe file read back differs from what was written")
        entry["stage"] = "delete"
        _delete(ctx, probe)
        entry.update(stage="done", ok=True)
    except FsError as exc:
        entry["error"] = dotnet_io_message(exc, probe)
    except ValueError as exc:
        entry["error"] = str(exc)
    if not entry["ok"] and entry["stage"] in ("read", "verify"):
        with contextlib.suppress(FsError):  # leave nothing behind once the probe exists
            _delete(ctx, probe)
    return entry


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        paths = params.string_list("paths")
        if not paths:
            raise ParamError("missing parameter 'paths'")
        results = [_probe(ctx, p) for p in paths]
        emit(ctx, {"ok": all(r["ok"] for r in results), "identity": ctx.identity.account, "results": results})
        return 0

    return run_with_params(ctx, params_json, body)
