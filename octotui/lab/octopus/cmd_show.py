"""show-configuration, show-master-key, version: what automation reads back from a node.

show-configuration merges the node config with the cluster-wide settings in the database (which it
reads as its caller, so it needs a working SQL login like the other database-backed commands) and
prints XML (default), flat JSON (every value a string) or hierarchical JSON (nested on the dots, some
values typed, as in DSC's 2019 sample). The master key is never part of it.

The stray line: real versions are known to print non-JSON text on stdout *before* the ``{`` (OctopusDSC
#179: a registry-migration line, an NLog internal TimeoutException), which is why DSC parses from the
first ``{``. The lab reproduces it with one line in NLog's internal-logger layout (``<timestamp> Error
Error has been raised. Exception: System.TimeoutException: ...``) on every console run of
show-configuration, so a client that does not strip it fails at once instead of once in a while. A
registry-migration line would be wrong for instances the lab creates, which were never in the registry.
It is never written to ``--file``.

version: ``--format json`` prints InformationalVersion, MajorMinorPatch and NuGetVersion; the real
field names were not found (reference §7), these follow the GitVersion names Octopus builds with.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import (
    INSTANCE_OPTS,
    Command,
    Host,
    Selected,
    connect,
    node_name,
    select_instance,
)
from octotui.lab.octopus.options import ControlledFailure, Opt, Parsed, Unhandled

#: Keys DSC's sample shows as JSON numbers / booleans in the hierarchical form; everything else is a string.
_NUMBERS = {"octopus.communications.servicesport", "octopus.server.taskcap",
            "octopus.packagecache.daystocachepackages", "octopus.tasks.maxconcurrenttasks"}
_BOOLEANS = {"octopus.upgrades.allowchecking", "octopus.upgrades.includestatistics",
             "octopus.server.maintenancemode"}


def stray_line() -> str:
    now = _dt.datetime.now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 100:04d}"
    return (f"{stamp} Error Error has been raised. Exception: System.TimeoutException: The operation has "
            "timed out.")


def merged_settings(host: Host, sel: Selected) -> dict[str, str]:
    """Node config plus database settings (database wins for cluster-wide keys), without the master key."""
    out = {k: v for k, v in sel.config.items() if k.lower() != cfgmod.MASTER_KEY.lower()}
    cs = sel.config.get(cfgmod.CONNECTION_STRING)
    if cs:
        session = connect(host, cs)
        schema = session.schema()
        if schema is not None:
            with host.world.lock:
                for k, v in schema.settings.items():
                    if not v.startswith("#encrypted#"):
                        out[k] = v
                row = schema.nodes.get(node_name(host, sel))
                if row is not None:
                    out["Octopus.Server.TaskCap"] = str(row.max_concurrent_tasks)
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def _typed(key: str, value: str) -> Any:
    low = key.lower()
    if low in _NUMBERS and value.strip().lstrip("-").isdigit():
        return int(value)
    if low in _BOOLEANS and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def hierarchical(settings: dict[str, str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in settings.items():
        parts = key.split(".")
        cursor = root
        for part in parts[:-1]:
            nxt = cursor.get(part)
            if not isinstance(nxt, dict):
                nxt = cursor[part] = {}
            cursor = nxt
        cursor[parts[-1]] = _typed(key, value)
    return root


def show_configuration(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    fmt = (p.get("format") or "xml").strip().lower()
    if fmt not in ("xml", "json", "json-hierarchical"):
        raise ControlledFailure(f"The format '{p.get('format')}' is not supported. Try xml, json or "
                                "json-hierarchical.")
    settings = merged_settings(host, sel)
    if fmt == "xml":
        text = cfgmod.NodeConfig(sel.config_path, settings).to_xml() + "\n"
    elif fmt == "json":
        text = json.dumps(settings, indent=2) + "\n"
    else:
        text = json.dumps(hierarchical(settings), indent=2) + "\n"
    target = p.get("file")
    if target:
        path = host.full_path(target)
        with host.world.lock:
            host.node.fs.write(path, text.replace("\n", "\r\n").encode("utf-8"), make_parents=True)
        host.info(f"Configuration written to {path}")
        return 0
    host.payload(stray_line() + "\n")
    host.payload(text)
    return 0


def show_master_key(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    fmt = (p.get("format") or "text").strip().lower()
    if fmt not in ("text", "json"):
        raise ControlledFailure(f"The format '{p.get('format')}' is not supported. Try text or json.")
    blob = sel.config.get(cfgmod.MASTER_KEY)
    if not blob:
        raise ControlledFailure("No master key has been configured for this instance. Set one with the "
                                "database command (database --masterKey or database --create).")
    try:
        key = cfgmod.unprotect_master_key(host.node.name, blob)
    except cfgmod.ConfigError as exc:
        raise Unhandled("System.Security.Cryptography.CryptographicException", str(exc)) from exc
    host.payload(json.dumps({"MasterKey": key}, indent=2) + "\n" if fmt == "json" else key + "\n")
    return 0


def version(host: Host, p: Parsed) -> int:
    fmt = (p.get("format") or "text").strip().lower()
    if fmt not in ("text", "json"):
        raise ControlledFailure(f"The format '{p.get('format')}' is not supported. Try text or json.")
    if fmt == "json":
        mmp = ".".join(str(x) for x in cfgmod.version_tuple(host.version)[:3])
        host.payload(json.dumps({"InformationalVersion": host.version, "MajorMinorPatch": mmp,
                                 "NuGetVersion": host.version}, indent=2) + "\n")
    else:
        host.payload(host.version + "\n")
    return 0


COMMANDS = (
    Command("show-configuration", "Outputs the server configuration", (
        *INSTANCE_OPTS,
        Opt("file", help="Exports the server configuration to a file"),
        Opt("format", help="The format of the output (XML,json,json-hierarchical). Defaults to XML."),
    ), show_configuration),
    Command("show-master-key", "Print the server's Master Encryption Key, so that it can be backed up", (
        *INSTANCE_OPTS,
        Opt("format", help="The format of the output (text,json). Defaults to text."),
    ), show_master_key),
    Command("version", "Show the Octopus Server version information",
            (Opt("format", help="The format of the output (text,json). Defaults to text."),),
            version, uses_instance=False),
)
