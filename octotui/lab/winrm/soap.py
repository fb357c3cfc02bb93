"""WS-Management SOAP: reading requests as tolerantly as WinRM does, writing replies as Windows words them.

Clients differ (pywinrm, pypsrp, Ansible): prefixes, the case of MessageIDs and option values, one or many
``Arguments``. The parser therefore matches header elements by local name and compares option values
case-insensitively. Replies are string templates copied in shape from envelopes recorded on real Windows
hosts, because clients pick values out of them by position and attribute (pywinrm takes the first element
with ``Name="ShellId"``, pypsrp compares ``RelatesTo`` as an exact string).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_MSWSMAN = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = NS_SHELL + "/Command"
ACTION_SEND = NS_SHELL + "/Send"
ACTION_RECEIVE = NS_SHELL + "/Receive"
ACTION_SIGNAL = NS_SHELL + "/Signal"

STATE_RUNNING = NS_SHELL + "/CommandState/Running"
STATE_DONE = NS_SHELL + "/CommandState/Done"

#: What pywinrm always advertises; used when a request carries no MaxEnvelopeSize at all.
DEFAULT_CLIENT_ENVELOPE = 153600
#: The server's MaxTimeoutms (60 s by default): a longer OperationTimeout is cut to this (MS-WSMV 3.1.4.1.6).
MAX_TIMEOUT_S = 60.0


def escape(text: str) -> str:
    return _escape(text)


def attr(text: str) -> str:
    """An attribute value with its quotes, escaped."""
    return quoteattr(text)


def new_guid() -> str:
    """Windows writes GUIDs upper-case (MessageIDs, ShellIds, CommandIds)."""
    return str(uuid.uuid4()).upper()


# --- faults ---------------------------------------------------------------------------------------


@dataclass
class WsmanFault(Exception):
    """A fault as WinRM sends it: HTTP 500 with a SOAP Fault; ``detail_xml`` is extra ``s:Detail`` content."""

    code: str  # "s:Sender" | "s:Receiver"
    subcode: str  # e.g. "w:InvalidSelectors"
    reason: str
    wsman_code: int | None = None
    message: str | None = None  # the f:Message text; defaults to ``reason``
    fault_detail: str | None = None  # w:FaultDetail URI
    provider_fault: bool = False  # wrap the message in f:ProviderFault (winrscmd.dll), as shell errors are
    status: int = 500

    def __str__(self) -> str:
        return f"{self.subcode} ({self.wsman_code}): {self.reason}"


_TIMED_OUT_TEXT = ("The WS-Management service cannot complete the operation within the time specified in "
                   "OperationTimeout.  ")


def timed_out() -> WsmanFault:
    """No output before OperationTimeout; clients poll again (ERROR_WSMAN_OPERATION_TIMEDOUT)."""
    return WsmanFault("s:Receiver", "w:TimedOut", _TIMED_OUT_TEXT, 2150858793)


def unknown_shell(shell_id: str) -> WsmanFault:
    return WsmanFault(
        "s:Sender", "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        2150858843,
        message=f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell "
                "was not found on the server. Possible causes are: the specified ShellId is incorrect or the "
                "shell no longer exists on the server. Provide the correct ShellId or create a new shell and "
                "retry the operation. ",
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def unknown_command() -> WsmanFault:
    return WsmanFault(
        "s:Sender", "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        2150858843,
        message="The Windows Remote Shell received a request to perform an operation on a command identifier "
                "that does not exist. Either the command has completed execution or the client specified an "
                "invalid command identifier. ",
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def invalid_parameter() -> WsmanFault:
    """What the shell plugin answers to a request it cannot use (missing CommandId, bad signal, ...)."""
    return WsmanFault(
        "s:Sender", "w:InvalidParameter", "The parameter is incorrect. ", 87,
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
        provider_fault=True,
    )


def schema_error() -> WsmanFault:
    """Malformed XML, or a value that is not of its schema type (e.g. ``IdleTimeOut`` given as a bare int)."""
    return WsmanFault(
        "s:Sender", "w:SchemaValidationError",
        "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML "
        "and retry. ",
        2150858817,
    )


def action_not_supported(action: str) -> WsmanFault:
    return WsmanFault(
        "s:Sender", "a:ActionNotSupported",
        "The action is not supported by the service. ",
        2150858771,
        message=f"The WS-Management service cannot process the request because the WS-Addressing Action URI "
                f"{action} is not supported. ",
    )


def resource_not_found() -> WsmanFault:
    """Any resource URI but the cmd shell: this lab offers no PSRP, WMI or config resources."""
    return WsmanFault(
        "s:Sender", "w:DestinationUnreachable",
        "The WS-Management service cannot process the request. The service cannot find the resource "
        "identified by the resource URI and selectors. ",
        2150858752,
    )


def max_shells(limit: int) -> WsmanFault:
    """MaxShellsPerUser exceeded on Create: MS-WSMV 3.1.4.5.2.1 names wsman:QuotaLimit for it; the code is
    ERROR_WSMAN_QUOTA_MAX_SHELLS (0x803381A5) and the text is the one PowerShell users see."""
    return WsmanFault(
        "s:Sender", "w:QuotaLimit",
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
        f"{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for "
        f"this user. ",
        2150859173,
    )


def internal_error() -> WsmanFault:
    """The lab's injected server failure (fault kind ``wsman500``).

    The code is 0x800703FA (2147943418, ERROR_KEY_DELETED), the InternalError real WinRM hosts are known to
    return when the service's user profile was unloaded under it: a transient, server-side failure that a
    client can only retry.
    """
    return WsmanFault(
        "s:Receiver", "w:InternalError",
        "Illegal operation attempted on a registry key that has been marked for deletion. ",
        2147943418,
    )


def directory_invalid() -> WsmanFault:
    """A shell whose WorkingDirectory does not exist: CreateProcess fails with ERROR_DIRECTORY (267)."""
    return WsmanFault("s:Receiver", "w:InternalError", "The directory name is invalid. ", 267,
                      provider_fault=True)


# --- requests -------------------------------------------------------------------------------------


@dataclass
class WsmanRequest:
    action: str
    message_id: str | None
    resource_uri: str
    max_envelope_size: int
    operation_timeout: float
    selectors: dict[str, str] = field(default_factory=dict)  # lower-case name -> value
    options: dict[str, str] = field(default_factory=dict)  # lower-case name -> value
    body: ET.Element | None = None  # the first child of s:Body


def local(tag: str) -> str:
    """``{ns}Name`` -> ``Name``."""
    return tag.rsplit("}", 1)[-1]


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d*)?)D)?(?:T(?:(?P<h>\d+(?:\.\d*)?)H)?(?:(?P<m>\d+(?:\.\d*)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d*)?)S)?)?$"
)


def parse_duration(text: str) -> float | None:
    """xs:duration as WS-Man uses it (``PT20S``, ``PT7200.000S``, ``P0DT0H0M5S``); None if it is not one."""
    m = _DURATION.match(text.strip())
    if m is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_request(data: bytes) -> WsmanRequest:
    """Read what the server needs from a request envelope; raise WsmanFault when it cannot."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise schema_error() from None
    if local(root.tag) != "Envelope":
        raise schema_error()
    header: ET.Element | None = None
    body_el: ET.Element | None = None
    for child in root:
        name = local(child.tag)
        if name == "Header":
            header = child
        elif name == "Body":
            body_el = child
    if header is None or body_el is None:
        raise schema_error()
    action = message_id = None
    resource_uri = ""
    max_env = DEFAULT_CLIENT_ENVELOPE
    timeout = MAX_TIMEOUT_S
    selectors: dict[str, str] = {}
    options: dict[str, str] = {}
    for el in header:
        name = local(el.tag)
        text = (el.text or "").strip()
        if name == "Action":
            action = text
        elif name == "MessageID":
            message_id = el.text or ""
        elif name == "ResourceURI":
            resource_uri = text
        elif name == "MaxEnvelopeSize":
            try:
                max_env = int(text)
            except ValueError:
                raise schema_error() from None
        elif name == "OperationTimeout":
            seconds = parse_duration(text)
            if seconds is None:
                raise schema_error()
            timeout = min(seconds, MAX_TIMEOUT_S)
        elif name == "SelectorSet":
            for sel in el:
                selectors[sel.get("Name", "").lower()] = (sel.text or "").strip()
        elif name == "OptionSet":
            for opt in el:
                options[opt.get("Name", "").lower()] = (opt.text or "").strip()
    if not action:
        raise schema_error()
    body = next(iter(body_el), None)
    return WsmanRequest(action=action, message_id=message_id, resource_uri=resource_uri,
                        max_envelope_size=max_env, operation_timeout=timeout, selectors=selectors,
                        options=options, body=body)


