"""What every PowerShell twin shares: the result line, parameter reading, and .NET's error words.

The scripts in ``assets/ps`` print one line ``@@octotui-result@@{json}`` with JSON that is pure ASCII
(their own encoder escapes everything else as ``\\uXXXX``); the twins print exactly the same bytes, so
an engine parser that works against the lab works against Windows. Parameters are read with the same
casts and the same complaints as the scripts make, and failures carry the text .NET would put in
``Exception.Message``.
"""

from __future__ import annotations

import json
import math
import ntpath
import re
from collections.abc import Callable
from typing import Any

from octotui.lab import shares
from octotui.lab.process import ProcessContext
from octotui.lab.winfs import FsError, WinFS

#: The prefix of the one stdout line a script's result travels on.
RESULT_SENTINEL = "@@octotui-result@@"
#: A script's exit code when its parameters are unusable (the result line says why).
EXIT_BAD_PARAMS = 2

_JSON_SAFE = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")

#: A twin: it gets the process and the JSON text of its parameters (as the script's ``$ParamsJson``).
Twin = Callable[[ProcessContext, str], int]


class ParamError(Exception):
    """A parameter the script would refuse; the message is the script's own."""


# --- the result line ------------------------------------------------------------------------------

def _json_string(text: str) -> str:
    # The scripts escape per UTF-16 code unit; a character beyond the BMP becomes its surrogate pair.
    def escape(m: re.Match[str]) -> str:
        raw = m.group(0).encode("utf-16-le", "surrogatepass")
        units = [int.from_bytes(raw[i:i + 2], "little") for i in range(0, len(raw), 2)]
        return "".join(f"\\u{u:04x}" for u in units)

    return '"' + _JSON_SAFE.sub(escape, text) + '"'


def to_json(value: Any) -> str:
    """JSON exactly as the scripts' ``ConvertTo-OctoJson`` writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) or math.isinf(value) else repr(value)
    if isinstance(value, dict):
        return "{" + ",".join(_json_string(str(k)) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return _json_string(str(value))


def emit(ctx: ProcessContext, result: dict[str, Any]) -> None:
    """Print the result line, as ``Write-OctoResult`` does."""
    ctx.out(RESULT_SENTINEL + to_json(result) + "\n")


def param_failure(ctx: ProcessContext, message: str) -> int:
    """What ``Exit-OctoParamError`` does."""
    emit(ctx, {"ok": False, "stage": "params", "error": message})
    return EXIT_BAD_PARAMS


# --- parameters -----------------------------------------------------------------------------------

class Params:
    """The parameters object, read the way the scripts read it (``Get-OctoParam`` plus a cast)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def parse(cls, params_json: str) -> Params:
        text = params_json.strip() or "{}"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParamError(f"Invalid JSON primitive: {exc.msg}.") from None
        if not isinstance(data, dict):
            raise ParamError("the parameters must be a JSON object")
        return cls(data)

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def string(self, name: str, default: str = "") -> str:
        """``[string](Get-OctoParam $P name default)``."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, list):
            return " ".join(str(v) for v in value)  # PowerShell joins an array cast to string with spaces
        if isinstance(value, dict):
            return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
        return str(value)

    def number(self, name: str, default: float, kind: str = "System.Int32") -> float:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ParamError(f'Cannot convert value "{value}" to type "{kind}". '
                         'Error: "Input string was not in a correct format."')

    def integer(self, name: str, default: int, kind: str = "System.Int32") -> int:
        """``[int]`` / ``[long]``: PowerShell rounds half to even when it converts a fraction."""
        return round(self.number(name, default, kind))

    def seconds(self, name: str, default: float) -> float:
        return float(self.number(name, default, "System.Double"))

    def string_list(self, name: str) -> list[str]:
        """``@(Get-OctoParam $P name @())``: a lone value becomes a one-item list."""
        value = self.data.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [Params({"v": v}).string("v") for v in items if v is not None]

    def mapping(self, name: str) -> dict[str, str]:
        value = self.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ParamError(f"'{name}' must be a JSON object")
        return {str(k): Params({"v": v}).string("v") for k, v in value.items()}


def run_with_params(ctx: ProcessContext, params_json: str, body: Callable[[Params], int]) -> int:
    """Parse the parameters as a script's first ``try`` does, then run the body."""
    try:
        params = Params.parse(params_json)
        return body(params)
    except ParamError as exc:
        return param_failure(ctx, str(exc))


# --- .NET's words for file-system failures ------------------------------------------------------

def dotnet_io_message(exc: FsError, path: str) -> str:
    """``Exception.Message`` of what System.IO throws for a Win32 error on ``path``.

    .NET maps the common codes to its own sentences with the path in them; the rest (network errors
    among them) carry the system message text.
    """
    if exc.winerror == 2:
        return f"Could not find file '{path}'."
    if exc.winerror == 3:
        return f"Could not find a part of the path '{path}'."
    if exc.winerror == 5:
        return f"Access to the path '{path}' is denied."
    return exc.message


def is_local_path(path: str) -> bool:
    return len(path) >= 3 and path[1] == ":" and path[2] in "\\/"


def is_unc_path(path: str) -> bool:
    return path.replace("/", "\\").startswith("\\\\")


def is_rooted(path: str) -> bool:
    """``[System.IO.Path]::IsPathRooted``: a drive, a leading separator, or a UNC path."""
    return path.startswith(("\\", "/")) or (len(path) >= 2 and path[1] == ":")


def locate(ctx: ProcessContext, path: str, want: shares.Want) -> tuple[WinFS, str]:
    """The disk ``path`` lives on (the node's, or a share's) and the path to use on it.

    A UNC path is first judged by the file server for this process's outbound account, and refused
    with the system's words; call with ``world.lock`` held.
    """
    runtime = ctx.runtime
    if is_unc_path(path):
        refusal = shares.unc_access(runtime.world, ctx.identity, path, want, machine=runtime.node.name)
        if refusal is not None:
            codes = {shares.NETWORK_PATH_NOT_FOUND: shares.ERROR_BAD_NETPATH,
                     shares.NETWORK_NAME_NOT_FOUND: shares.ERROR_BAD_NET_NAME}
            raise FsError(codes.get(refusal, shares.ERROR_ACCESS_DENIED), refusal)
        target = shares.resolve(runtime.world, path)
        return target.share.fs, target.path
    p = path.replace("/", "\\")
    if p.startswith("\\"):
        p = ctx.cwd[:2] + p  # rooted on the current drive
    elif not (len(p) >= 3 and p[1] == ":" and p[2] == "\\"):
        p = ntpath.join(ctx.cwd, p)
    return runtime.node.fs, ntpath.normpath(p)
