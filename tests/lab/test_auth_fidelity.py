"""Authentication as Windows and SQL Server do it, seen by clients that are not the engine's.

- python-tds's ``SpnegoAuth`` (Negotiate, as SqlClient logs in) sends SPNEGO-wrapped NTLM and its next token in
  a LOGIN7-typed packet; SQL Server takes both, so the lab's TDS front must too.
- WS-Man Identify (what ``Test-WSMan`` sends): anonymous with ``WSMANIDENTIFY: unauthenticated`` it gets 200 and
  an IdentifyResponse that hides the OS; authenticated, the node's OS version.
- ``lab inspect`` counts the WinRM requests by the authentication method that carried them.
"""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests_ntlm import HttpNtlmAuth

from octotui.lab.inspect import inspect_world
from octotui.lab.state import World
from octotui.lab.tds import TdsServer
from tests.fixtures.winrm import ADMIN, ADMIN_PW, Lab, lab_world
from tests.lab.test_tds_front import ADMIN_PW as SQL_ADMIN_PW
from tests.lab.test_tds_front import build_world

NS_ID = "{http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd}"
IDENTIFY = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>")
SOAP = "application/soap+xml;charset=UTF-8"


# --- TDS: Negotiate (SPNEGO) logins ----------------------------------------------------------------------------

@pytest.fixture
def tds_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, TdsServer]]:
    world = build_world()
    store = tmp_path / "ntlm_users"
    store.write_text("".join(f"WORK:{a.sam}:{a.password}\n:{a.sam}:{a.password}\n"
                             for a in world.directory.accounts.values()), encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(store))
    server = TdsServer(world, host="127.0.0.1", port=0)
    server.start()
    world.sql.port = server.port
    try:
        yield world, server
    finally:
        server.stop()


