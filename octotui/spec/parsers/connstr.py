"""ADO.NET (SqlClient) connection strings, parsed by SqlClient's own rules, and their redaction.

Why our own parser: the string goes verbatim to ``Octopus.Server.exe database --connectionString``, which
reads it with SqlClient; the console also reads it (to check SQL Server from Linux, to key the master key in
the keyring, to mask passwords in logs). Both readings must agree with SqlClient's: keywords are
case-insensitive, surrounding spaces ignored, ``==`` in a keyword is a literal ``=``, a value in ``'...'`` or
``"..."`` doubles its own quote, an unquoted value runs to the next ``;`` and may hold ``=`` and the other
quote, synonyms (``server``, ``addr``, ``database``, ``uid``, ``pwd`` ...) name the same setting, and when a
setting repeats the last one wins. SqlClient rejects keywords it does not know ("Keyword not supported"),
so we report them too. Sources: sql-odbc-tds.md section 3.1 and SqlClient's keyword and synonym tables.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from octotui.secrets.redact import MASK
from octotui.spec.parsers.errors import ParseError, written
from octotui.textsafe import shown

#: Canonical keyword -> its synonyms (lower case). Every spelling maps to one canonical keyword.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Application Intent": ("applicationintent",),
    "Application Name": ("app",),
    "Asynchronous Processing": ("async",),
    "AttachDbFilename": ("extended properties", "initial file name"),
    "Attestation Protocol": (),
    "Authentication": (),
    "Column Encryption Setting": (),
    "Command Timeout": (),
    "Connect Retry Count": ("connectretrycount",),
    "Connect Retry Interval": ("connectretryinterval",),
    "Connect Timeout": ("connection timeout", "timeout"),
    "Connection Reset": (),
    "Context Connection": (),
    "Current Language": ("language",),
    "Data Source": ("addr", "address", "server", "network address"),
    "Enclave Attestation Url": (),
    "Encrypt": (),
    "Enlist": (),
    "Failover Partner": (),
    "Failover Partner SPN": ("failoverpartnerspn",),
    "Host Name In Certificate": ("hostnameincertificate",),
    "Initial Catalog": ("database",),
    "Integrated Security": ("trusted_connection",),
    "IP Address Preference": ("ipaddresspreference",),
    "Load Balance Timeout": ("connection lifetime",),
    "Max Pool Size": (),
    "Min Pool Size": (),
    "Multiple Active Result Sets": ("multipleactiveresultsets",),
    "Multi Subnet Failover": ("multisubnetfailover",),
    "Network Library": ("net", "network"),
    "Packet Size": (),
    "Password": ("pwd",),
    "Persist Security Info": ("persistsecurityinfo",),
    "Pool Blocking Period": ("poolblockingperiod",),
    "Pooling": (),
    "Replication": (),
    "Server Certificate": ("servercertificate",),
    "Server SPN": ("serverspn",),
    "Transaction Binding": (),
    "Transparent Network IP Resolution": ("transparentnetworkipresolution",),
    "Trust Server Certificate": ("trustservercertificate",),
    "Type System Version": (),
    "User ID": ("uid", "user"),
    "User Instance": (),
    "Workstation ID": ("wsid",),
}
_LOOKUP: dict[str, str] = {}
for _canon, _syns in _KEYWORDS.items():
    _LOOKUP[_canon.lower()] = _canon
    for _syn in _syns:
        _LOOKUP[_syn] = _canon

SECRET_KEYWORDS = frozenset({"Password"})
_TRUE = frozenset({"true", "yes", "sspi"})
_FALSE = frozenset({"false", "no"})


def canonical_keyword(keyword: str) -> str | None:
    """The canonical name of a keyword or synonym (``PWD`` -> ``Password``), or None when SqlClient has none."""
    return _LOOKUP.get(keyword.strip().lower())


def known_keywords() -> list[str]:
    return sorted(_LOOKUP)


@dataclass(frozen=True)
class Pair:
    """One ``keyword=value`` as written: the raw keyword, its canonical name (None when unknown), the
    unquoted value, and where the raw value (with its quotes) sits in the text, for redaction."""

    keyword: str
    canonical: str | None
    value: str
    value_start: int
    value_end: int


@dataclass(frozen=True)
class ServerAddress:
    """A Data Source split the way SqlClient splits it: ``[protocol:]host[\\instance][,port]``."""

    host: str
    instance: str | None = None
    port: int | None = None
    protocol: Literal["tcp", "np", "lpc", "admin"] | None = None

    @property
    def is_local(self) -> bool:
        """Names that mean "this machine": on a cluster node they would point each node at itself."""
        return self.host.lower() in ("(local)", ".", "localhost", "(localdb)") or self.protocol == "lpc"

    def __str__(self) -> str:
        text = f"{self.protocol}:" if self.protocol else ""
        text += self.host
        if self.instance:
            text += "\\" + self.instance
        if self.port is not None:
            text += f",{self.port}"
        return text


@dataclass(frozen=True)
class ConnectionString:
    text: str
    pairs: tuple[Pair, ...]
    values: dict[str, str] = field(default_factory=dict)  # canonical -> last value

    def get(self, keyword: str) -> str | None:
        canon = canonical_keyword(keyword)
        return self.values.get(canon) if canon else None

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and self.get(keyword) is not None

    @property
    def unknown_keywords(self) -> list[str]:
        return [p.keyword for p in self.pairs if p.canonical is None]

    @property
    def has_password(self) -> bool:
        return any(p.canonical in SECRET_KEYWORDS for p in self.pairs)

    @property
    def database(self) -> str | None:
        return self.values.get("Initial Catalog")

    @property
    def integrated_security(self) -> bool | None:
        """True/False as SqlClient reads it; None when absent. Raises ParseError on another value."""
        raw = self.values.get("Integrated Security")
        if raw is None:
            return None
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ParseError(f"Integrated Security='{shown(raw)}' is not a value SqlClient accepts",
                         "write Integrated Security=True (or SSPI)")

    @property
    def server(self) -> ServerAddress | None:
        raw = self.values.get("Data Source")
        return parse_data_source(raw) if raw is not None else None

    def render(self, *, mask: bool = False) -> str:
        """The canonical form: one pair per setting (last wins), canonical keywords, quoted where needed,
        ending with ``;``. With ``mask`` the password reads ``********``."""

        out = []
        for key, value in self.values.items():
            written = MASK if mask and key in SECRET_KEYWORDS else value
            out.append(f"{key}={quote_value(written)};")
        return "".join(out)

    def redacted(self) -> str:
        """The text as written, with every password value masked."""
        return redact(self.text)

    def __str__(self) -> str:
        """The text as written: what goes to ``--connectionString`` and the node's scripts (SqlClient reads it
        by the same rules), so the database Octopus opens is the one written in the answers."""
        return self.text


def quote_value(value: str) -> str:
    """Quote a value the way SqlConnectionStringBuilder does, only when it must be."""
    # A leading '=' would be read as the '==' escape of the keyword before it.
    needs = (value != value.strip() or ";" in value or any(ord(c) < 32 for c in value)
             or value[:1] in ("'", '"', "="))
    if not needs:
        return value
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', '""') + '"'


def _error(text: str, pos: int, why: str) -> ParseError:
    near = text[max(0, pos - 10) : pos + 10]
    return ParseError(f"the connection string is not valid at character {pos + 1} (near '{shown(near)}'): {why}",
                      "write it as Keyword=value;Keyword=value; and quote a value that holds ';' in "
                      "double quotes (doubling any \" inside)")


def _parse_pairs(text: str) -> list[Pair]:
    pairs: list[Pair] = []
    n = len(text)
    i = 0
    while i < n:
        while i < n and (text[i].isspace() or text[i] == ";"):
            i += 1
        if i >= n:
            break
        key_chars: list[str] = []
        key_start = i
        while True:
            if i >= n:
                raise _error(text, key_start, f"'{shown(text[key_start:].strip())}' has no '=' and no value")
            c = text[i]
            if c == "=":
                if i + 1 < n and text[i + 1] == "=":
                    key_chars.append("=")
                    i += 2
                    continue
                i += 1
                break
            if c == ";":
                raise _error(text, key_start, f"'{shown(text[key_start:i].strip())}' has no '=' and no value")
            if c == "\x00":
                raise _error(text, i, "it contains a NUL character")
            key_chars.append(c)
            i += 1
        keyword = "".join(key_chars).strip()
        if not keyword:
            raise _error(text, key_start, "a '=' has no keyword before it")
        while i < n and text[i].isspace():
            i += 1
        value_start = i
        if i < n and text[i] in ("'", '"'):
            quote = text[i]
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise _error(text, value_start, f"the value of '{shown(keyword)}' has no closing {quote}")
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:
                        chars.append(quote)
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            value = "".join(chars)
            value_end = i
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ";":
                raise _error(text, i, f"text follows the closing quote of '{shown(keyword)}'")
        else:
            j = text.find(";", i)
            j = n if j < 0 else j
            raw = text[i:j]
            if "\x00" in raw:
                raise _error(text, i + raw.index("\x00"), "it contains a NUL character")
            value = raw.rstrip()
            value_end = i + len(value)
            i = j
        canon = canonical_keyword(keyword)
        pairs.append(Pair(keyword, canon, value, value_start, value_end))
    return pairs


def parse_connection_string(text: str) -> ConnectionString:
    """Parse by SqlClient's rules; unknown keywords are kept (``unknown_keywords``) for the caller to report."""
    if not isinstance(text, str):
        raise ParseError(f"the connection string must be text, not {written(text)}", "put it in quotes")
    if not text.strip():
        raise ParseError("the connection string is empty",
                         'write it like "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"')
    pairs = _parse_pairs(text)
    values: dict[str, str] = {}
    for p in pairs:
        if p.canonical is not None:
            values.pop(p.canonical, None)  # last wins, and takes the last position
            values[p.canonical] = p.value
    return ConnectionString(text, tuple(pairs), values)


