"""The answers file (TOML) -> ``ClusterSpec``, reporting every problem at once.

Why every problem at once: an answers file is written by hand, often for many nodes; fixing one mistake per
run is slow and hides the shape of the problem. Each ``Problem`` (``octotui.spec.problems``) names its key
the way a user finds it, says what is wrong and what to write instead. Values are parsed here, once, by the
rules of whatever consumes them (``octotui.spec.parsers``), into the typed ``ClusterSpec``; and the file
never holds a secret: a key or value that looks like one is refused with the environment variable or
keyring entry to use instead. The wizard reads one section at a time (``parse_winrm``, ``parse_node`` ...)
by the same rules.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from octotui.spec.model import (
    DEFAULT_HOME,
    DEFAULT_INSTANCE,
    STORAGE_FOLDERS,
    ADSpec,
    CertValidation,
    ClusterSpec,
    InstallKind,
    InstallSpec,
    Mode,
    NodeSpec,
    ServiceAccountSpec,
    StorageSpec,
    Transport,
    WebSpec,
    WinRMSettings,
)
from octotui.spec.parsers.accounts import Account, parse_account
from octotui.spec.parsers.connstr import ConnectionString, octopus_problems, parse_connection_string
from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.hostnames import Host, netbios_from_host, parse_host, parse_netbios_name
from octotui.spec.parsers.prefixes import ListenPrefix, parse_listen_prefix, parse_port
from octotui.spec.parsers.versions import OctopusVersion, parse_octopus_version
from octotui.spec.parsers.winpath import (
    MAX_PATH_DIR,
    WinPath,
    looks_like_windows_path,
    parse_windows_path,
)
from octotui.spec.problems import AnswersError as AnswersError
from octotui.spec.problems import Problem as Problem
from octotui.spec.problems import format_problems as format_problems
from octotui.spec.reader import Reader, type_name
from octotui.textsafe import shown

TRANSPORTS: tuple[Transport, ...] = ("ntlm", "kerberos", "credssp", "basic", "certificate")
VALIDATIONS: tuple[CertValidation, ...] = ("validate", "ignore")

#: The tables and keys an answers file may hold. Top-level scalars map to None.
SCHEMA: dict[str, frozenset[str] | None] = {
    "mode": None,
    "octopus_version": None,
    "instance": None,
    "winrm": frozenset({"username", "transport", "https", "port", "ca_cert", "server_cert_validation",
                        "cert_pem", "cert_key_pem"}),
    "nodes": frozenset({"host", "name", "home", "endpoint"}),
    "service_account": frozenset({"username"}),
    "sql": frozenset({"connection_string"}),
    "storage": frozenset({"cluster_shared", *STORAGE_FOLDERS}),
    "web": frozenset({"listen_prefixes", "force_ssl", "comms_port"}),
    "install": frozenset({"source"}),
    "admin": frozenset({"username"}),
    "license": frozenset({"file"}),
    "ad": frozenset({"domain_controller", "dns_domain", "ca_cert", "nameservers"}),
}
_SECRET_KEY = re.compile(r"(?i)pass(?:word|wd|phrase)?|pwd|secret|master_?key|api_?key|token|private_?key|credential")
_ENV_FOR_SECTION = {
    "winrm": "OCTOTUI_WINRM_PASSWORD",
    "service_account": "OCTOTUI_SERVICE_PASSWORD",
    "nodes": "OCTOTUI_WINRM_PASSWORD",
}
_MSI_NAME = re.compile(r"(?i)octopus\.(\d+(?:\.\d+){2,3})-x64\.msi$")


# --- unknown keys and secrets ------------------------------------------------------------------------------


def _secret_fix(section: str | None, name: str) -> str:
    low = name.lower()
    if "master" in low:
        return "remove it; give the master key in OCTOTUI_MASTER_KEY or the keyring (octotui stores it there " \
               "itself after creating a cluster)"
    if section in _ENV_FOR_SECTION:
        return f"remove it; set {_ENV_FOR_SECTION[section]} or store the password in the keyring"
    if section == "sql":
        return "remove it; use Integrated Security=True in connection_string (the nodes sign in as the service " \
               "account)"
    if section == "admin":
        return "remove it; an Active Directory administrator signs in with their own domain password"
    return "remove it; octotui reads secrets from OCTOTUI_WINRM_PASSWORD, OCTOTUI_SERVICE_PASSWORD and " \
           "OCTOTUI_MASTER_KEY, or from the keyring"


def _unknown(r: Reader, section: str | None, name: str, key: str) -> None:
    if _SECRET_KEY.search(name):
        r.add(key, "looks like it holds a secret, and the answers file must never hold one", _secret_fix(section, name))
        return
    allowed = sorted(SCHEMA if section is None else (SCHEMA[section] or ()))
    close = difflib.get_close_matches(name.lower(), allowed, n=1, cutoff=0.6)
    if close:
        r.add(key, "is not a known key", f"did you mean '{close[0]}'?")
        return
    homes = [s for s, keys in SCHEMA.items() if keys and name.lower() in keys and s != section]
    if homes:
        where = "[[nodes]]" if homes[0] == "nodes" else f"[{homes[0]}]"
        r.add(key, "is not a key of this table", f"move it under {where}")
        return
    table = "the top level" if section is None else f"[{section}]"
    r.add(key, f"is not a known key of {table}", f"remove it; known keys: {', '.join(allowed)}")


def _check_keys(r: Reader, table: dict[str, Any], section: str | None, prefix: str) -> None:
    allowed = SCHEMA if section is None else (SCHEMA[section] or frozenset())
    for name in table:
        if name not in allowed:
            _unknown(r, section, name, f"{prefix}{name}")


# --- sections ----------------------------------------------------------------------------------------------


def _mode(r: Reader, data: dict[str, Any]) -> Mode | None:
    mode = r.text(data, "mode", "mode", 'mode = "create"', required=True,
                  required_fix='add mode = "create" (a new cluster) or mode = "join" (nodes joining one)')
    if mode is None:
        return None
    if mode not in ("create", "join"):
        close = difflib.get_close_matches(mode.lower(), ["create", "join"], n=1, cutoff=0.5)
        r.add("mode", f"'{shown(mode)}' is not a mode", f"did you mean '{close[0]}'?" if close
              else 'write mode = "create" or mode = "join"')
        return None
    return cast(Mode, mode)


def _instance(r: Reader, data: dict[str, Any]) -> str:
    name = r.text(data, "instance", "instance", 'instance = "OctopusServer"')
    if name is None:
        return DEFAULT_INSTANCE
    bad = sorted({c for c in name if c in '<>:"/\\|?*' or ord(c) < 32})
    if bad or name != name.strip() or len(name) > 100:
        r.add("instance", f"'{shown(name)}' cannot be an Octopus instance name (it names a Windows service and a file)",
              "use letters, digits, spaces, '-' or '_' (at most 100 characters)")
    return name


def _winrm(r: Reader, data: dict[str, Any]) -> WinRMSettings | None:
    t = r.table(data, "winrm", required=True,
                required_fix='add a [winrm] table with username = "DOMAIN\\\\user"')
    if t is None:
        return None
    _check_keys(r, t, "winrm", "winrm.")
    transport_raw = r.text(t, "transport", "winrm.transport", 'transport = "ntlm"') or "ntlm"
    transport: Transport = "ntlm"
    if transport_raw.lower() in TRANSPORTS:
        transport = cast(Transport, transport_raw.lower())
    else:
        r.add("winrm.transport", f"'{shown(transport_raw)}' is not a WinRM transport octotui supports",
              f"use one of: {', '.join(TRANSPORTS)}")
    username = r.text(t, "username", "winrm.username", 'username = "DOMAIN\\\\user"',
                      required=transport != "certificate",
                      required_fix='add username = "DOMAIN\\\\user" (an administrator on every node)')
    account: Account | None = None
    if username is not None:
        account = r.parse("winrm.username", lambda: parse_account(username, allow_local=True))
    if account is not None and transport == "kerberos" and not account.is_domain_account:
        r.add("winrm.username", f"'{shown(username)}' is a local account; Kerberos needs a domain account",
              "write it as DOMAIN\\user or user@domain.tld, or use transport = \"ntlm\"")
    https = r.typed(t, "https", "winrm.https", bool, "https = true")
    https = True if https is None else https
    port_raw = t.get("port")
    port = r.parse("winrm.port", lambda: parse_port(port_raw, "WinRM port")) if "port" in t else None
    validation_raw = r.text(t, "server_cert_validation", "winrm.server_cert_validation",
                            'server_cert_validation = "validate"') or "validate"
    validation: CertValidation = "validate"
    if validation_raw in VALIDATIONS:
        validation = validation_raw
    else:
        r.add("winrm.server_cert_validation", f"'{shown(validation_raw)}' is not 'validate' or 'ignore'",
              'write server_cert_validation = "validate" (the default) or "ignore"')
    ca_cert = None
    ca_raw = r.text(t, "ca_cert", "winrm.ca_cert", 'ca_cert = "/path/to/ca.pem"')
    if ca_raw is not None:
        if not https:
            r.add("winrm.ca_cert", "a CA certificate only applies to HTTPS, and https = false",
                  "remove ca_cert, or set https = true")
        else:
            ca_cert = r.ca_file(ca_raw, "winrm.ca_cert")
    if transport == "basic" and not https:
        r.add("winrm.transport", "Basic authentication over plain HTTP would send the password unprotected",
              'set https = true, or use transport = "ntlm" or "kerberos" (they encrypt the messages over HTTP)')
    cert_pem = cert_key = None
    for name in ("cert_pem", "cert_key_pem"):
        raw = r.text(t, name, f"winrm.{name}", f'{name} = "/path/to/client.pem"',
                     required=transport == "certificate",
                     required_fix=f'certificate authentication needs {name} = "/path/to/file.pem"')
        if raw is None:
            continue
        if transport != "certificate":
            r.add(f"winrm.{name}", "only applies with transport = \"certificate\"", f"remove {name}")
            continue
        found = r.local_file(raw, f"winrm.{name}", "the client certificate file" if name == "cert_pem"
                             else "the client key file")
        if name == "cert_pem":
            cert_pem = found
        else:
            cert_key = found
    if transport == "certificate" and not https:
        r.add("winrm.https", "certificate authentication works over HTTPS only", "set https = true")
    if validation == "ignore" and not https:
        r.add("winrm.server_cert_validation", "applies to HTTPS only, and https = false",
              "remove server_cert_validation")
    return WinRMSettings(username=account, transport=transport, https=https, port=port, ca_cert=ca_cert,
                         server_cert_validation=validation, cert_pem=cert_pem, cert_key_pem=cert_key)


def _endpoint(r: Reader, raw: str, key: str, winrm: WinRMSettings | None) -> str | None:
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        r.add(key, f"'{shown(raw)}' is not an http(s) URL", 'write the full URL, e.g. endpoint = "https://octo1:5986/wsman"')
        return None
    if parts.username or parts.password:
        r.add(key, "the URL holds user information (maybe a password)",
              "remove the user@ part; the WinRM account is [winrm] username, its password OCTOTUI_WINRM_PASSWORD")
        return None
    try:
        port = parts.port
    except ValueError:
        r.add(key, f"'{shown(raw)}' has an invalid port", "use a number between 1 and 65535")
        return None
    if port == 0:
        r.add(key, f"'{shown(raw)}' has port 0", "use a number between 1 and 65535")
        return None
    r.parse(key, lambda: parse_host(parts.hostname or ""))
    if winrm is not None and (parts.scheme == "https") != winrm.https:
        r.add(key, f"the endpoint uses {parts.scheme} but [winrm] https = {str(winrm.https).lower()}",
              "make them agree: change the URL's scheme or [winrm] https")
    return raw


@dataclass(frozen=True)
class _NodeRow:
    """A node as read, with its home as written: where that home is not a valid home folder, the storage
    checks still compare the shared folders with it when it is a local path at all."""

    node: NodeSpec
    home_text: str


def _nodes(r: Reader, data: dict[str, Any], winrm: WinRMSettings | None) -> list[_NodeRow]:
    raw = data.get("nodes")
    if raw is None:
        r.add("nodes", "no [[nodes]] are given", 'add one [[nodes]] table per Windows node, with host = "..."')
        return []
    if isinstance(raw, dict):
        r.add("nodes", "must be an array of tables", "write each node as its own [[nodes]] table (two brackets)")
        return []
    if not isinstance(raw, list) or not raw:
        r.add("nodes", "must list at least one node", 'add one [[nodes]] table per node, with host = "..."')
        return []
    nodes: list[_NodeRow] = []
    seen_hosts: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    seen_endpoints: dict[str, str] = {}
    for index, entry in enumerate(raw, start=1):
        prefix = f"nodes[{index}]"
        if not isinstance(entry, dict):
            r.add(prefix, f"must be a table, not {type_name(entry)}", "write each node as a [[nodes]] table")
            continue
        _check_keys(r, entry, "nodes", f"{prefix}.")
        row = _node(r, entry, prefix, winrm)
        if row is None:
            continue
        node = row.node
        for value, seen, what in ((node.host.key, seen_hosts, "host"), (node.name.lower(), seen_names, "name"),
                                  (node.endpoint, seen_endpoints, "endpoint")):
            if value is None:
                continue
            if value in seen:
                r.add(f"{prefix}.{what}", f"the same {what} as {seen[value]}",
                      "each node must be a different machine; remove the duplicate")
                if what == "host":
                    break  # its name and endpoint repeat for the same reason: one problem is enough
            else:
                seen[value] = prefix
        nodes.append(row)
    return nodes


def _node(r: Reader, entry: dict[str, Any], prefix: str, winrm: WinRMSettings | None) -> _NodeRow | None:
    host_raw = r.text(entry, "host", f"{prefix}.host", 'host = "octo1.example.com"', required=True,
                      required_fix='add host = "<the node\'s DNS name or IP address>"')
    host: Host | None = None
    if host_raw is not None:
        host = r.parse(f"{prefix}.host", lambda: parse_host(host_raw))
    if host is not None and host.is_ip and winrm is not None and winrm.transport == "kerberos":
        r.add(f"{prefix}.host", f"Kerberos cannot authenticate to an IP address ({host.value})",
              "give the node's DNS name, or use transport = \"ntlm\"")
    name_raw = r.text(entry, "name", f"{prefix}.name", 'name = "OCTO1"')
    name: str | None = None
    if name_raw is not None:
        name = r.parse(f"{prefix}.name", lambda: parse_netbios_name(name_raw))
    elif host is not None:
        name = netbios_from_host(host)
        if name is None:
            r.add(f"{prefix}.name", f"cannot be derived from the address {host.value}",
                  'add name = "<the Windows computer name>", e.g. name = "OCTO1"')
    home_raw = r.text(entry, "home", f"{prefix}.home", "home = 'C:\\Octopus'")
    home = DEFAULT_HOME
    home_text = str(home)
    if home_raw is not None:
        parsed = r.parse(f"{prefix}.home", lambda: _local_home(home_raw))
        home, home_text = (parsed, str(parsed)) if parsed is not None else (home, home_raw)
    endpoint_raw = r.text(entry, "endpoint", f"{prefix}.endpoint", 'endpoint = "https://octo1:5986/wsman"')
    endpoint = _endpoint(r, endpoint_raw, f"{prefix}.endpoint", winrm) if endpoint_raw is not None else None
    if host is None or name is None:
        return None
    return _NodeRow(NodeSpec(host=host, name=name, home=home, endpoint=endpoint), home_text)


def _local_home(text: str) -> WinPath:
    try:
        path = parse_windows_path(text, allow_unc=False, max_length=MAX_PATH_DIR)
    except ParseError as exc:
        if "network (UNC)" in exc.message:
            raise ParseError(f"'{shown(text)}' is a network path; the home folder holds the node's own configuration "
                             "and logs and must be local (a UNC home breaks start-up)",
                             "use a folder on the node's own disk, e.g. C:\\Octopus; shared files go in [storage]"
                             ) from None
        raise
    if path.is_drive_root:
        raise ParseError(f"'{shown(text)}' is a drive root", "use a folder, e.g. C:\\Octopus")
    return path


def _service_account(r: Reader, data: dict[str, Any]) -> ServiceAccountSpec | None:
    t = r.table(data, "service_account", required=True,
                required_fix='add [service_account] with username = "DOMAIN\\\\svcOctopus"')
    if t is None:
        return None
    _check_keys(r, t, "service_account", "service_account.")
    raw = r.text(t, "username", "service_account.username", 'username = "DOMAIN\\\\svcOctopus"', required=True)
    if raw is None:
        return None
    account = r.parse("service_account.username", lambda: parse_account(raw, allow_local=False))
    if account is None:
        return None
    return ServiceAccountSpec(username=account)


def _connection_string(r: Reader, data: dict[str, Any]) -> ConnectionString | None:
    t = r.table(data, "sql", required=True,
                required_fix='add [sql] with connection_string = "Data Source=...;Initial Catalog=...;'
                             'Integrated Security=True;"')
    if t is None:
        return None
    _check_keys(r, t, "sql", "sql.")
    raw = r.text(t, "connection_string", "sql.connection_string",
                 'connection_string = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"',
                 required=True)
    if raw is None:
        return None
    cs = r.parse("sql.connection_string", lambda: parse_connection_string(raw))
    if cs is None:
        return None
    for problem in octopus_problems(cs):
        r.add("sql.connection_string", problem.message, problem.fix)
    return cs


def _storage(r: Reader, data: dict[str, Any], mode: Mode | None, version: OctopusVersion | None,
             nodes: list[_NodeRow]) -> StorageSpec:
    t = r.table(data, "storage", required=mode == "create",
                required_fix="add [storage] with cluster_shared = '\\\\fileserver\\OctopusShared' (the share every "
                             "node reads and writes)")
    if t is None:
        return StorageSpec()
    if mode == "join":
        r.add("storage", "a joining node never sets shared storage: the cluster's first node did, once, and the "
              "setting lives in the database", "remove the [storage] table from a join answers file")
        return StorageSpec()
    _check_keys(r, t, "storage", "storage.")
    given = [k for k in STORAGE_FOLDERS if k in t]
    root_raw = r.text(t, "cluster_shared", "storage.cluster_shared", "cluster_shared = '\\\\fileserver\\Octopus'")
    if root_raw is not None and given:
        r.add("storage", f"gives both cluster_shared and folders ({', '.join(given)})",
              "use either cluster_shared (one root, Octopus makes the sub-folders) or the folders, not both")
        return StorageSpec()
    homes = [(row.node, home) for row in nodes if (home := _lenient_home(row.home_text)) is not None]
    if root_raw is not None:
        root = r.parse("storage.cluster_shared", lambda: parse_windows_path(root_raw, max_length=MAX_PATH_DIR - 20))
        if root is not None:
            _not_in_home(r, "storage.cluster_shared", root, homes)
            return StorageSpec(cluster_shared=root)
        return StorageSpec()
    if not given:
        r.add("storage", "names no shared folder", "add cluster_shared = '\\\\fileserver\\Octopus', or the folders "
              + ", ".join(STORAGE_FOLDERS))
        return StorageSpec()
    required = list(STORAGE_FOLDERS)
    if version is not None and not version.supports("imports_folder"):
        required = ["artifacts", "task_logs", "nuget_repository"]
    missing = [k for k in required if k not in t]
    if missing:
        r.add("storage", f"is missing {', '.join(missing)}: in a cluster every shared folder must be shared",
              "add them, or give one root as cluster_shared")
    folders: dict[str, WinPath] = {}
    seen: dict[str, str] = {}
    for key in given:
        raw = r.text(t, key, f"storage.{key}", f"{key} = '\\\\fileserver\\Octopus\\{key}'")
        if raw is None:
            continue
        path = r.parse(f"storage.{key}", _folder_parser(raw))
        if path is None:
            continue
        if path.key in seen:
            r.add(f"storage.{key}", f"is the same folder as storage.{seen[path.key]}",
                  "give each kind of shared file its own folder")
        seen[path.key] = key
        _not_in_home(r, f"storage.{key}", path, homes)
        folders[key] = path
    return StorageSpec(folders=folders)


def _folder_parser(raw: str) -> Callable[[], WinPath]:
    return lambda: parse_windows_path(raw, max_length=MAX_PATH_DIR)


def _lenient_home(text: str) -> WinPath | None:
    """A home as a local path, even one the home rules refuse (e.g. a drive root), to tell shared folders
    that lie inside it; None when it is not a local path at all."""
    try:
        return parse_windows_path(text, allow_unc=False)
    except ParseError:
        return None


def _not_in_home(r: Reader, key: str, path: WinPath, homes: list[tuple[NodeSpec, WinPath]]) -> None:
    for node, home in homes:
        if not path.is_unc and path.is_within(home):
            r.add(key, f"'{shown(path)}' lies inside the home folder of {node.name} ({home}), which is local to "
                  "that node",
                  "shared storage must be a share (\\\\server\\share) or a drive every node maps to the same share")
            return


def _web(r: Reader, data: dict[str, Any], winrm: WinRMSettings | None) -> WebSpec:
    t = r.table(data, "web")
    if t is None:
        return WebSpec()
    _check_keys(r, t, "web", "web.")
    defaults = WebSpec()
    prefixes: list[ListenPrefix] = []
    if "listen_prefixes" in t:
        raw = t["listen_prefixes"]
        if isinstance(raw, str):
            r.add("web.listen_prefixes", "must be a list", f'write it as listen_prefixes = ["{shown(raw)}"]')
        elif not isinstance(raw, list) or not raw:
            r.add("web.listen_prefixes", "must be a non-empty list of URL prefixes",
                  'write it as listen_prefixes = ["http://+:80/"]')
        else:
            seen: set[str] = set()
            for i, item in enumerate(raw, start=1):
                key = f"web.listen_prefixes[{i}]"
                if not isinstance(item, str):
                    r.add(key, f"must be a string, not {type_name(item)}", 'write it like "http://+:80/"')
                    continue
                if not r.plain(key, item):
                    continue
                prefix = r.parse(key, _prefix_parser(item))
                if prefix is None:
                    continue
                if prefix.key in seen:
                    r.add(key, f"'{shown(item)}' is listed twice", "remove the duplicate")
                    continue
                seen.add(prefix.key)
                prefixes.append(prefix)
    else:
        prefixes = list(defaults.listen_prefixes)
    force_ssl = r.typed(t, "force_ssl", "web.force_ssl", bool, "force_ssl = false")
    force_ssl = defaults.force_ssl if force_ssl is None else force_ssl
    comms = defaults.comms_port
    if "comms_port" in t:
        comms_raw = t["comms_port"]
        comms = r.parse("web.comms_port", lambda: parse_port(comms_raw, "comms port")) or comms
    if force_ssl and prefixes and not any(p.is_https for p in prefixes):
        r.add("web.force_ssl", "force_ssl redirects to HTTPS, but no listen prefix is https",
              'add an https prefix, e.g. "https://+:443/", or set force_ssl = false')
    if any(p.port == comms for p in prefixes):
        r.add("web.comms_port", f"port {comms} is also a web listen port", "use another port (the default is 10943)")
    if winrm is not None and comms == winrm.effective_port:
        r.add("web.comms_port", f"port {comms} is WinRM's port", "use another port (the default is 10943)")
    return WebSpec(listen_prefixes=tuple(prefixes) or defaults.listen_prefixes,
                   force_ssl=force_ssl, comms_port=comms)


def _prefix_parser(raw: str) -> Callable[[], ListenPrefix]:
    return lambda: parse_listen_prefix(raw)


def _install(r: Reader, data: dict[str, Any], version: OctopusVersion | None,
             winrm: WinRMSettings | None) -> InstallSpec | None:
    t = r.table(data, "install", required=True,
                required_fix='add [install] with source = a URL, a path on the node, a local file, or "chocolatey"')
    if t is None:
        return None
    _check_keys(r, t, "install", "install.")
    source = r.text(t, "source", "install.source",
                    'source = "https://download.octopusdeploy.com/octopus/Octopus.2025.3.1234-x64.msi"',
                    required=True)
    if source is None:
        return None
    kind, value = _classify_source(r, source, winrm)
    if kind is None or value is None:
        return None
    match = _MSI_NAME.search(value.replace("\\", "/").rsplit("/", 1)[-1])
    if match and version is not None and match.group(1) != str(version):
        r.add("install.source", f"the installer is version {match.group(1)} but octopus_version is {version}",
              "make them the same version")
    return InstallSpec(source=value, kind=kind)


def _classify_source(r: Reader, source: str, winrm: WinRMSettings | None) -> tuple[InstallKind | None, str | None]:
    key = "install.source"
    if source.strip().lower() in ("chocolatey", "choco"):
        return "chocolatey", "chocolatey"
    if "://" in source:
        parts = urllib.parse.urlsplit(source)
        if parts.scheme.lower() not in ("http", "https"):
            r.add(key, f"'{shown(parts.scheme)}' URLs are not supported",
                  "use an http(s) URL, a path, or \"chocolatey\"")
            return None, None
        if parts.username or parts.password:
            r.add(key, "the URL holds user information (maybe a password), which the answers file must not hold",
                  "use a URL that needs no credentials, or download the installer and give its path")
            return None, None
        if r.parse(key, lambda: parse_host(parts.hostname or "")) is None:
            return None, None
        return "url", source
    if looks_like_windows_path(source):
        path = r.parse(key, lambda: parse_windows_path(source))
        if path is None:
            return None, None
        if not str(path).lower().endswith(".msi"):
            r.add(key, f"'{shown(source)}' is not an .msi file", "give the Octopus Server .msi installer")
            return None, None
        if path.is_unc and (winrm is None or winrm.transport != "credssp"):
            r.add(key, f"'{shown(source)}' is on a share, which a WinRM session cannot read without CredSSP (the "
                  "double hop)", "copy the installer to each node's disk, give a URL or a local file to upload, or "
                  "use transport = \"credssp\"")
            return None, None
        return "node_path", str(path)
    local = r.local_file(source, key, "the installer")
    if local is None:
        return None, None
    if not local.lower().endswith(".msi"):
        r.add(key, f"'{shown(source)}' is not an .msi file", "give the Octopus Server .msi installer")
        return None, None
    return "local_file", local


def _admin_and_license(r: Reader, data: dict[str, Any], mode: Mode | None) -> tuple[Account | None, str | None]:
    admin_t = r.table(data, "admin", required=mode == "create",
                      required_fix='add [admin] with username = "DOMAIN\\\\you": the first Octopus administrator')
    license_t = r.table(data, "license")
    if mode == "join":
        for name, table in (("admin", admin_t), ("license", license_t)):
            if table is not None:
                r.add(name, f"a joining node never runs '{shown(name)}': the cluster already has it",
                      f"remove the [{name}] table from a join answers file")
        return None, None
    admin: Account | None = None
    license_file: str | None = None
    if admin_t is not None:
        _check_keys(r, admin_t, "admin", "admin.")
        admin_raw = r.text(admin_t, "username", "admin.username", 'username = "DOMAIN\\\\you"', required=True)
        if admin_raw is not None:
            account = r.parse("admin.username", lambda: parse_account(admin_raw, allow_local=False))
            if account is not None:
                if account.is_gmsa:
                    r.add("admin.username", f"'{shown(admin_raw)}' is a managed service account, which cannot sign in",
                          "give a person's domain account")
                admin = account
    if license_t is not None:
        _check_keys(r, license_t, "license", "license.")
        raw = r.text(license_t, "file", "license.file", "file = 'octopus-license.xml'", required=True)
        if raw is not None:
            license_file = r.licence_file(raw, "license.file")
    return admin, license_file


def _ad(r: Reader, data: dict[str, Any]) -> ADSpec:
    """The optional [ad] table: only the preflight checks read it, to reach Active Directory."""
    t = r.table(data, "ad")
    if t is None:
        return ADSpec()
    _check_keys(r, t, "ad", "ad.")
    dc = r.text(t, "domain_controller", "ad.domain_controller", 'domain_controller = "dc1.corp.example.com"')
    if dc is not None and r.parse("ad.domain_controller", _host_parser(dc.strip())) is None:
        dc = None
    domain = r.text(t, "dns_domain", "ad.dns_domain", 'dns_domain = "corp.example.com"')
    if domain is not None and r.parse("ad.dns_domain", _host_parser(domain.strip())) is None:
        domain = None
    ca_raw = r.text(t, "ca_cert", "ad.ca_cert", 'ca_cert = "/path/to/ad-ca.pem"')
    ca_cert = r.ca_file(ca_raw, "ad.ca_cert") if ca_raw is not None else None
    servers: list[str] = []
    raw_servers = r.typed(t, "nameservers", "ad.nameservers", list, 'nameservers = ["10.0.0.10", "10.0.0.11:53"]')
    for i, item in enumerate(raw_servers or [], 1):
        key = f"ad.nameservers[{i}]"
        if not isinstance(item, str) or not item.strip():
            r.add(key, f"must be a non-empty string, not {type_name(item)}",
                  'write it as "10.0.0.10" or "10.0.0.10:53"')
            continue
        if not r.plain(key, item):
            continue
        server = _nameserver(r, item.strip(), key)
        if server is not None:
            servers.append(server)
    return ADSpec(domain_controller=dc.strip() if dc else None, dns_domain=domain.strip().rstrip(".") if domain
                  else None, ca_cert=ca_cert, nameservers=tuple(servers))


def _host_parser(text: str) -> Callable[[], Host]:
    return lambda: parse_host(text)


def _nameserver(r: Reader, text: str, key: str) -> str | None:
    """``host``, ``host:port`` or ``[v6]:port``; returned as written when valid."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if r.parse(key, _host_parser(host)) is None:
        return None
    if port is not None and (not port.isdigit() or r.parse(key, lambda: parse_port(int(port), "DNS port")) is None):
        if not port.isdigit():
            r.add(key, f"'{shown(text)}' has an invalid port", 'write "host" or "host:53"')
        return None
    return text


