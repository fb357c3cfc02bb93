"""configure, path, node, admin, license: settings that live in the node config or in the shared database.

Where a setting lives decides who can change it from where. Node-local settings (home, listen prefixes,
comms port, SSL, upgrade checks, ...) go to the XML config and need no database. Cluster-wide settings
(authentication providers, shared folders, task caps, admins, the licence) live in the database, so the
command connects to SQL Server as its caller — from a WinRM network logon that is the double hop. The
split is the reference's [I] reading of DOCS-HA-AD and the show-configuration docs; ``configure`` only
connects when it is given a cluster-wide option.

Values are checked as .NET would parse them (``bool.Parse``, ``int.Parse``, ``Enum.Parse``): a bad
value is an unhandled FormatException/ArgumentException, exit 100. Sensitive values (client secrets,
LDAP password) are stored as an opaque marker, never in clear, since the lab can show DB settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import (
    INSTANCE_OPTS,
    SKIP_DB_OPTS,
    Command,
    Host,
    checked_schema,
    connect,
    connection_string,
    node_name,
    read_node_file,
    save_config,
    select_instance,
)
from octotui.lab.octopus.options import (
    ControlledFailure,
    Opt,
    Parsed,
    Unhandled,
    parse_bool,
    parse_enum,
    parse_int,
)
from octotui.lab.state import OctopusNodeRow, OctopusSchema

LICENSE_KEY = "Octopus.Server.License"
AD_ENABLED = "Octopus.WebPortal.ActiveDirectoryIsEnabled"
BASE64_ERROR = ("The input is not a valid Base-64 string as it contains a non-base 64 character, more than "
                "two padding characters, or an illegal character among the padding characters.")


@dataclass(frozen=True)
class Setting:
    """One ``configure`` option: where its value goes and how it is parsed."""

    option: str
    key: str
    kind: str = "str"  # str | bool | int | enum
    db: bool = False
    choices: tuple[str, ...] = ()
    sensitive: bool = False
    since: str | None = None
    until: str | None = None
    note: str = ""


_S = Setting
SETTINGS: tuple[Setting, ...] = (
    _S("home", cfgmod.HOME),
    _S("serverNodeName", cfgmod.NODE_NAME, note="The --serverNodeName option of configure is deprecated; "
                                                "set it with create-instance --serverNodeName."),
    _S("cachePackages", "Octopus.PackageCache.DaysToCachePackages", "int"),
    _S("cacheLowDiskSpaceThreshold", "Octopus.PackageCache.LowDiskSpaceThresholdGB", "int"),
    _S("cacheDirectoryFullThreshold", "Octopus.PackageCache.DirectoryFullThresholdGB", "int"),
    _S("maxConcurrentTasks", "Octopus.Tasks.MaxConcurrentTasks", "int",
       note="The --maxConcurrentTasks option is deprecated and has no effect. Use node --taskCap instead."),
    _S("upgradeCheck", "Octopus.Upgrades.AllowChecking", "bool"),
    _S("upgradeCheckWithStatistics", "Octopus.Upgrades.IncludeStatistics", "bool"),
    _S("sendTelemetry", "Octopus.Upgrades.IncludeStatistics", "bool"),
    _S("upgradeNotification", "Octopus.Upgrades.NotificationMode", "enum",
       choices=("AlwaysShow", "ShowOnlyMajorMinor", "NeverShow")),
    _S("commsListenPort", cfgmod.SERVICES_PORT, "int"),
    _S("grpcListenPort", "Octopus.Communications.GrpcPort", "int"),
    _S("commsListenWebSocket", "Octopus.Communications.WebSocketPrefix"),
    _S("webListenPrefixes", cfgmod.LISTEN_PREFIXES),
    _S("webForceSSL", cfgmod.FORCE_SSL, "bool"),
    _S("requestLoggingEnabled", "Octopus.WebPortal.RequestLoggingEnabled", "bool"),
    _S("customBundledPackageDirectory", "Octopus.Server.CustomBundledPackageDirectory"),
    _S("webCorsWhitelist", "Octopus.WebPortal.CorsWhitelist"),
    _S("xFrameOptions", "Octopus.WebPortal.XFrameOptions"),
    _S("xFrameOptionAllowFrom", "Octopus.WebPortal.XFrameOptionAllowFrom"),
    _S("hstsEnabled", "Octopus.WebPortal.HttpStrictTransportSecurityEnabled", "bool"),
    _S("hstsMaxAge", "Octopus.WebPortal.HttpStrictTransportSecurityMaxAge", "int"),
    _S("webContentSecurityPolicyEnabled", "Octopus.WebPortal.ContentSecurityPolicyEnabled", "bool"),
    _S("webReferrerPolicy", "Octopus.WebPortal.ReferrerPolicy"),
    _S("webServer", "Octopus.WebPortal.WebServer", "enum", choices=("HttpSys", "Kestrel")),
    _S("trustedProxies", "Octopus.WebPortal.TrustedProxies", since="2023.1"),
    _S("webTrustedRedirectUrls", "Octopus.WebPortal.TrustedRedirectUrls"),
    _S("autoLoginEnabled", "Octopus.WebPortal.AutoLoginEnabled", "bool"),
    _S("cookieDomain", "Octopus.WebPortal.CookieDomain"),
    _S("dynamicExtensionsEnabled", "Octopus.Server.DynamicExtensionsEnabled", "bool"),
    _S("experiencesEnabled", "Octopus.Server.ExperiencesEnabled", "bool"),
    # legacy spellings, only in the versions that had them
    _S("webAuthenticationMode", "Octopus.WebPortal.AuthenticationMode", "enum",
       choices=("UsernamePassword", "Domain"), until="3.5"),
    _S("storageConnectionString", cfgmod.CONNECTION_STRING, until="4.0"),
    _S("masterKey", cfgmod.MASTER_KEY, sensitive=True, until="4.0"),
    # cluster-wide, kept in the database
    _S("selfServiceLoginEditingEnabled", "Octopus.WebPortal.SelfServiceLoginEditingEnabled", "bool", db=True),
    _S("activeDirectoryIsEnabled", AD_ENABLED, "bool", db=True),
    _S("activeDirectoryContainer", "Octopus.WebPortal.ActiveDirectoryContainer", db=True),
    _S("webAuthenticationScheme", "Octopus.WebPortal.AuthenticationScheme", "enum", db=True,
       choices=("Basic", "Digest", "IntegratedWindowsAuthentication", "Negotiate", "Ntlm"),
       note="You will need to restart all Octopus Server nodes in your cluster for the authentication scheme "
            "change to take effect."),
    _S("allowFormsAuthenticationForDomainUsers", "Octopus.WebPortal.AllowFormsAuthenticationForDomainUsers",
       "bool", db=True),
    _S("activeDirectorySecurityGroupsEnabled", "Octopus.WebPortal.ActiveDirectorySecurityGroupsEnabled",
       "bool", db=True),
    _S("activeDirectoryAllowAutoUserCreation", "Octopus.WebPortal.ActiveDirectoryAllowAutoUserCreation",
       "bool", db=True),
    _S("usernamePasswordIsEnabled", "Octopus.UsernamePassword.IsEnabled", "bool", db=True),
    _S("guestloginenabled", "Octopus.WebPortal.GuestLoginEnabled", "bool", db=True),
    _S("customextension", "Octopus.Server.CustomExtensions", db=True),
    _S("AzureDevOpsIsEnabled", "Octopus.AzureDevOps.IsEnabled", "bool", db=True),
    _S("jiraIsEnabled", "Octopus.Jira.IsEnabled", "bool", db=True),
    _S("jiraBaseUrl", "Octopus.Jira.BaseUrl", db=True),
    _S("GitHubIsEnabled", "Octopus.GitHub.IsEnabled", "bool", db=True),
    _S("GitHubBaseUrl", "Octopus.GitHub.BaseUrl", db=True),
    *(_S(f"{prefix}{name}", f"Octopus.{group}.{name}", kind, db=True, sensitive=secret)
      for prefix, group in (("azureAD", "AzureAD"), ("googleApps", "GoogleApps"), ("okta", "Okta"))
      for name, kind, secret in (("IsEnabled", "bool", False), ("Issuer", "str", False),
                                 ("ClientId", "str", False), ("ClientSecret", "str", True),
                                 ("Scope", "str", False), ("NameClaimType", "str", False),
                                 ("AllowAutoUserCreation", "bool", False), ("RoleClaimType", "str", False),
                                 ("HostedDomain", "str", False))),
    *(_S(f"ldap{name}", f"Octopus.Ldap.{name}", kind, db=True, sensitive=secret)
      for name, kind, secret in (("IsEnabled", "bool", False), ("Server", "str", False),
                                 ("Port", "int", False), ("SecurityProtocol", "str", False),
                                 ("IgnoreSslErrors", "bool", False),
                                 ("Username", "str", False), ("Password", "str", True),
                                 ("UserBaseDn", "str", False), ("GroupBaseDn", "str", False),
                                 ("AllowAutoUserCreation", "bool", False))),
)


def _opaque(value: str) -> str:
    return "#encrypted#" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


def _normalize(host: Host, s: Setting, raw: str) -> str:
    if s.kind == "bool":
        return "True" if parse_bool(raw) else "False"
    if s.kind == "int":
        return str(parse_int(raw))
    if s.kind == "enum":
        return parse_enum(raw, s.choices)
    if s.key == cfgmod.HOME:
        return host.full_path(raw)
    return raw


def configure(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    by_name = {s.option.lower(): s for s in SETTINGS}
    changes: list[tuple[Setting, str]] = []
    for name in p.given:
        s = by_name.get(name.lower())
        if s is not None:
            raw = p.get(name)
            assert raw is not None
            changes.append((s, _normalize(host, s, raw)))
    db_changes = [(s, v) for s, v in changes if s.db]
    schema: OctopusSchema | None = None
    if db_changes:
        session = connect(host, connection_string(sel))
        schema = checked_schema(host, session, p)
    for s, value in changes:
        shown = "********" if s.sensitive else value
        if s.note:
            host.warn(s.note)
        if s.db:
            assert schema is not None
            with host.world.lock:
                schema.settings[s.key] = _opaque(value) if s.sensitive else value
        elif s.key == cfgmod.MASTER_KEY:
            sel.config.set(s.key, cfgmod.protect_master_key(host.node.name, value))
        else:
            sel.config.set(s.key, value)
        host.info(f"Setting '{s.key}' to '{shown}'")
    save_config(host, sel)
    if any(s.key == cfgmod.HOME for s, _ in changes):
        host.log.set_home(sel.config.get(cfgmod.HOME))
    host.info("Configuration successful")
    return 0


def path(host: Host, p: Parsed) -> int:
    """Shared folders go to the database once for the whole cluster; the cache folder stays on the node."""
    sel = select_instance(host, p)
    shared = [(f.option, f.key, f.sub) for f in cfgmod.FOLDERS]
    shared.insert(0, ("clusterShared", cfgmod.CLUSTER_SHARED, "cluster shared"))
    wanted = [(opt, key, label) for opt, key, label in shared if p.get(opt) is not None]
    if wanted:
        session = connect(host, connection_string(sel))
        schema = checked_schema(host, session, p)
        for opt, key, label in wanted:
            value = (p.get(opt) or "").strip()
            with host.world.lock:
                schema.settings[key] = value
            host.info(f"Setting the {label} directory to: {value}")
    cache = p.get("cacheDirectory")
    if cache is not None:
        sel.config.set("Octopus.Node.CacheDirectory", host.full_path(cache))
        save_config(host, sel)
        host.info(f"Setting the cache directory to: {host.full_path(cache)}")
    return 0


def node(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    name = node_name(host, sel)
    task_cap = parse_int(p.get("taskCap") or "") if p.get("taskCap") is not None else None
    drain = parse_bool(p.get("drain") or "") if p.get("drain") is not None else None
    if task_cap is not None and task_cap < 0:
        raise ControlledFailure("The task cap must be zero or greater.")
    session = connect(host, connection_string(sel))
    schema = checked_schema(host, session, p)
    with host.world.lock:
        row = schema.nodes.get(name)
        if row is None:
            row = schema.nodes[name] = OctopusNodeRow(name=name, last_seen=time.time())
        if task_cap is not None:
            row.max_concurrent_tasks = task_cap
        if drain is not None:
            row.is_in_maintenance_mode = drain
    if task_cap is not None:
        host.info(f"Setting the task cap of node '{name}' to {task_cap}")
    if drain is not None:
        host.info(f"Node '{name}' is "
                  f"{'now draining: it will take no new tasks' if drain else 'no longer draining'}")
    return 0


def admin(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    username = (p.get("username") or "").strip()
    if not username:
        raise ControlledFailure("Please specify the username of the administrator with --username=VALUE")
    session = connect(host, connection_string(sel))
    schema = checked_schema(host, session, p)
    ad_enabled = schema.settings.get(AD_ENABLED, "False") == "True"
    if p.get("password"):
        host.info(f"Setting the password of user '{username}'")
    elif p.get("apiKey"):
        host.info(f"Creating service account user '{username}' with an API key")
    elif ad_enabled:
        if "\\" not in username and "@" not in username:
            raise ControlledFailure(f"'{username}' is not a domain account: use DOMAIN\\user for an Active "
                                    "Directory administrator, or --password for a username/password user.")
        if host.world.directory.find(username) is None:
            raise ControlledFailure(f"The Active Directory user '{username}' could not be found.")
        host.info(f"Using Active Directory user '{username}'")
    else:
        raise ControlledFailure("A password is required for a username/password user: pass --password=VALUE "
                                "(or --apiKey=VALUE to create a service account).")
    with host.world.lock:
        if not any(a.lower() == username.lower() for a in schema.admins):
            schema.admins.append(username)
    host.info(f"Ensuring user '{username}' is enabled and in the Octopus Administrators team")
    host.info("Done.")
    return 0


def _license_text(host: Host, p: Parsed) -> str:
    if p.get("licenseBase64") is not None:
        b64 = (p.get("licenseBase64") or "").strip()
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Unhandled("System.FormatException", BASE64_ERROR) from exc
        return decode_license_bytes(raw)
    if p.get("licenseFile") is not None:
        return decode_license_bytes(read_node_file(host, p.get("licenseFile") or ""))
    if p.has("free"):
        return "<License><LicenseType>Free</LicenseType><NodeLimit>1</NodeLimit></License>"
    raise ControlledFailure("Please provide a license with --licenseBase64=VALUE or --licenseFile=VALUE")


def decode_license_bytes(raw: bytes) -> str:
    """Licence XML as UTF-8 (what DSC documents) or UTF-16 (what some HA scripts send); BOMs allowed."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if len(raw) >= 2 and raw[1:2] == b"\x00":
        return raw.decode("utf-16-le", errors="replace")
    return raw.decode("utf-8-sig", errors="replace")


