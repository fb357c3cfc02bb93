"""The raw XML the endpoint answers, element by element, as Windows shapes it (reference §1.6).

Requests are written by hand here, in both pywinrm's and pypsrp's dialects, and sent with plain
``requests`` and Basic auth (as the node's local Administrator: Windows takes Basic for local
accounts only) to an endpoint that allows unencrypted HTTP, so the replies can be read as
they are on the wire.
"""

from __future__ import annotations

import base64
import http.client
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from octotui.lab.winrm import WinRMEndpoint
from tests.fixtures.winrm import LOCAL_ADMIN, LOCAL_ADMIN_PW, LOCAL_WHO, Lab, lab_world

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_NS = NS["rsp"]
CMD_URI = SHELL_NS + "/cmd"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
Reply = tuple[requests.Response, ET.Element, str]
GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_world(tmp_path_factory.mktemp("winrm-shapes")) as world:
        yield world


@pytest.fixture(scope="module")
def ep(lab: Lab) -> WinRMEndpoint:
    return lab.endpoint(auth="basic", allow_basic_http=True)


class Client:
    """Hand-written WS-Man requests over one keep-alive ``requests`` session."""

    def __init__(self, url: str, dialect: str = "pywinrm") -> None:
        self.url = url
        self.dialect = dialect
        self.session = requests.Session()
        self.session.auth = (LOCAL_ADMIN, LOCAL_ADMIN_PW)
        self.session.trust_env = False

    def envelope(self, action: str, body: str = "", *, shell: str | None = None,
                 options: dict[str, str] | None = None, timeout: str = "PT20S",
                 message_id: str | None = None, max_envelope: int = 153600) -> tuple[str, str]:
        fresh = str(uuid.uuid4())
        mid = message_id or "uuid:" + (fresh.upper() if self.dialect == "pypsrp" else fresh)
        sel = f'<w:SelectorSet><w:Selector Name="ShellId">{shell}</w:Selector></w:SelectorSet>' \
            if shell else ""
        must = 's:mustUnderstand="true"' if self.dialect == "pypsrp" else 'mustUnderstand="true"'
        opts = ""
        if options:
            opts = f"<w:OptionSet {must}>" + "".join(
                f'<w:Option Name="{k}">{v}</w:Option>' for k, v in options.items()) + "</w:OptionSet>"
        extra = ('<p:SessionId s:mustUnderstand="false">uuid:031B57A0-39D0-4573-A35A-05765F6C6B27'
                 "</p:SessionId>" if self.dialect == "pypsrp" else "")
        xml = (
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:p="{NS["p"]}" '
            f'xmlns:rsp="{SHELL_NS}"><s:Header><a:To>http://windows-host:5985/wsman</a:To>'
            f'<a:ReplyTo><a:Address {must}>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
            f'</a:Address></a:ReplyTo><w:MaxEnvelopeSize {must}>{max_envelope}</w:MaxEnvelopeSize>'
            f"<a:MessageID>{mid}</a:MessageID>"
            f'<w:Locale mustUnderstand="false" xml:lang="en-US" /><p:DataLocale mustUnderstand="false" '
            f'xml:lang="en-US" /><w:OperationTimeout>{timeout}</w:OperationTimeout>'
            f'<w:ResourceURI {must}>{CMD_URI}</w:ResourceURI><a:Action {must}>{action}</a:Action>'
            f"{extra}{sel}{opts}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
        return xml, mid

    def post(self, xml: str | bytes) -> requests.Response:
        data = xml.encode() if isinstance(xml, str) else xml
        return self.session.post(self.url, data=data,
                                 headers={"Content-Type": "application/soap+xml;charset=UTF-8"})

    def call(self, action: str, body: str = "", **kwargs: object) -> Reply:
        xml, mid = self.envelope(action, body, **kwargs)  # type: ignore[arg-type]
        resp = self.post(xml)
        return resp, ET.fromstring(resp.content), mid

    def create(self, **options: str) -> str:
        body = "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr" \
               "</rsp:OutputStreams></rsp:Shell>"
        resp, root, _ = self.call(CREATE, body, options=options or {"WINRS_CODEPAGE": "437"})
        assert resp.status_code == 200, resp.text
        return str(root.findtext(".//w:Selector[@Name='ShellId']", namespaces=NS))

    def command(self, shell: str, command: str, *args: str, skip: str | None = None) -> str:
        arguments = "".join(f"<rsp:Arguments>{a}</rsp:Arguments>" for a in args)
        body = f"<rsp:CommandLine><rsp:Command>{command}</rsp:Command>{arguments}</rsp:CommandLine>"
        options = {"WINRS_SKIP_CMD_SHELL": skip} if skip else None
        resp, root, _ = self.call(SHELL_NS + "/Command", body, shell=shell, options=options)
        assert resp.status_code == 200, resp.text
        return str(root.findtext(".//rsp:CommandId", namespaces=NS))

    def receive(self, shell: str, cmd: str, **kwargs: object) -> Reply:
        body = (f'<rsp:Receive><rsp:DesiredStream CommandId="{cmd}">stdout stderr</rsp:DesiredStream>'
                "</rsp:Receive>")
        return self.call(SHELL_NS + "/Receive", body, shell=shell, **kwargs)

    def signal(self, shell: str, cmd: str, code: str = "terminate") -> Reply:
        body = f'<rsp:Signal CommandId="{cmd}"><rsp:Code>{SHELL_NS}/signal/{code}</rsp:Code></rsp:Signal>'
        return self.call(SHELL_NS + "/Signal", body, shell=shell)

    def collect(self, shell: str, cmd: str) -> tuple[bytes, bytes, int, list[ET.Element]]:
        out, err, replies = b"", b"", []
        while True:
            resp, root, _ = self.receive(shell, cmd)
            assert resp.status_code == 200, resp.text
            replies.append(root)
            for stream in root.iterfind(".//rsp:Stream", NS):
                data = base64.b64decode(stream.text or "")
                if stream.get("Name") == "stdout":
                    out += data
                else:
                    err += data
            state = root.find(".//rsp:CommandState", NS)
            assert state is not None
            if state.get("State", "").endswith("/Done"):
                return out, err, int(str(state.findtext("rsp:ExitCode", namespaces=NS))), replies


def check_header(root: ET.Element, action: str, relates_to: str) -> None:
    assert root.findtext("s:Header/a:Action", namespaces=NS) == action
    message_id = str(root.findtext("s:Header/a:MessageID", namespaces=NS))
    assert message_id.startswith("uuid:") and GUID.match(message_id[5:])
    assert root.findtext("s:Header/a:To", namespaces=NS) == \
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    assert root.findtext("s:Header/a:RelatesTo", namespaces=NS) == relates_to


def check_fault(resp: requests.Response, relates_to: str, code: str, subcode: str,
                wsman_code: int) -> ET.Element:
    assert resp.status_code == 500
    root = ET.fromstring(resp.content)
    check_header(root, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to)
    fault = root.find("s:Body/s:Fault", NS)
    assert fault is not None
    assert fault.findtext("s:Code/s:Value", namespaces=NS) == code
    assert fault.findtext("s:Code/s:Subcode/s:Value", namespaces=NS) == subcode
    text = fault.find("s:Reason/s:Text", NS)
    assert text is not None and text.text
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    detail = fault.find("s:Detail/f:WSManFault", NS)
    assert detail is not None
    assert detail.get("Code") == str(wsman_code) and detail.get("Machine") == "127.0.0.1"
    assert "".join(detail.itertext()).strip()
    return fault


@pytest.mark.parametrize("dialect", ["pywinrm", "pypsrp"])
def test_create_command_receive_signal_delete(ep: WinRMEndpoint, dialect: str) -> None:
    c = Client(ep.endpoint_url, dialect)
    body = ("<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr"
            "</rsp:OutputStreams><rsp:IdleTimeOut>PT600S</rsp:IdleTimeOut></rsp:Shell>")
    resp, root, mid = c.call(CREATE, body, options={"WINRS_NOPROFILE": "FALSE", "WINRS_CODEPAGE": "437"})
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/soap+xml;charset=UTF-8"
    check_header(root, CREATE + "Response", mid)
    created = root.find("s:Body/x:ResourceCreated", NS)
    assert created is not None
    assert created.findtext("a:Address", namespaces=NS) == ep.endpoint_url
    assert created.findtext("a:ReferenceParameters/w:ResourceURI", namespaces=NS) == CMD_URI
    shell_id = str(created.findtext("a:ReferenceParameters/w:SelectorSet/w:Selector[@Name='ShellId']",
                                    namespaces=NS))
    assert GUID.match(shell_id)
    shell = root.find("s:Body/rsp:Shell", NS)
    assert shell is not None
    assert [el.tag.split("}")[1] for el in shell] == [
        "ShellId", "ResourceUri", "Owner", "ClientIP", "IdleTimeOut", "InputStreams", "OutputStreams",
        "ShellRunTime", "ShellInactivity"]
    assert shell.findtext("rsp:ShellId", namespaces=NS) == shell_id
    assert shell.findtext("rsp:Owner", namespaces=NS) == LOCAL_WHO
    assert shell.findtext("rsp:ClientIP", namespaces=NS) == "127.0.0.1"
    assert shell.findtext("rsp:IdleTimeOut", namespaces=NS) == "PT600.000S"

    # pywinrm puts all arguments in one element, pypsrp one element each; WinRS joins them with spaces.
    body = ("<rsp:CommandLine><rsp:Command>echo first&amp; labsleep</rsp:Command>"
            "<rsp:Arguments>0.5 second</rsp:Arguments></rsp:CommandLine>") if dialect == "pywinrm" else \
        ("<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Arguments>first&amp;</rsp:Arguments>"
         "<rsp:Arguments>labsleep</rsp:Arguments><rsp:Arguments>0.5</rsp:Arguments>"
         "<rsp:Arguments>second</rsp:Arguments></rsp:CommandLine>")
    skip = "FALSE" if dialect == "pywinrm" else "False"
    resp, root, mid = c.call(SHELL_NS + "/Command", body, shell=shell_id,
                             options={"WINRS_SKIP_CMD_SHELL": skip})
    assert resp.status_code == 200, resp.text
    check_header(root, SHELL_NS + "/CommandResponse", mid)
    cmd = str(root.findtext("s:Body/rsp:CommandResponse/rsp:CommandId", namespaces=NS))
    assert GUID.match(cmd)

    resp, root, mid = c.receive(shell_id, cmd)
    check_header(root, SHELL_NS + "/ReceiveResponse", mid)
    streams = root.findall("s:Body/rsp:ReceiveResponse/rsp:Stream", NS)
    assert [(s.get("Name"), s.get("CommandId"), base64.b64decode(s.text or "")) for s in streams] == \
        [("stdout", cmd, b"first\r\n")]
    state = root.find("s:Body/rsp:ReceiveResponse/rsp:CommandState", NS)
    assert state is not None and state.get("CommandId") == cmd
    assert state.get("State") == SHELL_NS + "/CommandState/Running" and len(state) == 0

    out, err, code, replies = c.collect(shell_id, cmd)
    assert (out, err, code) == (b"second\r\n", b"", 0)
    final = replies[-1].find("s:Body/rsp:ReceiveResponse", NS)
    assert final is not None
    ends = [(s.get("Name"), s.get("End")) for s in final.findall("rsp:Stream", NS) if s.get("End")]
    assert ends == [("stdout", "true"), ("stderr", "true")]
    state = final.find("rsp:CommandState", NS)
    assert state is not None and state.get("State") == SHELL_NS + "/CommandState/Done"
    assert state.findtext("rsp:ExitCode", namespaces=NS) == "0"

    resp, root, mid = c.signal(shell_id, cmd, "terminate" if dialect == "pywinrm" else "Terminate")
    assert resp.status_code == 200
    check_header(root, SHELL_NS + "/SignalResponse", mid)
    signal = root.find("s:Body/rsp:SignalResponse", NS)
    assert signal is not None and len(signal) == 0

    resp, root, mid = c.call(DELETE, shell=shell_id)
    assert resp.status_code == 200
    check_header(root, DELETE + "Response", mid)
    body_el = root.find("s:Body", NS)
    assert body_el is not None and len(body_el) == 0 and not (body_el.text or "").strip()


def test_send_end_attribute_is_case_insensitive(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url, "pypsrp")
    shell = c.create()
    cmd = c.command(shell, "labcat", skip="True")
    data = base64.b64encode(b"abc").decode()
    body = f'<rsp:Send><rsp:Stream Name="stdin" CommandId="{cmd}" End="True">{data}</rsp:Stream></rsp:Send>'
    resp, root, mid = c.call(SHELL_NS + "/Send", body, shell=shell)
    assert resp.status_code == 200
    check_header(root, SHELL_NS + "/SendResponse", mid)
    out, _, code, _ = c.collect(shell, cmd)
    assert out.startswith(b"3 ") and code == 0
    c.call(DELETE, shell=shell)


def test_timed_out_fault(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    shell = c.create()
    cmd = c.command(shell, "labsleep", "5", "x", skip="TRUE")
    resp, _, mid = c.receive(shell, cmd, timeout="PT0.300S")
    fault = check_fault(resp, mid, "s:Receiver", "w:TimedOut", 2150858793)
    reason = str(fault.findtext("s:Reason/s:Text", namespaces=NS))
    assert reason.startswith("The WS-Management service cannot complete the operation within the time "
                             "specified in OperationTimeout")
    c.signal(shell, cmd)
    c.call(DELETE, shell=shell)


def test_invalid_selectors_and_parameter_faults(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    shell = c.create()
    resp, _, mid = c.receive(shell, "00000000-0000-0000-0000-000000000000")
    fault = check_fault(resp, mid, "s:Sender", "w:InvalidSelectors", 2150858843)
    assert fault.findtext("s:Detail/w:FaultDetail", namespaces=NS) == \
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
    resp, _, mid = c.call(SHELL_NS + "/Receive", "<rsp:Receive><rsp:DesiredStream>stdout stderr"
                          "</rsp:DesiredStream></rsp:Receive>", shell=shell)
    fault = check_fault(resp, mid, "s:Sender", "w:InvalidParameter", 87)
    provider = fault.find("s:Detail/f:WSManFault/f:Message/f:ProviderFault", NS)
    assert provider is not None and provider.get("provider") == "Shell cmd plugin"
    cmd = c.command(shell, "echo", "hi")
    resp, _, mid = c.signal(shell, cmd, "bogus")
    check_fault(resp, mid, "s:Sender", "w:InvalidParameter", 87)
    c.signal(shell, cmd)
    c.call(DELETE, shell=shell)
    resp, _, mid = c.call(DELETE, shell=shell)
    check_fault(resp, mid, "s:Sender", "w:InvalidSelectors", 2150858843)


def test_schema_and_action_faults(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    resp = c.post(b"<not xml")
    assert resp.status_code == 500 and b"w:SchemaValidationError" in resp.content
    # pywinrm passes an int IdleTimeOut through as given; Windows wants an xs:duration (pywinrm#377).
    body = ("<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:IdleTimeOut>3600000</rsp:IdleTimeOut>"
            "</rsp:Shell>")
    resp, _, mid = c.call(CREATE, body)
    check_fault(resp, mid, "s:Sender", "w:SchemaValidationError", 2150858817)
    resp, _, mid = c.call("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get")
    check_fault(resp, mid, "s:Sender", "a:ActionNotSupported", 2150858771)


def test_message_id_is_echoed_verbatim(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    odd = "uuid:AbCdEf01-2345-6789-abcd-ef0123456789"
    resp, root, _ = c.call(CREATE, "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams></rsp:Shell>",
                           message_id=odd)
    assert resp.status_code == 200
    check_header(root, CREATE + "Response", odd)
    c.call(DELETE, shell=str(root.findtext(".//w:Selector[@Name='ShellId']", namespaces=NS)))


def test_receive_replies_fit_a_small_client_envelope(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    shell = c.create()
    cmd = c.command(shell, "labbig", "100000", skip="TRUE")
    total, replies = 0, 0
    while True:
        resp, root, _ = c.receive(shell, cmd, max_envelope=16384)
        assert len(resp.content) <= 16384
        replies += 1
        total += sum(len(base64.b64decode(s.text or "")) for s in root.iterfind(".//rsp:Stream", NS))
        state = root.find(".//rsp:CommandState", NS)
        if state is not None and state.get("State", "").endswith("Done"):
            break
    assert total == 100000 and replies >= 7
    c.signal(shell, cmd)
    c.call(DELETE, shell=shell)


def test_keep_alive_and_http_errors(ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    auth = "Basic " + base64.b64encode(f"{LOCAL_ADMIN}:{LOCAL_ADMIN_PW}".encode()).decode()
    xml, _ = c.envelope(CREATE, "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams></rsp:Shell>")
    headers = {"Authorization": auth, "Content-Type": "application/soap+xml;charset=UTF-8"}
    shells = []
    for _ in range(2):  # two requests, one TCP connection
        conn.request("POST", "/wsman", body=xml.encode(), headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Server") == "Microsoft-HTTPAPI/2.0"
        shells.append(str(ET.fromstring(resp.read()).findtext(".//w:Selector", namespaces=NS)))
    conn.request("POST", "/wsman", body=b"", headers={})
    resp = conn.getresponse()
    resp.read()
    challenges = resp.getheader("WWW-Authenticate", "")
    assert resp.status == 401 and 'Basic realm="WSMAN"' in challenges and "CredSSP" in challenges
    conn.close()
    for shell in shells:
        c.call(DELETE, shell=shell)
    assert requests.get(ep.endpoint_url, timeout=10).status_code == 405


def test_unencrypted_body_over_the_limit_is_413(lab: Lab, ep: WinRMEndpoint) -> None:
    c = Client(ep.endpoint_url)
    before = lab.node.http_requests
    resp = c.post(b"<x>" + b"a" * (500 * 1024) + b"</x>")
    assert resp.status_code == 413
    assert lab.node.http_requests == before + 1


def test_counters_and_latency_hook(tmp_path: Path) -> None:
    with lab_world(tmp_path) as lab:
        ep = lab.endpoint(auth="basic", allow_basic_http=True, latency_fn=lambda: 0.2)
        c = Client(ep.endpoint_url)
        started = time.monotonic()
        shell = c.create()
        assert time.monotonic() - started >= 0.2
        assert lab.node.http_requests == 1 and lab.node.shells_opened == 1
        c.call(DELETE, shell=shell)