# --- the whole file ---------------------------------------------------------------------------------------


def parse_answers(data: dict[str, Any], *, base_dir: Path | None = None, source: str | None = None) -> ClusterSpec:
    """Validate already-parsed TOML (the TUI builds the same dict); raises ``AnswersError``."""
    r = Reader(base_dir or Path.cwd())
    _check_keys(r, data, None, "")
    mode = _mode(r, data)
    version_raw = r.typed(data, "octopus_version", "octopus_version", str, 'octopus_version = "2025.3.1234"',
                          required=True, required_fix='add octopus_version = "2025.3.1234" (the exact version)')
    version = r.parse("octopus_version", lambda: parse_octopus_version(version_raw)) if version_raw else None
    instance = _instance(r, data)
    winrm = _winrm(r, data)
    nodes = _nodes(r, data, winrm)
    service = _service_account(r, data)
    connection_string = _connection_string(r, data)
    storage = _storage(r, data, mode, version, nodes)
    web = _web(r, data, winrm)
    install = _install(r, data, version, winrm)
    admin, license_file = _admin_and_license(r, data, mode)
    ad = _ad(r, data)
    if r.problems:
        raise AnswersError(r.problems, source)
    assert mode and version and winrm and service and connection_string and install  # all checked above
    if winrm.transport == "kerberos" and (ad.domain_controller or ad.dns_domain):
        winrm = dataclasses.replace(winrm, kerberos_kdc=ad.domain_controller, kerberos_dns_domain=ad.dns_domain)
    return ClusterSpec(mode=mode, octopus_version=version, instance=instance, winrm=winrm,
                       nodes=tuple(row.node for row in nodes),
                       service_account=service, connection_string=connection_string, storage=storage, web=web,
                       install=install, admin_username=admin, license_file=license_file, source_file=source,
                       ad=ad)


