"""Octopus.Server.exe as data: its names and places, and the argv builders for every command a step runs.

Why a module of its own: every remote step is either a PowerShell script or one of these command lines,
and the plan, the export and the run must all build them the same way. Builders return argv LISTS (the
arguments after the program; ``exe_path`` gives the program), never strings: turning argv into a
Windows command line is ``octotui.windows.quoting.cmd_line``'s job, done once, where the quoting rules live.
Next to it: ``octopus_output`` reads what these commands print, ``gates`` says which version has which
command, ``installers`` builds the msiexec and Chocolatey lines.

Facts come from ``reference/octopus-server.md`` (section numbers in the comments). Things marked
"inferred" there are marked here too, so that a later correction knows where to look.

Secrets: no builder takes the service account's password (``service`` reads it from the
``OCTOPUS_SERVICE_PASSWORD`` environment variable of the shell); the master key and a licence do travel
as arguments, because Octopus takes them no other way, so ``preview`` and ``masked_argv`` hide them (the
list of secret options is the redactor's, ``octotui.secrets.redact.SECRET_OPTIONS``).
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Mapping, Sequence

from octotui.secrets.redact import MASK, is_secret_option
from octotui.spec.model import DEFAULT_INSTANCE, STORAGE_FOLDERS, StorageSpec
from octotui.spec.parsers.connstr import redact as redact_connection_string
from octotui.spec.parsers.versions import OctopusVersion
from octotui.windows.gates import supports_cluster_shared
from octotui.windows.octopus_output import bool_text, effective_folders

# --- names and places (§1.1, §3) ---------------------------------------------------------------------

DEFAULT_INSTALL_LOCATION = "C:\\Program Files\\Octopus Deploy\\Octopus\\"
EXE_NAME = "Octopus.Server.exe"
DEFAULT_EXE = DEFAULT_INSTALL_LOCATION + EXE_NAME
#: create-instance without --instance creates this one; its service is plain "OctopusDeploy".
#: Octopus reads the service account's password from here when --password is absent (§1.1).
SERVICE_PASSWORD_ENV = "OCTOPUS_SERVICE_PASSWORD"

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


# --- secrets in argv (§1.1 "Secrets in arguments") -------------------------------------------------------

_CONNECTION_STRING_OPTIONS = frozenset({"connectionstring", "storageconnectionstring"})


def _option_name(arg: str) -> str:
    name = arg.lstrip("-/").split("=", 1)[0]
    return name.lower()


def mask_connection_string(value: str) -> str:
    """The connection string with ``Password=`` / ``Pwd=`` values hidden (the rest helps people debug), by
    SqlClient's own rules (``octotui.spec.parsers.connstr.redact``), so a quoted password holding ``;`` is
    hidden whole."""
    return redact_connection_string(value)


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
        args += ["--webForceSSL", bool_text(force_ssl)]
    if comms_port is not None:
        if not 1 <= comms_port <= 65535:
            raise ValueError(f"configure: comms port {comms_port} is not between 1 and 65535")
        args += ["--commsListenPort", str(comms_port)]
    if active_directory is not None:
        args += ["--activeDirectoryIsEnabled", bool_text(active_directory)]
    if username_password is not None:
        args += ["--usernamePasswordIsEnabled", bool_text(username_password)]
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


def path_commands(instance: str, storage: StorageSpec, version: str | OctopusVersion) -> list[list[str]]:
    """What sets shared storage once for the cluster: ``--clusterShared`` from 2020.2.15 (plus any folder
    given on its own), otherwise every folder on its own. One command either way."""
    if storage.cluster_shared and supports_cluster_shared(version):
        folders = {key: str(folder) for key, folder in storage.folders.items()}
        return [path(instance, cluster_shared=str(storage.cluster_shared), folders=folders or None)]
    folders = effective_folders(storage, version)
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
