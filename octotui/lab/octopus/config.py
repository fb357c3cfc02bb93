"""What Octopus keeps on a node's disk: the instance registry, the XML node config, the protected master key.

The installer reads these back (``list-instances``, ``show-configuration``) and ``octotui lab inspect``
reads the files directly, so they are written in Octopus's own shapes: the registration is a JSON file
per instance under ProgramData (Tentacle's shared code lower-cases its name and turns spaces into
dashes), the config is ``<octopus-settings>`` with ``<set key="...">`` elements.

The master key in the config is "DPAPI-protected" (LocalMachine scope): the lab stores it as a DPAPI
blob header followed by the key XOR-ed with a pad derived from the node's name, so it is never in plain
text on disk, a config copied to another node cannot be decrypted there (as with real DPAPI, Issues
#7271), and ``lab inspect`` can still reveal it for comparison.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ntpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from octotui.lab.state import NodeState
from octotui.lab.winfs import FsError

APPLICATION = "OctopusServer"
DEFAULT_INSTANCE = "OctopusServer"
INSTANCES_DIR = "C:\\ProgramData\\Octopus\\OctopusServer\\Instances"
INSTALL_KEY = "HKLM\\SOFTWARE\\Octopus\\OctopusServer"
DEFAULT_EXE = "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe"
SERVICE_DESCRIPTION = "Octopus Deploy: Server"

HOME = "Octopus.Home"
NODE_NAME = "Octopus.Server.NodeName"
CONNECTION_STRING = "Octopus.Storage.ExternalDatabaseConnectionString"
MASTER_KEY = "Octopus.Storage.MasterKey"
LISTEN_PREFIXES = "Octopus.WebPortal.ListenPrefixes"
FORCE_SSL = "Octopus.WebPortal.ForceSsl"
SERVICES_PORT = "Octopus.Communications.ServicesPort"

EMPTY_CONFIG = "<?xml version='1.0' encoding='UTF-8' ?><octopus-settings></octopus-settings>"

_DPAPI_HEADER = bytes.fromhex("01000000d08c9ddf0115d1118c7a00c04fc297eb")
DPAPI_ERROR = "Key not valid for use in specified state."


class ConfigError(Exception):
    """A config or registration file Octopus could not read; the message is what it reports."""


# --- instance registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class InstanceRecord:
    name: str
    config_path: str


def registration_path(name: str) -> str:
    return ntpath.join(INSTANCES_DIR, name.replace(" ", "-").lower() + ".config")


def list_instances(node: NodeState) -> list[InstanceRecord]:
    """Registered instances, sorted by name (unreadable registrations are skipped)."""
    records: list[InstanceRecord] = []
    if not node.fs.is_dir(INSTANCES_DIR):
        return records
    for file_name in node.fs.listdir(INSTANCES_DIR):
        path = ntpath.join(INSTANCES_DIR, file_name)
        if not node.fs.is_file(path):
            continue
        try:
            doc = json.loads(node.fs.read(path).decode("utf-8-sig"))
            records.append(InstanceRecord(str(doc["Name"]), str(doc["ConfigurationFilePath"])))
        except (FsError, ValueError, KeyError, TypeError):
            continue
    return sorted(records, key=lambda r: r.name.lower())


def find_instance(node: NodeState, name: str) -> InstanceRecord | None:
    matches = [r for r in list_instances(node) if r.name.lower() == name.lower()]
    if len(matches) > 1:
        exact = [r for r in matches if r.name == name]
        return exact[0] if exact else None
    return matches[0] if matches else None


def register_instance(node: NodeState, name: str, config_path: str) -> None:
    node.fs.makedirs(INSTANCES_DIR)
    doc = {"Name": name, "ConfigurationFilePath": config_path}
    node.fs.write(registration_path(name), json.dumps(doc, indent=2).replace("\n", "\r\n").encode("utf-8"))


def delete_registration(node: NodeState, name: str) -> None:
    path = registration_path(name)
    if node.fs.is_file(path):
        node.fs.delete(path)


# --- the XML node configuration -----------------------------------------------------------------
class NodeConfig:
    """The ``<set key=...>`` pairs of one config file; keys compare case-insensitively, as Octopus's do."""

    def __init__(self, path: str, settings: dict[str, str] | None = None) -> None:
        self.path = path
        self._items: dict[str, tuple[str, str]] = {}
        for k, v in (settings or {}).items():
            self.set(k, v)

    @classmethod
    def parse(cls, path: str, text: str) -> NodeConfig:
        try:
            root = ET.fromstring(text.lstrip("\ufeff"))
        except ET.ParseError as exc:
            raise ConfigError(f"The configuration file at {path} could not be read: {exc}") from exc
        cfg = cls(path)
        for el in root.iter("set"):
            key = el.get("key")
            if key:
                cfg.set(key, el.text or "")
        return cfg

    @classmethod
    def load(cls, node: NodeState, path: str) -> NodeConfig:
        return cls.parse(path, node.fs.read(path).decode("utf-8-sig", errors="replace"))

    def get(self, key: str, default: str | None = None) -> str | None:
        item = self._items.get(key.lower())
        return item[1] if item is not None else default

    def set(self, key: str, value: str) -> None:
        existing = self._items.get(key.lower())
        self._items[key.lower()] = (existing[0] if existing else key, value)

    def remove(self, key: str) -> None:
        self._items.pop(key.lower(), None)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._items.values(), key=lambda kv: kv[0].lower())

    def to_xml(self) -> str:
        lines = ['<?xml version="1.0" encoding="utf-8"?>',
                 '<octopus-settings xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">']
        lines += [f"  <set key={quoteattr(k)}>{escape(v)}</set>" for k, v in self.items()]
        lines.append("</octopus-settings>")
        return "\r\n".join(lines)

    def save(self, node: NodeState) -> None:
        node.fs.write(self.path, self.to_xml().encode("utf-8"), make_parents=True)


