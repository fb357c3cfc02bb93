"""What each planned step does on a node: read the state, compare, change only what differs.

Every step follows OctopusDSC's lesson: read current state (installed version, ``list-instances``,
``show-configuration``, the service) before changing anything, so that ``apply`` run twice changes
nothing the second time and a run resumed after a crash picks up where the node actually is. A step
returns whether it changed anything; it raises ``StepFailed`` with a message naming what broke and a
hint saying what to do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from octotui.plan.build import Identity, PlannedStep
from octotui.spec.model import ClusterSpec, NodeSpec
from octotui.windows import octopus as oc
from octotui.windows.gates import compare_versions
from octotui.windows.installers import choco_install, msi_exit_meaning, msiexec_install
from octotui.windows.octopus_output import (
    KEY_AD_ENABLED,
    KEY_CONNECTION_STRING,
    KEY_LICENSE,
    KEY_MASTER_KEY_SET,
    find_service,
    node_settings_match,
    parse_list_instances,
    parse_master_key,
    parse_show_configuration,
    same_account,
    same_connection,
    same_license,
    storage_matches,
)

#: A node-side file where octotui records what it applied but Octopus cannot report back (the first
#: administrator, the licence hash) — the install-state file OctopusDSC keeps for the same reason.
STATE_FILE = "octotui-state.json"


class StepFailed(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Cancelled(Exception):
    """The run was asked to stop; raised only at a safe point between steps."""


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Remote(Protocol):
    """What a step needs from a node connection (``octotui.remote.session.NodeSession`` provides it)."""

    def run(self, command_line: str, *, stdin: bytes | None = ..., deadline_s: float = ...,
            on_output: Callable[[str, bytes], None] | None = ..., idempotent: bool = ...) -> Any: ...

    def run_script(self, name: str, params: dict[str, Any], *, deadline_s: float = ...,
                   on_output: Callable[[str, bytes], None] | None = ...) -> dict[str, Any]: ...

    def become(self, username: str, password: str, command_line: str, *, deadline_s: float = ...,
               on_output: Callable[[str, bytes], None] | None = ...) -> Any: ...

    def script_as(self, username: str, password: str, name: str, params: dict[str, Any], *,
                  deadline_s: float = ...) -> dict[str, Any]: ...


@dataclass
class NodeContext:
    """One node's connection, its part of the spec, and where its output goes."""

    spec: ClusterSpec
    node: NodeSpec
    remote: Remote
    credential: Identity | None
    passwords: dict[str, str]  # "winrm", "service"
    output: Callable[[str, str], None]  # (stream, text) -> journal + step log
    master_key: str | None = None
    on_master_key: Callable[[str], None] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    # --- running things --------------------------------------------------------------------------
    def _stream(self, stream: str, data: bytes) -> None:
        self.output(stream, data.decode("utf-8", "replace"))

    def _credential_password(self) -> str:
        assert self.credential is not None
        key = "winrm" if self.credential.logon.lower() == self.spec.winrm.logon.lower() else "service"
        return self.passwords.get(key, "")

    def _becomes(self, credentials: bool) -> bool:
        return credentials and self.credential is not None and self.credential.how == "become"

    def command(self, argv: list[str], *, credentials: bool = False, deadline_s: float = 900,
                idempotent: bool = False) -> Result:
        """Run argv on the node; with ``credentials``, as the identity that carries them across the second hop."""
        from octotui.windows.quoting import cmd_line

        if self._becomes(credentials):
            assert self.credential is not None
            line = cmd_line(argv, outer_quotes=False)  # the task runs it as cmd /d /s /c "LINE"
            r = self.remote.become(self.credential.logon, self._credential_password(), line,
                                   deadline_s=deadline_s, on_output=self._stream)
        else:
            r = self.remote.run(cmd_line(argv), deadline_s=deadline_s, on_output=self._stream, idempotent=idempotent)
        return Result(r.exit_code, _text(r.stdout), _text(r.stderr))

    def octopus(self, args: list[str], *, credentials: bool = False, deadline_s: float = 900,
                idempotent: bool = False) -> Result:
        res = self.command([oc.exe_path(self.facts.get("install_location")), *args], credentials=credentials,
                           deadline_s=deadline_s, idempotent=idempotent)
        return res

    def must(self, res: Result, what: str, hint: str = "") -> Result:
        if res.exit_code != 0:
            detail = _last_lines(res.stderr or res.stdout)
            raise StepFailed(f"{what} failed with exit code {res.exit_code}: {detail}", hint or _hint_for(detail))
        return res

    def script(self, name: str, params: dict[str, Any], deadline_s: float = 120) -> dict[str, Any]:
        return self.remote.run_script(name, params, deadline_s=deadline_s, on_output=None)

    # --- facts -----------------------------------------------------------------------------------
    def node_state(self, refresh: bool = False) -> dict[str, Any]:
        if refresh or "node_state" not in self.facts:
            state = self.script("get-node-state", {"paths": [str(self.node.home)]})
            self.facts["node_state"] = state
            octo = state.get("octopus") or {}
            self.facts["install_location"] = octo.get("install_location")
        result: dict[str, Any] = self.facts["node_state"]
        return result

    def installed_version(self) -> str | None:
        octo = self.node_state().get("octopus") or {}
        return str(octo["version"]) if octo.get("installed") and octo.get("version") else None

    def instances(self, refresh: bool = False) -> list[dict[str, Any]]:
        if refresh or "instances" not in self.facts:
            res = self.octopus(["list-instances", "--format", "json"], idempotent=True)
            self.must(res, "list-instances")
            self.facts["instances"] = parse_list_instances(res.stdout)
        found: list[dict[str, Any]] = self.facts["instances"]
        return found

    def has_instance(self) -> bool:
        return any(str(i.get("InstanceName", "")).lower() == self.spec.instance.lower() for i in self.instances())

    def configuration(self, refresh: bool = False) -> dict[str, str]:
        """show-configuration (node config merged with the database's cluster-wide settings)."""
        if refresh or "configuration" not in self.facts:
            needs_sql = bool(self.facts.get("has_connection_string", True))
            res = self.octopus(["show-configuration", "--instance", self.spec.instance, "--format", "json"],
                               credentials=needs_sql, idempotent=True)
            self.must(res, "show-configuration")
            conf = parse_show_configuration(res.stdout)
            self.facts["configuration"] = conf
            self.facts["has_connection_string"] = bool(conf.get(KEY_CONNECTION_STRING))
        conf_out: dict[str, str] = self.facts["configuration"]
        return conf_out

    def invalidate(self, *keys: str) -> None:
        for k in keys or ("node_state", "instances", "configuration"):
            self.facts.pop(k, None)

    def read_state_file(self) -> dict[str, Any]:
        res = self.script("read-file", {"path": str(self.node.home.joinpath(STATE_FILE)), "offset": 0,
                                        "max_bytes": 65536, "encoding": "text"})
        if not res.get("exists"):
            return {}
        try:
            data: dict[str, Any] = json.loads(res.get("data") or "{}")
            return data
        except ValueError:
            return {}

    def write_state_file(self, data: dict[str, Any]) -> None:
        raw = json.dumps(data, sort_keys=True).encode()
        self.script("save-file", {"path": str(self.node.home.joinpath(STATE_FILE)),
                                  "data_b64": base64.b64encode(raw).decode(), "offset": 0,
                                  "sha256": hashlib.sha256(raw).hexdigest()})


