"""Twin of ``wait-ping``: poll the node's own Octopus health endpoint until it answers 200 or 418.

The script asks ``localhost`` at the port of a listen prefix; in the lab the node's web endpoint lives
on 127.0.0.1 at the node's ``web_port``, so the twin sends a real HTTP request there (plain HTTP even
for an https prefix: the lab's endpoint has no TLS, and the script accepts any certificate anyway). A
stopped service leaves nothing listening, which .NET reports as "Unable to connect to the remote server".
"""

from __future__ import annotations

import http.client
import re
import time
from typing import Any

from octotui.lab.process import ProcessContext
from octotui.lab.ps_twins.common import ParamError, Params, emit, run_with_params

PING_PATH = "api/octopusservernodes/ping"
MAX_BODY = 65536
CANNOT_CONNECT = "Unable to connect to the remote server"
TIMED_OUT = "The operation has timed out"

_PREFIX = re.compile(r"^(?P<scheme>https?)://(?P<host>\[[^\]]+\]|[^/:]+)(:(?P<port>\d+))?(?P<path>/.*)?$",
                     re.IGNORECASE)


def ping_url(prefix: str) -> tuple[str, str, str]:
    """The script's URL for a listen prefix: (scheme, url, path), host replaced by localhost."""
    m = _PREFIX.match(prefix)
    if m is None:
        raise ParamError(f"'listen_prefix' is not an http:// or https:// listen prefix: {prefix}")
    scheme = m.group("scheme").lower()
    port = m.group("port") or ("443" if scheme == "https" else "80")
    base = m.group("path") or ""
    if not base.endswith("/"):
        base += "/"
    path = base + PING_PATH
    return scheme, f"{scheme}://localhost:{port}{path}", path


def _get(port: int, path: str, host_header: str, timeout: float) -> tuple[int | None, str | None, str]:
    """One request: (status, body, error)."""
    if port <= 0:
        return None, None, CANNOT_CONNECT
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host_header})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")[:MAX_BODY]
        return response.status, body, ""
    except TimeoutError:
        return None, None, TIMED_OUT
    except (OSError, http.client.HTTPException):
        return None, None, CANNOT_CONNECT
    finally:
        conn.close()


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        prefix = params.string("listen_prefix", "http://localhost:80/")
        timeout_s = params.seconds("timeout_s", 120)
        interval_s = params.seconds("interval_s", 2)
        request_timeout_s = params.seconds("request_timeout_s", 10)
        _scheme, url, path = ping_url(prefix)
        host_header = url.split("/")[2]
        started = time.monotonic()
        deadline = started + timeout_s
        attempts = 0
        status: int | None = None
        text: str | None = None
        last_error: str | None = None
        while True:
            attempts += 1
            with ctx.runtime.world.lock:
                port = ctx.runtime.node.web_port
            status, text, error = _get(port, path, host_header, request_timeout_s)
            if status in (200, 418):
                last_error = None
                break
            last_error = f"HTTP {status}" if status is not None else error
            if time.monotonic() + interval_s > deadline:
                break
            ctx.sleep(interval_s)
        result: dict[str, Any] = {
            "ok": status in (200, 418),
            "url": url,
            "status": status,
            "body": text,
            "attempts": attempts,
            "elapsed_s": round(time.monotonic() - started, 1),
            "error": last_error,
        }
        emit(ctx, result)
        return 0

    return run_with_params(ctx, params_json, body)