# --- the master key, "DPAPI"-protected per machine ------------------------------------------------
def _pad(machine: str, length: int) -> bytes:
    seed = hashlib.sha256(("lab-dpapi-localmachine:" + machine.upper()).encode("utf-8")).digest()
    return (seed * (length // len(seed) + 1))[:length]


def protect_master_key(machine: str, key: str) -> str:
    raw = key.encode("ascii")
    check = hashlib.sha256(machine.upper().encode("utf-8") + raw).digest()[:8]
    body = raw + check
    return base64.b64encode(_DPAPI_HEADER + bytes(a ^ b for a, b in zip(body, _pad(machine, len(body)),
                                                                        strict=True))).decode("ascii")


def unprotect_master_key(machine: str, blob: str) -> str:
    """Decrypt on ``machine``; a blob protected elsewhere fails with DPAPI's CryptographicException text."""
    try:
        data = base64.b64decode(blob.strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(DPAPI_ERROR) from exc
    if not data.startswith(_DPAPI_HEADER) or len(data) <= len(_DPAPI_HEADER) + 8:
        raise ConfigError(DPAPI_ERROR)
    body = data[len(_DPAPI_HEADER):]
    plain = bytes(a ^ b for a, b in zip(body, _pad(machine, len(body)), strict=True))
    raw, check = plain[:-8], plain[-8:]
    if hashlib.sha256(machine.upper().encode("utf-8") + raw).digest()[:8] != check:
        raise ConfigError(DPAPI_ERROR)
    return raw.decode("ascii")


def reveal_master_key(machine: str, blob: str) -> str:
    """The key for inspection, or "" when the blob does not decrypt on this machine."""
    try:
        return unprotect_master_key(machine, blob)
    except ConfigError:
        return ""


def valid_master_key(key: str) -> bool:
    """Base64 of 16 bytes (AES-128) or 32 bytes (AES-256, Octopus 2024.4+)."""
    try:
        return len(base64.b64decode(key.strip(), validate=True)) in (16, 32)
    except ValueError:
        return False


# --- names, paths and versions ---------------------------------------------------------------------
def service_name(instance: str | None) -> str:
    """``OctopusDeploy`` for the default instance (or a config-only run), else ``OctopusDeploy: <Name>``."""
    if instance is None or instance == DEFAULT_INSTANCE:
        return "OctopusDeploy"
    return f"OctopusDeploy: {instance}"


def service_binary_path(exe: str, instance: str | None, config_path: str | None) -> str:
    if instance:
        return f'"{exe}" run --instance="{instance}"'
    return f'"{exe}" run --config="{config_path}"'


_BINPATH_ARG = re.compile(r'--(instance|config)="([^"]*)"', re.IGNORECASE)


def parse_binary_path(binary_path: str) -> tuple[str, str | None, str | None]:
    """(exe, instance, config) from a service's binary path as ``service --install`` wrote it."""
    text = binary_path.strip()
    exe = text[1:].split('"', 1)[0] if text.startswith('"') else text.split(" ", 1)[0]
    instance = config = None
    for m in _BINPATH_ARG.finditer(text):
        if m.group(1).lower() == "instance":
            instance = m.group(2)
        else:
            config = m.group(2)
    return exe, instance, config


def exe_version(node: NodeState, exe_path: str) -> str:
    """The version the MSI stamped into the exe's marker file (``version=<v>``), or "0.0.0"."""
    try:
        text = node.fs.read(exe_path).decode("utf-8", errors="replace")
    except FsError:
        return "0.0.0"
    for line in text.splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return "0.0.0"


def version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for p in version.split("-")[0].split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def at_least(version: str, minimum: str) -> bool:
    return version_tuple(version) >= version_tuple(minimum)


# --- shared folders (settings kept in the database) -------------------------------------------------
CLUSTER_SHARED = "Octopus.Folders.ClusterSharedDirectory"


@dataclass(frozen=True)
class Folder:
    option: str  # the ``path`` option that sets it
    key: str  # where the database keeps it
    sub: str  # its sub-folder under the cluster-shared root (and, by default, under the home)
    since: str | None = None


FOLDERS = (
    Folder("artifacts", "Octopus.Folders.ArtifactsDirectory", "Artifacts"),
    Folder("taskLogs", "Octopus.Folders.LogDirectory", "TaskLogs"),
    Folder("nugetRepository", "Octopus.Folders.PackagesDirectory", "Packages"),
    Folder("imports", "Octopus.Folders.ImportsDirectory", "Imports", since="2021.1"),
    Folder("eventExports", "Octopus.Folders.EventExportsDirectory", "EventExports"),
    Folder("telemetry", "Octopus.Folders.TelemetryDirectory", "Telemetry"),
)


def effective_folders(settings: dict[str, str], home: str, version: str) -> list[tuple[Folder, str]]:
    """Where each shared folder really is: set on its own (relative values under the cluster root), else
    under the cluster-shared root, else under the node's home."""
    root = settings.get(CLUSTER_SHARED, "").strip()
    out: list[tuple[Folder, str]] = []
    for folder in FOLDERS:
        if folder.since is not None and not at_least(version, folder.since):
            continue
        explicit = settings.get(folder.key, "").strip()
        if explicit:
            path = explicit if ntpath.isabs(explicit) or not root else ntpath.join(root, explicit)
        else:
            path = ntpath.join(root or home, folder.sub)
        out.append((folder, path))
    return out
