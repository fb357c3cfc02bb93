"""WS-Management Identify (DSP0226 §11; MS-WSMV 3.1.4.14): what ``Test-WSMan`` asks a listener first.

Windows answers an Identify sent with ``WSMANIDENTIFY: unauthenticated`` and no credentials with 200 and an
IdentifyResponse whose ProductVersion hides the OS (``OS: 0.0.0 SP: 0.0 Stack: 3.0``); an authenticated
Identify gets the real OS version and the security profile the caller authenticated with. An Identify
carries no Action, ResourceURI or To header, so it must be recognised before the WS-Man header checks
(which would fault it as a schema violation).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_IDENTITY = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
PROTOCOL_VERSION = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
_PROFILES = {
    "kerberos": "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos",
    "ntlm": "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos",
    "basic": "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic",
    "credssp": "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos",
    "certificate": "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual",
}


def wants_unauthenticated(header: str) -> bool:
    """The request's ``WSMANIDENTIFY`` header asks for an anonymous Identify."""
    return header.strip().lower() == "unauthenticated"


def is_identify(body: bytes) -> bool:
    """A SOAP envelope whose body is ``wsmid:Identify``."""
    if b"Identify" not in body:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    soap_body = root.find(f"{{{NS_SOAP}}}Body")
    if root.tag != f"{{{NS_SOAP}}}Envelope" or soap_body is None:
        return False
    children = list(soap_body)
    return len(children) == 1 and children[0].tag == f"{{{NS_IDENTITY}}}Identify"


def response(os_version: str | None, method: str | None) -> bytes:
    """The IdentifyResponse: ``os_version`` None for an anonymous caller (Windows then reports 0.0.0)."""
    version = escape(os_version) if os_version else "0.0.0"
    profile = _PROFILES.get(method or "")
    profiles = (f"<wsmid:SecurityProfiles><wsmid:SecurityProfileName>{profile}</wsmid:SecurityProfileName>"
                "</wsmid:SecurityProfiles>") if os_version and profile else ""
    return (f'<s:Envelope xml:lang="en-US" xmlns:s="{NS_SOAP}"><s:Header/><s:Body>'
            f'<wsmid:IdentifyResponse xmlns:wsmid="{NS_IDENTITY}">'
            f"<wsmid:ProtocolVersion>{PROTOCOL_VERSION}</wsmid:ProtocolVersion>"
            "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
            f"<wsmid:ProductVersion>OS: {version} SP: 0.0 Stack: 3.0</wsmid:ProductVersion>"
            f"{profiles}</wsmid:IdentifyResponse></s:Body></s:Envelope>").encode()
