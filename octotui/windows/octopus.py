"""Octopus.Server.exe, msiexec and Chocolatey as data: argv builders, output parsers and version gates.

Why a module of its own: every remote step is either a PowerShell script or one of these command lines,
and the plan, the export and the run must all build them the same way. Builders return argv LISTS (the
arguments after the program; ``exe_path`` gives the program), never strings: turning argv into a
Windows command line is ``octotui.windows.quoting.cmd_line``'s job, done once, where the quoting rules live.

Facts come from ``reference/octopus-server.md`` (section numbers in the comments). Things marked
"inferred" there are marked here too, so that a later correction knows where to look.

Secrets: no builder takes the service account's password (``service`` reads it from the
``OCTOPUS_SERVICE_PASSWORD`` environment variable of the shell); the master key and a licence do travel
as arguments, because Octopus takes them no other way, so ``preview`` and ``masked_argv`` hide them.
"""

from __future__ import annotations

import base64
import binascii
import json
import ntpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from octotui.spec.model import STORAGE_FOLDERS, InstallSpec, StorageSpec

# --- names and places (§1.1, §3) ---------------------------------------------------------------------

DEFAULT_INSTALL_LOCATION = "C:\\Program Files\\Octopus Deploy\\Octopus\\"
EXE_NAME = "Octopus.Server.exe"
DEFAULT_EXE = DEFAULT_INSTALL_LOCATION + EXE_NAME
#: create-instance without --instance creates this one; its service is plain "OctopusDeploy".
DEFAULT_INSTANCE = "OctopusServer"
DEFAULT_HOME = "C:\\Octopus"
#: Octopus reads the service account's password from here when --password is absent (§1.1).
SERVICE_PASSWORD_ENV = "OCTOPUS_SERVICE_PASSWORD"
CHOCOLATEY_PACKAGE = "OctopusDeploy"
MASK = "********"

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


# --- versions and gates (§2.9, §4.6) -------------------------------------------------------------------

_VERSION_RE = re.compile(r"(?<![\d.])v?(\d+(?:\.\d+){1,3})(?:[-+][0-9A-Za-z.+-]*)?(?![\d.])")


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2025.3.1234"`` -> ``(2025, 3, 1234)``; a pre-release or build suffix is ignored (the gates are about
    features, and a preview of X has X's features). Raises ValueError naming the text when there is no
    version in it."""
    match = _VERSION_RE.search(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an Octopus version (expected e.g. 2025.3.1234)")
    parts = tuple(int(p) for p in match.group(1).split("."))
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]  # 2020.2.0 == 2020.2
    return parts


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1, like C's strcmp, on the numeric parts."""
    ta, tb = version_tuple(a), version_tuple(b)
    return (ta > tb) - (ta < tb)


def at_least(version: str, minimum: str) -> bool:
    return version_tuple(version) >= version_tuple(minimum)


#: Feature -> first Octopus Server version that has it.
GATES: dict[str, str] = {
    "show_configuration": "3.5",
    "database_upgrade": "3.13.9",
    "home_on_create_instance": "3.16.4",
    "database_command": "4.0",  # database before configure; before it, configure --StorageConnectionString
    "task_cap": "2018.6.13",
    "skip_license_check": "2018.8.9",
    "cluster_shared": "2020.2.15",
    "imports_folder": "2021.1",
    "rotate_master_key": "2022.4",
    "trusted_proxies": "2023.1",
}


def supports(feature: str, version: str) -> bool:
    return at_least(version, GATES[feature])


def supports_cluster_shared(version: str) -> bool:
    """``path --clusterShared`` exists from 2020.2.15; before it each folder is set on its own."""
    return supports("cluster_shared", version)


def supports_imports_folder(version: str) -> bool:
    return supports("imports_folder", version)


def supports_home_on_create_instance(version: str) -> bool:
    return supports("home_on_create_instance", version)


def supports_database_command(version: str) -> bool:
    return supports("database_command", version)


def supports_database_upgrade(version: str) -> bool:
    return supports("database_upgrade", version)


def supports_skip_license_check(version: str) -> bool:
    return supports("skip_license_check", version)


# --- names ---------------------------------------------------------------------------------------------


