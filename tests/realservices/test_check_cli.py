"""``octotui check`` end to end: a real Samba AD DC for the account and the share, the lab for the nodes and SQL
Server (its TDS front, through FreeTDS).

The lab's answers file passes in full. Then each of a wrong service password, a disabled account, a read-only
share and a database that already holds a cluster fails on exactly the check concerned, every other check
passing or skipping with a pointer to it. The DC and the lab are independent worlds; the test gives the DC's
svcOctopus and labadmin the lab's passwords (an administrator's password reset over LDAPS) for as long as it
needs them, then puts the DC's own back for the other tests of the session.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import octotui, octotui_env, toml_str, write_answers
from tests.fixtures.lab import LabProcess, running_lab
from tests.realservices.samba_dc import SambaDC

# ldap3 2.9 still calls ssl.match_hostname (deprecated; it has its own fallback where Python lacks it).
pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")

NODES = ["OCTO1", "OCTO2"]


def _set_passwords(dc: SambaDC, passwords: dict[str, str]) -> None:
    import ldap3

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file))
    server = ldap3.Server(dc.address, port=636, use_ssl=True, tls=tls, connect_timeout=5)
    conn = ldap3.Connection(server, user=f"Administrator@{dc.dns_domain}", password=dc.administrator_password,
                            auto_bind=True, receive_timeout=10)
    try:
        for name, password in passwords.items():
            dn = f"CN={name},CN=Users,{dc.base_dn}"
            assert conn.extend.microsoft.modify_password(dn, password), conn.result
    finally:
        conn.unbind()


@contextmanager
def dc_passwords_of(dc: SambaDC, lab: LabProcess, restore: dict[str, str]) -> Iterator[None]:
    """The DC's svcOctopus and labadmin get the lab's passwords; ``restore`` is put back afterwards."""
    _set_passwords(dc, {"svcOctopus": lab.ready["service_account"]["password"],
                        "labadmin": lab.ready["admin"]["password"]})
    try:
        yield
    finally:
        _set_passwords(dc, restore)


def _dc_own(dc: SambaDC) -> dict[str, str]:
    return {name: dc.account(name).password for name in ("svcOctopus", "labadmin")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("check-cli") / "state", "--nodes", str(len(NODES))) as running:
        yield running


@pytest.fixture(scope="module")
def dc(samba_dc: SambaDC, lab: LabProcess) -> Iterator[SambaDC]:
    with dc_passwords_of(samba_dc, lab, _dc_own(samba_dc)):
        yield samba_dc


def ad_table(dc: SambaDC) -> str:
    return f"\n[ad]\ndomain_controller = {toml_str(dc.address)}\nca_cert = {toml_str(str(dc.ca_file))}\n"


def answers_for(lab: LabProcess, dc: SambaDC, path: Path, *, nodes: list[str] | None = None,
                replace: dict[str, str] | None = None, **kw: Any) -> Path:
    write_answers(lab, path, nodes or NODES, extra=ad_table(dc), **kw)
    text = path.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def check(env: dict[str, str], answers: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    out = octotui(env, "check", str(answers), "--json", timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    results = {r["id"]: r for r in json.loads(out.stdout)} if out.stdout.strip() else {}
    return out.returncode, results, out.stdout + out.stderr


def statuses(results: dict[str, dict[str, Any]], status: str) -> set[str]:
    return {i for i, r in results.items() if r["status"] == status}


def expected_ids(nodes: list[str]) -> set[str]:
    per_node = {f"{c}:{n}" for n in nodes for c in ("winrm.reach", "node.home", "share.reach", "sql.reach")}
    return per_node | {"winrm.credentials", "ad.account", "share.write", "sql.connect", "sql.version", "sql.collation", "sql.permissions",
                       "sql.database", "cluster.version"}


def test_the_lab_answers_pass_in_full(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    answers = answers_for(lab, dc, tmp_path / "answers.toml")
    env = octotui_env(lab, tmp_path)
    code, results, text = check(env, answers)
    assert code == 0, text
    assert set(results) == expected_ids(NODES)
    assert statuses(results, "pass") == expected_ids(NODES) - {"cluster.version"}, text
    assert results["cluster.version"]["status"] == "skip"  # create mode: nothing to compare with
    assert "LDAPS" in results["ad.account"]["detail"]
    assert results["share.reach:OCTO1"]["summary"].endswith("as WORK\\svcOctopus")
    assert results["sql.connect"]["summary"].endswith("as WORK\\labadmin")  # who creates the database
    for secret in (lab.ready["admin"]["password"], lab.ready["service_account"]["password"]):
        assert secret not in text
    table = octotui(env, "check", str(answers), timeout=120)
    assert table.returncode == 0, table.stdout + table.stderr
    last = table.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{len(results)} checks in ") and last.endswith(": 16 passed, 0 warnings, 0 failed, "
                                                                             "1 skipped")


def test_the_domain_controller_is_found_through_dns(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    answers = answers_for(lab, dc, tmp_path / "answers.toml", replace={
        f"domain_controller = {toml_str(dc.address)}":
            f"dns_domain = {toml_str(dc.dns_domain)}\nnameservers = [{toml_str(dc.nameserver)}]"})
    code, results, text = check(octotui_env(lab, tmp_path), answers)
    assert code == 0, text
    assert results["ad.account"]["status"] == "pass"
    assert "DNS SRV _ldap._tcp.dc._msdcs.work.lab" in results["ad.account"]["detail"]


def assert_only_failure(results: dict[str, dict[str, Any]], failed: str, pointer: set[str]) -> None:
    """``failed`` is the one failure; the checks in ``pointer`` skip pointing at it; everything else passes
    (cluster.version is not applicable in create mode)."""
    assert statuses(results, "fail") == {failed}, {i: r["summary"] for i, r in results.items()}
    skipped = statuses(results, "skip") - {"cluster.version"}
    assert skipped == pointer, {i: results[i]["summary"] for i in skipped}
    for check_id in pointer:
        assert results[check_id]["summary"].endswith(f"(see {failed})"), results[check_id]
    assert statuses(results, "pass") == expected_ids(NODES) - pointer - {failed, "cluster.version"}


def test_wrong_service_password_fails_only_ad_account(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    answers = answers_for(lab, dc, tmp_path / "answers.toml")
    env = octotui_env(lab, tmp_path, OCTOTUI_SERVICE_PASSWORD="Not-the-password-42")
    code, results, text = check(env, answers)
    assert code == 1, text
    ad = results["ad.account"]
    assert ad["summary"] == "Wrong password for WORK\\svcOctopus"  # the lookup (labadmin) found the account
    assert_only_failure(results, "ad.account", {"share.write", *(f"{c}:{n}" for n in NODES
                                                                 for c in ("share.reach", "sql.reach"))})
    assert "Not-the-password-42" not in text


def test_disabled_account_fails_only_ad_account(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    disabled = dc.account("svcDisabled")
    answers = answers_for(lab, dc, tmp_path / "answers.toml",
                          replace={'username = "WORK\\\\svcOctopus"': f"username = {toml_str(disabled.qualified)}"})
    env = octotui_env(lab, tmp_path, OCTOTUI_SERVICE_PASSWORD=disabled.password)
    code, results, text = check(env, answers)
    assert code == 1, text
    assert results["ad.account"]["summary"] == "WORK\\svcDisabled is disabled"
    assert "Enable-ADAccount" in results["ad.account"]["hint"]
    assert_only_failure(results, "ad.account", {"share.write", *(f"{c}:{n}" for n in NODES
                                                                 for c in ("share.reach", "sql.reach"))})


def test_read_only_share_fails_only_share_write(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    read_only = dc.shares["OctopusRead"]
    answers = answers_for(lab, dc, tmp_path / "answers.toml",
                          replace={f"cluster_shared = {toml_str(lab.ready['share'])}":
                                   f"cluster_shared = {toml_str(read_only)}"})
    code, results, text = check(octotui_env(lab, tmp_path), answers)
    assert code == 1, text
    assert results["share.write"]["summary"] == f"WORK\\svcOctopus can read but cannot write {read_only}"
    assert_only_failure(results, "share.write", {f"share.reach:{n}" for n in NODES})


def test_database_holding_a_cluster_fails_only_sql_database(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    # Its own lab, since the cluster it creates stays in that lab's database; the DC then serves that lab's
    # passwords, and the module lab's come back afterwards.
    module_lab = {"svcOctopus": lab.ready["service_account"]["password"], "labadmin": lab.ready["admin"]["password"]}
    with running_lab(tmp_path / "state", "--nodes", "1") as other, dc_passwords_of(dc, other, restore=module_lab):
        env = octotui_env(other, tmp_path / "console")
        create = answers_for(other, dc, tmp_path / "create.toml", nodes=["OCTO1"])
        applied = octotui(env, "apply", str(create), "--yes", timeout=300)
        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]

        code, results, text = check(env, create)
        assert code == 1, text
        assert statuses(results, "fail") == {"sql.database"}, text
        assert results["sql.database"]["summary"] == "database OctopusDeploy already holds an Octopus cluster"
        assert "join mode" in results["sql.database"]["hint"]
        assert statuses(results, "skip") == {"cluster.version"}

        # Joining that cluster: the same version passes, another one fails on cluster.version alone.
        join = answers_for(other, dc, tmp_path / "join.toml", nodes=["OCTO1"], mode="join")
        code, results, text = check(env, join)
        assert code == 0, text
        assert results["cluster.version"]["status"] == "pass"
        assert results["cluster.version"]["summary"] == "The cluster runs 2025.3.1234, the version to install"
        assert results["sql.connect"]["summary"].endswith("as WORK\\svcOctopus")  # what the joining nodes use
        older = answers_for(other, dc, tmp_path / "older.toml", nodes=["OCTO1"], mode="join", version="2024.4.7002")
        code, results, text = check(env, older)
        assert code == 1, text
        assert statuses(results, "fail") == {"cluster.version"}, text
        assert "runs Octopus 2025.3.1234 but the answers install 2024.4.7002" in results["cluster.version"]["summary"]


def test_bad_input_exits_2_without_a_traceback(lab: LabProcess, dc: SambaDC, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    missing = octotui(env, "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    answers = answers_for(lab, dc, tmp_path / "answers.toml")
    env.pop("OCTOTUI_SERVICE_PASSWORD")
    no_secret = octotui(env, "check", str(answers))
    assert no_secret.returncode == 2, no_secret.stdout + no_secret.stderr
    assert "OCTOTUI_SERVICE_PASSWORD" in no_secret.stderr and "Traceback" not in no_secret.stderr


def test_a_wrong_winrm_password_is_tried_once_and_no_node_sees_it(lab: LabProcess, dc: SambaDC,
                                                                  tmp_path: Path) -> None:
    """The domain controller refuses the WinRM user's password once; no node is tried with it."""
    answers = answers_for(lab, dc, tmp_path / "answers.toml")
    env = octotui_env(lab, tmp_path, OCTOTUI_WINRM_PASSWORD="Not-the-password-42")
    before = {n["name"]: n["http_requests"] for n in lab.inspect()["nodes"]}
    code, results, text = check(env, answers)
    assert code == 1, text
    assert results["winrm.credentials"]["status"] == "fail"
    assert statuses(results, "fail") == {"winrm.credentials"}, {i: r["summary"] for i, r in results.items()}
    assert results["sql.connect"]["summary"].endswith("(see winrm.credentials)")
    assert all(r["summary"].endswith(("(see winrm.credentials)", "(see sql.connect)")) for i, r in results.items()
               if r["status"] == "skip" and i != "cluster.version"), text
    after = {n["name"]: n["http_requests"] for n in lab.inspect()["nodes"]}
    assert after == before  # no WinRM logon was attempted with the wrong password
    assert "Not-the-password-42" not in text
