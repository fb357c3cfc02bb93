"""The lab's own reading of ADO.NET (SqlClient) connection strings.

The simulated ``Octopus.Server.exe`` and service receive connection strings exactly as the installer
wrote them; SqlClient's rules decide whether they work, so the lab applies those rules itself (keywords
case-insensitive, synonyms, ``'`` / ``"`` quoting with doubled quotes, last keyword wins) and fails
with SqlClient's own words. It shares no code with the engine's builder, so a quoting bug there cannot
hide behind the same bug here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

#: Synonym (lower case) -> canonical keyword (lower case), after SqlClient's DbConnectionStringSynonyms.
_SYNONYMS: dict[str, str] = {
    "addr": "data source", "address": "data source", "server": "data source",
    "network address": "data source",
    "database": "initial catalog",
    "trusted_connection": "integrated security",
    "uid": "user id", "user": "user id",
    "pwd": "password",
    "app": "application name",
    "applicationintent": "application intent",
    "connection timeout": "connect timeout", "timeout": "connect timeout", "connecttimeout": "connect "
                                                                                             "timeout",
    "connectretrycount": "connect retry count", "connectretryinterval": "connect retry interval",
    "extended properties": "attachdbfilename", "initial file name": "attachdbfilename",
    "failoverpartner": "failover partner", "failoverpartnerspn": "failover partner spn",
    "hostnameincertificate": "host name in certificate", "servercertificate": "server certificate",
    "ipaddresspreference": "ip address preference",
    "language": "current language",
    "multipleactiveresultsets": "multiple active result sets",
    "multisubnetfailover": "multi subnet failover",
    "net": "network library", "network": "network library",
    "packetsize": "packet size",
    "persistsecurityinfo": "persist security info",
    "poolblockingperiod": "pool blocking period",
    "serverspn": "server spn",
    "transparentnetworkipresolution": "transparent network ip resolution",
    "trustservercertificate": "trust server certificate",
    "workstationid": "workstation id", "wsid": "workstation id",
    "connection lifetime": "load balance timeout",
    "columnencryption": "column encryption setting",
    "async": "asynchronous processing",
}

#: Canonical SqlClient keywords (lower case), after DbConnectionStringKeywords.
_KEYWORDS = frozenset({
    "application intent", "application name", "asynchronous processing", "attachdbfilename",
    "attestation protocol", "authentication", "column encryption setting", "command timeout",
    "connection reset", "connect retry count", "connect retry interval", "connect timeout",
    "context connection", "current language", "data source", "enclave attestation url", "encrypt", "enlist",
    "failover partner", "failover partner spn", "host name in certificate", "initial catalog",
    "integrated security", "ip address preference", "load balance timeout", "max pool size", "min pool size",
    "multiple active result sets", "multi subnet failover", "network library", "packet size", "password",
    "persist security info", "pool blocking period", "pooling", "replication", "server certificate",
    "server spn", "transaction binding", "transparent network ip resolution", "trust server certificate",
    "type system version", "user id", "user instance", "workstation id",
})

_BOOLEAN_KEYWORDS = frozenset({
    "multi subnet failover", "trust server certificate", "pooling", "persist security info",
    "multiple active result sets", "enlist", "replication", "user instance", "context connection",
    "asynchronous processing", "connection reset", "transparent network ip resolution",
})

_SECRET_KEYWORDS = frozenset({"password"})


class ConnectionStringError(ValueError):
    """What SqlClient throws (an ArgumentException) for a connection string it will not accept."""


@dataclass(frozen=True)
class _Pair:
    keyword: str  # lower case, as typed (synonyms not yet resolved)
    value: str
    start: int  # index of the pair in the string, as SqlClient reports it
    value_start: int
    value_end: int


@dataclass(frozen=True)
class SqlConnectionOptions:
    """What the lab acts on in a SqlClient connection string; ``values`` holds every canonical keyword."""

    data_source: str = ""
    initial_catalog: str = ""
    integrated_security: bool = False
    user_id: str = ""
    password: str = ""
    values: dict[str, str] = field(default_factory=dict)


def _format_error(index: int) -> ConnectionStringError:
    return ConnectionStringError(
        f"Format of the initialization string does not conform to specification starting at index {index}.")


def _pairs(text: str) -> Iterator[_Pair]:
    """Walk ``keyword=value`` pairs by SqlClient's state machine, keeping where each value lies."""
    n, i = len(text), 0
    while i < n:
        while i < n and (text[i].isspace() or text[i] == ";"):
            i += 1
        if i >= n:
            return
        start = i
        key_chars: list[str] = []
        while True:
            if i >= n:
                raise _format_error(start)
            ch = text[i]
            if ch == "=":
                if i + 1 < n and text[i + 1] == "=":  # "==" inside a keyword is a literal "="
                    key_chars.append("=")
                    i += 2
                    continue
                i += 1
                break
            if ch == ";":
                raise _format_error(start)
            key_chars.append(ch)
            i += 1
        keyword = "".join(key_chars).strip()
        if not keyword:
            raise _format_error(start)
        while i < n and text[i].isspace() and text[i] != ";":
            i += 1
        if i < n and text[i] in "'\"":
            quote = text[i]
            i += 1
            value_start = i
            chars: list[str] = []
            while True:
                if i >= n:
                    raise _format_error(start)
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:
                        chars.append(quote)
                        i += 2
                        continue
                    break
                chars.append(text[i])
                i += 1
            value_end = i
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ";":
                raise _format_error(start)
            value = "".join(chars)
        else:
            value_start = i
            while i < n and text[i] != ";":
                if text[i] in "\x00\r\n":
                    raise _format_error(start)
                i += 1
            value = text[value_start:i].rstrip()
            value_end = value_start + len(value)
        yield _Pair(keyword.lower(), value, start, value_start, value_end)