# --- one section of answers still being written ------------------------------------------------------------
# The wizard checks a section over the network as soon as that section is valid, before the rest of the file
# exists: each function reads one section by the same rules as ``parse_answers`` and returns its typed value,
# or the problems that section has (keyed as in a whole file).


def parse_winrm(data: Mapping[str, Any], *, base_dir: Path | None = None) -> WinRMSettings | list[Problem]:
    """The ``[winrm]`` table of ``data``."""
    r = Reader(base_dir or Path.cwd())
    settings = _winrm(r, dict(data))
    return r.problems if r.problems or settings is None else settings


def parse_node(row: Mapping[str, Any], index: int, winrm: WinRMSettings | None, *,
               base_dir: Path | None = None) -> NodeSpec | list[Problem]:
    """One ``[[nodes]]`` row, the ``index``-th (from 1); ``winrm`` is what its rules depend on (Kerberos and
    IP addresses, the endpoint's scheme), None when the ``[winrm]`` table is not valid yet."""
    r = Reader(base_dir or Path.cwd())
    found = _node(r, dict(row), f"nodes[{index}]", winrm)
    return r.problems if r.problems or found is None else found.node


def parse_nodes(data: Mapping[str, Any], winrm: WinRMSettings | None, *,
                base_dir: Path | None = None) -> list[tuple[int, NodeSpec]]:
    """Every ``[[nodes]]`` row of ``data`` that is valid on its own, with its index (from 1): the nodes that can
    be reached while other rows are still being typed. A row without a host is skipped, and an empty value
    counts as not given."""
    rows = data.get("nodes")
    found: list[tuple[int, NodeSpec]] = []
    for index, row in enumerate(rows if isinstance(rows, list) else [], start=1):
        if not isinstance(row, dict) or not str(row.get("host", "")).strip():
            continue
        node = parse_node({k: v for k, v in row.items() if v not in ("", None)}, index, winrm, base_dir=base_dir)
        if isinstance(node, NodeSpec):
            found.append((index, node))
    return found


