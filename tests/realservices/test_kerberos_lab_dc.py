"""End to end with Kerberos: ``lab up --dc``, then ``octotui apply`` create and join with transport = "kerberos".

The lab's own Samba DC (127.0.0.2) is the KDC; the answers are the ones ``lab up --dc`` wrote (node hosts are
the FQDNs the SPNs name, endpoints the loopback URLs, ``[ad]`` the DC) with the transport switched to Kerberos.
The engine gets its tickets from the WinRM password (no kinit, no ticket cache, no system krb5.conf), and
``lab inspect`` is the witness that every WinRM request was carried by Kerberos.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.fixtures.cli import octotui, octotui_env
from tests.fixtures.lab import LabProcess, start_lab
from tests.realservices.samba_dc import missing_prerequisites


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="module")
def dc_lab() -> Iterator[LabProcess]:
    reason = missing_prerequisites()
    try:
        import gssapi  # noqa: F401
    except ImportError as exc:
        reason = reason or f"python-gssapi is missing ({exc}): scripts/setup.sh installs it"
    if reason:
        if _in_ci():
            pytest.fail(f"lab up --dc cannot run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    # smbd serves the share from under the state folder, so every folder above it must let others pass
    # (pytest's own temp root is 0700).
    base = Path(tempfile.mkdtemp(prefix="octotui-kerberos-e2e-", dir="/tmp"))
    base.chmod(0o755)
    try:
        lab = start_lab(base / "state", "--dc", "--nodes", "3", timeout=180)
        try:
            yield lab
        finally:
            lab.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _answers(lab: LabProcess, path: Path, nodes: list[str], mode: str) -> Path:
    doc: dict[str, Any] = tomllib.loads((lab.state / "answers.toml").read_text())
    doc["mode"] = mode
    doc["winrm"]["transport"] = "kerberos"
    doc["nodes"] = [n for n in doc["nodes"] if n["host"].split(".")[0].upper() in nodes]
    if mode == "join":
        for key in ("storage", "admin"):
            doc.pop(key, None)
    path.write_text(tomli_w.dumps(doc))
    return path


def test_create_and_join_over_kerberos_only(dc_lab: LabProcess, tmp_path: Path) -> None:
    answers = tomllib.loads((dc_lab.state / "answers.toml").read_text())
    assert answers["ad"]["domain_controller"] == dc_lab.ready["dc"]["address"]
    assert answers["nodes"][0]["host"] == "octo1.work.lab"
    home = tmp_path / "console"
    home.mkdir()
    env = octotui_env(dc_lab, home)
    for name in [k for k in env if k.startswith("KRB5")]:
        del env[name]
    env["KRB5CCNAME"] = f"FILE:{tmp_path / 'no-such-ccache'}"  # no ticket cache: the password gets the tickets

    create_toml = _answers(dc_lab, home / "create.toml", ["OCTO1", "OCTO2"], "create")
    # The preflight reaches every node over Kerberos too (its own sessions, the same service principals).
    checked = octotui(env, "check", str(create_toml), "--json")
    assert checked.stdout.strip().startswith("["), checked.stdout + checked.stderr
    status = {r["id"]: r["status"] for r in json.loads(checked.stdout)}
    assert status["winrm.reach:OCTO1"] == status["winrm.reach:OCTO2"] == "pass", checked.stdout
    # The console's SQL checks log in by Kerberos too, with the identity's password (no NTLM, no kinit).
    connect = next(r for r in json.loads(checked.stdout) if r["id"] == "sql.connect")
    assert connect["status"] == "pass", checked.stdout
    assert "by Kerberos" in connect["detail"], connect
    for check in ("sql.version", "sql.collation", "sql.permissions", "sql.database"):
        assert status[check] == "pass", (check, checked.stdout)
    logins = dc_lab.inspect()["sql"]["auth_logins"]
    assert logins.get("kerberos", 0) >= 1 and "ntlm" not in logins, logins
    assert not list((home / "octotui" / "kerberos").glob("*.ccache")), "the SQL ticket caches were not removed"

    create = octotui(env, "apply", str(create_toml), "--yes")
    assert create.returncode == 0, create.stdout + create.stderr
    join = octotui(env, "apply", str(_answers(dc_lab, home / "join.toml", ["OCTO3"], "join")), "--yes")
    assert join.returncode == 0, join.stdout + join.stderr

    world = dc_lab.inspect()
    (db,) = world["sql"]["databases"]
    assert [n["name"] for n in db["nodes"]] == ["OCTO1", "OCTO2", "OCTO3"]
    for node in world["nodes"]:
        assert node["http_requests"] > 0, node["name"]
        assert node["auth_requests"] == {"kerberos": node["http_requests"]}, (node["name"], node["auth_requests"])



def kerberos_args(answers: dict[str, Any]) -> tuple[str, str]:
    """[ad] domain_controller and dns_domain: where the KDC is and the realm."""
    return answers["ad"]["domain_controller"], answers["ad"]["dns_domain"]


def test_wrong_service_password_under_kerberos_names_the_sql_identity(
        dc_lab: LabProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL check as the service account (join mode's identity) in a Kerberos domain, with a wrong password:
    the KDC refuses it before SQL Server is asked, and the message names that account and its password's
    source. (``octotui check`` would show ad.account's verdict on the same password and skip sql.*.)"""
    from octotui.checks.sql import SqlIdentity, check_sql
    from octotui.checks.sql_kerberos import SqlKerberos

    for name in [k for k in os.environ if k.startswith("KRB5")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KRB5_CONFIG", "/dev/null")  # the check names the KDC itself; restored after the test
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-such-ccache'}")
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "octotui"))
    answers = tomllib.loads((dc_lab.state / "answers.toml").read_text())
    kerberos = SqlKerberos(*kerberos_args(answers), "service_account")
    service = dc_lab.ready["service_account"]["username"]
    before = dc_lab.inspect()["sql"]["auth_logins"]

    wrong = check_sql(answers["sql"]["connection_string"], SqlIdentity(service, "Not-the-password-1", kerberos),
                      mode="join", deadline_s=30)
    connect = next(r for r in wrong if r.id == "sql.connect")
    assert connect.status == "fail", connect
    principal = f"{service.split(chr(92))[1]}@{dc_lab.ready['dc']['realm']}"
    assert f"the KDC rejected the password of {principal}" in connect.detail, connect
    assert "OCTOTUI_SERVICE_PASSWORD" in connect.hint and "service account" in connect.hint, connect
    assert dc_lab.inspect()["sql"]["auth_logins"] == before, "SQL Server was asked with a refused password"

    admin = dc_lab.ready["admin"]  # the WinRM user, a sysadmin whatever the other test did first
    right = check_sql(answers["sql"]["connection_string"],
                      SqlIdentity(admin["username"], admin["password"], SqlKerberos(*kerberos_args(answers))),
                      mode="create", deadline_s=30)
    connect = next(r for r in right if r.id == "sql.connect")
    assert connect.status == "pass" and "by Kerberos" in connect.detail, connect
    after = dc_lab.inspect()["sql"]["auth_logins"]
    assert after.get("kerberos", 0) > before.get("kerberos", 0) and after.get("ntlm") == before.get("ntlm"), after
    assert not list((tmp_path / "octotui" / "kerberos").glob("*.ccache")), "the ticket cache was not removed"

    # Without Server SPN, the SPN names the address the string gives, which the domain does not know.
    bare = answers["sql"]["connection_string"].split("Server SPN=")[0]
    port = bare.split(",")[1].split(";")[0]
    unknown = check_sql(bare, SqlIdentity(admin["username"], admin["password"], SqlKerberos(*kerberos_args(answers))),
                        mode="create", deadline_s=30)
    connect = next(r for r in unknown if r.id == "sql.connect")
    assert connect.status == "fail", connect
    assert f"no service principal MSSQLSvc/127.0.0.1:{port}@{dc_lab.ready['dc']['realm']}" in connect.detail, connect
    assert "Server SPN" in connect.hint, connect