def service_name(instance: str) -> str:
    """The Windows service of an instance: ``OctopusDeploy`` for the default instance, otherwise
    ``OctopusDeploy: <name>`` (§3, DSC's Get-ServiceName)."""
    return "OctopusDeploy" if instance.lower() == DEFAULT_INSTANCE.lower() else f"OctopusDeploy: {instance}"


def exe_path(install_location: str | None = None) -> str:
    """Octopus.Server.exe under the registry's InstallLocation (which ends in a backslash), else the
    default folder, as DSC's Get-OctopusServerExePath does."""
    location = (install_location or "").strip() or DEFAULT_INSTALL_LOCATION
    return ntpath.join(location, EXE_NAME)


def config_path(home: str, instance: str) -> str:
    """``<home>\\OctopusServer-<instance>.config`` (DSC's convention): one file per instance, so two instances
    sharing a home never share a config."""
    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", instance).strip() or DEFAULT_INSTANCE
    return ntpath.join(home, f"OctopusServer-{safe}.config")


def installer_file_name(version: str) -> str:
    return f"Octopus.{version}-x64.msi"


def download_url(version: str) -> str:
    return f"https://download.octopusdeploy.com/octopus/{installer_file_name(version)}"


# --- secrets in argv (§1.1 "Secrets in arguments") -------------------------------------------------------

_SECRET_OPTIONS = frozenset({
    "masterkey", "password", "pw", "pfx-password", "license", "licence", "licensebase64", "trust",
    "remove-trust", "apikey", "proxypassword", "clientsecret", "azureadclientsecret", "ldappassword",
})
_CONNECTION_STRING_OPTIONS = frozenset({"connectionstring", "storageconnectionstring"})
_CS_SECRET_RE = re.compile(r"(?i)(\b(?:password|pwd)\s*=\s*)(\"[^\"]*\"|'[^']*'|[^;]*)")


def _option_name(arg: str) -> str:
    name = arg.lstrip("-/").split("=", 1)[0]
    return name.lower()


def is_secret_option(option: str) -> bool:
    """True for an option whose value must never be shown (``--masterKey``, ``--password``,
    ``--licenseBase64``, ...). Accepts ``--name``, ``--name=value`` or a bare name, any case."""
    return _option_name(option) in _SECRET_OPTIONS


def mask_connection_string(value: str) -> str:
    """The connection string with ``Password=`` / ``Pwd=`` values hidden (the rest helps people debug)."""
    return _CS_SECRET_RE.sub(lambda m: m.group(1) + MASK, value)


def masked_argv(argv: Sequence[str]) -> list[str]:
    """argv with every secret value replaced by ``********``: for plans, logs and messages."""
    out: list[str] = []
    hide_next = cs_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
        elif cs_next:
            out.append(mask_connection_string(arg))
        elif arg.startswith("-") and "=" in arg:
            head, value = arg.split("=", 1)
            if is_secret_option(head):
                arg = f"{head}={MASK}"
            elif _option_name(head) in _CONNECTION_STRING_OPTIONS:
                arg = f"{head}={mask_connection_string(value)}"
            out.append(arg)
            hide_next = cs_next = False
            continue
        else:
            out.append(arg)
        is_option = arg.startswith("-") and not hide_next and not cs_next
        hide_next = is_option and is_secret_option(arg)
        cs_next = is_option and _option_name(arg) in _CONNECTION_STRING_OPTIONS
    return out


def preview(argv: Sequence[str]) -> str:
    """A one-line, human-readable, MASKED rendering of argv for ``octotui plan`` and the journal. Not a
    command line to run: real command lines come from ``octotui.windows.quoting.cmd_line``."""
    def show(a: str) -> str:
        return f'"{a}"' if (not a or any(c.isspace() for c in a)) else a

    return " ".join(show(a) for a in masked_argv(argv))


# --- Octopus.Server.exe builders (§1.3) ---------------------------------------------------------------
# Every builder adds --console: "don't attempt to run as a service, even if the user is non-interactive",
# which a WinRM logon is (DSC passes it on every call). Values are separate argv items, booleans are
# "True"/"False" as PowerShell prints them (what Octopus's own scripts send).


def _bool(value: bool) -> str:
    return "True" if value else "False"


def _instance_args(command: str, instance: str | None) -> list[str]:
    args = [command, "--console"]
    if instance is not None:
        args += ["--instance", instance]
    return args


