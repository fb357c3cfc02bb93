"""HTTP.sys URL prefixes as Octopus's ``--webListenPrefixes`` takes them, and TCP ports.

Why parse: Octopus hands each prefix to HTTP.sys (``HttpAddUrl``), which refuses a missing scheme, a query
string, a bad port or a host like ``+foo``, and only when the service starts on the node. The rules are
Microsoft's "UrlPrefix Strings": ``scheme://host:port/path/`` where the scheme is http or https, the host is
``+`` (strong wildcard: every name), ``*`` (weak wildcard: names no other prefix claims), a DNS name, an IPv4
address or a bracketed IPv6 address, and the port is given (the scheme's default is filled in when left
out; Octopus's own examples omit it). The path ends with ``/``; one is added when missing, as Octopus does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from octotui.spec.parsers.errors import ParseError, written
from octotui.spec.parsers.hostnames import parse_host
from octotui.textsafe import shown

HostKind = Literal["strong", "weak", "dns", "ipv4", "ipv6"]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_port(value: object, what: str = "port") -> int:
    """A TCP port 1-65535 given as a TOML integer (not a string, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        quoted = isinstance(value, str) and value.strip().isdigit()
        raise ParseError(f"the {what} must be a whole number from 1 to 65535, not {written(value)}",
                         f"write the number without quotes: {value.strip()}" if isinstance(value, str) and quoted
                         else "write a number between 1 and 65535")
    if not 1 <= value <= 65535:
        raise ParseError(f"the {what} {value} is outside 1-65535", "use a TCP port between 1 and 65535")
    return value


@dataclass(frozen=True)
class ListenPrefix:
    scheme: Literal["http", "https"]
    host: str  # "+", "*", a DNS name, an IPv4 address or an IPv6 address (without brackets)
    host_kind: HostKind
    port: int
    path: str  # starts and ends with "/"

    @property
    def is_https(self) -> bool:
        return self.scheme == "https"

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if self.host_kind == "ipv6" else self.host

    @property
    def key(self) -> str:
        return str(self).lower()

    def __str__(self) -> str:
        return f"{self.scheme}://{self.url_host}:{self.port}{self.path}"


def parse_listen_prefix(text: str) -> ListenPrefix:
    """Parse one prefix; ``str()`` of the result is its canonical form with port and trailing slash."""
    if not isinstance(text, str) or not text:
        raise ParseError("the listen prefix is empty", "write it like http://+:80/")
    if text != text.strip() or any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):  # C0, DEL, C1
        raise ParseError(f"'{shown(text)}' contains spaces or control characters", "write it like http://+:80/")
    if "," in text or ";" in text:
        raise ParseError(f"'{shown(text)}' holds more than one prefix",
                         'list each prefix on its own: listen_prefixes = ["http://+:80/", "https://+:443/"]')
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise ParseError(f"'{shown(text)}' has no scheme", f"write it like http://{shown(text.strip('/'))}/")
    scheme_l = scheme.lower()
    if scheme_l not in _DEFAULT_PORTS:
        raise ParseError(f"'{shown(text)}': the scheme must be http or https, not '{shown(scheme)}'",
                         "use http:// or https://")
    if "?" in rest or "#" in rest:
        raise ParseError(f"'{shown(text)}' has a query string or fragment, which HTTP.sys does not accept",
                         "remove everything from ? or #")
    if "@" in rest.split("/", 1)[0]:
        raise ParseError(f"'{shown(text)}' holds user information before the host", "remove the user@ part")
    authority, slash, path = rest.partition("/")
    path = "/" + path if slash else "/"
    if not authority:
        raise ParseError(f"'{shown(text)}' has no host", "write it like http://+:80/ (+ means every host name)")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise ParseError(f"'{shown(text)}': the IPv6 address has no closing ']'",
                             "write it like http://[::1]:80/")
        host_text, after = authority[: end + 1], authority[end + 1 :]
        if after and not after.startswith(":"):
            raise ParseError(f"'{shown(text)}': unexpected text after the IPv6 address",
                             "write it like http://[::1]:80/")
        port_text = after[1:] if after else None
    elif authority.count(":") > 1:
        raise ParseError(f"'{shown(text)}': an IPv6 address must be in brackets",
                         "write it like http://[fe80::1]:80/")
    else:
        host_text, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
    if port_text is None:
        port = _DEFAULT_PORTS[scheme_l]
    else:
        if not port_text.isdigit() or not port_text.isascii():
            raise ParseError(f"'{shown(text)}': the port '{shown(port_text)}' is not a number",
                             "write it like http://+:8080/")
        port = parse_port(int(port_text), "port of the listen prefix")
    kind: HostKind
    if host_text == "+":
        host, kind = "+", "strong"
    elif host_text == "*":
        host, kind = "*", "weak"
    elif host_text.startswith(("+", "*")):
        raise ParseError(f"'{shown(text)}': '{shown(host_text[0])}' is a wildcard and must stand alone as the host",
                         "write http://+:80/ or name the host")
    else:
        try:
            parsed = parse_host(host_text)
        except ParseError as exc:
            raise ParseError(f"'{shown(text)}': the host is not valid: {exc.message}", exc.fix) from None
        host, kind = parsed.value, parsed.kind
    if "\\" in path or ("%" in path and not _valid_percent(path)):
        raise ParseError(f"'{shown(text)}': the path contains a backslash or a bad %-escape",
                         "use / in the path")
    if not path.endswith("/"):
        path += "/"
    if "//" in path:
        raise ParseError(f"'{shown(text)}': the path has an empty segment (//)", "remove the extra slash")
    return ListenPrefix("https" if scheme_l == "https" else "http", host, kind, port, path)


def _valid_percent(path: str) -> bool:
    i = path.find("%")
    while i >= 0:
        if len(path) < i + 3 or not all(c in "0123456789abcdefABCDEF" for c in path[i + 1 : i + 3]):
            return False
        i = path.find("%", i + 3)
    return True
