"""Twin of ``get-node-state``: the node as CIM, the registry and Get-Item would describe it."""

from __future__ import annotations

from typing import Any

from octotui.lab import shares
from octotui.lab.process import ProcessContext
from octotui.lab.ps_twins.common import Params, emit, is_unc_path, run_with_params
from octotui.lab.state import OCTOPUS_REG_KEY, NodeState
from octotui.lab.winfs import FsError

UNINSTALL_ROOTS = (
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\",
    "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\",
)
OCTOPUS_DISPLAY_NAME = "Octopus Deploy Server"


def octopus_version(node: NodeState) -> str | None:
    """DisplayVersion of the Uninstall entry named "Octopus Deploy Server", whatever its key is."""
    version: str | None = None
    for key, values in node.registry.items():
        in_uninstall = any(key.startswith(root.lower()) and "\\" not in key[len(root):]
                           for root in UNINSTALL_ROOTS)
        if in_uninstall and values.get("displayname") == OCTOPUS_DISPLAY_NAME:
            version = values.get("displayversion", "")
    return version


def _path_entry(ctx: ProcessContext, path: str) -> dict[str, Any]:
    """What ``Get-Item -LiteralPath`` makes of one path: there, not there, or an error."""
    entry: dict[str, Any] = {"path": path, "exists": False, "kind": None, "error": None}
    runtime = ctx.runtime
    world = runtime.world
    with world.lock:
        if is_unc_path(path):
            error = shares.unc_access(world, ctx.identity, path, "read", machine=runtime.node.name)
            if error is not None:
                entry["error"] = error  # Get-Item reports the system's words ("Access is denied.")
                return entry
            try:
                target = shares.resolve(world, path)
            except FsError as exc:
                entry["error"] = exc.message
                return entry
            fs, real = target.share.fs, target.path
        else:
            fs, real = runtime.node.fs, path
        if fs.is_dir(real):
            entry.update(exists=True, kind="directory")
        elif fs.is_file(real):
            entry.update(exists=True, kind="file")
    return entry


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        paths = params.string_list("paths")
        runtime = ctx.runtime
        node, world = runtime.node, runtime.world
        with world.lock:
            install_location = node.reg_get(OCTOPUS_REG_KEY, "InstallLocation") or None
            version = octopus_version(node)
            services = [
                {
                    "name": svc.name,
                    "display_name": svc.display_name,
                    "state": svc.state,
                    "start_type": svc.start_type,
                    "account": svc.account,
                    "binary_path": svc.binary_path,
                }
                for svc in node.services.values()
                if svc.name.lower().startswith("octopusdeploy")
                or "octopus.server.exe" in svc.binary_path.lower()
            ]
            drives = [{"name": name, "free_bytes": free}
                      for name, free in sorted(node.drive_free_bytes.items())]
            domain = world.directory.dns_name
        emit(ctx, {
            "ok": True,
            "hostname": node.name,
            "domain": domain,
            "part_of_domain": True,
            "os_caption": node.os_caption,
            "os_version": node.os_version,
            "identity": ctx.identity.account,
            "octopus": {
                "installed": install_location is not None or version is not None,
                "version": version,
                "install_location": install_location,
            },
            "services": services,
            "drives": drives,
            "paths": [_path_entry(ctx, p) for p in paths],
        })
        return 0

    return run_with_params(ctx, params_json, body)
