"""The one redactor every writer (journal, step logs, exports, terminal, error messages) passes text through.

Why one, and why both values and patterns: a secret reaches output in ways no single rule catches. The
values we know (the passwords and master key octotui looked up) are registered and masked wherever they
appear, also in the encodings they travel in (JSON strings, URL encoding, PowerShell and connection-string
quoting, XML, C-runtime argv quoting, and base64 of their UTF-8 and UTF-16LE bytes as inside a PowerShell
``-EncodedCommand``). Values we never saw (a master key printed by ``show-master-key``, a password in a
connection string someone typed) are masked by pattern: the value after ``--password``, ``--masterKey``,
``--licenseBase64``, ``--apiKey``, ``--pw`` and the rest of OctopusDSC's list, ``Password=``/``PWD=`` in
connection strings, ``OCTOPUS_SERVICE_PASSWORD=`` and other secret-named variables, and JSON fields named
like ``password``. One compiled regular expression does all of it in one pass; registration recompiles
it under a lock, readers use whichever compiled state is current. ``StreamRedactor`` handles output that
arrives in chunks, holding back a tail so that a secret split across two chunks is still masked.
"""

from __future__ import annotations

import base64
import codecs
import html
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass

from octotui.crt import crt_escape

#: What stands where a secret was, in every output octotui writes (logs, plans, messages, exports).
MASK = "********"
#: Shorter values are not registered: masking two letters everywhere would wreck every log, and no
#: Windows password policy allows a secret that short.
MIN_SECRET_LENGTH = 4

#: Command-line options whose value is secret: the one list, for the redactor's patterns and for
#: ``octotui.windows.octopus.masked_argv``. Sources (reference/octopus-server.md):
SECRET_OPTIONS: tuple[str, ...] = (
    # §1.1 "Secrets in arguments": OctopusDSC's Get-MaskedOutput list.
    "masterKey", "license", "licence", "trust", "password", "remove-trust", "apiKey", "pw", "pfx-password",
    "proxyPassword",
    # §1.3 license: --licenseBase64 carries the licence itself.
    "licenseBase64",
    # §1.3 configure, auth providers: --azureADClientSecret, and the --ldap* family's Password.
    "azureADClientSecret", "ldapPassword",
    # Not in the reference, kept because masking one option too many never leaks anything: the bare
    # spelling of a client secret, and the passphrase of octotui's encrypted secrets file (README).
    "clientSecret", "passphrase",
)
_SECRET_OPTION_NAMES = frozenset(o.lower() for o in SECRET_OPTIONS)
_SECRET_WORDS = r"password|passwd|pwd|secret|master_?key|api_?key|passphrase|license_?base64|token"

_QUOTED = r'"(?:[^"\\\r\n]|\\.|"")*"|\'(?:[^\'\r\n]|\'\')*\''
_OPTIONS = "|".join(sorted((re.escape(o) for o in SECRET_OPTIONS), key=len, reverse=True))

#: (prefix, value) pairs: the prefix is kept, the value masked (its surrounding quotes kept).
_PATTERNS: tuple[tuple[str, str], ...] = (
    # --password VALUE, --masterKey=VALUE, -pw:VALUE, /password VALUE
    (rf"(?<![\w-])(?:--?|/)(?i:{_OPTIONS})(?:[=:][ \t]*|[ \t]+)", rf"{_QUOTED}|\S+"),
    # "password": "VALUE" (JSON), also with single quotes (Python repr)
    (rf"\"(?i:[^\"\\\r\n]*(?:{_SECRET_WORDS})[^\"\\\r\n]*)\"[ \t]*:[ \t]*", r'"(?:[^"\\\r\n]|\\.)*"'),
    (rf"'(?i:[^'\\\r\n]*(?:{_SECRET_WORDS})[^'\\\r\n]*)'[ \t]*:[ \t]*", r"'(?:[^'\\\r\n]|\\.)*'"),
    # OCTOPUS_SERVICE_PASSWORD=VALUE, $env:OCTOTUI_MASTER_KEY = 'VALUE', export DB_PASSWORD=VALUE
    (r"(?<![\w$])(?:(?i:\$env:))?[A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|MASTER_?KEY|API_?KEY)"
     r"[A-Z0-9_]*[ \t]*=[ \t]*", rf"{_QUOTED}|[^\r\n&|]*"),
    # Password=VALUE; PWD={VALUE} in connection strings (ADO.NET and ODBC)
    (r"(?<![\w-])(?i:password|pwd)[ \t]*=[ \t]*",
     r'\{(?:[^}\r\n]|\}\})*\}|"(?:[^"\r\n]|"")*"|\'(?:[^\'\r\n]|\'\')*\'|[^;"\r\n]*'),
)