def _text(data: Any) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:]) if lines else "(no output)"


def _hint_for(detail: str) -> str:
    low = detail.lower()
    if "anonymous logon" in low:
        return ("the step reached SQL Server without credentials (the double hop): use transport = \"credssp\" or "
                "provide the WinRM password so the step can run as a scheduled task")
    if "login failed" in low:
        return "grant the account a login on SQL Server, or check the connection string"
    if "access" in low and "denied" in low:
        return "give the service account modify rights on the share and its folders"
    if "master key" in low:
        return "use the master key of the cluster's first node (OCTOTUI_MASTER_KEY or the keyring)"
    return "see the step's log for the full output"


# ---------------------------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------------------------


def guard_database(ctx: NodeContext) -> bool:
    """Create mode: never point a new cluster at a database that already holds one.

    The one exception is our own cluster from an earlier, interrupted run: node 1 already points at this
    database, so resuming is safe.
    """
    params = {"connection_string": str(ctx.spec.connection_string)}
    if ctx._becomes(True):
        assert ctx.credential is not None
        res = ctx.remote.script_as(ctx.credential.logon, ctx._credential_password(), "test-sql", params,
                                   deadline_s=180)
    else:
        res = ctx.script("test-sql", params, deadline_s=120)
    if res.get("ok") is False:
        raise StepFailed(f"cannot read the database state: {res.get('message') or res.get('error')}",
                         _hint_for(str(res.get("message") or res.get("error") or "")))
    if not (res.get("database_exists") and res.get("octopus_schema")):
        return False
    if ctx.installed_version() and ctx.has_instance():
        conf = ctx.configuration()
        if same_connection(conf.get(KEY_CONNECTION_STRING, ""), ctx.spec.connection_string):
            return False
    raise StepFailed("the database already holds an Octopus cluster; create mode will not overwrite it",
                     "to add nodes to that cluster use mode = \"join\" with its master key; to start a new cluster "
                     "choose another database name in sql.connection_string")