def license_cmd(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    text = _license_text(host, p)
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise ControlledFailure(f"The license key is not valid: it is not well-formed XML ({exc}).") from exc
    if root.tag != "License":
        raise ControlledFailure(f"The license key is not valid: expected a <License> element, found "
                                f"<{root.tag}>.")
    session = connect(host, connection_string(sel))
    schema = checked_schema(host, session, p)
    with host.world.lock:
        schema.settings[LICENSE_KEY] = base64.b64encode(text.strip().encode("utf-8")).decode("ascii")
    limit = root.findtext("NodeLimit") or "1"
    host.info(f"License saved (node limit: {limit})")
    return 0


COMMANDS = (
    Command("configure", "Configure this Octopus Server instance", (
        *INSTANCE_OPTS, *SKIP_DB_OPTS,
        *(Opt(s.option, sensitive=s.sensitive, since=s.since, until=s.until) for s in SETTINGS),
    ), configure),
    Command("path", "Set the file paths that Octopus will use for storage", (
        *INSTANCE_OPTS, *SKIP_DB_OPTS,
        Opt("cacheDirectory", help="Set the directory to use for temporary and cached files"),
        Opt("clusterShared", since="2020.2.15", help="Set the root directory for the shared files of the "
                                                     "cluster"),
        *(Opt(f.option, since=f.since, help=f"Set the {f.sub} directory") for f in cfgmod.FOLDERS),
    ), path),
    Command("node", "Configure settings related to this Octopus Server node", (
        *INSTANCE_OPTS, *SKIP_DB_OPTS,
        Opt("taskCap", since="2018.6.13", help="Number of tasks the node can run at once"),
        Opt("drain", help="true to stop the node from taking new tasks"),
        Opt("wait", help="Seconds to wait for the node to drain"),
        Opt("cancel-tasks", value=False, help="Cancel tasks still running at the end of the wait"),
    ), node),
    Command("admin", "Reset admin user passwords, re-enable them, and ensure they are in the admin group", (
        *INSTANCE_OPTS, *SKIP_DB_OPTS,
        Opt("username", aliases=("user",), help="The username of the administrator"),
        Opt("email", help="The email address of the administrator"),
        Opt("password", sensitive=True, help="The password of the administrator"),
        Opt("apiKey", sensitive=True, help="An API key for a service account administrator"),
        Opt("wait", help="Milliseconds to wait for the server"),
        Opt("externalGroup"), Opt("externalGroupId", aliases=("externalRoleId",)),
        Opt("externalGroupDescription", aliases=("externalRoleDescription",)),
    ), admin),
    Command("license", "Import a license key", (
        *INSTANCE_OPTS, *SKIP_DB_OPTS,
        Opt("licenseBase64", sensitive=True, help="The license key, base64 encoded"),
        Opt("licenseFile", help="A file holding the license key (XML)"),
        Opt("skipLicenseCheck", value=False, since="2018.8.9"),
        Opt("free", value=False),
    ), license_cmd),
)