def is_secret_option(option: str) -> bool:
    """True for an option whose value must never be shown (``--masterKey``, ``--password``,
    ``--licenseBase64``, ...). Accepts ``--name``, ``-name``, ``/name``, ``--name=value`` or a bare name, any case."""
    return option.lstrip("-/").split("=", 1)[0].lower() in _SECRET_OPTION_NAMES


def _base64_cores(data: bytes) -> list[str]:
    """The parts of base64 text that are the same wherever ``data`` sits in a longer encoded stream.

    Base64 encodes 3 bytes as 4 characters, so ``data`` encodes differently at each of the 3 offsets it can
    start at; for each offset, drop the characters that also depend on neighbouring bytes."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        start = 4 if offset else 0
        total = offset + len(data)
        end = len(encoded) - (4 if total % 3 else 0)
        core = encoded[start:end]
        if len(core) >= 8:
            cores.append(core)
    return cores


def encodings_of(secret: str) -> set[str]:
    """The forms a secret takes in the text octotui writes or reads back."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        # surrogatepass, as for base64 below: a secret read with surrogateescape (an environment variable
        # holding bytes that are not UTF-8) must register, not raise.
        urllib.parse.quote(secret, safe="", errors="surrogatepass"),
        urllib.parse.quote_plus(secret, safe="", errors="surrogatepass"),
        secret.replace("'", "''"),
        secret.replace('"', '""'),
        html.escape(secret, quote=True),
        html.escape(secret, quote=False),
        crt_escape(secret, closing_quote=True),
    }
    for encoding in ("utf-8", "utf-16-le"):
        forms.update(_base64_cores(secret.encode(encoding, "surrogatepass")))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


#: Every pattern needs one of these words; text without any of them can only hold registered values, so
#: most log lines skip the patterns (a cheap search instead of five expensive ones).
_TRIGGER = re.compile(r"(?i)pw|pass|secret|master|api|licen|trust|token")


@dataclass(frozen=True)
class _State:
    combined: re.Pattern[str]  # patterns and registered forms
    literal: re.Pattern[str] | None  # registered forms only
    longest: int  # the longest registered form, for stream hold-back
    multiline: bool  # a registered form holds a newline

    def regex_for(self, text: str) -> re.Pattern[str] | None:
        """The cheapest regex that finds everything the combined one would in ``text``."""
        if _TRIGGER.search(text):
            return self.combined
        return self.literal


def _compile(forms: set[str]) -> _State:
    parts = [f"(?P<p{i}>{prefix})(?P<v{i}>{value})" for i, (prefix, value) in enumerate(_PATTERNS)]
    literal = None
    if forms:
        alternation = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        parts.append(f"(?P<lit>{alternation})")
        literal = re.compile(f"(?P<lit>{alternation})")
    longest = max((len(f) for f in forms), default=0)
    return _State(re.compile("|".join(parts)), literal, longest, any("\n" in f or "\r" in f for f in forms))


def _replace(match: re.Match[str]) -> str:
    if match.lastgroup == "lit":
        return MASK
    for i in range(len(_PATTERNS)):
        value = match.group(f"v{i}")
        if value is None:
            continue
        prefix = match.group(f"p{i}")
        if not value:
            return prefix
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return f"{prefix}{value[0]}{MASK}{value[0]}"
        if len(value) >= 2 and value[0] == "{" and value[-1] == "}":
            return f"{prefix}{{{MASK}}}"
        return prefix + MASK
    return MASK