def create_instance(instance: str, config: str, home: str | None = None, node_name: str | None = None) -> list[str]:
    """Registers the instance and writes its empty config. ``--home`` here needs 3.16.4 or later; the
    node name defaults to the machine name, so pass it only when the cluster should see another."""
    args = [*_instance_args("create-instance", instance), "--config", config]
    if home:
        args += ["--home", home]
    if node_name:
        args += ["--serverNodeName", node_name]
    return args


def database(instance: str, *, connection_string: str | None = None, create: bool = False,
             grant: str | None = None, master_key: str | None = None, upgrade: bool = False,
             skip_license_check: bool = False) -> list[str]:
    """The database command. It reaches SQL Server as the caller: run it where credentials survive the
    second hop (CredSSP, or ``invoke-as-user``)."""
    args = _instance_args("database", instance)
    if connection_string is not None:
        if not connection_string.strip():
            raise ValueError("database: the connection string is empty")
        args += ["--connectionString", connection_string]
    if master_key is not None:
        if not master_key.strip():
            raise ValueError("database: the master key is empty")
        args += ["--masterKey", master_key]
    if create:
        args.append("--create")
    if grant:
        args += ["--grant", grant]
    if upgrade:
        args.append("--upgrade")
    if skip_license_check:
        args.append("--skipLicenseCheck")
    return args


def database_create(instance: str, connection_string: str, grant: str | None) -> list[str]:
    """First node of a new cluster: create the database and give the service account db_owner."""
    return database(instance, connection_string=connection_string, create=True, grant=grant)


def database_join(instance: str, connection_string: str, master_key: str) -> list[str]:
    """A joining node: point at the existing database with the cluster's master key; never ``--create``."""
    return database(instance, connection_string=connection_string, master_key=master_key)


def configure(instance: str, *, listen_prefixes: Sequence[str] | None = None, force_ssl: bool | None = None,
              comms_port: int | None = None, active_directory: bool | None = None,
              username_password: bool | None = None, home: str | None = None,
              extra: Mapping[str, str] | None = None) -> list[str]:
    """configure with only the options given (None = leave that setting alone). ``extra`` passes any other
    documented option by name, e.g. ``{"webAuthenticationScheme": "Ntlm"}``."""
    args = _instance_args("configure", instance)
    if home:
        args += ["--home", home]
    if listen_prefixes is not None:
        prefixes = [p.strip() for p in listen_prefixes if p.strip()]
        if not prefixes:
            raise ValueError("configure: at least one web listen prefix is needed")
        if any("," in p for p in prefixes):
            raise ValueError("configure: a listen prefix cannot contain a comma (Octopus splits the list on it)")
        args += ["--webListenPrefixes", ",".join(prefixes)]
    if force_ssl is not None:
        args += ["--webForceSSL", _bool(force_ssl)]
    if comms_port is not None:
        if not 1 <= comms_port <= 65535:
            raise ValueError(f"configure: comms port {comms_port} is not between 1 and 65535")
        args += ["--commsListenPort", str(comms_port)]
    if active_directory is not None:
        args += ["--activeDirectoryIsEnabled", _bool(active_directory)]
    if username_password is not None:
        args += ["--usernamePasswordIsEnabled", _bool(username_password)]
    for name, value in (extra or {}).items():
        args += [f"--{name.lstrip('-')}", value]
    return args


def configure_node(instance: str, listen_prefixes: Sequence[str], force_ssl: bool, comms_port: int) -> list[str]:
    """The node-local settings every node needs (kept in its config file)."""
    return configure(instance, listen_prefixes=listen_prefixes, force_ssl=force_ssl, comms_port=comms_port)


def configure_active_directory(instance: str, *, username_password: bool | None = None) -> list[str]:
    """AD sign-in on, cluster-wide (stored in the database, so it needs SQL credentials)."""
    return configure(instance, active_directory=True, username_password=username_password)


def path(instance: str, *, cluster_shared: str | None = None, folders: Mapping[str, str] | None = None,
         cache_directory: str | None = None) -> list[str]:
    """path with a cluster-shared root and/or single folders (answers-file keys of ``STORAGE_FOLDERS``)."""
    args = _instance_args("path", instance)
    if cluster_shared:
        args += ["--clusterShared", cluster_shared]
    for key, value in (folders or {}).items():
        if key not in STORAGE_FOLDERS:
            raise ValueError(f"path: unknown folder {key!r}; use one of {', '.join(STORAGE_FOLDERS)}")
        args += [STORAGE_FOLDERS[key], value]
    if cache_directory:
        args += ["--cacheDirectory", cache_directory]
    if len(args) == 4:
        raise ValueError("path: give a cluster-shared root or at least one folder")
    return args


