"""Host names as Windows and DNS accept them: DNS names (RFC 1123), NetBIOS computer names, IPv4 and IPv6.

Why parse rather than match loosely: a node's host ends up in a WinRM URL, a Kerberos SPN and an Octopus
node name; an underscore, a 16-character computer name or ``1.2.3`` (neither a name nor an address) each
fail far from the answers file. The rules here are RFC 1123 section 2.1 (labels of letters, digits and
hyphens, 1-63 characters, not starting or ending with a hyphen, 253 characters in all), RFC 3696 section 2
(a top-level label is not all digits) and Microsoft's computer-name rules (NetBIOS names at most 15
characters; not all digits).
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass
from typing import Literal

from octotui.spec.parsers.errors import ParseError
from octotui.textsafe import shown

HostKind = Literal["dns", "ipv4", "ipv6"]

NETBIOS_MAX = 15
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-")


@dataclass(frozen=True)
class Host:
    """A parsed host: ``value`` is the canonical text (DNS names keep their case; no trailing dot; IPv6
    without brackets) and ``url_host`` the form that goes between ``//`` and ``:port`` in a URL."""

    kind: HostKind
    value: str

    @property
    def is_ip(self) -> bool:
        return self.kind != "dns"

    @property
    def url_host(self) -> str:
        return f"[{self.value}]" if self.kind == "ipv6" else self.value

    @property
    def key(self) -> str:
        """For duplicate detection: DNS is case-insensitive; addresses compare in their canonical form."""
        return self.value.lower()

    def __str__(self) -> str:
        return self.value


def _check_label(label: str, whole: str) -> None:
    if not label:
        raise ParseError(f"'{shown(whole)}' has an empty label (two dots in a row, or a leading dot)",
                         "write the name without empty parts, e.g. octo1.example.com")
    if len(label) > 63:
        raise ParseError(f"the label '{shown(label[:20])}...' in '{shown(whole)}' is {len(label)} characters long; "
                         "DNS allows at most 63", "shorten that part of the name")
    bad = sorted({c for c in label if c not in _LABEL_CHARS})
    if bad:
        chars = shown(" ".join(repr(c) for c in bad))
        fix = "use only letters, digits and hyphens"
        if "_" in bad:
            fix += " (an underscore is not allowed in a host name)"
        if any(ord(c) > 127 for c in bad):
            fix += "; write an internationalised name in its xn-- (punycode) form"
        raise ParseError(f"'{shown(whole)}' contains {chars}, which a DNS host name cannot", fix)
    if label.startswith("-") or label.endswith("-"):
        raise ParseError(f"the label '{shown(label)}' in '{shown(whole)}' starts or ends with a hyphen",
                         "a hyphen may only stand between letters or digits")


def parse_dns_name(text: str) -> str:
    """A DNS host name by RFC 1123; returns it without a trailing dot."""
    if not isinstance(text, str) or not text:
        raise ParseError("the host name is empty", "give the node's DNS name, e.g. octo1.example.com")
    if text != text.strip():
        raise ParseError(f"'{shown(text)}' has leading or trailing spaces", "remove the spaces")
    name = text[:-1] if text.endswith(".") and len(text) > 1 else text
    if len(name) > 253:
        raise ParseError(f"the host name is {len(name)} characters long; DNS allows at most 253",
                         "use a shorter name")
    labels = name.split(".")
    for label in labels:
        _check_label(label, text)
    if len(labels) > 1 and labels[-1].isdigit():
        raise ParseError(f"'{shown(text)}' is neither an IPv4 address nor a host name (its last label is all "
                         "digits)",
                         "write a full IPv4 address (four numbers 0-255) or a DNS name")
    if len(labels) == 1 and name.isdigit():
        raise ParseError(f"'{shown(text)}' is all digits: not a host name",
                         "write the computer's name or its IP address")
    return name


def parse_ip(text: str) -> Host | None:
    """An IPv4 or IPv6 address (IPv6 optionally in brackets), or None when ``text`` is not one."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        addr = ipaddress.ip_address(candidate)
    except ValueError:
        if text.startswith("["):
            raise ParseError(f"'{shown(text)}' is not a valid IPv6 address",
                             "write it like [fe80::1] or without brackets") from None
        return None
    if isinstance(addr, ipaddress.IPv4Address):
        if text.startswith("["):
            raise ParseError(f"'{shown(text)}': brackets are for IPv6 addresses only", "remove the brackets")
        return Host("ipv4", str(addr))
    return Host("ipv6", str(addr))


def parse_host(text: str) -> Host:
    """A DNS name, an IPv4 address or an IPv6 address."""
    if not isinstance(text, str) or not text:
        raise ParseError("the host is empty", "give the node's DNS name or IP address")
    ip = parse_ip(text)
    if ip is not None:
        return ip
    if "/" in text or "\\" in text:
        raise ParseError(f"'{shown(text)}' is not a host name (it contains a slash)",
                         "give only the host, e.g. octo1.example.com; a full URL goes in 'endpoint'")
    if ":" in text:
        raise ParseError(f"'{shown(text)}' contains ':' but is not an IPv6 address",
                         "give the host alone; put a port in the [winrm] port key or the endpoint URL")
    return Host("dns", parse_dns_name(text))


def parse_netbios_name(text: str) -> str:
    """A Windows computer (NetBIOS) name: a DNS-compatible label of at most 15 characters, not all digits."""
    if not isinstance(text, str) or not text:
        raise ParseError("the name is empty", "give the computer name, e.g. OCTO1")
    if "." in text:
        raise ParseError(f"'{shown(text)}' contains a dot; a computer name is one label",
                         f"write only the first part, e.g. '{shown(text.split('.')[0])}'")
    _check_label(text, text)
    if len(text) > NETBIOS_MAX:
        raise ParseError(f"'{shown(text)}' is {len(text)} characters long; a Windows computer name has at most "
                         "15",
                         f"shorten it, e.g. '{shown(text[:NETBIOS_MAX].rstrip('-'))}'")
    if text.isdigit():
        raise ParseError(f"'{shown(text)}' is all digits; Windows does not allow that for a computer name",
                         "add a letter")
    return text


def netbios_from_host(host: Host) -> str | None:
    """What Windows would call the machine given its DNS name: the first label, upper-cased and cut to 15
    characters (the way Windows derives the NetBIOS name). None for an IP address: there is no name to take."""
    if host.kind != "dns":
        return None
    first = host.value.split(".")[0][:NETBIOS_MAX].rstrip("-")
    if not first or first.isdigit():
        return None
    return first.upper()
