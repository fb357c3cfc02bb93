"""The node checks against the lab (winrm.reach, node.home, share.reach, sql.reach, cluster.version), and the
runner that runs checks concurrently with deadlines, gates and cancellation.

Each check's pass and each distinct failure: an unreachable or silent host within the deadline, a refused
port, a name that does not resolve, a wrong password, TLS without the CA, a UNC or mapped-drive home, a home
another instance uses, and the double hop shown when share.reach/sql.reach run as the WinRM session instead of
the service account.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from octotui.checks.node import (
    check_cluster_version,
    check_node_home,
    check_share_reach,
    check_sql_reach,
    check_winrm_reach,
    cluster_version_result,
)
from octotui.checks.report import format_table, to_json
from octotui.checks.result import CheckFailure, CheckResult
from octotui.checks.runner import Check, CheckContext, adapt, run_checks, start_check
from octotui.checks.share import UncPath
from octotui.remote.session import NodeSession
from octotui.spec.model import NodeSpec, WinRMSettings
from octotui.spec.parsers.accounts import parse_account
from octotui.spec.parsers.hostnames import parse_host
from octotui.spec.parsers.winpath import parse_windows_path
from octotui.windows import octopus as oc
from octotui.windows.installers import msiexec_install
from octotui.windows.quoting import cmd_line
from tests.fixtures.lab import LabProcess, running_lab

VERSION = "2025.3.1234"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("node-checks") / "state", "--nodes", "2") as running:
        yield running


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("node-checks-tls") / "state", "--nodes", "1", "--https") as running:
        yield running


def winrm_of(lab: LabProcess, **kw: object) -> WinRMSettings:
    https = "ca_cert" in lab.ready
    settings: dict[str, object] = {"username": parse_account(lab.ready["admin"]["username"]), "transport": "ntlm",
                                   "https": https}
    settings.update(kw)
    return WinRMSettings(**settings)  # type: ignore[arg-type]


def node_of(lab: LabProcess, name: str = "OCTO1", **kw: str) -> NodeSpec:
    fields = {"name": name, "endpoint": lab.node(name)["endpoint"]}
    fields.update(kw)
    return NodeSpec(host=parse_host(name), **fields)


def admin_pw(lab: LabProcess) -> str:
    return str(lab.ready["admin"]["password"])


def service(lab: LabProcess) -> tuple[str, str]:
    svc = lab.ready["service_account"]
    return str(svc["username"]), str(svc["password"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- winrm.reach ---------------------------------------------------------------------------------------------

def test_winrm_reach_passes_and_reports_the_os(lab: LabProcess) -> None:
    authenticated = threading.Event()
    states: list[dict[str, object]] = []
    result = check_winrm_reach(node_of(lab), winrm_of(lab), admin_pw(lab), on_authenticated=authenticated.set,
                               on_state=states.append)
    assert result.status == "pass", result
    assert result.id == "winrm.reach:OCTO1" and result.target == lab.node("OCTO1")["endpoint"]
    assert result.summary == "WORK\\labadmin logs on to OCTO1: Microsoft Windows Server 2022 Datacenter (10.0.20348)"
    assert "port" in result.detail and "open" in result.detail
    assert authenticated.is_set() and states[0]["hostname"] == "OCTO1"
    assert admin_pw(lab) not in repr(result)


def test_wrong_password_is_a_refused_logon(lab: LabProcess) -> None:
    result = check_winrm_reach(node_of(lab), winrm_of(lab), "Not-the-password-1")
    assert result.status == "fail"
    assert result.summary == "OCTO1 refused the WinRM logon of WORK\\labadmin"
    assert "password" in result.hint


def test_refused_port_says_nothing_listens(lab: LabProcess) -> None:
    port = free_port()
    node = NodeSpec(host=parse_host("127.0.0.1"), name="OCTO9", endpoint=f"http://127.0.0.1:{port}/wsman")
    result = check_winrm_reach(node, winrm_of(lab), admin_pw(lab))
    assert result.status == "fail"
    assert result.summary == f"127.0.0.1:{port} refused the connection: no WinRM listener there"
    assert "winrm quickconfig" in result.hint


def test_name_that_does_not_resolve(lab: LabProcess) -> None:
    node = NodeSpec(host=parse_host("nosuchnode.invalid"), name="NOSUCH", endpoint="http://nosuchnode.invalid:5985/wsman")
    result = check_winrm_reach(node, winrm_of(lab), admin_pw(lab), deadline_s=3)
    assert result.status == "fail"
    assert result.summary in ("The name nosuchnode.invalid does not resolve", "No answer within 3 s")


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port where TCP connects go unanswered, as to a host that is down behind a firewall: a listener
    with a full accept queue, whose kernel drops further SYNs. (Real unroutable addresses are no good here: a
    sandbox's network may answer for them.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.settimeout(0.3)
        try:
            filler.connect(("127.0.0.1", port))
        except TimeoutError:
            filler.close()
            break
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in (*fillers, server):
            sock.close()


def test_unreachable_host_fails_within_the_deadline(lab: LabProcess, blackhole: int) -> None:
    node = NodeSpec(host=parse_host("127.0.0.1"), name="GHOST", endpoint=f"http://127.0.0.1:{blackhole}/wsman")
    started = time.monotonic()
    result = check_winrm_reach(node, winrm_of(lab), admin_pw(lab), deadline_s=1.0)
    took = time.monotonic() - started
    assert result.status == "fail"
    assert result.summary == f"No answer from 127.0.0.1:{blackhole} within 1 s"
    assert "firewall" in result.hint
    assert took < 4, took  # the deadline plus a little, never the OS's minutes-long connect timeout


def test_silent_listener_fails_at_the_deadline(lab: LabProcess) -> None:
    # The port accepts connections but never answers HTTP: a hung WinRM service.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        node = NodeSpec(host=parse_host("127.0.0.1"), name="HUNG", endpoint=f"http://127.0.0.1:{port}/wsman")
        started = time.monotonic()
        result = check_winrm_reach(node, winrm_of(lab), admin_pw(lab), deadline_s=1.0)
        took = time.monotonic() - started
    assert result.status == "fail" and "within" in result.summary, result
    assert took < 4, took


def test_cancel_returns_at_once(lab: LabProcess) -> None:
    cancel = threading.Event()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        node = NodeSpec(host=parse_host("127.0.0.1"), name="HUNG", endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}/wsman")
        threading.Timer(0.2, cancel.set).start()
        result = check_winrm_reach(node, winrm_of(lab), admin_pw(lab), deadline_s=30, cancel=cancel)
    assert (result.status, result.summary) == ("skip", "Check cancelled")


def test_tls_without_the_ca_is_not_trusted(tls_lab: LabProcess) -> None:
    result = check_winrm_reach(node_of(tls_lab), winrm_of(tls_lab), admin_pw(tls_lab))
    assert result.status == "fail"
    port = urlsplit(tls_lab.node("OCTO1")["endpoint"]).port
    assert result.summary.startswith(f"The certificate of 127.0.0.1:{port} is not trusted")
    assert "ca_cert" in result.hint


def test_tls_with_the_ca_passes_and_ignore_warns(tls_lab: LabProcess) -> None:
    good = check_winrm_reach(node_of(tls_lab), winrm_of(tls_lab, ca_cert=tls_lab.ready["ca_cert"]), admin_pw(tls_lab))
    assert good.status == "pass", good
    assert "certificate valid" in good.detail
    unchecked = check_winrm_reach(node_of(tls_lab), winrm_of(tls_lab, server_cert_validation="ignore"),
                                  admin_pw(tls_lab))
    assert unchecked.status == "warn" and "not validated" in unchecked.summary


def test_https_against_the_http_listener(lab: LabProcess) -> None:
    endpoint = lab.node("OCTO1")["endpoint"].replace("http://", "https://")
    result = check_winrm_reach(node_of(lab, endpoint=endpoint), winrm_of(lab, https=True), admin_pw(lab))
    assert result.status == "fail"
    assert "does not speak TLS" in result.summary or "TLS with" in result.summary, result


# --- node.home ---------------------------------------------------------------------------------------------

def home_check(lab: LabProcess, home: str, name: str = "OCTO1", instance: str = "Default") -> CheckResult:
    return check_node_home(node_of(lab, name), winrm_of(lab), admin_pw(lab), instance=instance, home=home)


def test_home_passes_on_a_local_disk(lab: LabProcess) -> None:
    result = home_check(lab, "C:\\Octopus")
    assert result.status == "pass", result
    assert result.summary == "C:\\Octopus on OCTO1 is local (C:, 80.0 GB free) and will be created"
    assert result.id == "node.home:OCTO1"


@pytest.mark.parametrize("home", ["\\\\fs\\OctopusData\\Home", "//fs/share/home"])
def test_unc_home_is_refused_before_asking_the_node(lab: LabProcess, home: str) -> None:
    result = check_node_home(node_of(lab), winrm_of(lab), "wrong-password-not-used", instance="Default", home=home)
    assert result.status == "fail"
    assert "network (UNC) path" in result.summary and "C:\\Octopus" in result.hint


def test_mapped_or_missing_drive_is_refused(lab: LabProcess) -> None:
    result = home_check(lab, "Z:\\Octopus")
    assert result.status == "fail"
    assert result.summary.startswith("Z: is not a local disk on OCTO1 (a mapped network drive")
    assert result.detail == "local fixed disks: C:"


@pytest.mark.parametrize("home", ["Octopus", "C:\\", "C:Octopus"])
def test_relative_path_or_drive_root_is_refused(lab: LabProcess, home: str) -> None:
    result = home_check(lab, home)
    assert result.status == "fail"
    assert "drive root" in result.summary or "not an absolute local path" in result.summary


def test_home_used_by_another_instance(lab: LabProcess) -> None:
    session = NodeSession(lab.node("OCTO2")["endpoint"], lab.ready["admin"]["username"], admin_pw(lab), node="OCTO2")
    with session:
        msi = lab.ready["installers"][VERSION]["node_path"]
        assert session.run(cmd_line(msiexec_install(msi))).exit_code == 0
        create = oc.create_instance("Other", oc.config_path("C:\\Shared", "Other"), "C:\\Shared")
        res = session.run(cmd_line([oc.exe_path(), *create]))
        assert res.exit_code == 0, res.stdout_text + res.stderr_text
    taken = home_check(lab, "C:\\Shared", "OCTO2")
    assert taken.status == "fail", taken
    assert taken.summary == "C:\\Shared is already the home of the Octopus instance 'Other' on OCTO2"
    assert "delete-instance" in taken.hint and "instances on the node: Other" in taken.detail
    own = home_check(lab, "C:\\Shared", "OCTO2", instance="Other")  # the same instance again: a rerun
    assert own.status == "pass", own
    nested = home_check(lab, "C:\\Shared\\Inner", "OCTO2")
    assert nested.status == "warn" and "overlaps" in nested.summary
    elsewhere = home_check(lab, "C:\\Octopus", "OCTO2")
    assert elsewhere.status == "pass", elsewhere


# --- share.reach ---------------------------------------------------------------------------------------------

def test_share_reach_as_the_service_account_passes(lab: LabProcess) -> None:
    result = check_share_reach(node_of(lab), winrm_of(lab), admin_pw(lab), [lab.ready["share"]], run_as=service(lab))
    assert result.status == "pass", result
    assert result.summary == f"OCTO1 can create, read and delete files in {lab.ready['share']} as WORK\\svcOctopus"
    assert service(lab)[1] not in repr(result)


def test_share_reach_as_the_session_shows_the_double_hop(lab: LabProcess) -> None:
    result = check_share_reach(node_of(lab), winrm_of(lab), admin_pw(lab), [lab.ready["share"]], run_as=None)
    assert result.status == "fail"
    assert result.summary == (f"The file server refused {lab.ready['share']} to OCTO1's WinRM session: the double "
                              "hop")
    assert "credssp" in result.hint and "double hop" in result.hint


def test_share_reach_missing_share(lab: LabProcess) -> None:
    result = check_share_reach(node_of(lab), winrm_of(lab), admin_pw(lab), ["\\\\127.0.0.1\\NoSuchShare"],
                               run_as=service(lab))
    assert result.status == "fail"
    assert "does not exist" in result.summary or "cannot reach" in result.summary, result


def test_share_reach_with_a_wrong_service_password(lab: LabProcess) -> None:
    result = check_share_reach(node_of(lab), winrm_of(lab), admin_pw(lab), [lab.ready["share"]],
                               run_as=(service(lab)[0], "Wrong-password-9"))
    assert result.status == "fail"
    assert result.summary.startswith("OCTO1 could not log on as WORK\\svcOctopus")
    assert "0x8007052E" in result.detail or "0x8007052e" in result.detail.lower()


def test_share_reach_without_paths_skips(lab: LabProcess) -> None:
    result = check_share_reach(node_of(lab), winrm_of(lab), admin_pw(lab), [], run_as=service(lab))
    assert result.status == "skip"


# --- sql.reach and cluster.version ---------------------------------------------------------------------------

def test_sql_reach_as_the_service_account_in_create_mode(lab: LabProcess) -> None:
    facts: dict[str, object] = {}
    result = check_sql_reach(node_of(lab), winrm_of(lab), admin_pw(lab), lab.ready["sql"]["connection_string"],
                             mode="create", run_as=service(lab), on_facts=facts.update)
    assert result.status == "pass", result
    assert "WORK\\svcOctopus has no login there yet" in result.summary
    assert facts["number"] == 18456


def test_sql_reach_as_the_session_shows_the_double_hop(lab: LabProcess) -> None:
    result = check_sql_reach(node_of(lab), winrm_of(lab), admin_pw(lab), lab.ready["sql"]["connection_string"],
                             mode="create", run_as=None)
    assert result.status == "fail"
    assert result.summary.endswith("as NT AUTHORITY\\ANONYMOUS LOGON: the double hop")
    assert "double hop" in result.hint


def test_sql_reach_in_join_mode_needs_a_login(lab: LabProcess) -> None:
    result = check_sql_reach(node_of(lab), winrm_of(lab), admin_pw(lab), lab.ready["sql"]["connection_string"],
                             mode="join", run_as=service(lab))
    assert result.status == "fail"
    assert result.summary.startswith("127.0.0.1,") and "refused the login of WORK\\svcOctopus from OCTO1" in result.summary
    assert "db_owner" in result.hint


def test_sql_reach_cannot_reach_a_closed_port(lab: LabProcess) -> None:
    cs = f"Data Source=127.0.0.1,{free_port()};Initial Catalog=OctopusDeploy;Integrated Security=True;"
    result = check_sql_reach(node_of(lab), winrm_of(lab), admin_pw(lab), cs, mode="create", run_as=service(lab))
    assert result.status == "fail", result
    assert result.summary.startswith("OCTO1 cannot reach 127.0.0.1,")


def test_cluster_version_through_a_node_without_a_cluster(lab: LabProcess) -> None:
    admin = lab.ready["admin"]
    result = check_cluster_version(node_of(lab), winrm_of(lab), admin_pw(lab), lab.ready["sql"]["connection_string"],
                                   wanted=VERSION, run_as=(admin["username"], admin["password"]))
    assert result.id == "cluster.version"
    assert result.status == "skip" and "no Octopus cluster" in result.summary


@pytest.mark.parametrize(("facts", "status", "words"), [
    (None, "skip", "could not be read"),
    ({"ok": True, "database_exists": True, "octopus_schema": True, "octopus_version": VERSION}, "pass",
     f"The cluster runs {VERSION}"),
    ({"ok": True, "database_exists": True, "octopus_schema": True, "octopus_version": "2024.4.7002"}, "fail",
     f"runs Octopus 2024.4.7002 but the answers install {VERSION}"),
    ({"ok": True, "database_exists": True, "octopus_schema": True, "octopus_version": None}, "warn",
     "could not be read from its database"),
    ({"ok": True, "database_exists": False}, "skip", "no Octopus cluster"),
])
def test_cluster_version_verdicts(facts: dict[str, object] | None, status: str, words: str) -> None:
    result = cluster_version_result("join", VERSION, facts, source="sql.reach:OCTO1")
    assert result.status == status and words in result.summary, result


def test_cluster_version_is_not_applicable_in_create_mode() -> None:
    result = cluster_version_result("create", VERSION, None)
    assert result.status == "skip" and "Not applicable" in result.summary


# --- the runner ----------------------------------------------------------------------------------------------

def ok(check_id: str) -> CheckResult:
    return CheckResult(check_id, "pass", "t", "fine")


def test_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)  # only passes if all three bodies run at the same time

    def body(name: str) -> Check:
        def run(ctx: CheckContext) -> CheckResult:
            barrier.wait()
            return ok(name)
        return Check((name,), "t", run)

    run = run_checks([body("a"), body("b"), body("c")])
    assert run.wait(10)
    assert [r.status for r in run.results()] == ["pass"] * 3


def test_start_check_never_blocks_and_reports_once() -> None:
    release = threading.Event()
    got: list[list[CheckResult]] = []
    done = threading.Event()

    def body(ctx: CheckContext) -> CheckResult:
        release.wait(5)
        return ok("one")

    def on_done(results: list[CheckResult]) -> None:
        got.append(results)
        done.set()

    handle = start_check(body, on_done, ids="one")
    assert not handle.done  # returned while the body is still blocked
    release.set()
    assert done.wait(5)
    assert handle.wait(1) == got[0] and [r.id for r in got[0]] == ["one"] and len(got) == 1


def test_a_hung_body_fails_at_its_deadline() -> None:
    def body(ctx: CheckContext) -> CheckResult:
        time.sleep(30)  # a body that hangs: the behaviour under test, not a wait
        return ok("slow")

    run = run_checks([Check(("slow",), "host1", body, deadline_s=0.3)])
    assert run.wait(5)
    (result,) = run.results()
    assert (result.status, result.summary) == ("fail", "No answer within 0.3 s")


def test_cancel_skips_what_is_still_running() -> None:
    def body(ctx: CheckContext) -> CheckResult:
        ctx.cancel.wait(30)
        return ok("x")

    handle = start_check(body, ids="x", deadline_s=30)
    handle.cancel()
    results = handle.wait(5)
    assert results is not None and (results[0].status, results[0].summary) == ("skip", "cancelled")


def test_a_closed_gate_skips_dependents_with_a_pointer_to_the_root_cause() -> None:
    def failing(ctx: CheckContext) -> CheckResult:
        return CheckResult("root", "fail", "t", "the password is wrong")

    started: list[str] = []

    def dependent(name: str) -> Check:
        def run(ctx: CheckContext) -> CheckResult:
            started.append(name)
            return ok(name)
        return Check((name,), "t", run, needs=("root",) if name == "mid" else ("mid",))

    run = run_checks([Check(("root",), "t", failing), dependent("mid"), dependent("leaf")])
    assert run.wait(5)
    root, mid, leaf = run.results()
    assert root.status == "fail" and started == []
    assert (mid.status, mid.summary) == ("skip", "not checked: the password is wrong (see root)")
    assert (leaf.status, leaf.summary) == ("skip", "not checked: the password is wrong (see root)")


def test_an_early_gate_lets_dependents_start_before_the_check_ends() -> None:
    finish = threading.Event()

    def gatekeeper(ctx: CheckContext) -> CheckResult:
        ctx.open_gate("auth")
        finish.wait(5)
        return ok("reach")

    def dependent(ctx: CheckContext) -> CheckResult:
        finish.set()  # only reachable while the gatekeeper still runs
        return ok("dep")

    run = run_checks([Check(("reach",), "t", gatekeeper, gates=("auth",)), Check(("dep",), "t", dependent,
                                                                                     needs=("auth",))])
    assert run.wait(10)
    assert [r.status for r in run.results()] == ["pass", "pass"]


def test_superseded_failures_become_skips_but_passes_stay() -> None:
    def cause(ctx: CheckContext) -> CheckResult:
        return CheckResult("ad.account", "fail", "svc", "svc is disabled")

    def also_fails(ctx: CheckContext) -> CheckResult:
        return CheckResult("share.write", "fail", "share", "Account refused by fs: svc is disabled")

    def passes(ctx: CheckContext) -> CheckResult:
        return ok("other")

    run = run_checks([Check(("ad.account",), "svc", cause), Check(("share.write",), "share", also_fails,
                                                                  superseded_by=("ad.account",)),
                      Check(("other",), "t", passes, superseded_by=("ad.account",))])
    assert run.wait(5)
    _, share, other = run.results()
    assert (share.status, share.summary) == ("skip", "not checked: svc is disabled (see ad.account)")
    assert share.detail == "Account refused by fs: svc is disabled"
    assert other.status == "pass"


def test_a_body_that_raises_is_a_failed_result() -> None:
    def broken(ctx: CheckContext) -> CheckResult:
        raise RuntimeError("boom")

    run = run_checks([Check(("b",), "t", broken)])
    assert run.wait(5)
    (result,) = run.results()
    assert result.status == "fail" and "RuntimeError: boom" in result.detail


def test_unknown_gates_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="no check in this run produces"):
        run_checks([Check(("a",), "t", lambda ctx: ok("a"), needs=("nothing",))])


def test_adapt_passes_the_remaining_time_and_the_cancel_event(lab: LabProcess) -> None:
    body = adapt(check_node_home, node_of(lab), winrm_of(lab), admin_pw(lab), instance="Default")
    handle = start_check(body, ids="node.home:OCTO1", target="OCTO1")
    results = handle.wait(10)
    assert results is not None and results[0].status == "pass", results


# --- the report ----------------------------------------------------------------------------------------------

def test_table_puts_what_to_do_under_each_problem(tmp_path: Path) -> None:
    results = [ok("winrm.reach:OCTO1"),
               CheckResult("ad.account", "fail", "WORK\\svc", "WORK\\svc is disabled", "LDAPS: data 533",
                           "Enable it (Enable-ADAccount), then check again.", 12),
               CheckResult("share.write", "skip", "\\\\fs\\d", "not checked: WORK\\svc is disabled (see ad.account)")]
    table = format_table(results, 0.42, width=100)
    lines = table.splitlines()
    assert lines[0].split() == ["ok", "winrm.reach:OCTO1", "fine"]
    assert lines[1].split()[:2] == ["FAIL", "ad.account"]
    assert any("do:" in ln and "Enable-ADAccount" in ln for ln in lines)
    assert any("seen:" in ln and "data 533" in ln for ln in lines)
    assert lines[-1] == "3 checks in 0.4 s: 1 passed, 0 warnings, 1 failed, 1 skipped"
    doc = json.loads(to_json(results))
    assert [d["id"] for d in doc] == ["winrm.reach:OCTO1", "ad.account", "share.write"]
    assert set(doc[1]) == {"id", "status", "target", "summary", "detail", "hint", "duration_ms"}


def test_share_paths_are_read_by_the_windows_path_parser() -> None:
    unc = UncPath.parse(" //files01/Share/a//b/ ")
    assert (unc.text, unc.host, unc.share, unc.folder) == ("//files01/Share/a//b/", "files01", "Share", "a\\b")
    assert unc.root == "\\\\files01\\Share"
    assert UncPath.parse(parse_windows_path("\\\\f\\s")).folder == ""
    for text in ("C:\\Shared", "\\\\server", "\\\\srv\\sh|are"):
        with pytest.raises(CheckFailure, match="Not a UNC path"):
            UncPath.parse(text)


def test_ad_check_reads_the_account_with_the_one_parser() -> None:
    from octotui.checks.ad import AccountName, check_ad_account

    result = check_ad_account("WORK\\a\\b", "x", domain_controller="127.0.0.1")
    assert (result.status, result.target) == ("fail", "WORK\\a\\b")
    assert result.summary.startswith("Not an account name: ") and "backslash" in result.summary
    assert "No service account given" in check_ad_account("", "x").summary
    upn = AccountName.parse(parse_account("svc@work.lab"))
    assert (upn.typed, upn.sam, upn.netbios, upn.upn_suffix) == ("svc@work.lab", "svc", None, "work.lab")
    assert AccountName.parse("svc").bind_name("work.lab") == "svc@work.lab"
