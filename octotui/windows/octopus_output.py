"""What Octopus.Server.exe prints, read back (reference/octopus-server.md §1.3, §1.4), and compared with what
is wanted: the read half of every idempotent step.

Why apart from the builders: a step first reads (``list-instances``, ``show-configuration``,
``show-master-key``, ``version``) and applies only what differs; the reading is its own job, with its own
hazards (noise before the JSON, keys in any case, booleans as ``True``/``False``). Parsers never repeat the
output they reject in a message: it can hold a master key or a connection string.
"""

from __future__ import annotations

import base64
import binascii
import json
import ntpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from octotui.spec.model import StorageSpec
from octotui.spec.parsers.accounts import Account, parse_account
from octotui.spec.parsers.connstr import ConnectionString, as_connection_string, parse_connection_string
from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.prefixes import ListenPrefix
from octotui.spec.parsers.versions import OctopusVersion
from octotui.windows.gates import is_version, supports_imports_folder, version_numbers

# show-configuration keys (flat form, §1.3 and §1.4). The parser files keys under these spellings
# whatever case the node printed them in (the hierarchical sample has "ForceSSL", the XML "ForceSsl").
KEY_HOME = "Octopus.Home"
KEY_NODE_NAME = "Octopus.Server.NodeName"
KEY_CONNECTION_STRING = "Octopus.Storage.ExternalDatabaseConnectionString"
#: Never printed by show-configuration (it is DPAPI-protected); a missing value means "unknown".
KEY_MASTER_KEY = "Octopus.Storage.MasterKey"
KEY_MASTER_KEY_SET = KEY_MASTER_KEY
KEY_LISTEN_PREFIXES = "Octopus.WebPortal.ListenPrefixes"
KEY_FORCE_SSL = "Octopus.WebPortal.ForceSsl"
KEY_COMMS_PORT = "Octopus.Communications.ServicesPort"
KEY_AD_ENABLED = "Octopus.WebPortal.ActiveDirectoryIsEnabled"
KEY_USERNAME_PASSWORD_ENABLED = "Octopus.UsernamePassword.IsEnabled"
KEY_LICENSE = "Octopus.Server.License"
#: Inferred (§2.3 gives the option, not the key it lands in).
KEY_CLUSTER_SHARED = "Octopus.Folders.ClusterSharedDirectory"
#: Answers-file folder key -> (show-configuration key, sub-folder name under a cluster-shared root).
#: Artifacts, LogDirectory (= task logs!) and Packages are in DSC's real sample; the rest are inferred.
FOLDER_KEYS: dict[str, tuple[str, str]] = {
    "artifacts": ("Octopus.Folders.ArtifactsDirectory", "Artifacts"),
    "task_logs": ("Octopus.Folders.LogDirectory", "TaskLogs"),
    "nuget_repository": ("Octopus.Folders.PackagesDirectory", "Packages"),
    "imports": ("Octopus.Folders.ImportsDirectory", "Imports"),
    "event_exports": ("Octopus.Folders.EventExportsDirectory", "EventExports"),
    "telemetry": ("Octopus.Folders.TelemetryDirectory", "Telemetry"),
}
_KNOWN_KEYS = [KEY_HOME, KEY_NODE_NAME, KEY_CONNECTION_STRING, KEY_MASTER_KEY, KEY_LISTEN_PREFIXES, KEY_FORCE_SSL,
               KEY_COMMS_PORT, KEY_AD_ENABLED, KEY_USERNAME_PASSWORD_ENABLED, KEY_LICENSE, KEY_CLUSTER_SHARED,
               *(k for k, _ in FOLDER_KEYS.values())]
_CANONICAL_KEY = {k.lower(): k for k in _KNOWN_KEYS}


class OctopusOutputError(ValueError):
    """Output of Octopus.Server.exe that does not have the expected shape. The message never quotes the
    output itself: it can hold a master key or a connection string."""


def bool_text(value: bool) -> str:
    """A boolean as PowerShell prints it and Octopus takes it: ``True``/``False``."""
    return "True" if value else "False"


# --- parsers ----------------------------------------------------------------------------------------------


def _json_after_noise(text: str, want: type) -> Any:
    """The first JSON value of type ``want`` in ``text``, skipping whatever comes before it.

    Octopus can print non-JSON text before the payload (a registry-migration line, an NLog exception:
    OctopusDSC #179), and that text may itself hold ``{`` or ``[``; so try every opening bracket in turn."""
    opener = "{" if want is dict else "["
    decoder = json.JSONDecoder()
    start = text.find(opener)
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, want):
            return value
        start = text.find(opener, start + 1)
    raise OctopusOutputError(f"no JSON {'object' if want is dict else 'array'} in the output")


_INSTANCE_TEXT_RE = re.compile(r"^Instance '(?P<name>.*)' uses configuration '(?P<config>.*)'\.\s*$")


