"""The preflight suite for a spec: every check ``octotui check`` runs, as data, with its gates.

``build_checks`` is the whole suite (``octotui.checks.runner`` runs it concurrently; ``octotui.cli.check``
prints it); ``octotui.checks.live`` builds the wizard's per-section checks from the same bodies. Nothing
here prints: ``gather_passwords`` returns the secrets or raises ``BadInput``.

Who each check logs on as, and why:

- ``winrm.reach``/``node.home``: the WinRM user, as every step does.
- ``ad.account``, ``share.write``, ``share.reach``, ``sql.reach``: the service account, because the running
  Octopus service will be that account. The node-side two run as a scheduled task with its password, so
  the double hop does not hide the answer.
- ``sql.*`` from this machine: whoever runs the step concerned. In create mode that is the identity the
  plan gives the database-creating step (usually the WinRM user, with its password); in join mode the
  service account, which the joining nodes use.

Every refused logon counts towards an account's lockout, so a password is tried once before the checks
that reuse it start. Where the answers name the domain ([ad]), ``winrm.credentials`` asks the domain
controller once whether the WinRM user's password is right (one LDAP bind, milliseconds), and then every
node's checks start together; without [ad], each node's checks wait for that node's own WinRM logon.
Service-account checks on the nodes wait for ``ad.account``'s verdict. ``share.write`` runs at once but,
like the node checks, yields to the check that owns a failure's cause ("not checked: ... (see ad.account)").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from octotui.checks import node as nodechecks
from octotui.checks.ad import AccountName, check_ad_account
from octotui.checks.deadline import DEFAULT_DEADLINE_S
from octotui.checks.node import RunAs
from octotui.checks.refusals import REFUSALS
from octotui.checks.result import CheckResult
from octotui.checks.runner import Check, CheckBody, CheckContext, adapt
from octotui.checks.share import check_share_write
from octotui.checks.sql import SqlIdentity, check_sql
from octotui.checks.sql_kerberos import SqlKerberos
from octotui.errors import BadInput
from octotui.spec.model import ClusterSpec, Mode, NodeSpec, WinRMSettings
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.connstr import ConnectionString
from octotui.spec.parsers.winpath import WinPath

SQL_IDS = ("sql.connect", "sql.version", "sql.collation", "sql.permissions", "sql.database")
#: Opened by ad.account: closed only when AD refused the service account itself (wrong password, disabled,
#: locked ...), not when AD could not be asked; the checks that log on as that account wait for it.
SERVICE_GATE = "service.credentials"
#: Opened by winrm.credentials when the domain controller accepted the WinRM user's password.
WINRM_GATE = "winrm.credentials"


@dataclass(frozen=True)
class Passwords:
    """The secrets the checks use (never printed: they are registered with the redactor when looked up)."""

    winrm: str | None = field(default=None, repr=False)
    service: str | None = field(default=None, repr=False)


def account_refused(result: CheckResult, username: Account | str) -> bool:
    """Did ``ad.account`` fail because AD refused the account itself (as opposed to AD being unreachable)?"""
    if result.status != "fail":
        return False
    typed = AccountName.parse(username).typed
    known = {r.summary.format(account=typed) for r in REFUSALS.values()}
    known |= {f"Wrong password for {typed}", f"The gMSA {typed} is disabled",
              f"The gMSA {typed} does not exist in the domain"}
    return result.summary in known


def storage_paths(spec: ClusterSpec) -> list[WinPath]:
    """The shared root and every shared folder, each once (Windows compares paths case-insensitively)."""
    seen: dict[str, WinPath] = {}
    for path in (spec.storage.cluster_shared, *spec.storage.folders.values()):
        if path is not None and path.key not in seen:
            seen[path.key] = path
    return list(seen.values())


def _same_account(a: Account | str | None, b: Account | None) -> bool:
    return a is not None and b is not None and str(a).lower() == b.key


def sql_identity(spec: ClusterSpec, passwords: Passwords) -> SqlIdentity | None:
    """Who the console-side SQL checks log in as with Integrated Security (None: this console's Kerberos)."""
    from octotui.checks.sql_kerberos import for_transport
    from octotui.spec.identity import credential_identity

    def kerberos(setting: str) -> SqlKerberos | None:  # a Kerberos domain: log in by Kerberos, not NTLM
        return for_transport(spec.winrm.transport, spec.winrm.kerberos_kdc, spec.winrm.kerberos_dns_domain, setting)

    service = spec.service_account.username
    if spec.mode == "join":
        return SqlIdentity(service, passwords.service, kerberos("service_account")) if passwords.service else None
    identity, _ = credential_identity(spec, passwords.winrm is not None, passwords.service is not None)
    if identity is None:
        return None
    if _same_account(identity.account, service):
        return SqlIdentity(service, passwords.service, kerberos("service_account")) if passwords.service else None
    return SqlIdentity(identity.account or "", passwords.winrm, kerberos("winrm")) if passwords.winrm else None


# --- check bodies for one node: the suite and the wizard's live checks (``octotui.checks.live``) share them


def fixed(result: CheckResult) -> CheckBody:
    """A body for a verdict known without asking anything (e.g. "not applicable in create mode")."""
    def body(ctx: CheckContext) -> CheckResult:
        return result
    return body


def winrm_reach_body(node: NodeSpec, winrm: WinRMSettings, password: str | None, *,
                     gate: str | None = None) -> CheckBody:
    """``winrm.reach:<node>``; opens ``gate`` once the node accepted the logon (the node's other checks wait
    for it, so that a wrong password is tried once)."""
    def body(ctx: CheckContext) -> CheckResult:
        opened = (lambda: ctx.open_gate(gate)) if gate is not None else None
        return nodechecks.check_winrm_reach(node, winrm, password, deadline_s=ctx.remaining(), cancel=ctx.cancel,
                                            on_authenticated=opened)
    return body


def node_home_body(node: NodeSpec, winrm: WinRMSettings, password: str | None, *, instance: str) -> CheckBody:
    """``node.home:<node>``."""
    return adapt(nodechecks.check_node_home, node, winrm, password, instance=instance)


def share_reach_body(node: NodeSpec, winrm: WinRMSettings, password: str | None, paths: Sequence[WinPath | str], *,
                     run_as: RunAs) -> CheckBody:
    """``share.reach:<node>``: a probe file in each shared path, from the node, as ``run_as``."""
    return adapt(nodechecks.check_share_reach, node, winrm, password, paths, run_as=run_as)


def sql_reach_body(node: NodeSpec, winrm: WinRMSettings, password: str | None,
                   connection_string: ConnectionString | str, *, mode: Mode, run_as: RunAs,
                   fact: str | None = None) -> CheckBody:
    """``sql.reach:<node>``: SQL Server from the node, as ``run_as``; what it read becomes the fact ``fact``
    (``cluster.version`` compares the database's version with the answers')."""
    def body(ctx: CheckContext) -> CheckResult:
        keep = (lambda facts: ctx.set_fact(fact, facts)) if fact is not None else None
        return nodechecks.check_sql_reach(node, winrm, password, connection_string, mode=mode, run_as=run_as,
                                          deadline_s=ctx.remaining(), cancel=ctx.cancel, on_facts=keep)
    return body


def build_checks(spec: ClusterSpec, passwords: Passwords, *, deadline_s: float = DEFAULT_DEADLINE_S) -> list[Check]:
    """The whole preflight suite for ``spec``, in display order, with its gates (see the module docstring)."""
    checks: list[Check] = []
    credentials = _winrm_credentials_check(spec, passwords, deadline_s)
    if credentials is not None:
        checks.append(credentials)
    for node in spec.nodes:
        checks += _node_checks(spec, node, passwords, deadline_s, verified_by_dc=credentials is not None)
    checks.append(_ad_check(spec, passwords, deadline_s))
    checks.append(_share_write_check(spec, passwords, deadline_s))
    for node in spec.nodes:
        checks += _node_service_checks(spec, node, passwords, deadline_s, verified_by_dc=credentials is not None)
    identity = sql_identity(spec, passwords)
    uses_service = identity is not None and _same_account(identity.username, spec.service_account.username)
    sql_body = adapt(check_sql, spec.connection_string, identity, mode=spec.mode)
    uses_winrm_user = identity is not None and _same_account(identity.username, spec.winrm.username)
    yields = (SERVICE_GATE,) if uses_service else (WINRM_GATE,) if uses_winrm_user and credentials else ()
    checks.append(Check(SQL_IDS, nodechecks.server_of(spec.connection_string), sql_body, superseded_by=yields,
                        deadline_s=deadline_s))
    checks.append(_cluster_version_check(spec, deadline_s))
    return checks


def _dc_checks_winrm(spec: ClusterSpec) -> bool:
    """Can the domain controller vouch for the WinRM user's password (a domain account, a password logon)?"""
    user = spec.winrm.username
    return bool(spec.ad.domain_controller or spec.ad.dns_domain) and \
        spec.winrm.transport not in ("certificate", "kerberos") and user is not None and user.is_domain_account


def _winrm_credentials_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check | None:
    """One bind as the WinRM user at the domain controller, when the answers say where it is: a wrong
    password then costs one refused logon instead of one per node, and the node checks need not queue
    behind a WinRM logon each."""
    user = spec.winrm.username
    if user is None or not _dc_checks_winrm(spec) or not passwords.winrm:
        return None

    def body(ctx: CheckContext) -> CheckResult:
        result = check_ad_account(user, passwords.winrm or "", domain_controller=spec.ad.domain_controller,
                                  dns_domain=spec.ad.dns_domain, ca_file=spec.ad.ca_cert,
                                  nameservers=list(spec.ad.nameservers) or None,
                                  deadline_s=ctx.remaining(), cancel=ctx.cancel)
        refused = account_refused(result, user)
        ctx.open_gate(WINRM_GATE, ok=not refused, reason=result.summary)
        return CheckResult(WINRM_GATE, result.status, str(user), result.summary, result.detail,
                           result.hint or ("" if not refused else "fix [winrm] username or OCTOTUI_WINRM_PASSWORD"),
                           result.duration_ms)

    return Check((WINRM_GATE,), str(user), body, gates=(WINRM_GATE,), deadline_s=deadline_s)


def _node_checks(spec: ClusterSpec, node: NodeSpec, passwords: Passwords, deadline_s: float, *,
                 verified_by_dc: bool = False) -> list[Check]:
    reach_id, auth_gate = f"winrm.reach:{node.name}", f"winrm.auth:{node.name}"
    reach = winrm_reach_body(node, spec.winrm, passwords.winrm, gate=auth_gate)
    home = node_home_body(node, spec.winrm, passwords.winrm, instance=spec.instance)
    if verified_by_dc:
        # The password is known to be right: every check on the node starts at once, and gives way to
        # winrm.reach when the node itself cannot be reached.
        return [
            Check((reach_id,), node.url(spec.winrm), reach, gates=(auth_gate,), needs=(WINRM_GATE,),
                  deadline_s=deadline_s),
            Check((f"node.home:{node.name}",), f"{node.name}:{node.home}", home, needs=(WINRM_GATE,),
                  superseded_by=(reach_id,), deadline_s=deadline_s),
        ]
    return [
        Check((reach_id,), node.url(spec.winrm), reach, gates=(auth_gate,), deadline_s=deadline_s),
        Check((f"node.home:{node.name}",), f"{node.name}:{node.home}", home, needs=(auth_gate,),
              deadline_s=deadline_s),
    ]


def _ad_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check:
    username = spec.service_account.username
    winrm_user = spec.winrm.username
    lookup = winrm_user if winrm_user is not None and winrm_user.is_domain_account else None

    def body(ctx: CheckContext) -> CheckResult:
        result = check_ad_account(username, passwords.service, domain_controller=spec.ad.domain_controller,
                                  dns_domain=spec.ad.dns_domain, ca_file=spec.ad.ca_cert,
                                  nameservers=list(spec.ad.nameservers) or None,
                                  lookup_username=lookup if passwords.winrm else None,
                                  lookup_password=passwords.winrm if lookup else None,
                                  deadline_s=ctx.remaining(), cancel=ctx.cancel)
        ctx.open_gate(SERVICE_GATE, ok=not account_refused(result, username), reason=result.summary)
        return result

    # It looks the account up as the WinRM user: a refused WinRM password is winrm.credentials' failure.
    yields = (WINRM_GATE,) if lookup and passwords.winrm and _dc_checks_winrm(spec) else ()
    return Check(("ad.account",), str(username), body, gates=(SERVICE_GATE,), superseded_by=yields,
                 deadline_s=deadline_s)


def _share_write_check(spec: ClusterSpec, passwords: Passwords, deadline_s: float) -> Check:
    paths = storage_paths(spec)
    username = spec.service_account.username
    shown = ", ".join(map(str, paths))
    if not paths:
        why = ("a joining node uses the cluster's storage settings" if spec.mode == "join"
               else "set [storage] cluster_shared to check it")
        return Check(("share.write",), "", fixed(CheckResult("share.write", "skip", "",
                                                              f"No shared storage in the answers file: {why}")))
    if spec.service_account.is_gmsa:
        return Check(("share.write",), shown, fixed(CheckResult(
            "share.write", "skip", shown, f"Not checked from here: {username} is a gMSA, whose password "
            "only its allowed computers can retrieve", hint="Check the share from a node running as the gMSA.")))
    return Check(("share.write",), shown, adapt(check_share_write, paths, username, passwords.service),
                 superseded_by=(SERVICE_GATE,), deadline_s=deadline_s)


def _node_service_checks(spec: ClusterSpec, node: NodeSpec, passwords: Passwords, deadline_s: float, *,
                         verified_by_dc: bool = False) -> list[Check]:
    """share.reach and sql.reach on one node, as the service account."""
    username = spec.service_account.username
    reach_id = f"winrm.reach:{node.name}"
    needs = (WINRM_GATE, SERVICE_GATE) if verified_by_dc else (f"winrm.auth:{node.name}", SERVICE_GATE)
    share_id, sql_id = f"share.reach:{node.name}", f"sql.reach:{node.name}"
    if spec.service_account.is_gmsa or not passwords.service:
        why = (f"Not checked: {username} is a gMSA; octotui cannot run a probe as it (its password is managed by "
               "AD)" if spec.service_account.is_gmsa else f"Not checked: no password for {username}")
        return [Check((share_id,), node.name, fixed(CheckResult(share_id, "skip", node.name, why))),
                Check((sql_id,), node.name, fixed(CheckResult(sql_id, "skip", node.name, why)))]
    run_as = (username, passwords.service)
    share_body = share_reach_body(node, spec.winrm, passwords.winrm, storage_paths(spec), run_as=run_as)
    sql_body = sql_reach_body(node, spec.winrm, passwords.winrm, spec.connection_string, mode=spec.mode,
                              run_as=run_as, fact=sql_id)
    return [
        Check((share_id,), node.name, share_body, needs=needs, superseded_by=("share.write", reach_id),
              deadline_s=deadline_s),
        Check((sql_id,), node.name, sql_body, needs=needs, superseded_by=("sql.connect", reach_id),
              deadline_s=deadline_s),
    ]


def _cluster_version_check(spec: ClusterSpec, deadline_s: float) -> Check:
    first = spec.first_node.name
    source = f"sql.reach:{first}"
    if spec.mode == "create":
        return Check(("cluster.version",), "cluster",
                     fixed(nodechecks.cluster_version_result("create", spec.octopus_version, None)))

    def body(ctx: CheckContext) -> CheckResult:
        return nodechecks.cluster_version_result("join", spec.octopus_version, ctx.fact(source), source=source,
                                                 target=f"database, read from {first}")

    return Check(("cluster.version",), "cluster", body, needs=(source,), deadline_s=deadline_s)


# --- the secrets the checks use ----------------------------------------------------------------------------


def gather_passwords(spec: ClusterSpec, *, prompt: Callable[[str], str] | None = None) -> Passwords:
    """The WinRM and service passwords a run of ``spec`` needs (``refs_for``: the one rule), from the
    environment, the keyring or ``prompt`` (never asked without one), as a run finds them; the master key is
    not needed to check. Raises ``BadInput`` naming the variable to set when one is missing."""
    from octotui.secrets import store as sec

    store = sec.Secrets(prompt=prompt)
    found: dict[str, str] = {}
    for ref in sec.refs_for(spec):
        if ref.name == "master_key":
            continue
        try:
            found[ref.name] = store.get(ref)
        except (sec.SecretMissing, sec.SecretInvalid, sec.KeyringUnavailable) as exc:
            raise BadInput(str(exc)) from None
    return Passwords(found.get("winrm_password"), found.get("service_password"))