def as_connection_string(value: ConnectionString | str) -> ConnectionString:
    """``value`` as it is when already parsed (the spec's), else parsed: for engine functions that the CLI
    calls with the spec's connection string and the wizard with the text as typed."""
    return value if isinstance(value, ConnectionString) else parse_connection_string(value)


def parse_data_source(text: str) -> ServerAddress:
    """``host``, ``host,port``, ``host\\instance``, ``host\\instance,port``, ``tcp:host,port``, ``(local)``."""
    raw = text.strip()
    if not raw:
        raise ParseError("Data Source is empty", "give the SQL Server's host name, e.g. Data Source=sql01")
    protocol: Literal["tcp", "np", "lpc", "admin"] | None = None
    match = re.match(r"(?i)(tcp|np|lpc|admin):", raw)
    if match:
        low = match.group(1).lower()
        protocol = "tcp" if low == "tcp" else "np" if low == "np" else "lpc" if low == "lpc" else "admin"
        raw = raw[match.end() :].strip()
    port: int | None = None
    if "," in raw:
        raw, _, port_text = raw.rpartition(",")
        port_text = port_text.strip()
        if not port_text.isdigit() or not port_text.isascii() or not 1 <= int(port_text) <= 65535:
            raise ParseError(f"Data Source '{shown(text)}': '{shown(port_text)}' is not a TCP port",
                             "write the port after a comma, e.g. sql01,1433")
        port = int(port_text)
        raw = raw.strip()
    instance: str | None = None
    if "\\" in raw and protocol != "np":
        raw, _, instance = raw.partition("\\")
        if not instance or "\\" in instance or len(instance) > 16:
            raise ParseError(f"Data Source '{shown(text)}': '{shown(instance)}' is not a SQL Server instance name",
                             "write it as host\\INSTANCE (instance names have at most 16 characters)")
    if not raw:
        raise ParseError(f"Data Source '{shown(text)}' has no host", "write it like sql01 or sql01\\INSTANCE")
    return ServerAddress(raw, instance, port, protocol)