def parse_list_instances(stdout: str) -> list[dict[str, str]]:
    """``list-instances`` output (JSON, or the text form) -> ``[{"InstanceName", "ConfigurationFilePath"}]``."""
    text = stdout.lstrip("\ufeff")
    if "[" in text:
        try:
            items = _json_after_noise(text, list)
        except OctopusOutputError:
            items = None
        if items is not None:
            out = []
            for item in items:
                if not isinstance(item, dict) or "InstanceName" not in item:
                    raise OctopusOutputError("list-instances: an entry has no InstanceName")
                out.append({"InstanceName": str(item["InstanceName"]),
                            "ConfigurationFilePath": str(item.get("ConfigurationFilePath") or "")})
            return out
    found = []
    for line in text.splitlines():
        m = _INSTANCE_TEXT_RE.match(line.strip())
        if m:
            found.append({"InstanceName": m.group("name"), "ConfigurationFilePath": m.group("config")})
    if found or "no instances installed" in text.lower():
        return found
    raise OctopusOutputError("list-instances printed neither JSON nor the text form")


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, bool):
        out[prefix] = bool_text(value)
    elif value is None:
        out[prefix] = ""
    elif isinstance(value, list):
        out[prefix] = ",".join(str(v) for v in value)
    else:
        out[prefix] = str(value)


def parse_show_configuration(stdout: str) -> dict[str, str]:
    """``show-configuration --format json`` (flat) or ``json-hierarchical`` -> one flat dict of strings.

    Hierarchical values are joined on dots (``{"Octopus": {"Home": ...}}`` -> ``Octopus.Home``), typed values
    become the strings the flat form has (``True``, ``10943``), and known keys are filed under the ``KEY_*``
    spellings whatever their case in the output."""
    doc = _json_after_noise(stdout.lstrip("\ufeff"), dict)
    flat: dict[str, str] = {}
    _flatten("", doc, flat)
    return {_CANONICAL_KEY.get(k.lower(), k): v for k, v in flat.items()}


def config_get(conf: Mapping[str, str], key: str, default: str = "") -> str:
    """Case-insensitive lookup for keys the parser does not know."""
    if key in conf:
        return conf[key]
    low = key.lower()
    return next((v for k, v in conf.items() if k.lower() == low), default)


