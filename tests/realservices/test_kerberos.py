"""WinRM over Kerberos against the real Samba KDC: the lab's acceptor, the engine's transport, and each
Kerberos failure a user can meet, with the message that names its fix.

The node is the lab's (its WinRM endpoint with the keytab of HTTP/octo1.work.lab from the DC); the tickets
come from the session's Samba DC (``samba_dc``). The engine gets its ticket from the WinRM password: no
kinit, no system krb5.conf (the KDC comes from ``[ad] domain_controller``, as the answers give it).
In CI a machine without python-gssapi fails these tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.remote.errors import RemoteError
from octotui.remote.session import NodeSession
from tests.fixtures.winrm import Lab, lab_world
from tests.realservices.kerberos_realm import KerberosRealm, register
from tests.realservices.samba_dc import SambaDC


def _require_gssapi() -> None:
    try:
        import gssapi  # noqa: F401
    except ImportError as exc:
        message = f"python-gssapi is missing ({exc}): scripts/setup.sh installs libkrb5-dev, krb5-user and gssapi"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def realm(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> KerberosRealm:
    _require_gssapi()
    return register(samba_dc, tmp_path_factory.mktemp("kerberos"), ["OCTO1"], sql=("SQL1", 1433))


@pytest.fixture
def kerberos_lab(realm: KerberosRealm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "home"))
    # Whatever the engine or the lab set for Kerberos is undone after each test.
    for name in ("KRB5_CONFIG", "KRB5_KTNAME", "KRB5CCNAME", "KRB5RCACHETYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KRB5CCNAME", f"MEMORY:octotui-test-{tmp_path.name}")  # no ticket cache from elsewhere
    with lab_world(tmp_path / "lab") as lab:
        lab.runtime.settings.kerberos_keytab = realm.keytab
        lab.runtime.settings.kerberos_realm = realm.realm
        yield lab


def _session(lab: Lab, realm: KerberosRealm, *, host: str = "octo1.work.lab", password: str | None = None,
             kdc: str | None = None, dns_domain: str | None = "work.lab", user: str = "WORK\\labadmin",
             https: bool = False) -> NodeSession:
    ep = lab.endpoints[0] if lab.endpoints else lab.endpoint(tls=https)
    return NodeSession(ep.endpoint_url, user, password if password is not None else
                       realm.dc.account("labadmin").password, transport="kerberos", spn_host=host,
                       kdc=kdc or realm.kdc, dns_domain=dns_domain,
                       ca_cert=str(lab.certs.ca_cert) if https else None, node="OCTO1", connect_timeout=5)


def _failure(session: NodeSession) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        session.run("labwho", deadline_s=30)
    session.close()
    return caught.value


@pytest.mark.parametrize("https", [False, True], ids=["http-sealed", "https"])
def test_engine_runs_commands_over_kerberos_with_only_a_password(kerberos_lab: Lab, realm: KerberosRealm,
                                                                 https: bool) -> None:
    with _session(kerberos_lab, realm, https=https) as session:
        first = session.run("labwho", deadline_s=30)
        second = session.run("labwho", deadline_s=30)
    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stdout_text.strip() == "WORK\\labadmin|network|False"
    # Every WinRM request of the session was carried by Kerberos: none by NTLM, none refused.
    assert set(kerberos_lab.node.auth_requests) == {"kerberos"}, kerberos_lab.node.auth_requests


def test_a_connection_closed_while_idle_is_authenticated_again(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    """Over HTTPS the Kerberos context belongs to the TCP connection: when the node closes it while idle, the
    next request goes out on a new one, is refused (401) and is sent again with a new ticket, not failed."""
    from tests.fixtures.waiting import wait_until

    ep = kerberos_lab.endpoint(tls=True, idle_timeout=0.3)
    with _session(kerberos_lab, realm, https=True) as session:
        assert session.run("labwho", deadline_s=30).exit_code == 0
        wait_until(lambda: ep.open_connections == 0, what="the node closes the idle connection")
        again = session.run("labwho", deadline_s=30)
    assert again.stdout_text.strip() == "WORK\\labadmin|network|False"
    # One request went out without credentials on the new connection and was refused; everything else,
    # including that request sent again, was carried by Kerberos.
    assert kerberos_lab.node.auth_requests == {"none": 1, "kerberos": kerberos_lab.node.http_requests - 1}


def test_engine_uses_a_ticket_cache_when_present(kerberos_lab: Lab, realm: KerberosRealm, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A kinit'ed user needs no password: the ticket cache (KRB5CCNAME) is used first."""
    kinit = shutil.which("kinit")
    assert kinit, "krb5-user (kinit) is installed by scripts/setup.sh"
    cache = tmp_path / "ccache"
    env = dict(os.environ, KRB5_CONFIG=str(realm.krb5_conf), KRB5CCNAME=f"FILE:{cache}")
    done = subprocess.run([kinit, f"labadmin@{realm.realm}"], input=realm.dc.account("labadmin").password + "\n",
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    with _session(kerberos_lab, realm, password="not-the-password") as session:
        result = session.run("labwho", deadline_s=30)
    assert result.stdout_text.strip() == "WORK\\labadmin|network|False"


def test_pypsrp_negotiate_kerberos_is_accepted(kerberos_lab: Lab, realm: KerberosRealm,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An independent client (pypsrp, SPNEGO-wrapped Kerberos, message encryption) is served by the node."""
    from pypsrp.client import Client

    monkeypatch.setenv("KRB5_CONFIG", str(realm.krb5_conf))

    ep = kerberos_lab.endpoint()
    client = Client("127.0.0.1", port=ep.port, ssl=False, auth="negotiate", username=f"labadmin@{realm.realm}",
                    password=realm.dc.account("labadmin").password, negotiate_hostname_override="octo1.work.lab",
                    negotiate_service="HTTP", encryption="always", connection_timeout=10)
    out, err, rc = client.execute_cmd("labwho")
    assert rc == 0, err
    assert out.strip() == "WORK\\labadmin|network|False"
    assert kerberos_lab.node.auth_requests.get("kerberos", 0) >= 1
    assert "ntlm" not in kerberos_lab.node.auth_requests


@pytest.mark.parametrize("protocol", ["negotiate", "kerberos"])
def test_tds_front_accepts_kerberos_logins(realm: KerberosRealm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           protocol: str) -> None:
    """python-tds logs in to the lab's SQL Server with a Kerberos ticket for MSSQLSvc/sql1.work.lab, SPNEGO-wrapped
    (as SqlClient does) or raw (as FreeTDS does), and SQL Server sees the domain account."""
    import pytds
    from pytds.login import SpnegoAuth

    monkeypatch.setenv("KRB5_CONFIG", str(realm.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"MEMORY:tds-{protocol}")
    with _kerberos_sql_server(realm, monkeypatch) as port:
        auth = SpnegoAuth(f"labadmin@{realm.realm}", realm.dc.account("labadmin").password,
                          hostname="sql1.work.lab", service="MSSQLSvc", protocol=protocol)
        with pytds.connect("127.0.0.1", port=port, database="master", auth=auth, login_timeout=10,
                           timeout=10, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT SUSER_SNAME()")
            row = cur.fetchone()
    assert row[0] == "WORK\\labadmin"


def test_engine_sql_checks_log_in_over_kerberos(realm: KerberosRealm, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's sql.* checks with Integrated Security and no password (the console's own ticket): FreeTDS
    sends a raw Kerberos AP-REQ for the connection string's Server SPN, and the lab's SQL Server takes it."""
    from octotui.checks import sql as checks

    cache = tmp_path / "ccache"
    env = dict(os.environ, KRB5_CONFIG=str(realm.krb5_conf), KRB5CCNAME=f"FILE:{cache}")
    done = subprocess.run(["kinit", f"labadmin@{realm.realm}"], input=realm.dc.account("labadmin").password + "\n",
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("KRB5_CONFIG", str(realm.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    with _kerberos_sql_server(realm, monkeypatch) as port:
        cs = (f"Data Source=127.0.0.1,{port};Initial Catalog=OctopusDeploy;Integrated Security=True;"
              "Server SPN=MSSQLSvc/sql1.work.lab:1433")
        results = checks.check_sql(cs)
    by_id = {r.id: r for r in results}
    assert by_id["sql.connect"].status == "pass", by_id["sql.connect"]
    assert "Kerberos" in by_id["sql.connect"].summary + by_id["sql.connect"].detail
    assert by_id["sql.permissions"].status == "pass", by_id["sql.permissions"]


@contextlib.contextmanager
def _kerberos_sql_server(realm: KerberosRealm, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The lab's SQL Server (sql1.work.lab) accepting Kerberos with the realm's keytab, WORK\\labadmin a
    sysadmin login: its port."""
    from octotui.lab.state import Account, Directory, Login, SqlServerState, World
    from octotui.lab.tds import TdsServer

    for name in ("KRB5_KTNAME", "KRB5RCACHETYPE"):  # the TDS front sets them: undone after the test
        monkeypatch.delenv(name, raising=False)
    world = World(directory=Directory(domain="WORK", dns_name="work.lab", accounts={
        "labadmin": Account("labadmin", "lab-side-password", domain_admin=True)}),
        sql=SqlServerState(host="sql1.work.lab", version="15.0.4375.4"))
    world.sql.logins["work\\labadmin"] = Login(name="WORK\\labadmin", server_roles=["sysadmin"])
    server = TdsServer(world, host="127.0.0.1", port=0, kerberos_keytab=realm.keytab)
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


# --- failures, each with its own message and fix -------------------------------------------------------------

def test_no_service_principal_names_the_spn(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    err = _failure(_session(kerberos_lab, realm, host="nospn.work.lab"))
    assert err.kind == "auth"
    assert "no service principal HTTP/nospn.work.lab" in err.message
    assert "setspn" in err.hint


def test_wrong_realm_is_named(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    err = _failure(_session(kerberos_lab, realm, dns_domain="wrong.lab"))
    assert "the realm WRONG.LAB or the user name is wrong" in err.message, err.message
    assert "dns_domain" in err.hint


def test_unreachable_kdc_is_named(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    err = _failure(_session(kerberos_lab, realm, kdc="127.0.0.1:1"))  # a port nothing listens on
    assert "cannot contact the KDC 127.0.0.1:1" in err.message, err.message
    assert "88" in err.hint


def test_wrong_password_is_said_as_such(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    err = _failure(_session(kerberos_lab, realm, password="wrong-password-1"))
    assert "rejected the password of labadmin@WORK.LAB" in err.message, err.message


def test_ip_address_as_name_is_refused_before_connecting(kerberos_lab: Lab, realm: KerberosRealm) -> None:
    with pytest.raises(RemoteError) as caught:
        _session(kerberos_lab, realm, host="127.0.0.1")
    assert caught.value.kind == "config"
    assert "IP address" in caught.value.message and "DNS name" in caught.value.hint


def test_clock_skew_is_named(realm: KerberosRealm, tmp_path: Path) -> None:
    """This machine (the engine and the node beside it) an hour ahead of the DC: a real skew, made with
    libfaketime in a child process. The KDC still issues the ticket (MIT corrects its requests by the KDC's
    time), the node refuses it with KRB_AP_ERR_SKEW, and the engine says so instead of a bare 401."""
    faketime = shutil.which("faketime")
    assert faketime, "faketime is installed by scripts/setup.sh"
    script = tmp_path / "skewed.py"
    script.write_text(SKEWED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
    env.update(OCTOTUI_HOME=str(tmp_path / "home"), KRB5CCNAME="MEMORY:skew",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([faketime, "-f", "+1h", sys.executable, str(script), str(tmp_path / "lab"),
                           str(realm.keytab), realm.dc.account("labadmin").password, realm.kdc],
                          capture_output=True, text=True, timeout=90, env=env)
    assert "clock skew too great" in done.stdout, done.stdout + done.stderr
    assert "synchronise the clocks" in done.stdout


SKEWED = """
import sys
from pathlib import Path
from octotui.remote.errors import RemoteError
from octotui.remote.session import NodeSession
from tests.fixtures.winrm import lab_world

folder, keytab, password, kdc = sys.argv[1:5]
with lab_world(Path(folder)) as lab:
    lab.runtime.settings.kerberos_keytab = Path(keytab)
    ep = lab.endpoint()
    session = NodeSession(ep.endpoint_url, "WORK\\\\labadmin", password, transport="kerberos",
                          spn_host="octo1.work.lab", kdc=kdc, dns_domain="work.lab", node="OCTO1")
    try:
        session.run("labwho", deadline_s=30)
        print("no error")
    except RemoteError as exc:
        print(exc.message)
        print(exc.hint)
    finally:
        session.close()
"""
