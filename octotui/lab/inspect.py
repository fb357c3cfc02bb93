"""``octotui lab inspect``: the world as one JSON document, read the way an auditor would read it.

Instances are read from what Octopus leaves on disk (the instance registration under ProgramData and the
XML config it points at), not from any side table, so the view is exactly what the simulated
``Octopus.Server.exe`` wrote. Master keys appear only as SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from typing import Any

from octotui.lab.state import NodeState, World
from octotui.lab.winfs import FsError

INSTANCES_DIR = "C:\\ProgramData\\Octopus\\OctopusServer\\Instances"
UNINSTALL_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{OctopusServer}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def read_config(node: NodeState, path: str) -> dict[str, str]:
    """The ``<set key=...>`` pairs of an Octopus XML config file on the node, or {} if unreadable."""
    try:
        root = ET.fromstring(node.fs.read(path).decode("utf-8-sig"))
    except (FsError, ET.ParseError, UnicodeDecodeError):
        return {}
    return {el.get("key", ""): el.text or "" for el in root.iter("set")}


def _instances(node: NodeState) -> list[dict[str, Any]]:
    from octotui.lab.octopus.config import reveal_master_key

    out: list[dict[str, Any]] = []
    if not node.fs.is_dir(INSTANCES_DIR):
        return out
    for name in node.fs.listdir(INSTANCES_DIR):
        try:
            reg = json.loads(node.fs.read(f"{INSTANCES_DIR}\\{name}").decode("utf-8-sig"))
        except (FsError, ValueError):
            continue
        cfg_path = reg.get("ConfigurationFilePath", "")
        cfg = read_config(node, cfg_path)
        stored_key = cfg.get("Octopus.Storage.MasterKey", "")
        key = reveal_master_key(node.name, stored_key) if stored_key else ""
        out.append({
            "name": reg.get("Name", name.rsplit(".", 1)[0]),
            "config": cfg_path,
            "home": cfg.get("Octopus.Home"),
            "node_name": cfg.get("Octopus.Server.NodeName"),
            "connection_string": cfg.get("Octopus.Storage.ExternalDatabaseConnectionString"),
            "listen_prefixes": cfg.get("Octopus.WebPortal.ListenPrefixes"),
            "force_ssl": cfg.get("Octopus.WebPortal.ForceSsl"),
            "comms_port": cfg.get("Octopus.Communications.ServicesPort"),
            "master_key_sha256": _sha256(key) if key else None,
        })
    return sorted(out, key=lambda i: str(i["name"]).lower())


def _node(node: NodeState) -> dict[str, Any]:
    products = []
    version = node.reg_get(UNINSTALL_KEY, "DisplayVersion")
    if version:
        products.append({"name": node.reg_get(UNINSTALL_KEY, "DisplayName") or "Octopus Deploy Server",
                         "version": version})
    return {
        "name": node.name,
        "os": {"caption": node.os_caption, "version": node.os_version},
        "winrm_port": node.winrm_port,
        "web_port": node.web_port,
        "boot_count": node.boot_count,
        "products": products,
        "install_location": node.reg_get("HKLM\\SOFTWARE\\Octopus\\OctopusServer", "InstallLocation"),
        "instances": _instances(node),
        "services": [
            {
                "name": s.name, "state": s.state, "start_type": s.start_type, "account": s.account,
                "log_on_as_a_service": node.has_right("SeServiceLogonRight", s.account),
                "binary_path": s.binary_path,
            }
            for s in sorted(node.services.values(), key=lambda s: s.name.lower())
        ],
        "http_requests": node.http_requests,
        "auth_requests": dict(sorted(node.auth_requests.items())),
        "shells_opened": node.shells_opened,
        "process_log": [
            {"command_line": p.command_line, "account": p.account, "exit_code": p.exit_code}
            for p in node.process_log
        ],
    }


def inspect_world(world: World) -> dict[str, Any]:
    with world.lock:
        databases = []
        for db in sorted(world.sql.databases.values(), key=lambda d: d.name.lower()):
            octo = db.octopus
            databases.append({
                "name": db.name,
                "collation": db.collation,
                "db_owner": sorted(db.owners, key=str.lower),
                "octopus_version": octo.version if octo else None,
                "master_key_sha256": _sha256(octo.master_key) if octo else None,
                "nodes": [
                    {"name": r.name, "max_concurrent_tasks": r.max_concurrent_tasks,
                     "is_in_maintenance_mode": r.is_in_maintenance_mode}
                    for r in sorted(octo.nodes.values(), key=lambda r: r.name.lower())
                ] if octo else [],
                "settings": dict(sorted(octo.settings.items())) if octo else {},
                "admins": list(octo.admins) if octo else [],
            })
        return {
            "domain": world.directory.domain,
            "nodes": [_node(n) for n in world.nodes],
            "sql": {
                "host": world.sql.host,
                "version": world.sql.version,
                "collation": world.sql.collation,
                "logins": [
                    {"name": lg.name, "kind": lg.kind, "server_roles": sorted(lg.server_roles)}
                    for lg in sorted(world.sql.logins.values(), key=lambda lg: lg.name.lower())
                ],
                "databases": databases,
                "auth_logins": dict(sorted(world.sql.auth_logins.items())),
            },
            "shares": [
                {
                    "unc": f"\\\\{world.files.host}\\{s.name}",
                    "acl": s.acl,
                    "files": sorted(e.path for e in s.fs.files.values()),
                }
                for s in world.files.shares.values()
            ],
        }