def _effective_folders(storage: StorageSpec, version: str) -> dict[str, str]:
    """Per-folder paths for a version without --clusterShared: each folder under the root by Octopus's own
    sub-folder names, then any folder given on its own on top."""
    folders: dict[str, str] = {}
    if storage.cluster_shared:
        for key, (_, sub) in FOLDER_KEYS.items():
            if key == "imports" and not supports_imports_folder(version):
                continue
            folders[key] = ntpath.join(storage.cluster_shared, sub)
    folders.update(storage.folders)
    return folders


def path_commands(instance: str, storage: StorageSpec, version: str) -> list[list[str]]:
    """What sets shared storage once for the cluster: ``--clusterShared`` from 2020.2.15 (plus any folder
    given on its own), otherwise every folder on its own. One command either way."""
    if storage.cluster_shared and supports_cluster_shared(version):
        return [path(instance, cluster_shared=storage.cluster_shared, folders=storage.folders or None)]
    folders = _effective_folders(storage, version)
    if not folders:
        return []
    return [path(instance, folders=folders)]


def service(instance: str, *, stop: bool = False, install: bool = False, reconfigure: bool = False,
            start: bool = False, uninstall: bool = False, restart: bool = False, username: str | None = None,
            depend_on: str | None = None) -> list[str]:
    """The service command. There is deliberately no password parameter: Octopus takes it from the
    shell's ``OCTOPUS_SERVICE_PASSWORD`` (``NodeSession(env=...)``), so it is never on a command line."""
    args = _instance_args("service", instance)
    for flag, on in (("--stop", stop), ("--uninstall", uninstall), ("--install", install),
                     ("--reconfigure", reconfigure), ("--start", start), ("--restart", restart)):
        if on:
            args.append(flag)
    if username:
        if not (install or reconfigure):
            raise ValueError("service: --username only takes effect with --install or --reconfigure")
        args += ["--username", username]
    if depend_on:
        args += ["--dependOn", depend_on]
    if len(args) == 4:
        raise ValueError("service: choose at least one of stop, install, reconfigure, start, uninstall, restart")
    return args


def service_stop(instance: str) -> list[str]:
    """Safe before the service exists (Octopus skips a missing service, exit 0)."""
    return service(instance, stop=True)


def service_start(instance: str) -> list[str]:
    return service(instance, start=True)


def service_install(instance: str, username: str, *, depend_on: str | None = None) -> list[str]:
    """Install (or reconfigure) the service to run as ``username`` and start it. A gMSA (``name$``) needs no
    password; for any other account set ``OCTOPUS_SERVICE_PASSWORD`` in the shell."""
    return service(instance, install=True, reconfigure=True, start=True, username=username, depend_on=depend_on)


def show_master_key(instance: str) -> list[str]:
    return [*_instance_args("show-master-key", instance), "--format", "json", "--noconsolelogging"]


def list_instances() -> list[str]:
    return ["list-instances", "--console", "--format", "json"]


def show_configuration(instance: str, *, hierarchical: bool = False) -> list[str]:
    fmt = "json-hierarchical" if hierarchical else "json"
    return [*_instance_args("show-configuration", instance), "--format", fmt, "--noconsolelogging"]


def admin(instance: str, username: str) -> list[str]:
    """The first administrator as a domain user: no password, no e-mail (AD mode, §1.3 admin)."""
    if not username.strip():
        raise ValueError("admin: the administrator's user name is empty")
    return [*_instance_args("admin", instance), "--username", username]


def license_file(instance: str, file: str) -> list[str]:
    """A licence XML file already on the node."""
    return [*_instance_args("license", instance), "--licenseFile", file]


def license_base64(instance: str, licence_b64: str) -> list[str]:
    return [*_instance_args("license", instance), "--licenseBase64", licence_b64]


def version(*, json_format: bool = False) -> list[str]:
    return ["version", "--console"] + (["--format", "json"] if json_format else [])


# --- installers (§3) -----------------------------------------------------------------------------------