_B64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def _looks_like_key(text: str) -> bool:
    if not _B64_RE.match(text) or len(text) % 4:
        return False
    try:
        return len(base64.b64decode(text, validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def parse_master_key(stdout: str) -> str | None:
    """The master key from ``show-master-key``: ``{"MasterKey": ...}`` (JSON) or the text form (3.15+ prints
    only the key; older versions print lines before it, so the last key-shaped line wins). None when there
    is none; the output itself is never repeated anywhere."""
    text = stdout.lstrip("\ufeff")
    if "{" in text:
        try:
            doc = _json_after_noise(text, dict)
        except OctopusOutputError:
            doc = None
        if doc is not None:
            key = next((v for k, v in doc.items() if k.lower() == "masterkey"), None)
            return str(key).strip() if isinstance(key, str) and _looks_like_key(key.strip()) else None
    for line in reversed(text.splitlines()):
        if _looks_like_key(line.strip()):
            return line.strip()
    return None


def parse_version(stdout: str) -> str:
    """The version from ``version`` (text: the version on its own line; JSON: one of the version fields)."""
    text = stdout.lstrip("\ufeff")
    if "{" in text:
        try:
            doc = _json_after_noise(text, dict)
        except OctopusOutputError:
            doc = {}
        for field in ("MajorMinorPatch", "NuGetVersion", "InformationalVersion", "Version"):
            value = doc.get(field)
            numbers = version_numbers(value) if isinstance(value, str) else None
            if numbers is not None:
                return ".".join(str(p) for p in numbers)
    for line in reversed(text.splitlines()):
        numbers = version_numbers(line.strip())
        if numbers is not None and is_version(line.strip()):
            return ".".join(str(p) for p in numbers)
    raise OctopusOutputError("version printed no version number")


# --- comparing what is with what is wanted ----------------------------------------------------------------

_CS_TRUE = {"true", "yes", "sspi"}
_CS_FALSE = {"false", "no"}


def _settings(cs: ConnectionString) -> dict[str, str]:
    """Each setting once, the last one written (as SqlClient reads it), by canonical keyword; a keyword
    SqlClient does not know by its own lower-case name."""
    return {p.canonical or " ".join(p.keyword.lower().split()): p.value for p in cs.pairs}


def same_connection(current: str, wanted: ConnectionString | str) -> bool:
    """Whether the connection string a node holds and the wanted one point at the same database the same way
    (keys in any order and case, synonyms such as Server/Data Source, True/SSPI), both read by SqlClient's
    rules (``octotui.spec.parsers.connstr``). An empty or unreadable ``current`` never matches."""
    if not current.strip():
        return False
    try:
        a, b = _settings(parse_connection_string(current)), _settings(as_connection_string(wanted))
    except ParseError:
        return False

    def norm(key: str, v: str) -> str:
        low = v.strip().lower()
        if low in _CS_TRUE:
            return "true"
        if low in _CS_FALSE:
            return "false"
        return v.strip() if key == "Password" else low

    keys = set(a) | set(b)
    return all(norm(k, a.get(k, "")) == norm(k, b.get(k, "")) for k in keys)


def _norm_path(p: str) -> str:
    p = p.strip()
    return ntpath.normpath(p).rstrip("\\").lower() if p else ""


def _split_prefixes(value: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,;]", value) if p.strip()]


def _prefix_key(prefix: str) -> str:
    return prefix.strip().lower().rstrip("/")


def _truthy(value: str) -> bool | None:
    low = value.strip().lower()
    return True if low == "true" else False if low == "false" else None


def node_settings_match(conf: Mapping[str, str], listen_prefixes: Sequence[ListenPrefix | str], force_ssl: bool,
                        comms_port: int) -> bool:
    """Whether configure would change nothing: the same prefixes (any order; Octopus accepts , and ;),
    the same SSL flag, the same comms port."""
    have = {_prefix_key(p) for p in _split_prefixes(config_get(conf, KEY_LISTEN_PREFIXES))}
    want = {_prefix_key(str(p)) for p in listen_prefixes if str(p).strip()}
    if have != want:
        return False
    if _truthy(config_get(conf, KEY_FORCE_SSL)) is not force_ssl:
        return False
    port = config_get(conf, KEY_COMMS_PORT).strip()
    return port.isdigit() and int(port) == comms_port


def storage_matches(conf: Mapping[str, str], storage: StorageSpec, version: str | OctopusVersion) -> bool:
    """Whether shared storage is already as wanted (so ``path`` need not run again)."""
    folders_ok = all(_norm_path(config_get(conf, FOLDER_KEYS[k][0])) == _norm_path(str(v))
                     for k, v in storage.folders.items())
    if storage.cluster_shared:
        root_ok = _norm_path(config_get(conf, KEY_CLUSTER_SHARED)) == _norm_path(str(storage.cluster_shared))
        if root_ok and folders_ok:
            return True
        # Older versions, or an Octopus that reports the folders rather than the root.
        wanted = effective_folders(storage, version)
        return all(_norm_path(config_get(conf, FOLDER_KEYS[k][0])) == _norm_path(v) for k, v in wanted.items())
    return bool(storage.folders) and folders_ok


def same_license(current: str, wanted_b64: str) -> bool:
    """Whether the licence in the configuration (base64 of UTF-8 or UTF-16 XML, or the XML) is the wanted one."""
    def text(value: str) -> str:
        value = value.strip()
        if value.startswith("<"):
            return " ".join(value.split())
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return " ".join(value.split())
        for enc in ("utf-8-sig", "utf-16"):
            try:
                decoded = raw.decode(enc)
            except UnicodeDecodeError:
                continue
            if decoded.lstrip().startswith("<"):
                return " ".join(decoded.split())
        return value

    return bool(current.strip()) and text(current) == text(wanted_b64)


_WELL_KNOWN_ACCOUNTS = {
    "localsystem": "nt authority\\system", ".\\localsystem": "nt authority\\system", "system": "nt authority\\system",
    "nt authority\\localservice": "nt authority\\local service",
    "nt authority\\networkservice": "nt authority\\network service",
}


def _account_parts(name: Account | str) -> tuple[str, str]:
    """(the domain's first label, the user name), lower-case; the domain is empty for a bare or ``.\\`` name.
    A name as Windows reports it is read by the one account parser, built-in accounts included."""
    if isinstance(name, str):
        low = name.strip().lower()
        low = _WELL_KNOWN_ACCOUNTS.get(low, low)
        try:
            name = parse_account(low, allow_local=True, allow_builtin=True)
        except ParseError:
            return "", low
    return (name.domain or "").lower().split(".", 1)[0], name.name.lower()


def same_account(a: Account | str, b: Account | str) -> bool:
    """``WORK\\svcOctopus`` == ``work\\SVCOCTOPUS`` == ``svcOctopus@work.lab``; a side without a domain matches
    on the user name alone (services often report ``.\\user`` or a bare name)."""
    da, ua = _account_parts(a)
    db, ub = _account_parts(b)
    if not ua or ua != ub:
        return False
    return not da or not db or da == db or "." in (da, db)


def find_service(node_state: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The service called ``name`` in a ``get-node-state`` result, or None."""
    for svc in node_state.get("services") or []:
        if isinstance(svc, dict) and str(svc.get("name", "")).lower() == name.lower():
            return svc
    return None


def instance_names(instances: Iterable[Mapping[str, str]]) -> list[str]:
    return [str(i.get("InstanceName", "")) for i in instances]


def effective_folders(storage: StorageSpec, version: str | OctopusVersion) -> dict[str, str]:
    """Per-folder paths for a version without --clusterShared: each folder under the root by Octopus's own
    sub-folder names, then any folder given on its own on top."""
    folders: dict[str, str] = {}
    if storage.cluster_shared:
        for key, (_, sub) in FOLDER_KEYS.items():
            if key == "imports" and not supports_imports_folder(version):
                continue
            folders[key] = str(storage.cluster_shared.joinpath(sub))
    folders.update((key, str(path)) for key, path in storage.folders.items())
    return folders


