"""Twins of ``save-file``, ``download-file``, ``read-file`` and ``list-files``: files to and from a node.

Both writers stage into ``<path>.octotui-part`` and rename only after the SHA-256 matches, as the
scripts do, so a test can see that a broken transfer never leaves a plausible file at ``<path>``.
Downloads resolve only under the lab's installer URL, to the staged installers' bytes; any other host
fails the way .NET's WebRequest does when a name does not resolve.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import ipaddress
import ntpath
import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from octotui.lab.process import ProcessContext
from octotui.lab.provision import installer_bytes
from octotui.lab.ps_twins.common import (
    ParamError,
    Params,
    dotnet_io_message,
    emit,
    is_rooted,
    locate,
    run_with_params,
)
from octotui.lab.winfs import FsError, WinFS

PART_SUFFIX = ".octotui-part"
MAX_SLICE = 8 * 1024 * 1024
BAD_BASE64 = ("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two "
              "padding characters, or an illegal character among the padding characters.")
CANNOT_CONNECT = "Unable to connect to the remote server"
NOT_FOUND = "The remote server returned an error: (404) Not Found."


def _from_base64(text: str) -> bytes:
    """``[Convert]::FromBase64String``: whitespace is ignored, anything else odd is refused."""
    compact = re.sub(r"[ \t\r\n]", "", text)
    if len(compact) % 4:
        raise ParamError(BAD_BASE64)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ParamError(BAD_BASE64) from None


def _move(fs: WinFS, source: str, target: str) -> None:
    """Delete-then-``[System.IO.File]::Move`` within one disk."""
    data = fs.read(source)
    if fs.is_file(target):
        fs.delete(target)
    fs.write(target, data)
    fs.delete(source)


# --- save-file -------------------------------------------------------------------------------------

def save_file(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        path = params.string("path")
        offset = params.integer("offset", 0, "System.Int64")
        expected = params.string("sha256").lower()
        if not path:
            raise ParamError("missing parameter 'path'")
        if not is_rooted(path):
            raise ParamError("'path' must be an absolute path")
        if offset < 0:
            raise ParamError("'offset' must not be negative")
        data = _from_base64(params.string("data_b64"))
        return _save(ctx, path, offset, data, expected)

    return run_with_params(ctx, params_json, body)


def _save(ctx: ProcessContext, path: str, offset: int, data: bytes, expected: str) -> int:
    part = path + PART_SUFFIX
    stage = "write"
    size: int | None = None
    result: dict[str, Any] = {"ok": True, "path": part, "size": 0, "complete": False, "sha256": None}
    try:
        with ctx.runtime.world.lock:
            fs, real_part = locate(ctx, part, "write")
            _fs, real_path = locate(ctx, path, "write")
            fs.makedirs(ntpath.dirname(real_path))
            current = fs.read(real_part) if fs.is_file(real_part) else b""
            if not fs.is_file(real_part):
                fs.write(real_part, b"")  # FileMode.OpenOrCreate
            if offset > len(current):
                size, stage = len(current), "offset"
                raise ValueError(f"chunk offset {offset} is past the end of the partial file ({size} bytes): "
                                 "a chunk is missing")
            content = current[:offset] + data
            fs.write(real_part, content)
            size = len(content)
            result["size"] = size
            if expected:
                stage = "verify"
                actual = hashlib.sha256(content).hexdigest()
                if actual != expected:
                    fs.delete(real_part)
                    size = 0
                    raise ValueError(f"SHA-256 mismatch: expected {expected}, the file received has "
                                     f"{actual}; send it again from offset 0")
                stage = "rename"
                _move(fs, real_part, real_path)
                result.update(path=path, complete=True, sha256=actual)
    except FsError as exc:
        return _save_failed(ctx, stage, path, size, dotnet_io_message(exc, part))
    except ValueError as exc:
        return _save_failed(ctx, stage, path, size, str(exc))
    emit(ctx, result)
    return 0


def _save_failed(ctx: ProcessContext, stage: str, path: str, size: int | None, error: str) -> int:
    emit(ctx, {"ok": False, "stage": stage, "path": path, "size": size, "error": error})
    return 1


# --- download-file ---------------------------------------------------------------------------------

class _DownloadError(Exception):
    pass


def _default_port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _fetch(ctx: ProcessContext, url: str) -> bytes:
    """What a GET of ``url`` returns from the node's point of view in the lab's network."""
    base = ctx.runtime.settings.installer_base_url
    target = urlsplit(url)
    host = (target.hostname or "").lower()
    served = urlsplit(base) if base else None
    if served is None or host != (served.hostname or "").lower():
        if _is_ip(host):
            raise _DownloadError(CANNOT_CONNECT)
        raise _DownloadError(f"The remote name could not be resolved: '{host}'")
    scheme, served_scheme = target.scheme.lower(), served.scheme.lower()
    same_port = _default_port(scheme, target.port) == _default_port(served_scheme, served.port)
    if scheme != served_scheme or not same_port:
        raise _DownloadError(CANNOT_CONNECT)
    base_path = served.path if served.path.endswith("/") else served.path + "/"
    if not target.path.startswith(base_path):
        raise _DownloadError(NOT_FOUND)
    name = unquote(target.path[len(base_path):])
    with ctx.runtime.world.lock:
        for inst in ctx.runtime.world.installers.values():
            if inst.file_name.lower() == name.lower():
                return installer_bytes(inst.version)
    raise _DownloadError(NOT_FOUND)


def download_file(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        url = params.string("url")
        path = params.string("path")
        expected = params.string("sha256").lower()
        timeout_s = params.integer("timeout_s", 600)
        if not url:
            raise ParamError("missing parameter 'url'")
        if not re.match(r"(?i)^https?://", url):
            raise ParamError("'url' must be an http:// or https:// URL")
        if not path:
            raise ParamError("missing parameter 'path'")
        if not is_rooted(path):
            raise ParamError("'path' must be an absolute path")
        if timeout_s <= 0:
            raise ParamError("'timeout_s' must be positive")
        return _download(ctx, url, path, expected)

    return run_with_params(ctx, params_json, body)


def _download(ctx: ProcessContext, url: str, path: str, expected: str) -> int:
    part = path + PART_SUFFIX
    stage = "download"
    try:
        with ctx.runtime.world.lock:
            fs, real_path = locate(ctx, path, "write")
            fs.makedirs(ntpath.dirname(real_path))
        body = _fetch(ctx, url)
        with ctx.runtime.world.lock:
            fs, real_part = locate(ctx, part, "write")
            fs.write(real_part, body)
            stage = "verify"
            actual = hashlib.sha256(body).hexdigest()
            if expected and actual != expected:
                fs.delete(real_part)
                raise _DownloadError(f"SHA-256 mismatch: expected {expected}, downloaded {actual}")
            stage = "rename"
            _move(fs, real_part, real_path)
    except (_DownloadError, FsError) as exc:
        message = dotnet_io_message(exc, part) if isinstance(exc, FsError) else str(exc)
        with ctx.runtime.world.lock:
            try:
                fs, real_part = locate(ctx, part, "write")
                if fs.is_file(real_part):
                    fs.delete(real_part)
            except FsError:
                pass
        emit(ctx, {"ok": False, "stage": stage, "url": url, "error": message})
        return 1
    emit(ctx, {"ok": True, "path": path, "size": len(body), "sha256": actual})
    return 0


# --- read-file -------------------------------------------------------------------------------------

def read_file(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        path = params.string("path")
        offset = params.integer("offset", 0, "System.Int64")
        max_bytes = params.integer("max_bytes", 524288, "System.Int64")
        encoding = params.string("encoding", "base64")
        if not path:
            raise ParamError("missing parameter 'path'")
        if max_bytes < 0 or max_bytes > MAX_SLICE:
            raise ParamError(f"'max_bytes' must be between 0 and {MAX_SLICE}")
        if encoding not in ("base64", "text"):
            raise ParamError("'encoding' must be 'base64' or 'text'")
        return _read(ctx, path, offset, max_bytes, encoding)

    return run_with_params(ctx, params_json, body)


def _read(ctx: ProcessContext, path: str, offset: int, max_bytes: int, encoding: str) -> int:
    try:
        with ctx.runtime.world.lock:
            fs, real = locate(ctx, path, "read")
            if not fs.is_file(real) and not fs.is_dir(real):
                missing_dir = not fs.is_dir(ntpath.dirname(real))
                message = (f"Could not find a part of the path '{path}'." if missing_dir
                           else f"Could not find file '{path}'.")
                emit(ctx, {"ok": False, "path": path, "exists": False, "size": None, "error": message})
                return 0
            content = fs.read(real)
    except FsError as exc:
        emit(ctx, {"ok": False, "stage": "read", "path": path, "error": dotnet_io_message(exc, path)})
        return 1
    size = len(content)
    if offset < 0:
        offset = max(0, size + offset)
    offset = min(offset, size)
    chunk = content[offset:offset + max_bytes]
    data = base64.b64encode(chunk).decode("ascii") if encoding == "base64" else chunk.decode("utf-8", "replace")
    emit(ctx, {
        "ok": True, "path": path, "exists": True, "size": size, "offset": offset, "length": len(chunk),
        "eof": offset + len(chunk) >= size, "encoding": encoding, "data": data,
    })
    return 0


# --- list-files ------------------------------------------------------------------------------------

def _wildcard(pattern: str) -> re.Pattern[str]:
    """``Directory.GetFiles``' search pattern: ``*`` any run of characters, ``?`` one, case-insensitive."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"(?is)^{body}$")