def _pytds_login(port: int, user: str, password: str) -> str:
    import pytds
    from pytds.login import SpnegoAuth

    auth = SpnegoAuth(user, password, hostname="127.0.0.1", service="MSSQLSvc", protocol="negotiate")
    with pytds.connect("127.0.0.1", port=port, database="master", auth=auth, login_timeout=10, timeout=10,
                       autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT SUSER_SNAME()")
        row = cur.fetchone()
        return str(row[0])


def test_pytds_negotiate_login_is_a_windows_login(tds_world: tuple[World, TdsServer]) -> None:
    _, server = tds_world
    assert _pytds_login(server.port, "WORK\\labadmin", SQL_ADMIN_PW) == "WORK\\labadmin"


def test_pytds_negotiate_wrong_password_is_refused(tds_world: tuple[World, TdsServer]) -> None:
    import pytds

    _, server = tds_world
    with pytest.raises(pytds.tds_base.Error) as caught:
        _pytds_login(server.port, "WORK\\labadmin", "not-the-password")
    assert "untrusted domain" in str(caught.value)


# --- WS-Man Identify ------------------------------------------------------------------------------------------

@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_world(tmp_path / "lab") as lab:
        yield lab


def _identify_fields(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    response = root.find(f".//{NS_ID}IdentifyResponse")
    assert response is not None, body
    return {child.tag.removeprefix(NS_ID): (child.text or "") for child in response}


def test_anonymous_identify_is_answered_without_credentials(lab: Lab) -> None:
    ep = lab.endpoint()
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    conn.request("POST", "/wsman", body=IDENTIFY, headers={"Content-Type": SOAP, "WSMANIDENTIFY": "unauthenticated"})
    reply = conn.getresponse()
    body = reply.read()
    assert reply.status == 200, body
    fields = _identify_fields(body)
    assert fields["ProtocolVersion"] == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
    assert fields["ProductVendor"] == "Microsoft Corporation"
    assert fields["ProductVersion"] == "OS: 0.0.0 SP: 0.0 Stack: 3.0"
    # Without the header (and without credentials) it is an ordinary unauthenticated request: 401.
    conn.request("POST", "/wsman", body=IDENTIFY, headers={"Content-Type": SOAP})
    refused = conn.getresponse()
    refused.read()
    assert refused.status == 401


def test_authenticated_identify_reports_the_os(lab: Lab) -> None:
    ep = lab.endpoint(tls=True)
    reply = requests.post(ep.endpoint_url, data=IDENTIFY, headers={"Content-Type": SOAP},
                          auth=HttpNtlmAuth(ADMIN, ADMIN_PW), verify=str(lab.certs.ca_cert), timeout=10)
    assert reply.status_code == 200, reply.text
    fields = _identify_fields(reply.content)
    assert fields["ProductVersion"] == f"OS: {lab.node.os_version} SP: 0.0 Stack: 3.0"
    assert "SecurityProfiles" in fields
    assert "Fault" not in reply.text


# --- lab inspect: requests per authentication method ----------------------------------------------------------

def test_inspect_counts_requests_per_authentication_method(lab: Lab) -> None:
    ep = lab.endpoint()
    protocol = lab.protocol(ep, "ntlm")
    shell = protocol.open_shell()
    protocol.close_shell(shell)
    requests.post(ep.endpoint_url, data=b"", timeout=10)  # no credentials at all
    node = next(n for n in inspect_world(lab.world)["nodes"] if n["name"] == "OCTO1")
    counts = node["auth_requests"]
    assert set(counts) == {"ntlm", "none"}, counts
    assert counts["ntlm"] >= 3  # the handshake legs, Create and Delete
    assert sum(counts.values()) == node["http_requests"]


# --- the NTLM challenge names the node and its domain ---------------------------------------------------------

def test_ntlm_challenge_names_the_node_and_its_domain(lab: Lab) -> None:
    import base64

    import spnego
    from spnego._ntlm_raw.messages import AvId, Challenge

    ep = lab.endpoint()
    client = spnego.client(ADMIN, ADMIN_PW, protocol="ntlm")
    negotiate = client.step()
    assert negotiate is not None
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    conn.request("POST", "/wsman", body=b"", headers={"Authorization": f"Negotiate {base64.b64encode(negotiate).decode()}",
                                                       "Content-Type": SOAP})
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 401
    header = reply.getheader("WWW-Authenticate") or ""
    challenge = Challenge.unpack(base64.b64decode(header.split(" ", 1)[1]))
    info = challenge.target_info
    assert info is not None
    assert challenge.target_name == "WORK"
    assert info[AvId.nb_computer_name] == "OCTO1"
    assert info[AvId.nb_domain_name] == "WORK"
    assert info[AvId.dns_computer_name] == "octo1.work.lab"
    assert info[AvId.dns_domain_name] == "work.lab"
    # The renamed challenge still completes: the client's answer (and its MIC over the challenge) is accepted.
    authenticate = client.step(base64.b64decode(header.split(" ", 1)[1]))
    assert authenticate is not None
    conn.request("POST", "/wsman", body=b"", headers={
        "Authorization": f"Negotiate {base64.b64encode(authenticate).decode()}", "Content-Type": SOAP})
    done = conn.getresponse()
    done.read()
    assert done.status == 200


# --- lab up --dc without the Kerberos libraries ---------------------------------------------------------------

def test_lab_up_dc_without_gssapi_says_what_to_install(tmp_path: Path) -> None:
    """The nodes accept Kerberos with --dc: without python-gssapi (its import blocked in the child) the lab
    refuses to start and names the packages, before it provisions anything."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['gssapi'] = None\n"
            "from octotui.cli.main import main\n"
            f"sys.exit(main(['lab', 'up', '--state', {str(tmp_path / 'state')!r}, '--dc', '--nodes', '1']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "python-gssapi" in done.stderr and "libkrb5-dev" in done.stderr, done.stderr
    assert not (tmp_path / "state" / "dc" / "lab.keytab").exists()
