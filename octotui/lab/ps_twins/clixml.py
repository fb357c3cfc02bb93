"""powershell.exe's error output as it reaches a WinRS client: CLIXML on stderr.

Windows PowerShell 5.1 serializes its error stream as CLIXML when it is not interactive, its stderr is
redirected and its command came with ``-EncodedCommand`` (or ``-OutputFormat XML`` was asked for):
``#< CLIXML`` on a line, then one ``<Objs>`` document whose ``<S S="Error">`` elements each hold one
line of the formatted error record. Strings are escaped as the PowerShell serializer does it: XML
entities for ``& < >`` and ``_xHHHH_`` for control characters (and for a ``_`` that would otherwise
start such an escape). Clients that decode this badly (pywinrm's ``_clean_error_msg``) see here what
they would see on Windows.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

HEADER = "#< CLIXML\n"
OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
OBJS_CLOSE = "</Objs>"

#: The progress record Windows PowerShell emits when it loads modules for the first time; it rides
#: along with the first error of a fresh node and fills stderr even when nothing failed.
PREPARING_MODULES = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
    'first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>'
    "</MS></Obj>"
)


def encode_string(text: str) -> str:
    """A string as the CLIXML serializer writes it inside ``<S>``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        code = ord(ch)
        if ch == "_" and text[i + 1:i + 2] in ("x", "X"):
            out.append("_x005F_")
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"_x{code:04X}_")
        elif code > 0xFFFF:
            hi, lo = divmod(code - 0x10000, 0x400)
            out.append(f"_x{0xD800 + hi:04X}__x{0xDC00 + lo:04X}_")
        else:
            out.append(escape(ch))
        i += 1
    return "".join(out)


def error_stream(lines: list[str], *, progress: bool = False) -> str:
    """The whole stderr text for an error record already formatted into lines."""
    body = "".join(f'<S S="Error">{encode_string(line + chr(13) + chr(10))}</S>' for line in lines)
    return HEADER + OBJS_OPEN + (PREPARING_MODULES if progress else "") + body + OBJS_CLOSE


def error_record_lines(message: str, script_line: str, category: str, error_id: str,
                       target: str = "", activity: str = "", reason: str = "RuntimeException") -> list[str]:
    """How the console host formats an ErrorRecord thrown at line 1 of a script."""
    shown = script_line.rstrip("\r\n")
    if len(shown) > 100:
        shown = shown[:100]
    marker = "~" * max(1, len(shown))
    return [
        message,
        "At line:1 char:1",
        f"+ {shown}",
        f"+ {marker}",
        f"    + CategoryInfo          : {category}: ({target}:) [{activity}], {reason}",
        f"    + FullyQualifiedErrorId : {error_id}",
        " ",
    ]