def install(ctx: NodeContext) -> bool:
    want = str(ctx.spec.octopus_version)
    have = ctx.installed_version()
    if have == want:
        return False
    if have and compare_versions(have, ctx.spec.octopus_version) > 0:
        raise StepFailed(f"Octopus {have} is installed, newer than {want}; octotui does not downgrade",
                         f"set octopus_version = \"{have}\" or uninstall it first")
    kind = ctx.spec.install.kind
    source = ctx.spec.install.source
    if kind == "chocolatey":
        argv = choco_install(want)
    else:
        if kind == "url":
            target = f"C:\\Windows\\Temp\\Octopus.{want}-x64.msi"
            got = ctx.script("download-file", {"url": source, "path": target, "timeout_s": 1800}, deadline_s=1900)
            if not got.get("ok"):
                raise StepFailed(f"download of {source} failed: {got.get('error')}",
                                 "check that the node can reach the URL (proxy, firewall) or stage the MSI on the node")
            msi = target
        elif kind == "local_file":
            msi = f"C:\\Windows\\Temp\\{Path(source).name}"
            _upload(ctx, Path(source), msi)
        else:
            msi = source
        argv = msiexec_install(msi, f"C:\\Windows\\Temp\\octotui-msi-{want}.log")
    for attempt in range(4):
        res = ctx.command(argv, deadline_s=3600)
        code = res.exit_code
        meaning = msi_exit_meaning(code)
        if meaning.ok:
            if meaning.reboot_required:
                ctx.output("note", f"the installer asks for a reboot (exit code {code}); the service is configured "
                                   "without one, reboot the node in your next maintenance window\n")
            break
        if meaning.retryable and attempt < 3:
            ctx.output("note", f"{meaning.text}; trying again in 10 s\n")
            time.sleep(10)
            continue
        raise StepFailed(f"installing Octopus {want} failed: {meaning.text} (exit code {code})", meaning.hint)
    ctx.invalidate()
    now = ctx.installed_version()
    if now != want:
        raise StepFailed(f"the installer finished but Octopus {want} is not installed (found {now})",
                         "see the installer log C:\\Windows\\Temp\\octotui-msi-*.log on the node")
    return True


def _upload(ctx: NodeContext, local: Path, remote_path: str) -> None:
    data = local.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    chunk = 2 * 1024 * 1024
    for offset in range(0, max(len(data), 1), chunk):
        part = data[offset:offset + chunk]
        last = offset + chunk >= len(data)
        params: dict[str, Any] = {"path": remote_path, "data_b64": base64.b64encode(part).decode(), "offset": offset}
        if last:
            params["sha256"] = digest
        res = ctx.script("save-file", params, deadline_s=600)
        if not res.get("ok", True):
            raise StepFailed(f"uploading {local} failed: {res.get('error')}", "check free space on the node")


def create_instance(ctx: NodeContext) -> bool:
    if ctx.has_instance():
        return False
    home = str(ctx.node.home)
    ctx.must(ctx.octopus(oc.create_instance(ctx.spec.instance, oc.config_path(home, ctx.spec.instance), home,
                                            ctx.node.name)), "create-instance")
    ctx.invalidate("instances", "configuration")
    ctx.facts["has_connection_string"] = False
    return True


def database(ctx: NodeContext, first: bool) -> bool:
    ctx.facts.setdefault("has_connection_string", True)
    conf = ctx.configuration()
    if same_connection(conf.get(KEY_CONNECTION_STRING, ""), ctx.spec.connection_string) \
            and conf.get(KEY_MASTER_KEY_SET, "True") != "False":
        return False
    if first and ctx.spec.mode == "create":
        argv = oc.database_create(ctx.spec.instance, str(ctx.spec.connection_string),
                                  str(ctx.spec.service_account.username))
        what = "database --create"
    else:
        if not ctx.master_key:
            raise StepFailed("no master key to join the cluster with",
                             "set OCTOTUI_MASTER_KEY or store it in the keyring (octotui stores it after node 1)")
        argv = oc.database_join(ctx.spec.instance, str(ctx.spec.connection_string), ctx.master_key)
        what = "database --masterKey"
    ctx.must(ctx.octopus(argv, credentials=True), what)
    ctx.invalidate("configuration")
    ctx.facts["has_connection_string"] = True
    return True