def _round_trip(ts: float) -> str:
    """``DateTime.ToString('o')`` of a UTC time: seven fraction digits and ``Z``."""
    stamp = _dt.datetime.fromtimestamp(ts, _dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}0Z"


def list_files(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        globs = params.string_list("globs")
        head_bytes = params.integer("head_bytes", 4)
        if not globs:
            raise ParamError("missing parameter 'globs'")
        if head_bytes < 0 or head_bytes > 64:
            raise ParamError("'head_bytes' must be between 0 and 64")
        for glob in globs:
            if not ntpath.basename(glob) or not ntpath.dirname(glob):
                raise ParamError(f"'{glob}' is not a folder followed by a file name pattern")
        return _list(ctx, globs, head_bytes)

    return run_with_params(ctx, params_json, body)


def _list(ctx: ProcessContext, globs: list[str], head_bytes: int) -> int:
    files: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for glob in globs:
        folder, pattern = ntpath.dirname(glob), ntpath.basename(glob)
        try:
            with ctx.runtime.world.lock:
                fs, real = locate(ctx, folder, "read")
                if not fs.is_dir(real):
                    raise FsError(3, "The system cannot find the path specified.")
                match = _wildcard(pattern)
                names = sorted((n for n in fs.listdir(real) if fs.is_file(ntpath.join(real, n)) and match.match(n)),
                               key=str.lower)
                found = []
                for name in names:
                    path = ntpath.join(fs.real_path(real), name)
                    data = fs.read(path)
                    found.append({
                        "glob": glob, "name": name, "path": path, "size": len(data),
                        "modified_utc": _round_trip(fs.modified(path)),
                        "head_b64": base64.b64encode(data[:head_bytes]).decode("ascii") if head_bytes else "",
                    })
        except FsError as exc:
            missing.append({"glob": glob, "folder": folder, "error": dotnet_io_message(exc, folder)})
            continue
        files.extend(found)
    now = time.time()
    offset = _dt.datetime.now().astimezone().utcoffset() or _dt.timedelta(0)
    emit(ctx, {"ok": True, "now_utc": _round_trip(now), "utc_offset_minutes": int(offset.total_seconds() // 60),
               "files": files, "missing": missing})
    return 0