def msiexec_install(msi_path: str, log_path: str | None = None, install_location: str | None = None) -> list[str]:
    """A silent MSI install that never reboots by itself (/norestart: 3010 comes back to us instead)."""
    args = ["msiexec.exe", "/i", msi_path, "/quiet", "/norestart", "RUNMANAGERONEXIT=no"]
    if install_location:
        args.append(f"INSTALLLOCATION={install_location}")
    if log_path:
        args += ["/l*v", log_path]
    return args


def choco_install(version: str) -> list[str]:
    return ["choco.exe", "install", CHOCOLATEY_PACKAGE, "--version", version, "-y", "--no-progress"]


def describe_install(install: InstallSpec, version: str) -> list[str]:
    """The install step's commands as the plan shows them (masked previews, not command lines)."""
    msi = f"C:\\Windows\\Temp\\{installer_file_name(version)}"
    log = f"C:\\Windows\\Temp\\octotui-msi-{version}.log"
    if install.kind == "chocolatey":
        return [preview(choco_install(version))]
    if install.kind == "url":
        return [f"download-file.ps1 {install.source} -> {msi}", preview(msiexec_install(msi, log))]
    if install.kind == "local_file":
        return [f"save-file.ps1 (upload {install.source}) -> {msi}", preview(msiexec_install(msi, log))]
    return [preview(msiexec_install(install.source, log))]


@dataclass(frozen=True)
class InstallerExit:
    """What an msiexec or choco exit code means for the run."""

    code: int
    ok: bool
    reboot_required: bool
    retryable: bool
    text: str
    hint: str = ""


_MSI_CODES: dict[int, tuple[bool, bool, bool, str, str]] = {
    # code: (ok, reboot_required, retryable, text, hint)
    0: (True, False, False, "installed", ""),
    1641: (True, True, False, "installed; the installer started a reboot", "wait for the node to come back"),
    3010: (True, True, False, "installed; a reboot is required to finish", "reboot the node when convenient"),
    350: (False, True, False, "a reboot is pending, so nothing was installed",
          "reboot the node, then run apply again"),
    1601: (False, False, True, "the Windows Installer service could not be accessed",
           "check that the msiserver service can start"),
    1602: (False, False, False, "the installation was cancelled", ""),
    1603: (False, False, False, "a fatal error occurred during installation",
           "read the MSI log on the node (C:\\Windows\\Temp\\octotui-msi-*.log) for the failing action"),
    1604: (False, True, False, "the installation was suspended, incomplete", "reboot the node, then run apply again"),
    1605: (False, False, False, "that action is only valid for products that are installed", ""),
    1618: (False, False, True, "another installation is in progress",
           "wait for the other installer (Windows Update, another MSI) to finish"),
    1619: (False, False, False, "the installation package could not be opened",
           "check the MSI path on the node and that the file is complete"),
    1620: (False, False, False, "the installation package could not be opened (not a valid package)",
           "download the MSI again; the file may be damaged"),
    1622: (False, False, False, "the installer could not open its log file", "check the log folder exists"),
    1625: (False, False, False, "the installation is forbidden by system policy", "ask the node's administrator"),
    1633: (False, False, False, "this package is not supported on this platform", "use the x64 MSI"),
    1638: (False, False, False, "another version of this product is already installed",
           "uninstall it, or set octopus_version to the installed version"),
    1639: (False, False, False, "invalid command line argument", "this is an octotui bug: report it"),
}


def msi_exit_meaning(code: int) -> InstallerExit:
    """Meaning of an msiexec (or Chocolatey, which passes the MSI's code on) exit code: 0 ok, 3010/1641 ok but
    reboot, 1618 worth retrying, 1603/1619/... failures with a hint."""
    if code in _MSI_CODES:
        ok, reboot, retry, text, hint = _MSI_CODES[code]
        return InstallerExit(code, ok, reboot, retry, text, hint)
    return InstallerExit(code, False, False, False, f"the installer failed with exit code {code}",
                         "see the installer's output in the step log")


installer_exit = msi_exit_meaning


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
        out[prefix] = _bool(value)
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
            if isinstance(value, str) and _VERSION_RE.search(value):
                return ".".join(str(p) for p in _full_parts(value))
    for line in reversed(text.splitlines()):
        if _VERSION_RE.fullmatch(line.strip()):
            return ".".join(str(p) for p in _full_parts(line.strip()))
    raise OctopusOutputError("version printed no version number")