def configure(ctx: NodeContext) -> bool:
    conf = ctx.configuration()
    web = ctx.spec.web
    if node_settings_match(conf, web.listen_prefixes, web.force_ssl, web.comms_port):
        return False
    ctx.must(ctx.octopus(oc.configure_node(ctx.spec.instance, [str(p) for p in web.listen_prefixes], web.force_ssl,
                                           web.comms_port)), "configure")
    ctx.invalidate("configuration")
    return True


def authentication(ctx: NodeContext) -> bool:
    if str(ctx.configuration().get(KEY_AD_ENABLED, "")).lower() == "true":
        return False
    ctx.must(ctx.octopus(oc.configure_active_directory(ctx.spec.instance), credentials=True),
             "configure --activeDirectoryIsEnabled")
    ctx.invalidate("configuration")
    return True


def admin(ctx: NodeContext) -> bool:
    user = str(ctx.spec.admin_username) if ctx.spec.admin_username else ""
    state = ctx.read_state_file()
    if str(state.get("admin", "")).lower() == user.lower():
        return False
    ctx.must(ctx.octopus(oc.admin(ctx.spec.instance, user), credentials=True), "admin")
    state["admin"] = user
    ctx.write_state_file(state)
    return True


def license_(ctx: NodeContext) -> bool:
    path = Path(ctx.spec.license_file or "")
    try:
        xml = path.read_bytes()
    except OSError as exc:
        raise StepFailed(f"cannot read the licence file {path}: {exc.strerror}", "check [license] file") from None
    b64 = base64.b64encode(xml).decode()
    current = str(ctx.configuration().get(KEY_LICENSE, ""))
    if current and same_license(current, b64):
        return False
    ctx.must(ctx.octopus(oc.license_base64(ctx.spec.instance, b64), credentials=True), "license")
    ctx.invalidate("configuration")
    return True


def path(ctx: NodeContext) -> bool:
    conf = ctx.configuration()
    if storage_matches(conf, ctx.spec.storage, ctx.spec.octopus_version):
        return False
    for argv in oc.path_commands(ctx.spec.instance, ctx.spec.storage, ctx.spec.octopus_version):
        ctx.must(ctx.octopus(argv, credentials=True), "path")
    ctx.invalidate("configuration")
    return True


def service(ctx: NodeContext) -> bool:
    name = oc.service_name(ctx.spec.instance)
    svc = find_service(ctx.node_state(refresh=True), name)
    want = ctx.spec.service_account.username
    if svc and same_account(str(svc.get("account", "")), want):
        if str(svc.get("state", "")).lower() == "running":
            return False
        ctx.must(ctx.octopus(oc.service_start(ctx.spec.instance)), "service --start",
                 "see the node's OctopusServer.txt log (octotui logs) for why the service stopped")
        ctx.invalidate("node_state")
        return True
    ctx.must(ctx.octopus(oc.service_stop(ctx.spec.instance)), "service --stop")
    ctx.must(ctx.octopus(oc.service_install(ctx.spec.instance, str(want))), "service --install --start",
             "check the service account's password (OCTOTUI_SERVICE_PASSWORD) and its rights on SQL Server")
    ctx.invalidate("node_state")
    return True


def ping(ctx: NodeContext) -> bool:
    prefix = str(ctx.spec.web.listen_prefixes[0])
    res = ctx.script("wait-ping", {"listen_prefix": prefix, "timeout_s": 120, "interval_s": 1,
                                   "request_timeout_s": 5}, deadline_s=180)
    status = res.get("status")
    if status not in (200, 418):
        raise StepFailed(f"the node did not answer /api/octopusservernodes/ping within 120 s (last: {status})",
                         "see the node's OctopusServer.txt log for start-up errors")
    return False


def master_key(ctx: NodeContext) -> bool:
    res = ctx.must(ctx.octopus(oc.show_master_key(ctx.spec.instance), idempotent=True), "show-master-key")
    key = parse_master_key(res.stdout)
    if not key:
        raise StepFailed("show-master-key printed no key", "run show-master-key on the node by hand to see why")
    ctx.master_key = key
    if ctx.on_master_key is not None:
        ctx.on_master_key(key)
    return False


def run_step(ctx: NodeContext, step: PlannedStep, first: bool) -> bool:
    """Dispatch one planned step to its implementation; return whether it changed anything."""
    table: dict[str, Callable[[NodeContext], bool]] = {
        "guard-database": guard_database,
        "install": install,
        "create-instance": create_instance,
        "database": lambda c: database(c, first),
        "configure": configure,
        "authentication": authentication,
        "admin": admin,
        "license": license_,
        "path": path,
        "service": service,
        "ping": ping,
        "master-key": master_key,
    }
    return table[step.step](ctx)