_FALLBACK = re.compile(r"""(?ix)
    (?<!\w)((?:password|pwd)\s*=\s*)
    ( "(?:[^"]|"")*" | '(?:[^']|'')*' | [^;"'\r\n]* )
""")


def redact(text: str) -> str:
    """The text with every Password/PWD value replaced by ``********``, everything else as written.

    Parsed by the real rules when the text is a valid connection string (so a quoted password holding ``;``
    is masked whole); otherwise a pattern masks what looks like a password, so that even a broken string
    never shows one."""

    try:
        pairs = _parse_pairs(text)
    except ParseError:
        return _FALLBACK.sub(lambda m: m.group(1) + MASK, text)
    out: list[str] = []
    last = 0
    for p in pairs:
        if p.canonical in SECRET_KEYWORDS:
            out.append(text[last : p.value_start])
            out.append(MASK)
            last = p.value_end
    out.append(text[last:])
    return "".join(out)


def octopus_problems(cs: ConnectionString) -> list[ParseError]:
    """What would stop an Octopus HA cluster from using this string, each with its fix. The answers file
    holds no secret, so SQL logins (which need a password) are refused in favour of Windows auth."""
    problems: list[ParseError] = []
    for key in cs.unknown_keywords:
        low = key.strip().lower()
        close = difflib.get_close_matches(low, list(_LOOKUP), n=1, cutoff=0.75)
        hint = f"did you mean '{_LOOKUP[close[0]]}'?" if close else "remove it"
        if low.replace(" ", "") == "integratedsecurity":
            hint = "write 'Integrated Security' with a space: SqlClient does not know 'IntegratedSecurity'"
        problems.append(ParseError(f"SqlClient does not support the keyword '{shown(key)}'", hint))
    if cs.has_password:
        problems.append(ParseError(
            "the connection string holds a password, and the answers file must never hold a secret",
            "remove Password/PWD and use Windows authentication: Integrated Security=True (each node connects "
            "as the Octopus service account)"))
    server = None
    try:
        server = cs.server
    except ParseError as exc:
        problems.append(exc)
    if server is None and "Data Source" not in cs.values:
        problems.append(ParseError("the connection string has no Data Source",
                                   "add Data Source=<SQL Server host>[\\instance][,port]"))
    elif server is not None:
        if server.is_local:
            problems.append(ParseError(
                f"Data Source '{shown(server)}' means the node itself: every node would use its own SQL Server",
                "give the shared SQL Server's host name (or the availability group listener)"))
        if server.protocol in ("np", "lpc", "admin"):
            problems.append(ParseError(f"Data Source uses the '{server.protocol}:' protocol",
                                       "use TCP: write the host (optionally tcp:host,port)"))
    if not cs.database:
        problems.append(ParseError("the connection string names no database",
                                   "add Initial Catalog=<database name>, e.g. Initial Catalog=Octopus"))
    try:
        integrated = cs.integrated_security
    except ParseError as exc:
        problems.append(exc)
        integrated = True
    auth = (cs.values.get("Authentication") or "").replace(" ", "").lower()
    if auth and auth not in ("activedirectoryintegrated", "sqlpassword") and "password" in auth:
        problems.append(ParseError(f"Authentication={cs.values['Authentication']} needs a password",
                                   "use Integrated Security=True"))
    if not integrated and auth != "activedirectoryintegrated" and not cs.has_password:
        problems.append(ParseError(
            "the connection string does not use Windows authentication, and a SQL login would need a password "
            "in the answers file", "add Integrated Security=True (the nodes connect as the service account)"))
    return problems