def parse_service_account(data: Mapping[str, Any], *, base_dir: Path | None = None
                          ) -> ServiceAccountSpec | list[Problem]:
    """The ``[service_account]`` table of ``data``."""
    r = Reader(base_dir or Path.cwd())
    found = _service_account(r, dict(data))
    return r.problems if r.problems or found is None else found


def parse_sql(data: Mapping[str, Any], *, base_dir: Path | None = None) -> ConnectionString | list[Problem]:
    """The ``[sql]`` table of ``data``: its connection string."""
    r = Reader(base_dir or Path.cwd())
    found = _connection_string(r, dict(data))
    return r.problems if r.problems or found is None else found


def load_answers(path: str | Path) -> ClusterSpec:
    """Read and validate an answers file; raises ``AnswersError`` holding every problem found."""
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersError([Problem("(file)", f"'{shown(file)}' does not exist", "check the path")], source) from None
    except UnicodeDecodeError as exc:
        raise AnswersError([Problem("(file)", f"is not UTF-8 text (byte {exc.start})", "save it as UTF-8")],
                           source) from None
    except OSError as exc:
        raise AnswersError([Problem("(file)", f"cannot be read: {exc.strerror}", "check the path and permissions")],
                           source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError([Problem("(file)", f"is not valid TOML: {exc}",
                                    "fix the syntax there; Windows paths are easiest in single quotes: "
                                    "home = 'C:\\Octopus'")], source) from None
    return parse_answers(data, base_dir=file.resolve().parent, source=source)