def _full_parts(text: str) -> list[int]:
    match = _VERSION_RE.search(text)
    assert match is not None
    return [int(p) for p in match.group(1).split(".")]


# --- comparing what is with what is wanted ----------------------------------------------------------------

_CS_SYNONYMS = {
    "server": "data source", "address": "data source", "addr": "data source", "network address": "data source",
    "database": "initial catalog", "trusted_connection": "integrated security", "uid": "user id",
    "user": "user id", "pwd": "password", "encrypt": "encrypt",
}
_CS_TRUE = {"true", "yes", "sspi"}
_CS_FALSE = {"false", "no"}


def parse_connection_string(value: str) -> dict[str, str]:
    """ADO.NET ``key=value;`` pairs -> {canonical lower-case key: value}; quoted values may hold ``;``."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\s*([^=;]+?)\s*=\s*(\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|[^;]*)\s*(?:;|$)", value):
        key = " ".join(m.group(1).lower().split())
        raw = m.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1].replace(raw[0] * 2, raw[0])
        out[_CS_SYNONYMS.get(key, key)] = raw
    return out


def same_connection(current: str, wanted: str) -> bool:
    """Whether two connection strings point at the same database the same way (keys in any order and case,
    synonyms such as Server/Data Source, True/SSPI). An empty ``current`` never matches."""
    if not current.strip():
        return False
    a, b = parse_connection_string(current), parse_connection_string(wanted)

    def norm(key: str, v: str) -> str:
        low = v.strip().lower()
        if low in _CS_TRUE:
            return "true"
        if low in _CS_FALSE:
            return "false"
        return v.strip() if key == "password" else low

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


def node_settings_match(conf: Mapping[str, str], listen_prefixes: Sequence[str], force_ssl: bool,
                        comms_port: int) -> bool:
    """Whether configure would change nothing: the same prefixes (any order; Octopus accepts , and ;),
    the same SSL flag, the same comms port."""
    have = {_prefix_key(p) for p in _split_prefixes(config_get(conf, KEY_LISTEN_PREFIXES))}
    want = {_prefix_key(p) for p in listen_prefixes if p.strip()}
    if have != want:
        return False
    if _truthy(config_get(conf, KEY_FORCE_SSL)) is not force_ssl:
        return False
    port = config_get(conf, KEY_COMMS_PORT).strip()
    return port.isdigit() and int(port) == comms_port


def storage_matches(conf: Mapping[str, str], storage: StorageSpec, version: str) -> bool:
    """Whether shared storage is already as wanted (so ``path`` need not run again)."""
    folders_ok = all(_norm_path(config_get(conf, FOLDER_KEYS[k][0])) == _norm_path(v)
                     for k, v in storage.folders.items())
    if storage.cluster_shared:
        root_ok = _norm_path(config_get(conf, KEY_CLUSTER_SHARED)) == _norm_path(storage.cluster_shared)
        if root_ok and folders_ok:
            return True
        # Older versions, or an Octopus that reports the folders rather than the root.
        wanted = _effective_folders(storage, version)
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


def _account_parts(name: str) -> tuple[str, str]:
    low = name.strip().lower()
    low = _WELL_KNOWN_ACCOUNTS.get(low, low)
    if "\\" in low:
        domain, user = low.split("\\", 1)
    elif "@" in low:
        user, domain = low.split("@", 1)
    else:
        domain, user = "", low
    return domain.split(".", 1)[0], user


def same_account(a: str, b: str) -> bool:
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


# --- the PowerShell loader, for callers that build their own stdin (see octotui.remote.session) ----------------------


def powershell_stdin_line() -> str:
    """The command line that runs a script sent on stdin (assets/ps/README.md): the bootstrap, encoded."""
    from octotui.remote.session import bootstrap_command_line

    return bootstrap_command_line()


def parse_script_result(stdout: str, fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``@@octotui-result@@`` JSON in ``stdout``; without one, ``fallback`` (or an ``ok: false`` record)."""
    from octotui.remote.session import find_result_line

    found = find_result_line(stdout)
    if found is not None:
        return found
    return dict(fallback) if fallback is not None else {"ok": False, "stage": "result",
                                                          "error": "the script printed no result line"}
