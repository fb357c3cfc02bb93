"""Which encoding a log file is in, and how one of its lines becomes text.

Windows tools write logs in several encodings: Octopus (NLog) writes UTF-8, PowerShell's ``Out-File`` and
many installers write UTF-16 LE with a byte-order mark, msiexec and older tools write the ANSI code page
(cp1252 on western systems), and a file appended to by two tools holds a mix. The index works on bytes,
so all it needs is where a newline is: ``\\n`` for the 8-bit encodings, the two-byte ``\\n\\x00`` (LE) or
``\\x00\\n`` (BE) at an even offset for UTF-16. Text is decoded one line at a time, so a line in cp1252 in
an otherwise UTF-8 file reads right instead of spoiling the file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

#: How much of a file's start is looked at to guess its encoding.
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Encoding:
    """An encoding as the index and the reader need it."""

    name: str  # "utf-8", "utf-16-le" or "utf-16-be"
    bom: int  # bytes of byte-order mark at the start of the file (0, 2 or 3)
    newline: bytes  # the bytes of a line feed in this encoding
    unit: int  # 1, or 2 for UTF-16: a newline counts only at an offset that is a multiple of this

    @property
    def wide(self) -> bool:
        return self.unit == 2

    def decode(self, raw: bytes, cut: bool = False) -> str:
        """One line's bytes (its line end included or not) as text, without the line end.

        UTF-8 that does not decode is read as cp1252, the ANSI code page Windows tools write in; bytes even
        cp1252 leaves undefined become U+FFFD. ``cut``: the bytes are the start of a longer line, so a
        character cut at their end is dropped rather than taken for cp1252."""
        if self.wide:
            cr = "\r".encode(self.name)
            nl = self.newline
            if raw.endswith(nl):
                raw = raw[: -len(nl)]
            if raw.endswith(cr):
                raw = raw[: -len(cr)]
            if len(raw) % 2:
                raw = raw[:-1]
            return raw.decode(self.name, errors="replace")
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if cut and exc.start >= len(raw) - 3 and exc.end == len(raw):
                try:
                    return raw[: exc.start].decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return raw.decode("cp1252", errors="replace")

    def encode_query(self, text: str) -> list[bytes]:
        """The byte spellings a piece of text can have in this file: for 8-bit files UTF-8 and, when it
        differs, cp1252 (so a search finds a word in the lines of either)."""
        if self.wide:
            return [text.encode(self.name)]
        out = [text.encode("utf-8")]
        try:
            ansi = text.encode("cp1252")
        except UnicodeEncodeError:
            return out
        if ansi != out[0]:
            out.append(ansi)
        return out


UTF8 = Encoding("utf-8", 0, b"\n", 1)
UTF8_BOM = Encoding("utf-8", 3, b"\n", 1)
UTF16_LE = Encoding("utf-16-le", 0, b"\n\x00", 2)
UTF16_BE = Encoding("utf-16-be", 0, b"\x00\n", 2)
UTF16_LE_BOM = Encoding("utf-16-le", 2, b"\n\x00", 2)
UTF16_BE_BOM = Encoding("utf-16-be", 2, b"\x00\n", 2)


def detect(head: bytes) -> Encoding:
    """The encoding of a file that starts with ``head`` (its first few KiB).

    A byte-order mark decides. Without one, text whose odd (or even) bytes are nearly all zero is UTF-16
    (what ``Out-File`` writes when the BOM was cut off, e.g. the tail of a file); anything else is read as
    UTF-8 with the per-line cp1252 fallback."""
    if head.startswith(codecs.BOM_UTF8):
        return UTF8_BOM
    if head.startswith(codecs.BOM_UTF16_LE):
        return UTF16_LE_BOM
    if head.startswith(codecs.BOM_UTF16_BE):
        return UTF16_BE_BOM
    sample = head[: SNIFF_BYTES - SNIFF_BYTES % 2]
    pairs = len(sample) // 2
    if pairs >= 4:
        even_zero = sample[0::2].count(0)
        odd_zero = sample[1::2].count(0)
        if odd_zero >= 0.7 * pairs and even_zero <= 0.1 * pairs:
            return UTF16_LE
        if even_zero >= 0.7 * pairs and odd_zero <= 0.1 * pairs:
            return UTF16_BE
    return UTF8


def by_name(name: str, bom: int = 0) -> Encoding:
    """An encoding chosen by name (``utf-8``, ``utf-16-le``, ``utf-16-be``), e.g. one recorded for a cache."""
    for enc in (UTF8, UTF8_BOM, UTF16_LE, UTF16_BE, UTF16_LE_BOM, UTF16_BE_BOM):
        if enc.name == name and enc.bom == bom:
            return enc
    raise ValueError(f"unknown log encoding {name!r} (BOM {bom})")