def option_true(value: str | None) -> bool:
    """Option booleans arrive as TRUE/FALSE (pywinrm), True/False (pypsrp) or 1/0."""
    return (value or "").strip().lower() in ("true", "1", "yes")


def peek_message_id(data: bytes) -> str | None:
    """The MessageID of a request that will not be fully processed (an injected fault), if it parses."""
    try:
        return parse_request(data).message_id
    except WsmanFault:
        return None


# --- replies --------------------------------------------------------------------------------------

_ENVELOPE_NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)
_FAULT_NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)


def _header(action: str, relates_to: str | None) -> str:
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to is not None else ""
    return (f"<s:Header><a:Action>{escape(action)}</a:Action><a:MessageID>uuid:{new_guid()}</a:MessageID>"
            f"<p:ActivityId>{new_guid()}</p:ActivityId><a:To>{ANONYMOUS}</a:To>{relates}</s:Header>")


#: Bytes an envelope adds around its body; used to keep Receive replies under the client's MaxEnvelopeSize.
ENVELOPE_OVERHEAD = 1200


def envelope(action: str, relates_to: str | None, body: str) -> bytes:
    """A reply: Action = request action + ``Response``, a fresh upper-case MessageID, RelatesTo echoed."""
    return (f'<s:Envelope xml:lang="en-US" {_ENVELOPE_NS}>{_header(action, relates_to)}'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def fault_envelope(fault: WsmanFault, relates_to: str | None, machine: str) -> bytes:
    detail = ""
    if fault.fault_detail:
        detail += f"<w:FaultDetail>{escape(fault.fault_detail)}</w:FaultDetail>"
    if fault.wsman_code is not None:
        text = escape(fault.message if fault.message is not None else fault.reason)
        if fault.provider_fault:
            text = ('<f:ProviderFault provider="Shell cmd plugin" '
                    'path="%systemroot%\\system32\\winrscmd.dll">' + text + "</f:ProviderFault>")
        detail += (f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{fault.wsman_code}" Machine={attr(machine)}>'
                   f"<f:Message>{text}</f:Message></f:WSManFault>")
    body = (f"<s:Fault><s:Code><s:Value>{escape(fault.code)}</s:Value><s:Subcode><s:Value>"
            f"{escape(fault.subcode)}</s:Value></s:Subcode></s:Code><s:Reason>"
            f'<s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
            f"<s:Detail>{detail}</s:Detail></s:Fault>")
    return (f'<s:Envelope xml:lang="en-US" {_FAULT_NS}>{_header(FAULT_ACTION, relates_to)}'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()