def canonical_keyword(keyword: str) -> str:
    """Map any accepted spelling to SqlClient's canonical keyword; raise for one it does not support."""
    low = keyword.lower().strip()
    canon = _SYNONYMS.get(low, low)
    if canon not in _KEYWORDS:
        raise ConnectionStringError(f"Keyword not supported: '{low}'.")
    return canon


def _parse_bool(canon: str, value: str, extra_true: tuple[str, ...] = ()) -> bool:
    v = value.strip().lower()
    if v in ("true", "yes", *extra_true):
        return True
    if v in ("false", "no"):
        return False
    raise ConnectionStringError(f"Invalid value for key '{canon}'.")


def parse(text: str) -> SqlConnectionOptions:
    """Parse as ``new SqlConnection(text)`` would; raises ConnectionStringError with SqlClient's message."""
    values: dict[str, str] = {}
    for pair in _pairs(text):
        values[canonical_keyword(pair.keyword)] = pair.value
    for canon, value in values.items():
        if canon in _BOOLEAN_KEYWORDS:
            _parse_bool(canon, value)
    integrated = False
    if "integrated security" in values:
        integrated = _parse_bool("integrated security", values["integrated security"], ("sspi",))
    return SqlConnectionOptions(
        data_source=values.get("data source", ""),
        initial_catalog=values.get("initial catalog", ""),
        integrated_security=integrated,
        user_id=values.get("user id", ""),
        password=values.get("password", ""),
        values=values,
    )


def redact(text: str, mask: str = "********") -> str:
    """The connection string with every password value masked, for logs; unparsable text is masked whole."""
    try:
        pairs = list(_pairs(text))
    except ConnectionStringError:
        return mask if any(k in text.lower() for k in ("password", "pwd")) else text
    out, last = [], 0
    for pair in pairs:
        if _SYNONYMS.get(pair.keyword, pair.keyword) in _SECRET_KEYWORDS and pair.value:
            out.append(text[last:pair.value_start])
            out.append(mask)
            last = pair.value_end
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class DataSource:
    """``Data Source`` taken apart: protocol prefix, host, instance name and port."""

    protocol: str  # "" | "tcp" | "np" | "lpc" | "admin"
    host: str
    instance: str
    port: int | None


def split_data_source(data_source: str) -> DataSource:
    """``[tcp:]host[\\instance][,port]`` as SqlClient reads it (a given port wins over the instance)."""
    text = data_source.strip()
    protocol = ""
    head, sep, rest = text.partition(":")
    if sep and head.lower() in ("tcp", "np", "lpc", "admin"):
        protocol, text = head.lower(), rest.strip()
    port: int | None = None
    if "," in text:
        text, _, port_text = text.partition(",")
        port_text = port_text.strip()
        port = int(port_text) if port_text.isdigit() else -1
    host, _, instance = text.strip().partition("\\")
    return DataSource(protocol=protocol, host=host.strip(), instance=instance.strip(), port=port)
