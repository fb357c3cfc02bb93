"""Basic authentication logs on a node's LOCAL accounts only, as Windows' WinRM does.

Windows' WinRM service takes Basic for local (SAM) accounts and answers a domain account over Basic with
401, however right its password; NTLM and Kerberos carry domain accounts. A lab that took
``WORK\\labadmin`` over Basic would pass an answers file that every real node refuses. These tests speak to
a fully wired node (as ``lab up`` wires it) with clients the engine does not use: raw ``http.client`` with an
``Authorization: Basic`` header, and pypsrp. A process in a Basic session runs as the local account, which
no other machine knows: SQL Server and the share see ANONYMOUS LOGON.
"""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypsrp.exceptions import AuthenticationError
from pypsrp.shell import Process, WinRS
from pypsrp.wsman import WSMan

from octotui.lab import shares, sqlserver
from octotui.lab.identity import ANONYMOUS, Identity
from octotui.lab.ntlm_users import write_user_file
from octotui.lab.provision import LOCAL_ADMIN, SHARE_NAME, new_world
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import Login, World
from octotui.lab.winrm import WinRMEndpoint
from octotui.lab.wiring import all_programs, all_services

CREATE_SHELL = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>'
    "<a:To>http://windows-host:5985/wsman</a:To>"
    '<a:ReplyTo><a:Address mustUnderstand="true">'
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
    '<w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize>'
    "<a:MessageID>uuid:7b1c3f0e-5d2a-4c47-9a61-0f3e2b1d4c55</a:MessageID>"
    "<w:OperationTimeout>PT20S</w:OperationTimeout>"
    '<w:ResourceURI mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
    "</w:ResourceURI>"
    '<a:Action mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action>'
    "</s:Header><s:Body><rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
    "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell></s:Body></s:Envelope>"
)


@dataclass
class Node:
    world: World
    endpoint: WinRMEndpoint

    @property
    def port(self) -> int:
        return int(self.endpoint.endpoint_url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def local_password(self) -> str:
        return self.world.nodes[0].local_accounts[LOCAL_ADMIN.lower()].password

    @property
    def domain_password(self) -> str:
        return self.world.directory.accounts["labadmin"].password


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    world = new_world(2)
    runtime = NodeRuntime(world, world.nodes[0], LabSettings(), all_programs(), all_services())
    ntlm = write_user_file(world, Path(tmp_path_factory.mktemp("ntlm")) / "ntlm-users.txt")
    # NTLM and Basic on one plain-HTTP listener: Auth/Basic=true with AllowUnencrypted=true.
    endpoint = WinRMEndpoint(runtime, auth="ntlm", allow_basic_http=True, ntlm_user_file=ntlm)
    endpoint.start()
    try:
        yield Node(world, endpoint)
    finally:
        endpoint.stop()


def basic_create(node: Node, username: str, password: str) -> tuple[int, str, bytes]:
    """One WS-Man Create over a raw connection with a hand-made Basic header: status, challenge, body."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        conn.request("POST", "/wsman", body=CREATE_SHELL.encode(), headers={
            "Authorization": f"Basic {token}", "Content-Type": "application/soap+xml;charset=UTF-8"})
        resp = conn.getresponse()
        return resp.status, ", ".join(resp.headers.get_all("WWW-Authenticate") or []), resp.read()
    finally:
        conn.close()


def whoami(node: Node, auth: str, username: str, password: str) -> str:
    wsman = WSMan("127.0.0.1", port=node.port, ssl=False, auth=auth, username=username, password=password,
                  encryption="never" if auth == "basic" else "auto", operation_timeout=20, read_timeout=30)
    with WinRS(wsman) as shell:
        proc = Process(shell, "whoami")
        proc.invoke()
    assert proc.rc == 0, proc.stderr
    out: bytes = proc.stdout
    return out.decode().strip()


def test_domain_account_over_basic_is_401_even_with_its_password(node: Node) -> None:
    for name in ("WORK\\labadmin", "labadmin@work.lab", "labadmin", ".\\labadmin"):
        status, challenge, body = basic_create(node, name, node.domain_password)
        assert status == 401, name
        assert 'Basic realm="WSMAN"' in challenge and b"ShellId" not in body


def test_the_nodes_local_administrator_logs_on_over_basic(node: Node) -> None:
    for name in ("Administrator", ".\\Administrator", "OCTO1\\Administrator", "octo1\\administrator"):
        status, _, body = basic_create(node, name, node.local_password)
        assert status == 200 and b'Name="ShellId"' in body, name


def test_local_logon_refuses_a_wrong_password_or_another_machines_account(node: Node) -> None:
    assert basic_create(node, "Administrator", "not-the-password")[0] == 401
    assert basic_create(node, "OCTO2\\Administrator", node.local_password)[0] == 401  # OCTO2's, not this node's


def test_pypsrp_over_basic_runs_as_the_local_account(node: Node) -> None:
    assert whoami(node, "basic", "Administrator", node.local_password) == "octo1\\administrator"
    with pytest.raises(AuthenticationError, match=r"Failed to authenticate the user WORK.labadmin with basic"):
        whoami(node, "basic", "WORK\\labadmin", node.domain_password)


def test_ntlm_still_carries_the_domain_account(node: Node) -> None:
    assert whoami(node, "ntlm", "WORK\\labadmin", node.domain_password) == "work\\labadmin"


def test_a_local_account_is_nobody_to_sql_server_and_the_share(node: Node) -> None:
    """Even with its password in hand (an interactive logon) and a login and a share grant naming it, a
    node's local account goes out to another machine as ANONYMOUS LOGON: no other machine knows it."""
    world = node.world
    local = Identity("OCTO1\\Administrator", "interactive")
    with world.lock:
        world.sql.logins["octo1\\administrator"] = Login(name="OCTO1\\Administrator", kind="windows",
                                                         server_roles=["sysadmin"])
        share = world.files.share(SHARE_NAME)
        assert share is not None
        share.acl["OCTO1\\Administrator"] = "full"
    try:
        assert shares.network_account(world, local, machine="OCTO1") == ANONYMOUS
        assert shares.unc_access(world, local, f"\\\\127.0.0.1\\{SHARE_NAME}", "read",
                                 machine="OCTO1") == shares.ACCESS_DENIED
        with pytest.raises(sqlserver.SqlError) as refused:
            sqlserver.connect(world, "Data Source=127.0.0.1;Integrated Security=True;", local, machine="OCTO1")
        assert ANONYMOUS in str(refused.value)
        domain = Identity("WORK\\labadmin", "interactive")  # the same checks let a domain account through
        assert shares.unc_access(world, domain, f"\\\\127.0.0.1\\{SHARE_NAME}", "read", machine="OCTO1") is None
    finally:
        with world.lock:
            del world.sql.logins["octo1\\administrator"]
            if share is not None:
                del share.acl["OCTO1\\Administrator"]