class Redactor:
    """Masks registered secrets and secret-shaped values. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._state = _compile(self._forms)

    def add(self, secret: str | None) -> None:
        """Register a secret value (and its encodings). Too-short or empty values are ignored."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        forms = encodings_of(secret)
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            self._state = _compile(self._forms)

    def add_many(self, secrets: list[str]) -> None:
        for s in secrets:
            self.add(s)

    @property
    def registered(self) -> int:
        """How many forms are registered (never the values themselves)."""
        return len(self._forms)

    def redact(self, text: str) -> str:
        regex = self._state.regex_for(text)
        return regex.sub(_replace, text) if regex is not None else text

    __call__ = redact

    def redact_bytes(self, data: bytes, encoding: str = "utf-8") -> bytes:
        """Bytes in, bytes out, in the same encoding; undecodable bytes pass through unchanged."""
        return self.redact(data.decode(encoding, "surrogateescape")).encode(encoding, "surrogateescape")

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)

    def byte_stream(self, encoding: str = "utf-8") -> BytesStreamRedactor:
        return BytesStreamRedactor(self, encoding)

    def _snapshot(self) -> _State:
        return self._state


class StreamRedactor:
    """Redacts text arriving in chunks: ``feed`` returns what is safe to write now, ``flush`` the rest.

    It emits whole lines where it can (the patterns never span a line), and on a very long line keeps back
    a tail as long as the longest secret form; a match that straddles the cut moves the cut before it.
    One instance per stream; ``feed`` may be called from any thread (calls are serialised)."""

    #: A line longer than this is emitted without waiting for its end (with the tail kept back).
    MAX_PENDING = 16384
    #: The tail kept back on such a line; covers the longest pattern prefix (``"...password": "``).
    MIN_HOLD = 512

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._buffer = ""
        self._lock = threading.Lock()

    def feed(self, text: str) -> str:
        with self._lock:
            self._buffer += text
            state = self._redactor._snapshot()
            buf = self._buffer
            cut = max(buf.rfind("\n"), buf.rfind("\r")) + 1
            hold = max(self.MIN_HOLD, state.longest)
            if len(buf) - cut > self.MAX_PENDING:
                cut = len(buf) - hold
            if state.multiline:
                cut = min(cut, max(0, len(buf) - state.longest))
            if cut <= 0:
                return ""
            out: list[str] = []
            pos = 0
            regex = state.regex_for(buf)
            for m in regex.finditer(buf) if regex is not None else ():
                if m.start() >= cut:
                    break
                if m.end() > cut:
                    cut = m.start()
                    break
                out.append(buf[pos : m.start()])
                out.append(_replace(m))
                pos = m.end()
            out.append(buf[pos:cut])
            self._buffer = buf[cut:]
            return "".join(out)

    def flush(self) -> str:
        with self._lock:
            rest, self._buffer = self._buffer, ""
            return self._redactor.redact(rest)


class BytesStreamRedactor:
    """``StreamRedactor`` for byte streams in a known encoding; a character split across chunks is decoded
    whole, and undecodable bytes survive unchanged (``surrogateescape``)."""

    def __init__(self, redactor: Redactor, encoding: str = "utf-8") -> None:
        self._text = StreamRedactor(redactor)
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")

    def feed(self, data: bytes) -> bytes:
        return self._text.feed(self._decoder.decode(data)).encode(self._encoding, "surrogateescape")

    def flush(self) -> bytes:
        tail = self._text.feed(self._decoder.decode(b"", final=True)) + self._text.flush()
        return tail.encode(self._encoding, "surrogateescape")


_default: Redactor | None = None
_default_lock = threading.Lock()


def default_redactor() -> Redactor:
    """The process-wide redactor: secrets looked up anywhere are registered here, writers mask through it."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Redactor()
        return _default
